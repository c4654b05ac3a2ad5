"""HL7 v2 to FHIR: one message to one Bundle, and a stream of messages to a stream of Bundles.

`convert` goes through domain values, so every mapping is written once per side: the
message is parsed (`caredomain.adapters.hl7v2.parse`), read into its domain values
(`caredomain.adapters.hl7v2.read`: `AdtMessage`, `SchedulingMessage`, `ReferralMessage`,
`ResultMessage`), each value is written as a FHIR resource
(`caredomain.adapters.fhir.to_fhir` and the workflow mappings), and the resources are put
into one Bundle with a Provenance (`caredomain.adapters.fhir.bundles.assemble`).
`convert_stream` does that for every message of an iterable, lazily, and reports a failed
message as a `ConversionFailure` with its index instead of stopping. `split_stream` cuts a
byte stream (a batch file read in chunks) into messages in constant memory. `to_hl7v2`
goes back: a Bundle about an appointment becomes an SIU, one about a referral a REF.

The message maps follow the HL7 Version 2 to FHIR IG (HL7 International, STU 1) "ADT_A01 to
Bundle" (A01, A04, A08; A03 alike), "SIU_S12 to Bundle" (S12-S15, S26), "ORU_R01 to Bundle"
and, for REF (which the IG does not map), FHIR R4 ServiceRequest's "Mappings for HL7 v2".
Where caredomain departs from the IG, `IG_DEPARTURES` says where and why (the docs list it).

Rules of this module:

1. Time: a TS without a UTC offset is read in ``profile.timezone`` (the sender's, never the
   machine's); instants are written in their own offset; a date-only TS in an element that
   FHIR types ``dateTime`` (Encounter.period, Observation.effective,
   DiagnosticReport.effective, ServiceRequest.occurrencePeriod) stays a date, at the
   precision sent (`Hl7Time.isoformat`).
2. Resource ids are the domain values' stable ids, so converting a message twice gives the
   same Bundle.
3. Failures name the message index, a reason code and the error's own text (positions and
   what was expected, never content); a failure of any other kind is reported by its type
   name only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any, Final, TypeAlias

import attrs
import pendulum
from pendulum import DateTime

from caredomain.adapters.fhir._elements import (
    Problems,
    absent,
    read_date,
    read_datetime,
    write_concept,
    write_datetime,
    write_identifier,
)
from caredomain.adapters.fhir._models import FhirVersion
from caredomain.adapters.fhir._models import validate as _validate_resource
from caredomain.adapters.fhir.bundles import BundleKind, SourceMessage, assemble
from caredomain.adapters.fhir.resources import from_fhir, to_fhir
from caredomain.adapters.fhir.workflow import referral_from_fhir, referral_to_fhir
from caredomain.adapters.hl7v2._message import Hl7ParseError, Item, Message, Segment, parse
from caredomain.adapters.hl7v2.adt import AdtMessage
from caredomain.adapters.hl7v2.datatypes import Hl7Location, Hl7Time, read_ts
from caredomain.adapters.hl7v2.inbound import InboundMessage, read
from caredomain.adapters.hl7v2.oru import ResultMessage, ResultOrder
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.adapters.hl7v2.ref import (
    REFERRED_TO,
    REFERRING,
    ReferralAuthorization,
    ReferralMessage,
    ReferralProvider,
    build_ref,
)
from caredomain.adapters.hl7v2.siu import ScheduledResource, SchedulingMessage, build_siu
from caredomain.adapters.hl7v2.transport import split_stream
from caredomain.core.codes import CodeableConcept, Coding, hl7_v2_table
from caredomain.core.errors import CareDomainError, ValidationError
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.time import parse_datetime
from caredomain.referrals.model import Referral, ReferralStatus
from caredomain.scheduling.appointments import Appointment, AppointmentStatus

__all__ = [
    "CONVERTED_EVENTS",
    "IG_DEPARTURES",
    "ConversionFailure",
    "ConversionResult",
    "Converted",
    "FailureReason",
    "convert",
    "convert_stream",
    "split_stream",
    "to_hl7v2",
]

CONVERTED_EVENTS: Final[Mapping[str, frozenset[str]]] = {
    # HL7 v2.5.1 table 0003. The IG maps ADT A01/A03/A04/A08, SIU S12-S15/S26 and ORU R01;
    # A11/A13 (cancel admit/discharge), S17 (deletion) and REF/RRI (no IG map) are converted
    # with the same maps, as `IG_DEPARTURES` says ("S17 and cancel events", "REF").
    "ADT": frozenset({"A01", "A03", "A04", "A08", "A11", "A13"}),
    "ORU": frozenset({"R01"}),
    "SIU": frozenset({"S12", "S13", "S14", "S15", "S17", "S26"}),
    "REF": frozenset({"I12", "I13", "I14", "I15"}),
    "RRI": frozenset({"I12", "I13", "I14", "I15"}),
}
"""Message type (MSH-9.1) -> the trigger events (MSH-9.2) `convert` converts."""

IG_DEPARTURES: Final[Mapping[str, str]] = {
    "Location (PL)": (
        "IG 'PL[Location]' makes one Location per PL component (bed partOf room partOf point "
        "of care ... partOf facility); caredomain writes one Location per PL, named by its "
        "components, physicalType bd/ro when a bed/room is sent, because the domain "
        "Encounter refers to one assigned location."
    ),
    "ADT DG1 and OBX": (
        "IG 'ADT_A01 to Bundle' maps every DG1 to a Condition and every OBX to an "
        "Observation; caredomain keeps DG1 as Encounter.reasonCode only when admitting "
        "(DG1-6 A) or PV2-3, and writes each OBX as an Observation by 'OBX[Observation]' "
        "(effective OBX-14, else EVN-2, else MSH-7) without Observation.encounter; it does "
        "not convert an ADT's ROL, NK1, AL1, IN1, GT1: the domain AdtMessage has no home "
        "for them (they belong to other feeds: Coverage)."
    ),
    "A03 discharge time": (
        "IG reads the discharge time from PV1-45 only; an A03 without PV1-45 takes EVN-6 "
        "(event occurred), the time the discharge happened (HL7 v2.5.1 3.4.1.6)."
    ),
    "A08 status": (
        "IG 'Event[EncounterStatus]' maps A08 to unknown; caredomain takes the status from "
        "PV1 (finished when PV1-45 is valued, else 'Table HL70004 to Encounter Status')."
    ),
    "ORU OBR": (
        "IG 'ORU_R01 to Bundle' maps OBR to a ServiceRequest and a DiagnosticReport; "
        "caredomain writes the DiagnosticReport only (status by 'ResultStatus[Non-Queries]', "
        "'unknown' when the IG has no target), without OBR-16 (ordering provider), the "
        "ServiceRequest, NTE after OBR (R4 DiagnosticReport has no note) and SPM/ORC."
    ),
    "MSH": (
        "IG 'MSH[MessageHeader]' and 'MSH[Provenance]': the sending application is a logical "
        "Device reference and the facility a logical Organization reference (no Device or "
        "Organization resources are created); the MessageHeader endpoints are urn:uuid "
        "values stable over the HD names, since v2 has no endpoint URL."
    ),
    "Provenance.entity": (
        "The source message is identified by MSH-10 (or embedded as a Binary on request), "
        "instead of a DocumentReference."
    ),
    "SIU resources": (
        "IG 'SIU_S12 to Bundle': AIS gives Appointment.serviceType; AIG is a Device (the "
        "domain names general resources as devices; the IG leaves the actor type open), "
        "AIL one Location as for PL, AIP a Practitioner. No Slot or Schedule is created "
        "(v2 does not say which slot), and SIU NTE, PV1 and RGS are not converted."
    ),
    "S17 and cancel events": (
        "A11 (cancel admit), A13 (cancel discharge), S17 (deletion: Appointment "
        "entered-in-error) and RRI (the referral answer) are not in the IG's message list; "
        "caredomain converts them with the same segment maps."
    ),
    "REF": (
        "The IG has no REF map: RF1/PRD/PID follow FHIR R4 ServiceRequest's 'Mappings for "
        "HL7 v2'; the referral is a ServiceRequest and its Task (status and businessStatus "
        "from the referral mapping table); DG1-3 are added to reasonCode after RF1-10; "
        "message NTE are ServiceRequest.note; AUT is the ClaimResponse (use "
        "preauthorization) that ServiceRequest.insurance names, without AUT-1 plan and the "
        "AUT-8/9 counts; IN1 is not converted."
    ),
    "Conditional create": (
        "Patient and Practitioner are POSTed with ifNoneExist on their first identifier "
        "with a system; every other resource is PUT to its stable id (idempotent)."
    ),
}
"""Where caredomain's conversion departs from the v2-to-FHIR IG, and why (for the docs)."""


