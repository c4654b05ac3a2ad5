"""Scenario 4 of DOMAIN.md: hip replacement discharge, arranged in a sensible order."""

import datetime as dt
import itertools

import pendulum
import pytest

from caredomain.core import ConflictError, FixedClock, Reference
from caredomain.scheduling import (
    Appointment,
    AppointmentRequest,
    AppointmentStatus,
    AvailabilityTemplate,
    Calendar,
    Participant,
    Predecessor,
    Session,
    SlotIndex,
    find_series,
    find_slots,
    generate_slots,
)

CHI = "America/Chicago"
t = dt.time
DISCHARGE = pendulum.datetime(2026, 12, 7, 10, tz=CHI)  # a Monday
FIRST, LAST = dt.date(2026, 12, 1), dt.date(2027, 2, 15)

TEMPLATES = [
    AvailabilityTemplate("dme-vendor", CHI, [Session(d, t(8), t(18), 120) for d in range(6)]),
    AvailabilityTemplate("home-nurse", CHI, [Session(d, t(9), t(17), 60) for d in range(7)]),
    AvailabilityTemplate("pt-clinic", CHI, [Session(d, t(8), t(12), 45, 15) for d in (0, 2, 4)]),
]
INDEX = SlotIndex.of(s for tpl in TEMPLATES for s in generate_slots(tpl, FIRST, LAST))


def walker():
    # The walker must be home before the patient is: delivered in the 2 days before discharge.
    return AppointmentRequest(
        "walker", "p-hip", "urgent", dt.timedelta(hours=2), DISCHARGE.subtract(days=2),
        DISCHARGE.subtract(hours=2), ["dme-vendor"],
    )  # fmt: skip


def nursing():
    return AppointmentRequest(
        "nurse-1",
        "p-hip",
        "urgent",
        dt.timedelta(hours=1),
        DISCHARGE,
        DISCHARGE.add(days=2),
        ["home-nurse"],
    )


def pt_series():
    requests = []
    for n in range(12):  # twice a week for six weeks
        requests.append(
            AppointmentRequest(
                f"pt-{n + 1}",
                "p-hip",
                "post-discharge" if n == 0 else "routine",
                dt.timedelta(minutes=45),
                DISCHARGE.add(days=2) if n == 0 else DISCHARGE,
                DISCHARGE.add(days=7) if n == 0 else DISCHARGE.add(weeks=7),
                ["pt-clinic"],
                after=None
                if n == 0
                else Predecessor(f"pt-{n}", dt.timedelta(days=2), dt.timedelta(days=5)),
            )
        )
    return requests


def test_hip_replacement_plan_is_ordered_around_discharge():
    delivery = find_slots(walker(), INDEX, limit=1)[0]
    assert delivery.interval.end <= DISCHARGE
    nurse = find_slots(nursing(), INDEX, limit=1)[0]
    assert DISCHARGE <= nurse.interval.start <= DISCHARGE.add(days=2)
    series = find_series(pt_series(), INDEX, patient_busy=[nurse.interval])
    assert series is not None
    assert len(series) == 12
    assert series[0].interval.start <= DISCHARGE.add(days=7)  # PT starts within a week
    for a, b in itertools.pairwise(series):
        gap = b.interval.start - a.interval.end
        assert dt.timedelta(days=2) <= gap <= dt.timedelta(days=5)
    assert series[-1].interval.start - series[0].interval.start <= dt.timedelta(weeks=6)
    spans = sorted([(c.interval.start_us, c.interval.end_us) for c in [delivery, nurse, *series]])
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # never two places at once


def test_a_series_is_booked_whole_or_not_at_all():
    clock = FixedClock(DISCHARGE.subtract(days=3))
    series = find_series(pt_series(), INDEX)
    assert series is not None
    bookings = [
        (
            Appointment(c.request, [Participant(Reference.to("Patient", "p-hip"))]),
            [s.id for s in c.slots],
            c.interval,
        )
        for c in series
    ]
    calendar = Calendar.of(INDEX)
    out = calendar.book_series(version=0, bookings=bookings, clock=clock)
    assert out.calendar.version == 1
    assert all(a.state is AppointmentStatus.BOOKED for a in out.calendar.appointments.values())
    assert len(out.calendar.appointments) == 12

    # Someone else takes the slot of the 9th session first: the series no longer fits.
    ninth = bookings[8]
    other = calendar.book(
        version=0,
        appointment=Appointment("other", [Participant(Reference.to("Patient", "p-other"))]),
        slots=ninth[1],
        interval=ninth[2],
        clock=clock,
    ).calendar
    with pytest.raises(ConflictError, match="booking 9 of 12"):
        other.book_series(version=1, bookings=bookings, clock=clock)
    assert len(other.appointments) == 1  # nothing of the series was kept
    # ...and a fresh search routes around the taken slot.
    again = find_series(pt_series(), INDEX, occupied=other.occupancy())
    assert again is not None
    assert ninth[1][0] not in {c.slots[0].id for c in again}


def test_a_series_that_cannot_fit_is_none_not_a_prefix():
    short = AvailabilityTemplate("pt-clinic", CHI, [Session(0, t(8), t(9), 45)])  # Mondays only
    index = SlotIndex.of(generate_slots(short, FIRST, LAST))
    assert find_series(pt_series(), index) is None  # Monday to Monday is 7 days > 5
