import subprocess
import sys

import pytest

from caredomain import __version__
from caredomain.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"caredomain {__version__}"


def test_help_lists_demo(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert "usage: caredomain" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_demo_walks_through_the_core(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "interactive contact due before     2026-12-01T00:00:00-06:00" in out
    assert "182.6 [lb_av] -> 82.83 kg" in out
    assert "126 mg/dL -> 7.0 mmol/L" in out
    assert "1 day, 1:00:00" in out  # the day DST ends lasts 25 hours
    assert "round trip equal                   True" in out
    assert "NaiveDatetimeError" in out
    assert "UnitError" in out
    assert "ValidationError" in out
    assert "54 (none on Thanksgiving)" in out
    assert "booked                             booked Fri 27 Nov 09:20" in out
    assert "GuardRejected" in out
    assert "refused: the referral is awaiting-authorization" in out
    assert "scheduled (Task in-progress/5.1.1; 360X SIU^S12)" in out
    # the demo's patient is never printed
    assert "Okafor" not in out
    assert "MRN-448812" not in out


def test_python_dash_m_and_console_script_agree():
    out = subprocess.run(
        [sys.executable, "-m", "caredomain", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"caredomain {__version__}"


def test_diagram_prints_the_appointment_machine(capsys):
    assert main(["diagram", "appointment"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("stateDiagram-v2\n")
    assert "    booked --> noshow : PatientNoShow [after-start]" in out
    assert '    state "checked-in" as checked_in' in out


def test_diagram_of_an_unknown_machine_is_a_usage_error():
    with pytest.raises(SystemExit) as info:
        main(["diagram", "teleporter"])
    assert info.value.code == 2
