import datetime as dt

import pendulum
import pytest

from caredomain.core import (
    AdministrativeGender,
    Coverage,
    HumanName,
    Identifier,
    LineOfBusiness,
    Location,
    Patient,
    Reference,
    ValidationError,
)
from tests import phi


def _patient(**kw):
    return Patient(
        id="p1",
        identifiers=[Identifier(phi.PATIENT_MRN, "urn:mrn")],
        names=[HumanName(phi.PATIENT_FAMILY, [phi.PATIENT_GIVEN])],
        birth_date=dt.date(1961, 7, 19),
        sex=AdministrativeGender.FEMALE,
        **kw,
    )


def test_patient_repr_keeps_patient_data_out():
    patient = _patient()
    phi.assert_no_phi(repr(patient))
    assert "p1" in repr(patient)


def test_patient_converts_sequences_and_dates():
    patient = _patient()
    assert isinstance(patient.names, tuple)
    assert isinstance(patient.birth_date, pendulum.Date)
    assert str(patient.names[0]) == f"{phi.PATIENT_GIVEN} {phi.PATIENT_FAMILY}"


def test_age_on():
    patient = _patient()
    assert patient.age_on(pendulum.date(2026, 7, 18)) == 64
    assert patient.age_on(pendulum.date(2026, 7, 19)) == 65
    assert Patient(id="p2").age_on(pendulum.date(2026, 1, 1)) is None


def test_birth_date_must_be_a_date():
    with pytest.raises(ValidationError):
        Patient(id="p1", birth_date=pendulum.datetime(1961, 7, 19, tz="UTC"))


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "ünïcode"])
def test_ids_follow_fhir_id_rules(bad):
    with pytest.raises(ValidationError):
        Patient(id=bad)


def test_patient_timezone_must_be_iana():
    assert _patient(timezone="America/Chicago").timezone == "America/Chicago"
    with pytest.raises(ValidationError) as info:
        _patient(timezone="CST6")
    assert info.value.location == "Patient.timezone"


def test_a_string_is_not_a_list_of_names():
    with pytest.raises(ValidationError):
        HumanName(given="Ann")


def test_location_has_a_zone():
    loc = Location(id="clinic-1", name="North Clinic", timezone="America/Chicago")
    assert loc.timezone == "America/Chicago"
    with pytest.raises(ValidationError):
        Location(id="clinic-1", name="North Clinic", timezone="Chicago")


def test_coverage_references_are_checked():
    kwargs = {
        "id": "cov1",
        "beneficiary": Reference.to("Patient", "p1"),
        "payer": Reference.to("Organization", "payer1"),
        "plan": "gold",
        "member_id": Identifier("W123456789"),
        "line_of_business": LineOfBusiness.MEDICARE_ADVANTAGE,
    }
    coverage = Coverage(**kwargs)
    assert "W123456789" not in repr(coverage)
    with pytest.raises(ValidationError):
        Coverage(**(kwargs | {"beneficiary": Reference.to("Practitioner", "d1")}))
    with pytest.raises(ValidationError):
        Coverage(**(kwargs | {"payer": Reference.to("Patient", "p1")}))
