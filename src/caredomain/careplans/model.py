"""Care plans, goals, activities and observations (FHIR R4 CarePlan, Goal, Observation).

Vocabularies are the FHIR R4 required bindings: ``CarePlan.status`` (request-status),
``Goal.lifecycleStatus`` (goal-status), ``Goal.achievementStatus`` (goal-achievement,
extensible), ``CarePlan.activity.detail.status`` (care-plan-activity-status). Observation
codes are LOINC and units UCUM; `MEASURES` says which unit dimension each supported code
takes, so a weight in ``mm[Hg]`` is refused where it enters, not discovered by an alert.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from typing import Final

import attrs
from pendulum import Date, DateTime

from caredomain.core.codes import FHIR_OBSERVATION_CATEGORY, LOINC, CodeableConcept, Coding
from caredomain.core.errors import UnitError, ValidationError
from caredomain.core.identity import Reference
from caredomain.core.quantities import Quantity, can_convert
from caredomain.core.results import ObservationResult
from caredomain.core.time import Interval, check_aware, instant_key, to_date, to_datetime

__all__ = [
    "MEASURES",
    "Activity",
    "ActivityKind",
    "ActivityStatus",
    "Bound",
    "CarePlan",
    "CarePlanStatus",
    "Component",
    "Goal",
    "GoalAchievement",
    "GoalLifecycle",
    "Measure",
    "Observation",
    "ObservationSource",
    "Target",
    "Timing",
    "check_unit",
    "observation_from_result",
]


class CarePlanStatus(StrEnum):
    """FHIR R4 ``request-status`` (``CarePlan.status``)."""

    DRAFT = "draft"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    REVOKED = "revoked"
    COMPLETED = "completed"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"


class GoalLifecycle(StrEnum):
    """FHIR R4 ``goal-status`` (``Goal.lifecycleStatus``)."""

    PROPOSED = "proposed"
    PLANNED = "planned"
    ACCEPTED = "accepted"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    REJECTED = "rejected"


class GoalAchievement(StrEnum):
    """FHIR R4 ``goal-achievement`` (``Goal.achievementStatus``)."""

    IN_PROGRESS = "in-progress"
    IMPROVING = "improving"
    WORSENING = "worsening"
    NO_CHANGE = "no-change"
    ACHIEVED = "achieved"
    SUSTAINING = "sustaining"
    NOT_ACHIEVED = "not-achieved"
    NO_PROGRESS = "no-progress"
    NOT_ATTAINABLE = "not-attainable"


class ActivityStatus(StrEnum):
    """FHIR R4 ``care-plan-activity-status``."""

    NOT_STARTED = "not-started"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"
    UNKNOWN = "unknown"
    ENTERED_IN_ERROR = "entered-in-error"


class ActivityKind(StrEnum):
    """What a care-plan activity asks for."""

    MEASUREMENT = "measurement"
    APPOINTMENT = "appointment"
    LAB = "lab"
    MEDICATION = "medication"
    EDUCATION = "education"
    REFERRAL = "referral"
    EQUIPMENT_DELIVERY = "equipment-delivery"
    HOME_VISIT = "home-visit"


class ObservationSource(StrEnum):
    """Where a reading came from (it matters for trust and for who to call)."""

    DEVICE = "device"
    PATIENT_REPORTED = "patient-reported"
    LAB = "lab"
    CLINICIAN = "clinician"


@attrs.frozen
class Measure:
    """What a supported observation code measures.

    Attributes:
        name: Short name (``"body weight"``).
        unit: The canonical UCUM unit values are compared in.
        analyte: For mass/substance concentrations, the analyte's molar-mass key.
    """

    name: str
    unit: str
    analyte: str | None = None


MEASURES: Final[dict[str, Measure]] = {
    "29463-7": Measure("body weight", "kg"),
    "85354-9": Measure("blood pressure panel", "mm[Hg]"),
    "8480-6": Measure("systolic blood pressure", "mm[Hg]"),
    "8462-4": Measure("diastolic blood pressure", "mm[Hg]"),
    "8867-4": Measure("heart rate", "/min"),
    "59408-5": Measure("oxygen saturation by pulse oximetry", "%"),
    "8310-5": Measure("body temperature", "Cel"),
    "4548-4": Measure("hemoglobin A1c", "%"),
    "2339-0": Measure("glucose in blood", "mg/dL", "glucose"),
    "2345-7": Measure("glucose in serum or plasma", "mg/dL", "glucose"),
    "41653-7": Measure("glucose by glucometer", "mg/dL", "glucose"),
    "39156-5": Measure("body mass index", "kg/m2"),
}
"""LOINC codes caredomain's monitor understands, with their canonical UCUM units."""


