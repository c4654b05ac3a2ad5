"""The closed-loop referral lifecycle, declared as one table on the core kernel.

Rules of this module: everything that affects the referral state machine lives here, in
`REFERRAL_MACHINE`'s table and the guards and effects beside it.

The table starts from the harmonized BSeR/360X transitions (HL7 BSeR "Harmonized State
Transitions", 34 transitions; 360X closed-loop referral, ONC/IHE) and differs where a
coordinator's tracking needs more than the messages between two systems:

* ``awaiting-authorization``: the referral was accepted but the payer's prior
  authorization is not approved yet. `AuthorizationDecided` arrives as an event (the
  referrals area never imports the authorization area); approved moves on to
  ``accepted``, any other decision keeps the referral waiting (a denial goes to appeal).
* ``report-received`` is the recipient's 7.0 "fulfillment completed"; the loop is
  ``closed`` only when the referring side files it (`LoopClosed`), and closing without an
  outcome document needs a coded override reason.
* ``declined`` is not terminal: the coordinator may redirect the same need to another
  specialist (`ReferralRedirected`), or close the loop with a reason.
* ``on-hold`` returns to the state it was entered from; ``expired`` ends a referral whose
  validity period has passed before the visit.

No standard defines referral timeouts; they are configuration (`caredomain.referrals.sla`).
Event type tags are namespaced ``referral.*`` so they never collide with the scheduling
area's events of the same name.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import attrs
from pendulum import DateTime

from caredomain.core.codes import CodeableConcept
from caredomain.core.events import DomainEvent
from caredomain.core.identity import Identifier, Reference
from caredomain.core.statemachine import Guard, Machine, Transition
from caredomain.core.time import check_aware, epoch_us, instant_key, to_datetime
from caredomain.referrals.model import (
    APPROVED,
    AuthorizationLink,
    DocumentKind,
    Referral,
    ReferralStatus,
    ReferralTarget,
    _documents,
    _refs,
)

__all__ = [
    "REFERRAL_MACHINE",
    "AppointmentBooked",
    "AppointmentCancelled",
    "AuthorizationDecided",
    "AuthorizationRequested",
    "CancellationConfirmed",
    "CancellationRequested",
    "DocumentsSent",
    "InterimReportReceived",
    "LoopClosed",
    "PatientNoShow",
    "PatientSeen",
    "ReferralAccepted",
    "ReferralCancelled",
    "ReferralDeclined",
    "ReferralEnteredInError",
    "ReferralEvent",
    "ReferralExpired",
    "ReferralPutOnHold",
    "ReferralReceived",
    "ReferralRedirected",
    "ReferralResumed",
    "ReferralSent",
    "ReportReceived",
]


@attrs.frozen(kw_only=True)
class ReferralEvent(DomainEvent):
    """Base of the referral events; their type tags are ``referral.<ClassName>``."""

    event_type: ClassVar[str] = "referral.ReferralEvent"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if "event_type" not in cls.__dict__:
            cls.event_type = f"referral.{cls.__name__}"
        super().__init_subclass__(**kwargs)


def _first_code(concept: CodeableConcept | None) -> str | None:
    return concept.codings[0].code if concept is not None and concept.codings else None


@attrs.frozen(kw_only=True)
class ReferralSent(ReferralEvent):
    """The referral package went out (360X OMG^O19; HL7 v2 REF^I12).

    Attributes:
        placer_id: The sender's identifier for it.
    """

    placer_id: Identifier | None = None


@attrs.frozen(kw_only=True)
class ReferralReceived(ReferralEvent):
    """The recipient acknowledged receipt."""


@attrs.frozen(kw_only=True)
class ReferralAccepted(ReferralEvent):
    """The recipient accepted (360X OSU^O51 accepted; HL7 v2 RRI^I12, RF1-1 ``A``).

    Attributes:
        filler_id: The recipient's identifier for it.
    """

    filler_id: Identifier | None = None


@attrs.frozen(kw_only=True)
class ReferralDeclined(ReferralEvent):
    """The recipient declined (360X declined; RF1-1 ``R``).

    Attributes:
        reason: Why, coded.
    """

    reason: CodeableConcept | None = None

    def audit_reason(self) -> str | None:
        """The decline reason's first code."""
        return _first_code(self.reason)


