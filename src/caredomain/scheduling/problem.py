"""The batch slot-assignment problem and its answer, as values and as the problem file.

`SchedulingProblem` holds what the optimizer needs: bookable slots (caredomain `Slot`, whose
`Slot.schedule` is the resource), waitlist entries (`AppointmentRequest`) and the
`UrgencyPolicy` that prices them. `Assignment` is the optimizer's answer. Both read and write
the plain-JSON exchange format of the schedule-problem spec (`caredomain schedule optimize
PROBLEM.json`):

| file (`specs/schedule-problem.md`)  | value                                                    |
|-------------------------------------|----------------------------------------------------------|
| `timezone`                          | `SchedulingProblem.timezone` (times are shown in it)     |
| `urgency`, `wait_weight`            | `SchedulingProblem.policy` (`UrgencyPolicy`)             |
| `slots[]`: `id, resource, start, end` | `Slot(id, schedule=resource, Interval(start, end))`    |
| `requests[]`: `duration_minutes`    | `AppointmentRequest.duration`                            |
| `requests[]`: `eligible_resources`  | `AppointmentRequest.any_of`                              |
| `requests[]`: `after`               | `AppointmentRequest.after` (`Predecessor`)               |

Rules of this module:

1. Reading is strict and reports every problem at once, each with its JSON path
   (`$.requests[3].release`); structural problems come from the one caredomain converter
   (`cattrs` with detailed validation), cross-record ones (an unknown urgency, an `after`
   naming no request, duplicate ids, a cycle of `after`) from `SchedulingProblem` itself.
   A time without a UTC offset raises `NaiveDatetimeError`. No message carries a value
   from the input.
2. A problem never drops a request. Whatever the format cannot say is refused, not ignored:
   slots must be free and hold one visit (the format's slots do), and multi-resource requests
   (`AppointmentRequest.all_of`) are refused because the format has no such notion.
   Soft wishes (`preferences`, `usual_provider`) and `service_type` are not part of the
   format and are not written; the optimizer does not use them.
3. `timezone`, `urgency` and `wait_weight` may be left out of a file: times then keep their
   own offsets, and the policy is `DEFAULT_POLICY` (the spec's example values).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

import attrs
from pendulum import DateTime

from caredomain.core.errors import ParseError, Problem, ValidationError
from caredomain.core.serialization import from_dict
from caredomain.core.time import Interval, epoch_us, validate_timezone
from caredomain.scheduling.requests import (
    DEFAULT_POLICY,
    AppointmentRequest,
    Predecessor,
    UrgencyClass,
    UrgencyPolicy,
)
from caredomain.scheduling.slots import Slot, SlotStatus

__all__ = [
    "Assignment",
    "Placement",
    "SchedulingProblem",
    "UnassignedReason",
    "UnassignedRequest",
]

_MINUTE = _dt.timedelta(minutes=1)
_DAY = _dt.timedelta(days=1)


def _slots(value: Iterable[Slot]) -> tuple[Slot, ...]:
    return tuple(value)


def _requests(value: Iterable[AppointmentRequest]) -> tuple[AppointmentRequest, ...]:
    return tuple(value)


def _check_zone(_inst: object, _attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        validate_timezone(value, "$.timezone")


@attrs.frozen
class SchedulingProblem:
    """A waitlist to place into slots: the input of `optimize`.

    Attributes:
        slots: The bookable slots; each takes at most one request. Each slot's resource is its
            `Slot.schedule`. Slots must be free with capacity 1 (the problem file's slots are).
        requests: The waitlist entries. A request is eligible for a slot when the slot's
            resource is in its `any_of`, the slot lasts at least its `duration`, and
            `release <= slot start <= due`. Its `after` names another request of the problem.
        policy: Prices each request by its urgency class (see `optimize` for the objective).
        timezone: IANA zone the file's times are shown in, if any.

    Raises:
        ValidationError: Duplicate slot or request ids; an urgency the policy lacks; an
            `after` naming no request of the problem, or `after` links forming a cycle; a
            slot that is not free or holds more than one visit; a multi-resource request.
            Every problem is reported, each at its path (`$.requests[4].after.request`).
    """

    slots: tuple[Slot, ...] = attrs.field(converter=_slots)
    requests: tuple[AppointmentRequest, ...] = attrs.field(converter=_requests)
    policy: UrgencyPolicy = DEFAULT_POLICY
    timezone: str | None = attrs.field(default=None, validator=_check_zone)

    def __attrs_post_init__(self) -> None:
        problems: list[Problem] = []
        for i, slot in enumerate(self.slots):
            if slot.status is not SlotStatus.FREE:
                problems.append(Problem(f"$.slots[{i}].status", "expected a free slot"))
            if slot.capacity != 1:
                problems.append(
                    Problem(f"$.slots[{i}].capacity", "expected a slot that holds one visit")
                )
        for i, request in enumerate(self.requests):
            if request.all_of:
                problems.append(
                    Problem(
                        f"$.requests[{i}].all_of",
                        "expected single-resource requests (the optimizer has no all_of)",
                    )
                )
        problems.extend(
            _link_problems(
                [s.id for s in self.slots],
                [
                    (r.id, r.urgency, r.after.request if r.after is not None else None)
                    for r in self.requests
                ],
                [c.name for c in self.policy.classes],
            )
        )
        if problems:
            raise ValidationError(problems, subject="SchedulingProblem")

    @classmethod
    def from_dict(cls, data: Any) -> SchedulingProblem:
        """Read a problem from the schedule-problem JSON structure (parsed JSON).

        Raises:
            NaiveDatetimeError: Every problem is a time without a UTC offset.
            ValidationError: Every problem found, each with its path.
        """
        try:
            record = from_dict(data, _ProblemFile)
        except ValidationError as exc:
            raise _as_problem_error(exc) from None
        names = list(record.urgency) if record.urgency is not None else None
        problems = _file_problems(record) + _link_problems(
            [s.id for s in record.slots],
            [
                (r.id, r.urgency, r.after.request if r.after is not None else None)
                for r in record.requests
            ],
            names if names is not None else [c.name for c in DEFAULT_POLICY.classes],
        )
        if problems:
            raise ValidationError(problems, subject="SchedulingProblem")
        zone = record.timezone

        def local(value: DateTime) -> DateTime:
            return value.in_tz(zone) if zone is not None else value

        if record.urgency is None:
            classes = DEFAULT_POLICY.classes
        else:
            classes = tuple(
                UrgencyClass(
                    name,
                    _dt.timedelta(days=spec.target_days),
                    float(spec.weight),
                    float(spec.unassigned_penalty),
                )
                for name, spec in record.urgency.items()
            )
        policy = UrgencyPolicy(classes, float(record.wait_weight))
        slots = [
            Slot(s.id, s.resource, Interval(local(s.start), local(s.end))) for s in record.slots
        ]
        requests = [
            AppointmentRequest(
                id=r.id,
                patient=r.patient,
                urgency=r.urgency,
                duration=_dt.timedelta(minutes=r.duration_minutes),
                release=local(r.release),
                due=local(r.due),
                any_of=r.eligible_resources,
                after=None
                if r.after is None
                else Predecessor(
                    r.after.request,
                    _dt.timedelta(minutes=r.after.min_gap_minutes),
                    _dt.timedelta(minutes=r.after.max_gap_minutes),
                ),
            )
            for r in record.requests
        ]
        return cls(slots, requests, policy, zone)

    @classmethod
    def from_json(cls, text: str | bytes) -> SchedulingProblem:
        """Read a problem from schedule-problem JSON text.

        Raises:
            ParseError: The text is not JSON (line and column, never the text).
            NaiveDatetimeError: Every problem is a time without a UTC offset.
            ValidationError: Every problem found, each with its path.
        """
        return cls.from_dict(_load_json(text))

    def to_dict(self) -> dict[str, Any]:
        """The problem in the schedule-problem JSON structure, ready for `json.dumps`.

        Whole numbers are written as integers (`"weight": 20`), times as RFC 3339 with their
        offset. Reading the result back with `from_dict` gives an equal problem.
        """
        out: dict[str, Any] = {}
        if self.timezone is not None:
            out["timezone"] = self.timezone
        out["urgency"] = {
            c.name: {
                "target_days": _number(c.target / _DAY),
                "weight": _number(c.weight),
                "unassigned_penalty": _number(c.unassigned_penalty),
            }
            for c in self.policy.classes
        }
        out["wait_weight"] = _number(self.policy.wait_weight)
        out["slots"] = [
            {
                "id": s.id,
                "resource": s.schedule,
                "start": s.interval.start.isoformat(),
                "end": s.interval.end.isoformat(),
            }
            for s in self.slots
        ]
        out["requests"] = [_request_dict(r) for r in self.requests]
        return out

    def to_json(self, *, indent: int | None = None) -> str:
        """The problem as schedule-problem JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)


