import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.core import Interval, Patient, Quantity, known_units
from caredomain.testing import FixedClock, ManualClock
from caredomain.testing import strategies as cst


def test_clocks_are_reexported():
    from caredomain.core import time

    assert FixedClock is time.FixedClock
    assert ManualClock is time.ManualClock


@given(cst.aware_datetimes())
def test_datetimes_are_aware_and_in_a_listed_zone(moment):
    assert moment.utcoffset() is not None
    assert moment.timezone_name in cst.TIMEZONES


@given(cst.aware_datetimes(timezones=["America/Chicago"]))
def test_zone_can_be_narrowed(moment):
    assert moment.timezone_name == "America/Chicago"


@settings(max_examples=300)
@given(st.data())
def test_datetimes_reach_dst_folds(data):
    # Over many draws some instant lands in a repeated local hour; check the
    # strategy can produce one when asked to search the fold itself.
    start = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)  # 01:00 CDT
    moment = data.draw(
        cst.aware_datetimes(
            min_value=start, max_value=start + dt.timedelta(hours=2), timezones=["America/Chicago"]
        )
    )
    assert moment.hour in (1, 2)


@given(cst.intervals(allow_empty=False, max_duration=dt.timedelta(hours=3)))
def test_intervals_respect_their_bounds(interval):
    assert isinstance(interval, Interval)
    assert not interval.is_empty
    assert interval.duration <= dt.timedelta(hours=3)


@given(cst.quantities())
def test_quantities_use_known_units(quantity):
    assert isinstance(quantity, Quantity)
    assert quantity.unit in known_units()


@given(cst.patients())
def test_patients_are_valid(patient):
    assert isinstance(patient, Patient)
    assert 1 <= len(patient.id) <= 64
