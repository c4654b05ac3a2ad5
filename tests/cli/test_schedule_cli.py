import io
import json
from pathlib import Path

import pytest

from caredomain.cli import main
from tests.phi import PATIENT_FAMILY, PATIENT_MRN, assert_no_phi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROBLEM = EXAMPLES / "schedule-problem.json"
EXPECTED = EXAMPLES / "schedule-problem.expected.json"


def _run(capsys, *argv):
    code = main(["schedule", "optimize", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _without_seconds(data):
    return {k: v for k, v in data.items() if k != "seconds"}


def test_optimizes_the_example(capsys):
    code, out, _err = _run(capsys, str(PROBLEM))
    assert code == 0
    data = json.loads(out)
    assert list(data) == [
        "assignments",
        "unassigned",
        "objective",
        "lower_bound",
        "optimal",
        "seconds",
    ]
    assert _without_seconds(data) == _without_seconds(json.loads(EXPECTED.read_text()))
    assert all(set(a) == {"request", "slot"} for a in data["assignments"])
    assert all(set(u) == {"request", "reason"} for u in data["unassigned"])
    assert isinstance(data["seconds"], float)
    assert out.count("\n") == 1  # one JSON document on one line


def test_prints_a_summary_on_stderr(capsys):
    _, _, err = _run(capsys, str(PROBLEM))
    lines = err.splitlines()
    assert lines[0] == "assigned     14 of 16 requests"
    assert lines[1] == "unassigned   2: emergent 0, urgent 0, post-discharge 0, routine 2"
    assert lines[2].startswith("objective    2,033.99")
    assert lines[3].startswith("lower bound  2,033.96")
    assert lines[4].startswith("gap          0.03")
    assert lines[4].endswith("optimal")
    assert lines[5].startswith("time ")
    assert lines[5].endswith(" s")


def test_reads_stdin(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(PROBLEM.read_text()))
    code, out, _ = _run(capsys, "-", "--seed", "3", "--time-limit", "5")
    assert code == 0
    assert _without_seconds(json.loads(out)) == _without_seconds(json.loads(EXPECTED.read_text()))


def _problem_with(tmp_path, change):
    data = json.loads(PROBLEM.read_text())
    for request in data["requests"]:
        request["patient"] = f"{PATIENT_FAMILY} {PATIENT_MRN}"
    change(data)
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "error", "where"),
    [
        (
            lambda d: d["requests"][2].update(release="2026-10-29T12:00:00"),
            "NaiveDatetimeError",
            "$.requests[2].release",
        ),
        (
            lambda d: d["requests"][0].update(urgency=PATIENT_FAMILY),
            "ValidationError",
            "$.requests[0].urgency",
        ),
        (
            lambda d: d["requests"][4]["after"].update(request=PATIENT_MRN),
            "ValidationError",
            "$.requests[4].after.request",
        ),
        (
            lambda d: d["requests"][1].update(due="2026-10-01T00:00:00-05:00"),
            "ValidationError",
            "$.requests[1].due",
        ),
    ],
)
def test_invalid_input_exits_1_with_a_typed_error(capsys, tmp_path, change, error, where):
    code, out, err = _run(capsys, str(_problem_with(tmp_path, change)))
    assert code == 1
    assert out == ""
    assert error in err
    assert where in err
    assert_no_phi(err)


def test_text_that_is_not_json_exits_1(capsys, tmp_path):
    path = tmp_path / "problem.json"
    path.write_text('{"slots": [' + PATIENT_FAMILY)
    code, _out, err = _run(capsys, str(path))
    assert code == 1
    assert "ParseError" in err
    assert_no_phi(err)


def test_a_missing_file_is_a_usage_error(capsys, tmp_path):
    code, out, err = _run(capsys, str(tmp_path / "nope.json"))
    assert code == 2
    assert out == ""
    assert "cannot read" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--time-limit", "-1", "x.json"],
        ["--time-limit", "soon", "x.json"],
        ["--seed", "x", "x.json"],
    ],
)
def test_bad_arguments_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(["schedule", "optimize", *argv])
    assert info.value.code == 2


def test_schedule_without_an_action_is_a_usage_error(capsys):
    assert main(["schedule"]) == 2
    assert "optimize" in capsys.readouterr().err


def test_help_lists_schedule(capsys):
    with pytest.raises(SystemExit) as info:
        main(["schedule", "optimize", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--time-limit SECONDS" in out
    assert "--seed N" in out
