import copy
import datetime as dt
import json
from pathlib import Path

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import Interval, NaiveDatetimeError, ParseError, ValidationError
from caredomain.scheduling import (
    DEFAULT_POLICY,
    AppointmentRequest,
    Predecessor,
    Slot,
    SlotStatus,
    UrgencyPolicy,
)
from caredomain.scheduling.problem import (
    Assignment,
    Placement,
    SchedulingProblem,
    UnassignedReason,
    UnassignedRequest,
)
from tests.phi import PATIENT_FAMILY, PATIENT_MRN, assert_no_phi

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "schedule-problem.json"
CHI = "America/Chicago"


def _file():
    """The spec's example, completed with the request it follows."""
    return {
        "timezone": CHI,
        "urgency": {
            "emergent": {"target_days": 0, "weight": 100, "unassigned_penalty": 100000},
            "urgent": {"target_days": 2, "weight": 20, "unassigned_penalty": 20000},
            "post-discharge": {"target_days": 7, "weight": 10, "unassigned_penalty": 10000},
            "routine": {"target_days": 30, "weight": 1, "unassigned_penalty": 1000},
        },
        "wait_weight": 0.01,
        "slots": [
            {
                "id": "s1",
                "resource": "dr-ortiz",
                "start": "2026-12-01T08:00:00-06:00",
                "end": "2026-12-01T08:30:00-06:00",
            },
            {
                "id": "s2",
                "resource": "lab",
                "start": "2026-11-27T08:00:00-06:00",
                "end": "2026-11-27T08:15:00-06:00",
            },
        ],
        "requests": [
            {
                "id": "r0",
                "patient": "p1",
                "urgency": "routine",
                "duration_minutes": 15,
                "release": "2026-11-20T00:00:00-06:00",
                "due": "2026-12-20T00:00:00-06:00",
                "eligible_resources": ["lab"],
            },
            {
                "id": "r1",
                "patient": "p1",
                "urgency": "urgent",
                "duration_minutes": 30,
                "release": "2026-12-01T00:00:00-06:00",
                "due": "2026-12-05T00:00:00-06:00",
                "eligible_resources": ["dr-ortiz", "dr-chen"],
                "after": {"request": "r0", "min_gap_minutes": 1440, "max_gap_minutes": 4320},
            },
        ],
    }


def _after(request):
    return {"request": request, "min_gap_minutes": 0, "max_gap_minutes": 1}


def _error(data, kind=ValidationError):
    with pytest.raises(kind) as info:
        SchedulingProblem.from_dict(data)
    return info.value


def test_reads_the_spec_example_as_domain_values():
    problem = SchedulingProblem.from_dict(_file())
    assert problem.timezone == CHI
    assert problem.policy == DEFAULT_POLICY
    slot = problem.slots[0]
    assert slot == Slot(
        "s1",
        "dr-ortiz",
        Interval(
            pendulum.datetime(2026, 12, 1, 8, tz=CHI), pendulum.datetime(2026, 12, 1, 8, 30, tz=CHI)
        ),
    )
    request = problem.requests[1]
    assert request.any_of == ("dr-ortiz", "dr-chen")
    assert request.duration == dt.timedelta(minutes=30)
    assert request.after == Predecessor("r0", dt.timedelta(days=1), dt.timedelta(days=3))
    assert request.release.timezone_name == CHI  # shown in the file's zone


def test_round_trips_through_the_file_format():
    problem = SchedulingProblem.from_dict(_file())
    again = SchedulingProblem.from_json(problem.to_json())
    assert again == problem
    assert again.to_dict() == _file()


def test_the_example_file_reads():
    problem = SchedulingProblem.from_json(EXAMPLE.read_text(encoding="utf-8"))
    assert len(problem.slots) == 20
    assert {r.urgency for r in problem.requests} == {
        "emergent",
        "urgent",
        "post-discharge",
        "routine",
    }
    assert any(r.after is not None for r in problem.requests)
    offsets = {s.interval.start.utcoffset() for s in problem.slots}
    assert offsets == {dt.timedelta(hours=-5), dt.timedelta(hours=-6)}  # across the DST change


def test_policy_and_timezone_may_be_left_out():
    data = _file()
    del data["urgency"], data["wait_weight"], data["timezone"]
    problem = SchedulingProblem.from_dict(data)
    assert problem.policy == DEFAULT_POLICY
    assert problem.timezone is None


