"""The care-plan monitor: readings and events in, alert changes and goal statuses out.

`Monitor` is an engine in the manner of h11's ``Connection``: one mutable object fed pure
values. It never reads a clock, a file or a socket; time enters only through the
observations' effective times, the events' ``occurred_at`` and the `Clock` given to
`Monitor.advance` and `Monitor.snapshot`.

```python
monitor = Monitor()
monitor.watch(plan, rules)                 # one plan per patient
changes = monitor.ingest(observation)      # [Alert | GoalStatusChange, ...]
changes += monitor.ingest_event(ActivityCompleted(...))
changes += monitor.advance(clock)          # missing readings, overdue activities, due goals
monitor.snapshot(patient_id, clock)        # goal statuses, overdue activities, open alerts
worklist(monitor)                          # open alerts of every patient, most urgent first
```

Rules of this module:

1. **Cost.** An observation costs O(1) amortized however long the history: per code it
   touches, one step per threshold or trend rule on that code (a trend's window extreme is a
   monotonic deque), one update of each goal's two latest evaluations, one update of the
   last reading time for missing-reading rules and of the last completion for activities.
   Nothing rescans the history. A late reading costs O(readings in its code's buffer).
   `advance` pops a heap of deadlines: O(log n) per deadline passed, nothing for rules whose
   deadline is still ahead. Memory per series is bounded by the readings within
   ``horizon + longest trend window`` (at least 3); only the set of ingested observation ids
   (for duplicate detection) grows with the history.
2. **Alerts.** A sustained breach is one alert: ``raised`` at its first reading,
   ``escalated`` (thresholds only) when ``escalate_after`` consecutive readings breach,
   ``resolved`` at the first reading that clears it. Its id is ``stable_id(patient, rule id,
   episode start)`` (the first breaching reading's instant, or the deadline for missing and
   overdue alerts), so the same data gives the same ids. Evidence is the ids of the
   observations behind the change. Messages carry codes' names, numbers and rule figures,
   never patient data. A goal alert is open while the goal's status is in the rule's
   ``alert_on``.
3. **Time.** Trend windows and missing-reading gaps are elapsed time; activity periods of
   whole days, weeks, months or years count in the plan's timezone (a visit due "within 7
   days" of a 15:00 discharge is due at 15:00 local, across a DST change; "every 3 months"
   from January 31 is due April 30), hours count as elapsed time. A deadline is met at its
   exact instant: the alert is raised just after, stamped with the deadline.
4. **Late and out-of-order readings.** A reading at most ``horizon`` (default 7 days) older
   than the newest reading of its code is inserted in order and that code's readings after
   it are re-derived from the state stored before it; what was reported is then reconciled
   with the corrected state: an open alert whose episode moved or split is resolved and the
   right one raised, a past episode the late reading reveals is raised and resolved, an
   escalation that now happened is reported. A correction is stamped no earlier than the
   change it corrects. So, for such data, the open threshold, trend, missing and overdue
   alerts after any arrival order are those of the sorted order (a goal alert's id and
   ``since`` name the evaluation at which the monitor saw the status enter ``alert_on``, so
   they may differ). A reading older than that (precisely: at or before the newest reading
   already evicted from its code's buffer plus the longest trend window on the code) cannot
   raise, escalate or resolve threshold and trend alerts; it still counts for goal statuses,
   missing-reading rules and activity completion, which are exact whatever the order. Goal
   statuses and overdue activities in a `Snapshot` never depend on arrival order.
5. **Errors.** Everything is checked before anything changes: a rejected input leaves the
   monitor exactly as it was. Errors are `ValidationError` (not an `Observation`, a patient
   not watched, an activity not in the plan, a clock going backwards), `ConflictError` (an
   observation id ingested twice, a patient watched twice) or `RuleError` (a rule that does
   not fit the plan); none carries patient data.
"""

from __future__ import annotations

import datetime as _dt
import heapq
from collections.abc import Iterable
from decimal import Decimal
from typing import ClassVar, Final

import attrs
import pendulum
from pendulum import DateTime

from caredomain.careplans._series import (
    Emitted,
    Reading,
    Series,
    SeriesRule,
    ThresholdRuntime,
    TrendRuntime,
    alert_id,
    canonical,
    window_words,
)
from caredomain.careplans.model import (
    MEASURES,
    Activity,
    ActivityKind,
    ActivityStatus,
    CarePlan,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    Observation,
    Target,
)
from caredomain.careplans.rules import (
    SEVERITY_ORDER,
    Alert,
    AlertKind,
    AlertState,
    GoalRule,
    MissingRule,
    OverdueRule,
    Rule,
    Severity,
    ThresholdRule,
    TrendRule,
)
from caredomain.core.codes import LOINC
from caredomain.core.errors import ConflictError, RuleError, ValidationError
from caredomain.core.events import DomainEvent
from caredomain.core.identity import Reference
from caredomain.core.time import (
    Clock,
    check_aware,
    ensure_aware,
    epoch_us,
    instant_key,
    to_datetime,
)

__all__ = [
    "DEFAULT_HORIZON",
    "ActivityCompleted",
    "GoalStatus",
    "GoalStatusChange",
    "Monitor",
    "MonitorChange",
    "OverdueActivity",
    "Snapshot",
    "WorklistItem",
    "worklist",
]

DEFAULT_HORIZON: Final = _dt.timedelta(days=7)
"""How late a reading may arrive and still correct threshold and trend alerts exactly."""

