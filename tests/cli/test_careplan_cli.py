import io
import json
from pathlib import Path

import pytest

from caredomain.cli import main
from tests import phi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PATIENT = str(EXAMPLES / "hf-patient.json")
OBSERVATIONS = str(EXAMPLES / "hf-observations.ndjson")
HF = ["careplan", "monitor", "--template", "heart-failure", "--patient", PATIENT]


def run(capsys, argv):
    code = main(argv)
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    return code, lines, captured.err


def summary(alerts):
    return [(a["rule"].split(".")[1], a["state"], a["at"], a["evidence"]) for a in alerts]


def test_the_heart_failure_week_yields_exactly_the_expected_alerts(capsys):
    code, lines, err = run(
        capsys, [*HF, "--start", "2026-11-30", OBSERVATIONS, "--until", "2026-12-07"]
    )
    assert code == 0
    *alerts, last = lines
    assert summary(alerts) == [
        # 2 December missed: no weight for more than 2 days after Tuesday 07:05
        ("weight-missing", "raised", "2026-12-03T07:05:00-06:00", ["Observation/wt-1201"]),
        ("weight-missing", "resolved", "2026-12-04T07:00:00-06:00", ["Observation/wt-1204"]),
        # Thursday's weight arrives late: Friday's is then 3.7 lb up within a day
        (
            "weight-gain-day",
            "raised",
            "2026-12-04T07:00:00-06:00",
            ["Observation/wt-1203", "Observation/wt-1204"],
        ),
        ("weight-gain-day", "resolved", "2026-12-05T07:10:00-06:00", ["Observation/wt-1205"]),
        # Saturday is 5.3 lb above Thursday (kg and lb mixed): more than 5 lb within a week
        (
            "weight-gain-week",
            "raised",
            "2026-12-05T07:10:00-06:00",
            ["Observation/wt-1203", "Observation/wt-1205"],
        ),
    ]
    first = alerts[0]
    assert list(first) == [
        "alert",
        "state",
        "kind",
        "severity",
        "at",
        "rule",
        "evidence",
        "message",
    ]
    assert (first["kind"], first["severity"]) == ("missing", "warning")
    assert alerts[1]["alert"] == first["alert"]  # one alert, raised then resolved
    assert alerts[4]["message"] == "body weight rose 5.3 [lb_av] within 7 days"
    snapshot = last["snapshot"]
    assert snapshot["at"] == "2026-12-07T00:00:00-06:00"
    (goal,) = snapshot["goals"]
    assert goal["status"] == "worsening"  # blood pressure drifting above 130/80
    assert goal["evidence"] == ["Observation/bp-1206"]
    assert snapshot["overdue"] == []
    assert "12 observations read, 0 rejected, 5 alert changes" in err
    for text in (json.dumps(lines), err):
        assert "Okafor" not in text
        assert "MRN-448812" not in text


def test_the_same_input_gives_the_same_output_and_order_does_not_change_the_snapshot(
    capsys, tmp_path
):
    argv = [*HF, "--start", "2026-11-30", OBSERVATIONS, "--until", "2026-12-07"]
    _, once, _ = run(capsys, argv)
    _, twice, _ = run(capsys, argv)
    assert once == twice
    lines = Path(OBSERVATIONS).read_text(encoding="utf-8").splitlines()
    ordered = sorted(lines, key=lambda line: json.loads(line)["effectiveDateTime"].replace("Z", ""))
    ordered_file = tmp_path / "ordered.ndjson"
    ordered_file.write_text("\n".join(ordered) + "\n", encoding="utf-8")
    _, sorted_lines, _ = run(capsys, [*argv[:-3], str(ordered_file), "--until", "2026-12-07"])
    assert sorted_lines[-1] == once[-1]


def test_bad_lines_are_reported_with_their_number_and_skipped(capsys, tmp_path):
    lines = Path(OBSERVATIONS).read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[0])
    bad["id"] = "wt-bad"
    bad["subject"] = {"reference": "Patient/pat-hf-001", "display": phi.PATIENT_FAMILY}
    bad["valueQuantity"] = {"value": phi.PATIENT_PHONE, "system": "http://unitsofmeasure.org"}
    other = json.loads(lines[0]) | {"id": "wt-other", "subject": {"reference": "Patient/p-2"}}
    feed = [
        lines[0],
        f'{{"resourceType": "Observation", "id": "{phi.PATIENT_MRN}"',  # line 2: not JSON
        json.dumps(bad),  # line 3
        "",
        json.dumps(other),  # line 5: another patient
        lines[0],  # line 6: the same id again
        *lines[1:],
    ]
    path = tmp_path / "feed.ndjson"
    path.write_text("\n".join(feed) + "\n", encoding="utf-8")
    code, out, err = run(capsys, [*HF, "--start", "2026-11-30", str(path), "--until", "2026-12-07"])
    assert code == 1
    assert f"{path}:2: ParseError" in err
    assert f"{path}:3: ValidationError" in err
    assert "Observation.valueQuantity.value" in err
    assert "Observation.valueQuantity.code" in err
    assert f"{path}:5: ValidationError" in err
    assert f"{path}:6: ConflictError" in err
    assert "12 observations read, 4 rejected, 5 alert changes" in err
    assert len(out) == 6  # the rest was still processed
    phi.assert_no_phi(err + json.dumps(out))


