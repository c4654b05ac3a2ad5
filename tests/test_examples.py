import subprocess
import sys
from pathlib import Path

from caredomain import Patient, from_json, to_dict

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_patient_example_is_valid_caredomain_json():
    text = (EXAMPLES / "patient.json").read_text(encoding="utf-8")
    patient = from_json(text, Patient)
    assert patient.timezone == "America/Chicago"
    assert from_json(text, Patient) == patient
    assert to_dict(patient)["identifiers"][0]["type"]["codings"][0]["code"] == "MR"


def test_discharge_deadlines_example_runs():
    out = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "discharge_deadlines.py"),
            str(EXAMPLES / "patient.json"),
            "2026-11-25T15:30:00-06:00",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "interactive contact before 2026-12-01T00:00:00-06:00" in out
    assert "face-to-face for CPT 99496 before 2026-12-03T00:00:00-06:00" in out