_MICROSECOND: Final = _dt.timedelta(microseconds=1)
_MEAN_MONTH: Final = _dt.timedelta(days=365.2425 / 12)  # Gregorian mean month
_INACTIVE_ACTIVITY: Final = frozenset(
    {
        ActivityStatus.COMPLETED,
        ActivityStatus.CANCELLED,
        ActivityStatus.STOPPED,
        ActivityStatus.ON_HOLD,
        ActivityStatus.ENTERED_IN_ERROR,
    }
)
_UNEVALUATED_GOAL: Final = frozenset(
    {
        GoalLifecycle.CANCELLED,
        GoalLifecycle.COMPLETED,
        GoalLifecycle.ENTERED_IN_ERROR,
        GoalLifecycle.REJECTED,
    }
)
_MEASURED_ACTIVITIES: Final = frozenset({ActivityKind.MEASUREMENT, ActivityKind.LAB})
_UNIT_WORDS: Final = {"h": "hour", "d": "day", "wk": "week", "mo": "month", "a": "year"}
_UNIT_TIME: Final = {
    "h": _dt.timedelta(hours=1),
    "d": _dt.timedelta(days=1),
    "wk": _dt.timedelta(weeks=1),
}
_ONE_DAY: Final = _dt.timedelta(days=1)
_ZERO: Final = Decimal(0)


# --- values --------------------------------------------------------------------------------


def _ids(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ActivityCompleted(DomainEvent):
    """A planned activity was done: an appointment fulfilled, a lab resulted, a walker delivered.

    Feed it to `Monitor.ingest_event`. Measurement and lab activities are also completed by
    any observation of their LOINC code, without an event.

    Attributes:
        patient: The patient's id.
        activity: The care-plan activity's id.
        evidence: What shows it (the Appointment, the DiagnosticReport...), if known.
    """

    event_type: ClassVar[str] = "careplan.ActivityCompleted"

    patient: str
    activity: str
    evidence: Reference | None = None


@attrs.frozen
class GoalStatusChange:
    """A goal's FHIR ``achievementStatus`` changed.

    Attributes:
        patient: The patient's id.
        goal: The goal's id.
        status: The new status.
        previous: The status before (``None`` before the first evaluation).
        at: The latest evaluated reading's time, or the end of the due date when the goal
            became ``not-achieved`` by the passing of time.
        evidence: The observations evaluated, oldest first.
    """

    patient: str
    goal: str
    status: GoalAchievement
    previous: GoalAchievement | None
    at: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    evidence: tuple[str, ...] = attrs.field(default=(), converter=_ids)


MonitorChange = Alert | GoalStatusChange
"""What `Monitor.ingest`, `Monitor.ingest_event` and `Monitor.advance` return, in order."""


@attrs.frozen
class GoalStatus:
    """A goal's status in a `Snapshot`.

    Attributes:
        goal: The goal's id.
        status: Its FHIR ``achievementStatus`` (``None``: nothing measured and not yet due;
            for a goal whose lifecycle is cancelled, completed, rejected or entered in error,
            the plan's own value).
        at: The latest evaluated reading's time (or the due date's end for a
            ``not-achieved`` goal without a later reading).
        evidence: The observations evaluated, oldest first.
    """

    goal: str
    status: GoalAchievement | None
    at: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    evidence: tuple[str, ...] = attrs.field(default=(), converter=_ids)


@attrs.frozen
class OverdueActivity:
    """An activity past its due moment in a `Snapshot`.

    Attributes:
        activity: The activity's id.
        kind: What it is (appointment, lab...).
        due: When it was due (before any grace of its `OverdueRule`).
        last_done: Its last completion, if any.
    """

    activity: str
    kind: ActivityKind
    due: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    last_done: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )


@attrs.frozen
class WorklistItem:
    """One open alert, as a care team's worklist shows it.

    Attributes:
        patient: The patient's id (caredomain's, never an MRN).
        alert: The alert's id.
        rule: The rule's id.
        kind: The rule's kind.
        severity: Its current severity (after any escalation).
        since: When the alert was raised (the episode's start).
        message: What happened, without patient data (not compared).
    """

    patient: str
    alert: str
    rule: str
    kind: AlertKind
    severity: Severity
    since: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    message: str = attrs.field(default="", eq=False)

    @property
    def sort_key(self) -> tuple[int, int, str, str, str]:
        """The worklist order: most severe first, then oldest, then patient, rule, alert."""
        return (
            -SEVERITY_ORDER[self.severity],
            epoch_us(self.since),
            self.patient,
            self.rule,
            self.alert,
        )


def _goal_statuses(value: Iterable[GoalStatus]) -> tuple[GoalStatus, ...]:
    return tuple(value)


def _overdue(value: Iterable[OverdueActivity]) -> tuple[OverdueActivity, ...]:
    return tuple(value)


def _items(value: Iterable[WorklistItem]) -> tuple[WorklistItem, ...]:
    return tuple(value)


@attrs.frozen
class Snapshot:
    """One patient's care plan at a moment: goal statuses, overdue activities, open alerts.

    Attributes:
        patient: The patient's id.
        at: The moment (the clock's ``now``).
        goals: Every goal of the plan, in plan order.
        overdue: The activities past due at ``at``, in plan order.
        worklist: The patient's open alerts, most urgent first, as last reported by
            `Monitor.ingest`, `Monitor.ingest_event` and `Monitor.advance` (call ``advance``
            with the same clock first for time-based alerts to be current).
    """

    patient: str
    at: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    goals: tuple[GoalStatus, ...] = attrs.field(default=(), converter=_goal_statuses)
    overdue: tuple[OverdueActivity, ...] = attrs.field(default=(), converter=_overdue)
    worklist: tuple[WorklistItem, ...] = attrs.field(default=(), converter=_items)


# --- running state (mutable, private) --------------------------------------------------------

_Recent = Reading  # a goal's view of a reading: key, value (canonical unit), at


class _Open:
    """A reported open alert of a time-based or goal rule."""

    __slots__ = ("alert", "since", "since_us")

    def __init__(self, alert: str, since: DateTime, since_us: int) -> None:
        self.alert = alert
        self.since = since
        self.since_us = since_us


