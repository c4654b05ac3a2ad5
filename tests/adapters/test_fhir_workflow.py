import datetime as _dt
import json
from decimal import Decimal

import attrs
import pendulum
import pytest
from hypothesis import given, settings

from caredomain.adapters.fhir import validate
from caredomain.adapters.fhir.resources import MAPPINGS, from_fhir, to_fhir
from caredomain.adapters.fhir.workflow import (
    REFERRAL_STATUS,
    SLOT_CAPACITY,
    VISIT_START,
    referral_from_fhir,
    referral_to_fhir,
)
from caredomain.core import ValidationError
from caredomain.core.codes import CodeableConcept
from caredomain.core.events import AuditTrail
from caredomain.core.identity import Identifier, Reference
from caredomain.core.parties import ContactPoint, ContactPointSystem
from caredomain.core.time import Interval
from caredomain.referrals.directory import (
    FHIR_SERVICE_TYPE,
    CapacityStatus,
    CommunityService,
    Delivery,
    Eligibility,
    OpeningHours,
    ServiceArea,
    sdoh_category,
)
from caredomain.referrals.mappings import FHIR_STATUS
from caredomain.referrals.model import (
    AuthorizationLink,
    DocumentKind,
    Referral,
    ReferralStatus,
    ReferralTarget,
)
from caredomain.scheduling.appointments import (
    Appointment,
    AppointmentStatus,
    Participant,
    ParticipationStatus,
)
from caredomain.scheduling.reminders import PlannedReminder, ReminderKind
from caredomain.scheduling.slots import Schedule, Slot, SlotStatus
from caredomain.testing import strategies as cst
from tests import phi

VERSIONS = ["R4", "R5"]
CHICAGO = "America/Chicago"

STRATEGIES = {
    "schedules": cst.schedules(),
    "slots": cst.slots(resources=("dr-chen", "room-1.a")),
    "appointments": cst.appointments(),
    "planned_reminders": cst.planned_reminders(),
    "community_services": cst.community_services(),
}


def _untrailed(value):
    """The value without its audit trail, which is not FHIR data (module rule 1)."""
    return attrs.evolve(value, trail=AuditTrail()) if hasattr(value, "trail") else value


# --- examples --------------------------------------------------------------------------------


def appointment(**changes):
    fields = {
        "id": "appt-1",
        "participants": [
            Participant(Reference.to("Patient", "pat-1")),
            Participant(
                Reference.to("Practitioner", "dr-chen"),
                required=False,
                status=ParticipationStatus.TENTATIVE,
            ),
        ],
        "state": AppointmentStatus.BOOKED,
        "service_type": CodeableConcept.of(FHIR_SERVICE_TYPE, "124"),
        "reasons": [CodeableConcept.of("http://snomed.info/sct", "38341003")],
        "interval": Interval(
            pendulum.datetime(2026, 11, 30, 9, 0, tz="Asia/Kathmandu"),
            pendulum.datetime(2026, 11, 30, 9, 30, tz="Asia/Kathmandu"),
        ),
        "slots": ["slot-1"],
    }
    fields.update(changes)
    return Appointment(**fields)


def referral(**changes):
    fields = {
        "id": "ref-1",
        "patient": Reference.to("Patient", "pat-1"),
        "requester": Reference.to("Practitioner", "dr-chen"),
        "target": ReferralTarget(
            CodeableConcept.of("http://nucc.org/provider-taxonomy", "207RC0000X"),
            Reference.to("Organization", "heart-clinic"),
            in_network=True,
        ),
        "placer_id": Identifier("PL-1", "urn:oid:2.16.840.1.113883.3.999.2"),
        "filler_id": Identifier("FI-9", "urn:oid:2.16.840.1.113883.3.999.3"),
        "documents_required": {DocumentKind.NOTES, DocumentKind.LABS},
        "documents_sent": {DocumentKind.NOTES},
        "authorization_required": True,
        "authorization": AuthorizationLink("auth-1", "approved"),
        "state": ReferralStatus.SCHEDULED,
        "appointment": "appt-1",
        "visit_at": pendulum.datetime(2026, 12, 2, 8, 30, tz=CHICAGO),
        "services": [
            CodeableConcept.of("http://snomed.info/sct", "306206005"),
            CodeableConcept.of("http://snomed.info/sct", "183519002"),
        ],
        "validity": Interval(
            pendulum.datetime(2026, 11, 25, tz=CHICAGO), pendulum.datetime(2027, 2, 25, tz=CHICAGO)
        ),
    }
    fields.update(changes)
    return Referral(**fields)