class FailureReason(StrEnum):
    """Why a message was not converted (the CLI's summary counts by these)."""

    UNREADABLE = "unreadable"
    """Not an HL7 v2 message: no MSH, bad encoding characters, a bad segment id."""
    UNSUPPORTED = "unsupported-type"
    """A message type or trigger event that `convert` does not convert (MSH-9)."""
    INVALID_CONTENT = "invalid-content"
    """A field the mapping cannot read (wrong datatype, missing required value...)."""
    INVALID_FHIR = "invalid-fhir"
    """With ``validate``: fhir.resources rejected a produced resource."""
    INTERNAL = "internal-error"
    """An unexpected error (a caredomain bug): reported by its type name only."""


@attrs.frozen
class Converted:
    """A message converted by `convert_stream`.

    Attributes:
        index: 1-based position of the message in the stream.
        bundle: The Bundle, a JSON-ready dict.
        event: ``TYPE^TRIGGER`` of the message (``ADT^A03``).
    """

    index: int
    bundle: dict[str, Any] = attrs.field(repr=False)
    event: str

    @property
    def ok(self) -> bool:
        """True: the message was converted."""
        return True


@attrs.frozen
class ConversionFailure:
    """A message `convert_stream` could not convert; the stream goes on.

    Attributes:
        index: 1-based position of the message in the stream.
        reason: Why, as a `FailureReason`.
        detail: The error's text: where in the message and what was expected, never
            content; for `FailureReason.INTERNAL` only the exception's type name.
        error: The exception's type name (``Hl7ParseError``).
    """

    index: int
    reason: FailureReason
    detail: str
    error: str

    @property
    def ok(self) -> bool:
        """False: the message was not converted."""
        return False


ConversionResult: TypeAlias = Converted | ConversionFailure
"""What `convert_stream` yields for each message."""

_NO_PROFILE: Final = SenderProfile()
_LOCATION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/location-physical-type"
_V2_0074: Final = hl7_v2_table(74)
_V2_0203: Final = hl7_v2_table(203)


def _lab_category() -> dict[str, Any]:
    # A new dict per report: Bundles are handed over, so no two may share an element.
    return {"coding": [{"system": _V2_0074, "code": "LAB", "display": "Laboratory"}]}


# Resource families a message type is read into, by `read` (caredomain.adapters.hl7v2.inbound).
_Family = Callable[[Any, Message, FhirVersion, SenderProfile], "_Resources"]


@attrs.frozen
class _Resources:
    """The resources of one message, in Bundle order, and the ones it is about."""

    resources: list[dict[str, Any]]
    focus: list[dict[str, Any]]


