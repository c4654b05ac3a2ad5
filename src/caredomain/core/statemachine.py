"""A small kernel for declaring and running state machines as data.

Rules of this module (after h11's ``_state.py``):

1. A machine is a *table*: states (a ``StrEnum``), an initial state, terminal states, and
   transitions ``(event type, from-states) -> to-state`` with optional guards and an effect.
   Nothing about a machine's behaviour lives outside its table.
2. Applying an event is pure: ``machine.apply(value, event, clock)`` returns a new value and
   the recorded event, or raises. The value is a frozen attrs instance with a ``state`` and
   a ``trail`` (`AuditTrail`) field.
3. An event id already in the trail is a no-op (idempotent replay). An event that occurred
   before the last applied one raises `OutOfOrderEvent`.
4. Terminal states accept only transitions declared as corrections (``entered-in-error``).
5. The table renders itself as Mermaid ``stateDiagram-v2`` so diagrams are never drawn by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, cast

import attrs

from caredomain.core.errors import (
    GuardRejected,
    InvalidTransition,
    OutOfOrderEvent,
    RuleError,
    ValidationError,
)
from caredomain.core.events import AuditEntry, AuditTrail, DomainEvent
from caredomain.core.time import Clock, epoch_us

__all__ = ["Applied", "Guard", "Machine", "Stateful", "Transition"]

S = TypeVar("S", bound=StrEnum)
V = TypeVar("V", bound="Stateful")


class Stateful(Protocol):
    """What a value needs to be driven by a `Machine`: a state and an audit trail."""

    @property
    def state(self) -> StrEnum:
        """The current state."""
        ...

    @property
    def trail(self) -> AuditTrail:
        """Events applied so far."""
        ...


@attrs.frozen
class Guard:
    """A condition a transition requires, with the reason it gives when it refuses.

    Attributes:
        name: Short kebab-case name shown in diagrams and errors (``"accepted"``).
        check: ``check(value, event)`` returns ``None`` to allow, or a reason string to refuse.
            Reasons name states, codes and rules, never patient data.
    """

    name: str
    check: Callable[[Any, Any], str | None] = attrs.field(eq=False)


def _frozen_states(value: Iterable[Any]) -> frozenset[Any]:
    if isinstance(value, StrEnum):
        return frozenset({value})
    return frozenset(value)


def _guards(value: Iterable[Guard]) -> tuple[Guard, ...]:
    return tuple(value)


@attrs.frozen
class Transition(Generic[S]):
    """One row of a machine's table.

    Attributes:
        event: The event class that triggers it (subclasses trigger it too).
        sources: The states it leaves from (one state or several).
        target: The state it enters; ``None`` stays in the source state (a self-loop such as
            a reschedule).
        choose: For a transition whose target depends on the value or the event (resume
            to the state before a hold; approved goes on, denied waits): ``choose(value,
            event)`` returns the target, which must be one of ``targets``. It sees the value
            before ``effect`` runs.
        targets: The states ``choose`` may return (drawn as edges in the diagram).
        guards: Conditions checked in order; the first refusal stops the transition.
        effect: ``effect(value, event) -> value``: the data change that goes with it
            (store the appointment link...). The kernel then sets ``state`` and ``trail``.
        correction: Whether it may leave a terminal state (``entered-in-error``).
    """

    event: type[DomainEvent]
    sources: frozenset[S] = attrs.field(converter=_frozen_states)
    target: S | None
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_guards)
    effect: Callable[[Any, Any], Any] | None = attrs.field(default=None, eq=False)
    correction: bool = False
    choose: Callable[[Any, Any], Any] | None = attrs.field(default=None, eq=False)
    targets: frozenset[S] = attrs.field(factory=frozenset, converter=_frozen_states)

    def __attrs_post_init__(self) -> None:
        if (self.choose is None) != (not self.targets) or (self.choose and self.target):
            raise RuleError(
                f"{self.event.event_type}: give either a target, or choose with its targets",
                key=self.event.event_type,
            )

    def possible_targets(self, source: S) -> frozenset[S]:
        """Every state this row can lead to from ``source``."""
        if self.choose is not None:
            return self.targets
        return frozenset({self.target if self.target is not None else source})


@attrs.frozen
class Applied(Generic[V]):
    """What `Machine.apply` returns.

    Attributes:
        value: The new value (the same object when the event was a duplicate).
        event: The event as recorded (``recorded_at`` stamped).
        duplicate: Whether the event id had already been applied (nothing changed).
    """

    value: V
    event: DomainEvent
    duplicate: bool = False


_MERMAID_ID = re.compile(r"[^A-Za-z0-9_]")
_FIELDS: dict[type, tuple[str, ...]] = {}


def _with_state(value: V, state: StrEnum, trail: AuditTrail) -> V:
    """``value`` with a new state and trail, without re-running its validators.

    The kernel sets only the two fields it computed (a declared state, a trail it extended);
    every other field comes from a value that was validated when it was built (by the
    caller or the transition's effect). Copying the fields is about twice as fast as
    ``attrs.evolve``, which re-validates them all on every event.
    """
    cls = type(value)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(a.name for a in attrs.fields(cast(Any, cls)))
    new = object.__new__(cls)
    for name in names:
        object.__setattr__(new, name, getattr(value, name))
    object.__setattr__(new, "state", state)
    object.__setattr__(new, "trail", trail)
    return new


class Machine(Generic[S, V]):
    """A declared state machine over values of one type.

    Args:
        name: The machine's name, used in errors and diagrams (``"referral"``).
        states: The ``StrEnum`` of its states.
        initial: The state a new value starts in.
        terminal: States that end the lifecycle.
        transitions: The table.

    Raises:
        RuleError: The table is inconsistent: an undeclared state, two transitions for the
            same event and state, or a non-correction transition out of a terminal state.
    """

    def __init__(
        self,
        name: str,
        states: type[S],
        initial: S,
        terminal: Iterable[S],
        transitions: Sequence[Transition[S]],
    ) -> None:
        self.name = name
        self.states = states
        self.initial = initial
        self.terminal: frozenset[S] = frozenset(terminal)
        self.transitions: tuple[Transition[S], ...] = tuple(transitions)
        self._index: dict[tuple[type[DomainEvent], S], Transition[S]] = {}
        self._check_and_index()

    def _fail(self, message: str) -> RuleError:
        return RuleError(message, key=f"machine {self.name}")

    def _check_and_index(self) -> None:
        declared = set(self.states)
        if self.initial not in declared:
            raise self._fail(f"initial state {self.initial!r} is not declared")
        if not self.terminal <= declared:
            raise self._fail("a terminal state is not declared")
        for row in self.transitions:
            if not row.sources:
                raise self._fail(f"{row.event.event_type} has no source state")
            undeclared = [s for s in row.sources if s not in declared]
            ends = {row.target} if row.target is not None else set(row.targets)
            if undeclared or not ends <= declared:
                raise self._fail(f"{row.event.event_type} names an undeclared state")
            for source in row.sources:
                if source in self.terminal and not row.correction:
                    raise self._fail(
                        f"{row.event.event_type} leaves terminal state {source.value!r} "
                        "but is not a correction"
                    )
                key = (row.event, source)
                if key in self._index:
                    raise self._fail(
                        f"two transitions for {row.event.event_type} from {source.value!r}"
                    )
                self._index[key] = row

    def _find(self, event_type: type[DomainEvent], state: S) -> Transition[S] | None:
        for cls in event_type.__mro__:
            row = self._index.get((cast(type[DomainEvent], cls), state))
            if row is not None:
                return row
            if cls is DomainEvent:
                break
        return None

    def events_from(self, state: S) -> tuple[str, ...]:
        """Names of the event types that have a transition from ``state``, sorted."""
        return tuple(sorted({ev.event_type for (ev, src) in self._index if src == state}))

    def can_apply(self, value: V, event: DomainEvent) -> str | None:
        """``None`` if ``event`` would apply to ``value`` now, else the reason it would not."""
        try:
            self._check(value, event)
        except InvalidTransition as exc:
            return exc.reason
        return None

    def _check(self, value: V, event: DomainEvent) -> Transition[S]:
        state = cast(S, value.state)
        name = event.event_type
        last = value.trail.last
        if last is not None and epoch_us(event.occurred_at) < epoch_us(last.occurred_at):
            raise OutOfOrderEvent(
                self.name,
                state.value,
                name,
                "it occurred before the last applied event; sort events by occurred_at and replay",
            )
        row = self._find(type(event), state)
        if row is None:
            if state in self.terminal:
                reason = "the state is terminal; only corrections apply"
            else:
                allowed = ", ".join(self.events_from(state)) or "none"
                reason = f"no transition for this event; expected one of: {allowed}"
            raise InvalidTransition(self.name, state.value, name, reason)
        for guard in row.guards:
            refusal = guard.check(value, event)
            if refusal is not None:
                raise GuardRejected(self.name, state.value, name, guard.name, refusal)
        return row

    def apply(self, value: V, event: DomainEvent, clock: Clock | None = None) -> Applied[V]:
        """Apply ``event`` to ``value`` and return the new value and the recorded event.

        Args:
            value: The current value (frozen; it is not changed).
            event: The event to apply.
            clock: Stamps ``recorded_at`` when the event has none. Replays of recorded
                events need no clock.

        Raises:
            InvalidTransition: No transition for the event in the value's state, or the
                state is terminal.
            GuardRejected: A guard refused; its reason says why.
            OutOfOrderEvent: The event occurred before the last applied event.
            ValidationError: The event has no ``recorded_at`` and no clock was given.
        """
        if event.event_id in value.trail:
            return Applied(value, event, duplicate=True)
        row = self._check(value, event)
        if event.recorded_at is None:
            if clock is None:
                raise ValidationError.at(
                    "DomainEvent.recorded_at",
                    "expected a recorded event or a clock to stamp it",
                )
            event = attrs.evolve(event, recorded_at=clock.now())
        assert event.recorded_at is not None  # for the type checker: stamped just above
        source = cast(S, value.state)
        if row.choose is not None:
            target = row.choose(value, event)
            if target not in row.targets:
                raise InvalidTransition(
                    self.name,
                    source.value,
                    event.event_type,
                    "the transition chose an undeclared target",
                )
        else:
            target = row.target if row.target is not None else source
        changed = row.effect(value, event) if row.effect is not None else value
        entry = AuditEntry(
            event_id=event.event_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            recorded_at=event.recorded_at,
            from_state=source.value,
            to_state=target.value,
            actor=event.actor,
            reason=event.audit_reason(),
        )
        new = _with_state(changed, target, changed.trail.append(entry))
        return Applied(new, event)

    def replay(self, value: V, events: Iterable[DomainEvent], clock: Clock | None = None) -> V:
        """Apply ``events`` in order to ``value`` and return the result.

        Replaying the recorded events of a value onto its initial value rebuilds it exactly.
        """
        for event in events:
            value = self.apply(value, event, clock).value
        return value

    def to_mermaid(self) -> str:
        """The machine as Mermaid ``stateDiagram-v2`` text (guards shown in brackets)."""

        def node(state: S) -> str:
            return _MERMAID_ID.sub("_", state.value)

        lines = ["stateDiagram-v2"]
        for state in self.states:
            if node(state) != state.value:
                lines.append(f'    state "{state.value}" as {node(state)}')
        lines.append(f"    [*] --> {node(self.initial)}")
        for row in self.transitions:
            label = row.event.__name__
            if row.guards:
                label += " [" + ", ".join(g.name for g in row.guards) + "]"
            for source in sorted(row.sources, key=list(self.states).index):
                for target in sorted(row.possible_targets(source), key=list(self.states).index):
                    lines.append(f"    {node(source)} --> {node(target)} : {label}")
        for state in self.states:
            if state in self.terminal:
                lines.append(f"    {node(state)} --> [*]")
        return "\n".join(lines) + "\n"