def test_an_override_picks_the_other_published_figure(capsys):
    argv = [*HF, "--start", "2026-11-30", OBSERVATIONS, "--until", "2026-12-07"]
    _, lines, _ = run(capsys, [*argv, "--override", "weight_gain_day=3 [lb_av]"])
    assert "weight-gain-day" in {a["rule"].split(".")[1] for a in lines[:-1]}  # 3.7 >= 3
    _, lines, _ = run(capsys, [*argv, "--override", "weight_gain_day=4 [lb_av]"])
    assert "weight-gain-day" not in {a["rule"].split(".")[1] for a in lines[:-1]}
    code, _, err = run(capsys, [*argv, "--override", "weight_gain_day=4 mm[Hg]"])
    assert code == 2
    assert "overrides.weight_gain_day" in err
    code, _, err = run(capsys, [*argv, "--override", "gain=4"])
    assert code == 2
    assert "weight_gain_day" in err


def test_observations_after_until_are_skipped(capsys):
    code, lines, err = run(
        capsys, [*HF, "--start", "2026-11-30", OBSERVATIONS, "--until", "2026-12-02T12:00:00Z"]
    )
    assert code == 0
    assert lines[-1]["snapshot"]["at"] == "2026-12-02T06:00:00-06:00"
    assert "4 observations read" in err
    assert "8 after --until skipped" in err


def test_without_until_the_snapshot_is_as_of_the_newest_observation(capsys):
    code, lines, _ = run(capsys, [*HF, "--start", "2026-11-30", OBSERVATIONS])
    assert code == 0
    assert lines[-1]["snapshot"]["at"] == "2026-12-06T07:05:00-06:00"


def test_a_tcm_visit_missed_on_day_8_is_overdue(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    argv = [
        "careplan",
        "monitor",
        "--template",
        "transitional-care",
        "--patient",
        PATIENT,
        "--start",
        "2026-11-25T15:30:00-06:00",
        "-",
        "--until",
        "2026-12-03T12:00:00-06:00",
        "--override",
        "lace=12",
    ]
    code, lines, _ = run(capsys, argv)
    assert code == 0
    *alerts, last = lines
    assert summary(alerts) == [
        ("contact-overdue", "raised", "2026-12-01T00:00:00-06:00", []),
        ("visit-overdue", "raised", "2026-12-03T00:00:00-06:00", []),
    ]
    assert [a["severity"] for a in alerts] == ["warning", "critical"]
    overdue = last["snapshot"]["overdue"]
    assert [(o["kind"], o["due"]) for o in overdue] == [
        ("appointment", "2026-12-01T00:00:00-06:00"),
        ("appointment", "2026-12-03T00:00:00-06:00"),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (["--template", "heart-transplant"], "--template"),
        (["--template", str(EXAMPLES / "missing.toml")], "cannot read"),
        (["--patient", str(EXAMPLES / "missing.json")], "cannot read"),
        (["--start", "30/11/2026"], "--start"),
        (["--start", "2026-11-30T00:00:00"], "--start"),
        (["--until", "next week"], "--until"),
        (["--patient-tz", "CST"], "--patient-tz"),
        (["OBS"], "cannot read OBS"),
    ],
)
def test_usage_errors_exit_2(capsys, changes, message):
    argv = [*HF, "--start", "2026-11-30", OBSERVATIONS]
    for change in [changes[i : i + 2] for i in range(0, len(changes), 2)]:
        if change[0] == "OBS":
            argv[argv.index(OBSERVATIONS)] = "OBS"
        elif change[0] in argv:
            argv[argv.index(change[0]) + 1] = change[1]
        else:
            argv += change
    code, out, err = run(capsys, argv)
    assert code == 2
    assert out == []
    assert message in err


def test_a_date_start_needs_the_patient_timezone(capsys, tmp_path):
    resource = json.loads(Path(PATIENT).read_text(encoding="utf-8"))
    del resource["extension"]
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps(resource), encoding="utf-8")
    argv = ["careplan", "monitor", "--template", "heart-failure", "--patient", str(patient)]
    code, _, err = run(capsys, [*argv, "--start", "2026-11-30", OBSERVATIONS])
    assert code == 2
    assert "timezone" in err
    code, lines, _ = run(
        capsys, [*argv, "--start", "2026-11-30", OBSERVATIONS, "--patient-tz", "America/Chicago"]
    )
    assert code == 0
    assert len(lines) == 6
    code, lines, _ = run(capsys, [*argv, "--start", "2026-11-30T00:00:00-06:00", OBSERVATIONS])
    assert code == 0
    assert lines[-1]["snapshot"]["at"] == "2026-12-06T13:05:00+00:00"  # no zone: UTC


def test_an_invalid_patient_file_exits_1_without_patient_data(capsys, tmp_path):
    patient = tmp_path / "patient.json"
    for text in (
        f'{{"resourceType": "Patient", "name": "{phi.PATIENT_FAMILY}"',
        json.dumps({"resourceType": "Person", "id": phi.PATIENT_MRN}),
        json.dumps({"resourceType": "Patient", "id": f"{phi.PATIENT_GIVEN} {phi.PATIENT_FAMILY}"}),
        json.dumps(
            {
                "resourceType": "Patient",
                "id": "p1",
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/timezone",
                        "valueCode": phi.PATIENT_FAMILY,
                    }
                ],
            }
        ),
    ):
        patient.write_text(text, encoding="utf-8")
        code, out, err = run(
            capsys, [*HF[:-1], str(patient), "--start", "2026-11-30", OBSERVATIONS]
        )
        assert code == 1
        assert out == []
        phi.assert_no_phi(err)


def test_help_lists_the_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "careplan" in capsys.readouterr().out
    assert main(["careplan"]) == 2
    assert "monitor" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["careplan", "monitor", "--template", "heart-failure"])
    assert info.value.code == 2