# --------------------------------------------------------------------------------------
# Time precision (module rule 1)
# --------------------------------------------------------------------------------------


def _time(item: Item, profile: SenderProfile) -> Hl7Time | None:
    try:
        return read_ts(item, timezone=profile.timezone)
    except CareDomainError:  # the reader already accepted it, or reported it
        return None


def _date_text(item: Item | None, profile: SenderProfile) -> str | None:
    """The TS as a FHIR ``date`` when it was sent without a time of day, else None."""
    if item is None or not item:
        return None
    time = _time(item, profile)
    if time is None or time.precision.has_time:
        return None
    return time.isoformat()


def _keep_precision(
    holder: dict[str, Any] | None, key: str, item: Item | None, profile: SenderProfile
) -> None:
    # The domain keeps an instant (a date is the start of its day in the sender's zone);
    # FHIR dateTime can say "that day" exactly, as the v2 sender did.
    if holder is None or key not in holder:
        return
    text = _date_text(item, profile)
    if text is not None:
        holder[key] = text


# --------------------------------------------------------------------------------------
# ADT
# --------------------------------------------------------------------------------------


def _location(location: Hl7Location, location_id: str, version: FhirVersion) -> dict[str, Any]:
    """A PL as one Location (see `IG_DEPARTURES` "Location (PL)").

    R4 ``physicalType`` is R5 ``form`` (the same location-physical-type codes).
    """
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": location_id,
        "status": "active",
        "mode": "instance",
    }
    name = " ".join(p for p in location.path if p)
    if name:  # Location.name is 0..1: nothing is invented when PL names no part
        resource["name"] = name
    # IG "PL[Location]": PL-3 bed physicalType "bd", PL-2 room "ro" (location-physical-type).
    if location.bed:
        physical = ("bd", "Bed")
    elif location.room:
        physical = ("ro", "Room")
    else:
        return resource
    resource["physicalType" if version is FhirVersion.R4 else "form"] = {
        "coding": [{"system": _LOCATION_TYPE, "code": physical[0], "display": physical[1]}]
    }
    return resource


def _first(message: Message, segment_id: str) -> Segment | None:
    return next(message.segments(segment_id), None)


def _adt(
    value: AdtMessage, message: Message, version: FhirVersion, profile: SenderProfile
) -> _Resources:
    patient = to_fhir(value.patient, version)
    resources = [patient]
    resources += [to_fhir(p, version) for p in value.practitioners]
    observations = _adt_observations(value, message, version, profile)
    encounter = value.encounter
    if encounter is None:
        return _Resources(resources + observations, [patient])
    if value.location is not None and encounter.location is not None:
        assert encounter.location.id is not None  # adt gives the assigned location an id
        resources.append(_location(value.location, encounter.location.id, version))
    written = to_fhir(encounter, version)
    pv1 = _first(message, "PV1")
    period = written.get("period" if version is FhirVersion.R4 else "actualPeriod")
    if pv1 is not None:
        _keep_precision(period, "start", pv1.item(44), profile)
        end_item: Item | None = pv1.item(45)
        evn = _first(message, "EVN")
        if not end_item and evn is not None:
            end_item = evn.item(6)  # see IG_DEPARTURES "A03 discharge time"
        _keep_precision(period, "end", end_item, profile)
    resources.append(written)
    return _Resources(resources + observations, [written])


def _adt_observations(
    value: AdtMessage, message: Message, version: FhirVersion, profile: SenderProfile
) -> list[dict[str, Any]]:
    """The ADT's OBX results as Observations (IG "ADT_A01 to Bundle": OBX[Observation]).

    Their subject is the Patient; ``ObservationResult`` has no encounter, so no
    Observation.encounter is written (see IG_DEPARTURES "ADT DG1 and OBX").
    """
    obxs = list(message.segments("OBX"))
    evn = _first(message, "EVN")
    msh = _first(message, "MSH")
    fallback = evn.item(2) if evn is not None and evn.item(2) else None
    if fallback is None and msh is not None:
        fallback = msh.item(7)
    observations = []
    # `read_adt` reads one result per OBX, in order: the n-th result is the n-th OBX's.
    for result, obx in zip(value.observations, obxs, strict=False):
        observation = to_fhir(result, version)
        item = obx.item(14) if obx.item(14) else fallback
        _keep_precision(observation, "effectiveDateTime", item, profile)
        observations.append(observation)
    return observations


# --------------------------------------------------------------------------------------
# ORU
# --------------------------------------------------------------------------------------


def _order_id(order: ResultOrder, message: Message, position: int) -> str:
    business = order.filler_order or order.placer_order
    if business is not None:
        return stable_id("DiagnosticReport", business.system or "", business.value)
    return stable_id("DiagnosticReport", message.control_id, str(position))


def _typed(identifier: Identifier, code: str, display: str) -> dict[str, Any]:
    written = write_identifier(identifier)
    if "type" not in written:
        written = {"type": {"coding": [{"system": _V2_0203, "code": code, "display": display}]}}
        written.update(write_identifier(identifier))
    return written


