"""The optimizer against the spec: hand-checked cases, brute force, and invariants.

The reference functions here (`_fits`, `_objective`, `_violations`, `_brute_force`) are
written from `specs/schedule-problem.md` alone, without the optimizer's code.
"""

import datetime as dt
import math

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.core import Interval, ValidationError, epoch_us
from caredomain.scheduling import (
    DEFAULT_POLICY,
    AppointmentRequest,
    Predecessor,
    Slot,
    UrgencyPolicy,
)
from caredomain.scheduling.optimizer import OptimizerProgress, evaluate, optimize
from caredomain.scheduling.problem import Placement, SchedulingProblem, UnassignedReason

CHI = "America/Chicago"
T0 = pendulum.datetime(2026, 10, 30, 8, tz=CHI)  # a Friday; clocks fall back on Sunday
URGENCIES = ("emergent", "urgent", "post-discharge", "routine")


def _slot(sid, resource, hours, minutes=30):
    start = T0.add(hours=hours)
    return Slot(sid, resource, Interval(start, start.add(minutes=minutes)))


def _request(
    rid,
    patient="p1",
    urgency="routine",
    *,
    release=0,
    due=24 * 60,
    minutes=30,
    any_of=("a",),
    after=None,
):
    return AppointmentRequest(
        rid,
        patient,
        urgency,
        dt.timedelta(minutes=minutes),
        T0.add(hours=release),
        T0.add(hours=due),
        any_of=any_of,
        after=after,
    )


def _after(rid, low_hours, high_hours):
    return Predecessor(rid, dt.timedelta(hours=low_hours), dt.timedelta(hours=high_hours))


# --- a reference written from the spec ------------------------------------------------------


def _fits(request, slot):
    start = epoch_us(slot.interval.start)
    return (
        slot.schedule in request.any_of
        and slot.interval.duration >= request.duration
        and epoch_us(request.release) <= start <= epoch_us(request.due)
    )


def _cost(policy, request, slot):
    u = policy[request.urgency]
    d = (epoch_us(slot.interval.start) - epoch_us(request.release)) / 86_400e6
    return u.weight * max(0.0, d - u.target / dt.timedelta(days=1)) + policy.wait_weight * d


def _objective(problem, chosen):
    """``chosen`` maps request id -> Slot (assigned ones only)."""
    return math.fsum(
        _cost(problem.policy, r, chosen[r.id])
        if r.id in chosen
        else problem.policy[r.urgency].unassigned_penalty
        for r in problem.requests
    )


def _violations(problem, chosen):
    found = []
    slots = [s.id for s in chosen.values()]
    if len(slots) != len(set(slots)):
        found.append("a slot holds two requests")
    for r in problem.requests:
        if r.id not in chosen:
            continue
        slot = chosen[r.id]
        if not _fits(r, slot):
            found.append(f"{r.id} does not fit its slot")
        for other in problem.requests:
            mate = other.id != r.id and other.patient == r.patient and other.id in chosen
            if mate and r.id < other.id and slot.interval.overlaps(chosen[other.id].interval):
                found.append(f"{r.id} overlaps {other.id}")
        if r.after is not None:
            before = chosen.get(r.after.request)
            if before is None:
                found.append(f"{r.id} without its predecessor")
            else:
                gap = before.interval.gap_to(slot.interval)
                if not r.after.min_gap <= gap <= r.after.max_gap:
                    found.append(f"{r.id} outside its gap")
    return found


def _brute_force(problem):
    """The optimum, by trying every assignment (tiny problems only)."""
    requests = problem.requests
    options = [[s for s in problem.slots if _fits(r, s)] for r in requests]
    best = math.inf
    chosen = {}

    def visit(k, used):
        nonlocal best
        if k == len(requests):
            if not _violations(problem, chosen):
                best = min(best, _objective(problem, chosen))
            return
        visit(k + 1, used)
        for slot in options[k]:
            if slot.id not in used:
                chosen[requests[k].id] = slot
                visit(k + 1, used | {slot.id})
                del chosen[requests[k].id]

    visit(0, frozenset())
    return best


