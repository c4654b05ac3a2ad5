"""What a coordinator asks the scheduler for: appointment requests and the urgency policy.

An :class:`AppointmentRequest` is a waitlist entry: who, what service, how long, how urgent,
the window it may be booked in, which resources may (any-of) or must (all-of) take part,
the patient's preferences, continuity with the usual provider, and an optional predecessor
("A1C draw 1-3 days before the endocrinology visit").

An :class:`UrgencyPolicy` is data: urgency classes with access targets, weights and the
penalty for leaving a request unassigned. The default mirrors common access standards:
emergent same day, urgent within 2 days, post-discharge within 7 days (the CMS TCM
face-to-face window for high complexity, CPT 99496), routine within 30 days. Users supply
their own in code or TOML (:meth:`UrgencyPolicy.from_toml`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
from pendulum import DateTime

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ValidationError
from caredomain.core.time import check_aware, epoch_us, instant_key, parse_duration, to_datetime
from caredomain.core.tomlfile import load_toml

__all__ = [
    "DEFAULT_POLICY",
    "AppointmentRequest",
    "Predecessor",
    "Preferences",
    "UrgencyClass",
    "UrgencyPolicy",
]


@attrs.frozen
class UrgencyClass:
    """One urgency class of a policy.

    Attributes:
        name: Its name (``"urgent"``).
        target: The access target: how soon after release the visit should happen.
        weight: Cost per day late beyond the target.
        unassigned_penalty: Cost of leaving a request of this class unassigned.
    """

    name: str
    target: _dt.timedelta
    weight: float
    unassigned_penalty: float

    def __attrs_post_init__(self) -> None:
        if self.target < _dt.timedelta(0):
            raise ValidationError.at("UrgencyClass.target", "expected a non-negative target")
        if self.weight < 0 or self.unassigned_penalty < 0:
            raise ValidationError.at(
                "UrgencyClass.weight", "expected non-negative weight and penalty"
            )


def _classes(value: Iterable[UrgencyClass]) -> tuple[UrgencyClass, ...]:
    return tuple(value)


@attrs.frozen
class UrgencyPolicy:
    """Urgency classes by name, and the small weight on every day of waiting.

    Attributes:
        classes: The classes; names are unique.
        wait_weight: Cost per day between release and the visit, for every request, so that
            earlier is better even within the target.
    """

    classes: tuple[UrgencyClass, ...] = attrs.field(converter=_classes)
    wait_weight: float = 0.01
    _by_name: dict[str, UrgencyClass] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        by_name = {c.name: c for c in self.classes}
        if len(by_name) != len(self.classes):
            raise ValidationError.at("UrgencyPolicy.classes", "expected unique class names")
        if self.wait_weight < 0:
            raise ValidationError.at("UrgencyPolicy.wait_weight", "expected a non-negative weight")
        object.__setattr__(self, "_by_name", by_name)

    def __getitem__(self, name: str) -> UrgencyClass:
        try:
            return self._by_name[name]
        except KeyError:
            raise ValidationError.at(
                "urgency", f"expected one of the policy's classes: {', '.join(self._by_name)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], wait_weight: float = 0.01) -> UrgencyPolicy:
        """Build from the schedule-problem file's ``urgency`` object.

        That is ``{"urgent": {"target_days": 2, "weight": 20, "unassigned_penalty": 20000}}``.
        """
        classes = []
        for name, spec in data.items():
            classes.append(
                UrgencyClass(
                    name,
                    _dt.timedelta(days=float(spec["target_days"])),
                    float(spec["weight"]),
                    float(spec["unassigned_penalty"]),
                )
            )
        return cls(classes, wait_weight)

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>") -> UrgencyPolicy:
        """Read a policy from TOML; errors name the file, line and key.

        ```toml
        wait_weight = 0.01

        [urgency.urgent]
        target = "P2D"          # ISO 8601 duration
        weight = 20
        unassigned_penalty = 20000
        ```

        Raises:
            RuleError: Invalid TOML, a missing or unknown key, or a value out of range.
        """
        doc = load_toml(text, source)
        unknown = set(doc.data) - {"wait_weight", "urgency"}
        if unknown:
            raise doc.error(
                "unknown top-level key; expected wait_weight and [urgency.*]", sorted(unknown)[0]
            )
        tables = doc.data.get("urgency")
        if not isinstance(tables, dict) or not tables:
            raise doc.error("expected at least one [urgency.NAME] table", "urgency")
        classes = []
        for name, spec in tables.items():
            if not isinstance(spec, dict):
                raise doc.error("expected a table", "urgency", name)
            extra = set(spec) - {"target", "weight", "unassigned_penalty"}
            if extra:
                raise doc.error(
                    "unknown key; expected target, weight, unassigned_penalty",
                    "urgency",
                    name,
                    sorted(extra)[0],
                )
            for key in ("target", "weight", "unassigned_penalty"):
                if key not in spec:
                    raise doc.error(f"missing key {key!r}", "urgency", name)
            try:
                target = parse_duration(spec["target"], "target")
            except ValidationError:
                raise doc.error(
                    "expected an ISO 8601 duration such as P2D (no Y or M)",
                    "urgency",
                    name,
                    "target",
                ) from None
            numbers = {}
            for key in ("weight", "unassigned_penalty"):
                value = spec[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise doc.error("expected a non-negative number", "urgency", name, key)
                numbers[key] = float(value)
            classes.append(
                UrgencyClass(name, target, numbers["weight"], numbers["unassigned_penalty"])
            )
        wait = doc.data.get("wait_weight", 0.01)
        try:
            return cls(classes, _number(wait))
        except (ValidationError, TypeError):
            raise doc.error("expected a non-negative number", "wait_weight") from None


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected a number")
    return float(value)


DEFAULT_POLICY: Final = UrgencyPolicy(
    [
        UrgencyClass("emergent", _dt.timedelta(0), 100.0, 100_000.0),
        UrgencyClass("urgent", _dt.timedelta(days=2), 20.0, 20_000.0),
        UrgencyClass("post-discharge", _dt.timedelta(days=7), 10.0, 10_000.0),
        UrgencyClass("routine", _dt.timedelta(days=30), 1.0, 1_000.0),
    ]
)
"""The default policy: emergent same day, urgent <= 2 days, post-discharge <= 7 days (CMS
TCM, CPT 99496), routine <= 30 days; weights and penalties as in the schedule-problem spec."""


def _ints(value: Iterable[int]) -> frozenset[int]:
    days = frozenset(value)
    if not days <= frozenset(range(7)):
        raise ValidationError.at("Preferences.weekdays", "expected weekdays 0 (Mon) to 6 (Sun)")
    return days


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError.at("resources", "expected a list of ids, not a string")
    return tuple(value)


@attrs.frozen
class Preferences:
    """Soft wishes: they rank candidates, never exclude them.

    Attributes:
        weekdays: Preferred weekdays (0 = Monday); empty means no preference.
        earliest: Preferred earliest local start time.
        latest: Preferred latest local start time.
        resources: Preferred resources (providers, locations) by id, most preferred first.
    """

    weekdays: frozenset[int] = attrs.field(factory=frozenset, converter=_ints)
    earliest: _dt.time | None = None
    latest: _dt.time | None = None
    resources: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen
class Predecessor:
    """A visit that must come first, with a gap from its end to this visit's start.

    Attributes:
        request: The id of the request that must come first.
        min_gap: Shortest gap from its end to this one's start.
        max_gap: Longest gap.
    """

    request: str
    min_gap: _dt.timedelta
    max_gap: _dt.timedelta

    def __attrs_post_init__(self) -> None:
        if self.min_gap < _dt.timedelta(0) or self.max_gap < self.min_gap:
            raise ValidationError.at("Predecessor.max_gap", "expected 0 <= min_gap <= max_gap")


@attrs.frozen
class AppointmentRequest:
    """A waitlist entry: a visit to find a slot (or slots) for.

    Attributes:
        id: The request's id.
        patient: The patient's id (no two of their appointments may overlap).
        urgency: The urgency class name in the policy.
        duration: How long the visit takes.
        release: Earliest acceptable start.
        due: Latest acceptable start.
        any_of: Resources (schedule ids) of which one is needed, e.g. any cardiologist.
        all_of: Resources all needed at once besides, e.g. a room and an echo machine.
        service_type: The service, matched against slots' service types when both are set.
        preferences: Soft wishes.
        usual_provider: For continuity: the resource the patient usually sees.
        after: A predecessor this visit must follow.
    """

    id: str
    patient: str
    urgency: str
    duration: _dt.timedelta
    release: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    due: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    any_of: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    all_of: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    service_type: CodeableConcept | None = None
    preferences: Preferences = attrs.field(factory=Preferences)
    usual_provider: str | None = None
    after: Predecessor | None = None

    def __attrs_post_init__(self) -> None:
        if self.duration <= _dt.timedelta(0):
            raise ValidationError.at("AppointmentRequest.duration", "expected a positive duration")
        if epoch_us(self.due) < epoch_us(self.release):
            raise ValidationError.at(
                "AppointmentRequest.due", "expected due at or after release (the window is empty)"
            )
        if not self.any_of and not self.all_of:
            raise ValidationError.at(
                "AppointmentRequest.any_of", "expected at least one eligible resource"
            )
        if self.after is not None and self.after.request == self.id:
            raise ValidationError.at("AppointmentRequest.after", "a request cannot follow itself")
        if set(self.any_of) & set(self.all_of):
            raise ValidationError.at(
                "AppointmentRequest.all_of", "expected resources in any_of or all_of, not both"
            )
