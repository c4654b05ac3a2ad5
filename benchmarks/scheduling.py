"""The ``scheduling`` area: the batch slot optimizer beside OR-Tools CP-SAT and a greedy.

This area compares *solution quality and time*, not throughput, so instead of ``CASES`` it
has its own report (``run``), which ``python -m benchmarks scheduling`` calls. For each
instance of ``_instances.generate`` (sizes ``SIZES``, with and without ``after`` chains) it
runs, on the same problem:

* **caredomain** ``optimize(problem, seed=0, time_limit=LIMIT)``: the same time limit as
  CP-SAT's; it stops earlier when a round of its search brings nothing. Timed from the
  problem value to the ``Assignment`` (building the candidate lists included);
* **OR-Tools CP-SAT**, the same problem as a 0-1 model (below), 2 workers, 60 s by default;
* **greedy**, a plain-Python baseline: requests by urgency (then due, then release), each into
  its cheapest feasible free slot, predecessors placed before their followers.

Every solver's assignment is checked with ``caredomain.scheduling.optimizer.evaluate`` (every
hard constraint) and its objective recomputed the same way, in floating point, by the spec's
formula, so no solver is reported on its own say-so. Columns: objective; its ratio to
CP-SAT's objective (below 1 is better than CP-SAT); its gap to CP-SAT's proven bound
``(objective - bound) / objective`` (``-`` when that bound is not positive), and to the best
proven bound of the run (CP-SAT's or caredomain's, the assignment relaxation, shown as "own
bound"); seconds and the time ratio to CP-SAT.

The CP-SAT model (faithful, and given every advantage caredomain's model has):

* one Boolean per (request, slot) candidate: the slot fits the request (eligible resource,
  long enough, ``release <= start <= due``) and, for a request nobody follows, costs less
  than leaving it unassigned (a valid reduction, the one caredomain makes too); candidates of
  a follower keep only slots compatible with some candidate of its predecessor (also valid,
  also made by caredomain);
* at most one slot per request, at most one request per slot;
* a patient's overlapping candidates: at most one at each start instant of any of them (the
  cliques of an interval graph), which forbids every overlapping pair;
* ``after``: a follower's Boolean for slot ``s`` implies the sum of its predecessor's Booleans
  for slots ending ``min_gap``..``max_gap`` before ``s`` starts;
* objective: costs and penalties scaled by 1000 and rounded to integers. This is the scale
  at which CP-SAT does best: at 10^6 (fine enough to tell apart slots minutes apart, whose
  costs differ by 7e-6 per minute) it could not even prove the (100, 300) assignment-only
  optimum in 20 s, at 1000 it proves it in half a second and (1000, 3000) in about 20 s.
  The price is that CP-SAT cannot see cost differences below 0.0005 per request; its
  assignment is re-costed exactly, and its reported bound is divided back and lowered by
  the rounding it can hide (0.0005 per request).

Limits: ``SCHEDULING_BENCH_LIMIT`` (CP-SAT seconds, default 60) and ``SCHEDULING_BENCH_SIZES``
(e.g. ``100x300,1000x3000``; default all three). ``python -m benchmarks.scheduling --quick``
runs the two small sizes with a 10 s limit.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import attrs
from ortools.sat.python import cp_model

from benchmarks._harness import Case, environment, package_label
from benchmarks._instances import SIZES, generate
from caredomain.core.time import epoch_us
from caredomain.scheduling.optimizer import evaluate, optimize
from caredomain.scheduling.problem import Placement, SchedulingProblem

CASES: Sequence[Case] = ()
"""No throughput cases: this area reports through `run`."""

ORTOOLS = package_label("ortools", "OR-Tools CP-SAT")
SCALE = 1_000
DAY_US = 86_400_000_000
WORKERS = 2


@attrs.frozen
class Outcome:
    solver: str
    objective: float
    seconds: float
    bound: float | None = None
    status: str = ""


class Compiled:
    """The problem as plain lists, built independently of caredomain's optimizer."""

    def __init__(self, problem: SchedulingProblem) -> None:
        self.problem = problem
        slots, requests, policy = problem.slots, problem.requests, problem.policy
        self.slot_ids = [s.id for s in slots]
        self.start = [epoch_us(s.interval.start) for s in slots]
        self.end = [epoch_us(s.interval.end) for s in slots]
        index = {r.id: i for i, r in enumerate(requests)}
        n = self.n = len(requests)
        self.release = [epoch_us(r.release) for r in requests]
        self.due = [epoch_us(r.due) for r in requests]
        cls = [policy[r.urgency] for r in requests]
        self.weight = [c.weight for c in cls]
        self.target = [c.target.total_seconds() / 86400 for c in cls]
        self.penalty = [c.unassigned_penalty for c in cls]
        self.rank = [-c.weight for c in cls]
        self.wait = policy.wait_weight
        self.patient = [r.patient for r in requests]
        self.pred = [index[r.after.request] if r.after else -1 for r in requests]
        self.gap = [
            (
                int(r.after.min_gap.total_seconds() * 1e6),
                int(r.after.max_gap.total_seconds() * 1e6),
            )
            if r.after
            else (0, 0)
            for r in requests
        ]
        self.followed = [False] * n
        for p in self.pred:
            if p != -1:
                self.followed[p] = True
        order: list[int] = []
        seen = [False] * n
        for i in range(n):
            chain = []
            j = i
            while j != -1 and not seen[j]:
                seen[j] = True
                chain.append(j)
                j = self.pred[j]
            order.extend(reversed(chain))
        self.order = order
        by_resource: dict[str, list[int]] = {}
        for k, s in enumerate(slots):
            by_resource.setdefault(s.schedule, []).append(k)
        self.cands: list[list[int]] = [[] for _ in range(n)]
        for i in order:
            r = requests[i]
            need = int(r.duration.total_seconds() * 1e6)
            found = [
                k
                for res in set(r.any_of)
                for k in by_resource.get(res, ())
                if self.release[i] <= self.start[k] <= self.due[i]
                and self.end[k] - self.start[k] >= need
                and (self.followed[i] or self.cost(i, k) < self.penalty[i])
            ]
            p = self.pred[i]
            if p != -1:
                ends = sorted(self.end[k] for k in self.cands[p])
                lo, hi = self.gap[i]
                found = [
                    k
                    for k in found
                    if (j := bisect.bisect_left(ends, self.start[k] - hi)) < len(ends)
                    and ends[j] <= self.start[k] - lo
                ]
            self.cands[i] = sorted(found)

    def cost(self, i: int, k: int) -> float:
        d = (self.start[k] - self.release[i]) / DAY_US
        return self.weight[i] * max(0.0, d - self.target[i]) + self.wait * d

    def placements(self, slot_of: Sequence[int]) -> list[Placement]:
        ids = [r.id for r in self.problem.requests]
        return [Placement(ids[i], self.slot_ids[k]) for i, k in enumerate(slot_of) if k != -1]