def _link_problems(
    slot_ids: Sequence[str],
    requests: Sequence[tuple[str, str, str | None]],
    classes: Sequence[str],
) -> list[Problem]:
    """Cross-record problems: duplicate ids, unknown urgencies and `after` targets, cycles.

    ``requests`` holds each request's ``(id, urgency, after request id or None)``.
    """
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, slot_id in enumerate(slot_ids):
        if slot_id in seen:
            problems.append(Problem(f"$.slots[{i}].id", "expected a unique slot id"))
        seen.add(slot_id)
    index: dict[str, int] = {}
    known = set(classes)
    for i, (request_id, urgency, _after) in enumerate(requests):
        if request_id in index:
            problems.append(Problem(f"$.requests[{i}].id", "expected a unique request id"))
        else:
            index[request_id] = i
        if urgency not in known:
            problems.append(
                Problem(
                    f"$.requests[{i}].urgency",
                    f"expected one of the urgency classes: {', '.join(classes)}",
                )
            )
    for i, (_id, _urgency, after) in enumerate(requests):
        if after is not None and after not in index:
            problems.append(
                Problem(f"$.requests[{i}].after.request", "expected the id of a request")
            )
    if problems:
        return problems
    # Cycles of after links: walk each chain once.
    state = [0] * len(requests)  # 0 unseen, 1 on the current walk, 2 cleared
    for start in range(len(requests)):
        walk = []
        at: int | None = start
        while at is not None and state[at] == 0:
            state[at] = 1
            walk.append(at)
            after = requests[at][2]
            at = index[after] if after is not None else None
        if at is not None and state[at] == 1:
            problems.append(Problem(f"$.requests[{at}].after", "expected no cycle of after links"))
        for j in walk:
            state[j] = 2
    return problems