def _measure(code: str, location: str) -> Measure:
    try:
        return MEASURES[code]
    except KeyError:
        raise ValidationError.at(
            location, "expected a LOINC code the monitor supports (see careplans.MEASURES)"
        ) from None


def check_unit(code: str, unit: str, location: str) -> Measure:
    """The measure of ``code``, after checking that ``unit`` converts to its unit.

    Raises:
        ValidationError: The code is not supported.
        UnitError: The unit does not fit the code (a weight in mm[Hg]).
    """
    measure = _measure(code, location)
    if not can_convert(unit, measure.unit, analyte=measure.analyte):
        raise UnitError(
            location,
            f"expected a unit convertible to {measure.unit} for {measure.name} (LOINC {code})",
            from_unit=unit,
            to_unit=measure.unit,
        )
    return measure


@attrs.frozen
class Bound:
    """One side of a target: a value and whether it is included.

    Attributes:
        value: The limit, with its unit.
        inclusive: Whether the limit itself meets the target (``<= 130`` vs ``< 130``).
    """

    value: Quantity
    inclusive: bool = True


@attrs.frozen
class Target:
    """A measurable goal target on one observation code (or one component of a panel).

    A range has both bounds, a threshold one: "A1C < 7%" is ``high=Bound(7 %,
    inclusive=False)``; "systolic < 130" is a target on the blood-pressure panel's 8480-6
    component.

    Attributes:
        code: The LOINC code of the observation (the panel for a component).
        component: The component's LOINC code, for panels such as blood pressure.
        low: The lower bound, if any.
        high: The upper bound, if any.
    """

    code: str
    component: str | None = None
    low: Bound | None = None
    high: Bound | None = None

    def __attrs_post_init__(self) -> None:
        if self.low is None and self.high is None:
            raise ValidationError.at("Target", "expected a low bound, a high bound, or both")
        measured = self.component or self.code
        for name, bound in (("low", self.low), ("high", self.high)):
            if bound is not None:
                check_unit(measured, bound.value.unit, f"Target.{name}")

    @property
    def measured(self) -> str:
        """The code whose value is compared (the component's, for a panel)."""
        return self.component or self.code

    def met_by(self, value: Quantity) -> bool:
        """Whether ``value`` (in any unit convertible to the target's) meets this target.

        Comparison happens in the measure's canonical unit, exactly (Decimal).
        """
        measure = MEASURES[self.measured]
        amount = value.to(measure.unit, analyte=measure.analyte).value
        if self.low is not None:
            low = self.low.value.to(measure.unit, analyte=measure.analyte).value
            if amount < low or (amount == low and not self.low.inclusive):
                return False
        if self.high is not None:
            high = self.high.value.to(measure.unit, analyte=measure.analyte).value
            if amount > high or (amount == high and not self.high.inclusive):
                return False
        return True


def _targets(value: Iterable[Target]) -> tuple[Target, ...]:
    return tuple(value)


def _concepts(value: Iterable[CodeableConcept]) -> tuple[CodeableConcept, ...]:
    return tuple(value)


