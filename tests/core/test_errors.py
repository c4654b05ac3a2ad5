"""The error tree, and the promise that no error message carries patient data."""

import datetime as dt
import json

import pendulum
import pytest

import caredomain
from caredomain.core import (
    CareDomainError,
    ConflictError,
    Coverage,
    GuardRejected,
    InvalidTransition,
    MissingDependencyError,
    NaiveDatetimeError,
    OutOfOrderEvent,
    ParseError,
    Patient,
    Problem,
    Quantity,
    RuleError,
    UnitError,
    ValidationError,
    from_dict,
    from_json,
)
from tests import phi


def test_the_tree():
    for cls in (ValidationError, ParseError, InvalidTransition, ConflictError, RuleError):
        assert issubclass(cls, CareDomainError)
    assert issubclass(NaiveDatetimeError, ValidationError)
    assert issubclass(UnitError, ValidationError)
    assert issubclass(GuardRejected, InvalidTransition)
    assert issubclass(OutOfOrderEvent, InvalidTransition)
    assert issubclass(ValidationError, ValueError)
    assert issubclass(ParseError, ValueError)
    assert issubclass(MissingDependencyError, ImportError)
    assert caredomain.CareDomainError is CareDomainError


def test_errors_carry_what_the_caller_acts_on():
    err = RuleError("overlapping rules", source="pack.toml", line=12, key="opd-bleph")
    assert (err.source, err.line, err.key) == ("pack.toml", 12, "opd-bleph")
    assert str(err) == "pack.toml:12 [opd-bleph]: overlapping rules"
    conflict = ConflictError("Slot", "slot-9", "already booked")
    assert (conflict.resource, conflict.key) == ("Slot", "slot-9")
    parse = ParseError("segment 2 (PID), field 3", "a CX identifier")
    assert parse.location.startswith("segment 2")
    multi = ValidationError([Problem("$.a", "expected str"), Problem("$.b", "expected int")])
    assert str(multi) == "invalid value: 2 problems: $.a: expected str; $.b: expected int"
    assert multi.location == "$.a"


def _patient_dict(**overrides):
    data = {
        "id": "p1",
        "identifiers": [{"value": phi.PATIENT_MRN, "system": "urn:mrn", "type": None}],
        "names": [
            {
                "family": phi.PATIENT_FAMILY,
                "given": [phi.PATIENT_GIVEN],
                "prefix": [],
                "suffix": [],
                "use": None,
            }
        ],
        "birth_date": phi.PATIENT_BIRTH_DATE,
        "sex": "female",
        "telecom": [{"system": "phone", "value": phi.PATIENT_PHONE, "use": None, "rank": None}],
        "addresses": [],
        "language": None,
        "timezone": None,
    }
    data.update(overrides)
    return data


BAD_PATIENTS = [
    # each puts patient data where a value of another type is expected
    {"names": phi.PATIENT_FAMILY},
    {"names": [{"family": [phi.PATIENT_FAMILY], "given": phi.PATIENT_GIVEN}]},
    {"identifiers": [{"value": 77234190, "system": phi.PATIENT_MRN}]},
    {"identifiers": [phi.PATIENT_MRN]},
    {"birth_date": phi.PATIENT_BIRTH_DATE + "T00:00:00"},
    {"birth_date": phi.PATIENT_PHONE},
    {"sex": phi.PATIENT_FAMILY},
    {"timezone": phi.PATIENT_FAMILY},
    {"id": phi.PATIENT_MRN + " " + phi.PATIENT_FAMILY},
    {"telecom": [{"system": phi.PATIENT_PHONE, "value": phi.PATIENT_PHONE}]},
    {"language": 5, phi.PATIENT_FAMILY.lower(): 1},
]


@pytest.mark.parametrize("overrides", BAD_PATIENTS)
def test_validation_errors_never_echo_patient_data(overrides):
    data = _patient_dict(**overrides)
    with pytest.raises(CareDomainError) as info:
        from_dict(data, Patient)
    err = info.value
    phi.assert_no_phi(str(err))
    phi.assert_no_phi(repr(err))
    for problem in getattr(err, "problems", ()):
        phi.assert_no_phi(problem.path + problem.message)


def test_the_valid_patient_dict_reads():
    # The fixture itself is valid, so each failure above is caused by its override.
    assert from_dict(_patient_dict(), Patient).id == "p1"


def test_naive_datetime_and_unit_and_parse_errors_never_echo_patient_data():
    with pytest.raises(NaiveDatetimeError) as naive:
        from_dict(
            {
                "id": "cov1",
                "beneficiary": {
                    "target": "Patient",
                    "id": "p1",
                    "identifier": None,
                    "display": phi.PATIENT_FAMILY,
                },
                "payer": {
                    "target": "Organization",
                    "id": "o1",
                    "identifier": None,
                    "display": None,
                },
                "plan": "gold",
                "member_id": {"value": phi.PATIENT_MRN, "system": None, "type": None},
                "line_of_business": "commercial",
                "period": {"start": "1961-07-19T00:00:00", "end": "2030-01-01T00:00:00"},
            },
            Coverage,
        )
    assert naive.value.location == "$.period.start"
    phi.assert_no_phi(str(naive.value))

    with pytest.raises(UnitError) as unit:
        Quantity(phi.PATIENT_MRN[4:], phi.PATIENT_FAMILY).to("kg")
    # An unknown unit is kept as an attribute for the caller, never put in the message.
    phi.assert_no_phi(str(unit.value))
    assert phi.PATIENT_MRN[4:] not in str(unit.value)
    assert unit.value.from_unit == phi.PATIENT_FAMILY

    text = json.dumps(_patient_dict())[:-5]
    with pytest.raises(ParseError) as parse:
        from_json(text, Patient)
    phi.assert_no_phi(str(parse.value))


def test_constructor_errors_never_echo_patient_data():
    from caredomain.core import Interval

    with pytest.raises(NaiveDatetimeError) as info:
        Interval(dt.datetime(1961, 7, 19), pendulum.datetime(2026, 1, 1, tz="UTC"))
    phi.assert_no_phi(str(info.value))
    assert "1961" not in str(info.value)
    with pytest.raises(ValidationError) as bad_id:
        Patient(id=phi.PATIENT_FAMILY + " " + phi.PATIENT_MRN)
    phi.assert_no_phi(str(bad_id.value))
