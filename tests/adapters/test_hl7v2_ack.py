import datetime as dt

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.adapters.hl7v2 import Hl7ParseError, escape, parse
from caredomain.adapters.hl7v2.ack import (
    DEFAULT_VERSION,
    AckCode,
    ErrorSeverity,
    Hl7ErrorCode,
    build_ack,
    error_code_for,
)
from caredomain.core.errors import CareDomainError, NaiveDatetimeError, ValidationError
from tests import phi

NOW = pendulum.datetime(2026, 11, 25, 13, 50, 7, tz="America/Chicago")

ADT = (
    "MSH|^~\\&|EPIC|NORTH^1.2.3^ISO|CAREDOMAIN|CD|20261125083000-0600||ADT^A01^ADT_A01|"
    "MSG00001|P^T|2.5.1\r"
    "EVN|A01|20261125083000-0600\r"
    f"PID|1||{phi.PATIENT_MRN}^^^NORTH^MR||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}\r"
    "PV1|1|I\r"
)


def _ack(inbound=ADT, code=AckCode.AA, **kwargs):
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("control_id", "ACK0001")
    message = parse(inbound) if isinstance(inbound, str) else inbound
    return build_ack(message, code, **kwargs)


def test_accept_ack_answers_the_inbound_msh():
    text = _ack()
    assert text.endswith("\r")
    assert "\n" not in text
    ack = parse(text)
    assert [s.id for s in ack] == ["MSH", "MSA"]
    # HL7 v2.5.1 section 2.9.2: sender and receiver swapped.
    assert ack["MSH-3"] == "CAREDOMAIN"
    assert ack["MSH-4"] == "CD"
    assert ack["MSH-5"] == "EPIC"
    assert ack["MSH-6.1"] == "NORTH"
    assert ack["MSH-6.2"] == "1.2.3"
    assert ack["MSH-6.3"] == "ISO"
    assert ack["MSH-7"] == "20261125135007-0600"
    assert ack.type == "ACK^A01"
    assert ack["MSH-9.3"] == "ACK"
    assert ack.control_id == "ACK0001"
    assert ack["MSH-11.1"] == "P"
    assert ack["MSH-11.2"] == "T"
    assert ack.version == "2.5.1"
    assert ack["MSA-1"] == "AA"
    assert ack["MSA-2"] == "MSG00001"
    phi.assert_no_phi(text)


def test_timestamp_is_written_in_its_own_offset():
    ack = parse(_ack(now=pendulum.datetime(2026, 7, 1, 23, 59, 59, tz="Asia/Kolkata")))
    assert ack["MSH-7"] == "20260701235959+0530"
    ack = parse(_ack(now=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)))
    assert ack["MSH-7"] == "20260102030405+0000"


def test_naive_now_is_refused():
    with pytest.raises(NaiveDatetimeError):
        _ack(now=dt.datetime(2026, 1, 2, 3, 4, 5))


def test_unparseable_inbound():
    text = build_ack(
        None,
        AckCode.AR,
        error=Hl7ParseError("an MSH segment first", segment_index=1),
        now=NOW,
        control_id="X1",
        sending_facility="MAIN",
    )
    ack = parse(text)
    assert ack["MSH-3"] == "CAREDOMAIN"
    assert ack["MSH-4"] == "MAIN"
    assert ack["MSH-5"] == ""
    assert ack["MSH-6"] == ""
    assert ack["MSH-9"] == "ACK^^ACK"  # the trigger is unknown
    assert ack["MSH-11"] == "P"
    assert ack.version == DEFAULT_VERSION == "2.5.1"
    assert ack["MSA-1"] == "AR"
    assert ack["MSA-2"] == ""
    assert ack["ERR-2"] == ""  # no segment id: no ERL (ERL-1 is required)
    assert ack["ERR-3.1"] == "100"
    assert ack["ERR-3.3"] == "HL70357"
    assert ack["ERR-4"] == "E"
    assert ack["ERR-8"].startswith("cannot parse at segment 1")


def test_err_v251_shape():
    error = Hl7ParseError(
        "a date such as 19610719",
        segment_index=3,
        segment_id="PID",
        field=7,
        repetition=2,
        component=1,
    )
    ack = parse(_ack(code=AckCode.AE, error=error))
    assert [s.id for s in ack] == ["MSH", "MSA", "ERR"]
    assert ack["MSA-1"] == "AE"
    assert ack["MSA-3"] == ""  # withdrawn in favour of ERR (v2.5.1 section 2.15.8)
    err = next(ack.segments("ERR"))
    assert err.raw_field(1) == ""  # ELD: backward compatibility only
    # ERL: segment id ^ sequence ^ field ^ repetition ^ component
    assert [err.value(2, 1, c) for c in range(1, 6)] == ["PID", "1", "7", "2", "1"]
    assert err.raw_field(3) == "102^Data type error^HL70357"
    assert err.value(4) == "E"
    assert err.value(8) == str(error)
    phi.assert_no_phi(err.raw_field(8))


