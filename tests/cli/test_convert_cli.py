import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from caredomain.cli import main
from tests.phi import PATIENT_FAMILY, PATIENT_GIVEN, PATIENT_MRN, assert_no_phi

ROOT = Path(__file__).resolve().parents[2]
HL7 = ROOT / "examples" / "hl7v2"
FHIR = ROOT / "examples" / "fhir"
TZ = ["--sender-tz", "America/Chicago"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def types(bundle):
    return [e["resource"]["resourceType"] for e in bundle["entry"]]


def test_one_message_gives_one_bundle_json(capsys):
    code, out, err = run(capsys, "convert", str(HL7 / "adt-a03-discharge-hf.hl7"), "--to", "r4")
    assert code == 0
    bundle = json.loads(out)
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction"
    assert "Encounter" in types(bundle)
    assert out.count("\n") > 1  # indented: a document, not an NDJSON line
    assert err.strip().splitlines()[-1] == "converted 1, failed 0"


def test_a_batch_gives_ndjson_in_input_order(capsys):
    code, out, err = run(capsys, "convert", str(HL7 / "batch.hl7"), "--to", "R4", *TZ)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 5
    bundles = [json.loads(line) for line in lines]
    assert [b["entry"][-1]["resource"]["activity"]["coding"][0]["code"] for b in bundles] == [
        "A01",
        "A03",
        "S12",
        "R01",
        "I12",
    ]
    assert "converted 5, failed 0" in err


def test_several_files_in_order_and_r5_messages(capsys):
    files = [str(HL7 / n) for n in ("oru-r01-hf-home-kg.hl7", "siu-s12-new-booking.hl7")]
    code, out, _err = run(capsys, "convert", *files, "--to", "r5", "--bundle", "message")
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert types(first)[0] == types(second)[0] == "MessageHeader"
    assert "DiagnosticReport" in types(first)
    assert "Appointment" in types(second)
    assert first["type"] == "message"


def test_failures_are_reported_with_file_and_index_and_the_run_goes_on(capsys):
    code, out, err = run(capsys, "convert", str(HL7), "--to", "r4")
    assert code == 1
    lines = out.splitlines()
    converted = len(lines)
    messages = err.strip().splitlines()
    summary = messages[-1]
    # Two corpus files send times without an offset, and REF dates (RF1-7, AUT-10) need
    # the sender's zone to become instants: without --sender-tz they fail.
    failures = messages[:-1]
    assert len(failures) == 8
    for failure in failures:
        assert failure.startswith("caredomain convert: ")
        assert ": invalid-content: cannot parse at segment " in failure
    assert "adt-a04-register.hl7: message 1:" in err
    assert "batch.hl7: message 5:" in err  # the REF inside the batch
    assert "README" not in err  # a directory gives its .hl7 files only
    assert summary == "converted 25, failed 8 (invalid-content 8)"
    assert converted == 25
    for line in lines:
        assert json.loads(line)["resourceType"] == "Bundle"


def test_with_the_sender_zone_everything_converts(capsys):
    code, out, err = run(capsys, "convert", str(HL7), "--to", "r4", *TZ)
    assert code == 0
    assert len(out.splitlines()) == 33  # 28 files of one message, and 5 in batch.hl7
    assert err.strip() == "converted 33, failed 0"


def test_unsupported_and_unreadable_messages(capsys, tmp_path):
    batch = tmp_path / "mixed.hl7"
    good = (HL7 / "oru-r01-hf-home-kg.hl7").read_bytes()
    unsupported = good.replace(b"ORU^R01^ORU_R01", b"MDM^T02")
    batch.write_bytes(b"garbage line\r\r" + unsupported + b"\r" + good)
    code, out, err = run(capsys, "convert", str(batch), "--to", "r4")
    assert code == 1
    assert len(out.splitlines()) == 1
    assert f"{batch}: message 1: unreadable:" in err
    assert f"{batch}: message 2: unsupported-type:" in err
    assert err.strip().splitlines()[-1] == (
        "converted 1, failed 2 (unreadable 1, unsupported-type 1)"
    )


def test_failures_carry_no_patient_data(capsys, tmp_path):
    message = (
        "MSH|^~\\&|A|B|C|D|20261125153512-0600||ADT^A01|C1|P|2.5.1\r"
        f"PID|1||{PATIENT_MRN}^^^LMH^MR||{PATIENT_FAMILY}^{PATIENT_GIVEN}||19610719XX\r"
    )
    path = tmp_path / "phi.hl7"
    path.write_text(message)
    code, out, err = run(capsys, "convert", str(path), "--to", "r4")
    assert code == 1
    assert out == ""
    assert "message 1: invalid-content" in err
    assert_no_phi(err)


def test_stdin(capsys, monkeypatch):
    data = (HL7 / "siu-s12-new-booking.hl7").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _err = run(capsys, "convert", "-", "--to", "r4")
    assert code == 0
    assert "Appointment" in types(json.loads(out))


def test_out_directory(capsys, tmp_path):
    out_dir = tmp_path / "out"
    code, out, err = run(
        capsys,
        "convert",
        str(HL7 / "batch.hl7"),
        str(HL7 / "adt-a03-discharge-hf.hl7"),
        "--to",
        "r4",
        "--out",
        str(out_dir),
        *TZ,
    )
    assert code == 0
    assert out == ""
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "adt-a03-discharge-hf.json",
        "batch.ndjson",
    ]
    assert len((out_dir / "batch.ndjson").read_text().splitlines()) == 5
    assert json.loads((out_dir / "adt-a03-discharge-hf.json").read_text())["type"] == (
        "transaction"
    )
    assert "converted 6, failed 0" in err


