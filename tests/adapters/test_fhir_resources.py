import json
import subprocess
import sys
from decimal import Decimal

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.adapters.fhir import validate
from caredomain.adapters.fhir._elements import Problems, read_datetime, write_datetime
from caredomain.adapters.fhir.resources import (
    ENCOUNTER_SUBJECT_STATUS,
    LINE_OF_BUSINESS,
    MAPPINGS,
    ResourceMapping,
    from_fhir,
    register,
    to_fhir,
)
from caredomain.core import ValidationError
from caredomain.core.codes import LOINC, UCUM, CodeableConcept, Coding
from caredomain.core.encounters import ACT_CODE, Encounter, EncounterStatus
from caredomain.core.errors import RuleError
from caredomain.core.identity import Identifier, Reference
from caredomain.core.parties import (
    AdministrativeGender,
    ContactPoint,
    ContactPointSystem,
    Coverage,
    HumanName,
    LineOfBusiness,
    Location,
    Organization,
    Patient,
)
from caredomain.core.quantities import Quantity
from caredomain.core.results import ObservationResult, Range, ResultStatus
from caredomain.core.time import Interval, epoch_us
from caredomain.testing import strategies as cst
from tests import phi

VERSIONS = ["R4", "R5"]
STRATEGIES = {
    "patients": cst.patients(),
    "practitioners": cst.practitioners(),
    "organizations": cst.organizations(),
    "locations": cst.locations(),
    "coverages": cst.coverages(),
    "encounters": cst.encounters(),
    "observation_results": cst.observation_results(),
}
CHICAGO = "America/Chicago"


def patient(**changes):
    fields = {
        "id": "pat-1",
        "identifiers": [Identifier(phi.PATIENT_MRN, "urn:oid:2.16.840.1.113883.3.999.1")],
        "names": [HumanName(phi.PATIENT_FAMILY, (phi.PATIENT_GIVEN,), use="official")],
        "birth_date": pendulum.date(1961, 7, 19),
        "sex": AdministrativeGender.FEMALE,
        "telecom": [ContactPoint(ContactPointSystem.PHONE, phi.PATIENT_PHONE, "mobile", 1)],
        "language": "es",
        "timezone": CHICAGO,
    }
    fields.update(changes)
    return Patient(**fields)


def encounter(status=EncounterStatus.FINISHED, **changes):
    fields = {
        "id": "enc-1",
        "patient": Reference.to("Patient", "pat-1"),
        "status": status,
        "encounter_class": Coding(ACT_CODE, "IMP", "inpatient encounter"),
        "admitted_at": pendulum.datetime(2026, 11, 20, 8, 15, tz=CHICAGO),
        "discharged_at": pendulum.datetime(2026, 11, 24, 14, 0, tz=CHICAGO),
        "discharge_disposition": CodeableConcept.of(
            "http://terminology.hl7.org/CodeSystem/v2-0112", "06"
        ),
    }
    fields.update(changes)
    return Encounter(**fields)


def result(**changes):
    fields = {
        "id": "obs-1",
        "patient": Reference.to("Patient", "pat-1"),
        "code": CodeableConcept.of(LOINC, "2345-7"),
        "value": Quantity("250", "mg/dL"),
        "comparator": ">",
        "effective": pendulum.datetime(2026, 11, 25, 7, 30, tz="Asia/Kathmandu"),
    }
    fields.update(changes)
    return ObservationResult(**fields)


def problem_paths(info):
    return [p.path for p in info.value.problems]


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_round_trip_is_identity(name, version):
    @given(STRATEGIES[name])
    def check(value):
        resource = to_fhir(value, version)
        assert from_fhir(resource, version) == value
        # What a server sends back is JSON text: the same value through json.
        text = json.dumps(resource)
        assert from_fhir(json.loads(text, parse_float=Decimal), version) == value

    check()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_written_resource_passes_fhir_resources_validation(name, version):
    @settings(max_examples=25)
    @given(STRATEGIES[name])
    def check(value):
        resource = to_fhir(value, version, validate=True)
        # A fhir.resources model reads back as the same value.
        assert from_fhir(validate(resource, version), version) == value

    check()