class _Timed:
    """Something with a deadline in the heap."""

    __slots__ = ("armed", "patient")

    def __init__(self, patient: _Patient) -> None:
        self.patient = patient
        self.armed: int | None = None

    def first_us(self) -> int | None:
        """The first instant at which the condition holds, if any is ahead."""
        raise NotImplementedError


class _MissingWatch(_Timed):
    """A `MissingRule`: no reading of ``code`` for more than ``max_gap``."""

    __slots__ = ("gap_us", "last_at", "last_id", "last_t", "open", "rule")

    def __init__(self, patient: _Patient, rule: MissingRule) -> None:
        super().__init__(patient)
        self.rule = rule
        self.gap_us = rule.max_gap // _MICROSECOND
        self.last_t: int | None = None
        self.last_id = ""
        self.last_at: DateTime | None = None
        self.open: _Open | None = None

    def deadline(self) -> tuple[int, DateTime]:
        """The last moment with an acceptable gap: the last reading (or plan start) + max_gap."""
        if self.last_t is None or self.last_at is None:
            return self.patient.start_us + self.gap_us, self.patient.start + self.rule.max_gap
        return self.last_t + self.gap_us, self.last_at + self.rule.max_gap

    def first_us(self) -> int | None:
        """One microsecond after the deadline: the gap is then longer than ``max_gap``."""
        last = self.last_t
        return (self.patient.start_us if last is None else last) + self.gap_us + 1


class _ActivityWatch:
    """A planned activity: when it is due, given its timing and last completion.

    Whole days, weeks, months and years count in the plan's timezone (a visit due "within 7
    days" of a 15:00 discharge is due at 15:00 local, whatever DST did meanwhile); hours
    count as elapsed time.
    """

    __slots__ = (
        "active",
        "activity",
        "cached",
        "days",
        "grace_us",
        "interval",
        "last_at",
        "last_t",
        "months",
        "once",
        "patient",
        "rules",
    )

    def __init__(self, patient: _Patient, activity: Activity) -> None:
        self.patient = patient
        self.activity = activity
        timing = activity.timing
        self.active = activity.status not in _INACTIVE_ACTIVITY
        self.once = timing.within is not None
        self.months: int | None = None
        self.days: int | None = None
        self.interval: _dt.timedelta | None = None
        if timing.within is not None:
            step = timing.within
        elif timing.period_unit in ("mo", "a"):
            months = timing.period * (12 if timing.period_unit == "a" else 1)
            if months % timing.frequency == 0:
                self.months = months // timing.frequency
            step = _MEAN_MONTH * months / timing.frequency
        else:
            step = _UNIT_TIME[timing.period_unit] * timing.period / timing.frequency
        if self.months is None:
            if step % _ONE_DAY:
                self.interval = step
            else:
                self.days = step // _ONE_DAY
        self.last_t: int | None = None
        self.last_at: DateTime | None = None
        self.rules: list[_OverdueWatch] = []
        self.grace_us = 0
        self.cached: tuple[int, DateTime] | None = None

    def due(self) -> tuple[int, DateTime] | None:
        """When it is (next) due, or ``None`` (done once, or not active)."""
        if not self.active or (self.once and self.last_t is not None):
            return None
        if self.cached is not None:
            return self.cached
        patient = self.patient
        anchor_t, anchor_at = patient.start_us, patient.start
        if self.last_t is not None and self.last_at is not None:
            anchor_t, anchor_at = self.last_t, self.last_at
        if self.interval is not None:
            self.cached = anchor_t + self.interval // _MICROSECOND, anchor_at + self.interval
        else:
            local = anchor_at.in_timezone(patient.zone)
            due_at = (
                local.add(months=self.months) if self.months else local.add(days=self.days or 0)
            )
            self.cached = epoch_us(due_at), due_at
        return self.cached

    def complete(self, t: int, at: DateTime) -> bool:
        """Record a completion at ``t``; whether it is the latest (so due moments moved)."""
        if self.last_t is not None and t <= self.last_t:
            return False
        self.last_t, self.last_at = t, at
        self.cached = None
        return True

    def words(self) -> str:
        """``appointment tcm-visit``."""
        return f"{self.activity.kind.value} activity {self.activity.id}"

    def expected_words(self) -> str:
        """``within 7 days`` or ``1 per 3 months``."""
        timing = self.activity.timing
        if timing.within is not None:
            return f"within {window_words(timing.within)}"
        unit = _UNIT_WORDS[timing.period_unit]
        period = f"{timing.period} {unit}s" if timing.period != 1 else unit
        return f"{timing.frequency} per {period}"


class _OverdueWatch(_Timed):
    """An `OverdueRule` on one activity."""

    __slots__ = ("activity", "grace_us", "open", "rule")

    def __init__(self, patient: _Patient, rule: OverdueRule, activity: _ActivityWatch) -> None:
        super().__init__(patient)
        self.rule = rule
        self.activity = activity
        self.grace_us = rule.grace // _MICROSECOND
        self.open: _Open | None = None

    def deadline(self) -> tuple[int, DateTime] | None:
        """The due moment plus the rule's grace."""
        due = self.activity.due()
        if due is None:
            return None
        return due[0] + self.grace_us, due[1] + self.rule.grace

    def first_us(self) -> int | None:
        """One microsecond after the deadline."""
        deadline = self.deadline()
        return None if deadline is None else deadline[0] + 1


