import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.adapters.hl7v2 import Hl7ParseError, MllpFramer, parse
from caredomain.core import CareDomainError, ParseError
from tests import phi

SIU = (
    "MSH|^~\\&|EPIC|NORTH|CAREDOMAIN|CD|20261201083000-0600||SIU^S12^SIU_S12|MSG00001|P|2.5.1\r"
    "SCH|APT1|FILL1|||||Follow-up^Follow up|OFFICE|30|min|^^30^20261203090000-0600\r"
    f"PID|1||{phi.PATIENT_MRN}^^^NORTH^MR~555-44-3333^^^SSA^SS||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}^Q||19610719|F\r"
    "NTE|1||Bring list \\T\\ meds\\.br\\second line \\F\\ \\S\\ \\R\\ \\E\\ \\X41\\\\H\\bold\\N\\\r"
    "ZXT|custom|data\r"
    "OBX|1|NM|29463-7^Body weight^LN||82.5|kg\r"
    "OBX|2|NM|8480-6^Systolic^LN||128|mm[Hg]\r"
)


def test_paths_and_repetitions():
    msg = parse(SIU)
    assert msg.type == "SIU^S12"
    assert msg.version == "2.5.1"
    assert msg.control_id == "MSG00001"
    assert msg["PID-3.1"] == phi.PATIENT_MRN
    assert msg["PID-3[2].1"] == "555-44-3333"
    assert msg["PID-3[2].5"] == "SS"
    assert msg["PID-5.2"] == phi.PATIENT_GIVEN
    assert msg["PID-99"] == ""
    assert msg["OBX[2]-3.1"] == "8480-6"
    assert [s.value(5) for s in msg.segments("OBX")] == ["82.5", "128"]
    assert msg["MSH-1"] == "|"
    assert msg["MSH-2"] == "^~\\&"
    assert msg["ZXT-2"] == "data"  # Z-segments are kept


def test_escape_sequences():
    msg = parse(SIU)
    assert msg["NTE-3"] == "Bring list & meds\nsecond line | ^ ~ \\ Abold"


@pytest.mark.parametrize("terminator", ["\r", "\n", "\r\n"])
def test_terminators_mllp_and_bom(terminator):
    text = SIU.replace("\r", terminator)
    for data in (
        text,
        text.encode(),
        b"\xef\xbb\xbf" + text.encode(),
        MllpFramer.frame(text.encode()) + b"  ",
    ):
        msg = parse(data)
        assert len(msg) == 7
        assert msg["OBX[2]-5"] == "128"


def test_custom_encoding_characters():
    msg = parse("MSH#*!/$#A#B\rPID#1##123*4*5!678\r")
    assert msg["PID-3.2"] == "4"
    assert msg["PID-3[2].1"] == "678"


def test_latin1_declared_in_msh_18():
    text = "MSH|^~\\&|A|B|C|D|20261201||ADT^A08|1|P|2.5|||||8859/1\rPID|1||1||M\xfcller^Ann\r"
    assert parse(text.encode("latin-1"))["PID-5.1"] == "Müller"


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ("", "segment 1"),
        ("PID|1||123", "segment 1"),
        ("MSH|^~|bad", "segment 1 (MSH), field 2"),
        ("MSH|^~\\&|A\rpid|1", "segment 2"),
    ],
)
def test_malformed_messages_are_typed_errors(data, where):
    with pytest.raises(Hl7ParseError) as info:
        parse(data)
    assert isinstance(info.value, ParseError)
    assert info.value.location.startswith(where)


def test_errors_never_echo_patient_data():
    broken = SIU.replace("PID|", "pid|")
    with pytest.raises(Hl7ParseError) as info:
        parse(broken)
    phi.assert_no_phi(str(info.value))
    phi.assert_no_phi(repr(info.value))
    with pytest.raises(Hl7ParseError):
        parse(SIU)[phi.PATIENT_FAMILY]


