import datetime as dt

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    BusinessCalendar,
    Clock,
    FixedClock,
    Interval,
    ManualClock,
    NaiveDatetimeError,
    SystemClock,
    ValidationError,
    epoch_us,
    format_duration,
    parse_datetime,
    parse_duration,
    validate_timezone,
)
from caredomain.testing import strategies as cst

CHI = "America/Chicago"


# --- aware only --------------------------------------------------------------------------


def test_naive_datetime_is_refused_with_its_field():
    with pytest.raises(NaiveDatetimeError) as info:
        Interval(dt.datetime(2026, 3, 2, 9), pendulum.datetime(2026, 3, 2, 10, tz=CHI))
    assert info.value.location == "Interval.start"
    with pytest.raises(NaiveDatetimeError) as info:
        Interval(pendulum.datetime(2026, 3, 2, 9, tz=CHI), dt.datetime(2026, 3, 2, 10))
    assert info.value.location == "Interval.end"


def test_stdlib_aware_datetimes_become_pendulum():
    start = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    interval = Interval(start, start + dt.timedelta(hours=1))
    assert isinstance(interval.start, pendulum.DateTime)
    assert interval.start == start


def test_parse_datetime_requires_an_offset():
    assert parse_datetime("2026-03-02T09:00:00-06:00") == pendulum.datetime(
        2026, 3, 2, 15, tz="UTC"
    )
    assert parse_datetime("2026-03-02T15:00:00Z").utcoffset() == dt.timedelta(0)
    with pytest.raises(NaiveDatetimeError):
        parse_datetime("2026-03-02T09:00:00", "request.due")
    with pytest.raises(ValidationError):
        parse_datetime("next tuesday")


@pytest.mark.parametrize("name", ["CST", "-06:00", "Mars/Olympus", "", "America/chicago "])
def test_timezones_must_be_iana_names(name):
    with pytest.raises(ValidationError):
        validate_timezone(name)


def test_valid_timezone():
    assert validate_timezone(CHI) == CHI


# --- intervals ----------------------------------------------------------------------------


def test_interval_is_half_open():
    a = Interval(
        pendulum.datetime(2026, 1, 5, 9, tz=CHI), pendulum.datetime(2026, 1, 5, 9, 30, tz=CHI)
    )
    b = Interval(a.end, a.end.add(minutes=30))
    assert not a.overlaps(b)
    assert a.contains(a.start)
    assert not a.contains(a.end)
    assert a.intersection(b) is None
    assert a.gap_to(b) == dt.timedelta(0)


def test_end_before_start_is_refused():
    with pytest.raises(ValidationError):
        Interval(
            pendulum.datetime(2026, 1, 5, 10, tz=CHI), pendulum.datetime(2026, 1, 5, 9, tz=CHI)
        )


@pytest.mark.parametrize(
    ("day", "hours"),
    [((2026, 3, 8), 23), ((2026, 11, 1), 25), ((2026, 6, 1), 24)],
)
def test_duration_is_elapsed_time_across_dst(day, hours):
    start = pendulum.datetime(*day, tz=CHI)
    interval = Interval(start, start.add(days=1))
    assert interval.duration == dt.timedelta(hours=hours)


def test_clinic_morning_is_four_hours_on_dst_sundays():
    for day in ((2026, 3, 8), (2026, 11, 1)):
        session = Interval(pendulum.datetime(*day, 8, tz=CHI), pendulum.datetime(*day, 12, tz=CHI))
        assert session.duration == dt.timedelta(hours=4)


def test_intervals_in_different_zones_compare_by_instant():
    a = Interval(
        pendulum.datetime(2026, 1, 5, 9, tz=CHI), pendulum.datetime(2026, 1, 5, 10, tz=CHI)
    )
    b = a.in_tz("America/New_York")
    assert a == b
    assert a.covers(b)
    assert b.covers(a)


@given(cst.intervals(), cst.intervals())
def test_overlap_is_symmetric_and_matches_intersection(a, b):
    assert a.overlaps(b) == b.overlaps(a)
    both = a.intersection(b)
    assert (both is not None) == a.overlaps(b)
    if both is not None:
        assert a.covers(both)
        assert b.covers(both)
        assert both == b.intersection(a)
        assert not both.is_empty


@given(cst.intervals(), cst.aware_datetimes())
def test_contains_agrees_with_bounds(interval, moment):
    assert interval.contains(moment) == (interval.start <= moment < interval.end)


@given(cst.intervals(allow_empty=False))
def test_an_interval_overlaps_and_covers_itself(interval):
    assert interval.overlaps(interval)
    assert interval.covers(interval)
    assert interval.intersection(interval) == interval


@given(
    cst.intervals(),
    st.timedeltas(min_value=dt.timedelta(days=-30), max_value=dt.timedelta(days=30)),
)
def test_shift_keeps_duration(interval, delta):
    assert interval.shift(delta).duration == interval.duration


