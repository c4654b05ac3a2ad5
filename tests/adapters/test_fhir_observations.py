import copy
import json
from decimal import Decimal
from pathlib import Path

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.adapters.fhir import validate
from caredomain.adapters.fhir.observations import observation_from_fhir, observation_from_json
from caredomain.careplans import ObservationSource
from caredomain.core import ParseError, Quantity, UnitError, ValidationError
from tests import phi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VITAL_SIGNS = [
    {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "vital-signs",
            }
        ]
    }
]


def weight(**changes):
    resource = {
        "resourceType": "Observation",
        "id": "wt-1",
        "status": "final",
        "category": copy.deepcopy(VITAL_SIGNS),
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-12-04T07:00:00-06:00",
        "valueQuantity": {
            "value": Decimal("184.0"),
            "unit": "lbs",
            "system": "http://unitsofmeasure.org",
            "code": "[lb_av]",
        },
    }
    resource.update(changes)
    return resource


def pressure(systolic=132, diastolic=82, **changes):
    def component(code, value):
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {
                "value": value,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        }

    resource = weight(
        id="bp-1",
        code={"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        component=[component("8480-6", systolic), component("8462-4", diastolic)],
    )
    del resource["valueQuantity"]
    resource.update(changes)
    return resource


def problems(resource, **kwargs):
    with pytest.raises(ValidationError) as info:
        observation_from_fhir(resource, **kwargs)
    phi.assert_no_phi(str(info.value))
    return {p.path: p.message for p in info.value.problems}


# --- reading -----------------------------------------------------------------------------


def test_a_weight_in_pounds():
    observation = observation_from_fhir(weight())
    assert (observation.id, observation.patient, observation.code) == ("wt-1", "pat-1", "29463-7")
    assert observation.value == Quantity("184.0", "[lb_av]")
    assert observation.effective == pendulum.datetime(2026, 12, 4, 13, tz="UTC")
    assert observation.source is ObservationSource.DEVICE
    assert observation.canonical("29463-7") == Decimal("83.46099608")


def test_a_blood_pressure_panel():
    observation = observation_from_fhir(pressure())
    assert observation.value is None
    assert [(c.code, c.value) for c in observation.components] == [
        ("8480-6", Quantity(132, "mm[Hg]")),
        ("8462-4", Quantity(82, "mm[Hg]")),
    ]


def test_the_example_week_reads_and_validates():
    lines = (EXAMPLES / "hf-observations.ndjson").read_text(encoding="utf-8").splitlines()
    observations = [observation_from_json(line) for line in lines]
    for line in lines:
        validate(json.loads(line), "R4")
    units = {o.value.unit for o in observations if o.value is not None}
    assert units == {"kg", "[lb_av]"}
    assert {o.patient for o in observations} == {"pat-hf-001"}
    days = {o.effective.in_tz("America/Chicago").day for o in observations if o.code == "29463-7"}
    assert days == {30, 1, 3, 4, 5, 6}  # 2 December was missed
    order = [o.effective for o in observations]
    assert order != sorted(order)  # one reading arrives late
    patient = json.loads((EXAMPLES / "hf-patient.json").read_text(encoding="utf-8"))
    validate(patient, "R4")
    assert patient["extension"][0] == {
        "url": "http://hl7.org/fhir/StructureDefinition/timezone",
        "valueCode": "America/Chicago",
    }


def test_lab_results_absolute_references_and_other_sources():
    a1c = weight(
        id="a1c-1",
        category=[{"coding": [{"code": "laboratory"}]}],
        code={
            "coding": [
                {"system": "http://snomed.info/sct", "code": "43396009"},
                {"system": "http://loinc.org", "code": "4548-4"},
            ]
        },
        subject={"reference": "https://fhir.example.org/r4/Patient/pat-1/_history/3"},
        valueQuantity={"value": 7.4, "system": "http://unitsofmeasure.org", "code": "%"},
    )
    observation = observation_from_fhir(a1c)
    assert (observation.code, observation.patient) == ("4548-4", "pat-1")
    assert observation.value == Quantity("7.4", "%")
    assert observation.source is ObservationSource.LAB
    reported = weight(performer=[{"reference": "Patient/pat-1"}])
    assert observation_from_fhir(reported).source is ObservationSource.PATIENT_REPORTED
    clinic = weight(performer=[{"reference": "PractitionerRole/nurse-1"}])
    assert observation_from_fhir(clinic).source is ObservationSource.CLINICIAN
    instant = weight(effectiveInstant="2026-12-04T13:00:00.125Z")
    del instant["effectiveDateTime"]
    assert observation_from_fhir(instant).effective.microsecond == 125000


def test_components_not_monitored_or_absent_are_skipped():
    resource = pressure()
    resource["component"].insert(
        0,
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8478-0"}]},
            "valueQuantity": {"value": 99, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        },
    )
    resource["component"][2] = {
        "code": resource["component"][2]["code"],
        "dataAbsentReason": {"coding": [{"code": "error"}]},
    }
    observation = observation_from_fhir(resource)
    assert [c.code for c in observation.components] == ["8480-6"]


# --- time --------------------------------------------------------------------------------


def test_a_time_needs_an_offset_unless_a_zone_is_given():
    local = weight(effectiveDateTime="2026-12-04T07:00:00")
    found = problems(local)
    assert list(found) == ["Observation.effectiveDateTime"]
    assert "UTC offset" in found["Observation.effectiveDateTime"]
    observation = observation_from_fhir(local, tz="America/Chicago")
    assert observation.effective == pendulum.datetime(2026, 12, 4, 13, tz="UTC")
    day = weight(effectiveDateTime="2026-12-04")
    assert "Observation.effectiveDateTime" in problems(day)
    observation = observation_from_fhir(day, tz="America/Chicago")
    assert observation.effective == pendulum.datetime(2026, 12, 4, tz="America/Chicago")
    for vague in ("2026", "2026-12", "2026-12-04T07:00-06:00", "yesterday", 20261204):
        assert "Observation.effectiveDateTime" in problems(weight(effectiveDateTime=vague))
    assert "Observation.effectiveDateTime" in problems(
        weight(effectiveDateTime="2026-02-30T07:00:00Z")
    )
    with pytest.raises(ValidationError) as info:
        observation_from_fhir(local, tz="CST")
    assert info.value.location == "tz"


# --- errors ------------------------------------------------------------------------------


def test_a_malformed_observation_reports_everything_and_no_patient_data():
    resource = pressure(
        systolic=phi.PATIENT_PHONE,
        id=phi.PATIENT_MRN + " ",
        status="entered-in-error",
        subject={
            "reference": f"Person/{phi.PATIENT_FAMILY}",
            "display": f"{phi.PATIENT_GIVEN} {phi.PATIENT_FAMILY}",
            "identifier": {"value": phi.PATIENT_MRN},
        },
        effectiveDateTime=phi.PATIENT_BIRTH_DATE,
    )
    resource["component"][1]["valueQuantity"]["code"] = phi.PATIENT_GIVEN
    resource["note"] = [{"text": f"{phi.PATIENT_GIVEN} felt dizzy"}]
    found = problems(resource)
    assert set(found) == {
        "Observation.id",
        "Observation.status",
        "Observation.subject.reference",
        "Observation.effectiveDateTime",
        "Observation.component[0].valueQuantity.value",
        "Observation.component[1].valueQuantity.code",
    }
    with pytest.raises(ValidationError) as info:
        observation_from_fhir(resource)
    assert info.value.subject == "Observation"
    for secret in phi.ALL:
        assert secret not in str(info.value)
        assert secret not in repr(info.value.problems)


def test_a_wrong_unit_alone_is_a_unit_error():
    resource = weight(
        valueQuantity={"value": 80, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}
    )
    with pytest.raises(UnitError) as info:
        observation_from_fhir(resource)
    assert info.value.location == "Observation.valueQuantity.code"
    assert (info.value.from_unit, info.value.to_unit) == ("mm[Hg]", "kg")
    bp = pressure()
    bp["component"][1]["valueQuantity"]["code"] = "kg"
    with pytest.raises(UnitError) as info:
        observation_from_fhir(bp)
    assert info.value.location == "Observation.component[1].valueQuantity.code"


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"valueQuantity": {"value": 80, "unit": "kg", "code": "kg"}}, "valueQuantity.system"),
        ({"valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "unit": "kg"}},
         "valueQuantity.code"),
        ({"valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "lbs"}},
         "valueQuantity.code"),
        ({"valueQuantity": {"value": True, "system": "http://unitsofmeasure.org", "code": "kg"}},
         "valueQuantity.value"),
        ({"valueQuantity": {"value": "80", "system": "http://unitsofmeasure.org", "code": "kg"}},
         "valueQuantity.value"),
        ({"valueQuantity": {"value": 80, "comparator": "<", "system": "http://unitsofmeasure.org",
                            "code": "kg"}}, "valueQuantity.comparator"),
        ({"valueQuantity": None}, "valueQuantity"),
        ({"code": {"coding": [{"system": "http://loinc.org", "code": "2093-3"}]}},
         "code.coding[0].code"),
        ({"code": {"text": "weight"}}, "code.coding"),
        ({"code": {"coding": [{"system": "http://snomed.info/sct", "code": "27113001"}]}},
         "code.coding"),
        ({"subject": None}, "subject"),
        ({"id": None}, "id"),
        ({"status": None}, "status"),
        ({"effectiveDateTime": None}, "effectiveDateTime"),
    ],
)  # fmt: skip
def test_each_problem_has_its_location(change, path):
    assert f"Observation.{path}" in problems(weight(**change))