@attrs.frozen(kw_only=True)
class ReferralRedirected(ReferralEvent):
    """A declined referral is sent again, to another target (HL7 v2 REF^I13 modify).

    Attributes:
        target: The new target.
    """

    target: ReferralTarget


@attrs.frozen(kw_only=True)
class DocumentsSent(ReferralEvent):
    """Documents of the package went to the recipient.

    Attributes:
        documents: Which kinds.
    """

    documents: frozenset[DocumentKind] = attrs.field(converter=_documents)


@attrs.frozen(kw_only=True)
class AuthorizationRequested(ReferralEvent):
    """Prior authorization was requested for the referred service.

    Attributes:
        case: The authorization case's id.
    """

    case: str


@attrs.frozen(kw_only=True)
class AuthorizationDecided(ReferralEvent):
    """The payer decided (the authorization area's decision, delivered as a value).

    Attributes:
        case: The authorization case's id.
        status: ``approved``, ``denied``, ``pended``, ``partial`` or ``cancelled``.
    """

    case: str
    status: str

    def audit_reason(self) -> str | None:
        """The decision."""
        return self.status


@attrs.frozen(kw_only=True)
class AppointmentBooked(ReferralEvent):
    """The visit was scheduled or rescheduled (360X SIU^S12; BSeR 5.1.1).

    Attributes:
        appointment: The appointment's id.
        start: When the visit starts.
    """

    appointment: str
    start: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)


@attrs.frozen(kw_only=True)
class AppointmentCancelled(ReferralEvent):
    """The scheduled visit was cancelled (SIU^S15; BSeR 5.1.3); the referral stays open."""


@attrs.frozen(kw_only=True)
class PatientNoShow(ReferralEvent):
    """The patient missed the visit (360X SIU^S26; BSeR 5.1.2)."""


@attrs.frozen(kw_only=True)
class PatientSeen(ReferralEvent):
    """The visit took place (BSeR 5.1.4 event completed)."""


@attrs.frozen(kw_only=True)
class InterimReportReceived(ReferralEvent):
    """An interim consultation note came back (360X interim communicated)."""

    documents: tuple[Reference, ...] = attrs.field(default=(), converter=_refs)


@attrs.frozen(kw_only=True)
class ReportReceived(ReferralEvent):
    """The outcome came back: the consult note or the organization's outcome (BSeR 7.0).

    Attributes:
        documents: The outcome documents (DocumentReference references); at least one.
    """

    documents: tuple[Reference, ...] = attrs.field(converter=_refs)


@attrs.frozen(kw_only=True)
class LoopClosed(ReferralEvent):
    """The referring side filed the outcome: the loop is closed (360X finalized).

    Attributes:
        override_reason: Required when no outcome document was received (patient declined
            care, treated elsewhere, deceased...), coded.
    """

    override_reason: CodeableConcept | None = None

    def audit_reason(self) -> str | None:
        """The override's code, when the loop was closed without an outcome."""
        return _first_code(self.override_reason)


@attrs.frozen(kw_only=True)
class CancellationRequested(ReferralEvent):
    """The referring side asked to cancel (BSeR 5.2; HL7 v2 REF^I14)."""

    reason: CodeableConcept | None = None

    def audit_reason(self) -> str | None:
        """The cancellation reason's first code."""
        return _first_code(self.reason)


@attrs.frozen(kw_only=True)
class CancellationConfirmed(ReferralEvent):
    """The recipient confirmed the cancellation (360X cancel confirmed; BSeR 6.0)."""


@attrs.frozen(kw_only=True)
class ReferralCancelled(ReferralEvent):
    """A draft was abandoned before it went out."""


@attrs.frozen(kw_only=True)
class ReferralExpired(ReferralEvent):
    """The validity period ended before the visit (HL7 v2 RF1-1 ``E``)."""


@attrs.frozen(kw_only=True)
class ReferralPutOnHold(ReferralEvent):
    """Paused (the patient is hospitalized, travelling...)."""


@attrs.frozen(kw_only=True)
class ReferralResumed(ReferralEvent):
    """Resumed where it was before the hold."""


@attrs.frozen(kw_only=True)
class ReferralEnteredInError(ReferralEvent):
    """The referral should never have existed (a correction, allowed from any state)."""


# --- guards --------------------------------------------------------------------------------


