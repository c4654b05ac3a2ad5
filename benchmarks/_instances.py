"""Seeded instances of the slot-assignment problem, in the problem-file format.

A clinic network in America/Chicago over three working weeks that cross the end of daylight
saving time (Sunday 2026-11-01). Resources belong to services (lab, primary care,
cardiology, ...); each works three to five weekdays, mornings and/or afternoons, in 30- or
60-minute slots, and only some of its slots are still free (the rest are booked), so free
slots are scattered as in a real calendar. Requests follow a common urgency mix, are released
over the first week, and may use one to three of their service's resources. Demand is
uneven across services (each 0.6 times as popular as the one before), so the most popular
are oversubscribed and urgent work competes for early slots.

With ``predecessors=True``, about a third of the requests are in chains of one patient:
a lab draw 1-3 days before a specialist visit (the spec's example gap) or a physical-therapy
series of three visits 2-4 days apart; a tenth of the other patients have two independent
requests (so their visits must not overlap). Without, every request has its own patient and
no ``after``: a pure assignment problem.
"""

from __future__ import annotations

import random
from typing import Any

import pendulum

__all__ = ["SIZES", "generate"]

SIZES: tuple[tuple[int, int], ...] = ((100, 300), (1000, 3000), (5000, 15000))
"""(requests, slots) sizes of the benchmark."""

TZ = "America/Chicago"
_FIRST_MONDAY = pendulum.date(2026, 10, 19)
_WEEKS = 3
_SERVICES = (
    "lab",
    "primary-care",
    "cardiology",
    "endocrinology",
    "orthopedics",
    "physical-therapy",
    "imaging",
    "neurology",
    "nutrition",
    "dermatology",
)
# name, share of requests, due window in days (low, high)
_URGENCY = (
    ("emergent", 0.05, (2, 3)),
    ("urgent", 0.20, (4, 7)),
    ("post-discharge", 0.15, (7, 14)),
    ("routine", 0.60, (21, 45)),
)
_POLICY = {
    "emergent": {"target_days": 0, "weight": 100, "unassigned_penalty": 100000},
    "urgent": {"target_days": 2, "weight": 20, "unassigned_penalty": 20000},
    "post-discharge": {"target_days": 7, "weight": 10, "unassigned_penalty": 10000},
    "routine": {"target_days": 30, "weight": 1, "unassigned_penalty": 1000},
}


def _workdays() -> list[pendulum.Date]:
    days = []
    for week in range(_WEEKS):
        for weekday in range(5):
            days.append(_FIRST_MONDAY.add(days=7 * week + weekday))
    return days


def _local(day: pendulum.Date, minute: int) -> pendulum.DateTime:
    return pendulum.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tz=TZ)


