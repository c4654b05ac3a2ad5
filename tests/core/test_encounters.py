import pendulum
import pytest
from hypothesis import given

from caredomain.core import (
    ACT_CODE,
    CodeableConcept,
    Coding,
    Encounter,
    EncounterStatus,
    NaiveDatetimeError,
    Reference,
    ValidationError,
    hl7_v2_table,
)
from caredomain.testing import strategies as cst

PATIENT = Reference("Patient", "p1")


def test_a_discharge_home_with_its_length_of_stay():
    admitted = pendulum.datetime(2026, 11, 21, 22, 15, tz="America/Chicago")
    stay = Encounter(
        id="enc-1",
        patient=PATIENT,
        status=EncounterStatus.FINISHED,
        encounter_class=Coding(ACT_CODE, "IMP", "inpatient encounter"),
        admitted_at=admitted,
        discharged_at=pendulum.datetime(2026, 11, 25, 15, 30, tz="America/Chicago"),
        discharge_disposition=CodeableConcept.of(hl7_v2_table(112), "01", "Discharged home"),
    )
    assert stay.inpatient
    assert stay.discharged
    assert stay.length_of_stay_days() == 4  # 21st to 25th by calendar date, as LACE counts


def test_length_of_stay_is_counted_in_the_admission_offset():
    # Discharged at 01:00 UTC on the 26th is still the 25th in Chicago.
    stay = Encounter(
        id="enc-2",
        patient=PATIENT,
        admitted_at=pendulum.datetime(2026, 11, 25, 9, tz="America/Chicago"),
        discharged_at=pendulum.datetime(2026, 11, 26, 1, tz="UTC"),
    )
    assert stay.length_of_stay_days() == 0
    assert Encounter(id="e", patient=PATIENT).length_of_stay_days() is None


def test_discharge_before_admission_is_refused():
    with pytest.raises(ValidationError, match="discharged_at"):
        Encounter(
            id="e",
            patient=PATIENT,
            admitted_at=pendulum.datetime(2026, 11, 25, 9, tz="UTC"),
            discharged_at=pendulum.datetime(2026, 11, 24, 9, tz="UTC"),
        )


def test_naive_times_and_unknown_classes_are_refused():
    import datetime as dt

    with pytest.raises(NaiveDatetimeError):
        Encounter(id="e", patient=PATIENT, admitted_at=dt.datetime(2026, 11, 25, 9))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="v3-ActEncounterCode"):
        Encounter(id="e", patient=PATIENT, encounter_class=Coding(ACT_CODE, "NOPE"))


@given(cst.encounters())
def test_length_of_stay_is_the_calendar_days_between_admission_and_discharge(encounter):
    days = encounter.length_of_stay_days()
    if encounter.admitted_at is None or encounter.discharged_at is None:
        assert days is None
        return
    stay = encounter.discharged_at - encounter.admitted_at
    # Whole calendar days in the admission's offset: at least the full days elapsed, and at
    # most one more (the discharge's calendar day can start before a full day has passed).
    assert stay.days <= days <= stay.days + 1
    assert encounter.inpatient == (encounter.encounter_class.code in {"IMP", "ACUTE", "NONAC"})
