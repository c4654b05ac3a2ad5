"""How referral states and events read in FHIR and HL7 v2, as tables (tested to be total).

FHIR: each state maps to ``Task.status`` (FHIR R4 ``task-status``), ``Task.businessStatus``
(HL7 BSeR ``TaskBusinessStatusCS``, the business statuses harmonized with 360X) and
``ServiceRequest.status`` (FHIR R4 ``request-status``). Where BSeR has no state of ours:

* ``draft`` has no business status (2.0 "created" is given when the package is sent);
* ``awaiting-authorization`` stays Task ``accepted`` / 3.0: authorization is the referring
  side's business, invisible to the recipient's Task;
* ``report-received`` and ``closed`` are both 7.0 "fulfillment completed"; only the
  ServiceRequest tells them apart (``active`` until the referring side closes the loop);
* ``expired`` is Task ``cancelled`` / 6.0 and ServiceRequest ``revoked``;
* ``on-hold`` and ``entered-in-error`` carry no business status.

HL7 v2: the classic chapter 11 flow (REF from the referring side, RRI back; I12 referral,
I13 modify, I14 cancel) with RF1-1 referral status (table 0283: A accepted, E expired, P
pending, R rejected) and RF1-2 priority (table 0280: A ASAP, R routine, S STAT; FHIR
``urgent`` has no v2 code and is sent as A), and the 360X v2 flow (OMG^O19 request, OSU^O51
status updates, SIU^S12 scheduled, SIU^S15 cancelled, SIU^S26 no-show). Events that only
the referring side sees (authorization, closing the loop, holds) send nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from caredomain.core.codes import Coding
from caredomain.referrals.machine import (
    AppointmentBooked,
    AppointmentCancelled,
    AuthorizationDecided,
    AuthorizationRequested,
    CancellationConfirmed,
    CancellationRequested,
    DocumentsSent,
    InterimReportReceived,
    LoopClosed,
    PatientNoShow,
    PatientSeen,
    ReferralAccepted,
    ReferralCancelled,
    ReferralDeclined,
    ReferralEnteredInError,
    ReferralEvent,
    ReferralExpired,
    ReferralPutOnHold,
    ReferralReceived,
    ReferralRedirected,
    ReferralResumed,
    ReferralSent,
    ReportReceived,
)
from caredomain.referrals.model import ReferralPriority, ReferralStatus

__all__ = [
    "BUSINESS_STATUS_SYSTEM",
    "FHIR_STATUS",
    "HL7V2_MESSAGES",
    "RF1_PRIORITY",
    "RF1_STATUS",
    "FhirStatus",
    "V2Messages",
    "fhir_status",
    "hl7v2_messages",
]

BUSINESS_STATUS_SYSTEM: Final = "http://hl7.org/fhir/us/bser/CodeSystem/TaskBusinessStatusCS"
"""HL7 BSeR ``TaskBusinessStatusCS``, harmonized with 360X (displays as in the BSeR
harmonized transition table, ``shared/data/referral-transitions-bser-360x.csv``)."""


def _business(code: str, display: str) -> Coding:
    return Coding(BUSINESS_STATUS_SYSTEM, code, display)


_CREATED = _business("2.0", "Service Request Created")
_ACCEPTED = _business("3.0", "Service Request Accepted")
_DECLINED = _business("4.0", "Service Request Declined")
_SCHEDULED = _business("5.1.1", "Event Scheduled")
_UNATTENDED = _business("5.1.2", "Scheduled Event Unattended")
_EVENT_CANCELLED = _business("5.1.3", "Scheduled Event Cancelled")
_EVENT_DONE = _business("5.1.4", "Event Completed")
_CANCEL_REQUESTED = _business("5.2", "Cancellation Requested")
_FULFILMENT_CANCELLED = _business("6.0", "Fulfillment Cancelled")
_FULFILMENT_DONE = _business("7.0", "Fulfillment Completed")


@attrs.frozen
class FhirStatus:
    """A referral state as FHIR sees it.

    Attributes:
        task: ``Task.status`` (FHIR R4 ``task-status``).
        business: ``Task.businessStatus`` (BSeR), if the state has one.
        service_request: ``ServiceRequest.status`` (FHIR R4 ``request-status``).
    """

    task: str
    business: Coding | None
    service_request: str


S = ReferralStatus
FHIR_STATUS: Final[Mapping[ReferralStatus, FhirStatus]] = {
    S.DRAFT: FhirStatus("draft", None, "draft"),
    S.SENT: FhirStatus("requested", _CREATED, "active"),
    S.RECEIVED: FhirStatus("received", _CREATED, "active"),
    S.ACCEPTED: FhirStatus("accepted", _ACCEPTED, "active"),
    S.DECLINED: FhirStatus("rejected", _DECLINED, "active"),
    S.AWAITING_AUTHORIZATION: FhirStatus("accepted", _ACCEPTED, "active"),
    S.SCHEDULED: FhirStatus("in-progress", _SCHEDULED, "active"),
    S.VISIT_CANCELLED: FhirStatus("in-progress", _EVENT_CANCELLED, "active"),
    S.NO_SHOW: FhirStatus("in-progress", _UNATTENDED, "active"),
    S.SEEN: FhirStatus("in-progress", _EVENT_DONE, "active"),
    S.REPORT_RECEIVED: FhirStatus("completed", _FULFILMENT_DONE, "active"),
    S.CLOSED: FhirStatus("completed", _FULFILMENT_DONE, "completed"),
    S.CANCEL_REQUESTED: FhirStatus("in-progress", _CANCEL_REQUESTED, "active"),
    S.CANCELLED: FhirStatus("cancelled", _FULFILMENT_CANCELLED, "revoked"),
    S.EXPIRED: FhirStatus("cancelled", _FULFILMENT_CANCELLED, "revoked"),
    S.ON_HOLD: FhirStatus("on-hold", None, "on-hold"),
    S.ENTERED_IN_ERROR: FhirStatus("entered-in-error", None, "entered-in-error"),
}
"""Every referral state's FHIR reading (see the module documentation for the choices)."""

