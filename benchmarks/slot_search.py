"""The ``slot_search`` area: `$find` on a clinic network's calendar.

200 resources, 90 days of 15-minute slots, 08:00-16:00 every day in America/Chicago (576,000
slots), indexed once. Each query asks for a routine 15-minute visit with three
eligible resources over a 30-day window and returns the 10 best candidates.

Peer: a linear scan, what an app without an index does — filter every slot by resource,
window and length, then sort by the same ranking key. No Python scheduling library offers a
slot search to compare with; the scan is the honest floor.
"""

from __future__ import annotations

import datetime as dt
import functools
import random

import pendulum

from benchmarks._harness import Case
from caredomain.core import epoch_us
from caredomain.scheduling import (
    AppointmentRequest,
    AvailabilityTemplate,
    Session,
    SlotIndex,
    find_slots,
)

TZ = "America/Chicago"
RESOURCES = 200
DAYS = 90
FIRST = dt.date(2026, 12, 1)
QUERIES = 20


@functools.cache
def _world() -> tuple[SlotIndex, list, list[AppointmentRequest]]:
    from caredomain.scheduling import generate_slots

    sessions = [Session(d, dt.time(8), dt.time(16), 15) for d in range(7)]
    slots = []
    for n in range(RESOURCES):
        template = AvailabilityTemplate(f"res-{n:03d}", TZ, sessions)
        slots.extend(generate_slots(template, FIRST, FIRST + dt.timedelta(days=DAYS - 1)))
    rng = random.Random(7)
    requests = []
    for q in range(QUERIES):
        release = pendulum.datetime(2026, 12, 1, tz=TZ).add(days=rng.randrange(0, 50))
        requests.append(
            AppointmentRequest(
                f"q{q}",
                f"p{q}",
                "routine",
                dt.timedelta(minutes=15),
                release,
                release.add(days=30),
                [f"res-{rng.randrange(RESOURCES):03d}" for _ in range(3)],
            )
        )
    return SlotIndex.of(slots), slots, requests


def _ours() -> list:
    index, _, requests = _world()
    return [find_slots(r, index, limit=10) for r in requests]


def _scan() -> list:
    _, slots, requests = _world()
    out = []
    for r in requests:
        eligible = set(r.any_of)
        low, high = epoch_us(r.release), epoch_us(r.due)
        need = r.duration // dt.timedelta(microseconds=1)
        target = low + 30 * 86_400_000_000
        found = [
            s
            for s in slots
            if s.schedule in eligible
            and low <= s.interval.start_us <= high
            and s.interval.end_us - s.interval.start_us >= need
        ]
        found.sort(
            key=lambda s: (max(0, s.interval.start_us - target), s.interval.start_us, s.schedule)
        )
        out.append([s.id for s in found[:10]])
    return out


def _check() -> None:
    ours = [[c.slots[0].id for c in found] for found in _ours()]
    assert ours == _scan(), "index and scan disagree"
    index, slots, _ = _world()
    assert len(index) == len(slots) == RESOURCES * DAYS * 32


CASES = [Case("find-slots-576k", _ours, "linear-scan", _scan, QUERIES, _check)]
