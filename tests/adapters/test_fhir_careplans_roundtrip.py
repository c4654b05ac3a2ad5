import copy
import datetime as _dt
import json
from decimal import Decimal

import attrs
import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.adapters.fhir import validate
from caredomain.adapters.fhir.careplans import (
    ACTIVITY_KIND,
    R4_ACTIVITY_DETAIL,
    TARGET_PANEL,
    care_plan_from_fhir,
    care_plan_to_fhir,
    goal_from_fhir,
    goal_to_fhir,
)
from caredomain.adapters.fhir.observations import (
    OBSERVATION_SOURCE,
    observation_from_fhir,
    observation_to_fhir,
)
from caredomain.adapters.fhir.resources import from_fhir, to_fhir
from caredomain.careplans import ActivityKind, Bound, Target
from caredomain.careplans.model import (
    Activity,
    CarePlan,
    Component,
    Goal,
    Observation,
    ObservationSource,
    Timing,
)
from caredomain.careplans.templates import instantiate, load_template, template_names
from caredomain.core import Patient, Quantity, Reference, SequentialIds, ValidationError
from caredomain.core.codes import CodeableConcept
from caredomain.core.results import ObservationResult
from caredomain.core.time import Interval
from caredomain.testing import strategies as cst
from tests import phi

VERSIONS = ["R4", "R5"]
CHICAGO = "America/Chicago"
PANEL = "85354-9"

# --- what a round trip carries ----------------------------------------------------------------


def _carried_target(target):
    if target.low is not None and target.high is not None:  # a Range is inclusive in FHIR
        return attrs.evolve(target, low=Bound(target.low.value), high=Bound(target.high.value))
    return target


def carried_goal(goal):
    return attrs.evolve(goal, targets=tuple(_carried_target(t) for t in goal.targets))


def carried(plan):
    """The plan as read back: ranges inclusive, CareTeam references first (careTeam, then
    contributor)."""
    teams = [r for r in plan.care_team if r.target == "CareTeam"]
    others = [r for r in plan.care_team if r.target != "CareTeam"]
    return attrs.evolve(
        plan, goals=tuple(carried_goal(g) for g in plan.goals), care_team=(*teams, *others)
    )


def _json(resource):
    return json.loads(json.dumps(resource), parse_float=Decimal)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("goals_as_resources", [True, False])
def test_care_plan_round_trip(version, goals_as_resources):
    @given(cst.care_plans())
    def check(plan):
        care_plan, *goal_resources = care_plan_to_fhir(plan, goals_as_resources, version=version)
        back = care_plan_from_fhir(_json(care_plan), [_json(g) for g in goal_resources], version)
        assert back == carried(plan)

    check()


@pytest.mark.parametrize("version", VERSIONS)
def test_the_registry_round_trips_plans_goals_and_observations(version):
    @given(cst.care_plans(), cst.goals(), cst.care_plan_observations())
    def check(plan, goal, observation):
        assert from_fhir(to_fhir(plan, version), version) == carried(plan)
        assert from_fhir(to_fhir(goal, version), version) == carried_goal(goal)
        resource = to_fhir(observation, version)
        assert from_fhir(resource, version, cls=Observation) == observation
        assert isinstance(from_fhir(resource, version), ObservationResult)  # still the default

    check()


@pytest.mark.parametrize("version", VERSIONS)
def test_everything_written_is_valid_fhir(version):
    @settings(max_examples=25, deadline=None)
    @given(cst.care_plans(), st.booleans(), cst.care_plan_observations())
    def check(plan, goals_as_resources, observation):
        for resource in care_plan_to_fhir(plan, goals_as_resources, version=version):
            validate(resource, version)
        if plan.goals:
            validate(goal_to_fhir(plan.goals[0], plan.patient, version), version)
        model = validate(observation_to_fhir(observation, version), version)
        assert observation_from_fhir(model.model_dump(mode="json")) == observation

    check()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", template_names())
