"""SIU scheduling messages (HL7 v2 chapter 10) read into domain values, and built from them.

`read_siu` turns an SIU^S12 (new booking), S13 (reschedule), S14 (modification), S15
(cancellation), S17 (deletion) or S26 (no-show) into a `SchedulingMessage`: the
`Appointment` in the state the message puts it in, the patient, the placer and filler
appointment ids, and one `ScheduledResource` per AIS/AIG/AIL/AIP segment. `build_siu` writes
the same values as ER7.

Rules of this module:

1. Field positions follow HL7 v2.5.1 chapter 10 (SCH 10.6.2, TQ1 4.5.4, RGS 10.6.3, AIS
   10.6.4, AIG 10.6.5, AIL 10.6.6, AIP 10.6.7); the domain mapping follows the HL7 v2-to-FHIR
   IG maps "SIU_S12 to Bundle", "SCH to Appointment", "AIS/AIG/AIL/AIP to Appointment",
   "TQ to Appointment", "PID to Patient" and the ConceptMap "Table 0278 to Appointment
   Status" (FillerStatusCodes[Appointment]). Departures are marked ``caredomain:``.
2. The appointment's state is reached by applying the appointment machine's own events
   (`APPOINTMENT_MACHINE`) at the message time (MSH-7), with event ids derived from the
   appointment id, the control id and the event type: the table's guards still hold (a
   booked appointment has a time, a no-show is recorded at or after the start) and the
   trail says which message put the appointment in its state.
3. Ids are content-derived (`stable_id`): the same message always yields the same values.
4. Errors are `Hl7ParseError` at a segment/field/component, never with message content.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Final

import attrs
from pendulum import DateTime

from caredomain.adapters.hl7v2._message import Hl7ParseError, Item, Message, Segment, escape
from caredomain.adapters.hl7v2._writer import DEFAULT_VERSION, Writer, components
from caredomain.adapters.hl7v2.adt import read_patient, write_pid
from caredomain.adapters.hl7v2.datatypes import (
    Hl7Location,
    Hl7Person,
    parse_nm,
    parse_ts,
    read_cwe,
    read_ei,
    read_pl,
    read_ts,
    read_xcn,
    write_ce,
    write_cq,
    write_cwe,
    write_ei,
    write_nm,
    write_pl,
    write_ts,
    write_xcn,
)
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.core.codes import CodeableConcept, hl7_v2_table
from caredomain.core.errors import ValidationError
from caredomain.core.events import DomainEvent
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.parties import HumanName, Patient, Practitioner
from caredomain.core.quantities import Quantity
from caredomain.core.time import Interval, ensure_aware, epoch_us, to_datetime
from caredomain.scheduling.appointments import (
    APPOINTMENT_MACHINE,
    Appointment,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentEnteredInError,
    AppointmentFulfilled,
    AppointmentPended,
    AppointmentStatus,
    AppointmentWaitlisted,
    Participant,
    ParticipationStatus,
    PatientCheckedIn,
    PatientNoShow,
)

__all__ = [
    "SIU_TRIGGERS",
    "ResourceKind",
    "ScheduledResource",
    "SchedulingMessage",
    "build_siu",
    "read_siu",
]

SIU_TRIGGERS: Final = ("S12", "S13", "S14", "S15", "S17", "S26")
"""The SIU trigger events read and built here (HL7 v2.5.1 chapter 10, table 0003)."""

_A = AppointmentStatus
_PS = ParticipationStatus

# The state each trigger names (HL7 v2.5.1 10.4: S12 new booking, S13 reschedule, S14
# modification, S15 cancellation, S17 deletion, S26 no-show).
_TRIGGER_STATE: Final[dict[str, AppointmentStatus]] = {
    "S12": _A.BOOKED,
    "S13": _A.BOOKED,
    "S14": _A.BOOKED,
    "S15": _A.CANCELLED,
    "S17": _A.ENTERED_IN_ERROR,
    "S26": _A.NOSHOW,
}
# Triggers whose state SCH-25 does not refine: the event itself names the new state.
_FIXED_TRIGGERS: Final = frozenset({"S15", "S17", "S26"})
# IG ConceptMap "Table 0278 to Appointment Status" (FillerStatusCodes[Appointment]); keys
# lower-cased, matched case-insensitively. Blocked and Dc (discontinued) are unmapped in the IG
# and give the trigger's state. caredomain: Overbook (a booking beyond capacity) is booked.
_FILLER_STATUS: Final[dict[str, AppointmentStatus]] = {
    "pending": _A.PENDING,
    "waitlist": _A.WAITLIST,
    "booked": _A.BOOKED,
    "started": _A.CHECKED_IN,
    "complete": _A.FULFILLED,
    "cancelled": _A.CANCELLED,
    "deleted": _A.ENTERED_IN_ERROR,
    "noshow": _A.NOSHOW,
    "overbook": _A.BOOKED,
}
# The inverse, for SCH-25 (table 0278 codes as HL7 spells them). Proposed and arrived have
# no table 0278 code (the IG's ConceptMap leaves them unmatched): build_siu refuses them.
_STATUS_CODE: Final[dict[AppointmentStatus, str]] = {
    _A.PENDING: "Pending",
    _A.WAITLIST: "Waitlist",
    _A.BOOKED: "Booked",
    _A.CHECKED_IN: "Started",
    _A.FULFILLED: "Complete",
    _A.CANCELLED: "Cancelled",
    _A.ENTERED_IN_ERROR: "Deleted",
    _A.NOSHOW: "Noshow",
}
# caredomain: a resource's filler status (AIG-14, AIL-12, AIP-12; table 0278) as the
# participant's answer. The IG maps AIP-12 to participant.status without a ConceptMap.
_PARTICIPATION: Final[dict[str, ParticipationStatus]] = {
    "pending": _PS.NEEDS_ACTION,
    "waitlist": _PS.TENTATIVE,
    "booked": _PS.ACCEPTED,
    "overbook": _PS.ACCEPTED,
    "started": _PS.ACCEPTED,
    "complete": _PS.ACCEPTED,
    "noshow": _PS.ACCEPTED,
    "cancelled": _PS.DECLINED,
    "deleted": _PS.DECLINED,
    "dc": _PS.DECLINED,  # table 0278 spells Discontinued "Dc"
    "blocked": _PS.DECLINED,
}
_PARTICIPATION_CODE: Final[dict[ParticipationStatus, str]] = {
    _PS.NEEDS_ACTION: "Pending",
    _PS.TENTATIVE: "Waitlist",
    _PS.DECLINED: "Cancelled",
}

# Duration units (AIS-8, AIG-12, AIL-10, AIP-10, SCH-10, TQ1-6.2): UCUM codes and the
# ISO+/ANSI+ spellings senders use, case-insensitive, in seconds. HL7 v2.5.1 chapter 10
# takes minutes when the units are not valued.
_UNIT_SECONDS: Final[dict[str, int]] = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86_400,
    "day": 86_400,
    "days": 86_400,
    "wk": 604_800,
    "week": 604_800,
    "weeks": 604_800,
}
_UNITS_EXPECTED: Final = "duration units: s, min, h, d or wk (UCUM)"
# TQ-3 duration (HL7 v2.5.1 4.4.3): S<n> seconds, M<n> minutes, H<n> hours, D<n> days,
# W<n> weeks. L<n> (months) and INDEF have no fixed length and give no end.
_TQ_DURATION: Final[dict[str, int]] = {"S": 1, "M": 60, "H": 3600, "D": 86_400, "W": 604_800}
_MINUTE_US: Final = 60_000_000
_SECOND_US: Final = 1_000_000


class ResourceKind(StrEnum):
    """Which resource segment a `ScheduledResource` came from (HL7 v2.5.1 10.6.4-10.6.7)."""

    SERVICE = "service"
    """AIS: the service booked."""
    GENERAL = "general"
    """AIG: a general resource (equipment, a role such as a nurse navigator)."""
    LOCATION = "location"
    """AIL: a location (clinic, room)."""
    PERSONNEL = "personnel"
    """AIP: a person (the clinician)."""


_SEGMENT_KIND: Final[dict[str, ResourceKind]] = {
    "AIS": ResourceKind.SERVICE,
    "AIG": ResourceKind.GENERAL,
    "AIL": ResourceKind.LOCATION,
    "AIP": ResourceKind.PERSONNEL,
}
_KIND_ORDER: Final[dict[ResourceKind, int]] = {kind: i for i, kind in enumerate(ResourceKind)}


def _optional_datetime(value: _dt.datetime | None) -> DateTime | None:
    return None if value is None else to_datetime(value)


def _check_duration(
    _inst: object, _attribute: attrs.Attribute[_dt.timedelta | None], value: object
) -> None:
    if value is not None and (not isinstance(value, _dt.timedelta) or value < _dt.timedelta(0)):
        raise ValidationError.at("ScheduledResource.duration", "expected a non-negative timedelta")


@attrs.frozen
class ScheduledResource:
    """One AIS, AIG, AIL or AIP segment: what or who the appointment books, and when.

    Attributes:
        kind: The segment it came from.
        code: AIS-3 universal service id; AIG-4 or AIP-4 resource type; AIL-4 location type.
        identifier: AIG-3 resource id (CWE-1 with its coding system as system) or AIP-3
            XCN-1 with its assigning authority; ``None`` for AIS and AIL.
        location: AIL-3, the place (each part the HD namespace as sent).
        name: AIP-3's name parts. Kept out of ``repr``.
        start: AIS-4/AIG-8/AIL-6/AIP-6, or the appointment start moved by the start offset
            (AIS-5/6 ...) when only an offset is sent.
        duration: AIS-7/8, AIG-11/12, AIL-9/10, AIP-9/10.
        filler_status: AIS-10/AIG-14/AIL-12/AIP-12, the table 0278 code as sent.
        participant: The appointment participant it became (AIG: a Device, AIL: a
            Location, AIP: a Practitioner); ``None`` for a service.
    """

    kind: ResourceKind = attrs.field(converter=ResourceKind)
    code: CodeableConcept | None = None
    identifier: Identifier | None = None
    location: Hl7Location | None = None
    name: HumanName | None = attrs.field(default=None, repr=False)
    start: DateTime | None = attrs.field(
        default=None, converter=_optional_datetime, eq=lambda v: None if v is None else epoch_us(v)
    )
    duration: _dt.timedelta | None = attrs.field(default=None, validator=_check_duration)
    filler_status: str | None = None
    participant: Participant | None = None

    def __attrs_post_init__(self) -> None:
        if self.start is not None:
            ensure_aware(self.start, "ScheduledResource.start")


def _tuple(value: Iterable[object]) -> tuple[object, ...]:
    return tuple(value)


@attrs.frozen
class SchedulingMessage:
    """What one SIU message says (the "message value" `read_siu` returns).

    Attributes:
        trigger: The trigger event, one of `SIU_TRIGGERS` (MSH-9.2).
        control_id: MSH-10.
        sent_at: MSH-7, the message time; the appointment's trail records its events then.
        appointment: The appointment in the state the message puts it in.
        placer_id: SCH-1, the placer appointment id.
        filler_id: SCH-2, the filler appointment id.
        patient: The patient (PID), if the message has one. Kept out of ``repr``.
        resources: One per AIS, AIG, AIL and AIP segment, in message order.
        practitioners: The people of the AIP segments, each once, in order.
    """

    trigger: str
    control_id: str
    sent_at: DateTime = attrs.field(converter=to_datetime, eq=epoch_us)
    appointment: Appointment
    placer_id: Identifier | None = None
    filler_id: Identifier | None = None
    patient: Patient | None = attrs.field(default=None, repr=False)
    resources: tuple[ScheduledResource, ...] = attrs.field(default=(), converter=_tuple)
    practitioners: tuple[Practitioner, ...] = attrs.field(default=(), converter=_tuple)


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def _at(segment: Segment, expected: str, field: int, component: int | None = None) -> Hl7ParseError:
    return Hl7ParseError(
        expected,
        segment_index=segment.index,
        segment_id=segment.id,
        field=field,
        component=component,
    )


def _id_parts(target: str, identifier: Identifier) -> str:
    return stable_id(target, identifier.system or "", identifier.value)


def _location_reference(location: Hl7Location) -> Reference:
    """A Location reference for a PL.

    The id is over the whole path (facility .. bed), so that room EX3 of two clinics differ;
    the identifier is the most granular part (IG "PL[Location]": the resource references the
    most granular Location).
    """
    path = location.path
    granular = next(p for p in reversed(path) if p)
    return Reference(
        "Location",
        id=location.id,
        identifier=Identifier(granular),
        display=" ".join(p for p in path if p),
    )


def _duration(segment: Segment, amount_field: int, units_field: int) -> _dt.timedelta | None:
    amount_text = segment.value(amount_field, 1, 1)
    if not amount_text.strip():
        return None
    amount = parse_nm(amount_text, at=segment.item(amount_field), component=1)
    return _amount(segment, amount, segment.value(units_field, 1, 1).strip(), units_field)


def _amount(
    segment: Segment, amount: Decimal, unit: str, units_field: int, component: int = 1
) -> _dt.timedelta:
    seconds = _UNIT_SECONDS.get(unit.lower()) if unit else 60
    if seconds is None:
        raise _at(segment, _UNITS_EXPECTED, units_field, component)
    if amount < 0:
        raise _at(segment, "a duration of zero or more", units_field - 1)
    micros = amount * seconds * _SECOND_US
    return _dt.timedelta(microseconds=int(micros))


def _instant(
    segment: Segment,
    field: int,
    timezone: str | None,
    component: int | None = None,
    seen: dict[str, DateTime] | None = None,
) -> DateTime | None:
    """A date/time to the hour or finer, from a field (TS/DTM) or one TS component (TQ-4).

    ``seen`` caches the times already read from this message by their text: SIU repeats
    the start in SCH-11, TQ1 and every resource segment.
    """
    item = segment.item(field)
    text = item.subcomponent(component or 1, 1)
    if not text.strip() or text == '""':
        return None
    if seen is not None:
        known = seen.get(text)
        if known is not None:
            return known
    time = parse_ts(text, timezone=timezone, at=item, component=component)
    if not time.precision.has_time or not isinstance(time.value, DateTime):
        raise _at(segment, "a date/time to the hour or finer", field, component)
    if seen is not None:
        seen[text] = time.value
    return time.value


def _filler_code(segment: Segment, field: int) -> str | None:
    return segment.value(field, 1, 1).strip() or None


def _participation(code: str | None) -> ParticipationStatus:
    if code is None:
        return _PS.ACCEPTED
    return _PARTICIPATION.get(code.lower(), _PS.ACCEPTED)


def _cwe_identifier(item: Item, profile: SenderProfile) -> Identifier | None:
    """A CWE used as an identifier (IG "CWE[Identifier]"): CWE-1 value, CWE-3 system."""
    value = item.component(1).strip()
    if not value:
        return None
    name = item.component(3).strip()
    system = None
    if name:
        system = profile.system_for(name)
        if system is None:
            concept = read_cwe(item)
            system = concept.codings[0].system if concept and concept.codings else name
    return Identifier(value, system)


# Field numbers per segment: (start, offset, offset units, duration, units, filler status)
_TIMING: Final[dict[str, tuple[int, int, int, int, int, int]]] = {
    "AIS": (4, 5, 6, 7, 8, 10),
    "AIG": (8, 9, 10, 11, 12, 14),
    "AIL": (6, 7, 8, 9, 10, 12),
    "AIP": (6, 7, 8, 9, 10, 12),
}


def _read_resource(
    segment: Segment,
    profile: SenderProfile,
    anchor: DateTime | None,
    practitioners: dict[str, Practitioner],
    appointment_key: str,
    seen: dict[str, DateTime],
) -> ScheduledResource:
    kind = _SEGMENT_KIND[segment.id]
    start_f, offset_f, offset_units_f, duration_f, units_f, status_f = _TIMING[segment.id]
    start = _instant(segment, start_f, profile.timezone, seen=seen)
    if start is None and anchor is not None:
        # IG AIS/AIG/AIL/AIP[Appointment]: without a start, the appointment start + offset.
        offset = _duration(segment, offset_f, offset_units_f)
        if offset is not None:
            start = anchor + offset
    duration = _duration(segment, duration_f, units_f)
    status = _filler_code(segment, status_f)
    code: CodeableConcept | None = None
    identifier: Identifier | None = None
    location: Hl7Location | None = None
    name: HumanName | None = None
    participant: Participant | None = None
    answer = _participation(status)
    if kind is ResourceKind.SERVICE:
        # IG AIS[Appointment]: AIS-3 -> serviceType.
        code = read_cwe(segment.item(3))
    elif kind is ResourceKind.GENERAL:
        # IG AIG[Appointment]: AIG-3 -> participant.actor identifier, AIG-4 -> participant.type.
        # caredomain: the actor is a Device (a general resource is equipment or a role).
        identifier = _cwe_identifier(segment.item(3), profile)
        code = read_cwe(segment.item(4))
        if identifier is not None:
            actor = Reference("Device", id=_id_parts("Device", identifier), identifier=identifier)
            participant = Participant(actor, status=answer, role=code)
    elif kind is ResourceKind.LOCATION:
        # IG AIL[Appointment]: AIL-3 -> participant.actor(Location). AIL-4: table 0305.
        location = read_pl(segment.item(3))
        code = read_cwe(segment.item(4), default_system=hl7_v2_table(305))
        if location is not None:
            participant = Participant(_location_reference(location), status=answer)
    else:
        # IG AIP[Appointment]: AIP-3 -> participant.actor(Practitioner), AIP-4 -> type
        # (table 0182), AIP-12 -> participant.status.
        item = segment.item(3)
        person = read_xcn(item)
        code = read_cwe(segment.item(4), default_system=hl7_v2_table(182))
        if person is not None:
            identifier = profile.resolve(person.identifier, item.subcomponent(9, 1))
            name = person.name
            if identifier is not None:
                pid = _id_parts("Practitioner", identifier)
            else:
                pid = stable_id("Practitioner", appointment_key, "AIP", str(segment.index))
            if pid not in practitioners:
                practitioners[pid] = Practitioner(
                    pid,
                    identifiers=(identifier,) if identifier else (),
                    names=(name,) if name else (),
                )
            actor = Reference(
                "Practitioner", id=pid, identifier=identifier, display=str(name) if name else None
            )
            participant = Participant(actor, status=answer, role=code)
    return ScheduledResource(
        kind, code, identifier, location, name, start, duration, status, participant
    )


def _tq_interval(
    sch: Segment, timezone: str | None, seen: dict[str, DateTime]
) -> tuple[DateTime | None, DateTime | None]:
    # IG "TQ[Appointment]": TQ-4 -> start, TQ-5 -> end (SCH-11, first repetition).
    start = _instant(sch, 11, timezone, 4, seen)
    end = _instant(sch, 11, timezone, 5, seen) if start is not None else None
    return start, end


def _tq_duration(sch: Segment) -> _dt.timedelta | None:
    # SCH-9/10 (appointment duration and units), then TQ-3 (S/M/H/D/W<n>).
    duration = _duration(sch, 9, 10)
    if duration is not None:
        return duration
    text = sch.item(11).component(3).strip().upper()
    if len(text) > 1 and text[0] in _TQ_DURATION and text[1:].isdigit():
        return _dt.timedelta(seconds=int(text[1:]) * _TQ_DURATION[text[0]])
    return None


def _tq1_interval(
    tq1: Segment, timezone: str | None, seen: dict[str, DateTime]
) -> tuple[DateTime | None, DateTime | None, _dt.timedelta | None]:
    # TQ1-7 start, TQ1-8 end, TQ1-6 service duration (CQ) (HL7 v2.5.1 4.5.4).
    start = _instant(tq1, 7, timezone, seen=seen)
    end = _instant(tq1, 8, timezone, seen=seen)
    duration = None
    item = tq1.item(6)
    if item:
        amount = parse_nm(item.component(1), at=item, component=1)
        duration = _amount(tq1, amount, item.subcomponent(2, 1).strip(), 6, 2)
    return start, end, duration


def _interval(
    sch: Segment,
    tq1: Segment | None,
    resources: Sequence[ScheduledResource],
    timezone: str | None,
    seen: dict[str, DateTime],
    sch11: tuple[DateTime | None, DateTime | None],
) -> Interval | None:
    """The appointment time: SCH-11, then TQ1, then the span of the timed resources."""
    start, end = sch11
    if start is not None:
        if end is None:
            duration = _tq_duration(sch)
            if duration is None:
                raise _at(sch, "an end time (SCH-11.5) or a duration (SCH-9/10, SCH-11.3)", 11, 5)
            end = start + duration
        return _checked(sch, 11, start, end)
    if tq1 is not None:
        start, end, duration = _tq1_interval(tq1, timezone, seen)
        if start is not None:
            if end is None:
                if duration is None:
                    raise _at(tq1, "an end time (TQ1-8) or a service duration (TQ1-6)", 8)
                end = start + duration
            return _checked(tq1, 8, start, end)
    # caredomain: the earliest resource start to the latest resource end (the IG leaves
    # "which AIS populates Appointment" to the implementer).
    timed = [
        (r.start, r.start + r.duration) for r in resources if r.start and r.duration is not None
    ]
    if not timed:
        return None
    first = min(timed, key=lambda t: epoch_us(t[0]))[0]
    last = max(timed, key=lambda t: epoch_us(t[1]))[1]
    return Interval(first, last)


def _checked(segment: Segment, field: int, start: DateTime, end: DateTime) -> Interval:
    if epoch_us(end) < epoch_us(start):
        raise _at(segment, "an end time at or after the start time", field)
    return Interval(start, end)


def _state(trigger: str, sch: Segment, resources: Sequence[ScheduledResource]) -> AppointmentStatus:
    default = _TRIGGER_STATE[trigger]
    if trigger in _FIXED_TRIGGERS:
        return default
    # SCH-25 filler status (IG SCH[Appointment]: SCH-25 -> status), else the first AIS-10
    # (IG AIS[Appointment]: AIS-10 -> status), else the trigger's state.
    code = _filler_code(sch, 25)
    if code is None:
        code = next(
            (
                r.filler_status
                for r in resources
                if r.kind is ResourceKind.SERVICE and r.filler_status
            ),
            None,
        )
    if code is None:
        return default
    return _FILLER_STATUS.get(code.lower(), default)


# The machine's events from proposed to each state (rule 2 of the module). A booking comes
# first wherever the message gives a time; cancelled and entered-in-error are reachable
# without one (a cancellation that does not repeat the time).
_PATHS: Final[dict[AppointmentStatus, tuple[type[DomainEvent], ...]]] = {
    _A.PENDING: (AppointmentPended,),
    _A.WAITLIST: (AppointmentWaitlisted,),
    _A.BOOKED: (AppointmentBooked,),
    _A.CHECKED_IN: (AppointmentBooked, PatientCheckedIn),
    _A.FULFILLED: (AppointmentBooked, PatientCheckedIn, AppointmentFulfilled),
    _A.CANCELLED: (AppointmentBooked, AppointmentCancelled),
    _A.NOSHOW: (AppointmentBooked, PatientNoShow),
    _A.ENTERED_IN_ERROR: (AppointmentBooked, AppointmentEnteredInError),
}


_NEEDS_TIME: Final = frozenset({_A.BOOKED, _A.CHECKED_IN, _A.FULFILLED, _A.NOSHOW})


def _events(
    state: AppointmentStatus,
    key: str,
    control_id: str,
    at: DateTime,
    interval: Interval | None,
    reason: CodeableConcept | None,
) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    for cls in _PATHS[state]:
        if cls is AppointmentBooked and interval is None:
            continue
        event_id = stable_id(key, control_id, cls.event_type)
        if cls is AppointmentCancelled:
            events.append(
                AppointmentCancelled(
                    event_id=event_id, occurred_at=at, recorded_at=at, reason=reason
                )
            )
        else:
            events.append(cls(event_id=event_id, occurred_at=at, recorded_at=at))
    return events


def _message_type(msh: Segment) -> str:
    kind = msh.value(9, 1, 1).strip()
    trigger = msh.value(9, 1, 2).strip()
    if kind != "SIU" or trigger not in _TRIGGER_STATE:
        raise _at(msh, "a message type SIU^S12/S13/S14/S15/S17/S26", 9)
    return trigger


def read_siu(message: Message, *, profile: SenderProfile) -> SchedulingMessage:
    """Read an SIU message into the appointment and the values around it.

    The appointment's state is the trigger's (S12, S13 and S14 booked, S15 cancelled, S17
    entered-in-error, S26 noshow), refined for S12-S14 by SCH-25 (else the first AIS-10)
    through the IG's "Table 0278 to Appointment Status": Pending, Waitlist, Booked, Started
    (checked-in), Complete (fulfilled), Cancelled, Deleted (entered-in-error), Noshow.
    The state is reached by applying the appointment machine's events at MSH-7 (see the
    module's rule 2). The time is SCH-11 (TQ-4 start, TQ-5 end, else SCH-9/10 or TQ-3
    duration), else TQ1-7/8 (or TQ1-6), else the span of the timed resources.

    Args:
        message: The parsed message (`parse`).
        profile: The sender's timezone (for times without an offset) and identifier
            systems (for assigning authorities).

    Returns:
        The message value.

    Raises:
        Hl7ParseError: Not an SIU of those triggers; no MSH-7 time or MSH-10 control id;
            no SCH, or an SCH without SCH-1 and SCH-2; a PID without PID-3; a booked,
            checked-in, fulfilled or no-show appointment without a time; a no-show sent
            before the appointment's start; or a field of the wrong form. Positions only,
            never content.
    """
    segments = list(message)
    msh = segments[0]
    trigger = _message_type(msh)
    sent = read_ts(msh.item(7), timezone=profile.timezone)
    if sent is None or not isinstance(sent.value, DateTime):
        raise _at(msh, "the message date/time, to the hour or finer", 7)
    sent_at = sent.value
    control_id = msh.value(10).strip()
    if not control_id:
        raise _at(msh, "a message control id", 10)

    sch: Segment | None = None
    tq1: Segment | None = None
    pid: Segment | None = None
    resource_segments: list[Segment] = []
    for segment in segments:
        sid = segment.id
        if sid == "SCH" and sch is None:
            sch = segment
        elif sid == "TQ1" and tq1 is None:
            tq1 = segment
        elif sid == "PID" and pid is None:
            pid = segment
        elif sid in _SEGMENT_KIND:
            resource_segments.append(segment)
    if sch is None:
        raise Hl7ParseError("an SCH segment after the MSH", segment_id="SCH")

    # IG SCH[Appointment]: SCH-1 -> identifier[1] (placer), SCH-2 -> identifier[2] (filler).
    placer_item, filler_item = sch.item(1), sch.item(2)
    placer_id = profile.resolve(read_ei(placer_item), placer_item.component(2))
    filler_id = profile.resolve(read_ei(filler_item), filler_item.component(2))
    key_id = filler_id or placer_id
    if key_id is None:
        raise _at(sch, "a placer (SCH-1) or filler (SCH-2) appointment id", 1)
    appointment_id = _id_parts("Appointment", key_id)

    patient = read_patient(pid, profile=profile) if pid is not None else None

    seen: dict[str, DateTime] = {}
    sch11 = _tq_interval(sch, profile.timezone, seen)
    start = sch11[0]
    if start is None and tq1 is not None:
        start = _instant(tq1, 7, profile.timezone, seen=seen)
    practitioners: dict[str, Practitioner] = {}
    resources = [
        _read_resource(s, profile, start, practitioners, appointment_id, seen)
        for s in resource_segments
    ]
    interval = _interval(sch, tq1, resources, profile.timezone, seen, sch11)
    state = _state(trigger, sch, resources)
    if interval is None and state in _NEEDS_TIME:
        # FHIR invariant app-3, the appointment machine's "has-start-and-end" guard.
        raise _at(sch, "the appointment time (SCH-11, TQ1-7 or a resource start)", 11, 4)
    if state is _A.NOSHOW and interval is not None and epoch_us(sent_at) < interval.start_us:
        raise _at(msh, "a no-show sent at or after the appointment start", 7)

    # caredomain: the service type is the first AIS-3 (IG AIS[Appointment]: serviceType);
    # SCH-7 is a reason (IG SCH[Appointment]: reasonCode, table 0276).
    service = next((r.code for r in resources if r.kind is ResourceKind.SERVICE and r.code), None)
    reason = read_cwe(sch.item(7), default_system=hl7_v2_table(276))
    cancellation = None
    if state is _A.CANCELLED:
        # SCH-6, the event reason, says why an appointment was cancelled.
        cancellation = read_cwe(sch.item(6))

    participants: list[Participant] = []
    added: set[tuple[str, str | None]] = set()
    if patient is not None:
        participants.append(Participant(Reference.to("Patient", patient.id)))
    for resource in resources:
        p = resource.participant
        if p is not None and (p.actor.target, p.actor.id) not in added:
            added.add((p.actor.target, p.actor.id))
            participants.append(p)

    appointment = Appointment(
        appointment_id,
        participants,
        service_type=service,
        reasons=(reason,) if reason is not None else (),
        interval=interval,
    )
    for event in _events(state, appointment_id, control_id, sent_at, interval, cancellation):
        appointment = APPOINTMENT_MACHINE.apply(appointment, event).value
    return SchedulingMessage(
        trigger,
        control_id,
        sent_at,
        appointment,
        placer_id,
        filler_id,
        patient,
        resources,
        tuple(practitioners.values()),
    )


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------


_UNIT_NAMES: Final = {"min": "minutes", "s": "seconds"}
_Concept = Callable[[CodeableConcept], str]


def _version(text: str) -> tuple[int, ...]:
    try:
        parts = tuple(int(p) for p in text.split("."))
    except ValueError:
        parts = ()
    if len(parts) < 2 or parts[0] != 2:
        raise ValidationError.at("build_siu(version)", "expected an HL7 version such as 2.5.1")
    return parts


def _amount_parts(duration: _dt.timedelta) -> tuple[str, str]:
    """A duration as (NM, UCUM unit): whole minutes in min, else seconds in s."""
    micros = duration // _dt.timedelta(microseconds=1)
    if micros % _MINUTE_US == 0:
        return str(micros // _MINUTE_US), "min"
    return write_nm(Decimal(micros) / _SECOND_US), "s"


def _units(unit: str) -> str:
    # Duration units as a CE/CNE in UCUM (HL7 v2.5.1 chapter 10, AIS-8 and the like).
    return components(unit, _UNIT_NAMES[unit], "UCUM")


def _resource_fields(
    resource: ScheduledResource, number: int, concept: _Concept
) -> tuple[str, list[str | None]]:
    kind = resource.kind
    start = write_ts(resource.start) if resource.start is not None else None
    amount = units = None
    if resource.duration is not None:
        amount, unit = _amount_parts(resource.duration)
        units = _units(unit)
    status = None
    if resource.filler_status is not None:
        status = escape(resource.filler_status)
    code = concept(resource.code) if resource.code is not None else None
    if kind is ResourceKind.SERVICE:
        return "AIS", [str(number), None, code, start, None, None, amount, units, None, status]
    if kind is ResourceKind.GENERAL:
        ident = None
        if resource.identifier is not None:
            i = resource.identifier
            ident = components(escape(i.value), None, escape(i.system) if i.system else None)
        return "AIG", [
            str(number),
            None,
            ident,
            code,
            None,
            None,
            None,
            start,
            None,
            None,
            amount,
            units,
            None,
            status,
        ]
    if kind is ResourceKind.LOCATION:
        place = write_pl(resource.location) if resource.location is not None else None
        return "AIL", [
            str(number),
            None,
            place,
            code,
            None,
            start,
            None,
            None,
            amount,
            units,
            None,
            status,
        ]
    person = None
    if resource.identifier is not None or resource.name is not None:
        person = write_xcn(Hl7Person(resource.identifier, resource.name))
    return "AIP", [
        str(number),
        None,
        person,
        code,
        None,
        start,
        None,
        None,
        amount,
        units,
        None,
        status,
    ]


def _derived_resources(
    appointment: Appointment, practitioners: Sequence[Practitioner]
) -> list[ScheduledResource]:
    """AIS/AIG/AIL/AIP for an appointment built without explicit resources.

    The service type becomes one AIS over the whole interval; each Device, Location and
    Practitioner participant one AIG, AIL or AIP over the same interval, written from its
    reference's identifier (a Location's as the point of care, PL-1), with a name from
    ``practitioners`` when one has the reference's id.
    """
    interval = appointment.interval
    start = interval.start if interval is not None else None
    duration = interval.duration if interval is not None else None
    names = {p.id: p.names[0] for p in practitioners if p.names}
    out: list[ScheduledResource] = []
    if appointment.service_type is not None:
        out.append(
            ScheduledResource(
                ResourceKind.SERVICE, appointment.service_type, start=start, duration=duration
            )
        )
    for number, p in enumerate(appointment.participants):
        actor = p.actor
        if actor.target == "Patient":
            continue
        kind = {
            "Device": ResourceKind.GENERAL,
            "Location": ResourceKind.LOCATION,
            "Practitioner": ResourceKind.PERSONNEL,
        }.get(actor.target)
        if kind is None or actor.identifier is None:
            raise ValidationError.at(
                f"Appointment.participants[{number}]",
                "expected a Device, Location or Practitioner reference with an identifier",
            )
        status = _PARTICIPATION_CODE.get(p.status)
        if kind is ResourceKind.LOCATION:
            place = Hl7Location(point_of_care=actor.identifier.value)
            out.append(
                ScheduledResource(
                    kind,
                    location=place,
                    start=start,
                    duration=duration,
                    filler_status=status,
                    participant=p,
                )
            )
        else:
            name = names.get(actor.id or "") if kind is ResourceKind.PERSONNEL else None
            out.append(
                ScheduledResource(
                    kind,
                    p.role,
                    actor.identifier,
                    name=name,
                    start=start,
                    duration=duration,
                    filler_status=status,
                    participant=p,
                )
            )
    return out


def build_siu(
    appointment: Appointment,
    trigger: str,
    *,
    patient: Patient | None,
    control_id: str,
    now: _dt.datetime,
    version: str = DEFAULT_VERSION,
    sender: str = "CAREDOMAIN",
    receiver: str = "",
    placer_id: Identifier | None = None,
    filler_id: Identifier | None = None,
    resources: Sequence[ScheduledResource] | None = None,
    practitioners: Sequence[Practitioner] = (),
) -> str:
    """Write an appointment as an SIU message (ER7, CR-terminated segments).

    Segments: MSH; SCH (SCH-1/2 ids, SCH-6 the cancellation reason, SCH-7 the first
    reason, SCH-25 the state as a table 0278 code; before v2.7 also SCH-9/10 and SCH-11
    with TQ-4 start and TQ-5 end); TQ1 from v2.5 (TQ1-7 start, TQ1-8 end, TQ1-6 duration);
    PID from ``patient``; RGS; then AIS, AIG, AIL and AIP segments from ``resources``, or,
    without them, from the appointment: one AIS for the service type, one AIG, AIL or AIP
    per Device, Location or Practitioner participant (written from its reference's
    identifier; a Location's as PL-1), all over the appointment's interval. Coded fields are CE
    before v2.6, CWE from v2.6 (HL7 v2.6 changed SCH-6/7/25 and AIS-3 to CWE).

    `read_siu` of the result gives back the appointment (with the trail the message
    implies), the patient, the ids and the resources, for values the fields can carry:
    times to the second, one reason, identifiers by their system and value.

    Args:
        appointment: The appointment; its state must have a table 0278 code (not proposed
            or arrived) and fit the trigger (S15 cancelled, S17 entered-in-error, S26
            noshow).
        trigger: One of `SIU_TRIGGERS`.
        patient: Written as PID (identifiers, names, birth date, sex); ``None`` for none.
        control_id: MSH-10.
        now: MSH-7, aware.
        version: MSH-12.
        sender: MSH-3, the sending application.
        receiver: MSH-5, the receiving application.
        placer_id: SCH-1.
        filler_id: SCH-2.
        resources: The AIS/AIG/AIL/AIP to write, as `read_siu` returns them.
        practitioners: Names for AIP-3 when resources are derived from the appointment.

    Raises:
        ValidationError: An unknown trigger or version, a state the trigger or table 0278
            cannot carry, no placer and no filler id, a patient without identifiers, a
            participant that cannot be written, or a naive ``now``.
    """
    if trigger not in _TRIGGER_STATE:
        raise ValidationError.at("build_siu(trigger)", "expected one of " + ", ".join(SIU_TRIGGERS))
    state = appointment.state
    code = _STATUS_CODE.get(state)
    if code is None or (trigger in _FIXED_TRIGGERS and state is not _TRIGGER_STATE[trigger]):
        raise ValidationError.at(
            "Appointment.state",
            f"expected a state an SIU^{trigger} with a table 0278 code can carry",
        )
    if placer_id is None and filler_id is None:
        raise ValidationError.at("build_siu", "expected a placer_id or a filler_id (SCH-1/SCH-2)")
    parts = _version(version)
    concept: _Concept = write_cwe if parts >= (2, 6) else write_ce
    interval = appointment.interval
    start = end = None
    minutes: str | None = None
    if interval is not None:
        start, end = write_ts(interval.start), write_ts(interval.end)
        amount, unit = _amount_parts(interval.duration)
        minutes = amount if unit == "min" else None

    w = Writer()
    w.msh(
        message_type="SIU",
        trigger=trigger,
        structure="SIU_S12",
        control_id=control_id,
        at=now,
        sending_application=sender,
        receiving_application=receiver,
        version=version,
    )
    legacy = parts < (2, 7)  # SCH-9 and SCH-11 are withdrawn in v2.7
    tq = (
        components(None, None, f"M{minutes}" if minutes else None, start, end)
        if legacy and start
        else None
    )
    reason = appointment.reasons[0] if appointment.reasons else None
    status = components(code, code, "HL70278")
    w.segment(
        "SCH",
        write_ei(placer_id) if placer_id else None,
        write_ei(filler_id) if filler_id else None,
        None,
        None,
        None,
        concept(appointment.cancellation_reason) if appointment.cancellation_reason else None,
        concept(reason) if reason is not None else None,
        None,
        minutes if legacy else None,
        _units("min") if legacy and minutes else None,
        tq,
        *([None] * 13),
        status,
    )
    if parts >= (2, 5) and start is not None:
        quantity = write_cq(Quantity(Decimal(minutes), "min")) if minutes else None
        w.segment("TQ1", "1", None, None, None, None, quantity, start, end)
    if patient is not None:
        w.segment("PID", *write_pid(patient))
    w.segment("RGS", "1")
    chosen = (
        list(resources) if resources is not None else _derived_resources(appointment, practitioners)
    )
    chosen.sort(key=lambda r: _KIND_ORDER[r.kind])
    counters: dict[ResourceKind, int] = {}
    for resource in chosen:
        counters[resource.kind] = number = counters.get(resource.kind, 0) + 1
        segment_id, fields = _resource_fields(resource, number, concept)
        w.segment(segment_id, *fields)
    return w.text()