def test_a_custom_policy_is_read():
    data = _file()
    data["urgency"] = {"soon": {"target_days": 1.5, "weight": 3, "unassigned_penalty": 50}}
    data["wait_weight"] = 0
    for r in data["requests"]:
        r["urgency"] = "soon"
    problem = SchedulingProblem.from_dict(data)
    assert problem.policy["soon"].target == dt.timedelta(hours=36)
    assert problem.policy.wait_weight == 0
    assert SchedulingProblem.from_dict(problem.to_dict()) == problem


def test_a_time_without_offset_is_a_naive_datetime_error():
    data = _file()
    data["requests"][1]["release"] = "2026-12-01T00:00:00"
    error = _error(data, NaiveDatetimeError)
    assert error.location == "$.requests[1].release"
    assert error.subject == "SchedulingProblem"


def test_structural_problems_are_all_reported_with_paths():
    data = _file()
    data["slots"][0]["start"] = 5
    data["requests"][0]["duration_minutes"] = "15"
    data["requests"][1]["colour"] = "blue"
    del data["requests"][1]["patient"]
    error = _error(data)
    paths = {p.path for p in error.problems}
    assert paths == {
        "$.slots[0].start",
        "$.requests[0].duration_minutes",
        "$.requests[1]",  # the unknown key
        "$.requests[1].patient",  # the missing one
    }


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["requests"][1].update(urgency="soonish"), "$.requests[1].urgency"),
        (
            lambda d: d["requests"][1].update(due="2026-11-30T00:00:00-06:00"),
            "$.requests[1].due",
        ),
        (lambda d: d["requests"][1]["after"].update(request="r9"), "$.requests[1].after.request"),
        (lambda d: d["requests"][0].update(id="r1"), "$.requests[1].id"),
        (lambda d: d["slots"][1].update(id="s1"), "$.slots[1].id"),
        (
            lambda d: d["slots"][0].update(end="2026-12-01T08:00:00-06:00"),
            "$.slots[0].end",
        ),
        (lambda d: d["requests"][0].update(duration_minutes=0), "$.requests[0].duration_minutes"),
        (
            lambda d: d["requests"][0].update(eligible_resources=[]),
            "$.requests[0].eligible_resources",
        ),
        (
            lambda d: d["requests"][1]["after"].update(max_gap_minutes=60),
            "$.requests[1].after.max_gap_minutes",
        ),
        (lambda d: d.update(wait_weight=-1), "$.wait_weight"),
        (lambda d: d.update(wait_weight=True), "$.wait_weight"),
        (lambda d: d["urgency"]["urgent"].update(weight=-2), "$.urgency.urgent.weight"),
        (lambda d: d.update(timezone="Central Time"), "$.timezone"),
        (lambda d: d["requests"][0].update(after=_after("r1")), "$.requests[0].after"),
    ],
)
def test_invalid_input_is_a_located_validation_error(change, path):
    data = _file()
    change(data)
    error = _error(data)
    assert path in {p.path for p in error.problems}, error.problems


def test_a_slot_of_an_unknown_resource_is_fine():
    data = _file()
    data["slots"][0]["resource"] = "nobody-asks-for-me"
    assert SchedulingProblem.from_dict(data).slots[0].schedule == "nobody-asks-for-me"


def test_bad_json_is_a_parse_error():
    with pytest.raises(ParseError) as info:
        SchedulingProblem.from_json('{"slots": [')
    assert "line 1" in str(info.value)


def test_errors_carry_no_patient_data():
    data = _file()
    for r in data["requests"]:
        r["patient"] = f"{PATIENT_FAMILY} {PATIENT_MRN}"
        r["id"] = f"{PATIENT_MRN}-{r['id']}"
    data["requests"][1]["after"]["request"] = f"{PATIENT_MRN}-r0"
    cases = []
    bad = copy.deepcopy(data)
    bad["requests"][1]["release"] = "2026-12-01T00:00:00"
    cases.append(bad)
    bad = copy.deepcopy(data)
    bad["requests"][1]["after"]["request"] = PATIENT_FAMILY
    bad["requests"][0]["urgency"] = PATIENT_FAMILY
    cases.append(bad)
    bad = copy.deepcopy(data)
    bad["requests"][0]["id"] = bad["requests"][1]["id"]
    cases.append(bad)
    bad = copy.deepcopy(data)
    bad["requests"][0]["patient"] = [PATIENT_FAMILY]
    cases.append(bad)
    for case in cases:
        with pytest.raises(ValidationError) as info:
            SchedulingProblem.from_dict(case)
        assert_no_phi(str(info.value))