def _report(
    order: ResultOrder,
    report_id: str,
    observations: list[dict[str, Any]],
    subject: dict[str, Any],
    obr: Segment | None,
    profile: SenderProfile,
) -> dict[str, Any] | None:
    """IG "OBR[DiagnosticReport]" for one order with an OBR-4; None without one."""
    if order.service is None:
        return None  # DiagnosticReport.code is 1..1
    report: dict[str, Any] = {"resourceType": "DiagnosticReport", "id": report_id}
    identifiers = []
    # IG "OBR[DiagnosticReport]": OBR-2 identifier type PLAC, OBR-3 type FILL (table 0203).
    if order.placer_order is not None:
        identifiers.append(_typed(order.placer_order, "PLAC", "Placer Identifier"))
    if order.filler_order is not None:
        identifiers.append(_typed(order.filler_order, "FILL", "Filler Identifier"))
    if identifiers:
        report["identifier"] = identifiers
    # IG "ResultStatus[Non-Queries]" (table 0123); no target, or none sent: unknown.
    report["status"] = order.report_status or "unknown"
    # IG: OBR-24 diagnostic service section -> category (table 0074).
    if order.service_section:
        category = {"coding": [{"system": _V2_0074, "code": order.service_section}]}
        report["category"] = [category]
    elif any(
        c.get("code") == "laboratory"
        for o in observations
        for cat in o.get("category", ())
        for c in cat.get("coding", ())
    ):
        report["category"] = [_lab_category()]
    report["code"] = write_concept(order.service)
    report["subject"] = subject
    if order.observed_at is not None:
        report["effectiveDateTime"] = write_datetime(order.observed_at)
        _keep_precision(report, "effectiveDateTime", obr.item(7) if obr else None, profile)
    if order.reported_at is not None:
        report["issued"] = write_datetime(order.reported_at)
    if observations:
        report["result"] = [{"reference": f"Observation/{o['id']}"} for o in observations]
    return report


def _oru(
    value: ResultMessage, message: Message, version: FhirVersion, profile: SenderProfile
) -> _Resources:
    patient = to_fhir(value.patient, version)
    resources: list[dict[str, Any]] = [patient]
    focus: list[dict[str, Any]] = []
    # The OBX and OBR segments in message order: `read_oru` reads one result per OBX, in
    # order, so the n-th result comes from the n-th OBX (for the precision of its times).
    obx_of: list[tuple[Segment, Segment | None]] = []
    obrs: list[Segment | None] = []
    last_obr: Segment | None = None
    for segment in message:
        if segment.id == "OBR":
            last_obr = segment
            obrs.append(segment)
        elif segment.id == "OBX":
            if last_obr is None and not obrs:
                obrs.append(None)  # an order without an OBR (see read_oru)
            obx_of.append((segment, last_obr))
    position = 0
    subject = {"reference": f"Patient/{value.patient.id}"}
    for number, order in enumerate(value.orders, start=1):
        observations = []
        for result in order.results:
            observation = to_fhir(result, version)
            if position < len(obx_of):
                obx, obr = obx_of[position]
                item = obx.item(14) if obx.item(14) else (obr.item(7) if obr else None)
                _keep_precision(observation, "effectiveDateTime", item, profile)
            position += 1
            observations.append(observation)
        obr_segment = obrs[number - 1] if number - 1 < len(obrs) else None
        report = _report(
            order, _order_id(order, message, number), observations, subject, obr_segment, profile
        )
        resources += observations
        if report is not None:
            resources.append(report)
            focus.append(report)
        else:
            focus += observations
    return _Resources(resources, focus or [patient])


# --------------------------------------------------------------------------------------
# SIU
# --------------------------------------------------------------------------------------


def _device(resource: ScheduledResource, device_id: str, version: FhirVersion) -> dict[str, Any]:
    """An AIG general resource as a Device (IG "AIG[Appointment]" names the actor only)."""
    device: dict[str, Any] = {"resourceType": "Device", "id": device_id}
    if resource.identifier is not None:
        device["identifier"] = [write_identifier(resource.identifier)]
    if resource.code is not None:
        # AIG-4 resource type: R4 Device.type is a CodeableConcept, R5 a list of them.
        kind = write_concept(resource.code)
        device["type"] = kind if version is FhirVersion.R4 else [kind]
    return device


def _siu(
    value: SchedulingMessage, message: Message, version: FhirVersion, profile: SenderProfile
) -> _Resources:
    resources: list[dict[str, Any]] = []
    if value.patient is not None:
        resources.append(to_fhir(value.patient, version))
    resources += [to_fhir(p, version) for p in value.practitioners]
    for resource in value.resources:
        actor = resource.participant.actor if resource.participant is not None else None
        if actor is None or actor.id is None:
            continue
        if actor.target == "Location" and resource.location is not None:
            resources.append(_location(resource.location, actor.id, version))
        elif actor.target == "Device":
            resources.append(_device(resource, actor.id, version))
    appointment = to_fhir(value.appointment, version)
    resources.append(appointment)
    return _Resources(resources, [appointment])


# --------------------------------------------------------------------------------------
# REF / RRI
# --------------------------------------------------------------------------------------

# THO claim-type and the FHIR R4 claim-use code a prior authorization answer carries
# (Da Vinci PAS profile-claimresponse: use "preauthorization").
_CLAIM_TYPE: Final = "http://terminology.hl7.org/CodeSystem/claim-type"