def _request_dict(request: AppointmentRequest) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": request.id,
        "patient": request.patient,
        "urgency": request.urgency,
        "duration_minutes": _number(request.duration / _MINUTE),
        "release": request.release.isoformat(),
        "due": request.due.isoformat(),
        "eligible_resources": list(request.any_of),
    }
    if request.after is not None:
        out["after"] = {
            "request": request.after.request,
            "min_gap_minutes": _number(request.after.min_gap / _MINUTE),
            "max_gap_minutes": _number(request.after.max_gap / _MINUTE),
        }
    return out


def _as_problem_error(exc: ValidationError) -> ValidationError:
    """The same error (same class, same problems), naming `SchedulingProblem` as its subject."""
    error = type(exc).__new__(type(exc))
    ValidationError.__init__(error, exc.problems, subject="SchedulingProblem")
    return error


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _load_json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"line {exc.lineno}, column {exc.colno}", exc.msg) from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"byte {exc.start}", "UTF-8 text") from None


# --- the file's records: private, structured by the one converter -----------------------


@attrs.frozen
class _UrgencyRecord:
    target_days: int | float
    weight: int | float
    unassigned_penalty: int | float


@attrs.frozen
class _SlotRecord:
    id: str
    resource: str
    start: DateTime
    end: DateTime


