"""The sample corpus in examples/hl7v2 parses, matches its README, and agrees with python-hl7."""

import re
from pathlib import Path

import pytest

from caredomain.adapters.hl7v2 import Message, parse

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "hl7v2"
MLLP_START, MLLP_END = b"\x0b", b"\x1c"

# | `file.hl7` | `ADT^A01` | `2.5.1` | what it exercises |
_ROW = re.compile(
    r"^\|\s*`(?P<file>[^`]+\.hl7)`\s*\|\s*`(?P<type>[^`]+)`\s*\|\s*`(?P<version>[^`]+)`"
)


def readme_table() -> dict[str, tuple[str, str]]:
    """file -> (message type, version), from the table in examples/hl7v2/README.md."""
    rows = {}
    for line in (CORPUS / "README.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            assert match["file"] not in rows, f"{match['file']} is listed twice"
            rows[match["file"]] = (match["type"], match["version"])
    return rows


TABLE = readme_table()
FILES = sorted(p.name for p in CORPUS.glob("*.hl7") if p.name != "batch.hl7")


def test_readme_lists_every_file_once():
    assert sorted(TABLE) == FILES
    assert len(FILES) >= 26


def test_corpus_covers_the_versions_and_features():
    versions = {version for _type, version in TABLE.values()}
    assert {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8"} <= versions
    raw = {name: (CORPUS / name).read_bytes() for name in FILES}
    assert any(data.startswith(b"\xef\xbb\xbf") for data in raw.values())
    assert any(data.startswith(MLLP_START) for data in raw.values())
    assert any(b"\r\n" in data for data in raw.values())
    assert any(b"\n" in data and b"\r" not in data for data in raw.values())
    assert any(b"|8859/1" in data for data in raw.values())
    assert any(b"|UNICODE UTF-8" in data for data in raw.values())


@pytest.mark.parametrize("name", FILES)
def test_every_file_parses_as_its_readme_row_says(name):
    msg = parse((CORPUS / name).read_bytes())
    assert (msg.type, msg.version) == TABLE[name]
    assert msg.control_id
    assert len(msg) >= 4
    assert msg["PID-3.1"]  # every sample names its patient
    _touch_everything(msg)


def _touch_everything(msg: Message) -> None:
    """Every field, repetition and component of every segment reads without an error."""
    for segment in msg:
        for number in range(1, len(segment) + 1):
            reps = segment.repetitions(number)
            for rep in range(1, len(reps) + 1):
                segment.value(number, rep)
                components = reps[rep - 1].split(msg.delimiters.component)
                for comp in range(1, len(components) + 1):
                    segment.value(number, rep, comp)


def test_character_sets_and_escapes():
    assert parse((CORPUS / "adt-a08-latin1.hl7").read_bytes())["PID-5.1"] == "Lefèvre"
    assert parse((CORPUS / "adt-a04-utf8.hl7").read_bytes())["PID-5.2"] == "Thảo"
    msg = parse((CORPUS / "oru-r01-escapes.hl7").read_bytes())
    assert msg["NTE-3"] == "Escaped separators: | ^ & ~ \\ and hex ABCD end."
    assert "37.1°C" in msg["OBX-5"]
    assert "\\Zcustom\\" in msg["OBX[2]-5"]  # unknown escape: kept as written
    custom = parse((CORPUS / "ref-i13-modify-custom-delimiters.hl7").read_bytes())
    assert custom.delimiters.field == "#"
    assert custom["PRD-5[2].3"] == "FX"
    assert custom["NTE-3"].endswith("dyspnea at night / orthopnea")


def test_the_transitional_care_trigger():
    msg = parse((CORPUS / "adt-a03-discharge-hf.hl7").read_bytes())
    assert msg.type == "ADT^A03"
    assert msg["PV1-2"] == "I"
    assert msg["PV1-36.1"] == "01"  # HL7 table 0112: discharged to home or self care
    assert msg["PV1-45"] == "20261125153000-0600"
    assert msg["DG1-3.1"].startswith("I50.")


def test_lab_panel_value_types():
    msg = parse((CORPUS / "oru-r01-lab-panel.hl7").read_bytes())
    assert len(list(msg.segments("OBR"))) == 4
    types = {s.value(2) for s in msg.segments("OBX")}
    assert {"NM", "SN", "CE", "TX", "ST"} <= types
    assert {s.value(11) for s in msg.segments("OBX")} == {"F", "C", "P"}
    assert msg["OBX[7]-5.4"] == "160"  # SN ^1^:^160


def test_batch_file_holds_several_messages():
    text = (CORPUS / "batch.hl7").read_bytes().decode("utf-8")
    chunks = re.split(r"\r\n|\r|\n", text)
    starts = [i for i, line in enumerate(chunks) if line.startswith("MSH")]
    assert len(starts) == 5
    blank = [i for i, line in enumerate(chunks) if not line.strip()]
    assert all(start - 1 in blank for start in starts[1:])  # separated by blank lines


# --- differential: python-hl7 -------------------------------------------------------------


def _for_python_hl7(data: bytes, charset: str) -> str:
    """What python-hl7 needs: text, CR-only terminators, no BOM and no MLLP frame.

    python-hl7 splits segments on CR only and leaves framing and character sets to the
    caller; caredomain's `parse` does both itself (its module rule 2).
    """
    if data.startswith(MLLP_START):
        data = data[1 : data.index(MLLP_END)]
    text = data.removeprefix(b"\xef\xbb\xbf").decode(charset)
    return text.replace("\r\n", "\r").replace("\n", "\r").strip()


@pytest.mark.parametrize("name", FILES)
def test_python_hl7_agrees(name):
    hl7 = pytest.importorskip("hl7")
    data = (CORPUS / name).read_bytes()
    ours = parse(data)
    charset = "latin-1" if ours["MSH-18"] == "8859/1" else "utf-8"
    theirs = hl7.parse(_for_python_hl7(data, charset))
    assert len(theirs) == len(ours)
    assert [str(s[0]) for s in theirs] == [s.id for s in ours]
    msh = theirs.segment("MSH")
    ours_msh = next(iter(ours))
    assert str(msh[9]) == ours_msh.raw_field(9)
    assert str(msh[10]) == ours.control_id
    assert theirs.extract_field("PID", 1, 3, 1, 1) == ours["PID-3.1"]