def _authorized(referral: Referral, _event: AppointmentBooked) -> str | None:
    if referral.authorized:
        return None
    status = referral.authorization.status if referral.authorization else "not requested"
    return f"prior authorization is required and is {status}, not approved"


def _has_documents(_referral: Referral, event: ReportReceived) -> str | None:
    return None if event.documents else "a report needs at least one outcome document"


def _outcome_or_override(referral: Referral, event: LoopClosed) -> str | None:
    if referral.outcome_documents or event.override_reason is not None:
        return None
    return "no outcome document received; closing needs a coded override reason"


def _validity_over(referral: Referral, event: ReferralExpired) -> str | None:
    if referral.validity is None:
        return "the referral has no validity period"
    if epoch_us(event.occurred_at) < referral.validity.end_us:
        return "the validity period has not ended"
    return None


# --- effects -------------------------------------------------------------------------------


def _sent(referral: Referral, event: ReferralSent) -> Referral:
    return attrs.evolve(referral, placer_id=event.placer_id or referral.placer_id)


def _accepted(referral: Referral, event: ReferralAccepted) -> Referral:
    return attrs.evolve(referral, filler_id=event.filler_id or referral.filler_id)


def _declined(referral: Referral, event: ReferralDeclined) -> Referral:
    return attrs.evolve(referral, decline_reason=event.reason)


def _redirected(referral: Referral, event: ReferralRedirected) -> Referral:
    return attrs.evolve(
        referral, target=event.target, filler_id=None, decline_reason=None, appointment=None
    )


def _documents_sent(referral: Referral, event: DocumentsSent) -> Referral:
    return attrs.evolve(referral, documents_sent=referral.documents_sent | event.documents)


def _auth_requested(referral: Referral, event: AuthorizationRequested) -> Referral:
    return attrs.evolve(
        referral, authorization_required=True, authorization=AuthorizationLink(event.case)
    )


def _auth_decided(referral: Referral, event: AuthorizationDecided) -> Referral:
    return attrs.evolve(referral, authorization=AuthorizationLink(event.case, event.status))


def _after_decision(referral: Referral, event: AuthorizationDecided) -> ReferralStatus:
    # The chooser sees the referral before the effect stores the decision: read the event.
    if event.status == APPROVED or not referral.authorization_required:
        return ReferralStatus.ACCEPTED
    return ReferralStatus.AWAITING_AUTHORIZATION


def _booked(referral: Referral, event: AppointmentBooked) -> Referral:
    return attrs.evolve(referral, appointment=event.appointment, visit_at=event.start)


def _visit_cancelled(referral: Referral, _event: AppointmentCancelled) -> Referral:
    return attrs.evolve(referral, appointment=None, visit_at=None)


def _seen(referral: Referral, event: PatientSeen) -> Referral:
    return attrs.evolve(referral, seen_at=event.occurred_at)


def _interim(referral: Referral, event: InterimReportReceived) -> Referral:
    return attrs.evolve(referral, seen_at=referral.seen_at or event.occurred_at)


def _report(referral: Referral, event: ReportReceived) -> Referral:
    return attrs.evolve(referral, outcome_documents=(*referral.outcome_documents, *event.documents))


def _closed(referral: Referral, event: LoopClosed) -> Referral:
    return attrs.evolve(referral, closure_reason=event.override_reason)


def _hold(referral: Referral, _event: ReferralPutOnHold) -> Referral:
    return attrs.evolve(referral, held_from=referral.state)


def _resume_to(referral: Referral, _event: ReferralResumed) -> ReferralStatus:
    return referral.held_from or ReferralStatus.ACCEPTED


R = ReferralStatus
_HOLDABLE: Final = {R.RECEIVED, R.ACCEPTED, R.AWAITING_AUTHORIZATION, R.SCHEDULED}
_ACTIVE: Final = frozenset(R) - {R.CLOSED, R.CANCELLED, R.EXPIRED, R.ENTERED_IN_ERROR}
_IN_FLIGHT: Final = {
    R.SENT,
    R.RECEIVED,
    R.ACCEPTED,
    R.AWAITING_AUTHORIZATION,
    R.SCHEDULED,
    R.VISIT_CANCELLED,
    R.NO_SHOW,
    R.SEEN,
    R.ON_HOLD,
}

