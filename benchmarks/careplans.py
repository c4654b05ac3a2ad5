"""The ``careplans`` area: the streaming care-plan monitor against a naive recompute.

The workload is scenario 3 of DOMAIN.md at scale: heart-failure patients weighing
themselves and taking their blood pressure every morning at home. Each patient has the same
plan and rules:

* a goal, blood pressure below 130/80 (2017 ACC/AHA), evaluated after every reading;
* daily measurement activities for weight and blood pressure (completed by the readings);
* weight gain of 2 lb in 1 day and of 5 lb in 7 days (AHA/HFSA), stage 2 blood pressure
  (systolic >= 140, escalating after 3 readings; diastolic >= 90), severe blood pressure
  (> 180 / > 120, critical), and no weight for more than 2 days.

Patients live in four US timezones and weigh between 06:30 and 08:30 local time; a third of
them report kilograms, the rest pounds. Weights drift, with occasional gain episodes; blood
pressure is noisy with occasional spikes. 3% of readings are missing and 1% arrive a day late
(after the next day's readings). The monitor is advanced once per simulated day.

Cases (``python -m benchmarks careplans``; batch = observations per call, so ops/s is
observations/second):

* ``careplan-monitor-stream``: 100 patients x 30 days (about 5,800 observations) fed to a
  fresh `Monitor`, day by day, with a daily ``advance``.

Peer: there is no library that does this job, so the peer is a plain-Python baseline, the
*naive recompute*: on every observation it inserts the reading into the patient's full,
sorted history and recomputes every rule's state from the first reading (each rule in one
pass with the best algorithm for it: a monotonic deque for the trends), then reports the
difference from the last reported state. It gives the same alerts, goal statuses and ids
(checked before timing). It is not made slow on purpose; it simply does work proportional
to the history on each observation.

The full stream (10,000 patients x 365 days: 7.3M observations less the missing ones) runs
*once*, as its own lines, with ``python -m benchmarks.careplans`` (``--skip-full`` to leave
it out, ``--patients``/``--days`` to resize it). It reports observations/second and the
ratio of the mean per-observation cost of the last 10% of the stream to the first 10%
(flat cost: close to 1; goal <= 1.2), with the cost of every tenth. The first tenth is
the warm-up: buffers fill until they hold the longest trend window plus the late-data
horizon (14 days of weights), so it is cheaper than the rest; the last tenth over the
second shows the steady state. The naive recompute cannot run the full stream in
minutes (its cost per observation grows with the history: hours for 7.3M), so it runs on a
slice of the same stream, 20 patients x 365 days, beside caredomain on the same slice.

Only ``ingest`` and ``advance`` are timed; building the Observation values (what a FHIR
reader would hand over) is not. Differences that remain: caredomain keeps per-patient
buffers, deques and a heap of deadlines; the baseline keeps lists and scans them; both
build the same frozen `Alert` and `GoalStatusChange` values.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import gc
import random
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pendulum
from pendulum import DateTime

from benchmarks._harness import Case, Result, run_case
from caredomain.careplans import (
    MEASURES,
    Activity,
    ActivityKind,
    Alert,
    AlertKind,
    AlertState,
    Bound,
    CarePlan,
    Component,
    Goal,
    GoalAchievement,
    MissingRule,
    Observation,
    Severity,
    Target,
    ThresholdRule,
    Timing,
    TrendRule,
)
from caredomain.careplans.monitor import GoalStatusChange, Monitor, worklist
from caredomain.core import (
    CodeableConcept,
    FixedClock,
    Interval,
    Quantity,
    Reference,
    epoch_us,
    stable_id,
)

BASELINE = "naive-recompute baseline"
WEIGHT, BP, SYSTOLIC, DIASTOLIC = "29463-7", "85354-9", "8480-6", "8462-4"
ZONES = ("America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles")
FIRST_DAY = dt.date(2026, 1, 5)
FULL_PATIENTS, FULL_DAYS = 10_000, 365
NAIVE_PATIENTS = 20
REPEATED_PATIENTS, REPEATED_DAYS = 100, 30


# --- plan and rules ----------------------------------------------------------------------


def _below(component: str, value: int, inclusive: bool = False) -> Target:
    return Target(BP, component=component, high=Bound(Quantity(value, "mm[Hg]"), inclusive))


GOAL = Goal(
    "bp-below-130-80",
    "Blood pressure below 130/80 (2017 ACC/AHA)",
    [_below(SYSTOLIC, 130), _below(DIASTOLIC, 80)],
)
ACTIVITIES = (
    Activity("weigh", ActivityKind.MEASUREMENT, CodeableConcept.of("LOINC", WEIGHT), Timing()),
    Activity("bp", ActivityKind.MEASUREMENT, CodeableConcept.of("LOINC", BP), Timing()),
)
RULES: tuple[Any, ...] = (
    TrendRule("hf-weight-1d", WEIGHT, Quantity(2, "[lb_av]"), dt.timedelta(days=1)),
    TrendRule("hf-weight-7d", WEIGHT, Quantity(5, "[lb_av]"), dt.timedelta(days=7)),
    ThresholdRule("bp-stage2-systolic", _below(SYSTOLIC, 140), escalate_after=3),
    ThresholdRule("bp-stage2-diastolic", _below(DIASTOLIC, 90)),
    ThresholdRule("bp-severe-systolic", _below(SYSTOLIC, 180, True), severity=Severity.CRITICAL),
    ThresholdRule("bp-severe-diastolic", _below(DIASTOLIC, 120, True), severity=Severity.CRITICAL),
    MissingRule("hf-weight-missing", WEIGHT, dt.timedelta(days=2)),
)


def patient_id(n: int) -> str:
    return f"pat-{n:05d}"


def plan_start(n: int) -> DateTime:
    return pendulum.datetime(
        FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, tz=ZONES[n % len(ZONES)]
    )


def care_plan(n: int) -> CarePlan:
    start = plan_start(n)
    return CarePlan(
        f"hf-plan-{n}",
        Reference.to("Patient", patient_id(n)),
        "Heart failure at home",
        period=Interval(start, start.add(years=1)),
        goals=[GOAL],
        activities=ACTIVITIES,
    )


# --- the stream ----------------------------------------------------------------------------

# Values are immutable, so the stream shares them as a FHIR reader with a cache could.
_POUNDS = [Quantity(Decimal(n).scaleb(-1), "[lb_av]") for n in range(0, 4001)]
_KILOGRAMS = [Quantity(Decimal(n).scaleb(-1), "kg") for n in range(0, 4001)]
_SYSTOLIC = [Component(SYSTOLIC, Quantity(n, "mm[Hg]")) for n in range(0, 301)]
_DIASTOLIC = [Component(DIASTOLIC, Quantity(n, "mm[Hg]")) for n in range(0, 301)]


class Stream:
    """Days of readings for patients ``0..patients-1``, generated lazily and reproducibly."""

    def __init__(self, patients: int, days: int, seed: int = 6) -> None:
        self.patients = patients
        self.days = days
        rng = random.Random(seed)
        self.rng = rng
        self.kg = [n % 3 == 2 for n in range(patients)]
        self.weight = [
            int((55 + rng.random() * 40) * 10) if kg else int((120 + rng.random() * 90) * 10)
            for kg in self.kg
        ]
        self.minute = [390 + int(rng.random() * 110) for _ in range(patients)]
        self.systolic = [112 + int(rng.random() * 22) for _ in range(patients)]
        self.diastolic = [68 + int(rng.random() * 14) for _ in range(patients)]
        self.gaining = [0] * patients
        self._times: dict[int, DateTime] = {}

    def moment(self, zone: int, day: int, minute: int) -> DateTime:
        key = (zone * 1000 + day) * 1440 + minute
        found = self._times.get(key)
        if found is None:
            date = FIRST_DAY + dt.timedelta(days=day)
            found = pendulum.datetime(
                date.year, date.month, date.day, minute // 60, minute % 60, tz=ZONES[zone]
            )
            self._times[key] = found
        return found

    def __iter__(self) -> Iterator[tuple[DateTime, list[Observation]]]:
        """(the end of the day, that day's observations in arrival order), day by day."""
        rng = self.rng
        held: list[Observation] = []
        for day in range(self.days):
            self._times.clear()  # one day's moments at a time: memory stays flat
            batch: list[Observation] = []
            late: list[Observation] = []
            for n in range(self.patients):
                pid = patient_id(n)
                zone = n % len(ZONES)
                minute = self.minute[n] + int(rng.random() * 20)
                if rng.random() > 0.03:
                    batch_or_late = late if rng.random() < 0.01 else batch
                    batch_or_late.append(self._weight(n, pid, zone, day, minute))
                if rng.random() > 0.03:
                    batch_or_late = late if rng.random() < 0.01 else batch
                    batch_or_late.append(self._pressure(n, pid, zone, day, minute + 5))
            yield self.moment(0, day + 1, 300), held + batch  # 05:00 Chicago, the next day
            held = late
        if held:
            yield self.moment(0, self.days + 1, 300), held

    def _weight(self, n: int, pid: str, zone: int, day: int, minute: int) -> Observation:
        rng = self.rng
        step = int((rng.random() - 0.5) * (4 if self.kg[n] else 10))
        if self.gaining[n]:
            self.gaining[n] -= 1
            step += 6 if self.kg[n] else 13
        elif rng.random() < 1 / 90:
            self.gaining[n] = 5
        elif rng.random() < 1 / 200:
            step += 12 if self.kg[n] else 26
        elif self.weight[n] > (1000 if self.kg[n] else 2200):
            step -= 10
        self.weight[n] = max(300, self.weight[n] + step)
        values = _KILOGRAMS if self.kg[n] else _POUNDS
        return Observation(
            f"{pid}-w{day}",
            pid,
            WEIGHT,
            self.moment(zone, day, minute),
            value=values[self.weight[n]],
        )

    def _pressure(self, n: int, pid: str, zone: int, day: int, minute: int) -> Observation:
        rng = self.rng
        spike = rng.random() < 1 / 150
        systolic = self.systolic[n] + int((rng.random() - 0.5) * 18) + (45 if spike else 0)
        diastolic = self.diastolic[n] + int((rng.random() - 0.5) * 12) + (14 if spike else 0)
        return Observation(
            f"{pid}-b{day}",
            pid,
            BP,
            self.moment(zone, day, minute),
            components=(_SYSTOLIC[systolic], _DIASTOLIC[diastolic]),
        )


# --- caredomain ----------------------------------------------------------------------------


def ours_monitor(patients: int) -> Monitor:
    monitor = Monitor()
    for n in range(patients):
        monitor.watch(care_plan(n), RULES)
    return monitor


def ours_feed(monitor: Monitor, days: Sequence[tuple[DateTime, list[Observation]]]) -> list[Any]:
    changes: list[Any] = []
    ingest, advance = monitor.ingest, monitor.advance
    for end, batch in days:
        for observation in batch:
            changes += ingest(observation)
        changes += advance(FixedClock(end))
    return changes


# --- the naive recompute ---------------------------------------------------------------------

_US = dt.timedelta(microseconds=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _alert_id(patient: str, rule: str, start_us: int) -> str:
    return stable_id(patient, rule, (_EPOCH + dt.timedelta(microseconds=start_us)).isoformat())


class _NaivePatient:
    def __init__(self, n: int) -> None:
        self.id = patient_id(n)
        self.start = plan_start(n)
        self.start_us = epoch_us(self.start)
        # code -> sorted [(t, id), value, at]: the whole history
        self.history: dict[str, list[tuple[tuple[int, str], Decimal, DateTime]]] = {
            WEIGHT: [],
            SYSTOLIC: [],
            DIASTOLIC: [],
        }
        self.reported: dict[str, tuple[tuple[int, str], Severity, str] | None] = {}
        self.missing_open: str | None = None
        self.goal: GoalAchievement | None = None
        self.seen: set[str] = set()
        self.done: dict[str, int] = {}


class NaiveMonitor:
    """Recomputes every rule over the patient's full history on every observation."""

    def __init__(self, patients: int) -> None:
        self.patients = {patient_id(n): _NaivePatient(n) for n in range(patients)}
        self.now_us: int | None = None
        unit = MEASURES[WEIGHT].unit
        self.thresholds = [
            (r, r.target.measured, *_bounds(r.target))
            for r in RULES
            if isinstance(r, ThresholdRule)
        ]
        self.trends = [
            (r, r.change.to(unit).value, r.window // _US) for r in RULES if isinstance(r, TrendRule)
        ]
        self.goal_bounds = [(t.measured, *_bounds(t)) for t in GOAL.targets]

    def ingest(self, observation: Observation) -> list[Any]:
        patient = self.patients[observation.patient]
        if observation.id in patient.seen:
            raise ValueError("duplicate")
        patient.seen.add(observation.id)
        t = epoch_us(observation.effective)
        key = (t, observation.id)
        codes = [observation.code] + [c.code for c in observation.components]
        for code in codes:
            if code in patient.history:
                value = observation.canonical(code)
                assert value is not None
                bisect.insort(patient.history[code], (key, value, observation.effective))
        activity = "weigh" if observation.code == WEIGHT else "bp"
        patient.done[activity] = max(patient.done.get(activity, t), t)
        out: list[Any] = []
        if WEIGHT in codes:
            self._missing_reading(patient, observation, out)
        for code in codes:
            for rule, measured, low, low_in, high, high_in in self.thresholds:
                if measured == code:
                    self._threshold(patient, rule, low, low_in, high, high_in, out)
            for rule, change, window in self.trends:
                if rule.code == code:
                    self._trend(patient, rule, change, window, out)
        if observation.code == BP:
            self._goal(patient, out)
        return out

    def advance(self, clock: FixedClock) -> list[Any]:
        now_us = epoch_us(clock.now())
        self.now_us = now_us
        out: list[Any] = []
        for patient in self.patients.values():  # a scan of every patient
            self._missing_check(patient, out)
        return out

    # threshold: one pass over the whole history
    def _threshold(
        self,
        patient: _NaivePatient,
        rule: ThresholdRule,
        low: Any,
        low_in: bool,
        high: Any,
        high_in: bool,
        out: list[Any],
    ) -> None:
        state: tuple[tuple[int, str], Severity, tuple[str, ...], DateTime] | None = None
        count = 0
        at: DateTime | None = None
        for key, value, moment in patient.history[rule.target.measured]:
            at = moment
            if _meets(value, low, low_in, high, high_in):
                state, count = None, 0
                continue
            count += 1
            escalate = rule.escalate_after
            if state is None:
                severity = (
                    rule.escalate_to if escalate is not None and escalate <= 1 else rule.severity
                )
                state = (key, severity, (key[1],), moment)
            elif escalate is not None and count <= escalate:
                severity = rule.escalate_to if count == escalate else state[1]
                state = (state[0], severity, (*state[2], key[1]), state[3])
        self._report(patient, rule.id, AlertKind.THRESHOLD, state, at, out)

    # trend: one pass with a monotonic deque over the whole history
    def _trend(
        self, patient: _NaivePatient, rule: TrendRule, change: Decimal, window: int, out: list[Any]
    ) -> None:
        lows: deque[tuple[int, Decimal, str]] = deque()
        state: tuple[tuple[int, str], Severity, tuple[str, ...], DateTime] | None = None
        at: DateTime | None = None
        for key, value, moment in patient.history[rule.code]:
            at = moment
            while lows and lows[0][0] < key[0] - window:
                lows.popleft()
            base = lows[0] if lows else None
            while lows and lows[-1][1] >= value:
                lows.pop()
            lows.append((key[0], value, key[1]))
            if base is not None and value - base[1] >= change:
                if state is None:
                    state = (key, rule.severity, (base[2], key[1]), moment)
            else:
                state = None
        self._report(patient, rule.id, AlertKind.TREND, state, at, out)

    def _report(
        self,
        patient: _NaivePatient,
        rule: str,
        kind: AlertKind,
        state: tuple[tuple[int, str], Severity, tuple[str, ...], DateTime] | None,
        at: DateTime | None,
        out: list[Any],
    ) -> None:
        reported = patient.reported.get(rule)
        newest = patient.history  # for the resolving reading's id
        if state is None:
            if reported is not None:
                key, severity, alert = reported
                code = _code_of(rule)
                last_key, _v, last_at = newest[code][-1]
                out.append(
                    Alert(
                        alert,
                        patient.id,
                        rule,
                        kind,
                        severity,
                        AlertState.RESOLVED,
                        last_at,
                        (last_key[1],),
                        "resolved",
                    )
                )
                patient.reported[rule] = None
            return
        key, severity, evidence, start = state
        if reported is not None and reported[0] != key:
            self._report(patient, rule, kind, None, at, out)
            reported = None
        if reported is None:
            alert = _alert_id(patient.id, rule, key[0])
            out.append(
                Alert(
                    alert,
                    patient.id,
                    rule,
                    kind,
                    severity,
                    AlertState.RAISED,
                    start,
                    evidence,
                    "raised",
                )
            )
            patient.reported[rule] = (key, severity, alert)
        elif reported[1] != severity:
            assert at is not None
            out.append(
                Alert(
                    reported[2],
                    patient.id,
                    rule,
                    kind,
                    severity,
                    AlertState.ESCALATED,
                    at,
                    evidence,
                    "escalated",
                )
            )
            patient.reported[rule] = (key, severity, reported[2])

    # missing weight: the last reading is the history's last element
    def _missing_reading(
        self, patient: _NaivePatient, observation: Observation, out: list[Any]
    ) -> None:
        if patient.missing_open is not None and patient.history[WEIGHT][-1][0][1] == observation.id:
            out.append(
                Alert(
                    patient.missing_open,
                    patient.id,
                    "hf-weight-missing",
                    AlertKind.MISSING,
                    Severity.WARNING,
                    AlertState.RESOLVED,
                    observation.effective,
                    (observation.id,),
                    "resolved",
                )
            )
            patient.missing_open = None
        self._missing_check(patient, out)

    def _missing_check(self, patient: _NaivePatient, out: list[Any]) -> None:
        if patient.missing_open is not None or self.now_us is None:
            return
        history = patient.history[WEIGHT]
        gap = dt.timedelta(days=2)
        last_us, last_at = (
            (history[-1][0][0], history[-1][2]) if history else (patient.start_us, patient.start)
        )
        deadline = last_us + gap // _US
        if self.now_us > deadline:
            patient.missing_open = _alert_id(patient.id, "hf-weight-missing", deadline)
            evidence = (history[-1][0][1],) if history else ()
            out.append(
                Alert(
                    patient.missing_open,
                    patient.id,
                    "hf-weight-missing",
                    AlertKind.MISSING,
                    Severity.WARNING,
                    AlertState.RAISED,
                    last_at + gap,
                    evidence,
                    "raised",
                )
            )

    # the goal: the two latest evaluations, found by scanning the histories
    def _goal(self, patient: _NaivePatient, out: list[Any]) -> None:
        histories = [patient.history[code] for code, *_ in self.goal_bounds]
        keys = [k for history in histories for k, _v, _a in history]
        newest = max(keys)
        older = [k for k in keys if k < newest]
        second = max(older) if older else None
        now = [_as_of(h, newest) for h in histories]
        before = [_as_of(h, second) for h in histories] if second is not None else None
        bounds = [b[1:] for b in self.goal_bounds]
        met_now = all(r is not None and _meets(r[1], *b) for r, b in zip(now, bounds, strict=True))
        if met_now:
            met_before = before is not None and all(
                r is not None and _meets(r[1], *b) for r, b in zip(before, bounds, strict=True)
            )
            status = GoalAchievement.SUSTAINING if met_before else GoalAchievement.ACHIEVED
        elif before is None or None in now or None in before:
            status = GoalAchievement.IN_PROGRESS
        else:
            d_now = [_distance(r[1], *b) for r, b in zip(now, bounds, strict=True)]
            d_before = [_distance(r[1], *b) for r, b in zip(before, bounds, strict=True)]
            if any(a > b for a, b in zip(d_now, d_before, strict=True)):
                status = GoalAchievement.WORSENING
            elif any(a < b for a, b in zip(d_now, d_before, strict=True)):
                status = GoalAchievement.IMPROVING
            else:
                status = GoalAchievement.NO_CHANGE
        if status is not patient.goal:
            at = next(r[2] for r in now if r is not None and r[0] == newest)
            evidence = tuple(k[1] for k in sorted({r[0] for r in now if r is not None}))
            out.append(GoalStatusChange(patient.id, GOAL.id, status, patient.goal, at, evidence))
            patient.goal = status


def _bounds(target: Target) -> tuple[Any, bool, Any, bool]:
    unit = MEASURES[target.measured].unit
    low = None if target.low is None else target.low.value.to(unit).value
    high = None if target.high is None else target.high.value.to(unit).value
    return (
        low,
        target.low is None or target.low.inclusive,
        high,
        target.high is None or target.high.inclusive,
    )


def _meets(value: Decimal, low: Any, low_in: bool, high: Any, high_in: bool) -> bool:
    if low is not None and (value < low or (value == low and not low_in)):
        return False
    return not (high is not None and (value > high or (value == high and not high_in)))


def _distance(value: Decimal, low: Any, low_in: bool, high: Any, high_in: bool) -> Decimal:
    if _meets(value, low, low_in, high, high_in):
        return Decimal(0)
    if low is not None and value <= low:
        return Decimal(low - value)
    return Decimal(value - high)


def _as_of(history: list[Any], key: tuple[int, str]) -> Any:
    found = None
    for entry in history:  # a scan, as a naive implementation would
        if entry[0] <= key:
            found = entry
    return found


def _code_of(rule: str) -> str:
    for r in RULES:
        if r.id == rule:
            return r.target.measured if isinstance(r, ThresholdRule) else r.code
    raise KeyError(rule)


def naive_feed(
    monitor: NaiveMonitor, days: Sequence[tuple[DateTime, list[Observation]]]
) -> list[Any]:
    changes: list[Any] = []
    for end, batch in days:
        for observation in batch:
            changes += monitor.ingest(observation)
        changes += monitor.advance(FixedClock(end))
    return changes


# --- the repeated case --------------------------------------------------------------------------

REPEATED = list(Stream(REPEATED_PATIENTS, REPEATED_DAYS))
REPEATED_BATCH = sum(len(batch) for _end, batch in REPEATED)


def _summary(change: Any) -> tuple[Any, ...]:
    if isinstance(change, Alert):
        return (
            "alert",
            change.id,
            change.state,
            change.severity,
            epoch_us(change.at),
            change.evidence,
        )
    return ("goal", change.patient, change.status, epoch_us(change.at), change.evidence)


def stream_check() -> None:
    """Both sides report the same changes on in-order data, and end in the same state."""
    generated = list(Stream(40, 60, seed=7))
    # Deliver every reading in time order, before the advance that follows it, so that both
    # sides see the same order of change.
    flat = sorted(
        (o for _end, batch in generated for o in batch), key=lambda o: (epoch_us(o.effective), o.id)
    )
    ends = [end for end, _batch in generated]
    days: list[tuple[DateTime, list[Observation]]] = []
    cursor = 0
    for end in ends:
        batch = []
        while cursor < len(flat) and flat[cursor].effective < end:
            batch.append(flat[cursor])
            cursor += 1
        days.append((end, batch))
    ours = ours_feed(ours_monitor(40), days)
    naive = naive_feed(NaiveMonitor(40), days)
    assert [_summary(c) for c in ours] == [_summary(c) for c in naive]
    assert sum(isinstance(c, Alert) for c in ours) > 50, "the workload raises alerts"
    # With late readings, both end with the same open alerts.
    monitor, peer = ours_monitor(40), NaiveMonitor(40)
    late_days = list(Stream(40, 60, seed=7))
    ours_feed(monitor, late_days)
    naive_feed(peer, late_days)
    open_ours = sorted((i.alert, i.severity) for i in worklist(monitor))
    open_naive = sorted(
        (alert, severity)
        for p in peer.patients.values()
        for reported in p.reported.values()
        if reported is not None
        for _key, severity, alert in [reported]
    ) + sorted((p.missing_open, Severity.WARNING) for p in peer.patients.values() if p.missing_open)
    assert open_ours == sorted(open_naive)


CASES = [
    Case(
        "careplan-monitor-stream",
        lambda: ours_feed(ours_monitor(REPEATED_PATIENTS), REPEATED),
        BASELINE,
        lambda: naive_feed(NaiveMonitor(REPEATED_PATIENTS), REPEATED),
        REPEATED_BATCH,
        stream_check,
    ),
]


# --- the one-shot streams -----------------------------------------------------------------------


def _timed_stream(
    monitor: Any, stream: Stream, feed_day: Any
) -> tuple[int, float, list[tuple[int, float]]]:
    """Feed ``stream`` day by day; (observations, seconds, per-day (count, seconds))."""
    gc.collect()
    per_day: list[tuple[int, float]] = []
    total = 0
    for end, batch in stream:
        start = time.perf_counter()
        feed_day(monitor, [(end, batch)])
        per_day.append((len(batch), time.perf_counter() - start))
        total += len(batch)
    return total, sum(s for _n, s in per_day), per_day


def _deciles(per_day: list[tuple[int, float]]) -> list[float]:
    """Mean cost per observation (microseconds) of each tenth of the stream, by whole days."""
    total = sum(n for n, _s in per_day)
    sums = [[0, 0.0] for _ in range(10)]
    done = 0
    for n, seconds in per_day:
        tenth = sums[min(9, done * 10 // total)]
        tenth[0] += n
        tenth[1] += seconds
        done += n
    return [seconds / n * 1e6 if n else float("nan") for n, seconds in sums]


def _growth(per_day: list[tuple[int, float]]) -> str:
    """Cost per observation, last 10% / first 10% (and / second 10%, after the warm-up)."""
    tenths = _deciles(per_day)
    return (
        f"last 10% / first 10%: {tenths[-1] / tenths[0]:.2f}, "
        f"last 10% / second 10%: {tenths[-1] / tenths[1]:.2f}; "
        f"us per observation by tenth: {' '.join(f'{t:.1f}' for t in tenths)}"
    )


def stream_once(patients: int, days: int, naive_patients: int) -> Iterator[str]:
    """The slice beside the naive recompute, then the full stream: yield the report lines."""
    ours_n, ours_s, ours_days = _timed_stream(
        ours_monitor(naive_patients), Stream(naive_patients, days), ours_feed
    )
    peer_n, peer_s, peer_days = _timed_stream(
        NaiveMonitor(naive_patients), Stream(naive_patients, days), naive_feed
    )
    assert ours_n == peer_n
    name = f"careplan-stream-{naive_patients}x{days}"
    width = len(f"careplan-stream-{patients}x{days}-once")
    yield Result("careplans", name, ours_n / ours_s, BASELINE, peer_n / peer_s, ours_n).line(width)
    yield f"  ({ours_n:,} observations; caredomain {_growth(ours_days)})"
    yield f"  (naive {_growth(peer_days)})"
    if patients:
        wall = time.perf_counter()
        n, seconds, per_day = _timed_stream(
            ours_monitor(patients), Stream(patients, days), ours_feed
        )
        wall = time.perf_counter() - wall
        yield (
            f"{f'careplan-stream-{patients}x{days}-once':<{width}}  caredomain "
            f"{n / seconds:,.0f} obs/s  (naive recompute: not run at this size, see above)"
        )
        yield (
            f"  ({n:,} observations in {seconds:.1f} s of ingest+advance, {wall:.0f} s with "
            f"generation; {_growth(per_day)})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.careplans",
        description="The repeated monitor case, then the one-shot streams.",
    )
    parser.add_argument(
        "--skip-full", action="store_true", help="only the repeated case and the slice"
    )
    parser.add_argument("--patients", type=int, default=FULL_PATIENTS)
    parser.add_argument("--days", type=int, default=FULL_DAYS)
    parser.add_argument("--naive-patients", type=int, default=NAIVE_PATIENTS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    width = max(len(case.name) for case in CASES)
    for case in CASES:
        print(run_case("careplans", case, repeat=args.repeat).line(width), flush=True)
    patients = 0 if args.skip_full else args.patients
    for line in stream_once(patients, args.days, args.naive_patients):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