def test_progress_bar_only_on_a_terminal(capsys, monkeypatch):
    code, _out, err = run(capsys, "convert", str(HL7 / "batch.hl7"), "--to", "r4", *TZ)
    assert "\r" not in err
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _out, err = run(capsys, "convert", str(HL7 / "batch.hl7"), "--to", "r4", *TZ)
    assert code == 0
    assert "\r" in err
    assert "messages" in err
    assert "%" in err
    assert err.strip().splitlines()[-1].endswith("converted 5, failed 0")


def test_usage_errors(capsys, tmp_path):
    assert run(capsys, "convert", str(tmp_path / "missing.hl7"), "--to", "r4")[0] == 2
    with pytest.raises(SystemExit) as info:
        main(["convert", str(HL7 / "batch.hl7"), "--to", "r3"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["convert", str(HL7 / "batch.hl7"), "--to", "r4", "--sender-tz", "Mars/Olympus"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["convert", str(HL7 / "batch.hl7")])  # --to is required
    assert info.value.code == 2


def test_the_machine_zone_never_shows(tmp_path):
    file = str(HL7 / "oru-r01-hf-home-lb.hl7")
    outputs = []
    for zone in ("Asia/Tokyo", "America/Los_Angeles"):
        result = subprocess.run(
            [sys.executable, "-m", "caredomain", "convert", file, "--to", "r4", *TZ],
            capture_output=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "TZ": zone},
        )
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    assert '"effectiveDateTime": "2026-12-06T07:05:00-06:00"' in outputs[0].decode()


# --- validate -------------------------------------------------------------------------------


def test_validate_good_hl7_and_fhir(capsys):
    files = [str(HL7 / "adt-a03-discharge-hf.hl7"), *map(str, sorted(FHIR.glob("*.json")))]
    code, out, err = run(capsys, "validate", *files)
    assert (code, out) == (0, "")
    assert "0 problem(s) in 6 file(s)" in err


def test_validate_reports_hl7_problems_as_ndjson(capsys, tmp_path):
    path = tmp_path / "bad.hl7"
    good = (HL7 / "adt-a03-discharge-hf.hl7").read_bytes()
    path.write_bytes(good.replace(b"\rPID|", b"\rXX1|") + b"\r\rnot a message\r")
    code, out, _err = run(capsys, "validate", str(path))
    assert code == 1
    problems = [json.loads(line) for line in out.splitlines()]
    assert {p["index"] for p in problems} == {1, 2}
    assert all(set(p) == {"file", "index", "location", "problem"} for p in problems)
    assert any("PID" in p["problem"] or "PID" in p["location"] for p in problems if p["index"] == 1)
    assert [p["location"] for p in problems if p["index"] == 2] == ["segment 1"]


def test_validate_strict_uses_hl7apy(capsys):
    code, out, _err = run(capsys, "validate", "--strict", str(HL7 / "oru-r01-hf-home-kg.hl7"))
    for line in out.splitlines():
        assert set(json.loads(line)) == {"file", "index", "location", "problem"}
    assert code in (0, 1)


def test_validate_reports_fhir_problems_with_locations(capsys, tmp_path):
    bundle = json.loads((FHIR / "adt-a03-discharge-hf.r4.json").read_text())
    encounter = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    encounter["resource"]["status"] = 42
    encounter["resource"]["subject"]["reference"] = "urn:uuid:00000000-0000-0000-0000-000000000000"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))
    code, out, _err = run(capsys, "validate", str(path))
    assert code == 1
    locations = [json.loads(line)["location"] for line in out.splitlines()]
    n = bundle["entry"].index(encounter)
    assert f"Bundle.entry[{n}].resource.Encounter.status" in locations
    assert f"Bundle.entry[{n}].resource.subject" in locations  # a reference that does not resolve


