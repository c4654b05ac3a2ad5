import json

import attrs
import pendulum
import pytest

from caredomain.adapters.fhir import validate
from caredomain.adapters.fhir.careplans import (
    CANONICAL_BASE,
    RESOURCE_KINDS,
    activity_definitions,
    care_plan_to_fhir,
    template_to_plan_definition,
)
from caredomain.careplans import ActivityKind, Bound, GoalAchievement, Target
from caredomain.careplans.templates import instantiate, load_template, template_names
from caredomain.core import (
    FHIR_GOAL_ACHIEVEMENT,
    LOINC,
    UCUM,
    Identifier,
    Patient,
    Quantity,
    Reference,
    SequentialIds,
)

CHICAGO = "America/Chicago"
PATIENT = Patient("pat-hf-001", timezone=CHICAGO)
START = pendulum.datetime(2026, 11, 25, 15, 30, tz=CHICAGO)


def _plan(name, overrides=None):
    plan, _ = instantiate(load_template(name), PATIENT, START, overrides, SequentialIds(name))
    return plan


@pytest.mark.parametrize("name", template_names())
def test_every_exported_resource_is_valid_fhir_r4(name):
    template = load_template(name)
    resources = [template_to_plan_definition(template), *activity_definitions(template)]
    plan = _plan(name)
    resources += care_plan_to_fhir(plan) + care_plan_to_fhir(plan, goals_as_resources=False)
    for resource in resources:
        validate(resource, "R4")
        assert json.loads(json.dumps(resource)) == resource  # plain JSON, no Decimal


def test_plan_definition_names_its_sources_goals_and_activity_definitions():
    template = load_template("type-2-diabetes")
    plan_definition = template_to_plan_definition(template)
    assert plan_definition["id"] == "type-2-diabetes"
    assert plan_definition["url"] == f"{CANONICAL_BASE}/PlanDefinition/type-2-diabetes"
    assert plan_definition["version"] == "1.0.0"
    assert plan_definition["name"] == "Type2Diabetes"
    assert plan_definition["type"]["coding"][0]["code"] == "clinical-protocol"
    labels = [a["label"] for a in plan_definition["relatedArtifact"]]
    assert labels == [s.id for s in template.sources]
    (goal,) = plan_definition["goal"]
    assert goal["id"] == "a1c"
    assert goal["addresses"][0]["coding"][0]["code"] == "E11.9"
    assert goal["documentation"][0]["citation"].startswith("American Diabetes Association")
    (target,) = goal["target"]
    assert target["measure"]["coding"][0] == {
        "system": LOINC,
        "code": "4548-4",
        "display": "hemoglobin A1c",
    }
    assert target["detailQuantity"] == {
        "value": 7,
        "unit": "%",
        "system": UCUM,
        "code": "%",
        "comparator": "<",
    }
    definitions = {d["url"]: d for d in activity_definitions(template)}
    for action in plan_definition["action"]:
        url, _, version = action["definitionCanonical"].partition("|")
        assert version == "1.0.0"
        assert definitions[url]["id"] == f"type-2-diabetes-{action['id']}"
    a1c_action = next(a for a in plan_definition["action"] if a["id"] == "a1c-test")
    assert a1c_action["goalId"] == ["a1c"]
    assert a1c_action["timingTiming"] == {
        "repeat": {"frequency": 1, "period": 3, "periodUnit": "mo"}
    }
    lab = definitions[f"{CANONICAL_BASE}/ActivityDefinition/type-2-diabetes-a1c-test"]
    assert lab["kind"] == "ServiceRequest"
    education = definitions[f"{CANONICAL_BASE}/ActivityDefinition/type-2-diabetes-education"]
    assert education["kind"] == "CommunicationRequest"
    assert education["timingTiming"]["code"]["text"] == "within 30 days after the start"


def test_plan_definition_publishes_the_current_parameter_values():
    older_adult = load_template("type-2-diabetes").with_overrides({"a1c_goal": "8 %"})
    (goal,) = template_to_plan_definition(older_adult)["goal"]
    assert goal["target"][0]["detailQuantity"]["value"] == 8


def test_business_day_windows_are_text_and_day_windows_are_durations():
    definitions = activity_definitions(load_template("transitional-care"))
    contact, visit = (d["timingTiming"] for d in definitions)
    assert contact == {
        "code": {"text": "within 2 business days after the start"},
        "repeat": {"count": 1},
    }
    assert visit["repeat"]["boundsDuration"] == {
        "value": 14,
        "unit": "d",
        "system": UCUM,
        "code": "d",
    }
    assert definitions[1]["code"]["coding"][0]["code"] == "99495"
    assert {d["kind"] for d in definitions} == {"Appointment"}