def test_every_core_type_is_registered():
    assert {m.domain for m in MAPPINGS.values()} >= {
        Patient,
        Organization,
        Location,
        Coverage,
        Encounter,
        ObservationResult,
    }
    assert MAPPINGS[ObservationResult].resource_type == "Observation"


def test_registering_a_type_twice_is_refused():
    mapping = MAPPINGS[Patient]
    with pytest.raises(RuleError):
        register(ResourceMapping(Patient, "Patient", mapping.write, mapping.read))


# --- Patient ---------------------------------------------------------------------------------


def test_patient_r4_shape():
    assert to_fhir(patient(), "R4") == {
        "resourceType": "Patient",
        "id": "pat-1",
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": CHICAGO}
        ],
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.3.999.1", "value": phi.PATIENT_MRN}],
        "name": [{"use": "official", "family": phi.PATIENT_FAMILY, "given": [phi.PATIENT_GIVEN]}],
        "telecom": [{"system": "phone", "value": phi.PATIENT_PHONE, "use": "mobile", "rank": 1}],
        "gender": "female",
        "birthDate": "1961-07-19",
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]},
                "preferred": True,
            }
        ],
    }


def test_patient_timezone_is_read_as_the_careplan_cli_reads_it():
    resource = {
        "resourceType": "Patient",
        "id": "p",
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/timezone", "valueCode": CHICAGO}
        ],
    }
    assert from_fhir(resource).timezone == CHICAGO
    resource["extension"][0]["valueCode"] = "CST"
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["Patient.extension[0].valueCode"]


def test_preferred_language_wins():
    resource = {
        "resourceType": "Patient",
        "id": "p",
        "communication": [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "en"}]}},
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "vi"}]},
                "preferred": True,
            },
        ],
    }
    assert from_fhir(resource).language == "vi"


def test_an_empty_name_is_written_with_data_absent_reason():
    value = patient(names=[HumanName()])
    resource = to_fhir(value, "R4", validate=True)
    assert resource["name"] == [
        {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                    "valueCode": "unknown",
                }
            ]
        }
    ]
    assert from_fhir(resource) == value
    assert from_fhir({**resource, "name": [{}]}) == value


def test_errors_carry_fhirpath_locations_and_no_patient_data():
    resource = to_fhir(patient(), "R4")
    resource["name"][0]["given"] = [phi.PATIENT_GIVEN, 7]
    resource["birthDate"] = phi.PATIENT_PHONE
    resource["gender"] = phi.PATIENT_FAMILY
    resource["telecom"][0]["rank"] = 0
    del resource["id"]
    with pytest.raises(ValidationError) as info:
        from_fhir(resource, "R4")
    assert sorted(problem_paths(info)) == [
        "Patient.birthDate",
        "Patient.gender",
        "Patient.id",
        "Patient.name[0].given[1]",
        "Patient.telecom[0].rank",
    ]
    assert info.value.subject == "Patient"
    phi.assert_no_phi(str(info.value))


@pytest.mark.parametrize("text", ["1961", "1961-07", "1961-02-30", "1961-07-19T00:00:00Z"])
def test_birth_date_must_be_a_full_date(text):
    resource = {"resourceType": "Patient", "id": "p", "birthDate": text}
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["Patient.birthDate"]


def test_validate_raises_caredomain_validation_error():
    with pytest.raises(ValidationError) as info:
        to_fhir(patient(language="en  US"), "R4", validate=True)
    assert info.value.location.startswith("Patient.communication[0].language")
    phi.assert_no_phi(str(info.value))


# --- time ------------------------------------------------------------------------------------


