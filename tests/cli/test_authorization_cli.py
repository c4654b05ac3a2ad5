import io
import json
from pathlib import Path

import pytest

from caredomain.cli import main
from tests.phi import PATIENT_FAMILY, assert_no_phi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACK = str(EXAMPLES / "payer-pack.toml")


def run(capsys, *argv):
    code = main(["authorization", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def request(name):
    return str(EXAMPLES / f"auth-request-{name}.json")


def test_check_the_spec_example(capsys):
    code, out, err = run(capsys, "check", request("blepharoplasty"), "--pack", "medicare")
    assert code == 0
    document = json.loads(out)
    (line,) = document["lines"]
    assert line["id"] == "1"
    assert line["covered"] == "covered"
    assert line["pa_needed"] == "auth-needed"
    assert line["doc_needed"] == ["clinical"]
    assert line["documents"]
    assert line["rules"] == ["OPD-15820-15823-2020-07-01"]
    assert "blepharoplasty" in line["explanation"]
    # OPD standard review: 7 calendar days from 2025-01-01 (CY 2025 OPPS/ASC final rule).
    assert line["decision_due"]["standard"] == "P7D"
    assert line["decision_due"]["business_days"] == {"expedited": 2}
    assert "1 line(s) checked against medicare" in err


def test_check_without_pack_uses_the_bundled_packs(capsys):
    code, out, _err = run(capsys, "check", request("wheelchair"))
    assert code == 0
    assert json.loads(out)["lines"][0]["rules"] == ["DMEPOS-K0856-2020-08-03"]


def test_check_with_a_pack_file_and_combined_packs(capsys):
    code, out, _err = run(capsys, "check", request("cardiology"), "--pack", PACK)
    assert code == 0
    lines = {line["id"]: line for line in json.loads(out)["lines"]}
    assert lines["consult"]["pa_needed"] == "auth-needed"
    assert lines["consult"]["decision_due"] == {
        "standard": "P15D",
        "expedited": "PT72H",
        "business_days": {},
        "not_over": {},
    }
    assert lines["ecg"]["pa_needed"] == "no-auth"
    code, out, _err = run(capsys, "check", request("pt"), "--pack", "medicare", "--pack", PACK)
    assert code == 0
    lines = json.loads(out)["lines"]
    assert [line["pa_needed"] for line in lines] == ["satisfied", "auth-needed"]
    assert lines[0]["satisfied_pa_id"] == "ACME-PA-2026-0417"


def test_check_reads_stdin(capsys, monkeypatch):
    text = (EXAMPLES / "auth-request-blepharoplasty.json").read_text(encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, _err = run(capsys, "check", "-")
    assert code == 0
    assert json.loads(out)["lines"][0]["pa_needed"] == "auth-needed"


def test_invalid_request_is_exit_1_with_the_path_and_no_patient_data(capsys, tmp_path):
    data = json.loads((EXAMPLES / "auth-request-blepharoplasty.json").read_text())
    data["patient"]["sex"] = PATIENT_FAMILY
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = run(capsys, "check", str(bad))
    assert code == 1
    assert out == ""
    assert "$.patient.sex" in err
    assert_no_phi(err)
    bad.write_text("{not json", encoding="utf-8")
    code, out, err = run(capsys, "check", str(bad))
    assert (code, out) == (1, "")
    assert "ParseError" in err


def test_missing_files_are_usage_errors(capsys, tmp_path):
    code, out, err = run(capsys, "check", str(tmp_path / "nope.json"))
    assert (code, out) == (2, "")
    assert "cannot read" in err
    code, out, err = run(capsys, "check", request("blepharoplasty"), "--pack", "nope")
    assert (code, out) == (2, "")
    assert "no pack nope" in err
    code, _out, _err = run(capsys, "lint", str(tmp_path / "nope.toml"))
    assert code == 2


def test_a_bad_pack_is_exit_1_with_file_and_line(capsys, tmp_path):
    pack = tmp_path / "bad.toml"
    pack.write_text('[[rules]]\nid = "X"\nsystem = "CPT"\ncodes = ["9-1"]\n', encoding="utf-8")
    code, out, err = run(capsys, "check", request("blepharoplasty"), "--pack", str(pack))
    assert (code, out) == (1, "")
    assert f"{pack}:4 [rules[0].codes]" in err
    code, out, err = run(capsys, "lint", str(pack))
    assert code == 1
    report = json.loads(out)
    assert report["errors"] == 1
    (finding,) = report["findings"]
    assert (finding["level"], finding["kind"], finding["line"]) == ("error", "load", 4)


def test_lint_reports_json_and_fails_on_errors(capsys, tmp_path):
    code, out, err = run(capsys, "lint", PACK)
    assert code == 0
    report = json.loads(out)
    assert (report["pack"], report["rules"], report["errors"]) == ("acme-commercial", 5, 0)
    assert {f["kind"] for f in report["findings"]} == {"overlap"}
    assert "acme-commercial: 5 rules, 0 error(s)" in err
    code, out, _err = run(capsys, "lint", "medicare")
    assert code == 0
    assert json.loads(out)["warnings"] > 0  # the 2020 suspensions leave gaps
    shadowed = tmp_path / "shadowed.toml"
    shadowed.write_text(
        "[[rules]]\n"
        'id = "BROAD"\nsystem = "CPT"\ncodes = ["158*"]\nexclusion = true\n'
        'pa_needed = "auth-needed"\n\n'
        "[[rules]]\n"
        'id = "NARROW"\nsystem = "CPT"\ncodes = ["15823"]\npa_needed = "no-auth"\n',
        encoding="utf-8",
    )
    code, out, _err = run(capsys, "lint", str(shadowed))
    assert code == 1
    errors = [f for f in json.loads(out)["findings"] if f["level"] == "error"]
    assert errors[0]["kind"] == "unreachable"
    assert errors[0]["rules"] == ["NARROW", "BROAD"]
    assert errors[0]["line"] == 9


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["authorization", "check", "--help"])
    assert info.value.code == 0
    assert "--pack NAME|PATH" in capsys.readouterr().out
    assert main(["authorization"]) == 2
