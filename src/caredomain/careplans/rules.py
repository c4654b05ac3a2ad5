"""Monitoring rules as data, and the alerts they raise.

Five kinds of rule, each a frozen value that templates build and users can write in code:

* `ThresholdRule`: a reading that does not meet a target ("systolic >= 140": the target is
  systolic < 140, and a reading outside it breaches). Units convert: a weight in lb is
  checked against a bound in kg.
* `TrendRule`: a change over a window ("weight +2 lb in 1 day", "+5 lb in 7 days", AHA/HFSA
  heart-failure guidance).
* `MissingRule`: no reading of a code for longer than a gap while it is planned ("no weight
  for 2 days while daily weighing is planned").
* `OverdueRule`: a planned activity not done by its time ("A1C every 3 months", "follow-up
  visit within 7 days of discharge").
* `GoalRule`: a goal's FHIR achievement status moving to one that needs attention
  (``worsening``, ``not-achieved``).

An `Alert` carries the rule, its kind and severity, the evidence (observation ids) and its
lifecycle: one alert is ``raised`` per sustained breach, ``escalated`` when it gets worse,
``resolved`` when the condition clears (the CLI's NDJSON lines are these changes).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from enum import StrEnum

import attrs
from pendulum import DateTime

from caredomain.careplans.model import GoalAchievement, Target, check_unit
from caredomain.core.errors import ValidationError
from caredomain.core.quantities import Quantity
from caredomain.core.severity import SEVERITY_ORDER, Severity
from caredomain.core.time import check_aware, instant_key, to_datetime

__all__ = [
    "SEVERITY_ORDER",
    "Alert",
    "AlertKind",
    "AlertState",
    "GoalRule",
    "MissingRule",
    "OverdueRule",
    "Rule",
    "Severity",
    "ThresholdRule",
    "TrendRule",
]


class AlertKind(StrEnum):
    """The kind of rule that raised an alert (the CLI's ``kind``)."""

    THRESHOLD = "threshold"
    TREND = "trend"
    MISSING = "missing"
    OVERDUE = "overdue"
    GOAL = "goal"


class AlertState(StrEnum):
    """An alert's lifecycle step (the CLI's ``state``)."""

    RAISED = "raised"
    ESCALATED = "escalated"
    RESOLVED = "resolved"


def _check_rule_id(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not value or value != value.strip():
        raise ValidationError.at("Rule.id", "expected a non-empty rule id")


@attrs.frozen
class ThresholdRule:
    """Alert when a reading does not meet ``target``.

    Attributes:
        id: The rule's id (alerts name it).
        target: What a reading should meet; a reading outside it breaches.
        severity: Severity when raised.
        escalate_after: Consecutive breaching readings after which the alert escalates to
            ``escalate_to`` (``None``: never).
        escalate_to: The severity it escalates to.
    """

    id: str = attrs.field(validator=_check_rule_id)
    target: Target
    severity: Severity = Severity.WARNING
    escalate_after: int | None = None
    escalate_to: Severity = Severity.CRITICAL

    @property
    def kind(self) -> AlertKind:
        """``threshold``."""
        return AlertKind.THRESHOLD


@attrs.frozen
class TrendRule:
    """Alert when a code's value changes by at least ``change`` within ``window``.

    Compared with the lowest (for a rise) or highest (for a fall) reading inside the window
    before each new reading.

    Attributes:
        id: The rule's id.
        code: The LOINC code (or component code) watched.
        change: The change that breaches (positive; its unit must fit the code).
        window: How far back to look.
        direction: ``"rise"`` or ``"fall"``.
        severity: Severity when raised.
        source: Where the figure comes from.
    """

    id: str = attrs.field(validator=_check_rule_id)
    code: str
    change: Quantity
    window: _dt.timedelta
    direction: str = "rise"
    severity: Severity = Severity.WARNING
    source: str | None = None

    def __attrs_post_init__(self) -> None:
        check_unit(self.code, self.change.unit, "TrendRule.change")
        if self.change.value <= 0:
            raise ValidationError.at("TrendRule.change", "expected a positive change")
        if self.window <= _dt.timedelta(0):
            raise ValidationError.at("TrendRule.window", "expected a positive window")
        if self.direction not in {"rise", "fall"}:
            raise ValidationError.at("TrendRule.direction", "expected rise or fall")

    @property
    def kind(self) -> AlertKind:
        """``trend``."""
        return AlertKind.TREND


@attrs.frozen
class MissingRule:
    """Alert when no reading of ``code`` arrived for longer than ``max_gap``.

    Attributes:
        id: The rule's id.
        code: The LOINC code expected.
        max_gap: The longest acceptable time since the last reading (or the plan's start).
        severity: Severity when raised.
    """

    id: str = attrs.field(validator=_check_rule_id)
    code: str
    max_gap: _dt.timedelta
    severity: Severity = Severity.WARNING

    def __attrs_post_init__(self) -> None:
        if self.max_gap <= _dt.timedelta(0):
            raise ValidationError.at("MissingRule.max_gap", "expected a positive gap")

    @property
    def kind(self) -> AlertKind:
        """``missing``."""
        return AlertKind.MISSING


@attrs.frozen
class OverdueRule:
    """Alert when the plan's activity ``activity`` is not done by its timing.

    Attributes:
        id: The rule's id.
        activity: The care-plan activity's id.
        grace: Extra time allowed after the due moment before alerting.
        severity: Severity when raised.
    """

    id: str = attrs.field(validator=_check_rule_id)
    activity: str
    grace: _dt.timedelta = _dt.timedelta(0)
    severity: Severity = Severity.WARNING

    @property
    def kind(self) -> AlertKind:
        """``overdue``."""
        return AlertKind.OVERDUE


def _statuses(value: Iterable[GoalAchievement]) -> frozenset[GoalAchievement]:
    return frozenset(GoalAchievement(v) for v in value)


@attrs.frozen
class GoalRule:
    """Alert when goal ``goal``'s achievement status becomes one of ``alert_on``.

    Attributes:
        id: The rule's id.
        goal: The goal's id.
        alert_on: Achievement statuses that raise the alert.
        severity: Severity when raised.
    """

    id: str = attrs.field(validator=_check_rule_id)
    goal: str
    alert_on: frozenset[GoalAchievement] = attrs.field(
        factory=lambda: frozenset({GoalAchievement.WORSENING, GoalAchievement.NOT_ACHIEVED}),
        converter=_statuses,
    )
    severity: Severity = Severity.WARNING

    @property
    def kind(self) -> AlertKind:
        """``goal``."""
        return AlertKind.GOAL


Rule = ThresholdRule | TrendRule | MissingRule | OverdueRule | GoalRule
"""Any monitoring rule."""


def _evidence(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Alert:
    """A change in an alert: raised, escalated or resolved.

    Attributes:
        id: Stable id of the alert (the same across its raised/escalated/resolved changes).
        patient: The patient's id.
        rule: The rule's id.
        kind: The rule's kind.
        severity: Its severity after this change.
        state: Raised, escalated or resolved.
        at: When the change happened (the triggering reading's time, or the clock's).
        evidence: Observation ids behind it, oldest first.
        message: What happened, without patient data ("weight rose 2.4 [lb_av] in 1 day").
    """

    id: str
    patient: str
    rule: str
    kind: AlertKind
    severity: Severity
    state: AlertState
    at: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    evidence: tuple[str, ...] = attrs.field(default=(), converter=_evidence)
    message: str = ""