def _chosen(problem, result):
    slots = {s.id: s for s in problem.slots}
    return {p.request: slots[p.slot] for p in result.assigned}


def _check(problem, result):
    """Every invariant of a result."""
    chosen = _chosen(problem, result)
    assert not _violations(problem, chosen)
    ids = [p.request for p in result.assigned] + [u.request for u in result.unassigned]
    assert sorted(ids) == sorted(r.id for r in problem.requests)  # never a silent drop
    assert result.objective == pytest.approx(_objective(problem, chosen), rel=1e-12, abs=1e-9)
    assert result.lower_bound <= result.objective + 1e-9 * max(1.0, result.objective)
    assert evaluate(problem, result) == pytest.approx(result.objective, rel=1e-12, abs=1e-9)
    order = {r.id: i for i, r in enumerate(problem.requests)}
    assert [order[p.request] for p in result.assigned] == sorted(
        order[p.request] for p in result.assigned
    )


# --- random problems ---------------------------------------------------------------------


@st.composite
def problems(draw, max_requests=5, max_slots=6, predecessors=True, patients=2, hours=24):
    slots = []
    for i in range(draw(st.integers(max_slots // 2, max_slots))):
        start = draw(st.integers(0, hours // 2)) * 2
        length = draw(st.sampled_from([30, 60, 180]))
        slots.append(_slot(f"s{i}", draw(st.sampled_from("ab")), start, length))
    requests = []
    for i in range(draw(st.integers(min(2, max_requests), max_requests))):
        release = draw(st.integers(-6, hours // 2))
        after = None
        if predecessors and i and draw(st.booleans()):
            low = draw(st.integers(0, hours // 4))
            after = _after(
                f"r{draw(st.integers(0, i - 1))}", low, low + draw(st.integers(0, hours // 2))
            )
        requests.append(
            _request(
                f"r{i}",
                f"p{i}" if patients is None else f"p{draw(st.integers(0, patients - 1))}",
                draw(st.sampled_from(URGENCIES)),
                release=release,
                due=release + draw(st.integers(hours // 4, hours)),
                minutes=draw(st.sampled_from([30, 60])),
                any_of=draw(st.sampled_from([("a",), ("b",), ("a", "b")])),
                after=after,
            )
        )
    return SchedulingProblem(slots, requests, DEFAULT_POLICY, CHI)


@given(problems(predecessors=False, patients=None))
def test_without_links_the_result_is_the_exact_optimum(problem):
    result = optimize(problem)
    _check(problem, result)
    assert result.optimal
    assert result.objective == pytest.approx(result.lower_bound, rel=1e-12, abs=1e-9)
    assert result.objective == pytest.approx(_brute_force(problem), rel=1e-12, abs=1e-9)


@given(problems(predecessors=False))
def test_with_patient_overlaps_the_result_is_the_optimum(problem):
    result = optimize(problem)
    _check(problem, result)
    assert result.objective == pytest.approx(_brute_force(problem), rel=1e-12, abs=1e-9)


@given(problems(predecessors=True))
def test_with_predecessors_the_result_is_the_optimum(problem):
    result = optimize(problem)
    _check(problem, result)
    best = _brute_force(problem)
    assert result.lower_bound <= best + 1e-9 * max(1.0, best)
    assert result.objective == pytest.approx(best, rel=1e-12, abs=1e-9)
    assert result.optimal  # small problems are searched to the end


@settings(max_examples=10)
@given(problems(max_requests=60, max_slots=90, patients=20, hours=24 * 4), st.integers(0, 3))
def test_invariants_hold_on_larger_problems(problem, seed):
    result = optimize(problem, seed=seed)
    _check(problem, result)


# --- hand-checked cases --------------------------------------------------------------------


def test_the_cost_is_the_spec_formula():
    # urgent: target 2 days, weight 20; wait_weight 0.01. Released at T0, slot 3.5 days later:
    # 20 * (3.5 - 2) + 0.01 * 3.5 = 30.035
    problem = SchedulingProblem(
        [_slot("s1", "a", 84)], [_request("r1", urgency="urgent", due=24 * 5)]
    )
    result = optimize(problem)
    assert result.assigned == (Placement("r1", "s1"),)
    assert result.objective == pytest.approx(30.035)
    assert result.optimal


def test_the_earlier_slot_wins_within_the_target():
    problem = SchedulingProblem(
        [_slot("late", "a", 48), _slot("early", "a", 2)], [_request("r1", due=24 * 7)]
    )
    result = optimize(problem)
    assert result.slot_of("r1") == "early"
    assert result.objective == pytest.approx(0.01 * 2 / 24)


def test_the_more_urgent_request_gets_the_only_slot():
    problem = SchedulingProblem(
        [_slot("s1", "a", 1)],
        [_request("r-routine", "p1", "routine"), _request("r-urgent", "p2", "urgent")],
    )
    result = optimize(problem)
    assert result.assigned == (Placement("r-urgent", "s1"),)
    assert [(u.request, u.reason) for u in result.unassigned] == [
        ("r-routine", UnassignedReason.LOST_TO_HIGHER_PRIORITY)
    ]
    assert result.objective == pytest.approx(1000 + 0.01 / 24)
    assert result.optimal


def test_a_patient_is_never_in_two_places():
    # Two requests of one patient, two slots at the same hour on two resources, one later.
    problem = SchedulingProblem(
        [_slot("a-9", "a", 1), _slot("b-9", "b", 1), _slot("b-13", "b", 5)],
        [_request("r1", any_of=("a",)), _request("r2", any_of=("b",))],
    )
    result = optimize(problem)
    assert result.slot_of("r1") == "a-9"
    assert result.slot_of("r2") == "b-13"
    assert result.optimal
    assert result.lower_bound < result.objective  # the relaxation put both at 09:00


def test_the_patient_conflict_reason():
    problem = SchedulingProblem(
        [_slot("a-9", "a", 1), _slot("b-9", "b", 1)],
        [_request("r1", urgency="urgent", any_of=("a",)), _request("r2", any_of=("b",))],
    )
    result = optimize(problem)
    assert result.slot_of("r1") == "a-9"
    assert result.unassigned[0].reason is UnassignedReason.PATIENT_CONFLICT


def test_a_follower_keeps_its_gap_after_the_predecessor():
    # Lab draw 1-3 days before the visit (DOMAIN.md, scenario 1). The visit's cheapest slot is
    # too soon after the only lab slot, so it takes the one two days later.
    problem = SchedulingProblem(
        [_slot("lab", "lab", 0, 15), _slot("visit-soon", "dr", 3), _slot("visit-ok", "dr", 49)],
        [
            _request("draw", any_of=("lab",), due=24 * 3, minutes=15),
            _request("visit", any_of=("dr",), due=24 * 7, after=_after("draw", 24, 72)),
        ],
    )
    result = optimize(problem)
    assert result.slot_of("draw") == "lab"
    assert result.slot_of("visit") == "visit-ok"
    assert result.optimal


def test_reasons_for_unassigned_requests():
    problem = SchedulingProblem(
        [_slot("a-1", "a", 1), _slot("b-1", "b", 1), _slot("d-1", "d", 1)],
        [
            _request("nothing-fits", any_of=("z",)),
            _request("first", "p2", any_of=("z",)),
            _request("then", "p2", any_of=("a",), after=_after("first", 0, 24)),
            _request("lab", "p3", any_of=("b",)),
            _request("too-soon-visit", "p3", any_of=("d",), after=_after("lab", 24, 48)),
        ],
    )
    result = optimize(problem)
    assert {u.request: u.reason for u in result.unassigned} == {
        "nothing-fits": UnassignedReason.NO_ELIGIBLE_SLOT,
        "first": UnassignedReason.NO_ELIGIBLE_SLOT,
        "then": UnassignedReason.PREDECESSOR_UNASSIGNED,
        "too-soon-visit": UnassignedReason.NO_SLOT_AFTER_PREDECESSOR,
    }
    assert result.slot_of("lab") == "b-1"


def test_a_slot_costing_more_than_the_penalty_is_left():
    # Same day target, 10 per day late, 5 to leave it: a slot a day later costs 10.01.
    policy = UrgencyPolicy.from_mapping(
        {"routine": {"target_days": 0, "weight": 10, "unassigned_penalty": 5}}
    )
    problem = SchedulingProblem([_slot("s1", "a", 24)], [_request("r1", due=48)], policy)
    result = optimize(problem)
    assert result.unassigned[0].reason is UnassignedReason.NOT_WORTH_ITS_COST
    assert result.objective == 5
    assert result.optimal


def test_an_empty_problem():
    result = optimize(SchedulingProblem([], []))
    assert result.assigned == result.unassigned == ()
    assert result.objective == result.lower_bound == 0
    assert result.optimal


def test_the_example_file_is_solved_to_optimality():
    from tests.scheduling.test_problem import EXAMPLE

    problem = SchedulingProblem.from_json(EXAMPLE.read_text(encoding="utf-8"))
    result = optimize(problem)
    _check(problem, result)
    assert result.optimal
    assert result.slot_of("r-endo-new-dx") is not None
    assert {u.request: u.reason for u in result.unassigned} == {
        "r-annual-2": UnassignedReason.LOST_TO_HIGHER_PRIORITY,
        "r-derm-referral": UnassignedReason.NO_ELIGIBLE_SLOT,
    }


# --- determinism, progress, time ----------------------------------------------------------


def _busy_problem():
    slots = [_slot(f"s{i}", "ab"[i % 2], 2 * i, 60) for i in range(40)]
    requests = []
    for i in range(36):
        after = _after(f"r{i - 1}", 2, 30) if i % 3 else None
        requests.append(
            _request(
                f"r{i}",
                f"p{i // 3}",
                URGENCIES[i % 4],
                release=i,
                due=i + 60,
                any_of=("a", "b") if i % 2 else ("a",),
                after=after,
            )
        )
    return SchedulingProblem(slots, requests)


def test_the_same_seed_gives_the_same_result():
    problem = _busy_problem()
    first, second = optimize(problem, seed=7), optimize(problem, seed=7)
    assert first == second  # `seconds` is not compared
    _check(problem, first)


def test_progress_is_reported():
    seen: list[OptimizerProgress] = []
    problem = _busy_problem()
    result = optimize(problem, progress=seen.append)
    assert seen[-1].phase == "done"
    assert seen[-1].objective == result.objective
    assert all(p.lower_bound == result.lower_bound for p in seen)
    assert [p.objective for p in seen] == sorted((p.objective for p in seen), reverse=True)


def test_a_time_limit_of_zero_still_returns_a_feasible_result():
    ticks = iter(range(1_000_000))
    problem = _busy_problem()
    result = optimize(problem, time_limit=0, timer=lambda: float(next(ticks)))
    _check(problem, result)
    assert result.seconds > 0


@pytest.mark.parametrize("bad", [-1, float("nan"), "5", True])
def test_a_bad_time_limit_is_refused(bad):
    with pytest.raises(ValidationError):
        optimize(_busy_problem(), time_limit=bad)


def test_evaluate_rejects_what_breaks_a_rule():
    problem = SchedulingProblem(
        [_slot("s1", "a", 1), _slot("s2", "a", 1), _slot("s3", "b", 1)],
        [
            _request("r1"),
            _request("r2", after=_after("r1", 0, 1)),
            _request("r3", "p3", any_of=("a",)),
        ],
    )
    assert evaluate(problem, [Placement("r1", "s1")]) == pytest.approx(0.01 / 24 + 2 * 1000)
    with pytest.raises(ValidationError) as info:
        evaluate(
            problem,
            [
                Placement("r1", "s1"),
                Placement("r2", "s2"),
                Placement("r3", "s1"),
                Placement("r3", "s3"),
                Placement("nobody", "s1"),
            ],
        )
    paths = {(p.path, p.message) for p in info.value.problems}
    assert ("$.assignments[1]", "expected no overlap with the patient's other visits") in paths
    assert ("$.assignments[1]", "expected a start within the gap after its predecessor") in paths
    assert ("$.assignments[2].slot", "expected each slot used once") in paths
    assert ("$.assignments[3].request", "expected each request placed once") in paths
    assert ("$.assignments[4].request", "expected the id of a request") in paths
