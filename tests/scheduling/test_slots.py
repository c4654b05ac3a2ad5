import pendulum
import pytest
from hypothesis import given

from caredomain.core import Interval, Reference, ValidationError, from_json, to_json
from caredomain.scheduling import Schedule, Slot, SlotStatus
from caredomain.testing import strategies as cst

CHI = "America/Chicago"
HALF_HOUR = Interval(
    pendulum.datetime(2026, 12, 1, 8, tz=CHI), pendulum.datetime(2026, 12, 1, 8, 30, tz=CHI)
)


def test_schedule_actor_must_be_bookable():
    mri = Schedule("mri-1", Reference.to("Device", "mri-scanner-1"), CHI)
    assert mri.active
    with pytest.raises(ValidationError):
        Schedule("s", Reference.to("Patient", "p1"), CHI)
    with pytest.raises(ValidationError):
        Schedule("s", Reference.to("Practitioner", "d1"), "Central Time")


def test_slot_rules():
    slot = Slot("s1", "sched-1", HALF_HOUR)
    assert slot.status is SlotStatus.FREE
    assert (slot.capacity, slot.overbook) == (1, 0)
    with pytest.raises(ValidationError):
        Slot("s1", "sched-1", Interval(HALF_HOUR.start, HALF_HOUR.start))
    with pytest.raises(ValidationError):
        Slot("s1", "sched-1", HALF_HOUR, capacity=0)
    with pytest.raises(ValidationError):
        Slot("s1", "sched-1", HALF_HOUR, overbook=-1)


def test_slot_status_is_fhir_slotstatus():
    assert [s.value for s in SlotStatus] == [
        "busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error",
    ]  # fmt: skip


@given(cst.intervals(allow_empty=False))
def test_slots_round_trip(interval):
    slot = Slot("s1", "sched-1", interval, SlotStatus.BUSY_TENTATIVE, capacity=3, overbook=1)
    assert from_json(to_json(slot), Slot) == slot
    schedule = Schedule("sched-1", Reference.to("Location", "room-4"), CHI, horizon=interval)
    assert from_json(to_json(schedule), Schedule) == schedule