def test_err_v23_shape_uses_eld_and_msa_3():
    inbound = ADT.replace("|2.5.1\r", "|2.3\r")
    error = Hl7ParseError("a value", segment_index=3, segment_id="PID", field=3)
    text = _ack(inbound, AckCode.AE, error=error, error_code=Hl7ErrorCode.REQUIRED_FIELD_MISSING)
    ack = parse(text)
    assert ack.version == "2.3"
    assert ack["MSH-9"] == "ACK^A01"  # CM_MSG has two components before v2.3.1
    assert ack["MSA-3"] == str(error)[:80]
    err = next(ack.segments("ERR"))
    assert len(err) == 1  # only ERR-1 exists in v2.3
    # ELD: segment id ^ sequence ^ field position ^ code (CE, as subcomponents)
    assert [err.value(1, 1, c) for c in (1, 2, 3)] == ["PID", "1", "3"]
    assert [err.value(1, 1, 4, s) for s in (1, 2, 3)] == [
        "101",
        "Required field missing",
        "HL70357",
    ]


@pytest.mark.parametrize(("version", "structure"), [("2.4", "ACK"), ("2.3.1", "ACK")])
def test_v24_keeps_eld_and_the_message_structure(version, structure):
    inbound = ADT.replace("|2.5.1\r", f"|{version}\r")
    ack = parse(_ack(inbound, AckCode.AE, error=Hl7ParseError("x", segment_index=1)))
    assert ack["MSH-9.3"] == structure
    assert ack["ERR-1.4.1"] == "100"
    assert ack["ERR-3"] == ""


@pytest.mark.parametrize("version", ["2.5", "2.6", "2.8.2"])
def test_v25_and_later_use_erl(version):
    inbound = ADT.replace("|2.5.1\r", f"|{version}\r")
    error = Hl7ParseError("x", segment_index=1, segment_id="MSH", field=9)
    ack = parse(_ack(inbound, AckCode.AR, error=error))
    assert ack.version == version
    assert ack["ERR-2"] == "MSH^1^9"
    assert ack["ERR-2.3"] == "9"
    assert ack["ERR-3.1"] == "102"


def test_segment_sequence_counts_occurrences_of_the_segment():
    inbound = ADT + "OBX|1|NM\rOBX|2|NM\rOBX|3|NM\r"
    error = Hl7ParseError("a number", segment_index=6, segment_id="OBX", field=5)
    ack = parse(_ack(inbound, AckCode.AE, error=error))
    assert ack["ERR-2.1"] == "OBX"
    assert ack["ERR-2.2"] == "2"  # the second OBX, though the 6th segment


def test_explicit_version_and_severity():
    ack = parse(
        _ack(
            code=AckCode.AE,
            error=ValidationError.at("PID-8", "a code from table 0001"),
            error_code=Hl7ErrorCode.TABLE_VALUE_NOT_FOUND,
            severity=ErrorSeverity.WARNING,
            version="2.6",
        )
    )
    assert ack.version == "2.6"
    assert ack["ERR-3.1"] == "103"
    assert ack["ERR-3.2"] == "Table value not found"
    assert ack["ERR-4"] == "W"
    assert "PID-8" in ack["ERR-8"]


def test_error_codes_chosen_from_the_error():
    assert error_code_for(Hl7ParseError("x", segment_index=2)) is (
        Hl7ErrorCode.SEGMENT_SEQUENCE_ERROR
    )
    assert error_code_for(Hl7ParseError("x", segment_index=2, segment_id="PID", field=3)) is (
        Hl7ErrorCode.DATA_TYPE_ERROR
    )
    assert error_code_for(ValidationError.at("$", "x")) is Hl7ErrorCode.DATA_TYPE_ERROR
    assert error_code_for(CareDomainError("boom")) is Hl7ErrorCode.APPLICATION_INTERNAL_ERROR
    assert Hl7ErrorCode("207").text == "Application internal error"
    assert {c.value for c in AckCode} == {"AA", "AE", "AR"}


def test_separators_inside_the_error_message_are_escaped():
    error = CareDomainError("bad | field ^ comp & sub ~ rep \\ esc\rnew segment")
    text = _ack(code=AckCode.AE, error=error)
    segments = text.split("\r")
    assert len(segments) == 4  # MSH, MSA, ERR, and the empty tail: no extra segment
    ack = parse(text)
    assert ack["ERR-8"] == "bad | field ^ comp & sub ~ rep \\ esc\nnew segment"
    assert len(next(ack.segments("ERR"))) == 8


