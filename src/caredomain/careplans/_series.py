"""Per-series running state of the care-plan monitor: threshold and trend rules (private).

Rules of this module (everything that decides a threshold or trend alert lives here):

1. A *series* is one patient's readings of one code (a component's code, for a panel), in
   the code's canonical unit (`MEASURES`). A reading is keyed by ``(epoch microseconds,
   observation id)``, so readings at the same instant order the same way whatever the
   arrival order.
2. A series keeps a bounded, time-ordered buffer: every reading within ``horizon + longest
   trend window`` of its newest reading, and at least `MIN_KEPT` readings, each with the
   rule states after it. Older readings are summarized by the states after the newest
   evicted one (``Series.base``); nothing else about them is kept.
3. A reading newer than the newest is one step per rule: O(1) for a threshold, O(1)
   amortized for a trend (its window minimum, or maximum for a fall, is a monotonic deque).
4. A late reading is inserted in order and the readings after it are re-derived from the
   states stored before it: O(readings in the buffer), never O(history). A reading at or
   before ``newest evicted + longest trend window`` cannot be placed exactly (the window
   it would need is gone) and is refused: `Series.add` returns ``False``.
5. What was reported is remembered per rule (the open episode and the recently closed
   ones), and every derivation is reconciled against it: an alert change is reported once,
   and a correction is reported as the change that makes the reported state right.
"""

from __future__ import annotations

import bisect
import datetime as _dt
from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from typing import Final, NamedTuple

from pendulum import DateTime

from caredomain.careplans.model import MEASURES, Target
from caredomain.careplans.rules import (
    Alert,
    AlertKind,
    AlertState,
    Severity,
    ThresholdRule,
    TrendRule,
)
from caredomain.core.identity import stable_id
from caredomain.core.quantities import Quantity, convert

MIN_KEPT: Final = 3
"""Readings a series always keeps, however old: late readings of sparse series (an A1C every
3 months) stay placeable."""

_EPOCH: Final = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)
_TENTH: Final = Decimal("0.1")

Key = tuple[int, str]
"""A reading's order: epoch microseconds, then observation id."""

Emitted = tuple[Alert, DateTime]
"""An alert change and the start of its episode (what a worklist shows as "since")."""


# --- words (messages never carry patient data; numbers of readings are fine) -----------


