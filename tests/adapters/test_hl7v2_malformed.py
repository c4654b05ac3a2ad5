"""Malformed, hostile and huge HL7 v2 input: a typed error or a documented lenient result.

Never an uncaught exception from a dependency (``UnicodeDecodeError``, ``IndexError``,
``re.error``...), never a hang, never patient data in an error.
"""

import time
import traceback

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.adapters.hl7v2 import Hl7ParseError, Message, MllpFramer, parse
from caredomain.core import CareDomainError, ParseError
from tests import phi

HEADER = "MSH|^~\\&|LAB|LMH|CAREDOMAIN|CD|20261201083000-0600||ORU^R01^ORU_R01|CTRL1|P|2.5.1\r"
PID = f"PID|1||{phi.PATIENT_MRN}^^^LMH^MR||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}||19610719|F\r"
SECONDS = 5.0  # "bounded time": generous for a loaded CI machine, far below a hang


def _typed_error(data: bytes | str) -> Hl7ParseError:
    with pytest.raises(Hl7ParseError) as info:
        parse(data)
    assert isinstance(info.value, ParseError)
    assert isinstance(info.value, CareDomainError)
    return info.value


# --- truncated MSH and wrong separators ----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ("", None),
        ("MSH", None),
        ("MSH|", None),
        ("MSH|^~", None),
        ("MSH|^~\\", None),
        ("   \r\n", None),
        ("PID|1||123\r", None),  # no MSH first
        ("\x0b\x1c\r", None),  # an empty MLLP frame
        ("MSH||LAB|LMH\r", 2),  # MSH-2 missing
        ("MSH|^~|LAB\r", 2),  # MSH-2 too short
        ("MSH|^^\\&|LAB\r", 2),  # an encoding character repeated
        ("MSH|^~\\^|LAB\r", 2),
        ("MSH|^|\\&|LAB\r", 2),  # the field separator among the encoding characters
        ("MSHA^~\\&A|LAB\r", 2),  # an alphanumeric field separator
        ("MSH1^~\\&1LAB\r", 2),
    ],
)
def test_truncated_msh_and_wrong_separators(data, field):
    error = _typed_error(data)
    assert error.segment_index == 1
    assert error.field == field


@pytest.mark.parametrize(
    "segment",
    ["pid|1", "PI|1", "P1D1|x", "1PID|x", "PID1|x", "\x00\x00\x00", "OBX^1"],
)
def test_bad_segment_ids_name_the_segment(segment):
    error = _typed_error(HEADER + "EVN|A01\r" + segment + "\r")
    assert error.segment_index == 3
    assert str(error).startswith("cannot parse at segment 3:")


def test_unknown_trigger_is_lenient():
    # Documented lenient result: the tokenizer reads any MSH-9; checking the trigger
    # against HL7 table 0003 is the mappers' job, not the parser's.
    msg = parse(HEADER.replace("ORU^R01^ORU_R01", "ZZZ^Q99") + PID)
    assert msg.type == "ZZZ^Q99"
    assert msg["PID-3.1"] == phi.PATIENT_MRN
    assert parse(HEADER.replace("ORU^R01^ORU_R01", "") + PID).type == ""  # MSH-9 empty


def test_unusual_but_distinct_field_separators_are_lenient():
    # HL7 recommends |; any non-alphanumeric character distinct from MSH-2 is accepted.
    for sep in ("#", " ", "\x00", "\t"):
        msg = parse(HEADER.replace("|", sep) + PID.replace("|", sep))
        assert msg.delimiters.field == sep
        assert msg["PID-5.2"] == phi.PATIENT_GIVEN


# --- bytes that are not HL7 ----------------------------------------------------------------

# Fixed, reproducible "random" bytes (what os.urandom would give), NULs, and a JPEG header.
GARBAGE = [
    bytes.fromhex("8f3ac1e07b52d9f4a61c03be77e5290d4f18b6c2e93a7d01f5c8640b2ea9137d"),
    b"\x00" * 4096,
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
    b"\xef\xbb\xbf",  # a BOM and nothing else
    b"\x0bMSH\x1c\r",
    "MSH|^~\\&|\udcff".encode("utf-8", "surrogatepass"),
]