def _claim_response(
    value: ReferralMessage,
    case_id: str,
    patient: dict[str, Any],
    sent_at: DateTime,
) -> dict[str, Any]:
    """The AUT segment as the ClaimResponse the ServiceRequest's ``insurance`` names.

    HL7 v2.5.1 11.6.2 AUT: AUT-2/AUT-3 the payer (a logical ``insurer``), AUT-6 the
    authorization number (``preAuthRef``), AUT-4/AUT-5 the period it covers
    (``preAuthPeriod``, dates as sent), AUT-10 when it was processed (``created``, else
    MSH-7). ``outcome`` is ``queued`` while no count is authorized (AUT-9), else
    ``complete`` (FHIR remittance-outcome).
    """
    authorization = value.authorization
    assert authorization is not None
    response: dict[str, Any] = {"resourceType": "ClaimResponse", "id": case_id}
    if authorization.identifier is not None:
        response["identifier"] = [write_identifier(authorization.identifier)]
    response["status"] = "active"
    response["type"] = {"coding": [{"system": _CLAIM_TYPE, "code": "professional"}]}
    response["use"] = "preauthorization"
    response["patient"] = {"reference": f"Patient/{patient['id']}"}
    response["created"] = write_datetime(authorization.processed_at or sent_at)
    insurer: dict[str, Any] = {"type": "Organization"}
    concept = authorization.payer
    payer = concept.codings[0] if concept is not None and concept.codings else None
    if payer is not None:
        insurer["identifier"] = {"system": payer.system, "value": payer.code}
    # The payer's name: AUT-3, else the coding's display, else AUT-2's text alone.
    name = (
        authorization.payer_name
        or (payer.display if payer is not None else None)
        or (concept.text if concept is not None else None)
    )
    if name:
        insurer["display"] = name
    if len(insurer) == 1:  # AUT names no payer: say it is unknown rather than invent a name
        insurer.update(absent())
    response["insurer"] = insurer
    response["outcome"] = "queued" if authorization.status == "requested" else "complete"
    if authorization.identifier is not None:
        response["preAuthRef"] = authorization.identifier.value
    period = {}
    if authorization.effective is not None:
        period["start"] = authorization.effective.isoformat()
    if authorization.expires is not None:
        period["end"] = authorization.expires.isoformat()
    if period:
        response["preAuthPeriod"] = period
    return response


def _ref(
    value: ReferralMessage, message: Message, version: FhirVersion, profile: SenderProfile
) -> _Resources:
    patient = to_fhir(value.patient, version)
    resources = [patient]
    resources += [to_fhir(p, version) for p in value.practitioners]
    request, task = referral_to_fhir(value.referral, version)
    rf1 = _first(message, "RF1")
    if rf1 is not None:
        period = request.get("occurrencePeriod")
        _keep_precision(period, "start", rf1.item(7), profile)
        # RF1-8 expiration: the domain ends the validity after that whole day; a FHIR
        # Period whose end is a date includes that day (FHIR R4 2.24.0.11 Period).
        _keep_precision(period, "end", rf1.item(8), profile)
    reasons = list(request.get("reasonCode" if version is FhirVersion.R4 else "reason", ()))
    for diagnosis in value.diagnoses:
        # DG1-3: the diagnoses that justify the referral (ServiceRequest.reasonCode).
        written = write_concept(diagnosis)
        entry = written if version is FhirVersion.R4 else {"concept": written}
        if entry not in reasons:
            reasons.append(entry)
    if reasons:
        request["reasonCode" if version is FhirVersion.R4 else "reason"] = reasons
    if value.notes:
        request["note"] = [{"text": note} for note in value.notes if note.strip()]
    resources += [request, task]
    link = value.referral.authorization
    if value.authorization is not None and link is not None:
        sent_at = _sent_at(message, profile)
        resources.append(_claim_response(value, link.case, patient, sent_at))
    return _Resources(resources, [request, task])


# --------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------

_FAMILIES: Final[dict[type, _Family]] = {
    AdtMessage: _adt,
    ResultMessage: _oru,
    SchedulingMessage: _siu,
    ReferralMessage: _ref,
}


def _supported(message: Message) -> bool:
    msh = next(iter(message))
    kind = msh.value(9, 1, 1).strip().upper()
    trigger = msh.value(9, 1, 2).strip().upper()
    return trigger in CONVERTED_EVENTS.get(kind, frozenset())


def _sent_at(message: Message, profile: SenderProfile) -> DateTime:
    """MSH-7, aware (a date alone is the start of that day in the sender's zone).

    Raises:
        Hl7ParseError: No MSH-7, or one without an offset and no sender timezone.
    """
    msh = next(iter(message))
    sent = _time(msh.item(7), profile) if msh.item(7) else None
    if sent is not None and isinstance(sent.value, DateTime):
        return sent.value
    if sent is not None and profile.timezone is not None:
        day = sent.value
        return pendulum.datetime(day.year, day.month, day.day, tz=profile.timezone)
    raise Hl7ParseError(
        "a message date/time (MSH-7) with a UTC offset or a configured sender timezone",
        segment_index=1,
        segment_id="MSH",
        field=7,
    )


def _source(message: Message, profile: SenderProfile, raw: bytes | None) -> SourceMessage:
    msh = next(iter(message))
    values = {f: msh.item(f).components() for f in (3, 4, 5, 6, 9, 10)}
    return SourceMessage.from_msh(values, sent_at=_sent_at(message, profile), raw=raw)


def _raw(message: bytes | str | Message) -> bytes:
    if isinstance(message, bytes):
        return message
    if isinstance(message, str):
        return message.encode("utf-8")
    raise ValidationError.at("embed_source", "expected the message as bytes or text")


def _unsupported() -> Hl7ParseError:
    events = "; ".join(f"{k} {', '.join(sorted(v))}" for k, v in sorted(CONVERTED_EVENTS.items()))
    return Hl7ParseError(
        f"a message type and trigger caredomain converts ({events})",
        segment_index=1,
        segment_id="MSH",
        field=9,
    )


def _convert_parsed(
    parsed: Message,
    raw: bytes | None,
    version: FhirVersion,
    kind: BundleKind,
    profile: SenderProfile,
    validate: bool,
) -> dict[str, Any]:
    if not _supported(parsed):
        raise _unsupported()
    value: InboundMessage = read(parsed, profile=profile)
    family = _FAMILIES.get(type(value))
    if family is None:
        raise _unsupported()
    found = family(value, parsed, version, profile)
    bundle = assemble(
        found.resources,
        source=_source(parsed, profile, raw),
        kind=kind,
        version=version,
        focus=found.focus,
        copy=False,  # the resources were written for this Bundle alone
    )
    if validate:
        _validate_bundle(bundle, version)
    return bundle


