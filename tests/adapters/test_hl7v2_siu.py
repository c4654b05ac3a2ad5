import datetime as _dt
from pathlib import Path

import pendulum
import pytest
from hypothesis import HealthCheck, assume, given, settings

from caredomain.adapters.hl7v2 import Hl7ParseError, parse
from caredomain.adapters.hl7v2.datatypes import Hl7Location
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.adapters.hl7v2.siu import (
    ResourceKind,
    ScheduledResource,
    SchedulingMessage,
    build_siu,
    read_siu,
)
from caredomain.core.codes import CPT, CodeableConcept, Coding, hl7_v2_table
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.parties import AdministrativeGender, HumanName
from caredomain.core.time import Interval
from caredomain.scheduling.appointments import (
    AppointmentStatus,
    Participant,
    ParticipationStatus,
)
from caredomain.testing._hl7v2_siu import scheduling_messages, siu_messages
from tests import phi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "hl7v2"
CHICAGO = SenderProfile("America/Chicago")
A = AppointmentStatus


def at(text: str) -> pendulum.DateTime:
    return pendulum.parse(text)  # type: ignore[return-value]


def read(name: str, profile: SenderProfile = CHICAGO) -> SchedulingMessage:
    return read_siu(parse((EXAMPLES / name).read_bytes()), profile=profile)


def trail(message: SchedulingMessage) -> list[tuple[str, str, str]]:
    return [(e.event_type, e.from_state, e.to_state) for e in message.appointment.trail]


def concept(system: str, code: str) -> CodeableConcept:
    return CodeableConcept((Coding(system, code),))


LMH_APT = Identifier("LMH-FILL-40021", "LMH_SCHED")
LINDQVIST = Identifier("D20877", "LMH", concept(hl7_v2_table(203), "PRN"))
LINDQVIST_ID = stable_id("Practitioner", "LMH", "D20877")


# --- scenario tests on the corpus ----------------------------------------------------------


def test_s12_new_booking():
    m = read("siu-s12-new-booking.hl7")
    a = m.appointment
    assert (m.trigger, m.control_id) == ("S12", "SCH-0088120")
    assert m.sent_at == at("2026-11-30T10:15:22-06:00")
    assert m.placer_id == Identifier("LMH-APT-40021", "LMH_SCHED")
    assert m.filler_id == LMH_APT
    assert a.id == stable_id("Appointment", "LMH_SCHED", "LMH-FILL-40021")
    assert a.state is A.BOOKED
    assert a.interval == Interval(at("2026-12-03T09:00:00-06:00"), at("2026-12-03T09:30:00-06:00"))
    assert a.service_type == concept(CPT, "99496")
    assert a.reasons == (concept(hl7_v2_table(276), "FOLLOWUP"),)
    assert a.cancellation_reason is None
    assert trail(m) == [("AppointmentBooked", "proposed", "booked")]
    entry = a.trail.entries[0]
    assert entry.event_id == stable_id(a.id, "SCH-0088120", "AppointmentBooked")
    assert entry.occurred_at == m.sent_at == entry.recorded_at

    patient = m.patient
    assert patient is not None
    assert patient.id == stable_id("Patient", "LMH", "LMH00482913")
    assert patient.identifiers == (
        Identifier("LMH00482913", "LMH", concept(hl7_v2_table(203), "MR")),
    )
    assert patient.names == (HumanName("Okonkwo-Brandt", ("Delphine", "R"), use="official"),)
    assert patient.birth_date == pendulum.date(1958, 3, 14)
    assert patient.sex is AdministrativeGender.FEMALE

    # AIL-3 is PL: the description "Lakeshore Cardiology Clinic" is PL-9, which Hl7Location
    # does not keep (it is text for people, not part of the location's identity).
    lcc = Hl7Location(point_of_care="LCC", room="EX3", facility="LMH")
    nurse = Identifier("HFRN01", "LOCAL")
    start = at("2026-12-03T09:00:00-06:00")
    half_hour = _dt.timedelta(minutes=30)
    device = Participant(
        Reference("Device", id=stable_id("Device", "LOCAL", "HFRN01"), identifier=nurse),
        role=concept("LOCAL", "NURSE"),
    )
    location = Participant(
        Reference(
            "Location",
            id=stable_id("Location", "LMH", "", "", "LCC", "EX3", ""),
            identifier=Identifier("EX3"),
        )
    )
    doctor = Participant(
        Reference("Practitioner", id=LINDQVIST_ID, identifier=LINDQVIST),
        role=concept("LOCAL", "PROV"),
    )
    assert m.resources == (
        ScheduledResource(
            ResourceKind.SERVICE,
            concept(CPT, "99496"),
            start=start,
            duration=half_hour,
            filler_status="Booked",
        ),
        ScheduledResource(
            ResourceKind.GENERAL,
            concept("LOCAL", "NURSE"),
            nurse,
            start=start,
            duration=half_hour,
            participant=device,
        ),
        ScheduledResource(
            ResourceKind.LOCATION,
            concept(hl7_v2_table(305), "CLINIC"),
            location=lcc,
            start=start,
            duration=half_hour,
            participant=location,
        ),
        ScheduledResource(
            ResourceKind.PERSONNEL,
            concept("LOCAL", "PROV"),
            LINDQVIST,
            name=HumanName("Lindqvist", ("Arne",), ("Dr",), ("MD",), "official"),
            start=start,
            duration=half_hour,
            filler_status="Booked",
            participant=doctor,
        ),
    )
    assert a.participants == (
        Participant(Reference.to("Patient", patient.id)),
        device,
        location,
        doctor,
    )
    assert [p.id for p in m.practitioners] == [LINDQVIST_ID]
    assert m.practitioners[0].names[0].family == "Lindqvist"


