"""Hypothesis strategies for SIU scheduling messages: domain values and their ER7 text.

* `scheduling_messages` draws the `SchedulingMessage` an SIU message can carry: an
  appointment in a state its trigger allows, with the trail the reader records (the
  appointment machine's events at the message time), the patient, placer and filler ids,
  and AIS/AIG/AIL/AIP resources with their participants.
* `siu_messages` draws ``(ER7 text, SchedulingMessage)`` pairs: the text is what
  ``build_siu`` writes for the value, and ``read_siu(parse(text), profile=SenderProfile())``
  gives the value back.

The values stay within what the fields carry: times to the second (offsets in whole
minutes, years 2000-2090), at most one reason, coded values with one or two codings (no
text before v2.6, where the fields are CE), identifiers as system and value. The ids follow
the reader's rules, written out here independently: ``stable_id(kind, system or "", value)``
for appointments (filler id, else placer id), patients (first PID-3), practitioners (AIP-3)
and devices (AIG-3), and ``stable_id("Location", facility, building, floor, point of care,
room, bed)`` for locations.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

import pendulum
from hypothesis import strategies as st
from pendulum import DateTime

from caredomain.adapters.hl7v2.datatypes import Hl7Location
from caredomain.adapters.hl7v2.siu import (
    SIU_TRIGGERS,
    ResourceKind,
    ScheduledResource,
    SchedulingMessage,
    build_siu,
)
from caredomain.core.codes import CPT, LOINC, CodeableConcept, Coding, hl7_v2_table
from caredomain.core.events import DomainEvent
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.parties import AdministrativeGender, HumanName, Patient, Practitioner
from caredomain.core.time import Interval
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

__all__ = ["SIU_VERSIONS", "scheduling_messages", "siu_messages"]

SIU_VERSIONS: tuple[str, ...] = ("2.3", "2.4", "2.5.1", "2.6", "2.7", "2.8")
"""HL7 versions `siu_messages` writes: SCH-11 only (2.3, 2.4), SCH-11 and TQ1 (2.5.1, 2.6),
TQ1 only (2.7, 2.8); CE fields before 2.6, CWE from 2.6."""

_A = AppointmentStatus
_ZONES = ("UTC", "America/Chicago", "America/New_York", "Asia/Kathmandu", "America/St_Johns")
_ID_ALPHABET = "ABCDEFGHJKMNPQRTUVWXY0123456789-"
# Letters (some non-ASCII), spaces and the HL7 delimiters, which the writer must escape.
_NAME_ALPHABET = "AaBbÉéÑñØøŁłZz'-. ^&~|\\"
_STATES = {
    "S12": (_A.BOOKED, _A.PENDING, _A.WAITLIST, _A.CHECKED_IN, _A.FULFILLED),
    "S13": (_A.BOOKED,),
    "S14": (_A.BOOKED, _A.CHECKED_IN, _A.FULFILLED, _A.CANCELLED, _A.NOSHOW),
    "S15": (_A.CANCELLED,),
    "S17": (_A.ENTERED_IN_ERROR,),
    "S26": (_A.NOSHOW,),
}
# The reader's event path to each state (HL7 v2 chapter 10 trigger -> FHIR status).
_PATHS: dict[AppointmentStatus, tuple[type[DomainEvent], ...]] = {
    _A.PENDING: (AppointmentPended,),
    _A.WAITLIST: (AppointmentWaitlisted,),
    _A.BOOKED: (AppointmentBooked,),
    _A.CHECKED_IN: (AppointmentBooked, PatientCheckedIn),
    _A.FULFILLED: (AppointmentBooked, PatientCheckedIn, AppointmentFulfilled),
    _A.CANCELLED: (AppointmentBooked, AppointmentCancelled),
    _A.NOSHOW: (AppointmentBooked, PatientNoShow),
    _A.ENTERED_IN_ERROR: (AppointmentBooked, AppointmentEnteredInError),
}
# Table 0278 codes a resource may carry, and the participant status the reader gives them.
_RESOURCE_STATUS = {
    None: ParticipationStatus.ACCEPTED,
    "Booked": ParticipationStatus.ACCEPTED,
    "Pending": ParticipationStatus.NEEDS_ACTION,
    "Waitlist": ParticipationStatus.TENTATIVE,
    "Cancelled": ParticipationStatus.DECLINED,
}


def _words(max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(_NAME_ALPHABET, min_size=1, max_size=max_size).filter(
        lambda s: s == s.strip() and s != '""'
    )


def _ids() -> st.SearchStrategy[str]:
    return st.text(_ID_ALPHABET, min_size=1, max_size=12).filter(lambda s: s.strip("-") == s)


def _instants(low: int = 2000, high: int = 2090) -> st.SearchStrategy[DateTime]:
    @st.composite
    def build(draw: st.DrawFn) -> DateTime:
        naive = draw(st.datetimes(_dt.datetime(low, 1, 2), _dt.datetime(high, 12, 30))).replace(
            microsecond=0
        )
        zone = draw(st.sampled_from(_ZONES))
        return pendulum.instance(naive.replace(tzinfo=_dt.UTC)).in_tz(zone)

    return build()


def _durations() -> st.SearchStrategy[_dt.timedelta]:
    return st.one_of(
        st.integers(0, 480).map(lambda m: _dt.timedelta(minutes=m)),
        st.integers(1, 7200).map(lambda s: _dt.timedelta(seconds=s)),
    )


def _concepts(
    *, cwe: bool, systems: Sequence[str] = (CPT, LOINC, "LOCAL")
) -> st.SearchStrategy[CodeableConcept]:
    codings = st.builds(
        Coding,
        system=st.sampled_from(tuple(systems)),
        code=st.text("ABCDEFGHJKMNPQRTUVWXYZ0123456789-.", min_size=1, max_size=8),
        display=st.none() | _words(),
    )
    return st.builds(
        CodeableConcept,
        codings=st.lists(codings, min_size=1, max_size=2).map(tuple),
        text=(st.none() | _words()) if cwe else st.none(),
    )


def _identifiers(*, systems: Sequence[str | None], typed: bool) -> st.SearchStrategy[Identifier]:
    return st.builds(
        Identifier,
        value=_ids(),
        system=st.sampled_from(tuple(systems)),
        type=(
            st.none()
            | st.sampled_from(("MR", "PRN", "NPI")).map(
                lambda c: CodeableConcept((Coding(hl7_v2_table(203), c),))
            )
        )
        if typed
        else st.none(),
    )


def _names() -> st.SearchStrategy[HumanName]:
    return st.builds(
        HumanName,
        family=_words(),
        given=st.lists(_words(), max_size=2).map(tuple),
        prefix=st.lists(st.sampled_from(("Dr", "Ms")), max_size=1).map(tuple),
        suffix=st.lists(st.sampled_from(("Jr", "MD")), max_size=2).map(tuple),
        use=st.none() | st.sampled_from(("official", "usual", "maiden", "nickname")),
    )


@st.composite
def _patients(draw: st.DrawFn) -> Patient:
    identifiers = draw(
        st.lists(
            _identifiers(systems=(None, "LMH", "urn:oid:2.16.840.1.113883.3.999.1"), typed=True),
            min_size=1,
            max_size=3,
        )
    )
    first = identifiers[0]
    return Patient(
        stable_id("Patient", first.system or "", first.value),
        identifiers=identifiers,
        names=draw(st.lists(_names(), max_size=2)),
        birth_date=draw(st.none() | st.dates(_dt.date(1900, 1, 1), _dt.date(2026, 12, 31))),
        sex=draw(st.none() | st.sampled_from(AdministrativeGender)),
    )


def _locations() -> st.SearchStrategy[Hl7Location]:
    part = st.none() | st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=6)
    return st.builds(
        Hl7Location,
        point_of_care=part,
        room=part,
        bed=part,
        facility=part,
        floor=part,
        building=part,
        location_type=st.none() | st.sampled_from(("C", "D", "O")),
    ).filter(
        lambda loc: any(
            (loc.point_of_care, loc.room, loc.bed, loc.facility, loc.floor, loc.building)
        )
    )


def _location_reference(location: Hl7Location) -> Reference:
    path = location.path
    return Reference(
        "Location",
        id=location.id,
        identifier=Identifier(next(p for p in reversed(path) if p)),
    )


@st.composite
def _resources(draw: st.DrawFn, cwe: bool) -> list[ScheduledResource]:
    starts = st.none() | _instants()
    durations = st.none() | _durations()
    out: list[ScheduledResource] = []
    for _ in range(draw(st.integers(0, 2))):
        out.append(
            ScheduledResource(
                ResourceKind.SERVICE,
                draw(_concepts(cwe=cwe)),
                start=draw(starts),
                duration=draw(durations),
                filler_status=draw(st.sampled_from((None, "Booked"))),
            )
        )
    for _ in range(draw(st.integers(0, 1))):
        ident = draw(_identifiers(systems=(None, "LOCAL", LOINC), typed=False))
        code = draw(st.none() | _concepts(cwe=cwe))
        status = draw(st.sampled_from(tuple(_RESOURCE_STATUS)))
        actor = Reference(
            "Device", id=stable_id("Device", ident.system or "", ident.value), identifier=ident
        )
        out.append(
            ScheduledResource(
                ResourceKind.GENERAL,
                code,
                ident,
                start=draw(starts),
                duration=draw(durations),
                filler_status=status,
                participant=Participant(actor, status=_RESOURCE_STATUS[status], role=code),
            )
        )
    for _ in range(draw(st.integers(0, 2))):
        place = draw(_locations())
        status = draw(st.sampled_from(tuple(_RESOURCE_STATUS)))
        out.append(
            ScheduledResource(
                ResourceKind.LOCATION,
                draw(st.none() | _concepts(cwe=cwe, systems=(hl7_v2_table(305),))),
                location=place,
                start=draw(starts),
                duration=draw(durations),
                filler_status=status,
                participant=Participant(
                    _location_reference(place), status=_RESOURCE_STATUS[status]
                ),
            )
        )
    for _ in range(draw(st.integers(0, 2))):
        ident = draw(
            _identifiers(systems=(None, "LMH", "http://hl7.org/fhir/sid/us-npi"), typed=True)
        )
        name = draw(st.none() | _names())
        code = draw(st.none() | _concepts(cwe=cwe, systems=(hl7_v2_table(182), "LOCAL")))
        status = draw(st.sampled_from(tuple(_RESOURCE_STATUS)))
        actor = Reference(
            "Practitioner",
            id=stable_id("Practitioner", ident.system or "", ident.value),
            identifier=ident,
        )
        out.append(
            ScheduledResource(
                ResourceKind.PERSONNEL,
                code,
                ident,
                name=name,
                start=draw(starts),
                duration=draw(durations),
                filler_status=status,
                participant=Participant(actor, status=_RESOURCE_STATUS[status], role=code),
            )
        )
    return out


def _with_state(
    appointment: Appointment,
    state: AppointmentStatus,
    control_id: str,
    at: DateTime,
    reason: CodeableConcept | None,
) -> Appointment:
    for cls in _PATHS[state]:
        event_id = stable_id(appointment.id, control_id, cls.event_type)
        event: DomainEvent
        if cls is AppointmentCancelled:
            event = AppointmentCancelled(
                event_id=event_id, occurred_at=at, recorded_at=at, reason=reason
            )
        else:
            event = cls(event_id=event_id, occurred_at=at, recorded_at=at)
        appointment = APPOINTMENT_MACHINE.apply(appointment, event).value
    return appointment


@st.composite
def _scheduling_message(draw: st.DrawFn, version: str) -> SchedulingMessage:
    cwe = version not in ("2.3", "2.4", "2.5.1")
    trigger = draw(st.sampled_from(SIU_TRIGGERS))
    state = draw(st.sampled_from(_STATES[trigger]))
    start = draw(_instants())
    length = draw(_durations())
    interval = Interval(start, (start + length).in_tz(draw(st.sampled_from(_ZONES))))
    sent_at = draw(_instants())
    if state is _A.NOSHOW:
        sent_at = (start + draw(st.integers(0, 86_400)) * _dt.timedelta(seconds=1)).in_tz("UTC")
    systems = (None, "LMH_SCHED", "urn:oid:2.16.840.1.113883.3.999.2")
    placer = draw(st.none() | _identifiers(systems=systems, typed=False))
    filler = (
        draw(_identifiers(systems=systems, typed=False))
        if placer is None
        else draw(st.none() | _identifiers(systems=systems, typed=False))
    )
    key = filler or placer
    assert key is not None
    appointment_id = stable_id("Appointment", key.system or "", key.value)
    patient = draw(st.none() | _patients())
    resources = draw(_resources(cwe))
    resources.sort(key=lambda r: list(ResourceKind).index(r.kind))
    participants: list[Participant] = []
    if patient is not None:
        participants.append(Participant(Reference.to("Patient", patient.id)))
    seen: set[str | None] = set()
    practitioners: dict[str, Practitioner] = {}
    for r in resources:
        p = r.participant
        if p is not None and p.actor.id not in seen:
            seen.add(p.actor.id)
            participants.append(p)
        if r.kind is ResourceKind.PERSONNEL and r.identifier is not None and p is not None:
            pid = p.actor.id or ""
            practitioners.setdefault(
                pid,
                Practitioner(pid, identifiers=(r.identifier,), names=(r.name,) if r.name else ()),
            )
    service = next((r.code for r in resources if r.kind is ResourceKind.SERVICE), None)
    reason = draw(st.none() | _concepts(cwe=cwe, systems=(hl7_v2_table(276), "LOCAL")))
    cancellation = draw(st.none() | _concepts(cwe=cwe)) if state is _A.CANCELLED else None
    control_id = draw(_ids())
    appointment = Appointment(
        appointment_id,
        participants,
        service_type=service,
        reasons=(reason,) if reason else (),
        interval=interval,
    )
    appointment = _with_state(appointment, state, control_id, sent_at, cancellation)
    return SchedulingMessage(
        trigger,
        control_id,
        sent_at,
        appointment,
        placer,
        filler,
        patient,
        resources,
        tuple(practitioners.values()),
    )


def scheduling_messages(
    versions: Sequence[str] = SIU_VERSIONS,
) -> st.SearchStrategy[SchedulingMessage]:
    """`SchedulingMessage` values an SIU message of one of ``versions`` can carry.

    ``versions`` matters for coded values: CE (before 2.6) carries no concept text.
    """
    return st.sampled_from(tuple(versions)).flatmap(_scheduling_message)


def _text(message: SchedulingMessage, version: str) -> str:
    return build_siu(
        message.appointment,
        message.trigger,
        patient=message.patient,
        control_id=message.control_id,
        now=message.sent_at,
        version=version,
        placer_id=message.placer_id,
        filler_id=message.filler_id,
        resources=message.resources,
    )


def siu_messages(
    versions: Sequence[str] = SIU_VERSIONS,
) -> st.SearchStrategy[tuple[str, SchedulingMessage]]:
    """``(ER7 text, SchedulingMessage)`` pairs: valid SIU messages and what they say.

    Read the text with ``read_siu(parse(text), profile=SenderProfile())``: the result equals
    the value.
    """

    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, SchedulingMessage]:
        version = draw(st.sampled_from(tuple(versions)))
        message = draw(_scheduling_message(version))
        return _text(message, version), message

    return build()