def number(value: Decimal) -> str:
    """``value`` for a message: at most one decimal place, no exponent (``2.4``, ``140``)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -1:
        value = value.quantize(_TENTH)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "-0.0") else text


def window_words(window: _dt.timedelta) -> str:
    """A duration in words: ``1 day``, ``7 days``, ``12 hours``, ``90 minutes``."""
    seconds = int(window.total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{window.total_seconds()} seconds"


def target_words(target: Target) -> str:
    """A target in words: ``< 140 mm[Hg]``, ``>= 70 mg/dL``, ``70-80 kg``."""
    low, high = target.low, target.high
    if low is not None and high is not None:
        return f"{number(low.value.value)}-{number(high.value.value)} {high.value.unit}"
    if high is not None:
        op = "<=" if high.inclusive else "<"
        return f"{op} {number(high.value.value)} {high.value.unit}"
    assert low is not None  # a Target has at least one bound
    op = ">=" if low.inclusive else ">"
    return f"{op} {number(low.value.value)} {low.value.unit}"


def utc_text(us: int) -> str:
    """An instant (epoch microseconds) as RFC 3339 in UTC: the id part of an episode start."""
    return (_EPOCH + _dt.timedelta(microseconds=us)).isoformat()


def alert_id(patient: str, rule: str, start_us: int) -> str:
    """``stable_id(patient, rule id, episode start)``: the same episode, the same id."""
    return stable_id(patient, rule, utc_text(start_us))


def canonical(quantity: Quantity, code: str) -> Decimal:
    """``quantity`` in the canonical unit of ``code``, exactly as `Target.met_by` converts."""
    measure = MEASURES[code]
    if quantity.unit == measure.unit:
        return quantity.value
    return convert(quantity.value, quantity.unit, measure.unit, analyte=measure.analyte)


def difference(value: Decimal, from_unit: str, to_unit: str, analyte: str | None) -> Decimal:
    """A *difference* converted between units (no affine offset: 1 Cel of change is 1.8 [degF])."""
    if from_unit == to_unit:
        return value
    zero = convert(Decimal(0), from_unit, to_unit, analyte=analyte)
    return convert(value, from_unit, to_unit, analyte=analyte) - zero


# --- readings and states -------------------------------------------------------------------


class Reading:
    """One reading of a series, with the rule states after it (mutable only while replayed).

    ``key`` is ``(t, id)``, shared by the readings of one observation.
    """

    __slots__ = ("at", "id", "key", "states", "t", "value")

    def __init__(self, key: Key, value: Decimal, at: DateTime) -> None:
        self.key = key
        self.t, self.id = key
        self.value = value
        self.at = at
        self.states: tuple[State, ...] = ()


def _key(reading: Reading) -> Key:
    return reading.key


class Breach(NamedTuple):
    """A threshold episode in progress, after some reading."""

    key: Key
    start: DateTime
    readings: int
    severity: Severity
    evidence: tuple[str, ...]


class Rise(NamedTuple):
    """A trend episode in progress, after some reading."""

    key: Key
    start: DateTime
    severity: Severity
    evidence: tuple[str, ...]
    change: Decimal


State = Breach | Rise | None


class Step(NamedTuple):
    """One alert change of a derived timeline, before reconciliation with what was reported."""

    key: Key
    start: DateTime
    state: AlertState
    severity: Severity
    at: DateTime
    at_us: int
    evidence: tuple[str, ...]
    message: str


class Reported:
    """The open episode of a rule as last reported."""

    __slots__ = ("alert", "key", "last_at", "last_us", "severity", "since")

    def __init__(self, alert: str, key: Key, since: DateTime, severity: Severity) -> None:
        self.alert = alert
        self.key = key
        self.since = since
        self.severity = severity
        self.last_us = key[0]
        self.last_at = since


# --- rules ---------------------------------------------------------------------------------


class SeriesRule:
    """A threshold or trend rule bound to one patient's series, with its reported state."""

    __slots__ = ("closed", "name", "open", "rule_id", "window_us")

    kind: AlertKind

    def __init__(self, rule_id: str, code: str) -> None:
        self.rule_id = rule_id
        self.name = MEASURES[code].name
        self.window_us = 0
        self.open: Reported | None = None
        self.closed: dict[Key, tuple[int, DateTime]] = {}  # episode -> when it was resolved

    def step(self, before: State, reading: Reading) -> State:
        """The rule's state after ``reading``, given the state before it."""
        raise NotImplementedError

    def diff(self, before: State, after: State, reading: Reading) -> list[Step]:
        """The alert changes between two consecutive states."""
        raise NotImplementedError

    def rewind(self, entries: Sequence[Reading], head: int, index: int) -> None:
        """Prepare to re-derive from ``entries[index]`` (a trend rebuilds its window)."""

    def resolved_words(self) -> str:
        """The message of a resolution."""
        raise NotImplementedError

    def resolved(self, before: Breach | Rise, reading: Reading) -> Step:
        """The step that resolves the open alert ``before`` at ``reading``."""
        return Step(
            before.key,
            before.start,
            AlertState.RESOLVED,
            before.severity,
            reading.at,
            reading.t,
            (reading.id,),
            self.resolved_words(),
        )

    def raised_words(self) -> str:
        """The message of a raise that does not come with its first reading (a re-opening)."""
        raise NotImplementedError

    def prune(self, before_us: int) -> None:
        """Forget closed episodes that ended before ``before_us`` (no replay reaches them)."""
        self.closed = {k: end for k, end in self.closed.items() if end[0] >= before_us}

    def reconcile(
        self,
        patient: str,
        prefix: State,
        steps: list[Step],
        final: State,
        cause: Reading,
        out: list[Emitted],
    ) -> None:
        """Report the changes of a derived timeline that were not reported yet.

        ``prefix`` is the state before the first re-derived reading, ``steps`` the timeline's
        changes in order, ``final`` the state after the newest reading, ``cause`` the reading
        that triggered the derivation. A reported open episode that the timeline no longer
        has (a late reading moved its start or split it) is resolved first; a past episode
        the timeline reveals is raised and resolved; episodes already closed are left alone.
        """
        reported = self.open
        if (
            reported is not None
            and (prefix is None or prefix.key != reported.key)
            and all(s.key != reported.key for s in steps)
        ):
            self._resolve(patient, reported, cause.at, cause.t, (cause.id,), None, out)
            reported = None
        episodes: dict[Key, Reported] = {} if reported is None else {reported.key: reported}
        frontier = None if final is None else final.key
        for s in steps:
            if s.key in self.closed:
                if s.key != frontier:
                    continue  # already reported, raise to resolution
                # An episode retracted by an earlier correction is back (a later late
                # reading split the run that had absorbed it): report it open again.
                del self.closed[s.key]
            episode = episodes.get(s.key)
            if episode is None:
                if s.state is AlertState.RESOLVED:
                    continue  # an episode never reported: nothing to resolve
                episode = Reported(
                    alert_id(patient, self.rule_id, s.key[0]), s.key, s.start, s.severity
                )
                episode.last_at, episode.last_us = s.at, s.at_us
                episodes[s.key] = episode
                out.append(
                    (
                        self._alert(
                            patient, episode, AlertState.RAISED, s.at, s.evidence, s.message
                        ),
                        episode.since,
                    )
                )
            elif s.state is AlertState.RESOLVED:
                self._resolve(patient, episode, s.at, s.at_us, s.evidence, s.message, out)
                del episodes[s.key]
            elif s.state is AlertState.ESCALATED and s.severity != episode.severity:
                at, at_us = _later(s.at, s.at_us, episode)
                episode.severity, episode.last_at, episode.last_us = s.severity, at, at_us
                alert = self._alert(patient, episode, s.state, at, s.evidence, s.message)
                out.append((alert, episode.since))
        self.open = None
        for key, episode in episodes.items():
            if key == frontier:
                self.open = episode
            else:  # defensive: only the newest reading's episode can still be open
                self._resolve(patient, episode, cause.at, cause.t, (cause.id,), None, out)
        if final is not None and self.open is None:
            # The newest reading's episode was resolved by an earlier derivation (a reading
            # then missing from its window) and a late reading re-opens it: raise it again,
            # under the same id, at its current severity.
            at, at_us = cause.at, cause.t
            ended = self.closed.pop(final.key, None)
            if ended is not None and ended[0] > at_us:
                at_us, at = ended
            episode = Reported(
                alert_id(patient, self.rule_id, final.key[0]),
                final.key,
                final.start,
                final.severity,
            )
            episode.last_at, episode.last_us = at, at_us
            self.open = episode
            alert = self._alert(
                patient, episode, AlertState.RAISED, at, final.evidence, self.raised_words()
            )
            out.append((alert, episode.since))

    def _resolve(
        self,
        patient: str,
        episode: Reported,
        at: DateTime,
        at_us: int,
        evidence: tuple[str, ...],
        message: str | None,
        out: list[Emitted],
    ) -> None:
        at, at_us = _later(at, at_us, episode)
        alert = self._alert(patient, episode, AlertState.RESOLVED, at, evidence, message)
        out.append((alert, episode.since))
        self.closed[episode.key] = (at_us, at)
        if self.open is episode:
            self.open = None

    def _alert(
        self,
        patient: str,
        reported: Reported,
        state: AlertState,
        at: DateTime,
        evidence: tuple[str, ...],
        message: str | None = None,
    ) -> Alert:
        return Alert(
            id=reported.alert,
            patient=patient,
            rule=self.rule_id,
            kind=self.kind,
            severity=reported.severity,
            state=state,
            at=at,
            evidence=evidence,
            message=self.resolved_words() if message is None else message,
        )