def test_validate_ndjson_and_r5(capsys, tmp_path):
    bundles = [json.loads(p.read_text()) for p in sorted(FHIR.glob("*.json"))]
    patients = [e["resource"] for b in bundles for e in b["entry"] if "Patient" in types(b)[:1]]
    path = tmp_path / "resources.ndjson"
    path.write_text("\n".join(json.dumps(p) for p in patients[:2]) + '\n{"resourceType": 1}\n')
    code, out, _err = run(capsys, "validate", str(path), "--to", "r5")
    assert code == 1
    (problem,) = [json.loads(line) for line in out.splitlines()]
    assert problem["index"] == 3
    assert problem["location"] == "resourceType"


def test_validate_bad_json(capsys, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"resourceType": "Patient",')
    code, out, _err = run(capsys, "validate", str(path))
    assert code == 1
    assert json.loads(out)["problem"] == "valid JSON"


def test_from_fhir_to_hl7v2(capsys, tmp_path):
    ndjson = tmp_path / "bundles.ndjson"
    bundles = [json.loads((FHIR / f"{n}.r4.json").read_text()) for n in ("siu-s12-new-booking",)]
    bundles.append(json.loads((FHIR / "adt-a03-discharge-hf.r4.json").read_text()))
    ndjson.write_text("\n".join(json.dumps(b) for b in bundles) + "\n")
    code, out, err = run(
        capsys,
        "convert",
        "--from",
        "fhir",
        "--to",
        "hl7v2",
        str(FHIR / "ref-i12-cardiology-consult.r4.json"),
        str(ndjson),
        *TZ,
    )
    assert code == 1
    messages = [m for m in out.split("\n") if m]
    assert [m.split("\r")[0].split("|")[8] for m in messages] == [
        "REF^I12^REF_I12",
        "SIU^S12^SIU_S12",
    ]
    assert all(m.endswith("\r") for m in messages)
    assert f"{ndjson}: message 2: invalid-content:" in err
    assert err.strip().splitlines()[-1] == "converted 2, failed 1 (invalid-content 1)"


def test_from_fhir_needs_to_hl7v2(capsys):
    code, _out, err = run(capsys, "convert", "--from", "fhir", "--to", "r4", str(FHIR))
    assert code == 2
    assert "--to hl7v2" in err


def test_from_fhir_reports_a_bad_bundle_and_converts_the_next(capsys, tmp_path):
    good = json.loads((FHIR / "siu-s12-new-booking.r4.json").read_text())
    bad = {**good, "timestamp": "not a time"}
    ndjson = tmp_path / "two.ndjson"
    ndjson.write_text(json.dumps(bad) + "\n" + json.dumps(good) + "\n")
    code, out, err = run(capsys, "convert", "--from", "fhir", "--to", "hl7v2", str(ndjson), *TZ)
    assert code == 1
    assert [m.split("|")[8] for m in out.split("\n") if m] == ["SIU^S12^SIU_S12"]
    assert f"{ndjson}: message 1: invalid-content:" in err
    assert "not a time" not in err


def test_an_unwritable_out_directory_is_a_usage_error(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    sample = Path(__file__).parents[2] / "examples" / "hl7v2" / "adt-a03-discharge-hf.hl7"
    code, _out, err = run(capsys, "convert", str(sample), "--to", "r4", "--out", str(blocker / "x"))
    assert code == 2
    assert "cannot write into" in err


def test_validate_counts_documents_the_same_way_for_good_and_bad_lines(capsys, tmp_path):
    good = (FHIR / "siu-s12-new-booking.r4.json").read_text().replace("\n", "")
    path = tmp_path / "three.ndjson"
    path.write_text(good + "\n\n{not json\n" + good + "\n")  # a blank line, then a bad one
    code, out, _err = run(capsys, "validate", str(path))
    assert code == 1
    problems = [json.loads(line) for line in out.splitlines()]
    assert [(p["index"], p["location"], p["problem"]) for p in problems] == [
        (2, "line 3 column 2", "valid JSON")
    ]
