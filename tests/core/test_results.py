import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.careplans import MEASURES, Observation, ObservationSource, observation_from_result
from caredomain.core import (
    FHIR_OBSERVATION_CATEGORY,
    LOINC,
    CodeableConcept,
    ObservationResult,
    Quantity,
    Range,
    Reference,
    ResultStatus,
    UnitError,
    ValidationError,
)

WEIGHT = CodeableConcept.of(LOINC, "29463-7", "Body weight")
AT = pendulum.datetime(2026, 11, 26, 7, 5, tz="America/Chicago")


def result(**changes):
    fields = {
        "id": "obx-1",
        "patient": Reference("Patient", "p1"),
        "code": WEIGHT,
        "value": Quantity("182.6", "[lb_av]"),
        "effective": AT,
    }
    fields.update(changes)
    return ObservationResult(**fields)


def test_a_final_weight_becomes_a_monitored_observation():
    watched = observation_from_result(result())
    assert watched == Observation("obx-1", "p1", "29463-7", AT, value=Quantity("182.6", "[lb_av]"))
    assert watched.source is ObservationSource.DEVICE
    lab = observation_from_result(
        result(category=CodeableConcept.of(FHIR_OBSERVATION_CATEGORY, "laboratory"))
    )
    assert lab is not None
    assert lab.source is ObservationSource.LAB


@pytest.mark.parametrize(
    "changes",
    [
        {"status": ResultStatus.PRELIMINARY},
        {"status": ResultStatus.ENTERED_IN_ERROR},
        {"effective": None},
        {"value": "see note"},
        {"value": Quantity("200", "[lb_av]"), "comparator": ">"},
        {"code": CodeableConcept.of(LOINC, "718-7", "Hemoglobin")},
        {"value": Range(Quantity(1, "kg"), Quantity(2, "kg"))},
    ],
)
def test_results_the_monitor_does_not_watch(changes):
    assert observation_from_result(result(**changes)) is None


def test_a_watched_code_in_the_wrong_unit_is_a_unit_error():
    with pytest.raises(UnitError):
        observation_from_result(result(value=Quantity("120", "mm[Hg]")))


def test_comparators_only_on_quantities():
    with pytest.raises(ValidationError, match="comparator"):
        result(value="positive", comparator=">")
    with pytest.raises(ValidationError, match="comparator"):
        result(comparator="~")
    assert result(comparator=">=").quantity is None
    assert result().quantity == Quantity("182.6", "[lb_av]")


def test_a_patient_without_an_id_cannot_be_monitored():
    from caredomain.core import Identifier

    anonymous = Reference("Patient", identifier=Identifier("MRN-1"))
    with pytest.raises(ValidationError, match="patient"):
        observation_from_result(result(patient=anonymous))


@given(
    code=st.sampled_from(sorted(MEASURES)),
    status=st.sampled_from(ResultStatus),
    comparator=st.none() | st.sampled_from(("<", ">")),
    with_time=st.booleans(),
)
def test_a_watched_result_is_monitored_exactly_when_final_plain_and_timed(
    code, status, comparator, with_time
):
    unit = MEASURES[code].unit
    value = result(
        code=CodeableConcept.of(LOINC, code),
        value=Quantity("1", unit),
        comparator=comparator,
        status=status,
        effective=AT if with_time else None,
    )
    watched = observation_from_result(value)
    expected = (
        status.value in {"final", "amended", "corrected"} and comparator is None and with_time
    )
    assert (watched is not None) == expected
    if watched is not None:
        assert watched.code == code
        assert watched.value == Quantity("1", unit)


def test_a_bare_number_is_not_a_value():
    with pytest.raises(ValidationError, match="needs a unit"):
        result(value=5)