def test_mllp_framer_reassembles_a_stream():
    framer = MllpFramer()
    stream = b"noise" + MllpFramer.frame(b"one") + MllpFramer.frame(b"two")
    got = []
    for i in range(0, len(stream), 3):
        got.extend(framer.feed(stream[i : i + 3]))
    assert got == [b"one", b"two"]
    with pytest.raises(ValueError, match="limit"):
        MllpFramer(max_frame=10).feed(b"\x0b" + b"x" * 20)


@settings(max_examples=300)
@given(st.binary(max_size=400) | st.text(max_size=400))
def test_arbitrary_input_is_a_message_or_a_typed_error(data):
    try:
        msg = parse(data)
    except CareDomainError:
        return
    for segment in msg:
        for number in range(1, len(segment) + 1):
            segment.value(number)


@given(st.text(alphabet="ABC|^~\\&\r\n123", max_size=200))
def test_structured_noise_after_a_valid_msh(tail):
    try:
        msg = parse("MSH|^~\\&|A|B\r" + tail)
    except CareDomainError:
        return
    for segment in msg:
        for number in range(1, len(segment) + 1):
            segment.value(number, 1, 1, 1)


def test_agrees_with_python_hl7_when_it_is_installed():
    hl7 = pytest.importorskip("hl7")
    reference = hl7.parse(SIU)
    msg = parse(SIU)
    assert str(reference.segment("PID")[3][0][0]) == msg["PID-3.1"]
    assert str(reference.segment("PID")[5][0][1]) == msg["PID-5.2"]


def test_msh_18_is_read_behind_a_utf8_byte_order_mark():
    text = "MSH|^~\\&|A|B|C|D|20261201||ADT^A08|1|P|2.5|||||8859/1\rPID|1||1||M\xfcller^Ann\r"
    data = b"\xef\xbb\xbf" + text.encode("latin-1")  # Latin-1 body, as MSH-18 declares
    assert parse(data)["PID-5.1"] == "Müller"


@pytest.mark.parametrize(
    ("charset", "codec", "name"),
    [
        ("8859/1", "iso8859-1", "Müller"),
        ("8859/2", "iso8859-2", "Dvořák"),
        ("8859/15", "iso8859-15", "€ Œuvre"),
        ("8859/5", "iso8859-5", "Иванов"),
        ("GB 18030-2000", "gb18030", "王小明"),
        ("UNICODE UTF-8", "utf-8", "Nguyễn"),
    ],
)
def test_msh18_character_sets_of_table_0211(charset, codec, name):
    text = f"MSH|^~\\&|A|B|C|D|20261125||ADT^A08|1|P|2.5.1||||||{charset}\rPID|1||1||{name}\r"
    assert parse(text.encode(codec))["PID-5.1"] == name


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_are_recognized_by_their_bytes(codec):
    text = "MSH|^~\\&|A|B|C|D|20261125||ADT^A08|1|P|2.5.1||||||UNICODE UTF-16\rPID|1||1||Zoë\r"
    data = text.encode(codec)
    assert parse(data)["PID-5.1"] == "Zoë"
    assert parse(MllpFramer.frame(data))["PID-5.1"] == "Zoë"


def test_an_unknown_character_set_is_an_error_at_msh_18_not_a_guess():
    text = "MSH|^~\\&|A|B|C|D|20261125||ADT^A08|1|P|2.5.1||||||EBCDIC\rPID|1||1||X\r"
    with pytest.raises(Hl7ParseError) as caught:
        parse(text.encode())
    assert (caught.value.segment_id, caught.value.field) == ("MSH", 18)


def test_msh18_repeats_and_its_first_repetition_is_the_default_set():
    # HL7 v2.5.1 2.15.9.18: MSH-18 repeats (the default set first), with no components.
    text = "MSH|^~\\&|A|B|C|D|20261125||ADT^A08|1|P|2.5.1||||||8859/2~ISO IR87\rPID|1||1||Dvořák\r"
    assert parse(text.encode("iso8859-2"))["PID-5.1"] == "Dvořák"