def test_custom_delimiters_are_reused():
    inbound = "MSH#*!/$#SND#SF#RCV#RF#20261125##ADT*A08#C1#P#2.5.1\rPID#1\r"
    text = _ack(inbound, AckCode.AE, error=CareDomainError("a # b * c"))
    assert text.startswith("MSH#*!/$#RCV#RF#SND#SF#")
    ack = parse(text)
    assert ack.type == "ACK^A08"
    assert ack["MSA-2"] == "C1"
    assert ack["ERR-8"] == "a # b * c"


def test_control_id_and_sender_are_escaped():
    ack = parse(
        build_ack(
            None,
            AckCode.AA,
            now=NOW,
            control_id="A|B^C",
            sending_application="APP&X",
        )
    )
    assert ack.control_id == "A|B^C"
    assert ack["MSH-3"] == "APP&X"


def test_phi_in_a_bad_message_never_reaches_the_ack():
    bad = ADT.replace("PID|", "pid|")
    with pytest.raises(Hl7ParseError) as info:
        parse(bad)
    text = build_ack(None, AckCode.AR, error=info.value, now=NOW, control_id="Z")
    phi.assert_no_phi(text)


# Text an HL7 HD component or ST field may hold, separators included (escaped on writing).
_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from("|^~\\&"),
    max_size=12,
).map(str.strip)


@given(
    sending=_values,
    sending_facility=_values,
    receiving=_values,
    receiving_facility=_values,
    control_id=_values,
    trigger=st.sampled_from(["A01", "A08", "S12", "R01", "I12", ""]),
    processing=st.sampled_from(["P", "T", "D", "P^T"]),
    version=st.sampled_from(["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8.2", ""]),
    code=st.sampled_from(AckCode),
)
def test_ack_parses_back_with_the_inbound_values_swapped(
    sending,
    sending_facility,
    receiving,
    receiving_facility,
    control_id,
    trigger,
    processing,
    version,
    code,
):
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            escape(sending),
            escape(sending_facility),
            escape(receiving),
            escape(receiving_facility),
            "20261125",
            "",
            f"ADT^{trigger}",
            escape(control_id),
            processing,
            version,
        ]
    )
    inbound = parse(msh + "\rPID|1\r")
    text = build_ack(inbound, code, now=NOW, control_id="ACK1")
    ack = parse(text)
    assert ack["MSH-3"] == (receiving or "CAREDOMAIN")
    assert ack["MSH-4"] == receiving_facility
    assert ack["MSH-5"] == sending
    assert ack["MSH-6"] == sending_facility
    assert ack["MSH-9.1"] == "ACK"
    assert ack["MSH-9.2"] == trigger
    assert ack["MSH-11"] == inbound["MSH-11"] == processing
    assert ack.version == (version or DEFAULT_VERSION)
    assert ack.control_id == "ACK1"
    assert ack["MSA-1"] == code.value
    assert ack["MSA-2"] == control_id
    assert [s.id for s in ack] == ["MSH", "MSA"]


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.8.2"])
@pytest.mark.parametrize("with_error", [False, True])
def test_hl7apy_validates_the_ack_strictly(version, with_error):
    # The reference: hl7apy's structure tables (required fields, datatypes, cardinality).
    hl7apy_parser = pytest.importorskip("hl7apy.parser")
    consts = pytest.importorskip("hl7apy.consts")
    strict = consts.VALIDATION_LEVEL.STRICT
    inbound = ADT.replace("|2.5.1\r", f"|{version}\r")
    error = Hl7ParseError("a date", segment_index=3, segment_id="PID", field=7, component=1)
    text = _ack(inbound, AckCode.AE, error=error if with_error else None)
    if version == "2.3":  # hl7apy finds no ACK structure without MSH-9.3: check segments
        for segment in text.split("\r")[:-1]:
            parsed = hl7apy_parser.parse_segment(segment, version=version, validation_level=strict)
            parsed.validate()
    else:
        hl7apy_parser.parse_message(text, validation_level=strict).validate()


def test_agrees_with_python_hl7():
    hl7 = pytest.importorskip("hl7")
    error = Hl7ParseError("a date", segment_index=3, segment_id="PID", field=7, component=1)
    reference = hl7.parse(_ack(code=AckCode.AE, error=error))
    assert str(reference.segment("MSA")[1]) == "AE"
    assert str(reference.segment("MSA")[2]) == "MSG00001"
    assert str(reference.segment("ERR")[2][0][0]) == "PID"
    assert str(reference.segment("ERR")[3][0][0]) == "102"