def _validate_bundle(bundle: dict[str, Any], version: FhirVersion) -> None:
    problems = []
    for n, entry in enumerate(bundle["entry"]):
        try:
            _validate_resource(entry["resource"], version)
        except ValidationError as exc:
            problems += [
                attrs.evolve(p, path=f"Bundle.entry[{n}].resource.{p.path}") for p in exc.problems
            ]
    shell = {
        **bundle,
        "entry": [{k: v for k, v in e.items() if k != "resource"} for e in bundle["entry"]],
    }
    try:
        _validate_resource(shell, version)
    except ValidationError as exc:
        problems += exc.problems
    if problems:
        raise ValidationError(problems, subject="Bundle")


def _options(
    fhir_version: FhirVersion | str, bundle: BundleKind | str
) -> tuple[FhirVersion, BundleKind]:
    version = FhirVersion.of(str(fhir_version).upper())
    try:
        kind = BundleKind(str(bundle).lower())
    except ValueError:
        raise ValidationError.at("bundle", "expected transaction or message") from None
    return version, kind


def convert(
    message: bytes | str | Message,
    *,
    fhir_version: FhirVersion | str = FhirVersion.R4,
    bundle: BundleKind | str = BundleKind.TRANSACTION,
    profile: SenderProfile = _NO_PROFILE,
    validate: bool = False,
    embed_source: bool = False,
) -> dict[str, Any]:
    """Convert one HL7 v2 message into one FHIR Bundle (a JSON-ready dict).

    The message is parsed, read into domain values, each written as a FHIR resource, and
    the resources are assembled (`caredomain.adapters.fhir.bundles.assemble`): ``urn:uuid``
    fullUrls, references resolved inside the Bundle, conditional create for Patient and
    Practitioner, a Provenance pointing at the message. Per message type:

    * ADT (A01, A03, A04, A08, A11, A13): Patient, the Practitioners of PV1, the assigned
      Location (PV1-3), the Encounter (status, class, period, discharge disposition...).
    * ORU^R01: Patient, one Observation per OBX (UCUM quantities), one DiagnosticReport per
      OBR with its results.
    * SIU (S12, S13, S14, S15, S17, S26): Patient, the Appointment in the state the message
      puts it in, with its participants: Practitioners (AIP), Locations (AIL), Devices
      (AIG).
    * REF and RRI (I12-I15): Patient, the Practitioners of PRD, the referral as a
      ServiceRequest and its Task, and with an AUT the ClaimResponse its ``insurance``
      names.

    Args:
        message: The message: bytes (decoded by MSH-18), text, or a parsed `Message`.
        fhir_version: ``"R4"`` (4.0.1) or ``"R5"``.
        bundle: ``"transaction"`` or ``"message"`` (a MessageHeader first).
        profile: The sender's timezone (for timestamps without a UTC offset; nothing falls
            back to the machine's zone) and identifier systems.
        validate: Also validate every resource and the Bundle with fhir.resources (slow).
        embed_source: Put the message itself in the Bundle as a ``Binary`` that the
            Provenance points at (its MSH-10 identifies it otherwise).

    Raises:
        Hl7ParseError: The message cannot be parsed, its type is not converted (at MSH-9),
            a field cannot be read (at its position), or MSH-7 is missing.
        ValidationError: A bad option; with ``validate``, every problem fhir.resources
            found, at its ``Bundle.entry[n].resource...`` location.
    """
    version, kind = _options(fhir_version, bundle)
    parsed = message if isinstance(message, Message) else parse(message)
    raw = _raw(message) if embed_source else None
    return _convert_parsed(parsed, raw, version, kind, profile, validate)


def convert_stream(
    messages: Iterable[bytes | str | Message],
    *,
    fhir_version: FhirVersion | str = FhirVersion.R4,
    bundle: BundleKind | str = BundleKind.TRANSACTION,
    profile: SenderProfile = _NO_PROFILE,
    validate: bool = False,
    embed_source: bool = False,
    start: int = 1,
) -> Iterator[ConversionResult]:
    """Convert every message of ``messages``, lazily, one result per message, in order.

    A message that cannot be converted yields a `ConversionFailure` (its index, a
    `FailureReason`, the error's text) and the stream goes on: nothing is dropped and
    nothing stops it. Memory does not grow with the stream: one message is held at a time.

    Args:
        messages: The messages (see `convert`), for example ``split_stream(file)``.
        fhir_version: See `convert`.
        bundle: See `convert`.
        profile: See `convert`.
        validate: See `convert`; a rejected resource is a `FailureReason.INVALID_FHIR`.
        embed_source: See `convert`.
        start: The index of the first message.

    Raises:
        ValidationError: A bad option (raised on the first ``next``, before any message).
    """
    version, kind = _options(fhir_version, bundle)
    for index, message in enumerate(messages, start=start):
        yield _one(index, message, version, kind, profile, validate, embed_source)