@attrs.frozen
class _AfterRecord:
    request: str
    min_gap_minutes: int | float
    max_gap_minutes: int | float


@attrs.frozen
class _RequestRecord:
    id: str
    patient: str
    urgency: str
    duration_minutes: int | float
    release: DateTime
    due: DateTime
    eligible_resources: tuple[str, ...]
    after: _AfterRecord | None = None


@attrs.frozen
class _ProblemFile:
    slots: tuple[_SlotRecord, ...]
    requests: tuple[_RequestRecord, ...]
    timezone: str | None = None
    urgency: dict[str, _UrgencyRecord] | None = None
    wait_weight: int | float = 0.01


def _bad_number(value: object, *, positive: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return True
    return value <= 0 if positive else value < 0


def _file_problems(record: _ProblemFile) -> list[Problem]:
    """Problems the converter cannot see: numbers out of range, empty intervals and windows."""
    problems: list[Problem] = []

    def expect(ok: bool, path: str, message: str) -> None:
        if not ok:
            problems.append(Problem(path, message))

    if record.timezone is not None:
        try:
            validate_timezone(record.timezone, "$.timezone")
        except ValidationError as exc:
            problems.extend(exc.problems)
    if record.urgency is not None:
        expect(bool(record.urgency), "$.urgency", "expected at least one urgency class")
        for name, spec in record.urgency.items():
            for key in ("target_days", "weight", "unassigned_penalty"):
                expect(
                    not _bad_number(getattr(spec, key)),
                    f"$.urgency.{name}.{key}",
                    "expected a non-negative number",
                )
    expect(not _bad_number(record.wait_weight), "$.wait_weight", "expected a non-negative number")
    for i, slot in enumerate(record.slots):
        expect(
            epoch_us(slot.end) > epoch_us(slot.start),
            f"$.slots[{i}].end",
            "expected end after start",
        )
    for i, request in enumerate(record.requests):
        where = f"$.requests[{i}]"
        expect(
            not _bad_number(request.duration_minutes, positive=True),
            f"{where}.duration_minutes",
            "expected a positive number of minutes",
        )
        expect(
            epoch_us(request.due) >= epoch_us(request.release),
            f"{where}.due",
            "expected due at or after release (the window is empty)",
        )
        expect(
            bool(request.eligible_resources),
            f"{where}.eligible_resources",
            "expected at least one resource",
        )
        after = request.after
        if after is not None:
            expect(
                not _bad_number(after.min_gap_minutes),
                f"{where}.after.min_gap_minutes",
                "expected a non-negative number of minutes",
            )
            expect(
                not _bad_number(after.max_gap_minutes)
                and not _bad_number(after.min_gap_minutes)
                and after.max_gap_minutes >= after.min_gap_minutes,
                f"{where}.after.max_gap_minutes",
                "expected a number of minutes at least min_gap_minutes",
            )
    return problems


# --- the answer ------------------------------------------------------------------------


class UnassignedReason(StrEnum):
    """Why a request was left on the waitlist (the `reason` of the output file).

    Checked in this order; the first that applies is given.
    """

    NO_ELIGIBLE_SLOT = "no eligible slot before due"
    """No slot of an eligible resource, long enough, starts inside the request's window."""
    PREDECESSOR_UNASSIGNED = "predecessor unassigned"
    """Its `after` request is unassigned, so it may not be assigned."""
    NO_SLOT_AFTER_PREDECESSOR = "no eligible slot within the gap after its predecessor"
    """No eligible slot starts within `min_gap`..`max_gap` of its predecessor's slot end."""
    NOT_WORTH_ITS_COST = "every eligible slot costs more than leaving it unassigned"
    """Each eligible slot is so late that its cost reaches the unassigned penalty."""
    PATIENT_CONFLICT = "every free eligible slot overlaps the patient's other visits"
    """The eligible slots left free all overlap another assigned visit of the patient."""
    LOST_TO_HIGHER_PRIORITY = "lost to higher-priority requests"
    """Its eligible slots went to requests whose placement lowers the objective more."""


@attrs.frozen
class Placement:
    """One request placed in one slot.

    Attributes:
        request: The request's id.
        slot: The slot's id.
    """

    request: str
    slot: str


@attrs.frozen
class UnassignedRequest:
    """A request left on the waitlist, and why.

    Attributes:
        request: The request's id.
        reason: Why no slot was given.
    """

    request: str
    reason: UnassignedReason


def _placements(value: Iterable[Placement]) -> tuple[Placement, ...]:
    return tuple(value)


def _unassigned(value: Iterable[UnassignedRequest]) -> tuple[UnassignedRequest, ...]:
    return tuple(value)


@attrs.frozen
class Assignment:
    """The optimizer's answer: every request is either placed or unassigned with a reason.

    Attributes:
        assigned: The placements, in the problem's request order.
        unassigned: The requests left on the waitlist, in the problem's request order.
        objective: The objective of this assignment (see `optimize`).
        lower_bound: A proven lower bound on the optimum: the assignment relaxation's optimum.
        optimal: Whether this assignment is proven optimal.
        seconds: Elapsed time of the solve.
    """

    assigned: tuple[Placement, ...] = attrs.field(converter=_placements)
    unassigned: tuple[UnassignedRequest, ...] = attrs.field(converter=_unassigned)
    objective: float
    lower_bound: float
    optimal: bool
    seconds: float = attrs.field(default=0.0, eq=False)

    @property
    def gap(self) -> float:
        """`objective - lower_bound`: how far from optimal this can be, at most."""
        return max(0.0, self.objective - self.lower_bound)

    def slot_of(self, request: str) -> str | None:
        """The slot id given to ``request``, or `None` if it is unassigned (or unknown)."""
        for placement in self.assigned:
            if placement.request == request:
                return placement.slot
        return None

    def to_dict(self) -> dict[str, Any]:
        """The output structure of the schedule-problem spec, ready for `json.dumps`.

        `objective` and `lower_bound` are rounded to 6 decimals, `seconds` to 3.
        """
        return {
            "assignments": [{"request": p.request, "slot": p.slot} for p in self.assigned],
            "unassigned": [
                {"request": u.request, "reason": u.reason.value} for u in self.unassigned
            ],
            "objective": round(self.objective, 6),
            "lower_bound": round(self.lower_bound, 6),
            "optimal": self.optimal,
            "seconds": round(self.seconds, 3),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """The output of `caredomain schedule optimize` as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Assignment:
        """Read an assignment from the spec's output structure (another solver's, say).

        Raises:
            ValidationError: Every problem found, each with its path.
        """
        record = from_dict(data, _AssignmentFile)
        return cls(
            [Placement(p.request, p.slot) for p in record.assignments],
            [UnassignedRequest(u.request, u.reason) for u in record.unassigned],
            float(record.objective),
            float(record.lower_bound),
            record.optimal,
            float(record.seconds),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Assignment:
        """Read an assignment from the spec's output JSON text.

        Raises:
            ParseError: The text is not JSON.
            ValidationError: Every problem found, each with its path.
        """
        return cls.from_dict(_load_json(text))


@attrs.frozen
class _PlacementRecord:
    request: str
    slot: str


@attrs.frozen
class _UnassignedRecord:
    request: str
    reason: UnassignedReason


@attrs.frozen
class _AssignmentFile:
    assignments: tuple[_PlacementRecord, ...]
    unassigned: tuple[_UnassignedRecord, ...]
    objective: int | float
    lower_bound: int | float
    optimal: bool
    seconds: int | float = 0.0