def problem_paths(info):
    return [p.path for p in info.value.problems]


# --- round trips and validation ---------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_round_trip_is_identity_except_the_trail(name, version):
    @given(STRATEGIES[name])
    def check(value):
        resource = to_fhir(value, version)
        assert from_fhir(resource, version) == _untrailed(value)
        text = json.dumps(resource)
        assert from_fhir(json.loads(text, parse_float=Decimal), version) == _untrailed(value)

    check()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_written_resource_passes_fhir_resources_validation(name, version):
    @settings(max_examples=25)
    @given(STRATEGIES[name])
    def check(value):
        resource = to_fhir(value, version, validate=True)
        assert from_fhir(validate(resource, version), version) == _untrailed(value)

    check()


@pytest.mark.parametrize("version", VERSIONS)
def test_referral_round_trip_is_identity_except_the_trail(version):
    @given(cst.referrals_in_flight())
    def check(value):
        request, task = referral_to_fhir(value, version)
        assert referral_from_fhir(request, task, version) == _untrailed(value)
        assert to_fhir(value, version) == request

    check()


@pytest.mark.parametrize("version", VERSIONS)
def test_referral_resources_pass_fhir_resources_validation(version):
    @settings(max_examples=25)
    @given(cst.referrals_in_flight())
    def check(value):
        request, task = referral_to_fhir(value, version, validate=True)
        models = validate(request, version), validate(task, version)
        assert referral_from_fhir(*models, version) == _untrailed(value)

    check()


def test_every_workflow_type_is_registered():
    assert {Schedule, Slot, Appointment, Referral, PlannedReminder, CommunityService} <= set(
        MAPPINGS
    )


@given(cst.audit_trails())
def test_the_trail_is_not_carried(trail):
    booked = appointment()
    with_trail = attrs.evolve(booked, trail=trail)
    assert to_fhir(with_trail) == to_fhir(booked)
    assert from_fhir(to_fhir(with_trail)).trail == AuditTrail()


# --- scheduling -------------------------------------------------------------------------------


def test_appointment_r4_and_r5_shapes():
    cancelled = appointment(
        state=AppointmentStatus.CANCELLED,
        cancellation_reason=CodeableConcept.of(
            "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason", "pat"
        ),
    )
    r4, r5 = to_fhir(cancelled, "R4"), to_fhir(cancelled, "R5")
    assert r4["status"] == r5["status"] == "cancelled"
    assert "cancelationReason" in r4
    assert "cancellationReason" not in r4
    assert "cancellationReason" in r5
    assert "cancelationReason" not in r5
    assert r4["serviceType"] == [{"coding": [{"system": FHIR_SERVICE_TYPE, "code": "124"}]}]
    assert r5["serviceType"] == [{"concept": r4["serviceType"][0]}]
    assert r4["reasonCode"] == [r5["reason"][0]["concept"]]
    assert [p["required"] for p in r4["participant"]] == ["required", "optional"]
    assert [p["required"] for p in r5["participant"]] == [True, False]
    assert r5["subject"] == {"reference": "Patient/pat-1"}
    assert "subject" not in r4
    assert r4["slot"] == [{"reference": "Slot/slot-1"}]


def test_appointment_times_keep_their_offset():
    resource = to_fhir(appointment())
    assert resource["start"] == "2026-11-30T09:00:00+05:45"
    assert resource["end"] == "2026-11-30T09:30:00+05:45"
    read = from_fhir(resource)
    assert read.interval.start.utcoffset() == _dt.timedelta(hours=5, minutes=45)


def test_r4_information_only_participant_reads_as_not_required():
    resource = to_fhir(appointment())
    resource["participant"][0]["required"] = "information-only"
    assert from_fhir(resource).participants[0].required is False


