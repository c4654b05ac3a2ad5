"""The exceptions caredomain raises, as one tree.

```text
    CareDomainError
     ├── ValidationError (also ValueError)       a value does not fit its type or rule
     │    ├── NaiveDatetimeError                 a datetime without an offset at a boundary
     │    └── UnitError                          a unit is unknown or cannot convert
     ├── ParseError (also ValueError)            a partner's bytes/text could not be read
     ├── InvalidTransition                       an event does not apply in the current state
     │    ├── GuardRejected                      a declared guard refused the transition
     │    └── OutOfOrderEvent                    an event older than the last one applied
     ├── ConflictError                           a write collides with existing state
     ├── RuleError                               a rule, template or machine definition is wrong
     └── MissingDependencyError (also ImportError)  an optional package is not installed
```

Rules of this module:

1. Every error says *where* (a path such as ``$.goals[2].target.high``, a segment/field, a
   rule file and line, a state and event) and *what was expected*.
2. No message ever contains patient data. Constructors take structural facts only (paths,
   type names, codes, state names, rule ids); the offending value is never formatted into
   the text. Tests feed patient names and MRNs through every error path and assert they are
   absent.
3. A caller's mistake (``InvalidTransition``: the app asked for something illegal) is kept
   apart from a partner's bad input (``ParseError``: what an HL7 ACK should reject), as h11
   splits ``LocalProtocolError`` from ``RemoteProtocolError``.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = [
    "CareDomainError",
    "ConflictError",
    "GuardRejected",
    "InvalidTransition",
    "MissingDependencyError",
    "NaiveDatetimeError",
    "OutOfOrderEvent",
    "ParseError",
    "Problem",
    "RuleError",
    "UnitError",
    "ValidationError",
]


class CareDomainError(Exception):
    """Base of every exception caredomain raises on purpose.

    Catch this to handle any caredomain failure; each subclass carries the attributes a
    caller needs to act (a location, a state and event, a rule id), never patient data.
    """


@attrs.frozen
class Problem:
    """One thing wrong with an input: where it is and what was expected.

    Attributes:
        path: Where, as a JSON-path-like string (``$.goals[2].target.high``) or another
            locator meaningful to the input (``PID-3[2].1``, ``pack.toml:12``).
        message: What was expected, without the offending value.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ValidationError(CareDomainError, ValueError):
    """A value does not fit its declared type or a domain rule.

    Raised by model constructors (field validators) and by ``from_dict``/``from_json``.
    All problems found in one input are reported together in `problems`.

    Attributes:
        problems: Every problem found, each with its path and what was expected.
        subject: The name of the type being built (``"Patient"``), if known.
    """

    def __init__(self, problems: Iterable[Problem], *, subject: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.subject = subject
        super().__init__(self._render())

    @classmethod
    def at(cls, path: str, message: str, *, subject: str | None = None) -> ValidationError:
        """Build an error with a single problem at ``path``."""
        return cls([Problem(path, message)], subject=subject)

    @property
    def location(self) -> str:
        """The path of the first problem (the common case has only one)."""
        return self.problems[0].path if self.problems else "$"

    def _render(self) -> str:
        head = f"invalid {self.subject}" if self.subject else "invalid value"
        if len(self.problems) == 1:
            return f"{head}: {self.problems[0]}"
        lines = "; ".join(str(p) for p in self.problems)
        return f"{head}: {len(self.problems)} problems: {lines}"


class NaiveDatetimeError(ValidationError):
    """A datetime without a UTC offset crossed a public boundary.

    caredomain never guesses a timezone: pass an aware datetime (``pendulum.datetime(...,
    tz="America/Chicago")``) or a string with an offset (``2026-03-02T09:00:00-06:00``).
    """

    def __init__(self, location: str, *, subject: str | None = None) -> None:
        super().__init__(
            [Problem(location, "expected an aware datetime with a UTC offset, got a naive one")],
            subject=subject,
        )


class UnitError(ValidationError):
    """A unit is unknown, or two units cannot be converted into each other.

    Attributes:
        from_unit: The unit converted from (a UCUM code).
        to_unit: The unit asked for, if this was a conversion.
    """

    def __init__(
        self,
        location: str,
        message: str,
        *,
        from_unit: str,
        to_unit: str | None = None,
    ) -> None:
        self.from_unit = from_unit
        self.to_unit = to_unit
        super().__init__([Problem(location, message)], subject="Quantity")


class ParseError(CareDomainError, ValueError):
    """Text or bytes from a partner could not be read.

    Attributes:
        location: Where in the input (``line 3, column 7``; ``segment 2 (PID), field 3``).
        expected: What the reader expected to find there.
    """

    def __init__(self, location: str, expected: str) -> None:
        self.location = location
        self.expected = expected
        super().__init__(f"cannot parse at {location}: expected {expected}")


class InvalidTransition(CareDomainError):
    """An event cannot be applied to a value in its current state.

    Attributes:
        machine: The state machine's name (``"referral"``).
        state: The current state's value (``"draft"``).
        event: The event type's name (``"PatientSeen"``).
        reason: Why: no such transition, a terminal state, or a guard's reason.
    """

    def __init__(self, machine: str, state: str, event: str, reason: str) -> None:
        self.machine = machine
        self.state = state
        self.event = event
        self.reason = reason
        super().__init__(f"{machine}: cannot apply {event} in state {state!r}: {reason}")


class GuardRejected(InvalidTransition):
    """A transition exists for the event, but one of its guards refused it.

    Attributes:
        guard: The guard's name (``"authorization-approved"``).
    """

    def __init__(self, machine: str, state: str, event: str, guard: str, reason: str) -> None:
        self.guard = guard
        super().__init__(machine, state, event, f"guard {guard!r} refused: {reason}")


class OutOfOrderEvent(InvalidTransition):
    """An event occurred before the last event already applied to the value.

    Replaying history must be deterministic, so late events are rejected rather than
    silently reordered; the caller re-sorts and replays.
    """


class ConflictError(CareDomainError):
    """A change collides with existing state (a slot already taken, a duplicate id).

    Attributes:
        resource: The kind of thing in conflict (``"Slot"``).
        key: Its id, never a patient's identifier.
    """

    def __init__(self, resource: str, key: str, reason: str) -> None:
        self.resource = resource
        self.key = key
        self.reason = reason
        super().__init__(f"conflict on {resource} {key!r}: {reason}")


class RuleError(CareDomainError):
    """A rule pack, template, policy or machine definition is wrong.

    Attributes:
        source: The file (or ``"<python>"`` for definitions built in code).
        line: The 1-based line in ``source``, when known.
        key: The key or rule id at fault, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "<python>",
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.key = key
        where = source if line is None else f"{source}:{line}"
        if key is not None:
            where = f"{where} [{key}]"
        super().__init__(f"{where}: {message}")


class MissingDependencyError(CareDomainError, ImportError):
    """An optional package needed by an adapter or extra is not installed."""

    def __init__(self, package: str, extra: str | None = None) -> None:
        hint = f"pip install 'caredomain[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{package} is required for this feature: {hint}")