class _Bounds:
    """A goal target in canonical units: met, and the distance to it."""

    __slots__ = ("high", "high_inclusive", "low", "low_inclusive")

    def __init__(self, target: Target) -> None:
        code = target.measured
        self.low = None if target.low is None else canonical(target.low.value, code)
        self.low_inclusive = target.low is None or target.low.inclusive
        self.high = None if target.high is None else canonical(target.high.value, code)
        self.high_inclusive = target.high is None or target.high.inclusive

    def met(self, value: Decimal) -> bool:
        """The same decision as `Target.met_by`, on a canonical value."""
        low, high = self.low, self.high
        if low is not None and (value < low or (value == low and not self.low_inclusive)):
            return False
        return not (
            high is not None and (value > high or (value == high and not self.high_inclusive))
        )

    def distance(self, value: Decimal) -> Decimal:
        """0 when met, else how far outside the nearest bound (canonical unit)."""
        if self.met(value):
            return Decimal(0)
        if self.low is not None and value <= self.low:
            return self.low - value
        assert self.high is not None
        return value - self.high


class _GoalAlert:
    """A `GoalRule`'s reported alert."""

    __slots__ = ("open", "rule")

    def __init__(self, rule: GoalRule) -> None:
        self.rule = rule
        self.open: _Open | None = None


class _GoalWatch(_Timed):
    """A goal's latest evaluation and reported status; armed at its due date's end."""

    __slots__ = (
        "alerts",
        "bounds",
        "due_end",
        "due_end_us",
        "goal",
        "points",
        "recents",
        "reported",
    )

    def __init__(self, patient: _Patient, goal: Goal, recents: list[list[_Recent]]) -> None:
        super().__init__(patient)
        self.goal = goal
        self.bounds = tuple(_Bounds(t) for t in goal.targets)
        self.recents = recents
        self.due_end: DateTime | None = None
        self.due_end_us: int | None = None
        if goal.due is not None:
            day = goal.due
            self.due_end = pendulum.datetime(day.year, day.month, day.day, tz=patient.zone)
            self.due_end = self.due_end.add(days=1)
            self.due_end_us = epoch_us(self.due_end)
        self.reported: GoalAchievement | None = None
        self.alerts: list[_GoalAlert] = []
        # The last two evaluations, oldest first: (key, latest reading of each target).
        self.points: list[_Point] = []

    def first_us(self) -> int | None:
        """The first instant after the due date, in the plan's timezone."""
        return self.due_end_us

    def observe(self, key: tuple[int, str], updates: list[tuple[int, _Recent]]) -> None:
        """Take the readings of one observation that are among their codes' two latest."""
        points = self.points
        if points and key <= points[-1].key:
            self._rebuild()  # a late reading: re-derive both evaluations from the recents
            return
        if len(points) == 2:  # recycle the older evaluation: no allocation per reading
            point = points.pop(0)
            point.copy(points[0], key)
        elif points:
            point = _Point(key, len(self.bounds))
            point.copy(points[0], key)
        else:
            point = _Point(key, len(self.bounds))
        bounds = self.bounds
        for index, reading in updates:
            point.set(index, reading, bounds[index])
        point.at = updates[0][1].at
        points.append(point)

    def _rebuild(self) -> None:
        recents = self.recents
        newest: tuple[int, str] | None = None
        for recent in recents:
            if recent and (newest is None or recent[-1].key > newest):
                newest = recent[-1].key
        points: list[_Point] = []
        if newest is not None:
            second: tuple[int, str] | None = None
            for recent in recents:
                for r in recent:
                    if r.key < newest and (second is None or r.key > second):
                        second = r.key
            for key in (second, newest):
                if key is not None:
                    point = _Point(key, len(self.bounds))
                    for index, (recent, bound) in enumerate(zip(recents, self.bounds, strict=True)):
                        reading = _value_at(recent, key)
                        if reading is not None:
                            point.set(index, reading, bound)
                            if reading.key == key:
                                point.at = reading.at
                    points.append(point)
        self.points = points

    def evaluate(self, tau_us: int | None) -> GoalAchievement | None:
        """The status as of ``tau_us`` (and never before the latest reading); see `Monitor`."""
        points = self.points
        due_end_us = self.due_end_us
        if not points:
            if due_end_us is not None and tau_us is not None and tau_us >= due_end_us:
                return GoalAchievement.NOT_ACHIEVED
            return None
        now = points[-1]
        before = points[0] if len(points) == 2 else None
        complete_now = not now.unknown
        complete_before = before is not None and not before.unknown
        if complete_now and False not in now.met:
            if before is not None and complete_before and False not in before.met:
                return GoalAchievement.SUSTAINING
            return GoalAchievement.ACHIEVED
        newest = now.key[0]
        if due_end_us is not None and max(newest, tau_us or newest) >= due_end_us:
            return GoalAchievement.NOT_ACHIEVED
        if before is None or not (complete_now and complete_before):
            return GoalAchievement.IN_PROGRESS
        closer = False
        for d_now, d_before in zip(now.distance, before.distance, strict=True):
            assert d_now is not None
            assert d_before is not None
            if d_now > d_before:
                return GoalAchievement.WORSENING
            if d_now < d_before:
                closer = True
        return GoalAchievement.IMPROVING if closer else GoalAchievement.NO_CHANGE

    def detail(self, status: GoalAchievement | None) -> tuple[DateTime | None, tuple[str, ...]]:
        """When ``status`` holds from, and the observations behind it (oldest first)."""
        if not self.points:
            return (self.due_end if status is GoalAchievement.NOT_ACHIEVED else None), ()
        point = self.points[-1]
        at = point.at
        keys = sorted({r.key for r in point.readings if r is not None})
        evidence = tuple(key[1] for key in keys)
        if status is GoalAchievement.NOT_ACHIEVED and self.due_end is not None:
            assert self.due_end_us is not None
            if self.due_end_us > point.key[0]:
                at = self.due_end
        return at, evidence