def test_appointment_with_a_start_but_no_end_is_refused():
    resource = to_fhir(appointment())
    del resource["end"]
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["Appointment"]
    assert "app-2" in str(info.value)


def test_slot_capacity_and_overbook_are_extensions_only_when_not_the_default():
    interval = Interval(
        pendulum.datetime(2026, 12, 1, 8, tz=CHICAGO), pendulum.datetime(2026, 12, 1, 9, tz=CHICAGO)
    )
    plain = to_fhir(Slot("s1", "dr-chen", interval))
    assert "extension" not in plain
    assert plain["schedule"] == {"reference": "Schedule/dr-chen"}
    group = to_fhir(Slot("s2", "dr-chen", interval, SlotStatus.BUSY, capacity=6, overbook=2), "R5")
    assert group["extension"][0] == {"url": SLOT_CAPACITY, "valuePositiveInt": 6}
    assert from_fhir(group, "R5").capacity == 6


def test_schedule_needs_its_timezone():
    schedule = Schedule("sch-1", Reference.to("Practitioner", "dr-chen"), CHICAGO)
    resource = to_fhir(schedule)
    assert resource["extension"][0]["valueCode"] == CHICAGO
    del resource["extension"]
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["Schedule.extension"]


def test_a_schedule_actor_of_the_wrong_kind_is_located():
    resource = to_fhir(Schedule("sch-1", Reference.to("Location", "room-1"), CHICAGO))
    resource["actor"] = [{"reference": "Patient/pat-1"}]
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["Schedule.actor[0]"]


# --- referrals --------------------------------------------------------------------------------


