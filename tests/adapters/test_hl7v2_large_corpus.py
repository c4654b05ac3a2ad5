"""The large v2.8 corpus (examples/hl7v2/large): parse, read, convert; python-hl7 agrees.

The corpus is the workload the performance goals were stated for (ADT, SIU, REF and ORU
messages of about 20 segments and 4.3 KB each; see its README). Every message must go the
whole way: `parse`, `read` into domain values, and `convert` into a FHIR R4 transaction Bundle
validated by fhir.resources.
"""

import re
from pathlib import Path

import pytest

from caredomain.adapters.convert import convert
from caredomain.adapters.hl7v2 import SenderProfile, parse, read

LARGE = Path(__file__).resolve().parents[2] / "examples" / "hl7v2" / "large"
FILES = sorted(p.name for p in LARGE.glob("*.hl7"))
PROFILE = SenderProfile("America/Chicago")

# | `file.hl7` | `ADT^A01` | 25 | 5,226 | what it holds |
_ROW = re.compile(
    r"^\|\s*`(?P<file>[^`]+\.hl7)`\s*\|\s*`(?P<type>[^`]+)`\s*\|\s*(?P<segs>\d+)\s*\|"
)


def _readme_table() -> dict[str, tuple[str, int]]:
    """file -> (message type, segment count), from the table in the corpus README."""
    rows = {}
    for line in (LARGE / "README.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match:
            assert match["file"] not in rows, f"{match['file']} is listed twice"
            rows[match["file"]] = (match["type"], int(match["segs"]))
    return rows


TABLE = _readme_table()


def _text(name: str) -> str:
    # bytes, not read_text: universal newlines would turn the CR terminators into LF
    return (LARGE / name).read_bytes().decode("utf-8")


def test_the_corpus_has_the_stated_shape():
    assert len(FILES) >= 12
    assert sorted(TABLE) == FILES
    sizes = [len((LARGE / name).read_bytes()) for name in FILES]
    segments = [len(parse(_text(name))) for name in FILES]
    assert all(3_500 <= size <= 5_500 for size in sizes)
    assert all(18 <= count <= 25 for count in segments)
    assert 4_000 <= sum(sizes) / len(sizes) <= 5_000
    types = {TABLE[name][0] for name in FILES}
    assert {"ADT^A01", "ADT^A03", "ADT^A04", "ADT^A08"} <= types
    assert {"SIU^S12", "SIU^S13", "SIU^S14", "REF^I12", "REF^I13", "ORU^R01"} <= types


@pytest.mark.parametrize("name", FILES)
def test_every_message_is_v28_with_cr_terminators_and_offsets(name):
    data = (LARGE / name).read_bytes()
    assert b"\n" not in data
    assert data.endswith(b"\r")
    msg = parse(data)
    assert (msg.type, msg.version) == (TABLE[name][0], "2.8")
    assert len(msg) == TABLE[name][1]
    # every timestamp with a time of day carries a UTC offset: -0500 or -0600 in Chicago
    for stamp in re.findall(rb"\|(20\d{10,12})(?=[|^&\r])", data):
        pytest.fail(f"{name}: a timestamp without an offset: {stamp!r}")
    assert set(re.findall(rb"20\d{12}([+-]\d{4})", data)) <= {b"-0500", b"-0600"}


@pytest.mark.parametrize("name", FILES)
def test_every_message_parses_reads_and_converts(name):
    data = (LARGE / name).read_bytes()
    msg = parse(data)
    assert msg.control_id
    assert msg["PID-3.1"]
    assert read(msg, profile=PROFILE) is not None
    bundle = convert(data, profile=PROFILE, validate=True)
    assert bundle["type"] == "transaction"
    kinds = [entry["resource"]["resourceType"] for entry in bundle["entry"]]
    assert "Patient" in kinds
    assert kinds[-1] == "Provenance"


@pytest.mark.parametrize("name", FILES)
def test_python_hl7_agrees_on_segments_and_control_id(name):
    hl7 = pytest.importorskip("hl7")
    text = _text(name)
    ours, theirs = parse(text), hl7.parse(text)
    assert len(ours) == len(theirs)
    assert ours.control_id == str(theirs.segment("MSH")[10])


def test_results_become_observations():
    for name in (n for n in FILES if n.startswith("oru-")):
        msg = parse(_text(name))
        bundle = convert(_text(name), profile=PROFILE, validate=True)
        observations = [
            e for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
        ]
        assert len(observations) == len(list(msg.segments("OBX")))
