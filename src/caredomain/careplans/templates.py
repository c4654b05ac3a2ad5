"""Care-plan templates: versioned data that instantiates into a patient's plan and rules.

A template is a TOML file, one per template, shipped in ``caredomain/careplans/templates/``
and read with `load_template`; `Template.from_toml` reads your own. `instantiate` turns a
template, a patient and a start into a `CarePlan` and the monitoring rules for it.

Rules of this module:

1. **Every clinical figure names its source.** A template lists its sources in
   ``[sources.ID]`` tables; every parameter, goal, activity and rule names one of them in its
   ``source`` key, and the loader refuses an item without one. Figures that are caredomain's
   own defaults rather than a guideline's cite a source that says so.
2. **A figure that differs between sources is a parameter, never a constant.** Heart-failure
   weight gain is published as 2 *or* 3 lb in a day (AHA / HFSA): the template declares
   ``weight_gain_day`` with a default, and ``overrides={"weight_gain_day": "3 [lb_av]"}``
   picks the other. The same mechanism personalizes goals (an A1C goal of 8% for an older
   adult, ADA "individualized").
3. **Parameters are referenced by whole string values** ``"${name}"`` or, for a choice's
   values, ``"${name.field}"``. References are checked when the file loads, with every choice
   of every choice parameter, so an override can only select what the file already proved
   valid.
4. **Instantiation is pure.** `instantiate` reads no file and no clock: dates come from
   ``start``, local days from the patient's IANA timezone, business days from a
   `BusinessCalendar`, ids from an `IdSource`.
5. **Errors.** A wrong file raises `RuleError` with the file, line and dotted key; a wrong
   override raises `ValidationError` at ``overrides.NAME``; an unknown template name raises
   `ValidationError` at ``template``. No message carries a value or patient data.

The file format, by example (the bundled files are the reference):

```toml
[template]
schema = 1
name = "heart-failure"             # a slug: lowercase letters, digits and '-'
version = "1.0.0"
title = "Heart failure: daily weight and blood pressure at home"
period = "P365D"                   # the plan's length from its start (ISO 8601 duration)
addresses = [{ system = "ICD-10-CM", code = "I50.9", display = "Heart failure, unspecified" }]

[sources.aha-hfsa]
citation = "AHA / HFSA patient guidance: weight gain > 2-3 lb in a day or > 5 lb in a week"

[parameters.weight_gain_day]
kind = "quantity"                  # quantity | integer | duration | choice
unit = "[lb_av]"                   # numbers given as overrides are in this unit
default = "2 [lb_av]"
description = "Weight gain within one day that raises an alert"
source = "aha-hfsa"

[goals.blood-pressure]
description = "Blood pressure below 130/80 mm Hg"
targets = [{ code = "85354-9", component = "8480-6", below = "130 mm[Hg]" }]
source = "acc-aha-2017"

[activities.daily-weight]
kind = "measurement"
code = { system = "LOINC", code = "29463-7", display = "Body weight" }
timing = { frequency = 1, period = 1, unit = "d" }  # or within, within_days, within_business_days
source = "aha-hfsa"

[rules.weight-gain-day]            # the rule's id is "heart-failure.weight-gain-day"
kind = "trend"                     # threshold | trend | missing | overdue | goal
code = "29463-7"
change = "${weight_gain_day}"
window = "P1D"
source = "aha-hfsa"
```

A threshold rule says when to alert (``when = { code = "41653-7", below = "70 mg/dL" }``) or
what a reading should meet (``target = {...}``); bounds are ``below`` (<), ``at_most`` (<=),
``above`` (>) and ``at_least`` (>=). An overdue rule names an activity, a goal rule a goal,
by their keys in the file; `instantiate` rewrites them to the plan's ids.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.resources
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, TypeVar

import attrs
import pendulum
from pendulum import DateTime

from caredomain.careplans.model import (
    MEASURES,
    Activity,
    ActivityKind,
    Bound,
    CarePlan,
    CarePlanStatus,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    Target,
    Timing,
)
from caredomain.careplans.rules import (
    GoalRule,
    MissingRule,
    OverdueRule,
    Rule,
    Severity,
    ThresholdRule,
    TrendRule,
)
from caredomain.core.codes import CodeableConcept, Coding, resolve_system
from caredomain.core.errors import RuleError, ValidationError
from caredomain.core.identity import IdSource, RandomIds, Reference
from caredomain.core.parties import Patient
from caredomain.core.quantities import Quantity, can_convert, to_decimal
from caredomain.core.time import (
    BusinessCalendar,
    Interval,
    ensure_aware,
    epoch_us,
    format_duration,
    parse_duration,
    validate_timezone,
)
from caredomain.core.tomlfile import TomlDocument, load_toml

__all__ = [
    "ActivityTemplate",
    "GoalTemplate",
    "Parameter",
    "ParameterCondition",
    "ParameterKind",
    "ParameterValue",
    "RuleTemplate",
    "Template",
    "TemplateSource",
    "Window",
    "instantiate",
    "load_template",
    "template_names",
]

T = TypeVar("T")

ParameterValue = Quantity | int | _dt.timedelta | str | None
"""A parameter's value: a quantity, a whole number, a duration, a choice's name, or unset."""

_SCHEMA: Final = 1
_SLUG: Final = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_KEY: Final = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_PARAMETER: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_REFERENCE: Final = re.compile(r"^\$\{([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?\}$")
_BUNDLED: Final = "caredomain.careplans"


# --- values ------------------------------------------------------------------------------


class ParameterKind(StrEnum):
    """What kind of value a template parameter takes."""

    QUANTITY = "quantity"
    INTEGER = "integer"
    DURATION = "duration"
    CHOICE = "choice"


@attrs.frozen
class TemplateSource:
    """A publication a template's figures come from.

    Attributes:
        id: Its key in the template (``"ada"``).
        citation: The citation, with edition or date, as people read it.
        url: Where to read it, if public.
    """

    id: str
    citation: str
    url: str | None = None


@attrs.frozen
class ParameterCondition:
    """A rule that picks a choice parameter's default from another parameter's value.

    ``ParameterCondition("lace", "high", at_least=10)`` on ``complexity`` reads "when
    ``lace`` is set and at least 10, ``complexity`` defaults to ``high``". An explicit
    override of the choice parameter always wins over a condition.

    Attributes:
        parameter: The integer parameter tested.
        choice: The choice selected when the test holds.
        at_least: The lowest value that selects it, if bounded below.
        at_most: The highest value that selects it, if bounded above.
    """

    parameter: str
    choice: str
    at_least: int | None = None
    at_most: int | None = None

    def holds(self, value: ParameterValue) -> bool:
        """Whether ``value`` (the tested parameter's) selects the choice; unset never does."""
        if not isinstance(value, int):
            return False
        if self.at_least is not None and value < self.at_least:
            return False
        return not (self.at_most is not None and value > self.at_most)


@attrs.frozen
class Parameter:
    """A value of a template that a plan may override, with its default and its source.

    Attributes:
        name: Its name, as used in ``overrides`` and in ``"${name}"`` references.
        kind: Quantity, integer, duration or choice.
        description: What it means, for people choosing a value.
        source: The id of the source its default comes from.
        default: The value when not overridden (``None``: unset, allowed only for parameters
            that no value references, such as an optional LACE score).
        unit: For a quantity, the unit its values must convert to (bare numbers are read in it).
        minimum: The smallest value accepted, if any.
        maximum: The largest value accepted, if any.
        choices: For a choice, each choice's name and the values ``"${name.field}"`` reads.
        when: For a choice, conditions that pick the default from other parameters.
    """

    name: str
    kind: ParameterKind
    description: str
    source: str
    default: ParameterValue = None
    unit: str | None = None
    minimum: ParameterValue = None
    maximum: ParameterValue = None
    choices: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict, hash=False)
    when: tuple[ParameterCondition, ...] = ()

    def coerce(self, value: object, location: str) -> ParameterValue:
        """``value`` as this parameter's kind, after checking its type, unit and range.

        A quantity accepts a `Quantity`, text such as ``"8 %"`` or a bare number in `unit`;
        a duration a ``timedelta`` or ISO 8601 text (``"P14D"``); an integer an ``int``; a
        choice one of `choices`.

        Raises:
            ValidationError: At ``location``, saying what was expected (never the value).
        """
        if self.kind is ParameterKind.QUANTITY:
            result: ParameterValue = _quantity(value, location, unit=self.unit)
        elif self.kind is ParameterKind.DURATION:
            result = _duration(value, location)
        elif self.kind is ParameterKind.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError.at(location, "expected a whole number")
            result = value
        else:
            if not isinstance(value, str) or value not in self.choices:
                raise ValidationError.at(
                    location, f"expected one of: {', '.join(sorted(self.choices))}"
                )
            result = value
        self._check_range(result, location)
        return result

    def _check_range(self, value: ParameterValue, location: str) -> None:
        low, high = _ordinal(self.minimum, self.unit), _ordinal(self.maximum, self.unit)
        amount = _ordinal(value, self.unit)
        if amount is None:
            return
        if (low is not None and amount < low) or (high is not None and amount > high):
            limits = " and ".join(
                f"{word} {_show(bound)}"
                for word, bound in (("at least", self.minimum), ("at most", self.maximum))
                if bound is not None
            )
            raise ValidationError.at(location, f"expected a value {limits}")