def _later(at: DateTime, at_us: int, reported: Reported) -> tuple[DateTime, int]:
    """A change is stamped no earlier than the last change of the episode it closes."""
    if at_us >= reported.last_us:
        return at, at_us
    return reported.last_at, reported.last_us


class ThresholdRuntime(SeriesRule):
    """A `ThresholdRule` on one series: breach = the reading does not meet the target."""

    __slots__ = (
        "escalate_after",
        "escalate_to",
        "high",
        "high_inclusive",
        "low",
        "low_inclusive",
        "severity",
        "target_text",
        "unit",
    )

    kind = AlertKind.THRESHOLD

    def __init__(self, rule: ThresholdRule) -> None:
        target = rule.target
        super().__init__(rule.id, target.measured)
        self.unit = MEASURES[target.measured].unit
        self.low = None if target.low is None else canonical(target.low.value, target.measured)
        self.low_inclusive = target.low is None or target.low.inclusive
        self.high = None if target.high is None else canonical(target.high.value, target.measured)
        self.high_inclusive = target.high is None or target.high.inclusive
        self.severity = rule.severity
        self.escalate_after = rule.escalate_after
        self.escalate_to = rule.escalate_to
        self.target_text = target_words(target)

    def step(self, before: State, reading: Reading) -> State:
        """Count consecutive breaching readings; ``None`` when the reading meets the target."""
        value = reading.value
        low, high = self.low, self.high
        if not (
            (low is not None and (value < low or (value == low and not self.low_inclusive)))
            or (high is not None and (value > high or (value == high and not self.high_inclusive)))
        ):
            return None
        after = self.escalate_after
        if not isinstance(before, Breach):
            severity = self.escalate_to if after is not None and after <= 1 else self.severity
            return Breach((reading.t, reading.id), reading.at, 1, severity, (reading.id,))
        count = before.readings + 1
        if after is not None and count <= after:
            evidence = (*before.evidence, reading.id)
            severity = self.escalate_to if count == after else before.severity
        else:
            evidence, severity = before.evidence, before.severity
        return Breach(before.key, before.start, count, severity, evidence)

    def diff(self, before: State, after: State, reading: Reading) -> list[Step]:
        """Raised on the first breach, escalated when the count reaches ``escalate_after``."""
        if after is None:
            return [] if before is None else [self.resolved(before, reading)]
        assert isinstance(after, Breach)
        if before is None:
            message = (
                f"{self.name} {number(reading.value)} {self.unit} outside target {self.target_text}"
            )
            return [
                Step(
                    after.key,
                    after.start,
                    AlertState.RAISED,
                    after.severity,
                    reading.at,
                    reading.t,
                    after.evidence,
                    message,
                )
            ]
        if after.severity != before.severity:
            message = (
                f"{self.name} outside target {self.target_text} "
                f"for {after.readings} consecutive readings"
            )
            return [
                Step(
                    after.key,
                    after.start,
                    AlertState.ESCALATED,
                    after.severity,
                    reading.at,
                    reading.t,
                    after.evidence,
                    message,
                )
            ]
        return []

    def resolved_words(self) -> str:
        """``systolic blood pressure back within target < 140 mm[Hg]``."""
        return f"{self.name} back within target {self.target_text}"

    def raised_words(self) -> str:
        """``systolic blood pressure outside target < 140 mm[Hg]``."""
        return f"{self.name} outside target {self.target_text}"


