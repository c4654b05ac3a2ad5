"""Domain events and the audit trail they leave.

A domain event is a fact that happened ("the referral was accepted at 10:02 by Dr. Chen").
Areas subclass `DomainEvent`; each subclass is registered under its class name (or its
``event_type`` class variable) so that the one converter can read a stored event back as the
right class. State machines record every applied event as an `AuditEntry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import attrs
from pendulum import DateTime

from caredomain.core.errors import RuleError, ValidationError
from caredomain.core.identity import Reference
from caredomain.core.time import check_aware, instant_key, to_datetime

__all__ = ["AuditEntry", "AuditTrail", "DomainEvent", "event_class", "event_types"]

_REGISTRY: dict[str, type[DomainEvent]] = {}


def _check_event_id(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not value or value != value.strip():
        raise ValidationError.at("DomainEvent.event_id", "expected a non-empty event id")


@attrs.frozen(kw_only=True)
class DomainEvent:
    """Base class of every domain event.

    Subclasses are frozen attrs classes declared with ``@attrs.frozen(kw_only=True)``;
    they add the facts of the event. Each subclass registers under ``event_type``
    (default: the class name), which must be unique.

    Attributes:
        event_id: Unique id; applying the same id twice is a no-op (idempotent replay).
        occurred_at: When it happened in the world (aware).
        recorded_at: When caredomain recorded it; stamped from the clock on apply when
            ``None``.
        actor: Who made it happen, if known (a Practitioner, Organization...).
    """

    event_type: ClassVar[str] = "DomainEvent"

    event_id: str = attrs.field(validator=_check_event_id)
    occurred_at: DateTime = attrs.field(
        converter=to_datetime, validator=check_aware, eq=instant_key
    )
    recorded_at: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    actor: Reference | None = None

    def audit_reason(self) -> str | None:
        """A coded reason or note for the audit trail (an override's reason); default none."""
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("event_type", cls.__name__)
        cls.event_type = name
        existing = _REGISTRY.get(name)
        # attrs rebuilds slotted classes, so the same class body registers twice; a
        # *different* class under the same name is a definition error.
        if existing is not None and (existing.__module__, existing.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise RuleError(
                f"event type {name!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}",
                key=name,
            )
        _REGISTRY[name] = cls


def event_class(name: str) -> type[DomainEvent]:
    """The registered event class for ``event_type`` name ``name``.

    Raises:
        ValidationError: No event type of that name is registered.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValidationError.at("type", "expected a registered domain event type") from None


def event_types() -> frozenset[str]:
    """The names of every registered event type."""
    return frozenset(_REGISTRY)


@attrs.frozen
class AuditEntry:
    """One applied event, as the audit trail remembers it.

    Attributes:
        event_id: The event's id.
        event_type: The event's registered type name.
        occurred_at: When it happened.
        recorded_at: When it was recorded.
        actor: Who did it.
        from_state: The state before.
        to_state: The state after.
        reason: A coded reason or note the transition carried (an override's reason).
    """

    event_id: str
    event_type: str
    occurred_at: DateTime = attrs.field(
        converter=to_datetime, validator=check_aware, eq=instant_key
    )
    recorded_at: DateTime = attrs.field(
        converter=to_datetime, validator=check_aware, eq=instant_key
    )
    from_state: str
    to_state: str
    actor: Reference | None = None
    reason: str | None = None


def _entries(value: Iterable[AuditEntry]) -> tuple[AuditEntry, ...]:
    return tuple(value)


@attrs.frozen
class AuditTrail:
    """The applied events of one value, oldest first. Immutable: `append` returns a copy.

    Membership (``event_id in trail``), which every state-machine step checks for
    idempotency, is a set lookup, not a scan.

    Attributes:
        entries: The entries, in the order applied.
    """

    entries: tuple[AuditEntry, ...] = attrs.field(default=(), converter=_entries)
    _ids: frozenset[str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_ids", frozenset(e.event_id for e in self.entries))

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[AuditEntry]:
        return iter(self.entries)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    @property
    def last(self) -> AuditEntry | None:
        """The most recent entry, or ``None`` for an empty trail."""
        return self.entries[-1] if self.entries else None

    def append(self, entry: AuditEntry) -> AuditTrail:
        """A new trail with ``entry`` added at the end."""
        new = object.__new__(AuditTrail)
        object.__setattr__(new, "entries", (*self.entries, entry))
        object.__setattr__(new, "_ids", self._ids | {entry.event_id})
        return new