def test_other_value_types_and_empty_panels_are_refused():
    text = weight(valueString="heavy")
    del text["valueQuantity"]
    assert "Observation.valueString" in problems(text)
    empty = pressure()
    empty["component"] = [empty["component"][0] | {"code": {"coding": []}}]
    assert "Observation.component" in problems(empty)
    with pytest.raises(ValidationError) as info:
        observation_from_fhir({"resourceType": "Patient", "id": "p"})
    assert info.value.location == "resourceType"


def test_text_that_is_not_json_is_a_parse_error():
    for text in (f'{{"id": "{phi.PATIENT_FAMILY}', "[1, 2]", b"\xff\xfe{"):
        with pytest.raises(ParseError) as info:
            observation_from_json(text)
        phi.assert_no_phi(str(info.value))
    text = json.dumps(weight(), default=float)  # 184.0 on the wire, read back exactly
    assert observation_from_json(text).value == Quantity("184.0", "[lb_av]")


@given(st.decimals(min_value=1, max_value=1000, places=2))
def test_pounds_and_kilograms_read_to_the_same_canonical_weight(kilograms):
    pounds = kilograms / Decimal("0.45359237")
    in_kg = observation_from_fhir(
        weight(
            valueQuantity={"value": kilograms, "system": "http://unitsofmeasure.org", "code": "kg"}
        )
    )
    in_lb = observation_from_fhir(
        weight(
            valueQuantity={
                "value": pounds,
                "system": "http://unitsofmeasure.org",
                "code": "[lb_av]",
            }
        )
    )
    assert abs(in_kg.canonical("29463-7") - in_lb.canonical("29463-7")) < Decimal("1e-20")


def test_a_versioned_performer_reference_keeps_its_type():
    from caredomain.adapters.fhir import observation_from_fhir

    resource = {
        "resourceType": "Observation",
        "id": "w1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-12-01T07:00:00-06:00",
        "performer": [{"reference": "https://fhir.example.org/Patient/p1/_history/3"}],
        "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org", "code": "kg"},
    }
    assert observation_from_fhir(resource).source.value == "patient-reported"