REFERRAL_MACHINE: Final[Machine[ReferralStatus, Referral]] = Machine(
    "referral",
    ReferralStatus,
    initial=R.DRAFT,
    terminal={R.CLOSED, R.CANCELLED, R.EXPIRED, R.ENTERED_IN_ERROR},
    transitions=[
        Transition(ReferralSent, R.DRAFT, R.SENT, effect=_sent),
        Transition(ReferralReceived, R.SENT, R.RECEIVED),
        Transition(ReferralAccepted, {R.SENT, R.RECEIVED}, R.ACCEPTED, effect=_accepted),
        Transition(
            ReferralDeclined,
            {
                R.SENT,
                R.RECEIVED,
                R.ACCEPTED,
                R.AWAITING_AUTHORIZATION,
                R.SCHEDULED,
                R.VISIT_CANCELLED,
                R.NO_SHOW,
            },
            R.DECLINED,
            effect=_declined,
        ),
        Transition(ReferralRedirected, R.DECLINED, R.SENT, effect=_redirected),
        Transition(DocumentsSent, _ACTIVE - {R.DECLINED}, None, effect=_documents_sent),
        Transition(
            AuthorizationRequested,
            {R.ACCEPTED, R.AWAITING_AUTHORIZATION},
            R.AWAITING_AUTHORIZATION,
            effect=_auth_requested,
        ),
        Transition(
            AuthorizationDecided,
            {R.ACCEPTED, R.AWAITING_AUTHORIZATION},
            None,
            effect=_auth_decided,
            choose=_after_decision,
            targets={R.ACCEPTED, R.AWAITING_AUTHORIZATION},
        ),
        Transition(
            AppointmentBooked,
            {R.ACCEPTED, R.SCHEDULED, R.VISIT_CANCELLED, R.NO_SHOW},
            R.SCHEDULED,
            guards=[Guard("authorization-approved", _authorized)],
            effect=_booked,
        ),
        Transition(AppointmentCancelled, R.SCHEDULED, R.VISIT_CANCELLED, effect=_visit_cancelled),
        Transition(PatientNoShow, R.SCHEDULED, R.NO_SHOW),
        Transition(PatientSeen, R.SCHEDULED, R.SEEN, effect=_seen),
        Transition(
            InterimReportReceived, {R.ACCEPTED, R.SCHEDULED, R.SEEN}, R.SEEN, effect=_interim
        ),
        Transition(
            ReportReceived,
            {R.ACCEPTED, R.SCHEDULED, R.SEEN, R.CANCEL_REQUESTED},
            R.REPORT_RECEIVED,
            guards=[Guard("outcome-document", _has_documents)],
            effect=_report,
        ),
        Transition(
            LoopClosed,
            {
                R.REPORT_RECEIVED,
                R.SEEN,
                R.NO_SHOW,
                R.DECLINED,
                R.VISIT_CANCELLED,
                R.ACCEPTED,
                R.AWAITING_AUTHORIZATION,
                R.SCHEDULED,
                R.ON_HOLD,
            },
            R.CLOSED,
            guards=[Guard("outcome-or-override", _outcome_or_override)],
            effect=_closed,
        ),
        Transition(CancellationRequested, _IN_FLIGHT - {R.SEEN}, R.CANCEL_REQUESTED),
        Transition(CancellationConfirmed, R.CANCEL_REQUESTED, R.CANCELLED),
        Transition(ReferralCancelled, R.DRAFT, R.CANCELLED),
        Transition(
            ReferralExpired,
            {
                R.SENT,
                R.RECEIVED,
                R.ACCEPTED,
                R.AWAITING_AUTHORIZATION,
                R.VISIT_CANCELLED,
                R.NO_SHOW,
                R.ON_HOLD,
            },
            R.EXPIRED,
            guards=[Guard("validity-ended", _validity_over)],
        ),
        Transition(ReferralPutOnHold, _HOLDABLE, R.ON_HOLD, effect=_hold),
        Transition(
            ReferralResumed,
            R.ON_HOLD,
            None,
            choose=_resume_to,
            targets=_HOLDABLE,
        ),
        Transition(
            ReferralEnteredInError,
            frozenset(R) - {R.ENTERED_IN_ERROR},
            R.ENTERED_IN_ERROR,
            correction=True,
        ),
    ],
)
"""The closed-loop referral lifecycle (see the module documentation for its sources)."""