def generate(n_requests: int, n_slots: int, *, predecessors: bool, seed: int = 0) -> dict[str, Any]:
    """A problem file (as a dict) with exactly ``n_requests`` requests and ``n_slots`` slots."""
    rng = random.Random(f"{n_requests}/{n_slots}/{predecessors}/{seed}")
    days = _workdays()
    n_resources = max(3, round(n_slots / 75))
    n_services = max(2, min(len(_SERVICES), n_resources // 4))
    services = [_SERVICES[k] for k in range(n_services)]
    resources: dict[str, list[str]] = {s: [] for s in services}
    names = []
    for k in range(n_resources):
        service = services[k % n_services]
        name = f"{service}-{len(resources[service]) + 1}"
        resources[service].append(name)
        names.append(name)

    # Every resource's full grid, then a random part of it left free.
    grids: dict[str, list[tuple[pendulum.DateTime, pendulum.DateTime]]] = {}
    for name in names:
        length = 30 if name.startswith("lab") or rng.random() < 0.7 else 60
        weekdays = sorted(rng.sample(range(5), rng.randint(3, 5)))
        sessions = rng.choice([[(480, 720)], [(780, 1020)], [(480, 720), (780, 1020)]])
        grid = []
        for day in days:
            if day.weekday() not in weekdays:
                continue
            for open_, close in sessions:
                for minute in range(open_, close - length + 1, length):
                    grid.append((_local(day, minute), _local(day, minute + length)))
        grids[name] = grid
    quota = dict.fromkeys(names, n_slots // n_resources)
    for name in rng.sample(names, n_slots % n_resources):
        quota[name] += 1
    slots = []
    for name in names:
        grid = grids[name]
        take = min(quota[name], len(grid))
        picked = sorted(rng.sample(range(len(grid)), take))
        slots.extend((name, *grid[i]) for i in picked)
    while len(slots) < n_slots:  # a small resource could not hold its quota: top up elsewhere
        name = rng.choice(names)
        start, end = rng.choice(grids[name])
        if (name, start, end) not in slots:
            slots.append((name, start, end))
    slots.sort(key=lambda item: (item[1], item[0]))
    slot_records = [
        {
            "id": f"s{k:05d}",
            "resource": name,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        for k, (name, start, end) in enumerate(slots)
    ]

    # Uneven demand: services in a random order of popularity, each 0.6 times as popular as
    # the one before, so the most popular takes about 40% of the requests and is
    # oversubscribed while the least popular ones have room to spare.
    ranked = rng.sample(services, len(services))
    popularity = {s: 0.6**k for k, s in enumerate(ranked)}
    clinical = [s for s in services if s != "lab"] or services

    def pick_urgency() -> tuple[str, tuple[int, int]]:
        x = rng.random()
        for name, share, window in _URGENCY:
            if x < share:
                return name, window
            x -= share
        return _URGENCY[-1][0], _URGENCY[-1][2]

    def request(
        rid: str,
        patient: str,
        service: str,
        urgency: str,
        window: tuple[int, int],
        release_day: int,
    ) -> dict[str, Any]:
        pool = resources[service]
        eligible = sorted(rng.sample(pool, min(len(pool), rng.randint(1, 3))))
        release = _local(days[release_day], rng.choice([0, 0, 420, 720]))
        due = release.add(days=rng.randint(*window), hours=rng.randint(0, 23))
        duration = 30 if service == "lab" or rng.random() < 0.75 else 60
        return {
            "id": rid,
            "patient": patient,
            "urgency": urgency,
            "duration_minutes": duration,
            "release": release.isoformat(),
            "due": due.isoformat(),
            "eligible_resources": eligible,
        }

    def weighted_service(choices: list[str]) -> str:
        return rng.choices(choices, weights=[popularity[s] for s in choices])[0]

    records: list[dict[str, Any]] = []
    patients = 0
    while len(records) < n_requests:
        patients += 1
        patient = f"p{patients:05d}"
        urgency, window = pick_urgency()
        release_day = rng.randrange(5)
        left = n_requests - len(records)
        kind = rng.random() if predecessors else 1.0
        if kind < 0.12 and left >= 2 and "lab" in resources:
            # A lab draw 1-3 days before the specialist visit (the spec's example gap).
            lab = request(f"r{len(records):05d}", patient, "lab", urgency, window, release_day)
            records.append(lab)
            visit = request(
                f"r{len(records):05d}",
                patient,
                weighted_service(clinical),
                urgency,
                (window[0] + 3, window[1] + 3),
                release_day,
            )
            visit["after"] = {
                "request": lab["id"],
                "min_gap_minutes": 1440,
                "max_gap_minutes": 4320,
            }
            records.append(visit)
        elif kind < 0.18 and left >= 3 and "physical-therapy" in resources:
            # A physical-therapy series: three visits 2-4 days apart.
            previous = None
            for visit_no in range(3):
                visit = request(
                    f"r{len(records):05d}",
                    patient,
                    "physical-therapy",
                    urgency,
                    (window[0] + 4 * visit_no, window[1] + 4 * visit_no),
                    release_day,
                )
                if previous is not None:
                    visit["after"] = {
                        "request": previous["id"],
                        "min_gap_minutes": 2880,
                        "max_gap_minutes": 5760,
                    }
                records.append(visit)
                previous = visit
        elif kind < 0.28 and left >= 2:
            # Two independent visits of one patient: they must not overlap.
            for _ in range(2):
                urgency, window = pick_urgency()
                records.append(
                    request(
                        f"r{len(records):05d}",
                        patient,
                        weighted_service(clinical),
                        urgency,
                        window,
                        release_day,
                    )
                )
        else:
            records.append(
                request(
                    f"r{len(records):05d}",
                    patient,
                    weighted_service(services),
                    urgency,
                    window,
                    release_day,
                )
            )
    rng.shuffle(records)
    return {
        "timezone": TZ,
        "urgency": _POLICY,
        "wait_weight": 0.01,
        "slots": slot_records,
        "requests": records,
    }