def test_every_template_plan_round_trips(name, version):
    patient = Patient("pat-hf-001", timezone=CHICAGO)
    start = pendulum.datetime(2026, 11, 25, 15, 30, tz=CHICAGO)
    plan, _ = instantiate(load_template(name), patient, start, None, SequentialIds(name))
    resources = care_plan_to_fhir(plan, version=version)
    for resource in resources:
        validate(resource, version)
    care_plan, *goal_resources = resources
    assert care_plan_from_fhir(care_plan, goal_resources, version) == carried(plan)


def test_a_window_across_a_dst_change_is_elapsed_time():
    start = pendulum.datetime(2026, 3, 5, 9, 0, tz=CHICAGO)  # DST starts 2026-03-08
    plan = CarePlan(
        "plan-1",
        Reference.to("Patient", "pat-1"),
        "after discharge",
        period=Interval(start, start.add(days=30)),
        activities=[
            Activity(
                "visit",
                ActivityKind.APPOINTMENT,
                None,
                Timing.once(_dt.timedelta(days=7)),
            )
        ],
    )
    (care_plan,) = care_plan_to_fhir(plan, False)
    bounds = care_plan["activity"][0]["detail"]["scheduledTiming"]["repeat"]["boundsPeriod"]
    assert bounds["end"].endswith("-05:00")
    assert care_plan_from_fhir(care_plan) == plan


# --- shapes ---------------------------------------------------------------------------------


def test_kinds_panels_and_r5_details_are_carried_in_extensions():
    target = Target(PANEL, "8480-6", high=Bound(Quantity(130, "mm[Hg]"), inclusive=False))
    goal = Goal("bp", "blood pressure under 130", [target])
    plan = CarePlan(
        "plan-1",
        Reference.to("Patient", "pat-1"),
        "hypertension",
        goals=[goal],
        activities=[Activity("lab", ActivityKind.LAB, None, Timing(1, 3, "mo"), description="A1C")],
    )
    care_plan, exported = care_plan_to_fhir(plan)
    activity = care_plan["activity"][0]
    assert activity["id"] == "lab"
    assert activity["extension"] == [{"url": ACTIVITY_KIND, "valueCode": "lab"}]
    assert activity["detail"]["kind"] == "ServiceRequest"
    assert exported["target"][0]["extension"] == [
        {"url": TARGET_PANEL, "valueCoding": {"system": "http://loinc.org", "code": PANEL}}
    ]
    (r5,) = care_plan_to_fhir(plan, False, version="R5")
    entry = r5["activity"][0]
    assert "detail" not in entry
    detail = entry["extension"][1]
    assert detail["url"] == R4_ACTIVITY_DETAIL
    assert [p["url"] for p in detail["extension"]] == ["kind", "status", "scheduled", "description"]
    assert care_plan_from_fhir(r5, (), "R5") == plan


def test_r5_addresses_are_concepts_and_r4_addresses_contained_conditions():
    plan = CarePlan(
        "plan-1",
        Reference.to("Patient", "pat-1"),
        "heart failure",
        addresses=[CodeableConcept.of("http://hl7.org/fhir/sid/icd-10-cm", "I50.9")],
    )
    (r5,) = care_plan_to_fhir(plan, version="R5")
    (r4,) = care_plan_to_fhir(plan)
    assert r5["addresses"] == [
        {"concept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I50.9"}]}}
    ]
    assert r4["addresses"] == [{"reference": "#condition-1"}]
    assert care_plan_from_fhir(r5, (), "R5") == plan == care_plan_from_fhir(r4)


def test_a_foreign_activity_takes_its_kind_from_the_request_resource():
    plan = CarePlan(
        "plan-1",
        Reference.to("Patient", "pat-1"),
        "follow-up",
        activities=[
            Activity(
                "a",
                ActivityKind.MEASUREMENT,
                CodeableConcept.of("http://loinc.org", "29463-7"),
                Timing(),
            ),
            Activity("b", ActivityKind.REFERRAL, None, Timing()),
            Activity("c", ActivityKind.EDUCATION, None, Timing()),
        ],
    )
    (care_plan,) = care_plan_to_fhir(plan)
    for activity in care_plan["activity"]:
        del activity["extension"], activity["id"]
    back = care_plan_from_fhir(care_plan)
    assert [a.kind for a in back.activities] == [
        ActivityKind.MEASUREMENT,
        ActivityKind.REFERRAL,
        ActivityKind.EDUCATION,
    ]
    assert [a.id for a in back.activities] == ["activity-1", "activity-2", "activity-3"]


