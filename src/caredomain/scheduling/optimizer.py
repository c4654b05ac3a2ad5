"""Batch slot assignment: place a waitlist into free slots at the least total cost.

The problem (`SchedulingProblem`, or the file of `caredomain schedule optimize`) is the one
of the schedule-problem spec. A request *fits* a slot when the slot's resource is one of its
`any_of` resources, the slot lasts at least the request's `duration`, and
`release <= slot start <= due`. Hard constraints: each slot takes at most one request; a
patient never has two overlapping assigned slots; a request with `after` is assigned only if
its predecessor is, starting between `min_gap` and `max_gap` (inclusive) after the end of the
predecessor's slot.

Objective (minimized), with `u` the request's urgency class and
`d = (slot start - release)` in fractional days:

```text
cost(r, s)    = weight[u] * max(0, d - target_days[u]) + wait_weight * d
unassigned(r) = unassigned_penalty[u]
objective     = sum of cost(r, s) over assigned requests + sum of unassigned(r) over the rest
```

Not part of the objective: `Preferences`, `usual_provider` and `service_type` (the problem
file has no such notion), and multi-resource requests (`all_of`), which `SchedulingProblem`
refuses.

How it is solved, and what is claimed:

1. **Relaxation, exact.** Dropping patient overlap and the coupling of `after` pairs leaves a
   min-cost bipartite assignment in which every request may stay unassigned at its penalty.
   It is solved exactly in pure Python (shortest augmenting paths with potentials, on sparse
   candidate lists). Before that, each request's candidates are narrowed to slots compatible
   with at least one candidate of its predecessor, and a request nobody follows loses the
   slots that cost at least its penalty; neither removes an optimal solution. The
   relaxation's optimum is `Assignment.lower_bound`, a proven bound.
2. If that solution keeps every constraint (always so when no request has `after` and no
   patient has two requests), it is optimal: `Assignment.optimal` is true and
   `objective == lower_bound`.
3. Otherwise a feasible assignment is built close to it (a **dive**: of each pair of
   requests breaking a rule together, one is fixed in the slot the relaxation gave it and
   the relaxation is solved again for the rest, a few rounds, then what still conflicts is
   dropped), and **improved by seeded large-neighbourhood search** whose steps never worsen
   the objective: each linked group (a patient's requests and their `after` chains) is
   re-placed jointly by branch and bound over free slots; linked requests are split into
   classes with no two linked requests in one class, and each class plus every unlinked
   request is re-assigned *exactly* with the rest held fixed; and everything is re-assigned
   exactly at once with linked requests kept inside random time windows in which no rule
   can break. The search stops when rounds bring no improvement, or at `time_limit`.
4. Problems of up to 60 requests are then searched exhaustively by branch and bound within
   a node budget; when that search completes, `optimal` is true.

The result is deterministic for a `seed`, unless the time limit cuts the search short. The
time limit is checked between steps, so a run may exceed it by about one exact solve.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

import attrs

from caredomain.core.errors import Problem, ValidationError
from caredomain.core.time import epoch_us
from caredomain.scheduling._assignment import solve_assignment
from caredomain.scheduling.problem import (
    Assignment,
    Placement,
    SchedulingProblem,
    UnassignedReason,
    UnassignedRequest,
)
from caredomain.scheduling.slots import Slot

__all__ = ["OptimizerProgress", "evaluate", "optimize"]

_DAY_US: Final = 86_400_000_000
_EXHAUSTIVE_MAX_REQUESTS: Final = 60
_EXHAUSTIVE_MAX_NODES: Final = 200_000
_DIVE_ROUNDS: Final = 5
_GROUP_MAX_NODES: Final = 5_000
_PATIENCE: Final = 2
_PATIENCE_WORK: Final = 2_000
_JUMP: Final = 0.1


@attrs.frozen
class OptimizerProgress:
    """A report from a running `optimize`, passed to its ``progress`` callback.

    Attributes:
        phase: `"repair"` (a first feasible assignment, when the relaxation's is not),
            `"search"` (a search round improved it), `"exhaustive"` (branch and bound
            finished on a small problem) or `"done"` (the last report).
        objective: The objective of the best assignment so far.
        lower_bound: The proven lower bound (the assignment relaxation's optimum).
        seconds: Time since the start of the solve.
    """

    phase: str
    objective: float
    lower_bound: float
    seconds: float


def optimize(
    problem: SchedulingProblem,
    *,
    time_limit: float | None = None,
    seed: int = 0,
    progress: Callable[[OptimizerProgress], None] | None = None,
    timer: Callable[[], float] = time.perf_counter,
) -> Assignment:
    """Place the problem's requests into its slots, minimizing the objective.

    The objective and the method are described in this module's documentation: an exact
    assignment relaxation gives `Assignment.lower_bound`; when its solution keeps every
    constraint it is returned as optimal, otherwise it is repaired and improved by seeded
    large-neighbourhood search with exact sub-problems.

    Args:
        problem: The slots, requests and urgency policy.
        time_limit: Seconds the search may run (the relaxation and the repair always
            complete, so a result comes back even with `0`); `None` runs until a round of
            search brings no improvement.
        seed: Seeds the search's random choices; the same seed gives the same result
            unless the time limit stops the search early.
        progress: Called with an `OptimizerProgress` after the first feasible assignment,
            after each improving search round, and at the end.
        timer: Monotonic seconds, for the time limit and `Assignment.seconds` (tests pass a
            fake one); not a wall clock.

    Returns:
        Every request, either placed or unassigned with its `UnassignedReason`, with the
        objective, the lower bound, and whether optimality is proven.

    Raises:
        ValidationError: ``time_limit`` is negative or not a number.
    """
    if time_limit is not None and (
        isinstance(time_limit, bool)
        or not isinstance(time_limit, int | float)
        or not time_limit >= 0
    ):
        raise ValidationError.at("time_limit", "expected a non-negative number of seconds")
    started = timer()
    deadline = math.inf if time_limit is None else started + time_limit
    model = _Model(problem)
    relaxed, prices = solve_assignment(len(model.start), model.cands, model.penalty)
    lower = model.objective(relaxed)

    def report(phase: str, objective: float) -> None:
        if progress is not None:
            progress(OptimizerProgress(phase, objective, lower, timer() - started))

    state = _State(model, relaxed)
    proven = not _violations(model, relaxed)
    if not proven:
        state = _State(model, _dive(model, relaxed, prices, deadline, timer))
        state.fill()
        value = model.objective(state.slot_of)
        report("repair", value)
        proven = _reaches(value, lower)
        if not proven:
            _search(model, state, random.Random(seed), deadline, timer, report)
            value = model.objective(state.slot_of)
            proven = _reaches(value, lower)
        if not proven and model.n <= _EXHAUSTIVE_MAX_REQUESTS and timer() < deadline:
            best, complete = _exhaustive(model, value, deadline, timer)
            if best is not None:
                state = _State(model, best)
            proven = complete
            if complete:
                report("exhaustive", model.objective(state.slot_of))
        state.fill()
    objective = model.objective(state.slot_of)
    report("done", objective)
    assigned = [
        Placement(model.request_ids[r], model.slot_ids[s])
        for r, s in enumerate(state.slot_of)
        if s != -1
    ]
    unassigned = [
        UnassignedRequest(model.request_ids[r], state.reason(r))
        for r, s in enumerate(state.slot_of)
        if s == -1
    ]
    return Assignment(
        assigned,
        unassigned,
        objective,
        lower,
        proven or _reaches(objective, lower),
        timer() - started,
    )


def evaluate(problem: SchedulingProblem, placements: Assignment | Iterable[Placement]) -> float:
    """The objective of a set of placements, after checking every hard constraint.

    Use it to compare assignments made elsewhere (another solver's output read with
    `Assignment.from_json`) with `optimize`'s. Requests not placed count as unassigned.

    Raises:
        ValidationError: Every violated constraint, located by the placement's index
            (`$.assignments[3]`): an unknown request or slot, a request placed twice, a slot
            used twice, a slot the request does not fit, a patient's overlapping visits, a
            follower placed without its predecessor or outside its gap.
    """
    items = placements.assigned if isinstance(placements, Assignment) else tuple(placements)
    model = _Model(problem, candidates=False)
    request_index = {rid: i for i, rid in enumerate(model.request_ids)}
    slot_index = {sid: i for i, sid in enumerate(model.slot_ids)}
    slot_of = [-1] * model.n
    where = [""] * model.n
    problems: list[Problem] = []
    used: set[int] = set()
    for k, placement in enumerate(items):
        path = f"$.assignments[{k}]"
        r = request_index.get(placement.request)
        s = slot_index.get(placement.slot)
        if r is None:
            problems.append(Problem(f"{path}.request", "expected the id of a request"))
        if s is None:
            problems.append(Problem(f"{path}.slot", "expected the id of a slot"))
        if r is None or s is None:
            continue
        if slot_of[r] != -1:
            problems.append(Problem(f"{path}.request", "expected each request placed once"))
            continue
        if s in used:
            problems.append(Problem(f"{path}.slot", "expected each slot used once"))
        used.add(s)
        if not _fits(problem, r, problem.slots[s]):
            problems.append(
                Problem(path, "expected an eligible slot, long enough, inside the window")
            )
        slot_of[r] = s
        where[r] = path
    for r, message in _violations(model, slot_of):
        problems.append(Problem(where[r], message))
    if problems:
        raise ValidationError(problems, subject="Assignment")
    return model.objective(slot_of)


# --- the compiled problem ----------------------------------------------------------------

_ONE_DAY: Final = _dt.timedelta(days=1)
_ONE_US: Final = _dt.timedelta(microseconds=1)


def _fits(problem: SchedulingProblem, r: int, slot: Slot) -> bool:
    request = problem.requests[r]
    start = epoch_us(slot.interval.start)
    return (
        slot.schedule in request.any_of
        and slot.interval.duration >= request.duration
        and epoch_us(request.release) <= start <= epoch_us(request.due)
    )


class _Model:
    """The problem compiled to integer-indexed lists (times in microseconds since the epoch).

    Requests and slots are numbered by their position in the problem.
    """

    def __init__(self, problem: SchedulingProblem, *, candidates: bool = True) -> None:
        policy = problem.policy
        slots, requests = problem.slots, problem.requests
        self.slot_ids = [s.id for s in slots]
        self.start = [epoch_us(s.interval.start) for s in slots]
        self.end = [epoch_us(s.interval.end) for s in slots]
        self.request_ids = [r.id for r in requests]
        n = self.n = len(requests)
        index = {r.id: i for i, r in enumerate(requests)}
        self.release = [epoch_us(r.release) for r in requests]
        classes = [policy[r.urgency] for r in requests]
        self.weight = [c.weight for c in classes]
        self.target_days = [c.target / _ONE_DAY for c in classes]
        self.penalty = [c.unassigned_penalty for c in classes]
        self.wait_weight = policy.wait_weight
        self.pred = [-1] * n
        self.min_gap = [0] * n
        self.max_gap = [0] * n
        self.children: list[list[int]] = [[] for _ in range(n)]
        for i, r in enumerate(requests):
            if r.after is not None:
                p = index[r.after.request]
                self.pred[i] = p
                self.min_gap[i] = r.after.min_gap // _ONE_US
                self.max_gap[i] = r.after.max_gap // _ONE_US
                self.children[p].append(i)
        by_patient: dict[str, list[int]] = {}
        for i, r in enumerate(requests):
            by_patient.setdefault(r.patient, []).append(i)
        self.mates = [[j for j in by_patient[r.patient] if j != i] for i, r in enumerate(requests)]
        self.order = self._topological_order()
        self.order_index = [0] * n
        for k, j in enumerate(self.order):
            self.order_index[j] = k
        self.linked = [
            bool(self.mates[i] or self.pred[i] != -1 or self.children[i]) for i in range(n)
        ]
        self.unlinked = [i for i in range(n) if not self.linked[i]]
        self.groups = self._groups()
        self.fits: list[list[int]] = [[] for _ in range(n)]
        self.cands: list[list[tuple[int, float]]] = [[] for _ in range(n)]
        if candidates:
            self._candidates(problem)

    def _candidates(self, problem: SchedulingProblem) -> None:
        by_resource: dict[str, list[int]] = {}
        for s, slot in enumerate(problem.slots):
            by_resource.setdefault(slot.schedule, []).append(s)
        starts: dict[str, list[int]] = {}
        for resource, members in by_resource.items():
            members.sort(key=lambda s: (self.start[s], s))
            starts[resource] = [self.start[s] for s in members]

        # Fits: every slot the request fits, by the spec's definition, by start.
        for i, request in enumerate(problem.requests):
            lo, hi = self.release[i], epoch_us(request.due)
            need = request.duration // _ONE_US
            found: list[int] = []
            for resource in dict.fromkeys(request.any_of):
                pool = by_resource.get(resource)
                if pool is None:
                    continue
                keys = starts[resource]
                first, last = bisect.bisect_left(keys, lo), bisect.bisect_right(keys, hi)
                found.extend(s for s in pool[first:last] if self.end[s] - self.start[s] >= need)
            found.sort(key=lambda s: (self.start[s], s))
            self.fits[i] = found

        # Candidates: the fits compatible with some candidate of the predecessor (so no
        # feasible solution is lost) and, for a request nobody follows, cheaper than leaving
        # it unassigned (a placement costing its penalty or more never helps). By cost.
        for i in self.order:
            options = self.fits[i]
            p = self.pred[i]
            if p != -1:
                ends = sorted(self.end[s] for s, _ in self.cands[p])
                lo_gap, hi_gap = self.min_gap[i], self.max_gap[i]
                kept = []
                for s in options:
                    k = bisect.bisect_left(ends, self.start[s] - hi_gap)
                    if k < len(ends) and ends[k] <= self.start[s] - lo_gap:
                        kept.append(s)
                options = kept
            priced = [(s, self.cost(i, s)) for s in options]
            if not self.children[i]:
                priced = [(s, c) for s, c in priced if c < self.penalty[i]]
            priced.sort(key=lambda sc: (sc[1], sc[0]))
            self.cands[i] = priced

    def _groups(self) -> list[list[int]]:
        """Linked requests by group: joined by a shared patient or an after link.

        Each group's members are listed predecessors first.
        """
        root = list(range(self.n))

        def find(i: int) -> int:
            while root[i] != i:
                root[i] = root[root[i]]
                i = root[i]
            return i

        for i in range(self.n):
            for j in [*self.mates[i], self.pred[i]]:
                if j != -1:
                    root[find(i)] = find(j)
        groups: dict[int, list[int]] = {}
        for i in self.order:
            if self.linked[i]:
                groups.setdefault(find(i), []).append(i)
        return list(groups.values())

    def _topological_order(self) -> list[int]:
        """Request indices, every predecessor before its followers, otherwise input order."""
        order: list[int] = []
        placed = [False] * self.n
        for i in range(self.n):
            chain = []
            j = i
            while j != -1 and not placed[j]:
                chain.append(j)
                placed[j] = True
                j = self.pred[j]
            order.extend(reversed(chain))
        return order

    def cost(self, r: int, s: int) -> float:
        """The spec's cost of request ``r`` in slot ``s``."""
        d = (self.start[s] - self.release[r]) / _DAY_US
        return self.weight[r] * max(0.0, d - self.target_days[r]) + self.wait_weight * d

    def objective(self, slot_of: Sequence[int]) -> float:
        """The objective of a complete assignment (``-1`` = unassigned)."""
        return math.fsum(
            self.penalty[r] if s == -1 else self.cost(r, s) for r, s in enumerate(slot_of)
        )

    def allowed(
        self, slot_of: Sequence[int], r: int, s: int, moving: Sequence[bool] | None = None
    ) -> bool:
        """Whether ``r`` in ``s`` keeps the patient and ``after`` rules with the others.

        Requests marked in ``moving`` are being re-solved with ``r``: no rule with them is
        checked.
        """
        start, end = self.start[s], self.end[s]
        for j in self.mates[r]:
            t = slot_of[j]
            overlaps = t != -1 and start < self.end[t] and self.start[t] < end
            if overlaps and (moving is None or not moving[j]):
                return False
        p = self.pred[r]
        if p != -1 and (moving is None or not moving[p]):
            t = slot_of[p]
            if t == -1:
                return False
            gap = start - self.end[t]
            if gap < self.min_gap[r] or gap > self.max_gap[r]:
                return False
        for c in self.children[r]:
            t = slot_of[c]
            if t != -1 and (moving is None or not moving[c]):
                gap = self.start[t] - end
                if gap < self.min_gap[c] or gap > self.max_gap[c]:
                    return False
        return True


def _overlapping(model: _Model, slot_of: Sequence[int], r: int, s: int) -> Iterator[int]:
    """Earlier requests of ``r``'s patient whose slots overlap slot ``s``."""
    for j in model.mates[r]:
        t = slot_of[j]
        if j < r and t != -1 and model.start[s] < model.end[t] and model.start[t] < model.end[s]:
            yield j


def _violations(model: _Model, slot_of: Sequence[int]) -> list[tuple[int, str]]:
    """Patient overlaps and broken ``after`` rules of a complete assignment."""
    found: list[tuple[int, str]] = []
    for r, s in enumerate(slot_of):
        if s == -1:
            continue
        if next(_overlapping(model, slot_of, r, s), None) is not None:
            found.append((r, "expected no overlap with the patient's other visits"))
        p = model.pred[r]
        if p != -1:
            t = slot_of[p]
            if t == -1:
                found.append((r, "expected its predecessor to be assigned"))
            else:
                gap = model.start[s] - model.end[t]
                if gap < model.min_gap[r] or gap > model.max_gap[r]:
                    found.append((r, "expected a start within the gap after its predecessor"))
    return found


def _reaches(value: float, lower: float) -> bool:
    """Whether ``value`` equals the lower bound, up to floating-point summation error."""
    return value <= lower + 1e-9 * max(1.0, abs(lower))


# --- a feasible assignment under search ---------------------------------------------------


class _State:
    """A feasible assignment: each request's slot (or -1) and each slot's request (or -1)."""

    def __init__(self, model: _Model, slot_of: Sequence[int]) -> None:
        self.model = model
        self.slot_of = list(slot_of)
        self.holder = [-1] * len(model.start)
        for r, s in enumerate(self.slot_of):
            if s != -1:
                self.holder[s] = r

    def place(self, r: int, s: int) -> None:
        old = self.slot_of[r]
        if old != -1:
            self.holder[old] = -1
        self.slot_of[r] = s
        if s != -1:
            self.holder[s] = r

    def drop(self, r: int) -> None:
        """Unassign ``r`` and, since they may no longer stay, everything that follows it."""
        self.place(r, -1)
        stack = list(self.model.children[r])
        while stack:
            j = stack.pop()
            if self.slot_of[j] != -1:
                self.place(j, -1)
                stack.extend(self.model.children[j])

    def fill(self) -> None:
        """Place unassigned requests in free slots where that lowers the objective."""
        model = self.model
        pending = sorted(
            (r for r in range(model.n) if self.slot_of[r] == -1 and model.cands[r]),
            key=lambda r: (-model.penalty[r], model.order_index[r]),
        )
        changed = True
        while changed and pending:
            changed = False
            rest = []
            for r in pending:
                for s, c in model.cands[r]:
                    if c >= model.penalty[r]:
                        break
                    if self.holder[s] == -1 and model.allowed(self.slot_of, r, s):
                        self.place(r, s)
                        changed = True
                        break
                else:
                    rest.append(r)
            pending = rest

    def reason(self, r: int) -> UnassignedReason:
        """Why unassigned request ``r`` stays unassigned, in `UnassignedReason`'s order."""
        model = self.model
        options = model.fits[r]
        if not options:
            return UnassignedReason.NO_ELIGIBLE_SLOT
        p = model.pred[r]
        if p != -1:
            t = self.slot_of[p]
            if t == -1:
                return UnassignedReason.PREDECESSOR_UNASSIGNED
            options = [
                s
                for s in options
                if model.min_gap[r] <= model.start[s] - model.end[t] <= model.max_gap[r]
            ]
            if not options:
                return UnassignedReason.NO_SLOT_AFTER_PREDECESSOR
        worth = [s for s in options if model.cost(r, s) < model.penalty[r]]
        if not worth:
            return UnassignedReason.NOT_WORTH_ITS_COST
        free = [s for s in worth if self.holder[s] == -1]
        if free and not any(model.allowed(self.slot_of, r, s) for s in free):
            return UnassignedReason.PATIENT_CONFLICT
        return UnassignedReason.LOST_TO_HIGHER_PRIORITY


def _repair(model: _Model, relaxed: Sequence[int]) -> list[int]:
    """A feasible assignment from the relaxation's: drop what breaks a patient or after rule.

    Of a patient's overlapping placements, those saving most against their penalty are
    kept; then, predecessors first, a follower is dropped if its predecessor is unassigned or
    the gap is broken.
    """
    slot_of = list(relaxed)
    seen = [False] * model.n
    for r in range(model.n):
        if seen[r] or not model.mates[r]:
            continue
        group = [r, *model.mates[r]]
        for j in group:
            seen[j] = True
        placed = [j for j in group if slot_of[j] != -1]
        placed.sort(key=lambda j: (model.cost(j, slot_of[j]) - model.penalty[j], j))
        kept: list[int] = []
        for j in placed:
            s = slot_of[j]
            if any(model.start[s] < model.end[t] and model.start[t] < model.end[s] for t in kept):
                slot_of[j] = -1
            else:
                kept.append(s)
    for r in model.order:
        p = model.pred[r]
        s = slot_of[r]
        if p == -1 or s == -1:
            continue
        t = slot_of[p]
        if t == -1 or not model.min_gap[r] <= model.start[s] - model.end[t] <= model.max_gap[r]:
            slot_of[r] = -1
    return slot_of


def _conflicts(model: _Model, slot_of: Sequence[int]) -> list[tuple[int, int]]:
    """Pairs of requests breaking a patient or after rule together (follower second)."""
    found: list[tuple[int, int]] = []
    for r, s in enumerate(slot_of):
        if s == -1:
            continue
        found.extend((j, r) for j in _overlapping(model, slot_of, r, s))
        p = model.pred[r]
        if p != -1:
            t = slot_of[p]
            if t == -1 or not model.min_gap[r] <= model.start[s] - model.end[t] <= model.max_gap[r]:
                found.append((p, r))
    return found


def _dive(
    model: _Model,
    relaxed: Sequence[int],
    prices: Sequence[float],
    deadline: float,
    timer: Callable[[], float],
) -> list[int]:
    """A feasible assignment close to the relaxation's, by fixing and re-solving.

    Each round takes the relaxation's answer and, of each pair of requests that breaks a rule
    together, fixes one in the slot the relaxation gave it: of a predecessor and its
    follower, the one whose partner keeps more room (`_side`); of a patient's two
    overlapping visits, the one saving more against its penalty. The relaxation is then
    solved again for the unfixed requests, with candidates that keep every rule with the
    fixed ones and "unassigned" prices that include the followers they would take along
    (`_solve_unfixed`). Fixed requests agree with each other, so when no pair conflicts the
    answer is feasible. After `_DIVE_ROUNDS` rounds, or out of time, the conflicts left are
    dropped (`_repair`).
    """
    n = model.n
    fixed = [False] * n
    slot_of = list(relaxed)
    for _round in range(_DIVE_ROUNDS + 1):
        conflicts = _conflicts(model, slot_of)
        if not conflicts:
            return slot_of
        if _round == _DIVE_ROUNDS or timer() >= deadline:
            break
        kept = [slot_of[r] if fixed[r] else -1 for r in range(n)]
        held = [False] * len(model.start)
        for s in kept:
            if s != -1:
                held[s] = True
        moving = [not f for f in fixed]
        touched = [False] * n
        progress = False
        for a, b in sorted(conflicts, key=lambda ab: (model.order_index[ab[1]], ab[0])):
            if touched[a] or touched[b] or fixed[a] or fixed[b]:
                continue
            if model.pred[b] == a:
                r = _side(model, a, b, slot_of, kept, held, moving, prices)
            else:
                r = min((a, b), key=lambda j: (model.cost(j, slot_of[j]) - model.penalty[j], j))
            s = slot_of[r]
            if s == -1 or held[s] or not model.allowed(kept, r, s, moving):
                continue  # its slot went to a request fixed this round: next round
            fixed[r], moving[r], kept[r] = True, False, s
            held[s] = True
            touched[a] = touched[b] = True
            progress = True
        if not progress:
            break
        slot_of, prices = _solve_unfixed(model, fixed, kept, slot_of)
    return _repair(model, slot_of)


def _side(
    model: _Model,
    p: int,
    f: int,
    slot_of: Sequence[int],
    kept: Sequence[int],
    held: Sequence[bool],
    moving: Sequence[bool],
    prices: Sequence[float],
) -> int:
    """Which of a conflicting predecessor ``p`` and follower ``f`` to fix in its slot.

    The one whose partner then keeps more open candidates (up to three count), then the
    cheaper partner candidate at the relaxation's slot ``prices``; the follower on a tie.
    """
    options = []
    for keep, other in ((f, p), (p, f)):
        s = slot_of[keep]
        if s == -1 or held[s] or not model.allowed(kept, keep, s, moving):
            continue
        trial = list(kept)
        trial[keep] = s
        still = list(moving)
        still[keep] = False
        values = sorted(
            c + prices[t]
            for t, c in model.cands[other]
            if not held[t] and t != s and model.allowed(trial, other, t, still)
        )
        room = min(len(values), 3)
        options.append((-room, values[0] if values else math.inf, keep == p, keep))
    return min(options)[3] if options else f


def _solve_unfixed(
    model: _Model, fixed: Sequence[bool], kept: Sequence[int], previous: Sequence[int]
) -> tuple[list[int], list[float]]:
    """Re-solve the relaxation for the unfixed requests, respecting every fixed one.

    ``kept`` holds the fixed requests' slots. An unfixed request's "unassigned" price
    includes the followers it would take along, valued at their slots in ``previous``. A
    fixed request keeps its slot unless an unfixed predecessor ends unassigned; then it and
    its fixed followers are unassigned too. Returns the assignment and the slot prices.
    """
    held = [False] * len(model.start)
    for r in range(model.n):
        if fixed[r] and kept[r] != -1:
            held[kept[r]] = True
    rows = [r for r in range(model.n) if not fixed[r]]
    moving = [not f for f in fixed]
    edges: list[list[tuple[int, float]]] = []
    dummy: list[float] = []
    for r in rows:
        options = [(t, c) for t, c in model.cands[r] if not held[t]]
        if model.linked[r]:
            options = [(t, c) for t, c in options if model.allowed(kept, r, t, moving)]
            dummy.append(model.penalty[r] + _cascade(model, previous, r))
        else:
            dummy.append(model.penalty[r])
        edges.append(options)
    chosen, prices = solve_assignment(len(model.start), edges, dummy)
    out = list(kept)
    for k, r in enumerate(rows):
        out[r] = chosen[k]
    for k, r in enumerate(rows):
        if chosen[k] == -1:
            stack = list(model.children[r])
            while stack:
                c = stack.pop()
                if fixed[c] and out[c] != -1:
                    out[c] = -1
                    stack.extend(model.children[c])
    return out, prices


# --- large-neighbourhood search with exact sub-problems ----------------------------------


def _classes(model: _Model, rng: random.Random) -> list[list[int]]:
    """Linked requests split so that no two in one class share a patient or an after chain."""
    root = list(range(model.n))
    for r in model.order:  # predecessors first, so a root is already known
        if model.pred[r] != -1:
            root[r] = root[model.pred[r]]
    chains: dict[int, list[int]] = {}
    for r in range(model.n):
        if model.linked[r]:
            chains.setdefault(root[r], []).append(r)
    linked = [r for r in range(model.n) if model.linked[r]]
    rng.shuffle(linked)
    colour = [-1] * model.n
    classes: list[list[int]] = []
    for r in linked:
        taken = {colour[j] for j in model.mates[r]}
        taken.update(colour[j] for j in chains[root[r]])
        c = 0
        while c in taken:
            c += 1
        colour[r] = c
        if c == len(classes):
            classes.append([])
        classes[c].append(r)
    for members in classes:
        members.sort()
    return classes


def _cascade(model: _Model, slot_of: Sequence[int], r: int) -> float:
    """What unassigning ``r`` adds to the objective through the followers it takes along."""
    total = 0.0
    stack = list(model.children[r])
    while stack:
        c = stack.pop()
        s = slot_of[c]
        if s != -1:
            total += model.penalty[c] - model.cost(c, s)
            stack.extend(model.children[c])
    return total


def _reassign(model: _Model, state: _State, members: Sequence[int]) -> bool:
    """Re-assign one class and all unlinked requests exactly, the rest fixed.

    Returns whether the objective went down.
    """
    slot_of, holder = state.slot_of, state.holder
    rows = [*model.unlinked, *members]
    moving = [False] * model.n
    for r in rows:
        moving[r] = True
    edges: list[list[tuple[int, float]]] = []
    dummy: list[float] = []
    before = 0.0
    for r in rows:
        s = slot_of[r]
        before += model.penalty[r] if s == -1 else model.cost(r, s)
        open_ = [(t, c) for t, c in model.cands[r] if holder[t] == -1 or moving[holder[t]]]
        if model.linked[r]:
            open_ = [(t, c) for t, c in open_ if model.allowed(slot_of, r, t)]
            dummy.append(model.penalty[r] + _cascade(model, slot_of, r))
        else:
            dummy.append(model.penalty[r])
        edges.append(open_)
    chosen, _ = solve_assignment(len(model.start), edges, dummy)
    after = 0.0
    for k, r in enumerate(rows):
        t = chosen[k]
        after += dummy[k] if t == -1 else model.cost(r, t)
    if after >= before - 1e-9 * max(1.0, abs(before)):
        return False
    for r in rows:
        if slot_of[r] != -1:
            state.place(r, -1)
    for k, r in enumerate(rows):
        t = chosen[k]
        if t != -1:
            state.place(r, t)
        else:
            state.drop(r)  # takes its followers (fixed, in other classes) along
    return True


class _Windows:
    """Per request, the ranges its slot's start and end must fall in (see `_shift`)."""

    def __init__(self, n: int) -> None:
        self.start_lo = [-_FAR] * n
        self.start_hi = [_FAR] * n
        self.end_lo = [-_FAR] * n
        self.end_hi = [_FAR] * n

    def narrow(
        self, r: int, *, start: tuple[int, int] | None = None, end: tuple[int, int] | None = None
    ) -> None:
        if start is not None:
            self.start_lo[r] = max(self.start_lo[r], start[0])
            self.start_hi[r] = min(self.start_hi[r], start[1])
        if end is not None:
            self.end_lo[r] = max(self.end_lo[r], end[0])
            self.end_hi[r] = min(self.end_hi[r], end[1])

    def admits(self, model: _Model, r: int, s: int) -> bool:
        return (
            self.start_lo[r] <= model.start[s] <= self.start_hi[r]
            and self.end_lo[r] <= model.end[s] <= self.end_hi[r]
        )


_FAR: Final = 1 << 62


def _ancestor(model: _Model, a: int, b: int) -> bool:
    """Whether ``a`` comes before ``b`` in an after chain."""
    j = model.pred[b]
    while j != -1:
        if j == a:
            return True
        j = model.pred[j]
    return False


def _windows(model: _Model, slot_of: Sequence[int], rng: random.Random) -> _Windows:
    """Random windows around the current slots in which linked requests cannot break a rule.

    A predecessor must end in ``[A - h, A]`` and its follower start in
    ``[A + min_gap, A + min_gap + h]``, with ``h = (max_gap - min_gap) / 2`` and an anchor
    ``A`` drawn so that both current slots are inside (or, for a share `_JUMP` of the pairs,
    around a random candidate of the predecessor): any two slots in these windows keep the
    gap. Two visits of a patient not in one chain are kept apart by a time ``X`` drawn
    between them: the first must end by ``X``, the second start from ``X``.
    """
    windows = _Windows(model.n)
    start, end = model.start, model.end

    def candidate(r: int) -> int | None:
        return rng.choice(model.cands[r])[0] if model.cands[r] else None

    for f in range(model.n):
        p = model.pred[f]
        if p == -1:
            continue
        low, half = model.min_gap[f], (model.max_gap[f] - model.min_gap[f]) // 2
        s = slot_of[f]
        jump = rng.random() < _JUMP
        q = slot_of[p] if slot_of[p] != -1 and not jump else candidate(p)
        if q is None:
            continue
        first, last = end[q], end[q] + half
        if s != -1 and not jump:
            first, last = max(first, start[s] - low - half), min(last, start[s] - low)
        anchor = rng.randint(first, last) if first <= last else first
        windows.narrow(p, end=(anchor - half, anchor))
        windows.narrow(f, start=(anchor + low, anchor + low + half))
    for a in range(model.n):
        for b in model.mates[a]:
            if b < a or _ancestor(model, a, b) or _ancestor(model, b, a):
                continue
            x, y = slot_of[a], slot_of[b]
            if x == -1 and y == -1:
                drawn = candidate(a)
                if drawn is None:
                    continue
                x = drawn
            if x != -1 and y != -1:
                one, two = (a, b) if start[x] <= start[y] else (b, a)
                lo, hi = end[slot_of[one]], start[slot_of[two]]
                cut = rng.randint(lo, hi) if lo <= hi else lo
            else:
                placed, other = (a, b) if x != -1 else (b, a)
                t = x if x != -1 else y
                if rng.random() < 0.5:
                    one, two, cut = placed, other, end[t]
                else:
                    one, two, cut = other, placed, start[t]
            windows.narrow(one, end=(-_FAR, cut))
            windows.narrow(two, start=(cut, _FAR))
    return windows


def _shift(model: _Model, state: _State, rng: random.Random) -> bool:
    """Re-assign every request exactly at once, linked ones inside random windows.

    The windows (`_windows`) contain the current slots and make every patient and after
    rule hold for any choice inside them, except that a follower may be placed while its
    predecessor is left out: such followers are then dropped, and the new assignment is
    kept only if it is better. Returns whether it was.
    """
    slot_of = state.slot_of
    windows = _windows(model, slot_of, rng)
    edges: list[list[tuple[int, float]]] = []
    dummy: list[float] = []
    for r in range(model.n):
        if model.linked[r]:
            edges.append([(t, c) for t, c in model.cands[r] if windows.admits(model, r, t)])
            dummy.append(model.penalty[r] + _cascade(model, slot_of, r))
        else:
            edges.append(model.cands[r])
            dummy.append(model.penalty[r])
    chosen, _ = solve_assignment(len(model.start), edges, dummy)
    for r in model.order:
        p = model.pred[r]
        if p != -1 and chosen[p] == -1:
            chosen[r] = -1
    before = model.objective(slot_of)
    if model.objective(chosen) >= before - 1e-9 * max(1.0, abs(before)):
        return False
    for r in range(model.n):
        state.place(r, -1)
    for r, t in enumerate(chosen):
        if t != -1:
            state.place(r, t)
    return True


def _search(
    model: _Model,
    state: _State,
    rng: random.Random,
    deadline: float,
    timer: Callable[[], float],
    report: Callable[[str, float], None],
) -> None:
    """Rounds of exact class re-assignment until a round brings nothing or time is up."""
    if not any(model.linked):
        return
    idle = 0
    patience = max(_PATIENCE, _PATIENCE_WORK // max(1, model.n))
    while timer() < deadline and idle < patience:
        improved = _regroup(model, state, deadline, timer)
        for members in _classes(model, rng):
            if timer() >= deadline:
                break
            improved |= _reassign(model, state, members)
        if timer() < deadline:
            improved |= _shift(model, state, rng)
        if improved:
            idle = 0
            report("search", model.objective(state.slot_of))
        else:
            idle += 1


# --- branch and bound: whole small problems, and one linked group at a time --------------


class _Abort(Exception):
    """A branch-and-bound search ran out of nodes or time."""


def _branch_and_bound(
    model: _Model,
    order: Sequence[int],
    slot_of: list[int],
    holder: list[int],
    limit: float,
    max_nodes: int,
    deadline: float,
    timer: Callable[[], float],
) -> tuple[list[int] | None, bool]:
    """The cheapest slots for the requests in ``order`` (predecessors first), if below ``limit``.

    ``slot_of`` and ``holder`` describe every other request, fixed; the requests in
    ``order`` must be unassigned there (they are restored so on return). Each request may
    take a free candidate that keeps every rule with those placed before it, or stay
    unassigned. Returns the best slots found for ``order`` costing less than ``limit`` (or
    `None`) and whether the search completed, which proves them (or ``limit``) optimal.
    """
    n = len(order)
    least = [min([model.penalty[r], *(c for _, c in model.cands[r])]) for r in order]
    suffix = [0.0] * (n + 1)
    for k in range(n - 1, -1, -1):
        suffix[k] = suffix[k + 1] + least[k]
    best: list[int] | None = None
    best_value = limit
    tolerance = 1e-9 * max(1.0, abs(limit))
    nodes = 0

    def visit(k: int, acc: float) -> None:
        nonlocal best, best_value, nodes
        if acc + suffix[k] >= best_value - tolerance:
            return
        if k == n:
            best, best_value = [slot_of[r] for r in order], acc
            return
        nodes += 1
        if nodes > max_nodes or (nodes % 1024 == 0 and timer() >= deadline):
            raise _Abort
        r = order[k]
        p = model.pred[r]
        if p == -1 or slot_of[p] != -1:
            for s, c in model.cands[r]:
                if acc + c + suffix[k + 1] >= best_value - tolerance:
                    break
                if holder[s] == -1 and model.allowed(slot_of, r, s):
                    slot_of[r], holder[s] = s, r
                    try:
                        visit(k + 1, acc + c)
                    finally:  # also when the search is cut short
                        slot_of[r], holder[s] = -1, -1
        visit(k + 1, acc + model.penalty[r])

    try:
        visit(0, 0.0)
    except _Abort:
        return best, False
    return best, True


def _exhaustive(
    model: _Model, value: float, deadline: float, timer: Callable[[], float]
) -> tuple[list[int] | None, bool]:
    """Branch and bound over the whole problem; `None` if nothing beats ``value``.

    The second value says whether the search completed, proving its answer optimal.
    """
    slot_of = [-1] * model.n
    holder = [-1] * len(model.start)
    best, complete = _branch_and_bound(
        model, model.order, slot_of, holder, value, _EXHAUSTIVE_MAX_NODES, deadline, timer
    )
    if best is None:
        return None, complete
    for r, s in zip(model.order, best, strict=True):
        slot_of[r] = s
    return slot_of, complete


def _regroup(model: _Model, state: _State, deadline: float, timer: Callable[[], float]) -> bool:
    """Re-place each linked group (a patient's requests, their after chains) jointly.

    Every other request stays; a group's members may take free slots or each other's, all
    at once, which moves pairs that no one-at-a-time step can (a follower and its
    predecessor both earlier; two visits of a patient trading places). Each group is
    searched exactly within `_GROUP_MAX_NODES` nodes. Returns whether the objective went
    down.
    """
    improved = False
    for group in model.groups:
        if timer() >= deadline:
            break
        before = math.fsum(
            model.penalty[r] if state.slot_of[r] == -1 else model.cost(r, state.slot_of[r])
            for r in group
        )
        old = [state.slot_of[r] for r in group]
        for r in group:
            state.place(r, -1)
        best, _ = _branch_and_bound(
            model, group, state.slot_of, state.holder, before, _GROUP_MAX_NODES, deadline, timer
        )
        for r, s in zip(group, best if best is not None else old, strict=True):
            state.place(r, s)
        improved |= best is not None
    return improved