@attrs.frozen
class Goal:
    """A goal of the plan (FHIR ``Goal``): met when every target is met.

    Attributes:
        id: caredomain's id.
        description: What the goal is, as text.
        targets: The measurable targets (all must be met).
        lifecycle: FHIR ``lifecycleStatus``.
        achievement: FHIR ``achievementStatus``, as last evaluated.
        start: When work toward it starts.
        due: When it should be achieved.
        addresses: The conditions it addresses.
        source: Where its figures come from (guideline and edition).
    """

    id: str
    description: str
    targets: tuple[Target, ...] = attrs.field(converter=_targets)
    lifecycle: GoalLifecycle = GoalLifecycle.ACTIVE
    achievement: GoalAchievement | None = None
    start: Date | None = attrs.field(default=None, converter=attrs.converters.optional(to_date))
    due: Date | None = attrs.field(default=None, converter=attrs.converters.optional(to_date))
    addresses: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    source: str | None = None

    def __attrs_post_init__(self) -> None:
        if not self.targets:
            raise ValidationError.at("Goal.targets", "expected at least one target")


@attrs.frozen
class Timing:
    """When an activity is expected, after FHIR ``Timing.repeat``.

    Either a repetition (``frequency`` times every ``period`` ``period_unit``: every day is
    1 per 1 ``d``; twice a week 2 per 1 ``wk``; every 3 months 1 per 3 ``mo``), or a single
    occurrence ``within`` a duration of the plan's start (a follow-up visit within 7 days of
    discharge).

    Attributes:
        frequency: Occurrences per period.
        period: The period's length in ``period_unit``.
        period_unit: FHIR ``units-of-time``: ``h``, ``d``, ``wk``, ``mo`` or ``a``.
        within: For a single occurrence, the window after the anchor.
    """

    frequency: int = 1
    period: int = 1
    period_unit: str = "d"
    within: _dt.timedelta | None = None

    def __attrs_post_init__(self) -> None:
        if self.period_unit not in {"h", "d", "wk", "mo", "a"}:
            raise ValidationError.at("Timing.period_unit", "expected h, d, wk, mo or a")
        if self.frequency < 1 or self.period < 1:
            raise ValidationError.at("Timing.frequency", "expected positive frequency and period")
        if self.within is not None and self.within <= _dt.timedelta(0):
            raise ValidationError.at("Timing.within", "expected a positive window")

    @classmethod
    def once(cls, within: _dt.timedelta) -> Timing:
        """A single occurrence within ``within`` of the anchor."""
        return cls(within=within)

    @property
    def is_once(self) -> bool:
        """Whether this is a single occurrence rather than a repetition."""
        return self.within is not None


def _refs(value: Iterable[Reference]) -> tuple[Reference, ...]:
    return tuple(value)


@attrs.frozen
class Activity:
    """Something the plan expects to happen (FHIR ``CarePlan.activity.detail``).

    Attributes:
        id: caredomain's id.
        kind: Measurement, appointment, lab...
        code: What exactly (LOINC 29463-7 for a weight, CPT 99496 for a TCM visit...).
        timing: When it is expected.
        status: FHIR activity status.
        evidence: What shows it was done (Observations, Appointments, ...).
        description: Text for people.
    """

    id: str
    kind: ActivityKind
    code: CodeableConcept | None
    timing: Timing
    status: ActivityStatus = ActivityStatus.NOT_STARTED
    evidence: tuple[Reference, ...] = attrs.field(default=(), converter=_refs)
    description: str | None = None


def _goals(value: Iterable[Goal]) -> tuple[Goal, ...]:
    return tuple(value)


def _activities(value: Iterable[Activity]) -> tuple[Activity, ...]:
    return tuple(value)


@attrs.frozen
class CarePlan:
    """A patient's care plan (FHIR ``CarePlan``).

    Attributes:
        id: caredomain's id.
        patient: The patient.
        title: Its title.
        status: FHIR request status.
        period: When it applies; activities' anchors count from its start.
        addresses: The conditions it addresses.
        care_team: Who is responsible (Practitioners, Organizations, CareTeam).
        goals: The goals.
        activities: The expected activities.
        template: The template (name and version) it was instantiated from, if any.
    """

    id: str
    patient: Reference
    title: str
    status: CarePlanStatus = CarePlanStatus.ACTIVE
    period: Interval | None = None
    addresses: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    care_team: tuple[Reference, ...] = attrs.field(default=(), converter=_refs)
    goals: tuple[Goal, ...] = attrs.field(default=(), converter=_goals)
    activities: tuple[Activity, ...] = attrs.field(default=(), converter=_activities)
    template: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.patient.target != "Patient":
            raise ValidationError.at("CarePlan.patient", "expected a reference to a Patient")
        ids = [g.id for g in self.goals] + [a.id for a in self.activities]
        if len(ids) != len(set(ids)):
            raise ValidationError.at("CarePlan", "expected unique goal and activity ids")