def test_datetimes_keep_their_own_offset():
    resource = to_fhir(result(), "R4")
    assert resource["effectiveDateTime"] == "2026-11-25T07:30:00+05:45"
    value = from_fhir(resource)
    assert value.effective.utcoffset() == pendulum.duration(hours=5, minutes=45)


def test_an_offset_with_seconds_is_written_in_utc():
    # Kolkata kept local mean time (+05:21:10) until 1906: FHIR offsets are hh:mm.
    moment = pendulum.datetime(1901, 1, 1, tz="Asia/Kolkata")
    resource = to_fhir(result(effective=moment), "R4", validate=True)
    assert resource["effectiveDateTime"] == "1900-12-31T18:38:50+00:00"
    assert from_fhir(resource).effective == moment


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-11-25T07:30:00", "UTC offset"),
        ("2026-11-25", "not a date alone"),
        ("2026-11", "not a date alone"),
        ("2026-02-30T07:30:00Z", "valid calendar"),
        ("yesterday", "RFC 3339"),
    ],
)
def test_an_instant_needs_a_time_and_an_offset(text, fragment):
    resource = to_fhir(result(), "R4")
    resource["effectiveDateTime"] = text
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["Observation.effectiveDateTime"]
    assert fragment in str(info.value)
    assert text not in str(info.value)


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (Decimal("184"), 184),
        (Decimal("184.000"), 184),
        (Decimal("72.5"), 72.5),
        (Decimal("0.0001"), 0.0001),
        (Decimal("1.234567890123456789"), Decimal("1.234567890123456789")),
    ],
)
def test_decimals_are_written_as_json_numbers_without_losing_digits(value, written):
    resource = to_fhir(result(value=Quantity(value, "mg/dL")), "R4")
    number = resource["valueQuantity"]["value"]
    assert number == written
    assert type(number) is type(written)
    assert from_fhir(resource).value == Quantity(value, "mg/dL")


def test_a_quantity_is_ucum():
    resource = to_fhir(result(), "R5")
    assert resource["valueQuantity"] == {
        "value": 250,
        "comparator": ">",
        "unit": "mg/dL",
        "system": UCUM,
        "code": "mg/dL",
    }
    resource["valueQuantity"]["system"] = "http://example.org/units"
    resource["valueQuantity"]["comparator"] = "~"
    with pytest.raises(ValidationError) as info:
        from_fhir(resource, "R5")
    assert sorted(problem_paths(info)) == [
        "Observation.valueQuantity.comparator",
        "Observation.valueQuantity.system",
    ]


# --- references ------------------------------------------------------------------------------


def test_references_literal_and_logical():
    by_id = Reference("Patient", "pat-1", display="someone")
    by_identifier = Reference("Patient", identifier=Identifier(phi.PATIENT_MRN, "urn:mrn"))
    assert to_fhir(result(patient=by_id))["subject"] == {
        "reference": "Patient/pat-1",
        "display": "someone",
    }
    assert to_fhir(result(patient=by_identifier))["subject"] == {
        "type": "Patient",
        "identifier": {"system": "urn:mrn", "value": phi.PATIENT_MRN},
    }


@pytest.mark.parametrize(
    "reference",
    ["Patient/pat-1", "https://fhir.example.org/r4/Patient/pat-1", "Patient/pat-1/_history/3"],
)
def test_literal_references_are_read_relative_absolute_or_versioned(reference):
    resource = to_fhir(result())
    resource["subject"] = {"reference": reference}
    assert from_fhir(resource).patient == Reference.to("Patient", "pat-1")


def test_a_reference_to_the_wrong_type_is_refused():
    resource = to_fhir(result())
    resource["subject"] = {"reference": "Group/g1"}
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["Observation.subject"]


# --- Encounter: R4 and R5 --------------------------------------------------------------------