def solve_cpsat(c: Compiled, limit: float, seed: int = 0) -> tuple[list[int], Outcome]:
    started = time.perf_counter()
    model = cp_model.CpModel()
    x: list[dict[int, cp_model.IntVar]] = [
        {k: model.new_bool_var(f"x{i}_{k}") for k in c.cands[i]} for i in range(c.n)
    ]
    by_slot: dict[int, list[cp_model.IntVar]] = {}
    for i in range(c.n):
        if x[i]:
            model.add_at_most_one(x[i].values())
        for k, var in x[i].items():
            by_slot.setdefault(k, []).append(var)
    for group in by_slot.values():
        if len(group) > 1:
            model.add_at_most_one(group)
    patients: dict[str, list[int]] = {}
    for i in range(c.n):
        patients.setdefault(c.patient[i], []).append(i)
    for members in patients.values():
        if len(members) < 2:
            continue
        items = [(c.start[k], c.end[k], i, var) for i in members for k, var in x[i].items()]
        for point in sorted({s for s, _, _, _ in items}):
            live = [(i, var) for s, e, i, var in items if s <= point < e]
            if len({i for i, _ in live}) > 1:
                model.add_at_most_one(var for _, var in live)
    for i in range(c.n):
        p = c.pred[i]
        if p == -1:
            continue
        lo, hi = c.gap[i]
        for k, var in x[i].items():
            before = [v for q, v in x[p].items() if lo <= c.start[k] - c.end[q] <= hi]
            if before:
                model.add(sum(before) >= var)
            else:
                model.add(var == 0)
    constant = sum(round(c.penalty[i] * SCALE) for i in range(c.n))
    terms = []
    for i in range(c.n):
        pen = round(c.penalty[i] * SCALE)
        for k, var in x[i].items():
            terms.append((round(c.cost(i, k) * SCALE) - pen) * var)
    model.minimize(sum(terms) + constant)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limit
    solver.parameters.num_workers = WORKERS
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    seconds = time.perf_counter() - started
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"CP-SAT found no solution: {solver.status_name(status)}")
    slot_of = [-1] * c.n
    for i in range(c.n):
        for k, var in x[i].items():
            if solver.boolean_value(var):
                slot_of[i] = k
    bound = solver.best_objective_bound / SCALE - 0.5 * c.n / SCALE
    objective = evaluate(c.problem, c.placements(slot_of))
    return slot_of, Outcome(ORTOOLS, objective, seconds, bound, solver.status_name(status))