def test_s12_legacy_tq_v23():
    m = read("siu-s12-legacy-tq.hl7")
    a = m.appointment
    assert a.state is A.BOOKED
    assert a.interval == Interval(at("2026-12-14T10:30:00-06:00"), at("2026-12-14T10:50:00-06:00"))
    assert m.placer_id == Identifier("NSC-APT-7702")
    assert a.id == stable_id("Appointment", "", "NSC-FILL-7702")
    assert a.reasons == (concept(hl7_v2_table(276), "ROUTINE"),)
    assert [r.kind for r in m.resources] == [ResourceKind.SERVICE, ResourceKind.PERSONNEL]
    assert m.resources[1].code == concept(hl7_v2_table(182), "PROV")  # AIP-4 without a system
    assert m.resources[0].duration == _dt.timedelta(minutes=20)  # units "min"


def test_s13_reschedule_reads_sch11_and_location():
    m = read("siu-s13-reschedule.hl7")
    assert m.trigger == "S13"
    assert m.appointment.state is A.BOOKED
    assert m.appointment.interval == Interval(
        at("2026-12-08T14:00:00-06:00"), at("2026-12-08T14:30:00-06:00")
    )
    assert m.appointment.participants[1].actor == Reference(
        "Location",
        id=stable_id("Location", "LMH", "", "", "LCC", "EX1", ""),
        identifier=Identifier("EX1"),
    )
    assert m.resources[0].duration == _dt.timedelta(minutes=30)  # ANS+ units "min"


def test_s14_modification_tq1_and_bom():
    m = read("siu-s14-modification.hl7")
    a = m.appointment
    assert a.state is A.BOOKED
    assert a.interval == Interval(at("2026-12-03T09:00:00-06:00"), at("2026-12-03T09:45:00-06:00"))
    assert a.id == stable_id("Appointment", "LMH_SCHED", "LMH-FILL-40021")  # same as the S12
    pharmacist = m.resources[1]
    assert pharmacist.start == at("2026-12-03T09:30:00-06:00")
    assert pharmacist.duration == _dt.timedelta(minutes=15)