@pytest.mark.parametrize("data", GARBAGE)
def test_binary_garbage(data):
    try:
        msg = parse(data)
    except Hl7ParseError:
        return
    _touch_everything(msg)  # lenient: whatever parsed must be readable


def test_invalid_utf8_under_a_utf8_msh18_is_a_typed_error():
    header = HEADER.replace("|2.5.1\r", "|2.5.1||||||UNICODE UTF-8\r")
    data = header.encode() + PID.encode() + b"OBX|1|ST|x||caf\xe9 \xff\xfe\x00\r"
    error = _typed_error(data)
    assert "UTF-8" in error.expected
    assert error.__cause__ is None
    assert error.__suppress_context__  # the decoder's error (holding the bytes) is hidden


def test_invalid_utf8_without_msh18_falls_back_to_latin1():
    # Documented lenient result: no MSH-18 and not UTF-8 -> read as ISO 8859-1.
    msg = parse(HEADER.encode() + "PID|1||1||M\xfcller^Ann\r".encode("latin-1"))
    assert msg["PID-5.1"] == "Müller"


# --- size: bounded time, and the end is reachable ------------------------------------------


def _timed(func):
    start = time.perf_counter()
    result = func()
    elapsed = time.perf_counter() - start
    assert elapsed < SECONDS, f"took {elapsed:.1f} s"
    return result


def test_ten_megabytes_in_one_obx5():
    text = HEADER + PID + "OBX|1|TX|18842-5^Discharge summary^LN||" + "a" * 10_000_000 + "|||N\r"
    msg = _timed(lambda: parse(text.encode()))
    assert _timed(lambda: len(msg["OBX-5"])) == 10_000_000
    assert msg["OBX-8"] == "N"


def test_ten_megabytes_in_100000_segments():
    pad = "x" * 60
    body = "".join(
        f"OBX|{n}|NM|29463-7^Body weight^LN||{n}.5|kg^kg^UCUM|||||F|||{pad}\r"
        for n in range(1, 100_001)
    )
    data = (HEADER + PID + body).encode()
    assert len(data) > 10_000_000
    msg = _timed(lambda: parse(data))
    assert len(msg) == 100_002
    assert _timed(lambda: msg["OBX[100000]-5"]) == "100000.5"
    last = _timed(lambda: list(msg)[-1])
    assert (last.index, last.id, last.value(6, 1, 1)) == (100_002, "OBX", "kg")
    assert _timed(lambda: sum(1 for _ in msg.segments("OBX"))) == 100_000


def test_100000_repetitions_of_pid3():
    ids = "~".join(f"ID{n}^^^LMH^MR" for n in range(1, 100_001))
    msg = _timed(lambda: parse(f"{HEADER}PID|1||{ids}||{phi.PATIENT_FAMILY}\r"))
    assert _timed(lambda: msg["PID-3[100000].1"]) == "ID100000"
    assert msg["PID-3[100001].1"] == ""
    pid = next(msg.segments("PID"))
    assert _timed(lambda: len(pid.repetitions(3))) == 100_000
    assert msg["PID-5"] == phi.PATIENT_FAMILY


def test_a_segment_with_1000_fields():
    wide = "ZXT" + "".join(f"|f{n}^c{n}" for n in range(1, 1001)) + "\r"
    msg = _timed(lambda: parse(HEADER + wide))
    segment = next(msg.segments("ZXT"))
    assert len(segment) == 1000
    assert msg["ZXT-1000.2"] == "c1000"
    assert msg["ZXT-1001"] == ""
    assert _timed(lambda: [segment.value(n, 1, 1) for n in range(1, 1001)])[-1] == "f1000"


# --- patient data never reaches an error ---------------------------------------------------