def solve_greedy(c: Compiled) -> tuple[list[int], Outcome]:
    started = time.perf_counter()
    slot_of = [-1] * c.n
    holder = [-1] * len(c.start)
    done = [False] * c.n
    mates: dict[str, list[int]] = {}
    for i in range(c.n):
        mates.setdefault(c.patient[i], []).append(i)

    def place(i: int) -> None:
        if done[i]:
            return
        p = c.pred[i]
        if p != -1:
            place(p)
        done[i] = True
        if p != -1 and slot_of[p] == -1:
            return
        best, best_cost = -1, c.penalty[i]
        for k in c.cands[i]:
            if holder[k] != -1:
                continue
            cost = c.cost(i, k)
            if cost >= best_cost:
                continue
            if p != -1:
                lo, hi = c.gap[i]
                if not lo <= c.start[k] - c.end[slot_of[p]] <= hi:
                    continue
            if any(
                slot_of[j] != -1
                and c.start[k] < c.end[slot_of[j]]
                and c.start[slot_of[j]] < c.end[k]
                for j in mates[c.patient[i]]
                if j != i
            ):
                continue
            best, best_cost = k, cost
        if best != -1:
            slot_of[i] = best
            holder[best] = i

    for i in sorted(range(c.n), key=lambda i: (c.rank[i], c.due[i], c.release[i], i)):
        place(i)
    seconds = time.perf_counter() - started
    objective = evaluate(c.problem, c.placements(slot_of))
    return slot_of, Outcome("greedy (urgency first)", objective, seconds)


def solve_caredomain(problem: SchedulingProblem, limit: float) -> Outcome:
    started = time.perf_counter()
    result = optimize(problem, seed=0, time_limit=limit)
    seconds = time.perf_counter() - started
    objective = evaluate(problem, result)
    if abs(objective - result.objective) > 1e-6 * max(1.0, objective):
        raise AssertionError("caredomain reported an objective its assignment does not have")
    status = "optimal" if result.optimal else "feasible"
    return Outcome("caredomain", objective, seconds, result.lower_bound, status)


def _sizes() -> list[tuple[int, int]]:
    text = os.environ.get("SCHEDULING_BENCH_SIZES", "")
    if not text:
        return list(SIZES)
    return [(int(a), int(b)) for a, b in (item.split("x") for item in text.split(","))]