def test_s15_cancel():
    m = read("siu-s15-cancel.hl7")
    a = m.appointment
    assert a.state is A.CANCELLED
    assert a.cancellation_reason == concept("LOCAL", "CLINCANC")
    assert a.interval == Interval(at("2026-12-07T13:00:00-06:00"), at("2026-12-07T13:40:00-06:00"))
    assert trail(m) == [
        ("AppointmentBooked", "proposed", "booked"),
        ("AppointmentCancelled", "booked", "cancelled"),
    ]
    assert a.trail.entries[1].reason == "CLINCANC"
    assert m.resources[0].filler_status == "Cancelled"
    assert m.resources[1].identifier == Identifier("D50219", "LMH")


def test_s17_deletion():
    m = read("siu-s17-deletion.hl7")
    assert m.appointment.state is A.ENTERED_IN_ERROR
    assert trail(m)[-1] == ("AppointmentEnteredInError", "booked", "entered-in-error")
    assert m.appointment.interval == Interval(
        at("2026-12-10T11:00:00-06:00"), at("2026-12-10T11:30:00-06:00")
    )
    assert m.appointment.cancellation_reason is None


def test_s26_no_show_crlf():
    m = read("siu-s26-no-show.hl7")
    a = m.appointment
    assert a.state is A.NOSHOW
    assert a.cancellation_reason is None
    assert trail(m) == [
        ("AppointmentBooked", "proposed", "booked"),
        ("PatientNoShow", "booked", "noshow"),
    ]
    # a no-show is not the practitioner declining: table 0278 Noshow -> accepted
    assert a.participants[1].status is ParticipationStatus.ACCEPTED
    assert a.id == read("siu-s12-legacy-tq.hl7").appointment.id


def test_reading_is_deterministic():
    assert read("siu-s12-new-booking.hl7") == read("siu-s12-new-booking.hl7")


# --- SCH-25 and the filler status map ----------------------------------------------------

BASE = (
    "MSH|^~\\&|S|F|R|F|20261201080000-0600||SIU^{trigger}|C1|P|2.5.1\r"
    "SCH|P1|F1||||EVT^Event^LOCAL|||||^^^20261201090000-0600^20261201093000-0600"
    "||||||||||||||{status}\r"
    "RGS|1\r"
)


@pytest.mark.parametrize(
    ("trigger", "status", "state"),
    [
        ("S12", "", A.BOOKED),
        ("S12", "Pending", A.PENDING),
        ("S12", "WAITLIST", A.WAITLIST),
        ("S14", "Started", A.CHECKED_IN),
        ("S14", "Complete", A.FULFILLED),
        ("S14", "Cancelled^Cancelled^HL70278", A.CANCELLED),
        ("S14", "Deleted", A.ENTERED_IN_ERROR),
        ("S14", "Overbook", A.BOOKED),
        ("S14", "Blocked", A.BOOKED),  # unmapped in the IG: the trigger's state
        ("S15", "Booked", A.CANCELLED),  # S15, S17, S26 name the state themselves
        ("S17", "", A.ENTERED_IN_ERROR),
    ],
)
def test_filler_status_refines_the_trigger(trigger, status, state):
    text = BASE.format(trigger=trigger, status=status)
    m = read_siu(parse(text), profile=CHICAGO)
    assert m.appointment.state is state
    assert m.patient is None
    assert m.appointment.participants == ()


def test_ais_start_offset_and_span():
    text = (
        "MSH|^~\\&|S|F|R|F|20261201080000-0600||SIU^S12|C1|P|2.5.1\r"
        "SCH||F1||||EVT^E^LOCAL\r"
        "RGS|1\r"
        "AIS|1||A^a^LOCAL|20261201090000|||20|min\r"
        "AIP|1||D1^Doe|||20261201092000|||1|h\r"
    )
    m = read_siu(parse(text), profile=CHICAGO)
    # no SCH-11 or TQ1: the span of the timed resources, times in the sender's zone
    assert m.appointment.interval == Interval(
        at("2026-12-01T09:00:00-06:00"), at("2026-12-01T10:20:00-06:00")
    )
    practitioner = m.practitioners[0]
    assert practitioner.identifiers == (Identifier("D1"),)