RF1_STATUS: Final[Mapping[ReferralStatus, str | None]] = {
    S.DRAFT: None,
    S.SENT: "P",
    S.RECEIVED: "P",
    S.ACCEPTED: "A",
    S.DECLINED: "R",
    S.AWAITING_AUTHORIZATION: "A",
    S.SCHEDULED: "A",
    S.VISIT_CANCELLED: "A",
    S.NO_SHOW: "A",
    S.SEEN: "A",
    S.REPORT_RECEIVED: "A",
    S.CLOSED: "A",
    S.CANCEL_REQUESTED: "A",
    S.CANCELLED: None,
    S.EXPIRED: "E",
    S.ON_HOLD: "P",
    S.ENTERED_IN_ERROR: None,
}
"""HL7 v2 RF1-1 referral status (table 0283) per state; ``None`` where no code applies."""

RF1_PRIORITY: Final[Mapping[ReferralPriority, str]] = {
    ReferralPriority.ROUTINE: "R",
    ReferralPriority.URGENT: "A",
    ReferralPriority.ASAP: "A",
    ReferralPriority.STAT: "S",
}
"""HL7 v2 RF1-2 referral priority (table 0280) per FHIR priority."""


@attrs.frozen
class V2Messages:
    """The HL7 v2 messages an event is sent as.

    Attributes:
        classic: Chapter 11 REF/RRI or chapter 10 SIU, or ``None``.
        x360: The 360X v2 flow's message, or ``None``.
    """

    classic: str | None
    x360: str | None


HL7V2_MESSAGES: Final[Mapping[type[ReferralEvent], V2Messages]] = {
    ReferralSent: V2Messages("REF^I12", "OMG^O19"),
    ReferralReceived: V2Messages(None, "OSU^O51"),
    ReferralAccepted: V2Messages("RRI^I12", "OSU^O51"),
    ReferralDeclined: V2Messages("RRI^I12", "OSU^O51"),
    ReferralRedirected: V2Messages("REF^I12", "OMG^O19"),
    DocumentsSent: V2Messages("REF^I13", None),
    AuthorizationRequested: V2Messages(None, None),
    AuthorizationDecided: V2Messages(None, None),
    AppointmentBooked: V2Messages("SIU^S12", "SIU^S12"),
    AppointmentCancelled: V2Messages("SIU^S15", "SIU^S15"),
    PatientNoShow: V2Messages("SIU^S26", "SIU^S26"),
    PatientSeen: V2Messages(None, "OSU^O51"),
    InterimReportReceived: V2Messages("RRI^I12", "OSU^O51"),
    ReportReceived: V2Messages("RRI^I12", "OSU^O51"),
    LoopClosed: V2Messages(None, None),
    CancellationRequested: V2Messages("REF^I14", "OMG^O19"),
    CancellationConfirmed: V2Messages("RRI^I14", "OSU^O51"),
    ReferralCancelled: V2Messages(None, None),
    ReferralExpired: V2Messages(None, None),
    ReferralPutOnHold: V2Messages(None, None),
    ReferralResumed: V2Messages(None, None),
    ReferralEnteredInError: V2Messages(None, None),
}
"""Every referral event's HL7 v2 messages (a rescheduled visit is SIU^S13 in both flows)."""


def fhir_status(state: ReferralStatus) -> FhirStatus:
    """The FHIR reading of ``state``."""
    return FHIR_STATUS[state]


def hl7v2_messages(event: ReferralEvent, *, rescheduling: bool = False) -> V2Messages:
    """The HL7 v2 messages that carry ``event``.

    Args:
        event: The event.
        rescheduling: For `AppointmentBooked` on an already scheduled referral: SIU^S13.
    """
    for cls in type(event).__mro__:
        found = HL7V2_MESSAGES.get(cls)
        if found is not None:
            if rescheduling and cls is AppointmentBooked:
                return V2Messages("SIU^S13", "SIU^S13")
            return found
    return V2Messages(None, None)