def test_care_plan_mirrors_apply_with_goal_resources():
    plan = _plan("heart-failure")
    care_plan, goal = care_plan_to_fhir(plan)
    assert care_plan["instantiatesCanonical"] == [
        f"{CANONICAL_BASE}/PlanDefinition/heart-failure|1.0.0"
    ]
    assert (care_plan["status"], care_plan["intent"]) == ("active", "plan")
    assert care_plan["subject"] == {"reference": "Patient/pat-hf-001"}
    assert care_plan["period"] == {
        "start": "2026-11-25T15:30:00-06:00",
        "end": "2027-11-25T15:30:00-06:00",
    }
    assert care_plan["goal"] == [{"reference": f"Goal/{goal['id']}"}]
    condition = care_plan["contained"][0]
    assert condition["resourceType"] == "Condition"
    assert condition["code"]["coding"][0]["code"] == "I50.9"
    assert care_plan["addresses"] == [{"reference": "#condition-1"}]
    weight, pressure = (a["detail"] for a in care_plan["activity"])
    assert weight["kind"] == "ServiceRequest"
    assert weight["code"]["coding"][0]["code"] == "29463-7"
    assert weight["status"] == "not-started"
    assert weight["scheduledTiming"]["repeat"] == {
        "boundsPeriod": care_plan["period"],
        "frequency": 1,
        "period": 1,
        "periodUnit": "d",
    }
    assert pressure["goal"] == [{"reference": f"Goal/{goal['id']}"}]
    assert goal["lifecycleStatus"] == "active"
    assert goal["subject"] == care_plan["subject"]
    assert goal["startDate"] == "2026-11-25"
    systolic, diastolic = goal["target"]
    assert systolic["measure"]["coding"][0]["code"] == "8480-6"
    assert diastolic["detailQuantity"]["comparator"] == "<"
    assert goal["note"][0]["text"].startswith("Source: Whelton PK")


def test_contained_goals_are_referenced_locally():
    plan = _plan("heart-failure")
    (care_plan,) = care_plan_to_fhir(plan, goals_as_resources=False)
    contained = {r["id"]: r["resourceType"] for r in care_plan["contained"]}
    assert contained[plan.goals[0].id] == "Goal"
    assert care_plan["goal"] == [{"reference": f"#{plan.goals[0].id}"}]
    assert care_plan["activity"][1]["detail"]["goal"] == care_plan["goal"]


def test_once_within_activities_are_bounded_by_the_plan():
    plan = _plan("transitional-care", {"lace": 12})
    care_plan, *_ = care_plan_to_fhir(plan)
    contact, visit = (a["detail"] for a in care_plan["activity"])
    assert contact["scheduledTiming"] == {
        "repeat": {
            "count": 1,
            "boundsPeriod": {
                "start": "2026-11-25T15:30:00-06:00",
                "end": "2026-12-01T00:00:00-06:00",
            },
        }
    }
    assert visit["code"]["coding"][0]["code"] == "99496"
    assert visit["scheduledTiming"]["repeat"]["boundsPeriod"]["end"] == "2026-12-03T00:00:00-06:00"
    assert "goal" not in care_plan


def test_goal_achievement_due_date_ranges_and_evidence():
    plan = _plan("type-2-diabetes")
    weight_range = Target("29463-7", low=Bound(Quantity(70, "kg")), high=Bound(Quantity(80, "kg")))
    goal = attrs.evolve(
        plan.goals[0],
        achievement=GoalAchievement.IMPROVING,
        due=pendulum.date(2027, 5, 25),
        targets=(*plan.goals[0].targets, weight_range),
    )
    activity = attrs.evolve(plan.activities[1], evidence=[Reference.to("Observation", "a1c-1")])
    team = (Reference.to("CareTeam", "team-1"), Reference.to("Practitioner", "dr-1"))
    plan = attrs.evolve(
        plan,
        goals=[goal],
        activities=[plan.activities[0], activity],
        care_team=team,
        patient=Reference("Patient", id="pat-hf-001", identifier=Identifier("MRN-1", "urn:x")),
    )
    resources = care_plan_to_fhir(plan)
    for resource in resources:
        validate(resource, "R4")
    care_plan, exported = resources
    assert exported["achievementStatus"] == {
        "coding": [{"system": FHIR_GOAL_ACHIEVEMENT, "code": "improving"}]
    }
    a1c, weight = exported["target"]
    assert a1c["dueDate"] == "2027-05-25"
    assert weight["detailRange"] == {
        "low": {"value": 70, "unit": "kg", "system": UCUM, "code": "kg"},
        "high": {"value": 80, "unit": "kg", "system": UCUM, "code": "kg"},
    }
    assert care_plan["activity"][1]["outcomeReference"] == [{"reference": "Observation/a1c-1"}]
    assert care_plan["careTeam"] == [{"reference": "CareTeam/team-1"}]
    assert care_plan["contributor"] == [{"reference": "Practitioner/dr-1"}]
    assert care_plan["subject"]["identifier"] == {"system": "urn:x", "value": "MRN-1"}


def test_every_activity_kind_maps_to_a_request_resource():
    assert set(RESOURCE_KINDS) == set(ActivityKind)
    assert RESOURCE_KINDS[ActivityKind.EQUIPMENT_DELIVERY] == "DeviceRequest"
    walker = activity_definitions(load_template("hip-replacement"))[0]
    assert walker["kind"] == "DeviceRequest"
    assert walker["code"]["coding"][0]["code"] == "E0143"


def test_a_base_url_of_your_own():
    template = load_template("hypertension")
    base = "https://fhir.example.org/r4"
    plan_definition = template_to_plan_definition(template, base_url=base)
    assert plan_definition["url"] == f"{base}/PlanDefinition/hypertension"
    assert plan_definition["action"][0]["definitionCanonical"].startswith(
        f"{base}/ActivityDefinition/hypertension-"
    )
    care_plan, _ = care_plan_to_fhir(_plan("hypertension"), base_url=base)
    assert care_plan["instantiatesCanonical"] == [f"{base}/PlanDefinition/hypertension|1.0.0"]