def test_profile_system_for_assigning_authority():
    profile = SenderProfile("America/Chicago", {"LMH": "urn:oid:1.2.3", "LMH_SCHED": "urn:oid:9"})
    m = read("siu-s12-new-booking.hl7", profile)
    assert m.filler_id == Identifier("LMH-FILL-40021", "urn:oid:9")
    assert m.appointment.id == stable_id("Appointment", "urn:oid:9", "LMH-FILL-40021")
    assert m.patient is not None
    assert m.patient.identifiers[0].system == "urn:oid:1.2.3"


# --- errors: positioned, never content ---------------------------------------------------

PHI_SIU = (
    "MSH|^~\\&|S|F|R|F|20261201080000-0600||SIU^S12|C1|P|2.5.1\r"
    "SCH|{placer}|{filler}||||EVT^E^LOCAL|||||{tq}\r"
    f"PID|1||{{mrn}}||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}||19610719|F\r"
    "RGS|1\r"
)


def phi_message(
    placer: str = "P1",
    filler: str = "F1",
    tq: str = "^^^20261201090000-0600^20261201093000-0600",
    mrn: str = phi.PATIENT_MRN + "^^^N^MR",
) -> str:
    return PHI_SIU.format(placer=placer, filler=filler, tq=tq, mrn=mrn)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        (phi_message(placer="", filler=""), (2, "SCH", 1, None)),
        (phi_message(tq=f"^^^{phi.PATIENT_BIRTH_DATE}"), (2, "SCH", 11, 4)),
        (phi_message(tq=""), (2, "SCH", 11, 4)),
        (phi_message(tq="^^^20261201090000-0600"), (2, "SCH", 11, 5)),
        (phi_message(tq="^^^20261201090000-0600^20261201080000-0600"), (2, "SCH", 11, None)),
        (phi_message(mrn=""), (3, "PID", 3, None)),
        (phi_message().replace("SIU^S12", "ADT^A01"), (1, "MSH", 9, None)),
        (phi_message().replace("SIU^S12", "SIU^S26"), (1, "MSH", 7, None)),
    ],
)
def test_errors_are_positioned_and_free_of_phi(text, position):
    with pytest.raises(Hl7ParseError) as caught:
        read_siu(parse(text), profile=CHICAGO)
    error = caught.value
    assert (error.segment_index, error.segment_id, error.field, error.component) == position
    phi.assert_no_phi(str(error))
    phi.assert_no_phi(repr(error))


def test_no_sch_segment():
    with pytest.raises(Hl7ParseError) as caught:
        read_siu(
            parse("MSH|^~\\&|S|F|R|F|20261201080000-0600||SIU^S12|C1|P|2.5.1\r"), profile=CHICAGO
        )
    assert caught.value.segment_id == "SCH"


def test_time_without_offset_needs_a_profile_timezone():
    with pytest.raises(Hl7ParseError) as caught:
        read_siu(parse(phi_message(tq="^^^202612010900^202612010930")), profile=SenderProfile())
    assert (caught.value.field, caught.value.component) == (11, 4)


def test_repr_keeps_the_patient_out():
    m = read_siu(parse(phi_message()), profile=CHICAGO)
    phi.assert_no_phi(repr(m))


# --- building --------------------------------------------------------------------------------


def test_build_from_a_read_message_writes_both_timings_in_251():
    m = read("siu-s15-cancel.hl7")
    text = build_siu(
        m.appointment,
        "S15",
        patient=m.patient,
        control_id="OUT1",
        now=pendulum.datetime(2026, 12, 1, 8, tz="America/Chicago"),
        placer_id=m.placer_id,
        filler_id=m.filler_id,
        resources=m.resources,
    )
    segments = text.split("\r")
    assert text.endswith("\r")
    assert [s[:3] for s in segments[:-1]] == ["MSH", "SCH", "TQ1", "PID", "RGS", "AIS", "AIP"]
    assert segments[0].startswith(
        "MSH|^~\\&|CAREDOMAIN||||20261201080000-0600||SIU^S15^SIU_S12|OUT1|P|2.5.1"
    )
    sch = parse(text)
    assert sch["SCH-6.1"] == "CLINCANC"
    assert sch["SCH-11.4"] == "20261207130000-0600"
    assert sch["SCH-25.1"] == "Cancelled"
    assert sch["TQ1-7"] == "20261207130000-0600"
    assert sch["TQ1-8"] == "20261207134000-0600"