def test_observation_writer_matches_the_reader():
    observation = Observation(
        "bp-1",
        "pat-1",
        PANEL,
        pendulum.datetime(2026, 12, 4, 7, 0, tz=CHICAGO),
        components=[
            Component("8480-6", Quantity(132, "mm[Hg]")),
            Component("8462-4", Quantity(82, "mm[Hg]")),
        ],
        source=ObservationSource.PATIENT_REPORTED,
    )
    resource = observation_to_fhir(observation)
    assert resource["effectiveDateTime"] == "2026-12-04T07:00:00-06:00"
    assert resource["performer"] == [{"reference": "Patient/pat-1"}]
    assert resource["extension"] == [{"url": OBSERVATION_SOURCE, "valueCode": "patient-reported"}]
    assert [c["code"]["coding"][0]["code"] for c in resource["component"]] == ["8480-6", "8462-4"]
    assert observation_from_fhir(resource) == observation
    # Without caredomain's extension the source is inferred as before (the performer).
    del resource["extension"]
    assert observation_from_fhir(resource).source is ObservationSource.PATIENT_REPORTED


# --- errors ---------------------------------------------------------------------------------


def test_care_plan_problems_are_located_without_patient_data():
    start = pendulum.datetime(2026, 11, 25, 15, 30, tz=CHICAGO)
    plan, _ = instantiate(
        load_template("heart-failure"), Patient("p-1"), start, None, SequentialIds("hf")
    )
    care_plan, goal = copy.deepcopy(care_plan_to_fhir(plan))
    care_plan["title"] = phi.PATIENT_FAMILY
    care_plan["subject"] = {"reference": f"Patient/{phi.PATIENT_GIVEN} {phi.PATIENT_MRN}"}
    care_plan["activity"][0]["detail"]["status"] = phi.PATIENT_PHONE
    care_plan["period"]["start"] = phi.PATIENT_BIRTH_DATE
    goal["target"][0]["detailQuantity"]["code"] = phi.PATIENT_MRN
    goal["startDate"] = phi.PATIENT_BIRTH_DATE + "T00:00"
    with pytest.raises(ValidationError) as info:
        care_plan_from_fhir(care_plan, [goal])
    assert [p.path for p in info.value.problems] == [
        "CarePlan.period.start",
        "CarePlan.subject.reference",
        "Goal[0].startDate",
        "Goal[0].target[0].detailQuantity",
        "CarePlan.activity[0].detail.status",
    ]
    phi.assert_no_phi(str(info.value))


def test_goal_problems_are_located():
    goal = goal_to_fhir(
        Goal("g", "weight", [Target("29463-7", high=Bound(Quantity(80, "kg")))]), None
    )
    assert goal["subject"]["extension"][0]["valueCode"] == "unknown"
    goal["target"][0]["measure"] = {"text": "weight"}
    goal["lifecycleStatus"] = "done"
    with pytest.raises(ValidationError) as info:
        goal_from_fhir(goal)
    assert [p.path for p in info.value.problems] == [
        "Goal.lifecycleStatus",
        "Goal.target[0].measure",
    ]


def test_a_missing_goal_resource_is_located():
    plan = CarePlan(
        "plan-1",
        Reference.to("Patient", "pat-1"),
        "t",
        goals=[Goal("g", "weight", [Target("29463-7", high=Bound(Quantity(80, "kg")))])],
    )
    care_plan, _ = care_plan_to_fhir(plan)
    with pytest.raises(ValidationError) as info:
        care_plan_from_fhir(care_plan)
    assert [p.path for p in info.value.problems] == ["CarePlan.goal[0]"]