class _Point:
    """One evaluation of a goal: the latest reading of each target as of ``key``."""

    __slots__ = ("at", "distance", "key", "met", "readings", "unknown")

    def __init__(self, key: tuple[int, str], targets: int) -> None:
        self.key = key
        self.readings: list[_Recent | None] = [None] * targets
        self.met = [False] * targets
        self.distance: list[Decimal | None] = [None] * targets
        self.at: DateTime | None = None
        self.unknown = targets  # targets without a reading yet

    def copy(self, other: _Point, key: tuple[int, str]) -> None:
        """Become ``other``'s evaluation, re-keyed to ``key`` (in place)."""
        self.key = key
        self.readings[:] = other.readings
        self.met[:] = other.met
        self.distance[:] = other.distance
        self.unknown = other.unknown
        self.at = other.at

    def set(self, index: int, reading: _Recent, bound: _Bounds) -> None:
        if self.readings[index] is None:
            self.unknown -= 1
        self.readings[index] = reading
        value = reading.value
        met = self.met[index] = bound.met(value)
        self.distance[index] = _ZERO if met else bound.distance(value)


def _value_at(recent: list[_Recent], key: tuple[int, str]) -> _Recent | None:
    """The latest reading at or before ``key`` (``recent`` is sorted, at most 2 long)."""
    for r in reversed(recent):
        if r.key <= key:
            return r
    return None


def _push_recent(recent: list[_Recent], item: _Recent) -> bool:
    """Keep the two latest readings; whether ``item`` is one of them."""
    key = item.key
    if len(recent) == 2 and key < recent[0].key:
        return False
    if not recent or recent[-1].key < key:
        recent.append(item)
    else:
        recent.insert(0 if key < recent[0].key else 1, item)
    if len(recent) > 2:
        del recent[0]
    return True


class _Channel:
    """Everything that watches one code of one patient."""

    __slots__ = (
        "activities",
        "code",
        "goals",
        "missing",
        "needs_value",
        "recent",
        "series",
        "unit",
    )

    def __init__(self, code: str) -> None:
        self.code = code
        self.unit = MEASURES[code].unit
        self.needs_value = False
        self.series: Series | None = None
        self.recent: list[_Recent] | None = None
        self.goals: list[tuple[_GoalWatch, int]] = []
        self.missing: list[_MissingWatch] = []
        self.activities: list[_ActivityWatch] = []


class _Patient:
    """One watched patient's running state."""

    __slots__ = (
        "activities",
        "channels",
        "events",
        "goals",
        "id",
        "open",
        "plan",
        "seen",
        "start",
        "start_us",
        "timed",
        "zone",
    )

    def __init__(self, id: str, plan: CarePlan, start: DateTime) -> None:
        self.id = id
        self.plan = plan
        self.start = start
        zone = start.timezone
        assert zone is not None  # the start is aware
        self.zone = zone
        self.start_us = epoch_us(start)
        self.channels: dict[str, _Channel] = {}
        self.goals: list[_GoalWatch] = []
        self.activities: dict[str, _ActivityWatch] = {}
        self.timed: list[_Timed] = []
        # Ingested ids, as dicts of str -> None rather than sets: CPython's collector does
        # not track a dict of strings, so a long history does not slow every full collection.
        self.seen: dict[str, None] = {}
        self.events: dict[str, None] = {}
        self.open: dict[str, WorklistItem] = {}

    def channel(self, code: str) -> _Channel:
        found = self.channels.get(code)
        if found is None:
            found = self.channels[code] = _Channel(code)
        return found


# --- the engine ----------------------------------------------------------------------------