@attrs.frozen
class Component:
    """One component of a panel observation (systolic and diastolic of a blood pressure).

    Attributes:
        code: The component's LOINC code.
        value: Its value.
    """

    code: str
    value: Quantity

    def __attrs_post_init__(self) -> None:
        check_unit(self.code, self.value.unit, f"Component[{self.code}].value")


def _components(value: Iterable[Component]) -> tuple[Component, ...]:
    return tuple(value)


@attrs.frozen
class Observation:
    """A reading (FHIR ``Observation``): a value, or components for a panel.

    Attributes:
        id: Its id (alerts cite it as evidence).
        patient: The patient's id.
        code: LOINC code (see `MEASURES`).
        effective: When it was measured (aware).
        value: The value, for a single-value observation.
        components: The components, for a panel.
        source: Device, patient-reported, lab or clinician.
    """

    id: str
    patient: str
    code: str
    effective: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    value: Quantity | None = None
    components: tuple[Component, ...] = attrs.field(default=(), converter=_components)
    source: ObservationSource = ObservationSource.DEVICE

    def __attrs_post_init__(self) -> None:
        _measure(self.code, "Observation.code")
        if (self.value is None) == (not self.components):
            raise ValidationError.at(
                "Observation.value", "expected a value or components, not both or neither"
            )
        if self.value is not None:
            check_unit(self.code, self.value.unit, "Observation.value")

    @property
    def coding(self) -> Coding:
        """The observation's code as a LOINC ``Coding``."""
        return Coding(LOINC, self.code, MEASURES[self.code].name)

    def quantity(self, code: str) -> Quantity | None:
        """The value for ``code``: the observation's own value or a component's."""
        if code == self.code and self.value is not None:
            return self.value
        return next((c.value for c in self.components if c.code == code), None)

    def canonical(self, code: str) -> Decimal | None:
        """The value for ``code`` in the measure's canonical unit, or ``None``."""
        found = self.quantity(code)
        if found is None:
            return None
        measure = MEASURES[code]
        return found.to(measure.unit, analyte=measure.analyte).value


_MONITORED_STATUSES: Final = frozenset({"final", "amended", "corrected"})
# FHIR observation-status: only these are results a clinician may act on; registered and
# preliminary results are not final, and cancelled/entered-in-error ones never happened.


def observation_from_result(result: ObservationResult) -> Observation | None:
    """The monitor's `Observation` for a general result, or None when it has nothing to watch.

    A result is watched when its code has a LOINC coding in `MEASURES`, its value is a plain
    `Quantity` (no comparator) in a unit of the measure's dimension, it has an effective
    time, and its status is final, amended or corrected. The source is ``lab`` for
    results categorized ``laboratory``, else ``device``.

    Raises:
        UnitError: The code is watched but the unit is not of the measure's dimension.
        ValidationError: The result's patient reference has no id.
    """
    code = result.code.code_in(LOINC)
    quantity = result.quantity
    if (
        code not in MEASURES
        or quantity is None
        or result.effective is None
        or result.status.value not in _MONITORED_STATUSES
    ):
        return None
    if result.patient.id is None:
        raise ValidationError.at("ObservationResult.patient", "expected a reference with an id")
    category = result.category.code_in(FHIR_OBSERVATION_CATEGORY) if result.category else None
    return Observation(
        id=result.id,
        patient=result.patient.id,
        code=code,
        effective=result.effective,
        value=quantity,
        source=ObservationSource.LAB if category == "laboratory" else ObservationSource.DEVICE,
    )