@given(cst.intervals(), cst.intervals(), cst.intervals())
def test_covers_is_transitive(a, b, c):
    if a.covers(b) and b.covers(c):
        assert a.covers(c)


@given(cst.intervals())
def test_empty_interval_overlaps_nothing(interval):
    empty = Interval(interval.start, interval.start)
    assert not empty.overlaps(interval)
    assert not interval.overlaps(empty)


# --- clocks -------------------------------------------------------------------------------


def test_clocks_satisfy_the_protocol():
    fixed = FixedClock(pendulum.datetime(2026, 1, 1, tz="UTC"))
    manual = ManualClock(pendulum.datetime(2026, 1, 1, tz="UTC"))
    for clock in (fixed, manual, SystemClock()):
        assert isinstance(clock, Clock)
        assert clock.now().utcoffset() is not None


def test_fixed_clock_never_moves_and_refuses_naive():
    at = pendulum.datetime(2026, 1, 1, tz=CHI)
    clock = FixedClock(at)
    assert clock.now() == clock.now() == at
    with pytest.raises(NaiveDatetimeError):
        FixedClock(dt.datetime(2026, 1, 1))


def test_manual_clock_advances_in_elapsed_time():
    clock = ManualClock(pendulum.datetime(2026, 3, 7, 9, tz=CHI))
    after = clock.advance(dt.timedelta(days=1))
    assert after.hour == 10  # 24 elapsed hours across spring-forward
    assert clock.now() == after
    with pytest.raises(ValidationError):
        clock.advance(dt.timedelta(seconds=-1))
    with pytest.raises(ValidationError):
        clock.set(after.subtract(hours=1))
    assert clock.set(after.add(hours=2)) == after.add(hours=2)


def test_system_clock_reports_in_its_zone():
    assert SystemClock(CHI).now().timezone_name == CHI
    with pytest.raises(ValidationError):
        SystemClock("Central")


# --- business days ------------------------------------------------------------------------

US = BusinessCalendar()


@pytest.mark.parametrize(
    ("day", "holiday"),
    [
        ((2026, 11, 26), "Thanksgiving Day"),
        ((2026, 7, 3), "Independence Day (observed)"),  # July 4 2026 is a Saturday
        ((2026, 6, 19), "Juneteenth National Independence Day"),
        ((2026, 12, 25), "Christmas Day"),
        ((2026, 11, 27), None),  # not a federal holiday
    ],
)
def test_us_federal_holidays_come_from_the_holidays_package(day, holiday):
    assert US.holiday(pendulum.date(*day)) == holiday


def test_observed_days_can_be_turned_off():
    assert BusinessCalendar(observed=False).is_business_day(pendulum.date(2026, 7, 3))
    assert not US.is_business_day(pendulum.date(2026, 7, 3))


def test_state_calendars_add_state_holidays():
    california = BusinessCalendar(subdivision="CA")
    assert not california.is_business_day(pendulum.date(2026, 11, 27))  # Day After Thanksgiving
    assert US.is_business_day(pendulum.date(2026, 11, 27))


def test_unknown_country_is_refused():
    with pytest.raises(ValidationError):
        BusinessCalendar(country="XX")


def test_closures_and_weekends():
    calendar = BusinessCalendar(closures=[pendulum.date(2026, 12, 24)])
    assert calendar.holiday(pendulum.date(2026, 12, 24)) == "closure"
    assert not calendar.is_business_day(pendulum.date(2026, 12, 24))
    six_day = BusinessCalendar(weekend={6})
    assert six_day.is_business_day(pendulum.date(2026, 11, 28))  # a Saturday
    with pytest.raises(ValidationError):
        BusinessCalendar(weekend=range(7))
    with pytest.raises(ValidationError):
        BusinessCalendar(weekend={7})


def test_add_business_days_skips_weekends_and_holidays():
    wednesday_before_thanksgiving = pendulum.date(2026, 11, 25)
    assert US.add_business_days(wednesday_before_thanksgiving, 1) == pendulum.date(2026, 11, 27)
    assert US.add_business_days(wednesday_before_thanksgiving, 2) == pendulum.date(2026, 11, 30)
    friday = pendulum.date(2026, 1, 16)  # MLK day follows
    assert US.add_business_days(friday, 1) == pendulum.date(2026, 1, 20)
    assert US.add_business_days(friday, 0) == friday
    assert US.add_business_days(pendulum.date(2026, 1, 20), -1) == friday