def test_encounter_r4_and_r5_shapes():
    value = encounter()
    r4 = to_fhir(value, "R4", validate=True)
    r5 = to_fhir(value, "R5", validate=True)
    assert r4["status"] == "finished"
    assert r5["status"] == "completed"
    assert r4["class"] == {"system": ACT_CODE, "code": "IMP", "display": "inpatient encounter"}
    assert r5["class"] == [{"coding": [r4["class"]]}]
    assert r4["period"] == {
        "start": "2026-11-20T08:15:00-06:00",
        "end": "2026-11-24T14:00:00-06:00",
    }
    assert r5["actualPeriod"] == r4["period"]
    assert "period" not in r5
    disposition = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0112", "code": "06"}]
    }
    assert r4["hospitalization"] == {"dischargeDisposition": disposition}
    assert r5["admission"] == {"dischargeDisposition": disposition}


@pytest.mark.parametrize(
    ("status", "r5_status", "subject_status"),
    [
        (EncounterStatus.ARRIVED, "in-progress", "arrived"),
        (EncounterStatus.TRIAGED, "in-progress", "triaged"),
        (EncounterStatus.IN_PROGRESS, "in-progress", None),
        (EncounterStatus.ON_LEAVE, "on-hold", "on-leave"),
        (EncounterStatus.FINISHED, "completed", None),
        (EncounterStatus.PLANNED, "planned", None),
    ],
)
def test_encounter_status_in_r5(status, r5_status, subject_status):
    resource = to_fhir(encounter(status), "R5")
    assert resource["status"] == r5_status
    if subject_status is None:
        assert "subjectStatus" not in resource
    else:
        assert resource["subjectStatus"] == {
            "coding": [{"system": ENCOUNTER_SUBJECT_STATUS, "code": subject_status}]
        }
    assert from_fhir(resource, "R5").status is status


@pytest.mark.parametrize("r5_status", ["discharged", "completed", "discontinued"])
def test_r5_ended_statuses_read_as_finished(r5_status):
    resource = to_fhir(encounter(), "R5")
    resource["status"] = r5_status
    assert from_fhir(resource, "R5").status is EncounterStatus.FINISHED


def test_r5_status_values_are_refused_in_r4():
    resource = to_fhir(encounter(), "R4")
    resource["status"] = "completed"
    with pytest.raises(ValidationError) as info:
        from_fhir(resource, "R4")
    assert problem_paths(info) == ["Encounter.status"]


def test_a_domain_rule_is_reported_at_its_fhir_element():
    resource = to_fhir(encounter(), "R5")
    resource["actualPeriod"]["end"] = "2026-11-19T08:00:00-06:00"
    with pytest.raises(ValidationError) as info:
        from_fhir(resource, "R5")
    assert problem_paths(info) == ["Encounter.actualPeriod.end"]


def test_a_participant_without_an_individual_is_a_problem():
    resource = to_fhir(encounter(), "R4")
    resource["participant"] = [{"type": [{"text": "attender"}]}]
    with pytest.raises(ValidationError) as info:
        from_fhir(resource, "R4")
    assert problem_paths(info) == ["Encounter.participant[0].individual"]


# --- Observation, Organization, Coverage -----------------------------------------------------


def test_observation_values_of_every_kind():
    for value in [
        CodeableConcept.of(LOINC, "LA6576-8"),
        "positive",
        Range(Quantity(10, "mg/dL")),
        Range(),
    ]:
        written = to_fhir(result(value=value, comparator=None), "R4", validate=True)
        assert from_fhir(written).value == value


def test_an_effective_period_cannot_be_read():
    resource = to_fhir(result())
    del resource["effectiveDateTime"]
    resource["effectivePeriod"] = {"start": "2026-11-25T07:30:00Z"}
    with pytest.raises(ValidationError) as info:
        from_fhir(resource)
    assert problem_paths(info) == ["Observation.effectivePeriod"]


def test_organization_contacts_move_into_contact_in_r5():
    value = Organization(
        "org-1",
        "Lakeside Clinic",
        telecom=[ContactPoint(ContactPointSystem.PHONE, "+1-312-555-0100")],
    )
    assert to_fhir(value, "R4")["telecom"] == [{"system": "phone", "value": "+1-312-555-0100"}]
    r5 = to_fhir(value, "R5", validate=True)
    assert "telecom" not in r5
    assert r5["contact"] == [{"telecom": [{"system": "phone", "value": "+1-312-555-0100"}]}]