class TrendRuntime(SeriesRule):
    """A `TrendRule` on one series: breach = a change of at least ``change`` in the window.

    For a rise, the change is the new reading minus the window's lowest; for a fall, the
    window's highest minus the new reading. The window holds the readings ordered before
    the new one whose time is within ``window`` of it, inclusive: a reading exactly 24
    hours earlier is inside a 1-day window.
    """

    __slots__ = ("change", "change_text", "deque", "rise", "rule", "severity", "unit")

    kind = AlertKind.TREND

    def __init__(self, rule: TrendRule) -> None:
        super().__init__(rule.id, rule.code)
        measure = MEASURES[rule.code]
        self.rule = rule
        self.unit = measure.unit
        self.change = difference(rule.change.value, rule.change.unit, measure.unit, measure.analyte)
        self.window_us = rule.window // _dt.timedelta(microseconds=1)
        self.rise = rule.direction == "rise"
        self.severity = rule.severity
        self.change_text = f"{number(rule.change.value)} {rule.change.unit}"
        # (t, signed value, observation id), signed values increasing: the front is the
        # window's lowest (rise) or, values negated, its highest (fall).
        self.deque: deque[tuple[int, Decimal, str]] = deque()

    def step(self, before: State, reading: Reading) -> State:
        """Compare with the window's extreme, then add the reading to the window."""
        window = self.deque
        lowest = reading.t - self.window_us
        while window and window[0][0] < lowest:
            window.popleft()
        signed = reading.value if self.rise else -reading.value
        base = window[0] if window else None
        while window and window[-1][1] >= signed:
            window.pop()
        window.append((reading.t, signed, reading.id))
        if base is None:
            return None
        change = signed - base[1]
        if change < self.change:
            return None
        if before is not None:
            return before
        return Rise(
            (reading.t, reading.id), reading.at, self.severity, (base[2], reading.id), change
        )

    def rewind(self, entries: Sequence[Reading], head: int, index: int) -> None:
        """Rebuild the window as it was just before ``entries[index]``."""
        window = self.deque
        window.clear()
        lowest = entries[index].t - self.window_us
        first = index
        while first > head and entries[first - 1].t >= lowest:
            first -= 1
        for k in range(first, index):
            e = entries[k]
            signed = e.value if self.rise else -e.value
            while window and window[-1][1] >= signed:
                window.pop()
            window.append((e.t, signed, e.id))

    def diff(self, before: State, after: State, reading: Reading) -> list[Step]:
        """Raised when a breach starts, resolved on the first reading that does not breach."""
        if after is None:
            return [] if before is None else [self.resolved(before, reading)]
        if before is not None:
            return []
        assert isinstance(after, Rise)
        measure = MEASURES[self.rule.code]
        shown = difference(after.change, measure.unit, self.rule.change.unit, measure.analyte)
        verb = "rose" if self.rise else "fell"
        message = (
            f"{self.name} {verb} {number(shown)} {self.rule.change.unit} "
            f"within {window_words(self.rule.window)}"
        )
        return [
            Step(
                after.key,
                after.start,
                AlertState.RAISED,
                after.severity,
                reading.at,
                reading.t,
                after.evidence,
                message,
            )
        ]

    def raised_words(self) -> str:
        """``body weight up 2 [lb_av] or more within 1 day``."""
        verb = "up" if self.rise else "down"
        return (
            f"{self.name} {verb} {self.change_text} or more within {window_words(self.rule.window)}"
        )

    def resolved_words(self) -> str:
        """``body weight no longer up 2 [lb_av] within 1 day``."""
        verb = "up" if self.rise else "down"
        return (
            f"{self.name} no longer {verb} {self.change_text} "
            f"within {window_words(self.rule.window)}"
        )