def _request(rid, **kw):
    base = {
        "patient": "p1",
        "urgency": "routine",
        "duration": dt.timedelta(minutes=30),
        "release": pendulum.datetime(2026, 12, 1, tz=CHI),
        "due": pendulum.datetime(2026, 12, 31, tz=CHI),
        "any_of": ("dr-a",),
    }
    base.update(kw)
    return AppointmentRequest(rid, **base)


def test_the_value_refuses_what_the_format_cannot_say():
    span = Interval(
        pendulum.datetime(2026, 12, 2, 8, tz=CHI), pendulum.datetime(2026, 12, 2, 9, tz=CHI)
    )
    with pytest.raises(ValidationError) as info:
        SchedulingProblem(
            [
                Slot("s1", "dr-a", span, status=SlotStatus.BUSY),
                Slot("s2", "dr-a", span, capacity=2),
            ],
            [_request("r1", any_of=(), all_of=("dr-a", "room-1"))],
        )
    assert {p.path for p in info.value.problems} == {
        "$.slots[0].status",
        "$.slots[1].capacity",
        "$.requests[0].all_of",
    }


def test_the_value_checks_links_and_urgencies():
    policy = UrgencyPolicy.from_mapping(
        {"routine": {"target_days": 30, "weight": 1, "unassigned_penalty": 1000}}
    )
    with pytest.raises(ValidationError) as info:
        SchedulingProblem(
            [],
            [
                _request("r1", urgency="urgent"),
                _request("r2", after=Predecessor("r3", dt.timedelta(0), dt.timedelta(days=1))),
            ],
            policy,
        )
    assert {p.path for p in info.value.problems} == {
        "$.requests[0].urgency",
        "$.requests[1].after.request",
    }
    with pytest.raises(ValidationError) as info:
        SchedulingProblem(
            [],
            [
                _request("r1", after=Predecessor("r2", dt.timedelta(0), dt.timedelta(days=1))),
                _request("r2", after=Predecessor("r1", dt.timedelta(0), dt.timedelta(days=1))),
            ],
        )
    assert "cycle" in str(info.value)


def test_assignment_output_has_the_spec_shape_and_reads_back():
    result = Assignment(
        [Placement("r1", "s1")],
        [UnassignedRequest("r9", UnassignedReason.NO_ELIGIBLE_SLOT)],
        123.456789123,
        120.0,
        False,
        0.81234,
    )
    data = result.to_dict()
    assert data == {
        "assignments": [{"request": "r1", "slot": "s1"}],
        "unassigned": [{"request": "r9", "reason": "no eligible slot before due"}],
        "objective": 123.456789,
        "lower_bound": 120.0,
        "optimal": False,
        "seconds": 0.812,
    }
    assert list(data) == [
        "assignments",
        "unassigned",
        "objective",
        "lower_bound",
        "optimal",
        "seconds",
    ]
    again = Assignment.from_json(json.dumps(data))
    assert again.assigned == result.assigned
    assert again.unassigned == result.unassigned
    assert again.slot_of("r1") == "s1"
    assert again.slot_of("r9") is None
    assert result.gap == pytest.approx(3.456789123)
    with pytest.raises(ValidationError):
        Assignment.from_dict({**data, "unassigned": [{"request": "r9", "reason": "bad luck"}]})


@given(
    st.lists(
        st.sampled_from(["emergent", "urgent", "post-discharge", "routine"]), min_size=1, max_size=6
    ),
    st.integers(min_value=0, max_value=10_000),
    st.sampled_from([CHI, "Europe/Berlin", None]),
)
def test_any_problem_round_trips(urgencies, minutes, zone):
    base = pendulum.datetime(2026, 3, 7, 6, tz=CHI)  # across the March DST change
    slots = [
        Slot(
            f"s{i}",
            "dr-a",
            Interval(base.add(minutes=minutes + 60 * i), base.add(minutes=minutes + 60 * i + 45)),
        )
        for i in range(3)
    ]
    requests = [
        _request(
            f"r{i}",
            patient=f"p{i % 2}",
            urgency=u,
            duration=dt.timedelta(minutes=15 + i),
            release=base.add(minutes=i),
            due=base.add(days=2, minutes=minutes),
            after=Predecessor(f"r{i - 1}", dt.timedelta(minutes=i), dt.timedelta(hours=i))
            if i
            else None,
        )
        for i, u in enumerate(urgencies)
    ]
    problem = SchedulingProblem(slots, requests, DEFAULT_POLICY, zone)
    assert SchedulingProblem.from_json(problem.to_json()) == problem
