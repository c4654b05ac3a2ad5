import datetime as dt
import itertools

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import BusinessCalendar, Interval, ValidationError, epoch_us
from caredomain.scheduling import AvailabilityTemplate, Session, generate_slots

CHI = "America/Chicago"
SUNDAY_SPRING = dt.date(2026, 3, 8)  # US DST starts 02:00 -> 03:00
SUNDAY_FALL = dt.date(2026, 11, 1)  # US DST ends 02:00 -> 01:00
t = dt.time


def template(*sessions, **kw):
    return AvailabilityTemplate("dr-ortiz", CHI, sessions, **kw)


def local_starts(slots):
    return [s.interval.start.in_tz(CHI).format("HH:mm") for s in slots]


@pytest.mark.parametrize("day", [SUNDAY_SPRING, SUNDAY_FALL, dt.date(2026, 6, 7)])
def test_morning_clinic_is_eight_to_noon_on_dst_sundays(day):
    clinic = template(Session(6, t(8), t(12), 30))
    slots = list(generate_slots(clinic, day, day))
    assert local_starts(slots) == [
        "08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00", "11:30",
    ]  # fmt: skip
    assert all(s.interval.duration == dt.timedelta(minutes=30) for s in slots)
    assert slots[-1].interval.end.in_tz(CHI).hour == 12


def test_skipped_hour_yields_no_slots():
    overnight = template(Session(6, t(0), t(5), 60))
    slots = list(generate_slots(overnight, SUNDAY_SPRING, SUNDAY_SPRING))
    # 02:00 does not exist; 01:00-02:00 and 02:00-03:00 touch it, 03:00 and 04:00 are fine.
    assert local_starts(slots) == ["00:00", "03:00", "04:00"]


def test_repeated_hour_is_taken_once_at_its_first_occurrence():
    overnight = template(Session(6, t(0), t(4), 30))
    slots = list(generate_slots(overnight, SUNDAY_FALL, SUNDAY_FALL))
    starts = [s.interval.start for s in slots]
    assert local_starts(slots) == ["00:00", "00:30", "01:00", "02:00", "02:30", "03:00", "03:30"]
    one_am = starts[2]
    assert one_am.utcoffset() == dt.timedelta(hours=-5)  # CDT: the first 01:00
    # 01:30 CDT would end at 02:00 local = 01:00 CST + 1h... its wall span is 30 minutes but
    # its elapsed span is 90, so it is not generated.
    assert all(s.interval.duration == dt.timedelta(minutes=30) for s in slots)
    assert len({epoch_us(s) for s in starts}) == len(starts)


def test_turnover_and_breaks():
    session = Session(0, t(8), t(12), 30, turnover_minutes=10, breaks=[(t(9, 55), t(10, 15))])
    slots = list(generate_slots(template(session), dt.date(2026, 12, 7), dt.date(2026, 12, 7)))
    assert local_starts(slots) == ["08:00", "08:40", "09:20", "10:15", "10:55"]


def test_closed_dates_holidays_and_blocks():
    weekdays = [Session(d, t(9), t(10), 30) for d in range(5)]
    block = Interval(
        pendulum.datetime(2026, 11, 24, 9, 10, tz=CHI),
        pendulum.datetime(2026, 11, 24, 9, 30, tz=CHI),
    )
    clinic = template(
        *weekdays,
        closed_dates=[dt.date(2026, 11, 23)],
        blocked=[block],
        holidays=BusinessCalendar(),
    )
    slots = list(generate_slots(clinic, dt.date(2026, 11, 22), dt.date(2026, 11, 28)))
    by_day = {}
    for slot in slots:
        by_day.setdefault(slot.interval.start.in_tz(CHI).date().isoformat(), []).append(slot)
    assert sorted(by_day) == ["2026-11-24", "2026-11-25", "2026-11-27"]  # Mon closed, Thu holiday
    # The block overlaps 09:00-09:30 only; half-open, so 09:30-10:00 stays.
    assert local_starts(by_day["2026-11-24"]) == ["09:30"]
    assert local_starts(by_day["2026-11-25"]) == ["09:00", "09:30"]


def test_slot_ids_are_stable():
    clinic = template(Session(1, t(8), t(9), 15))
    first = [s.id for s in generate_slots(clinic, dt.date(2026, 12, 1), dt.date(2026, 12, 1))]
    again = [s.id for s in generate_slots(clinic, dt.date(2026, 12, 1), dt.date(2026, 12, 1))]
    assert first == again
    assert len(set(first)) == 4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"weekday": 7, "start": t(8), "end": t(9), "slot_minutes": 15},
        {"weekday": 1, "start": t(9), "end": t(8), "slot_minutes": 15},
        {"weekday": 1, "start": t(8), "end": t(9), "slot_minutes": 0},
        {"weekday": 1, "start": t(8), "end": t(9), "slot_minutes": 15, "turnover_minutes": -5},
        {"weekday": 1, "start": t(8), "end": t(9), "slot_minutes": 15, "breaks": [(t(7), t(8))]},
        {"weekday": 1, "start": t(8, tzinfo=dt.UTC), "end": t(9), "slot_minutes": 15},
    ],
)
def test_bad_sessions_are_refused(kwargs):
    with pytest.raises(ValidationError):
        Session(**kwargs)


def test_bad_range_and_zone():
    with pytest.raises(ValidationError):
        list(
            generate_slots(
                template(Session(1, t(8), t(9), 15)), dt.date(2026, 12, 2), dt.date(2026, 12, 1)
            )
        )
    with pytest.raises(ValidationError):
        AvailabilityTemplate("x", "CST", [])


ZONES = [
    "America/Chicago",
    "America/New_York",
    "Europe/London",
    "Australia/Adelaide",
    "America/Santiago",
]


@given(
    zone=st.sampled_from(ZONES),
    start_hour=st.integers(0, 20),
    hours=st.integers(1, 3),
    length=st.sampled_from([10, 15, 20, 30, 45, 60]),
    turnover=st.sampled_from([0, 5, 10]),
    first=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2027, 12, 1)),
)
def test_generated_slots_are_exact_ordered_disjoint_and_inside_the_session(
    zone, start_hour, hours, length, turnover, first
):
    sessions = [
        Session(d, t(start_hour), t(start_hour + hours), length, turnover) for d in range(7)
    ]
    clinic = AvailabilityTemplate("r1", zone, sessions)
    slots = list(generate_slots(clinic, first, first + dt.timedelta(days=13)))
    for slot in slots:
        local_start, local_end = slot.interval.start.in_tz(zone), slot.interval.end.in_tz(zone)
        assert slot.interval.duration == dt.timedelta(minutes=length)
        assert local_start.time() >= t(start_hour)
        assert local_end.time() <= t(start_hour + hours) or local_end.time() == t(0)
    for a, b in itertools.pairwise(slots):
        assert epoch_us(a.interval.end) <= epoch_us(b.interval.start)
    # Ordinary days (no DST change) have every slot of the session.
    per_day = (hours * 60 + turnover) // (length + turnover)
    assert len(slots) >= per_day * 14 - per_day * 2  # at most two changes in 14 days