def _one(
    index: int,
    message: bytes | str | Message,
    version: FhirVersion,
    kind: BundleKind,
    profile: SenderProfile,
    validate: bool,
    embed_source: bool,
) -> ConversionResult:
    try:
        parsed = message if isinstance(message, Message) else parse(message)
    except CareDomainError as exc:
        return ConversionFailure(index, FailureReason.UNREADABLE, str(exc), type(exc).__name__)
    event = "?"
    try:
        event = _event(parsed)
        raw = _raw(message) if embed_source else None
        if not _supported(parsed):
            error = _unsupported()
            return ConversionFailure(
                index, FailureReason.UNSUPPORTED, str(error), type(error).__name__
            )
        bundle = _convert_parsed(parsed, raw, version, kind, profile, validate)
    except ValidationError as exc:
        reason = FailureReason.INVALID_FHIR if validate and exc.subject == "Bundle" else None
        return ConversionFailure(
            index, reason or FailureReason.INVALID_CONTENT, str(exc), type(exc).__name__
        )
    except CareDomainError as exc:
        return ConversionFailure(index, FailureReason.INVALID_CONTENT, str(exc), type(exc).__name__)
    except Exception as exc:  # module rule 3: the stream never stops; no text, may hold content
        return ConversionFailure(
            index, FailureReason.INTERNAL, f"unexpected {type(exc).__name__}", type(exc).__name__
        )
    return Converted(index, bundle, event)


def _event(message: Message) -> str:
    msh = next(iter(message))
    kind = msh.value(9, 1, 1).strip().upper()
    trigger = msh.value(9, 1, 2).strip().upper()
    return f"{kind}^{trigger}" if trigger else kind


# --------------------------------------------------------------------------------------
# FHIR -> HL7 v2 (Appointment -> SIU, ServiceRequest + Task -> REF)
# --------------------------------------------------------------------------------------

# The SIU trigger that announces an appointment in each state (HL7 v2.5.1 10.4): a
# cancellation S15, a deletion S17, a no-show S26, anything else a booking S12.
_SIU_TRIGGER: Final[dict[AppointmentStatus, str]] = {
    AppointmentStatus.CANCELLED: "S15",
    AppointmentStatus.ENTERED_IN_ERROR: "S17",
    AppointmentStatus.NOSHOW: "S26",
}
# REF I14 (cancel patient referral) for a referral being cancelled; else I12.
_REF_CANCEL: Final = frozenset({ReferralStatus.CANCEL_REQUESTED, ReferralStatus.CANCELLED})