def test_build_v27_has_no_sch11():
    m = read("siu-s17-deletion.hl7")
    text = build_siu(
        m.appointment,
        "S17",
        patient=m.patient,
        control_id=m.control_id,
        now=m.sent_at,
        version="2.7",
        filler_id=m.filler_id,
        resources=m.resources,
    )
    msg = parse(text)
    assert msg["SCH-11"] == ""
    assert msg["SCH-9"] == ""
    assert msg["TQ1-7"] == "20261210110000-0600"
    assert read_siu(msg, profile=CHICAGO).appointment == m.appointment


def test_build_refuses_what_sch25_cannot_say():
    m = read("siu-s12-new-booking.hl7")
    kwargs = {"patient": m.patient, "control_id": "X", "now": m.sent_at, "filler_id": m.filler_id}
    with pytest.raises(ValidationError):
        build_siu(m.appointment, "S15", **kwargs)  # booked is not a cancellation
    with pytest.raises(ValidationError):
        build_siu(m.appointment, "S99", **kwargs)
    with pytest.raises(ValidationError):
        build_siu(m.appointment, "S12", patient=m.patient, control_id="X", now=m.sent_at)
    with pytest.raises(ValidationError):
        build_siu(m.appointment, "S12", version="3.0", **kwargs)


def test_build_derives_resources_from_participants():
    m = read("siu-s13-reschedule.hl7")
    text = build_siu(
        m.appointment,
        "S13",
        patient=m.patient,
        control_id=m.control_id,
        now=m.sent_at,
        filler_id=m.filler_id,
        practitioners=m.practitioners,
    )
    back = read_siu(parse(text), profile=CHICAGO)
    # the location is written from its identifier as PL-1: its id is re-derived
    assert back.appointment.participants[0] == m.appointment.participants[0]
    assert back.appointment.participants[2] == m.appointment.participants[2]
    assert back.appointment.participants[1].actor.id == stable_id(
        "Location", "", "", "", "EX1", "", ""
    )
    assert back.appointment.interval == m.appointment.interval
    assert back.practitioners == m.practitioners


# --- properties --------------------------------------------------------------------------


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(siu_messages())
def test_read_of_built_message_gives_the_value_back(pair):
    text, message = pair
    assert read_siu(parse(text), profile=SenderProfile()) == message


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(scheduling_messages(versions=("2.5.1",)))
def test_appointment_round_trips_without_explicit_resources(message):
    assume(all(r.kind is not ResourceKind.LOCATION for r in message.resources))
    text = build_siu(
        message.appointment,
        message.trigger,
        patient=message.patient,
        control_id=message.control_id,
        now=message.sent_at,
        placer_id=message.placer_id,
        filler_id=message.filler_id,
        practitioners=message.practitioners,
    )
    back = read_siu(parse(text), profile=SenderProfile())
    assert back.appointment == message.appointment
    assert back.patient == message.patient
    assert (back.placer_id, back.filler_id) == (message.placer_id, message.filler_id)


def test_a_discontinued_resource_declines_table_0278_spells_it_dc():
    text = (EXAMPLES / "siu-s12-new-booking.hl7").read_bytes().decode()
    head, _, tail = text.rpartition("Booked^Booked^HL70278")  # AIP-12, the last segment
    message = read_siu(parse(head + "Dc^Discontinued^HL70278" + tail), profile=CHICAGO)
    statuses = [r.participant.status for r in message.resources if r.kind is ResourceKind.PERSONNEL]
    assert statuses == [ParticipationStatus.DECLINED]