def test_coverage_r4_and_r5():
    value = Coverage(
        "cov-1",
        beneficiary=Reference.to("Patient", "pat-1"),
        payer=Reference.to("Organization", "payer-1"),
        plan="Gold PPO",
        member_id=Identifier(phi.PATIENT_MRN),
        line_of_business=LineOfBusiness.MEDICARE_ADVANTAGE,
        period=Interval(
            pendulum.datetime(2026, 1, 1, tz=CHICAGO), pendulum.datetime(2027, 1, 1, tz=CHICAGO)
        ),
    )
    r4 = to_fhir(value, "R4", validate=True)
    r5 = to_fhir(value, "R5", validate=True)
    assert r4["payor"] == [{"reference": "Organization/payer-1"}]
    assert r5["insurer"] == {"reference": "Organization/payer-1"}
    assert r4["class"][0]["value"] == "Gold PPO"
    assert r5["class"][0]["value"] == {"value": "Gold PPO"}
    assert r5["kind"] == "insurance"
    assert r4["type"] == {"coding": [{"system": LINE_OF_BUSINESS, "code": "medicare-advantage"}]}
    del r4["type"]
    assert from_fhir(r4).line_of_business is LineOfBusiness.OTHER


def test_location_needs_its_timezone():
    value = Location("loc-1", "Clinic A", CHICAGO)
    resource = to_fhir(value, "R5")
    del resource["extension"]
    with pytest.raises(ValidationError) as info:
        from_fhir(resource, "R5")
    assert problem_paths(info) == ["Location.extension"]


# --- dispatch --------------------------------------------------------------------------------


def test_dispatch_errors():
    with pytest.raises(ValidationError, match="resourceType"):
        from_fhir({"resourceType": "Basic", "id": "b"})
    with pytest.raises(ValidationError, match="expected Patient"):
        from_fhir(to_fhir(result()), cls=Patient)
    with pytest.raises(ValidationError, match="cls"):
        from_fhir({"resourceType": "Patient", "id": "p"}, cls=int)
    with pytest.raises(ValidationError, match="FHIR mapping"):
        to_fhir(object())
    with pytest.raises(ValidationError, match="R4 or R5"):
        to_fhir(patient(), "STU3")
    with pytest.raises(ValidationError, match="JSON object"):
        from_fhir(["not", "a", "resource"])


def test_a_model_of_the_other_version_is_refused():
    model = validate(to_fhir(patient(), "R4"), "R4")
    assert from_fhir(model, "R4") == patient()
    with pytest.raises(ValidationError, match="model of R5"):
        from_fhir(model, "R5")


def test_cls_selects_the_domain_type():
    assert from_fhir(to_fhir(result()), cls=ObservationResult) == result()


@given(st.sampled_from(sorted(ResultStatus)))
def test_result_status_round_trips(status):
    assert from_fhir(to_fhir(result(status=status), "R5"), "R5").status is status


def test_the_module_does_not_import_fhir_resources():
    code = (
        "import sys; import caredomain.adapters.fhir.resources as r; "
        "r.to_fhir(r.from_fhir({'resourceType': 'Patient', 'id': 'p'})); "
        "print(sorted(m for m in ('fhir', 'fhir_core', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@given(cst.aware_datetimes())
def test_a_written_datetime_keeps_the_offset_fhir_can_express(moment):
    problems = Problems()
    read = read_datetime(write_datetime(moment), "x", problems)
    assert not problems.items
    assert epoch_us(read) == epoch_us(moment)
    offset = moment.utcoffset()
    if offset.total_seconds() % 60 == 0:
        assert read.utcoffset() == offset
    else:
        assert read.utcoffset() == pendulum.duration(0)