def test_referral_pair_shape():
    request, task = referral_to_fhir(referral(), "R4")
    assert request["status"] == "active"
    assert request["intent"] == "order"
    assert request["identifier"][0]["value"] == "PL-1"
    assert request["insurance"] == [{"reference": "ClaimResponse/auth-1"}]
    assert request["occurrencePeriod"]["start"] == "2026-11-25T00:00:00-06:00"
    assert request["code"]["coding"][0]["code"] == "306206005"
    assert request["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "183519002"
    assert task["focus"] == {"reference": "ServiceRequest/ref-1"}
    assert task["basedOn"] == [{"reference": "ServiceRequest/ref-1"}]
    assert task["status"] == "in-progress"
    codes = [c["code"] for c in task["businessStatus"]["coding"]]
    assert codes == ["5.1.1", "scheduled"]
    assert task["identifier"][0]["value"] == "FI-9"
    assert task["owner"] == {"reference": "Organization/heart-clinic"}
    inputs = [(i["type"]["coding"][0]["code"], next(iter(i.values()))) for i in task["input"]]
    assert [code for code, _ in inputs] == [
        "document-required",
        "document-required",
        "document-sent",
        "authorization-required",
        "authorization-status",
        "in-network",
    ]
    r5_request, r5_task = referral_to_fhir(referral(decline_reason=CodeableConcept(text="x")), "R5")
    assert r5_request["code"] == {"concept": request["code"]}
    assert r5_task["statusReason"] == {"concept": {"text": "x"}}


@pytest.mark.parametrize("state", list(ReferralStatus))
def test_referral_statuses_come_from_the_mapping_table(state):
    request, task = referral_to_fhir(referral(state=state), "R4")
    expected = FHIR_STATUS[state]
    assert request["status"] == expected.service_request
    assert task["status"] == expected.task
    business = [c for c in task["businessStatus"]["coding"] if c["system"] != REFERRAL_STATUS]
    assert business == (
        [{**attrs.asdict(expected.business, filter=lambda a, v: v is not None)}]
        if expected.business
        else []
    )


@pytest.mark.parametrize(
    ("state", "read_as"),
    [
        (ReferralStatus.AWAITING_AUTHORIZATION, ReferralStatus.ACCEPTED),
        (ReferralStatus.EXPIRED, ReferralStatus.CANCELLED),
        (ReferralStatus.REPORT_RECEIVED, ReferralStatus.REPORT_RECEIVED),
        (ReferralStatus.CLOSED, ReferralStatus.CLOSED),
        (ReferralStatus.DRAFT, ReferralStatus.DRAFT),
    ],
)
def test_a_foreign_task_reads_its_state_through_the_mapping_table(state, read_as):
    request, task = referral_to_fhir(referral(state=state), "R4")
    task["businessStatus"]["coding"] = [
        c for c in task["businessStatus"]["coding"] if c["system"] != REFERRAL_STATUS
    ] or [{"system": "http://example.org/other", "code": "x"}]
    assert referral_from_fhir(request, task, "R4").state is read_as


def test_a_state_that_disagrees_with_the_task_status_is_refused():
    request, task = referral_to_fhir(referral(), "R4")
    task["status"] = "completed"
    with pytest.raises(ValidationError) as info:
        referral_from_fhir(request, task, "R4")
    assert problem_paths(info) == ["Task.status"]


def test_a_task_for_another_service_request_is_refused():
    request, task = referral_to_fhir(referral(), "R5")
    task["focus"] = {"reference": "ServiceRequest/other"}
    with pytest.raises(ValidationError) as info:
        referral_from_fhir(request, task, "R5")
    assert problem_paths(info) == ["Task.focus"]


def test_a_service_request_alone_is_refused_with_a_pointer_to_the_pair_reader():
    with pytest.raises(ValidationError, match="referral_from_fhir"):
        from_fhir(to_fhir(referral()))


def test_v2_style_filler_identifier_on_the_service_request_is_read():
    fill = CodeableConcept.of("http://terminology.hl7.org/CodeSystem/v2-0203", "FILL")
    plac = CodeableConcept.of("http://terminology.hl7.org/CodeSystem/v2-0203", "PLAC")
    value = referral(placer_id=Identifier("PL-1", type=plac), filler_id=None)
    request, task = referral_to_fhir(value, "R4")
    request["identifier"].append(
        {"type": {"coding": [{"system": fill.codings[0].system, "code": "FILL"}]}, "value": "FI-2"}
    )
    read = referral_from_fhir(request, task, "R4")
    assert read.placer_id == value.placer_id
    assert read.filler_id == Identifier("FI-2", type=fill)


def test_referral_errors_are_located_in_either_resource_and_hold_no_patient_data():
    request, task = referral_to_fhir(referral(placer_id=Identifier(phi.PATIENT_MRN)), "R4")
    request["subject"] = {
        "reference": f"Patient/{phi.PATIENT_FAMILY}",
        "display": phi.PATIENT_GIVEN,
        "type": "Group",
    }
    task["output"][1]["valueDateTime"] = phi.PATIENT_BIRTH_DATE
    with pytest.raises(ValidationError) as info:
        referral_from_fhir(request, task, "R4")
    assert problem_paths(info) == ["ServiceRequest.subject.type", "Task.output[1].valueDateTime"]
    phi.assert_no_phi(str(info.value))


# --- reminders --------------------------------------------------------------------------------


def reminder(**changes):
    fields = {
        "id": "rem-1",
        "appointment_id": "appt-1",
        "patient_id": "pat-1",
        "kind": ReminderKind.CONFIRMATION,
        "send_at": pendulum.datetime(2026, 11, 28, 9, 0, tz=CHICAGO),
        "visit_start": pendulum.datetime(2026, 11, 30, 9, 0, tz=CHICAGO),
        "channel": ContactPointSystem.SMS,
    }
    fields.update(changes)
    return PlannedReminder(**fields)


def test_communication_request_extends_what_the_reminder_planner_writes():
    value = reminder()
    written = to_fhir(value, "R4")
    planner = value.to_communication_request()
    assert {k: v for k, v in written.items() if k in planner} == planner
    assert written["payload"] == [{"contentReference": {"reference": "Appointment/appt-1"}}]
    assert written["extension"] == [
        {"url": VISIT_START, "valueDateTime": "2026-11-30T09:00:00-06:00"}
    ]
    r5 = to_fhir(value, "R5")
    assert r5["intent"] == "order"
    assert "intent" not in written


def test_a_reminder_without_channel_carries_its_reason_as_a_note():
    value = reminder(
        channel=None, reason="no usable contact point for any of the rule's channels (sms)"
    )
    written = to_fhir(value)
    assert "medium" not in written
    assert written["note"] == [{"text": value.reason}]
    assert from_fhir(written) == value


def test_a_reminder_send_time_without_offset_is_located():
    written = to_fhir(reminder())
    written["occurrenceDateTime"] = "2026-11-28T09:00:00"
    del written["extension"]
    with pytest.raises(ValidationError) as info:
        from_fhir(written)
    assert problem_paths(info) == [
        "CommunicationRequest.occurrenceDateTime",
        "CommunicationRequest.extension",
    ]


# --- community services -----------------------------------------------------------------------


def service(**changes):
    fields = {
        "id": "rides-to-treatment",
        "name": "Rides to Treatment",
        "organization": Reference.to("Organization", "lakeshore-rides"),
        "categories": ["transportation-insecurity"],
        "service_types": ["230"],
        "eligibility": Eligibility(
            min_age=18, conditions=["C", "D0"], coverage=["medicaid-managed-care"]
        ),
        "area": ServiceArea(counties=["17031"], states=["IL"]),
        "delivery": Delivery.AT_HOME,
        "languages": ["en", "es"],
        "hours": OpeningHours.parse(["Mon-Fri 06:00-19:00", "Sat 08:00-12:00"], CHICAGO),
        "capacity": CapacityStatus.WAITLIST,
        "open_slots": 0,
        "electronic_referral": True,
        "telecom": [ContactPoint(ContactPointSystem.PHONE, "+1-312-555-0100", use="work")],
    }
    fields.update(changes)
    return CommunityService(**fields)


def test_healthcare_service_r4_and_r5_shapes():
    value = service()
    r4, r5 = to_fhir(value, "R4"), to_fhir(value, "R5")
    assert r4["category"] == [
        {
            "coding": [
                {
                    "system": sdoh_category("transportation-insecurity").system,
                    "code": "transportation-insecurity",
                    "display": "Transportation Insecurity",
                }
            ]
        }
    ]
    assert r4["type"][0]["coding"][0]["code"] == "230"
    assert r4["telecom"] == r5["contact"][0]["telecom"]
    assert "telecom" not in r5
    assert r4["availableTime"][0] == {
        "daysOfWeek": ["mon", "tue", "wed", "thu", "fri"],
        "availableStartTime": "06:00:00",
        "availableEndTime": "19:00:00",
    }
    assert r5["availability"] == [{"availableTime": r4["availableTime"]}]
    assert [c["id"] for c in r4["contained"]] == ["area-county-17031", "area-state-IL"]
    assert r4["coverageArea"] == [
        {"reference": "#area-county-17031"},
        {"reference": "#area-state-IL"},
    ]
    assert r4["referralMethod"][0]["coding"][0]["code"] == "elec"
    assert [e["code"]["coding"][0]["code"] for e in r4["eligibility"]] == [
        "age",
        "condition",
        "coverage",
    ]
    assert r4["eligibility"][0]["extension"][0]["valueRange"] == {
        "low": {"value": 18, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}
    }


def test_a_closed_service_keeps_its_zone_and_no_hours():
    value = service(hours=OpeningHours(CHICAGO, ()))
    for version in VERSIONS:
        assert from_fhir(to_fhir(value, version), version) == value
    assert from_fhir(to_fhir(service(hours=None))).hours is None


def test_a_coverage_area_outside_the_resource_is_refused():
    resource = to_fhir(service())
    resource["coverageArea"].append({"reference": "Location/elsewhere"})
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["HealthcareService.coverageArea[2].reference"]


def test_a_service_without_category_is_located():
    resource = to_fhir(service())
    del resource["category"]
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["HealthcareService.category"]


def test_all_day_hours_cannot_be_read():
    resource = to_fhir(service())
    resource["availableTime"][0] = {"daysOfWeek": ["sun"], "allDay": True}
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["HealthcareService.availableTime[0].allDay"]


@given(cst.appointments())
def test_written_appointment_times_keep_the_offset_fhir_can_express(value):
    if value.interval is None:
        return
    start = pendulum.parse(to_fhir(value)["start"])
    offset = value.interval.start.utcoffset()
    if offset % _dt.timedelta(minutes=1) == _dt.timedelta(0):
        assert start.utcoffset() == offset
    assert start == value.interval.start