PHI_INPUTS = [
    # a bad MSH-2 in a message full of patient data
    ("MSH|^^|LAB\r" + PID).encode(),
    # a bad segment id after the PID
    (HEADER + PID + f"{phi.PATIENT_FAMILY}|{phi.PATIENT_MRN}\r").encode(),
    # a segment id made of patient data
    (HEADER + f"{phi.PATIENT_MRN}|x\r").encode(),
    # invalid UTF-8 under MSH-18 UNICODE UTF-8, next to the name
    HEADER.replace("|2.5.1\r", "|2.5.1||||||UNICODE UTF-8\r").encode() + PID.encode() + b"\xff",
    # no MSH at all
    PID.encode(),
    (f"{phi.PATIENT_FAMILY}{PID}").encode(),
]


def _assert_no_phi_in(error: BaseException) -> None:
    phi.assert_no_phi(str(error))
    phi.assert_no_phi(repr(error))
    phi.assert_no_phi(repr(error.args))
    phi.assert_no_phi("".join(traceback.format_exception(error)))
    for name in ("location", "expected", "segment_id"):
        phi.assert_no_phi(str(getattr(error, name, "")))


@pytest.mark.parametrize("data", PHI_INPUTS)
def test_parse_errors_carry_no_patient_data(data):
    with pytest.raises(Hl7ParseError) as info:
        parse(data)
    _assert_no_phi_in(info.value)


def test_access_errors_carry_no_patient_data():
    msg = parse(HEADER + PID)
    for call in (
        lambda: msg[f"PID-3.{phi.PATIENT_MRN}"],
        lambda: msg[phi.PATIENT_FAMILY],
        lambda: next(msg.segments("PID")).value(5, 1, None, 2),  # a subcomponent, no component
    ):
        with pytest.raises(Hl7ParseError) as info:
            call()
        _assert_no_phi_in(info.value)


# --- MSH-2 and byte-order-mark edge cases ------------------------------------------------


def test_msh2_ends_with_the_msh_segment():
    error = _typed_error("MSH|^~\\\rEVN|A01|20261201\rPID|1||123\r")
    assert (error.segment_index, error.field) == (1, 2)


def test_a_bom_inside_an_mllp_frame_is_dropped():
    framed = MllpFramer.frame(b"\xef\xbb\xbf" + (HEADER + PID).encode())
    assert parse(framed)["PID-3.1"] == phi.PATIENT_MRN


# --- fuzzing -------------------------------------------------------------------------------


def _touch_everything(msg: Message) -> None:
    """Read every field, repetition, component and subcomponent through the public API."""
    assert isinstance(msg.type, str)
    assert isinstance(msg.version, str)
    assert isinstance(msg.control_id, str)
    d = msg.delimiters
    for segment in msg:
        for number in range(0, len(segment) + 2):
            assert isinstance(segment.raw_field(number), str)
            reps = segment.repetitions(number)
            for rep in range(0, len(reps) + 2):
                assert isinstance(segment.value(number, rep), str)
                text = reps[rep - 1] if 0 < rep <= len(reps) else ""
                for comp in range(1, len(text.split(d.component)) + 2):
                    segment.value(number, rep, comp)
                    segment.value(number, rep, comp, 1)
                    segment.value(number, rep, comp, 2)


# The characters that matter to a tokenizer, so that examples reach past the MSH check.
_HL7ISH = st.text(
    st.sampled_from(list("|^~\\&#@!/$\r\n\x0b\x1c \x00\ufeffMSHPIDOBXZ019.-éX")), max_size=300
)


@given(st.binary(max_size=500))
def test_fuzz_arbitrary_bytes(data):
    try:
        msg = parse(data)
    except Hl7ParseError:
        return
    _touch_everything(msg)


@given(
    st.one_of(
        _HL7ISH.map(lambda body: "MSH" + body),
        _HL7ISH.map(lambda body: "MSH|^~\\&|" + body),
        st.text(max_size=300).map(lambda body: "MSH|^~\\&|" + body),
        st.tuples(st.permutations("|^~\\&#"), _HL7ISH).map(
            lambda p: "MSH" + "".join(p[0][:5]) + p[0][0] + p[1]
        ),
    ),
    st.sampled_from(["str", "utf-8", "latin-1"]),
)
def test_fuzz_msh_prefixed_text(text, form):
    data: str | bytes = text if form == "str" else text.encode(form, "replace")
    try:
        msg = parse(data)
    except Hl7ParseError:
        return
    _touch_everything(msg)