def test_datetimes_are_read_in_the_calendars_zone():
    chicago = BusinessCalendar(timezone=CHI)
    late_wednesday_utc = pendulum.datetime(2026, 11, 26, 3, tz="UTC")  # 21:00 Wed in Chicago
    assert chicago.is_business_day(late_wednesday_utc)
    assert not US.is_business_day(late_wednesday_utc)  # Thursday in UTC
    with pytest.raises(NaiveDatetimeError):
        US.is_business_day(dt.datetime(2026, 11, 25, 12))


def test_tcm_contact_deadline_over_thanksgiving():
    discharge = pendulum.datetime(2026, 11, 25, 15, 30, tz=CHI)
    deadline = US.deadline(discharge, 2)
    assert deadline == pendulum.datetime(2026, 12, 1, tz=CHI)
    assert deadline.timezone_name == CHI
    assert US.deadline(discharge, 0) == pendulum.datetime(2026, 11, 26, tz=CHI)
    with pytest.raises(ValidationError):
        US.deadline(discharge, -1)


def test_deadline_uses_the_calendar_zone_when_set():
    discharge = pendulum.datetime(2026, 11, 26, 3, tz="UTC")  # Wed 21:00 in Chicago
    assert BusinessCalendar(timezone=CHI).deadline(discharge, 2) == pendulum.datetime(
        2026, 12, 1, tz=CHI
    )


@given(
    cst.business_calendars(),
    cst.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2028, 12, 31)),
    st.integers(-25, 25),
)
def test_add_and_between_are_inverse(calendar, day, count):
    later = calendar.add_business_days(day, count)
    assert calendar.business_days_between(day, later) == count
    if count:
        assert calendar.is_business_day(later)


@given(
    cst.business_calendars(),
    cst.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2028, 12, 31)),
    st.integers(-250, 250),
)
def test_between_is_antisymmetric_on_business_days(calendar, day, offset):
    a = calendar.add_business_days(day, 1)  # always a business day
    b = calendar.add_business_days(a, offset)
    assert calendar.business_days_between(a, b) == -calendar.business_days_between(b, a) == offset


# --- instants inside DST folds -------------------------------------------------------------


def test_fold_times_compare_by_instant():
    first = pendulum.instance(dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)).in_tz(
        CHI
    )  # 01:30 CDT
    second = pendulum.instance(dt.datetime(2026, 11, 1, 7, 10, tzinfo=dt.UTC)).in_tz(
        CHI
    )  # 01:10 CST
    assert (first.hour, second.hour) == (1, 1)
    # Python compares same-zone datetimes by wall clock: 01:30 > 01:10, wrongly.
    assert first > second
    # caredomain compares instants.
    assert epoch_us(first) < epoch_us(second)
    interval = Interval(first, second)
    assert interval.duration == dt.timedelta(minutes=40)
    assert interval.contains(first)
    assert not interval.contains(second)
    with pytest.raises(ValidationError):
        Interval(second, first)


def test_fold_times_survive_a_json_round_trip():
    from caredomain.core import from_json, to_json

    fold = pendulum.instance(dt.datetime(2026, 11, 1, 6, 30, tzinfo=dt.UTC)).in_tz(CHI)
    interval = Interval(fold, fold.add(hours=1))
    back = from_json(to_json(interval), Interval)
    assert back == interval
    assert hash(back) == hash(interval)


def test_epoch_us_is_exact():
    assert epoch_us(pendulum.datetime(1970, 1, 1, tz="UTC")) == 0
    assert epoch_us(pendulum.datetime(2026, 1, 1, 0, 0, 0, 1, tz="UTC")) == 1767225600000001


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("P7D", dt.timedelta(days=7)),
        ("PT72H", dt.timedelta(hours=72)),
        ("PT1H30M", dt.timedelta(minutes=90)),
        ("P2W", dt.timedelta(weeks=2)),
        ("P1DT2H3M4.5S", dt.timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("-PT15M", dt.timedelta(minutes=-15)),
        ("PT0S", dt.timedelta(0)),
    ],
)
def test_parse_duration(text, value):
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P", "PT", "7 days", "", "P1DT"])
def test_durations_in_months_or_malformed_are_refused(text):
    with pytest.raises(ValidationError):
        parse_duration(text)


@given(st.timedeltas(min_value=dt.timedelta(days=-3000), max_value=dt.timedelta(days=3000)))
def test_duration_round_trip(value):
    assert parse_duration(format_duration(value)) == value


def test_format_duration_is_canonical():
    assert format_duration(dt.timedelta(hours=72)) == "P3D"
    assert format_duration(dt.timedelta(minutes=90)) == "PT1H30M"
    assert format_duration(dt.timedelta(0)) == "PT0S"


@given(cst.aware_datetimes())
def test_epoch_us_matches_the_stdlib_reference(moment):
    reference = dt.datetime.__sub__(
        moment.astimezone(dt.UTC), dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    ) // dt.timedelta(microseconds=1)
    assert epoch_us(moment) == reference