def run(
    *, as_json: bool = False, match: str = "", limit: float | None = None
) -> list[dict[str, Any]]:
    """Run every instance and print the table (or return JSON records when ``as_json``)."""
    limit = float(os.environ.get("SCHEDULING_BENCH_LIMIT", "60")) if limit is None else limit
    records: list[dict[str, Any]] = []
    if not as_json:
        print(
            f"scheduling: CP-SAT {WORKERS} workers, {limit:g} s; ratio = objective / CP-SAT's; "
            "gaps = (objective - bound) / objective, to CP-SAT's bound ('-' if it proved "
            "nothing) and to the best of CP-SAT's and caredomain's bounds"
        )
        print(
            f"{'instance':<22} {'solver':<26} {'objective':>14} {'ratio':>8} {'gap cp':>9} "
            f"{'gap best':>9} {'own bound':>14} {'seconds':>7} {'t ratio':>8}  status"
        )
    for n_requests, n_slots in _sizes():
        for predecessors in (False, True):
            name = f"{n_requests}x{n_slots}-{'after' if predecessors else 'assignment'}"
            if match not in name:
                continue
            data = generate(n_requests, n_slots, predecessors=predecessors, seed=0)
            problem = SchedulingProblem.from_dict(data)
            compiled = Compiled(problem)
            ours = solve_caredomain(problem, limit)
            _, greedy = solve_greedy(compiled)
            _, peer = solve_cpsat(compiled, limit)
            assert peer.bound is not None
            assert ours.bound is not None
            best_bound = max(peer.bound, ours.bound)  # both are proven lower bounds
            for outcome in (ours, peer, greedy):
                ratio = outcome.objective / peer.objective
                gap = (
                    (outcome.objective - peer.bound) / outcome.objective if peer.bound > 0 else None
                )
                best_gap = (outcome.objective - best_bound) / outcome.objective
                record = {
                    "area": "scheduling",
                    "instance": name,
                    "solver": outcome.solver,
                    "objective": round(outcome.objective, 4),
                    "ratio_to_cpsat": round(ratio, 6),
                    "gap_to_cpsat_bound": None if gap is None else round(gap, 6),
                    "gap_to_best_bound": round(best_gap, 6),
                    "own_bound": None if outcome.bound is None else round(outcome.bound, 4),
                    "seconds": round(outcome.seconds, 3),
                    "time_ratio": round(outcome.seconds / peer.seconds, 4),
                    "status": outcome.status,
                    "cpsat_limit": limit,
                }
                records.append(record)
                if not as_json:
                    own = "" if outcome.bound is None else f"{outcome.bound:,.2f}"
                    shown = "-" if gap is None else f"{100 * gap:.3f}%"
                    print(
                        f"{name:<22} {outcome.solver:<26} {outcome.objective:>14,.2f} "
                        f"{ratio:>8.5f} {shown:>9} {100 * best_gap:>8.3f}% {own:>14} "
                        f"{outcome.seconds:>7.2f} {outcome.seconds / peer.seconds:>8.4f}  "
                        f"{outcome.status}",
                        flush=True,
                    )
    return records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scheduling", description="The slot optimizer vs CP-SAT."
    )
    parser.add_argument("--quick", action="store_true", help="two small sizes, 10 s limit")
    parser.add_argument("--limit", type=float, help="CP-SAT seconds (default 60)")
    parser.add_argument("--json", action="store_true", help="print JSON records")
    parser.add_argument("-k", dest="match", default="", help="only instances containing K")
    args = parser.parse_args(argv)
    if args.quick:
        os.environ.setdefault("SCHEDULING_BENCH_SIZES", "100x300,1000x3000")
    limit = args.limit if args.limit is not None else (10.0 if args.quick else None)
    records = run(as_json=args.json, match=args.match, limit=limit)
    if args.json:
        env = environment()
        json.dump([{**r, **env} for r in records], sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