def _resolved(bundle: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The Bundle's resources by type, with ids and ``Type/id`` references.

    A conditionally created resource has no id in a transaction: its fullUrl's uuid is its
    id here. References to fullUrls are turned back into ``Type/id``.
    """
    entries = bundle.get("entry")
    if bundle.get("resourceType") != "Bundle" or not isinstance(entries, list):
        raise ValidationError.at("Bundle.entry", "expected a Bundle with entries")
    literal: dict[str, str] = {}
    found: list[dict[str, Any]] = []
    for n, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if not isinstance(resource, Mapping) or not isinstance(resource.get("resourceType"), str):
            raise ValidationError.at(f"Bundle.entry[{n}].resource", "expected a resource")
        copy = dict(resource)
        url = entry.get("fullUrl")
        if "id" not in copy and isinstance(url, str):
            copy["id"] = url.rpartition(":")[2].rpartition("/")[2]
        if isinstance(url, str) and "id" in copy:
            literal[url] = f"{copy['resourceType']}/{copy['id']}"
        found.append(copy)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in found:
        by_type.setdefault(resource["resourceType"], []).append(_relative(resource, literal))
    return by_type


def _relative(node: Any, literal: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        out = {k: _relative(v, literal) for k, v in node.items()}
        reference = out.get("reference")
        if isinstance(reference, str) and reference in literal:
            out["reference"] = literal[reference]
        return out
    if isinstance(node, list):
        return [_relative(v, literal) for v in node]
    return node


def _one_of(by_type: Mapping[str, list[dict[str, Any]]], kind: str) -> dict[str, Any] | None:
    found = by_type.get(kind, [])
    if len(found) > 1:
        raise ValidationError.at(f"Bundle.entry({kind})", f"expected one {kind}")
    return found[0] if found else None


def _by_reference(
    by_type: Mapping[str, list[dict[str, Any]]], reference: Reference | None, kind: str
) -> dict[str, Any] | None:
    if reference is None or reference.target != kind or reference.id is None:
        return None
    return next((r for r in by_type.get(kind, []) if r.get("id") == reference.id), None)


def to_hl7v2(
    bundle: Mapping[str, Any],
    *,
    fhir_version: FhirVersion | str = FhirVersion.R4,
    now: DateTime,
    control_id: str | None = None,
    timezone: str | None = None,
) -> str:
    """Write a FHIR Bundle about an appointment or a referral as an HL7 v2 message (ER7).

    * A Bundle with an Appointment: an SIU (`caredomain.adapters.hl7v2.siu.build_siu`),
      S15 for a cancelled appointment, S17 entered-in-error, S26 no-show, else S12; the
      patient and practitioners are the Bundle's resources the participants name; SCH-1
      (placer appointment id) is the Appointment's id.
    * A Bundle with a ServiceRequest and its Task: a REF
      (`caredomain.adapters.hl7v2.ref.build_ref`), I14 when the referral is being
      cancelled, else I12; PRD ``RP`` the requester and ``RT`` the performer when they are
      Practitioners of the Bundle.

    Resources are read with `from_fhir` and `referral_from_fhir`, so ``convert``'s own
    Bundles (``urn:uuid`` references, conditionally created resources without an id) read
    as well as any other.

    Args:
        bundle: The Bundle (parsed JSON).
        fhir_version: ``"R4"`` or ``"R5"``.
        now: MSH-7 (aware) when the Bundle has no ``timestamp``.
        control_id: MSH-10; default: 20 characters derived from the Bundle's content ids.
        timezone: IANA zone for a ServiceRequest ``occurrencePeriod`` given as dates (as
            ``convert`` writes RF1-7/RF1-8 dates): a start date begins, an end date ends,
            in that zone.

    Raises:
        ValidationError: Neither an Appointment nor a ServiceRequest and Task, a resource
            that cannot be read (at its FHIRPath location), or values the message cannot
            carry.
    """
    version, _ = _options(fhir_version, BundleKind.TRANSACTION)
    by_type = _resolved(bundle)
    sent = now
    stamp = bundle.get("timestamp")
    if isinstance(stamp, str):
        # An instant with its offset (FHIR instant); a naive stamp is refused, never taken
        # as UTC.
        sent = parse_datetime(stamp, "Bundle.timestamp")
    appointment = _one_of(by_type, "Appointment")
    if appointment is not None:
        value: Appointment = from_fhir(appointment, version)
        patient_ref = next(
            (p.actor for p in value.participants if p.actor.target == "Patient"), None
        )
        patient = _by_reference(by_type, patient_ref, "Patient")
        practitioners = [from_fhir(r, version) for r in by_type.get("Practitioner", [])]
        return build_siu(
            value,
            _SIU_TRIGGER.get(value.state, "S12"),
            patient=from_fhir(patient, version) if patient is not None else None,
            control_id=control_id or _control_id("SIU", value.id, value.state.value),
            now=sent,
            placer_id=Identifier(value.id),
            practitioners=practitioners,
        )
    request = _one_of(by_type, "ServiceRequest")
    task = _one_of(by_type, "Task")
    if request is None or task is None:
        raise ValidationError.at(
            "Bundle.entry", "expected an Appointment, or a ServiceRequest and its Task"
        )
    request = _dated_period(request, timezone)
    referral: Referral = referral_from_fhir(request, task, version)
    patient = _by_reference(by_type, referral.patient, "Patient")
    if patient is None:
        raise ValidationError.at("ServiceRequest.subject", "expected a Patient of the Bundle")
    providers = []
    for role, reference in (
        (REFERRING, referral.requester),
        (REFERRED_TO, referral.target.performer),
    ):
        found = _by_reference(by_type, reference, "Practitioner")
        if found is not None:
            providers.append(ReferralProvider(role, from_fhir(found, version)))
    # convert writes RF1-10 (table 0336) and then the DG1 diagnoses as reasons: the others
    # go back to DG1.
    reasons = [c for c in referral.reasons if _V2_0336 in {x.system for x in c.codings}]
    diagnoses = [c for c in referral.reasons if c not in reasons]
    referral = attrs.evolve(referral, reasons=reasons)
    link = referral.authorization
    claim_response = next(
        (r for r in by_type.get("ClaimResponse", []) if link is not None and r["id"] == link.case),
        None,
    )
    return build_ref(
        referral,
        "I14" if referral.state in _REF_CANCEL else "I12",
        patient=from_fhir(patient, version),
        providers=providers,
        diagnoses=diagnoses,
        authorization=_authorization(claim_response) if claim_response else None,
        notes=[n["text"] for n in request.get("note", ()) if isinstance(n.get("text"), str)],
        control_id=control_id or _control_id("REF", referral.id, referral.state.value),
        now=sent,
    )


def _control_id(*parts: str) -> str:
    # MSH-10 is ST(20) in HL7 v2.5.1: 20 hex digits of a stable id.
    return stable_id("MSH-10", *parts).replace("-", "")[:20].upper()


def _dated_period(request: dict[str, Any], timezone: str | None) -> dict[str, Any]:
    """``occurrencePeriod`` dates as instants in ``timezone`` (the end date inclusive)."""
    period = request.get("occurrencePeriod")
    if not isinstance(period, dict):
        return request
    dated = {k: v for k, v in period.items() if isinstance(v, str) and _DATE.fullmatch(v)}
    if not dated:
        return request
    if timezone is None:
        raise ValidationError.at(
            "ServiceRequest.occurrencePeriod", "a timezone to read dates as instants"
        )
    changed = dict(period)
    for key, text in dated.items():
        year, month, day = (int(part) for part in text.split("-"))
        try:
            start = pendulum.datetime(year, month, day, tz=timezone)
        except ValueError:
            raise ValidationError.at(
                f"ServiceRequest.occurrencePeriod.{key}", "a calendar date that exists"
            ) from None
        changed[key] = write_datetime(start.add(days=1) if key == "end" else start)
    return {**request, "occurrencePeriod": changed}


_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


_V2_0336: Final = hl7_v2_table(336)


def _authorization(response: Mapping[str, Any]) -> ReferralAuthorization:
    """A ClaimResponse (as `convert` writes AUT) back as the AUT segment's values."""
    problems = Problems()
    insurer = _mapping(response.get("insurer"))
    identifier = _mapping(insurer.get("identifier"))
    payer = None
    if identifier.get("system") and identifier.get("value"):
        payer = CodeableConcept(
            (Coding(identifier["system"], identifier["value"], insurer.get("display")),)
        )
    period = _mapping(response.get("preAuthPeriod"))
    number = response.get("preAuthRef")
    written = _mapping((response.get("identifier") or [{}])[0])
    created = response.get("created")
    processed = (
        read_datetime(created, "ClaimResponse.created", problems) if created is not None else None
    )
    effective, expires = (
        read_date(_day(period[key]), f"ClaimResponse.preAuthPeriod.{key}", problems)
        if key in period
        else None
        for key in ("start", "end")
    )
    problems.raise_if_any("ClaimResponse")
    return ReferralAuthorization(
        payer=payer,
        payer_name=insurer.get("display"),
        effective=effective,
        expires=expires,
        identifier=Identifier(number, written.get("system")) if isinstance(number, str) else None,
        processed_at=processed,
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _day(value: object) -> object:
    """The date part of a FHIR date or dateTime (a period's bounds may be either)."""
    return value[:10] if isinstance(value, str) else value