# --- the series ----------------------------------------------------------------------------


class Series:
    """One patient's readings of one code, with the threshold and trend rules on it."""

    __slots__ = ("base", "clear", "entries", "evicted", "head", "retention", "rules", "window")

    def __init__(self, rules: Sequence[SeriesRule], horizon_us: int) -> None:
        self.rules = tuple(rules)
        self.window = max((r.window_us for r in self.rules), default=0)
        self.retention = horizon_us + self.window
        self.entries: list[Reading] = []
        self.head = 0
        self.clear: tuple[State, ...] = (None,) * len(self.rules)  # shared: no rule in breach
        self.base: tuple[State, ...] = self.clear
        self.evicted: int | None = None

    def add(self, patient: str, reading: Reading, out: list[Emitted]) -> bool:
        """Add ``reading``; append the alert changes to ``out``.

        Returns:
            ``False`` when the reading is too old to be placed (see the module rules); the
            series is then unchanged.
        """
        entries = self.entries
        rules = self.rules
        last = None if len(entries) == self.head else entries[-1]
        if last is None or last.t < reading.t or (last.t == reading.t and last.id < reading.id):
            prev = self.base if last is None else last.states
            clear = self.clear
            states = tuple(
                [rule.step(before, reading) for rule, before in zip(rules, prev, strict=True)]
            )
            if states == clear:
                states = clear  # the common case: nothing in breach, share the tuple
            if states is not prev:
                for rule, before, after in zip(rules, prev, states, strict=True):
                    if after is not before:
                        steps = rule.diff(before, after, reading)
                        if steps:
                            rule.reconcile(patient, before, steps, after, reading, out)
            reading.states = states
            entries.append(reading)
            if entries[self.head].t < reading.t - self.retention:
                self._evict(reading.t)
            return True
        if self.evicted is not None and reading.t - self.window <= self.evicted:
            return False
        self._replay(patient, reading, out)
        return True

    def _replay(self, patient: str, reading: Reading, out: list[Emitted]) -> None:
        entries, head, rules = self.entries, self.head, self.rules
        index = bisect.bisect_left(entries, reading.key, lo=head, key=_key)
        entries.insert(index, reading)
        prefix = entries[index - 1].states if index > head else self.base
        for rule in rules:
            rule.rewind(entries, head, index)
        timelines: list[list[Step]] = [[] for _ in rules]
        prev = prefix
        for k in range(index, len(entries)):
            e = entries[k]
            states: list[State] = []
            for r, rule in enumerate(rules):
                before = prev[r]
                after = rule.step(before, e)
                states.append(after)
                if after is not before:
                    timelines[r].extend(rule.diff(before, after, e))
            e.states = prev = tuple(states)
        for r, rule in enumerate(rules):
            rule.reconcile(patient, prefix[r], timelines[r], prev[r], reading, out)

    def _evict(self, newest: int) -> None:
        entries = self.entries
        head = self.head
        limit = newest - self.retention
        keep = len(entries) - MIN_KEPT
        while head < keep and entries[head].t < limit:
            head += 1
        if head == self.head:
            return
        last = entries[head - 1]
        self.base = last.states
        self.evicted = last.t
        for rule in self.rules:
            if len(rule.closed) > 8:
                rule.prune(last.t)
        if head * 2 > len(entries):  # amortized O(1): moves fewer than it drops
            del entries[:head]
            head = 0
        self.head = head

    def __len__(self) -> int:
        return len(self.entries) - self.head