def _ordinal(value: ParameterValue, unit: str | None) -> Decimal | None:
    if isinstance(value, Quantity):
        return value.to(unit).value if unit else value.value
    if isinstance(value, _dt.timedelta):
        return Decimal(value // _dt.timedelta(microseconds=1))
    if isinstance(value, int):
        return Decimal(value)
    return None


def _show(value: ParameterValue) -> str:
    # Only template figures (never patient data) are ever shown.
    if isinstance(value, _dt.timedelta):
        return format_duration(value)
    return str(value)


@attrs.frozen
class Window:
    """A window "once within N days after the start", in calendar or business days.

    Calendar days follow the counting of the transitional-care example and CMS TCM: the
    start day does not count and the whole Nth day does, so "within 7 days" of a discharge
    on Wednesday 25 November ends at 00:00 on Thursday 3 December, local time. Business days
    are counted by `BusinessCalendar.deadline` (CMS TCM, Medicare Claims Processing Manual
    ch. 12, 30.6.15.3: the interactive contact "within 2 business days following discharge").

    Attributes:
        days: N.
        business: Whether N counts business days rather than calendar days.
    """

    days: int
    business: bool = False

    def __attrs_post_init__(self) -> None:
        if self.days < 1:
            raise ValidationError.at("Window.days", "expected at least 1 day")

    def deadline(
        self,
        start: _dt.datetime,
        timezone: str | None = None,
        calendar: BusinessCalendar | None = None,
    ) -> DateTime:
        """The exclusive end of the window for a plan starting at ``start``.

        Args:
            start: The anchor (a discharge), aware.
            timezone: The IANA zone whose local dates count (the patient's); ``None`` counts
                in ``start``'s own zone or offset.
            calendar: The business calendar for business days (default: US federal holidays;
                a calendar without a zone counts in ``timezone``).
        """
        moment = ensure_aware(start, "Window.deadline(start)")
        if timezone is not None:
            validate_timezone(timezone)
            moment = moment.in_tz(timezone)
        if self.business:
            cal = calendar if calendar is not None else BusinessCalendar(timezone=timezone)
            if cal.timezone is None and timezone is not None:
                cal = attrs.evolve(cal, timezone=timezone)
            return cal.deadline(moment, self.days)
        return moment.start_of("day").add(days=self.days + 1)

    def describe(self) -> str:
        """``"within 2 business days"``, for people and FHIR ``Timing.code.text``."""
        unit = "business day" if self.business else "day"
        return f"within {self.days} {unit}{'s' if self.days != 1 else ''} after the start"


@attrs.frozen
class GoalTemplate:
    """A goal as a template declares it, at the template's current parameter values.

    Attributes:
        id: Its key in the template.
        description: What the goal is.
        targets: The measurable targets (all must be met).
        due: When it should be met, counted from the plan's start, if it has a due date.
        source: The id of the source of its figures.
    """

    id: str
    description: str
    targets: tuple[Target, ...]
    source: str
    due: _dt.timedelta | None = None


@attrs.frozen
class ActivityTemplate:
    """An activity as a template declares it.

    Attributes:
        id: Its key in the template.
        kind: Measurement, lab, referral...
        code: What exactly, if coded.
        timing: A repetition or exact window (`Timing`), or a window in local days (`Window`)
            that `instantiate` turns into an exact one for the patient's zone.
        source: The id of the source of its timing.
        description: Text for people.
    """

    id: str
    kind: ActivityKind
    code: CodeableConcept | None
    timing: Timing | Window
    source: str
    description: str | None = None


@attrs.frozen
class RuleTemplate:
    """A monitoring rule of a template, with the source of its figure.

    The rule's id is ``"<template>.<key>"``; an `OverdueRule` or `GoalRule` names the
    activity or goal by its key in the template until `instantiate` rewrites it.

    Attributes:
        rule: The rule.
        source: The id of the source of its figure.
    """

    rule: Rule
    source: str


@attrs.frozen
class Template:
    """A versioned care-plan template: goals, activities and rules, with parameters.

    Build one with `load_template` (bundled), `Template.from_toml` or `Template.from_dict`;
    goals, activities and rules hold the values at the current parameters (`values`), which
    `with_overrides` changes.

    Attributes:
        name: Its slug (``"heart-failure"``), also its FHIR PlanDefinition id.
        version: Its version; a changed figure is a new version.
        title: Its title.
        description: What it is for.
        period: The plan's length from its start.
        sources: The publications its figures come from.
        parameters: What a plan may override, with defaults.
        values: Every parameter's current value (defaults, overrides, conditions applied).
        overrides: The values explicitly overridden so far.
        addresses: The conditions it addresses.
        goals: Its goals.
        activities: Its activities.
        rules: Its monitoring rules.
    """

    name: str
    version: str
    title: str
    description: str | None
    period: _dt.timedelta
    sources: tuple[TemplateSource, ...]
    parameters: tuple[Parameter, ...]
    values: Mapping[str, ParameterValue] = attrs.field(hash=False)
    overrides: Mapping[str, ParameterValue] = attrs.field(hash=False)
    addresses: tuple[CodeableConcept, ...]
    goals: tuple[GoalTemplate, ...]
    activities: tuple[ActivityTemplate, ...]
    rules: tuple[RuleTemplate, ...]
    _document: TomlDocument = attrs.field(eq=False, hash=False, repr=False, alias="document")

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>") -> Template:
        """Read a template from TOML text (see the module docstring for the format).

        Args:
            text: The file's text.
            source: The file name, for errors.

        Raises:
            RuleError: Invalid TOML, an unknown or missing key, a reference to an unknown
                parameter, a figure without a source, or a value out of range; with the
                file, line and dotted key.
        """
        return _read(load_toml(text, source), {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<python>") -> Template:
        """Build a template from the same tables as its TOML form, in Python.

        Raises:
            RuleError: As `from_toml`, without line numbers.
        """
        return _read(TomlDocument(dict(data), source, ""), {})

    @property
    def citation(self) -> str:
        """``"name|version"``, as `CarePlan.template` and FHIR canonical references write it."""
        return f"{self.name}|{self.version}"

    def source(self, id: str) -> TemplateSource:
        """The source whose id is ``id``.

        Raises:
            ValidationError: No such source in this template.
        """
        for item in self.sources:
            if item.id == id:
                return item
        raise ValidationError.at("source", "expected the id of one of the template's sources")

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``.

        Raises:
            ValidationError: No such parameter in this template.
        """
        for item in self.parameters:
            if item.name == name:
                return item
        raise ValidationError.at("parameter", self._expected_parameters())

    def with_overrides(self, overrides: Mapping[str, object]) -> Template:
        """This template with some parameters overridden (on top of earlier overrides).

        Raises:
            ValidationError: At ``overrides.NAME``: an unknown parameter, or a value of the
                wrong kind, unit or range.
        """
        known = {p.name: p for p in self.parameters}
        coerced = dict(self.overrides)
        for name, value in overrides.items():
            parameter = known.get(name)
            if parameter is None:
                raise ValidationError.at(f"overrides.{name}", self._expected_parameters())
            coerced[name] = parameter.coerce(value, f"overrides.{name}")
        try:
            return _read(self._document, coerced)
        except RuleError as exc:
            # Every choice was proved at load; a number or duration may still break a figure.
            raise ValidationError.at(
                "overrides", f"the overrides make the template invalid at {exc.key or 'it'}"
            ) from None

    def _expected_parameters(self) -> str:
        names = ", ".join(p.name for p in self.parameters) or "none"
        return f"expected a parameter of template {self.name}: {names}"


# --- bundled templates -------------------------------------------------------------------


def template_names() -> tuple[str, ...]:
    """The names of the templates bundled with caredomain, sorted."""
    folder = importlib.resources.files(_BUNDLED).joinpath("templates")
    return tuple(
        sorted(
            entry.name.removesuffix(".toml")
            for entry in folder.iterdir()
            if entry.name.endswith(".toml")
        )
    )


@functools.cache
def load_template(name: str) -> Template:
    """The bundled template called ``name`` (see `template_names`).

    Raises:
        ValidationError: At ``template``: no bundled template has that name.
    """
    if not isinstance(name, str) or not _SLUG.match(name) or name not in template_names():
        raise ValidationError.at(
            "template", f"expected one of the bundled templates: {', '.join(template_names())}"
        )
    entry = importlib.resources.files(_BUNDLED).joinpath("templates", f"{name}.toml")
    return Template.from_toml(entry.read_text(encoding="utf-8"), f"careplans/templates/{name}.toml")


# --- instantiation -----------------------------------------------------------------------


def instantiate(
    template: Template,
    patient: Patient,
    start: _dt.date | _dt.datetime,
    overrides: Mapping[str, object] | None = None,
    ids: IdSource | None = None,
    *,
    calendar: BusinessCalendar | None = None,
) -> tuple[CarePlan, tuple[Rule, ...]]:
    """A patient's care plan and monitoring rules from a template.

    Goals are personalized by ``overrides`` (``{"a1c_goal": "8 %"}``); the plan runs from
    ``start`` for the template's period; windows in days are counted in the patient's local
    dates; overdue and goal rules are rewritten to the plan's activity and goal ids.

    Args:
        template: The template.
        patient: The patient; its ``timezone`` counts local days (and reads a date ``start``).
        start: When the plan starts (a discharge): an aware datetime, or a date, read as
            local midnight in the patient's timezone.
        overrides: Parameter values, by name (see `Template.parameters`).
        ids: Where ids come from; pass a `SequentialIds` for reproducible ids (default:
            random UUIDs). Ids are drawn in order: plan, goals, activities.
        calendar: Business days for windows in business days (default: US federal holidays
            in the patient's zone).

    Returns:
        The plan (status active, goals active) and its rules.

    Raises:
        ValidationError: An unknown override or a wrong value (at ``overrides.NAME``); a
            date ``start`` for a patient without a timezone (at ``start``).
        NaiveDatetimeError: ``start`` is a naive datetime.
    """
    resolved = template.with_overrides(overrides) if overrides else template
    begin = _start(start, patient)
    zone = patient.timezone  # None: local days are counted in start's own zone or offset
    source = ids if ids is not None else RandomIds()
    plan_id = source.new_id()
    goal_ids = {g.id: source.new_id() for g in resolved.goals}
    activity_ids = {a.id: source.new_id() for a in resolved.activities}
    local = begin if zone is None else begin.in_tz(zone)
    first_day = local.date()
    goals = tuple(
        Goal(
            goal_ids[g.id],
            g.description,
            g.targets,
            lifecycle=GoalLifecycle.ACTIVE,
            start=first_day,
            due=None if g.due is None else _after(local, g.due).date(),
            addresses=resolved.addresses,
            source=resolved.source(g.source).citation,
        )
        for g in resolved.goals
    )
    activities = tuple(
        Activity(
            activity_ids[a.id],
            a.kind,
            a.code,
            _timing(a.timing, begin, zone, calendar),
            description=a.description,
        )
        for a in resolved.activities
    )
    plan = CarePlan(
        plan_id,
        Reference.to("Patient", patient.id),
        resolved.title,
        status=CarePlanStatus.ACTIVE,
        period=Interval(begin, _after(begin, resolved.period)),
        addresses=resolved.addresses,
        goals=goals,
        activities=activities,
        template=resolved.citation,
    )
    rules = tuple(_anchor(r.rule, goal_ids, activity_ids) for r in resolved.rules)
    return plan, rules


def _start(start: _dt.date | _dt.datetime, patient: Patient) -> DateTime:
    if isinstance(start, _dt.datetime):
        return ensure_aware(start, "start")
    if not isinstance(start, _dt.date):
        raise ValidationError.at("start", "expected an aware datetime or a date")
    if patient.timezone is None:
        raise ValidationError.at(
            "start", "expected an aware datetime, or a date for a patient with a timezone"
        )
    return pendulum.datetime(start.year, start.month, start.day, tz=patient.timezone)


def _after(begin: DateTime, span: _dt.timedelta) -> DateTime:
    # Whole days are local calendar days (a 365-day plan ends at the same local time).
    return begin.add(days=span.days, seconds=span.seconds, microseconds=span.microseconds)


def _timing(
    timing: Timing | Window,
    begin: DateTime,
    zone: str | None,
    calendar: BusinessCalendar | None,
) -> Timing:
    if isinstance(timing, Timing):
        return timing
    deadline = timing.deadline(begin, zone, calendar)
    return Timing.once(_dt.timedelta(microseconds=epoch_us(deadline) - epoch_us(begin)))


def _anchor(rule: Rule, goals: Mapping[str, str], activities: Mapping[str, str]) -> Rule:
    if isinstance(rule, OverdueRule):
        return attrs.evolve(rule, activity=activities[rule.activity])
    if isinstance(rule, GoalRule):
        return attrs.evolve(rule, goal=goals[rule.goal])
    return rule


# --- reading -----------------------------------------------------------------------------

_TOP_KEYS: Final = frozenset({"template", "sources", "parameters", "goals", "activities", "rules"})
_META_KEYS: Final = frozenset(
    {"schema", "name", "version", "title", "description", "period", "addresses"}
)
_SOURCE_KEYS: Final = frozenset({"citation", "url"})
_PARAMETER_KEYS: Final = frozenset(
    {"kind", "description", "source", "default", "unit", "minimum", "maximum", "choices", "when"}
)
_CONDITION_KEYS: Final = frozenset({"parameter", "choice", "at_least", "at_most"})
_GOAL_KEYS: Final = frozenset({"description", "targets", "due", "source"})
_TARGET_KEYS: Final = frozenset({"code", "component", "below", "at_most", "above", "at_least"})
_ACTIVITY_KEYS: Final = frozenset({"kind", "code", "timing", "description", "source"})
_CODE_KEYS: Final = frozenset({"system", "code", "display", "text"})
_TIMING_KEYS: Final = frozenset(
    {"frequency", "period", "unit", "within", "within_days", "within_business_days"}
)
_RULE_KEYS: Final = {
    "threshold": frozenset({"when", "target", "escalate_after", "escalate_to"}),
    "trend": frozenset({"code", "change", "window", "direction"}),
    "missing": frozenset({"code", "max_gap"}),
    "overdue": frozenset({"activity", "grace"}),
    "goal": frozenset({"goal", "alert_on"}),
}
_RULE_COMMON: Final = frozenset({"kind", "severity", "source"})


def _read(doc: TomlDocument, overrides: Mapping[str, ParameterValue]) -> Template:
    reader = _Reader(doc)
    template = reader.read(overrides, None)
    if not overrides:
        # Prove every choice of every choice parameter now, so no override can fail later.
        for parameter in template.parameters:
            for choice in parameter.choices:
                if choice != template.values[parameter.name]:
                    reader.read({parameter.name: choice}, parameter.name)
    return template


class _Reader:
    """Reads a template's tables, raising `RuleError` at the line of the key."""

    def __init__(self, doc: TomlDocument) -> None:
        self.doc = doc
        self.values: dict[str, ParameterValue] = {}
        self.parameters: dict[str, Parameter] = {}
        self.sources: dict[str, TemplateSource] = {}
        self.trying: str | None = None

    # errors and small readers

    def error(self, message: str, *path: str) -> RuleError:
        # line_of falls back to the table header for a key inside an inline table; the
        # deepest line found along the path is the most precise one.
        lines = [self.doc.line_of(*path[:depth]) for depth in range(1, len(path) + 1)]
        found = [n for n in lines if n is not None]
        if self.trying is not None:
            message = f"{message} (with {self.trying} set to another of its choices)"
        return RuleError(
            message,
            source=self.doc.source,
            line=max(found) if found else None,
            key=".".join(path) or None,
        )

    def build(self, factory: Callable[[], T], *path: str) -> T:
        try:
            return factory()
        except ValidationError as exc:
            raise self.error(exc.problems[0].message, *path) from None

    def table(self, value: object, *path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error("expected a table", *path)
        return value

    def keys(
        self, table: Mapping[str, Any], allowed: frozenset[str], *path: str, required: str = ""
    ) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            raise self.error(
                f"unknown key; expected one of: {', '.join(sorted(allowed))}", *path, extra[0]
            )
        self.require(table, *path, keys=required)

    def require(self, table: Mapping[str, Any], *path: str, keys: str) -> None:
        for key in keys.split():
            if key not in table:
                raise self.error(f"missing key {key!r}", *path)

    def text(self, table: Mapping[str, Any], key: str, *path: str) -> str:
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error("expected a non-empty string", *path, key)
        return value

    def optional_text(self, table: Mapping[str, Any], key: str, *path: str) -> str | None:
        return self.text(table, key, *path) if key in table else None

    def whole(self, value: object, *path: str, minimum: int = 1) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(f"expected a whole number of at least {minimum}", *path)
        return value

    def source_of(self, table: Mapping[str, Any], *path: str) -> str:
        if "source" not in table:
            raise self.error("missing key 'source': every figure names its source", *path)
        name = self.text(table, "source", *path)
        if name not in self.sources:
            raise self.error("expected the id of a [sources.ID] table", *path, "source")
        return name

    def quantity(self, value: object, *path: str) -> Quantity:
        return self.build(lambda: _quantity(value, "quantity"), *path)

    def duration(self, value: object, *path: str, zero: bool = False) -> _dt.timedelta:
        return self.build(lambda: _duration(value, "duration", zero=zero), *path)

    def severity(self, table: Mapping[str, Any], key: str, *path: str) -> Severity:
        value = table.get(key, "warning")
        try:
            return Severity(value)
        except ValueError:
            raise self.error("expected info, warning or critical", *path, key) from None

    # references

    def resolve(self, value: object, *path: str) -> Any:
        """``value`` with every ``"${...}"`` reference replaced by the parameter's value."""
        if isinstance(value, dict):
            return {k: self.resolve(v, *path, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, *path, f"[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str) or not value.startswith("${"):
            return value
        match = _REFERENCE.match(value)
        if match is None:
            raise self.error("expected a reference such as ${name} or ${name.field}", *path)
        name, field = match.groups()
        parameter = self.parameters.get(name)
        if parameter is None:
            raise self.error("expected a reference to a declared [parameters.NAME]", *path)
        current = self.values[name]
        if field is None:
            if current is None:
                raise self.error("expected a reference to a parameter with a default", *path)
            return current
        if parameter.kind is not ParameterKind.CHOICE or not isinstance(current, str):
            raise self.error("expected ${name.field} only for a choice parameter", *path)
        values = parameter.choices[current]
        if field not in values:
            raise self.error(f"expected every choice of {name} to define {field}", *path)
        return values[field]

    # the file

    def read(self, overrides: Mapping[str, ParameterValue], trying: str | None) -> Template:
        self.trying = trying
        data = self.doc.data
        self.keys(data, _TOP_KEYS, required="template sources")
        meta = self.table(data["template"], "template")
        self.keys(meta, _META_KEYS, "template", required="schema name version title period")
        if type(meta["schema"]) is not int or meta["schema"] != _SCHEMA:
            raise self.error(f"expected schema = {_SCHEMA}", "template", "schema")
        name = self.text(meta, "name", "template")
        if not _SLUG.match(name) or len(name) > 64:
            raise self.error("expected a slug of lowercase letters, digits and '-'", "template")
        version = self.text(meta, "version", "template")
        title = self.text(meta, "title", "template")
        description = self.optional_text(meta, "description", "template")
        self.sources = {
            key: self.source(key, spec)
            for key, spec in self.table(data["sources"], "sources").items()
        }
        if not self.sources:
            raise self.error("expected at least one [sources.ID] table", "sources")
        self.parameters = {
            key: self.parameter(key, spec)
            for key, spec in self.table(data.get("parameters", {}), "parameters").items()
        }
        self.values = self.settle(overrides)
        period_value = self.resolve(meta["period"], "template", "period")
        period = self.duration(period_value, "template", "period")
        addresses = tuple(
            self.concept(item, "template", "addresses", f"[{i}]")
            for i, item in enumerate(self.list(meta.get("addresses", []), "template", "addresses"))
        )
        goals = tuple(
            self.goal(key, spec) for key, spec in self.items("goals", data.get("goals", {}))
        )
        activities = tuple(
            self.activity(key, spec)
            for key, spec in self.items("activities", data.get("activities", {}))
        )
        goal_keys = {g.id for g in goals}
        activity_keys = {a.id for a in activities}
        rules = tuple(
            self.rule(name, key, spec, goal_keys, activity_keys)
            for key, spec in self.items("rules", data.get("rules", {}))
        )
        return Template(
            name=name,
            version=version,
            title=title,
            description=description,
            period=period,
            sources=tuple(self.sources.values()),
            parameters=tuple(self.parameters.values()),
            values=dict(self.values),
            overrides=dict(overrides),
            addresses=addresses,
            goals=goals,
            activities=activities,
            rules=rules,
            document=self.doc,
        )

    def items(self, section: str, value: object) -> Iterable[tuple[str, dict[str, Any]]]:
        for key, spec in self.table(value, section).items():
            if not _KEY.match(key):
                raise self.error("expected a key of lowercase letters, digits, '-' or '_'", section)
            yield key, self.table(spec, section, key)

    def list(self, value: object, *path: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.error("expected a list", *path)
        return value

    def source(self, key: str, spec: object) -> TemplateSource:
        path = ("sources", key)
        table = self.table(spec, *path)
        self.keys(table, _SOURCE_KEYS, *path, required="citation")
        return TemplateSource(
            key, self.text(table, "citation", *path), self.optional_text(table, "url", *path)
        )

    def concept(self, value: object, *path: str) -> CodeableConcept:
        table = self.table(value, *path)
        self.keys(table, _CODE_KEYS, *path)
        text = self.optional_text(table, "text", *path)
        if "code" not in table:
            if text is None or "system" in table:
                raise self.error("expected system and code, or text", *path)
            return CodeableConcept((), text)
        system = self.build(lambda: resolve_system(self.text(table, "system", *path)), *path)
        code, display = self.text(table, "code", *path), self.optional_text(table, "display", *path)
        return self.build(lambda: CodeableConcept((Coding(system, code, display),), text), *path)

    # parameters

    def parameter(self, key: str, spec: object) -> Parameter:
        path = ("parameters", key)
        if not _PARAMETER.match(key):
            raise self.error("expected a name of lowercase letters, digits and '_'", *path)
        table = self.table(spec, *path)
        self.keys(table, _PARAMETER_KEYS, *path, required="kind description")
        try:
            kind = ParameterKind(table["kind"])
        except ValueError:
            raise self.error(
                "expected quantity, integer, duration or choice", *path, "kind"
            ) from None
        source = self.source_of(table, *path)
        unit = self.optional_text(table, "unit", *path)
        if (unit is not None) != (kind is ParameterKind.QUANTITY):
            raise self.error("expected a unit for a quantity parameter, and only then", *path)
        choices: dict[str, dict[str, Any]] = {}
        if kind is ParameterKind.CHOICE:
            raw = self.table(table.get("choices"), *path, "choices")
            if not raw:
                raise self.error("expected at least one choice", *path, "choices")
            for name, values in raw.items():
                choices[name] = self.table(values, *path, "choices", name)
        elif "choices" in table or "when" in table:
            raise self.error("expected choices and when only on a choice parameter", *path)
        conditions = tuple(
            self.condition(item, choices, *path, "when", f"[{i}]")
            for i, item in enumerate(self.list(table.get("when", []), *path, "when"))
        )
        parameter = Parameter(
            key,
            kind,
            self.text(table, "description", *path),
            source,
            unit=unit,
            choices=choices,
            when=conditions,
        )
        if "minimum" in table:
            minimum = self.coerce(parameter, table["minimum"], *path, "minimum")
            parameter = attrs.evolve(parameter, minimum=minimum)
        if "maximum" in table:
            maximum = self.coerce(parameter, table["maximum"], *path, "maximum")
            parameter = attrs.evolve(parameter, maximum=maximum)
        if "default" in table:
            default = self.coerce(parameter, table["default"], *path, "default")
            parameter = attrs.evolve(parameter, default=default)
        if parameter.default is None and kind is ParameterKind.CHOICE:
            raise self.error("expected a default choice", *path)
        return parameter

    def coerce(self, parameter: Parameter, value: object, *path: str) -> ParameterValue:
        return self.build(lambda: parameter.coerce(value, path[-1]), *path)

    def condition(
        self, value: object, choices: Mapping[str, Any], *path: str
    ) -> ParameterCondition:
        table = self.table(value, *path)
        self.keys(table, _CONDITION_KEYS, *path, required="parameter choice")
        choice = self.text(table, "choice", *path)
        if choice not in choices:
            raise self.error("expected one of the parameter's choices", *path, "choice")
        bounds = {k: self.whole(table[k], *path, k, minimum=0) for k in ("at_least", "at_most")
                  if k in table}  # fmt: skip
        if not bounds:
            raise self.error("expected at_least, at_most or both", *path)
        return ParameterCondition(self.text(table, "parameter", *path), choice, **bounds)

    def settle(self, overrides: Mapping[str, ParameterValue]) -> dict[str, ParameterValue]:
        values = {name: overrides.get(name, p.default) for name, p in self.parameters.items()}
        for name, parameter in self.parameters.items():
            for i, condition in enumerate(parameter.when):
                tested = self.parameters.get(condition.parameter)
                if tested is None or tested.kind is not ParameterKind.INTEGER:
                    raise self.error(
                        "expected the name of an integer parameter",
                        "parameters", name, "when", f"[{i}]", "parameter",
                    )  # fmt: skip
            if name in overrides:
                continue
            chosen = next((c.choice for c in parameter.when if c.holds(values[c.parameter])), None)
            if chosen is not None:
                values[name] = chosen
        return values

    # goals, activities, rules

    def target(self, value: object, *path: str) -> Target:
        table = self.table(value, *path)
        self.keys(table, _TARGET_KEYS, *path, required="code")
        code = self.text(table, "code", *path)
        component = self.optional_text(table, "component", *path)
        bounds: dict[str, Bound] = {}
        for key, side, inclusive in (
            ("below", "high", False),
            ("at_most", "high", True),
            ("above", "low", False),
            ("at_least", "low", True),
        ):
            if key in table:
                if side in bounds:
                    raise self.error(f"expected one {side} bound", *path, key)
                bounds[side] = Bound(self.quantity(table[key], *path, key), inclusive)
        return self.build(lambda: Target(code, component, **bounds), *path)

    def goal(self, key: str, spec: dict[str, Any]) -> GoalTemplate:
        path = ("goals", key)
        self.keys(spec, _GOAL_KEYS, *path, required="description targets")
        source = self.source_of(spec, *path)
        table = self.resolve(spec, *path)
        targets = tuple(
            self.target(item, *path, "targets", f"[{i}]")
            for i, item in enumerate(self.list(table["targets"], *path, "targets"))
        )
        if not targets:
            raise self.error("expected at least one target", *path, "targets")
        due = self.duration(table["due"], *path, "due") if "due" in table else None
        return GoalTemplate(key, self.text(table, "description", *path), targets, source, due)

    def timing(self, value: object, *path: str) -> Timing | Window:
        table = self.table(value, *path)
        self.keys(table, _TIMING_KEYS, *path)
        windows = [k for k in ("within", "within_days", "within_business_days") if k in table]
        repeats = [k for k in ("frequency", "period", "unit") if k in table]
        if len(windows) + bool(repeats) != 1:
            raise self.error(
                "expected frequency/period/unit, or one of within, within_days, "
                "within_business_days",
                *path,
            )
        if windows == ["within"]:
            span = self.duration(table["within"], *path, "within")
            return self.build(lambda: Timing.once(span), *path)
        if windows:
            days = self.whole(table[windows[0]], *path, windows[0])
            return Window(days, business=windows[0] == "within_business_days")
        frequency = self.whole(table.get("frequency", 1), *path, "frequency")
        period = self.whole(table.get("period", 1), *path, "period")
        unit = table.get("unit", "d")
        return self.build(lambda: Timing(frequency, period, unit), *path, "unit")

    def activity(self, key: str, spec: dict[str, Any]) -> ActivityTemplate:
        path = ("activities", key)
        self.keys(spec, _ACTIVITY_KEYS, *path, required="kind timing")
        source = self.source_of(spec, *path)
        table = self.resolve(spec, *path)
        try:
            kind = ActivityKind(table["kind"])
        except ValueError:
            kinds = ", ".join(k.value for k in ActivityKind)
            raise self.error(f"expected one of: {kinds}", *path, "kind") from None
        code = self.concept(table["code"], *path, "code") if "code" in table else None
        timing = self.timing(table["timing"], *path, "timing")
        description = self.optional_text(table, "description", *path)
        return ActivityTemplate(key, kind, code, timing, source, description)

    def rule(
        self,
        template: str,
        key: str,
        spec: dict[str, Any],
        goals: set[str],
        activities: set[str],
    ) -> RuleTemplate:
        path = ("rules", key)
        kind = spec.get("kind")
        if kind not in _RULE_KEYS:
            raise self.error(f"expected one of: {', '.join(_RULE_KEYS)}", *path, "kind")
        self.keys(spec, _RULE_COMMON | _RULE_KEYS[kind], *path)
        source = self.source_of(spec, *path)
        table = self.resolve(spec, *path)
        rule_id = f"{template}.{key}"
        severity = self.severity(table, "severity", *path)
        rule: Rule
        if kind == "threshold":
            rule = self.threshold(rule_id, table, severity, *path)
        elif kind == "trend":
            self.require(table, *path, keys="code change window")
            code = self.text(table, "code", *path)
            change = self.quantity(table["change"], *path, "change")
            window = self.duration(table["window"], *path, "window")
            direction = table.get("direction", "rise")
            rule = self.build(
                lambda: TrendRule(rule_id, code, change, window, direction, severity,
                                  self.sources[source].citation),
                *path,
            )  # fmt: skip
        elif kind == "missing":
            self.require(table, *path, keys="code max_gap")
            code = self.text(table, "code", *path)
            if code not in MEASURES:
                raise self.error("expected a LOINC code in careplans.MEASURES", *path, "code")
            gap = self.duration(table["max_gap"], *path, "max_gap")
            rule = self.build(lambda: MissingRule(rule_id, code, gap, severity), *path)
        elif kind == "overdue":
            self.require(table, *path, keys="activity")
            activity = self.text(table, "activity", *path)
            if activity not in activities:
                raise self.error("expected the key of an [activities.KEY]", *path, "activity")
            grace = self.duration(table.get("grace", "PT0S"), *path, "grace", zero=True)
            rule = self.build(lambda: OverdueRule(rule_id, activity, grace, severity), *path)
        else:
            self.require(table, *path, keys="goal")
            goal = self.text(table, "goal", *path)
            if goal not in goals:
                raise self.error("expected the key of a [goals.KEY]", *path, "goal")
            statuses = self.list(table.get("alert_on", ["worsening", "not-achieved"]), *path)
            try:
                alert_on = frozenset(GoalAchievement(s) for s in statuses)
            except ValueError:
                raise self.error(
                    "expected FHIR goal-achievement codes", *path, "alert_on"
                ) from None
            rule = GoalRule(rule_id, goal, alert_on, severity)
        return RuleTemplate(rule, source)

    def threshold(
        self, rule_id: str, table: Mapping[str, Any], severity: Severity, *path: str
    ) -> ThresholdRule:
        if ("when" in table) == ("target" in table):
            raise self.error("expected when (what alerts) or target (what is met)", *path)
        if "target" in table:
            target = self.target(table["target"], *path, "target")
        else:
            when = self.table(table["when"], *path, "when")
            sides = [k for k in ("below", "at_most", "above", "at_least") if k in when]
            if len(sides) != 1:
                raise self.error(
                    "expected exactly one of below, at_most, above, at_least", *path, "when"
                )
            complement = {"below": "at_least", "at_most": "above", "above": "at_most",
                          "at_least": "below"}  # fmt: skip
            flipped = {k: v for k, v in when.items() if k != sides[0]}
            flipped[complement[sides[0]]] = when[sides[0]]
            target = self.target(flipped, *path, "when")
        after = table.get("escalate_after")
        if after is not None:
            after = self.whole(after, *path, "escalate_after")
        escalate_to = self.severity(
            {"s": table.get("escalate_to", "critical")}, "s", *path, "escalate_to"
        )
        return ThresholdRule(rule_id, target, severity, after, escalate_to)


# --- values in files and overrides -------------------------------------------------------


def _quantity(value: object, location: str, *, unit: str | None = None) -> Quantity:
    if isinstance(value, Quantity):
        result = value
    elif isinstance(value, str):
        number, _, code = value.strip().partition(" ")
        if not code.strip():
            raise ValidationError.at(location, "expected a number and a UCUM unit, as '7 %'")
        result = Quantity(to_decimal(number, location), code.strip())
    elif (
        unit is not None
        and not isinstance(value, bool)
        and isinstance(value, int | float | Decimal)
    ):
        result = Quantity(to_decimal(value, location), unit)
    else:
        raise ValidationError.at(location, "expected a quantity such as '7 %'")
    if unit is not None and not can_convert(result.unit, unit):
        raise ValidationError.at(location, f"expected a unit convertible to {unit}")
    return result


def _duration(value: object, location: str, *, zero: bool = False) -> _dt.timedelta:
    if isinstance(value, _dt.timedelta):
        result = value
    elif isinstance(value, str):
        result = parse_duration(value, location)
    else:
        raise ValidationError.at(location, "expected an ISO 8601 duration such as P14D")
    if result < _dt.timedelta(0) or (result == _dt.timedelta(0) and not zero):
        raise ValidationError.at(location, "expected a positive duration")
    return result