class Monitor:
    """Per-patient, per-series running state of care plans, fed observations and events.

    A mutable, sans-IO engine (like h11's ``Connection``): it holds state between calls but
    never reads a clock or a file; every method is deterministic in its inputs. Not
    thread-safe: feed one monitor from one thread. See the module documentation for the
    rules it keeps (cost, alerts, late data, errors).

    Goal ``achievementStatus`` is evaluated after each reading of a goal's codes, from the
    goal's latest evaluation *E(n)* (the latest reading of each target's code, as of the
    newest relevant observation) and the one before, *E(n-1)* (as of the observation before
    it, in time order):

    * ``achieved``: every target is met at *E(n)* and not at *E(n-1)* (or there is none);
    * ``sustaining``: every target is met at *E(n)* and at *E(n-1)*;
    * ``not-achieved``: not met, and the due date has passed (the day after it has begun in
      the plan's timezone);
    * ``in-progress``: not met, and *E(n-1)* does not exist or a target has no reading yet;
    * ``worsening``: not met, and some target's distance (how far outside its bound, in
      canonical units) grew since *E(n-1)*;
    * ``improving``: not met, no distance grew and one shrank;
    * ``no-change``: not met, and every distance is the same.

    Args:
        horizon: How much older than a code's newest reading a reading may be and still
            correct threshold and trend alerts exactly (see the module rules).
    """

    def __init__(self, *, horizon: _dt.timedelta = DEFAULT_HORIZON) -> None:
        if not isinstance(horizon, _dt.timedelta) or horizon < _dt.timedelta(0):
            raise ValidationError.at("Monitor.horizon", "expected a non-negative duration")
        self._horizon_us = horizon // _MICROSECOND
        self._patients: dict[str, _Patient] = {}
        self._heap: list[tuple[int, int, _Timed]] = []
        self._seq = 0
        self._now_us: int | None = None

    # --- set-up ------------------------------------------------------------------------

    @property
    def patients(self) -> tuple[str, ...]:
        """The ids of the watched patients, in the order they were watched."""
        return tuple(self._patients)

    def watch(
        self, plan: CarePlan, rules: Iterable[Rule], *, start: _dt.datetime | None = None
    ) -> None:
        """Start monitoring ``plan``'s patient with ``rules``.

        Args:
            plan: The patient's care plan (its goals and activities are tracked).
            rules: The monitoring rules (ids unique).
            start: When monitoring starts: the anchor of activities due "within" a time and
                of the first missing-reading gap. Defaults to the plan period's start.

        Raises:
            ValidationError: The plan has no patient id, or no start is known.
            ConflictError: The patient is already watched (one plan per patient).
            RuleError: Two rules share an id, or a rule names a goal, activity or code the
                plan or caredomain does not know.
        """
        if not isinstance(plan, CarePlan):
            raise ValidationError.at("watch(plan)", "expected a CarePlan")
        patient_id = plan.patient.id
        if patient_id is None:
            raise ValidationError.at("CarePlan.patient", "expected a reference with an id")
        if patient_id in self._patients:
            raise ConflictError("CarePlan", plan.id, "this plan's patient is already watched")
        if start is None:
            if plan.period is None:
                raise ValidationError.at("watch(start)", "expected a start or a plan period")
            begin = plan.period.start
        else:
            begin = ensure_aware(start, "watch(start)")
        patient = _Patient(patient_id, plan, begin)
        self._build(patient, list(rules))
        self._patients[patient_id] = patient
        for timed in patient.timed:
            first = timed.first_us()
            if first is not None:
                self._arm(timed, first)

    def _build(self, patient: _Patient, rules: list[Rule]) -> None:
        plan = patient.plan
        ids: set[str] = set()
        series_rules: dict[str, list[SeriesRule]] = {}
        goals = {g.id: g for g in plan.goals}
        watches: dict[str, _GoalWatch] = {}
        for goal in plan.goals:
            if goal.lifecycle in _UNEVALUATED_GOAL:
                continue
            recents = []
            for target in goal.targets:
                channel = patient.channel(target.measured)
                if channel.recent is None:
                    channel.recent = []
                recents.append(channel.recent)
            watch = _GoalWatch(patient, goal, recents)
            for index, target in enumerate(goal.targets):
                patient.channels[target.measured].goals.append((watch, index))
            watches[goal.id] = watch
            patient.goals.append(watch)
            patient.timed.append(watch)
        for activity in plan.activities:
            watch_a = _ActivityWatch(patient, activity)
            patient.activities[activity.id] = watch_a
            if activity.kind in _MEASURED_ACTIVITIES and activity.code is not None:
                for coding in activity.code:
                    if coding.system == LOINC and coding.code in MEASURES:
                        patient.channel(coding.code).activities.append(watch_a)
        for rule in rules:
            rule_id = getattr(rule, "id", None)
            if not isinstance(rule_id, str):
                raise RuleError("expected a caredomain.careplans rule", key=None)
            if rule_id in ids:
                raise RuleError("expected unique rule ids", key=rule_id)
            ids.add(rule_id)
            if isinstance(rule, ThresholdRule):
                if rule.escalate_after is not None and rule.escalate_after < 1:
                    raise RuleError("expected escalate_after of at least 1", key=rule_id)
                series_rules.setdefault(rule.target.measured, []).append(ThresholdRuntime(rule))
            elif isinstance(rule, TrendRule):
                series_rules.setdefault(rule.code, []).append(TrendRuntime(rule))
            elif isinstance(rule, MissingRule):
                if rule.code not in MEASURES:
                    raise RuleError("expected a LOINC code of careplans.MEASURES", key=rule_id)
                missing = _MissingWatch(patient, rule)
                patient.channel(rule.code).missing.append(missing)
                patient.timed.append(missing)
            elif isinstance(rule, OverdueRule):
                activity_watch = patient.activities.get(rule.activity)
                if activity_watch is None:
                    raise RuleError("expected the id of an activity of the plan", key=rule_id)
                overdue = _OverdueWatch(patient, rule, activity_watch)
                activity_watch.rules.append(overdue)
                patient.timed.append(overdue)
            elif isinstance(rule, GoalRule):
                if rule.goal not in goals:
                    raise RuleError("expected the id of a goal of the plan", key=rule_id)
                goal_watch = watches.get(rule.goal)
                if goal_watch is not None:
                    goal_watch.alerts.append(_GoalAlert(rule))
            else:
                raise RuleError("expected a caredomain.careplans rule", key=rule_id)
        for activity_watch in patient.activities.values():
            if activity_watch.rules:
                activity_watch.grace_us = min(r.grace_us for r in activity_watch.rules)
        for code, runtimes in series_rules.items():
            patient.channel(code).series = Series(runtimes, self._horizon_us)
        for channel in patient.channels.values():
            channel.needs_value = channel.series is not None or channel.recent is not None

    # --- inputs --------------------------------------------------------------------------

    def ingest(self, observation: Observation) -> list[MonitorChange]:
        """Take one reading; return the alert and goal-status changes it causes, in order.

        Raises:
            ValidationError: Not an `Observation`, or its patient is not watched.
            ConflictError: An observation with this id was already ingested for the patient.
        """
        if not isinstance(observation, Observation):
            raise ValidationError.at("ingest(observation)", "expected an Observation")
        patient = self._patients.get(observation.patient)
        if patient is None:
            raise ValidationError.at(
                "Observation.patient", "expected the id of a patient this monitor watches"
            )
        oid = observation.id
        if oid in patient.seen:
            raise ConflictError(
                "Observation", oid, "an observation with this id was already ingested"
            )
        channels = patient.channels
        hits: list[tuple[_Channel, Decimal | None]] = []
        own = channels.get(observation.code)
        if own is not None:
            single = observation.value
            if single is not None and own.needs_value:
                amount = single.value if single.unit == own.unit else canonical(single, own.code)
                hits.append((own, amount))
            else:
                hits.append((own, None))
        for component in observation.components:
            channel = channels.get(component.code)
            if channel is not None:
                if channel.needs_value:
                    value = component.value
                    if value.unit == channel.unit:
                        hits.append((channel, value.value))
                    else:
                        hits.append((channel, canonical(value, channel.code)))
                else:
                    hits.append((channel, None))
        patient.seen[oid] = None
        out: list[MonitorChange] = []
        if not hits:
            return out
        at = observation.effective
        t = epoch_us(at)
        key = (t, oid)
        touched: dict[_GoalWatch, list[tuple[int, _Recent]]] | None = None
        alerts: list[Emitted] = []
        for channel, reading_value in hits:
            if channel.missing:
                for missing in channel.missing:
                    self._missing_reading(missing, t, oid, at, out)
            if channel.activities:
                for activity in channel.activities:
                    self._complete(activity, t, at, (oid,), out)
            if reading_value is None:
                continue
            item = Reading(key, reading_value, at)
            series = channel.series
            if series is not None:
                series.add(patient.id, item, alerts)
                if alerts:
                    self._record(patient, alerts, out)
                    alerts = []
            recent = channel.recent
            if recent is not None and _push_recent(recent, item):
                if touched is None:
                    touched = {}
                for goal, index in channel.goals:
                    touched.setdefault(goal, []).append((index, item))
        if touched is not None:
            for goal, updates in touched.items():
                goal.observe(key, updates)
                self._update_goal(goal, self._now_us, out)
        return out

    def ingest_event(self, event: ActivityCompleted) -> list[MonitorChange]:
        """Take an activity completion; return the alert changes it causes.

        An event id already ingested is a no-op (an empty list), as replaying events is.

        Raises:
            ValidationError: Not an `ActivityCompleted`, its patient is not watched, or its
                activity is not in the patient's plan.
        """
        if not isinstance(event, ActivityCompleted):
            raise ValidationError.at("ingest_event(event)", "expected an ActivityCompleted")
        patient = self._patients.get(event.patient)
        if patient is None:
            raise ValidationError.at(
                "ActivityCompleted.patient", "expected the id of a patient this monitor watches"
            )
        activity = patient.activities.get(event.activity)
        if activity is None:
            raise ValidationError.at(
                "ActivityCompleted.activity", "expected the id of an activity of the plan"
            )
        out: list[MonitorChange] = []
        if event.event_id in patient.events:
            return out
        patient.events[event.event_id] = None
        self._complete(activity, epoch_us(event.occurred_at), event.occurred_at, (), out)
        return out

    def advance(self, clock: Clock) -> list[MonitorChange]:
        """Move time to ``clock.now()``; return the time-based changes, oldest first.

        Raises missing-reading and overdue-activity alerts whose deadline has passed (each
        stamped at its deadline) and makes goals past their due date ``not-achieved``.

        Raises:
            ValidationError: ``now`` is before the previous ``advance``.
        """
        now = ensure_aware(clock.now(), "advance(clock.now())")
        now_us = epoch_us(now)
        if self._now_us is not None and now_us < self._now_us:
            raise ValidationError.at(
                "advance(clock)", "expected a time not before the previous advance"
            )
        self._now_us = now_us
        out: list[MonitorChange] = []
        heap = self._heap
        while heap and heap[0][0] <= now_us:
            _first, _seq, timed = heapq.heappop(heap)
            timed.armed = None
            if isinstance(timed, _GoalWatch):
                self._update_goal(timed, now_us, out)
            else:
                self._check(timed, now_us, out)
        return out

    # --- outputs -------------------------------------------------------------------------

    def snapshot(self, patient: str, clock: Clock) -> Snapshot:
        """``patient``'s goal statuses, overdue activities and open alerts at ``clock.now()``.

        Goal statuses and overdue activities are computed for ``now``, whatever the
        arrival order of the data; the open alerts are those reported so far.

        Raises:
            ValidationError: The patient is not watched.
        """
        state = self._patients.get(patient) if isinstance(patient, str) else None
        if state is None:
            raise ValidationError.at(
                "snapshot(patient)", "expected the id of a patient this monitor watches"
            )
        now = ensure_aware(clock.now(), "snapshot(clock.now())")
        now_us = epoch_us(now)
        goals: list[GoalStatus] = []
        watched = {w.goal.id: w for w in state.goals}
        for goal in state.plan.goals:
            watch = watched.get(goal.id)
            if watch is None:
                goals.append(GoalStatus(goal.id, goal.achievement))
            else:
                status = watch.evaluate(now_us)
                at, evidence = watch.detail(status)
                goals.append(GoalStatus(goal.id, status, at, evidence))
        overdue: list[OverdueActivity] = []
        for activity in state.activities.values():
            due = activity.due()
            if due is not None and now_us > due[0] + activity.grace_us:
                overdue.append(
                    OverdueActivity(
                        activity.activity.id, activity.activity.kind, due[1], activity.last_at
                    )
                )
        items = sorted(state.open.values(), key=lambda item: item.sort_key)
        return Snapshot(state.id, now, goals, overdue, items)

    def snapshots(self, clock: Clock) -> list[Snapshot]:
        """Every watched patient's `Snapshot`, in the order they were watched."""
        return [self.snapshot(patient, clock) for patient in self._patients]

    # --- internals -----------------------------------------------------------------------

    def _arm(self, timed: _Timed, first: int) -> None:
        if timed.armed is None:
            timed.armed = first
            self._seq += 1
            heapq.heappush(self._heap, (first, self._seq, timed))

    def _record(self, patient: _Patient, alerts: list[Emitted], out: list[MonitorChange]) -> None:
        """Keep the worklist in step with each alert change, and report it."""
        for alert, since in alerts:
            if alert.state is AlertState.RESOLVED:
                patient.open.pop(alert.id, None)
            elif alert.state is AlertState.RAISED:
                patient.open[alert.id] = WorklistItem(
                    patient.id,
                    alert.id,
                    alert.rule,
                    alert.kind,
                    alert.severity,
                    since,
                    alert.message,
                )
            else:
                item = patient.open.get(alert.id)
                if item is not None:
                    patient.open[alert.id] = attrs.evolve(
                        item, severity=alert.severity, message=alert.message
                    )
            out.append(alert)

    def _check(self, timed: _Timed, now_us: int | None, out: list[MonitorChange]) -> None:
        """Raise a missing or overdue alert whose deadline is behind ``now``; else re-arm."""
        assert isinstance(timed, _MissingWatch | _OverdueWatch)
        if timed.open is not None:
            return
        first = timed.first_us()
        if first is None:
            return
        if now_us is None or first > now_us:
            self._arm(timed, first)
            return
        patient = timed.patient
        deadline = timed.deadline()
        assert deadline is not None
        due_us, due_at = deadline
        if isinstance(timed, _MissingWatch):
            rule_id, kind, severity = timed.rule.id, AlertKind.MISSING, timed.rule.severity
            evidence = (timed.last_id,) if timed.last_t is not None else ()
            message = (
                f"no {MEASURES[timed.rule.code].name} reading for more than "
                f"{window_words(timed.rule.max_gap)}"
            )
        else:
            rule_id, kind, severity = timed.rule.id, AlertKind.OVERDUE, timed.rule.severity
            evidence = ()
            message = (
                f"{timed.activity.words()} overdue: expected {timed.activity.expected_words()}"
            )
        identifier = alert_id(patient.id, rule_id, due_us)
        timed.open = _Open(identifier, due_at, due_us)
        alert = Alert(
            identifier,
            patient.id,
            rule_id,
            kind,
            severity,
            AlertState.RAISED,
            due_at,
            evidence,
            message,
        )
        self._record(patient, [(alert, alert.at)], out)

    def _resolve_timed(
        self,
        timed: _MissingWatch | _OverdueWatch,
        at: DateTime,
        t: int,
        evidence: tuple[str, ...],
        message: str,
        out: list[MonitorChange],
    ) -> None:
        opened = timed.open
        assert opened is not None
        if t < opened.since_us:
            at = opened.since
        rule = timed.rule
        kind = AlertKind.MISSING if isinstance(timed, _MissingWatch) else AlertKind.OVERDUE
        alert = Alert(
            opened.alert,
            timed.patient.id,
            rule.id,
            kind,
            rule.severity,
            AlertState.RESOLVED,
            at,
            evidence,
            message,
        )
        timed.open = None
        self._record(timed.patient, [(alert, opened.since)], out)

    def _missing_reading(
        self, missing: _MissingWatch, t: int, oid: str, at: DateTime, out: list[MonitorChange]
    ) -> None:
        last = missing.last_t
        if last is not None and (t < last or (t == last and oid <= missing.last_id)):
            return
        missing.last_t, missing.last_id, missing.last_at = t, oid, at
        if missing.open is not None:
            words = f"{MEASURES[missing.rule.code].name} reading received"
            self._resolve_timed(missing, at, t, (oid,), words, out)
        elif missing.armed is not None:
            return  # the armed deadline is earlier; it re-arms itself when it comes
        self._check(missing, self._now_us, out)

    def _complete(
        self,
        activity: _ActivityWatch,
        t: int,
        at: DateTime,
        evidence: tuple[str, ...],
        out: list[MonitorChange],
    ) -> None:
        if not activity.complete(t, at):
            return
        for overdue in activity.rules:
            if overdue.open is not None:
                words = f"{activity.words()} done"
                self._resolve_timed(overdue, at, t, evidence, words, out)
            self._check(overdue, self._now_us, out)

    def _update_goal(self, goal: _GoalWatch, tau_us: int | None, out: list[MonitorChange]) -> None:
        status = goal.evaluate(tau_us)
        if status is None or status is goal.reported:
            return
        at, evidence = goal.detail(status)
        assert at is not None
        patient = goal.patient
        change = GoalStatusChange(patient.id, goal.goal.id, status, goal.reported, at, evidence)
        goal.reported = status
        out.append(change)
        at_us = epoch_us(at)
        for tracker in goal.alerts:
            rule = tracker.rule
            inside = status in rule.alert_on
            if inside and tracker.open is None:
                identifier = alert_id(patient.id, rule.id, at_us)
                tracker.open = _Open(identifier, at, at_us)
                alert = Alert(
                    identifier,
                    patient.id,
                    rule.id,
                    AlertKind.GOAL,
                    rule.severity,
                    AlertState.RAISED,
                    at,
                    evidence,
                    f"goal {goal.goal.id} is {status.value}",
                )
                self._record(patient, [(alert, alert.at)], out)
            elif not inside and tracker.open is not None:
                opened = tracker.open
                when = at if at_us >= opened.since_us else opened.since
                alert = Alert(
                    opened.alert,
                    patient.id,
                    rule.id,
                    AlertKind.GOAL,
                    rule.severity,
                    AlertState.RESOLVED,
                    when,
                    evidence,
                    f"goal {goal.goal.id} now {status.value}",
                )
                tracker.open = None
                self._record(patient, [(alert, alert.at)], out)


def worklist(source: Monitor | Iterable[Snapshot]) -> list[WorklistItem]:
    """Open alerts across patients: most severe first, then oldest (``since``) first.

    Ties are broken by patient id, rule id and alert id, so the order is total.

    Args:
        source: A monitor (its alerts as last reported) or snapshots of several patients.
    """
    if isinstance(source, Monitor):
        items = [item for patient in source._patients.values() for item in patient.open.values()]
    else:
        items = [item for snapshot in source for item in snapshot.worklist]
    return sorted(items, key=lambda item: item.sort_key)
