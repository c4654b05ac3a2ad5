import subprocess
import sys

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.adapters.hl7v2 import Hl7ParseError, Segment, parse
from caredomain.adapters.hl7v2 import structure as structure_module
from caredomain.adapters.hl7v2.structure import (
    FieldSpec,
    Group,
    check,
    field_spec,
    group_tree,
    groups,
    message_structure,
    validate,
)
from caredomain.core import ParseError, Problem, ValidationError
from tests import phi

VERSIONS = ("2.3", "2.5.1", "2.8")
PID = f"PID|1||{phi.PATIENT_MRN}^^^HOSP^MR||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}||19610719|F"


def _message(version, msh9, *segments):
    header = f"MSH|^~\\&|SEND|FAC|RECV|FAC|20261201083000||{msh9}|CTRL1|P|{version}"
    return parse("\r".join([header, *segments]))


def _msh9(version, event, structure):
    # MSH-9.3 (message structure) exists from v2.3.1 on.
    return event if version == "2.3" else f"{event}^{structure}"


def _evn(version):
    # EVN-1 (event type code) is withdrawn in v2.8, where hl7apy types it DTM.
    return "EVN||20261201083000" if version == "2.8" else "EVN|A01|20261201083000"


def _oru(version):
    """Two orders with several observations each, order and result notes, a Z-segment."""
    # OBR-25 result status; v2.3 requires ORC-7 and OBR-27 (quantity/timing), v2.8 withdrew them.
    timing = "^^^20261201083000" if version == "2.3" else ""
    status = "|" * 18 + f"F||{timing}"
    return _message(
        version,
        _msh9(version, "ORU^R01", "ORU_R01"),
        PID,
        "PV1|1|O",
        f"ORC|RE|PL1|FI1||||{timing}",
        f"OBR|1|PL1|FI1|24331-1^Lipid panel^LN|||20261201080000{status}",
        "NTE|1||fasting sample",
        "OBX|1|NM|2093-3^Cholesterol^LN|1|182|mg/dL|||||F",
        "NTE|1||within range",
        "OBX|2|NM|2571-8^Triglyceride^LN|1|140|mg/dL|||||F",
        "ZLB|site-specific|data",
        "OBX|3|NM|2085-9^HDL^LN|1|45|mg/dL|||||F",
        f"OBR|2|PL2|FI2|4548-4^HbA1c^LN|||20261201080000{status}",
        "OBX|1|NM|4548-4^HbA1c^LN|1|6.1|%|||||F",
        "NTE|1||first note",
        "NTE|2||second note",
        "OBX|2|NM|17856-6^HbA1c IFCC^LN|1|43|mmol/mol|||||F",
    )


def _valid_messages(version):
    return {
        "ADT^A04": _message(
            version, _msh9(version, "ADT^A04", "ADT_A01"), _evn(version), PID, "PV1|1|O"
        ),
        "ADT^A03": _message(
            version, _msh9(version, "ADT^A03", "ADT_A03"), _evn(version), PID, "PV1|1|O"
        ),
        "ADT^A11": _message(
            version, _msh9(version, "ADT^A11", "ADT_A09"), _evn(version), PID, "PV1|1|O"
        ),
        "REF^I12": _message(
            version,
            _msh9(version, "REF^I12", "REF_I12"),
            "RF1|P^Pending|R^Routine|SP^Specialist||O^Outpatient|REF1",
            "PRD|RP^Referring|Smith^Ann",
            PID,
        ),
        "RRI^I12": _message(
            version,
            _msh9(version, "RRI^I12", "RRI_I12"),
            "MSA|AA|CTRL0",
            "RF1|A^Accepted|R^Routine|SP^Specialist||O^Outpatient|REF1",
            "PRD|RT^Referred to|Jones^Bob",
            PID,
        ),
        "ACK": _message(version, "ACK^A01" if version == "2.3" else "ACK^A01^ACK", "MSA|AA|CTRL0"),
        "ORU^R01": _oru(version),
    }


def _segment_ids(items):
    out = []
    for item in items:
        out.extend(_segment_ids(item) if isinstance(item, Group) else [item.id])
    return out


# --- message_structure ------------------------------------------------------------------------

EXPECTED_STRUCTURES = {
    **{("ADT", event): "ADT_A01" for event in ("A01", "A04", "A08", "A13")},
    ("ADT", "A03"): "ADT_A03",
    ("ADT", "A11"): "ADT_A09",
    **{("SIU", event): "SIU_S12" for event in ("S12", "S13", "S14", "S15", "S17", "S26")},
    **{("REF", event): "REF_I12" for event in ("I12", "I13", "I14", "I15")},
    **{("RRI", event): "RRI_I12" for event in ("I12", "I13", "I14", "I15")},
    ("ORU", "R01"): "ORU_R01",
    ("ACK", "A01"): "ACK",
    ("ACK", "S12"): "ACK",
    ("ACK", ""): "ACK",
}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("event", "expected"), EXPECTED_STRUCTURES.items())
def test_message_structure_of_the_mapped_triggers(version, event, expected):
    assert message_structure(*event, version) == expected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.3.1", "ADT_A01"),
        ("2.4", "ADT_A05"),
        ("2.5", "ADT_A05"),
        ("2.6", "ADT_A05"),
        ("2.7", "ADT_A05"),
        ("2.7.1", "ADT_A05"),  # hl7apy has no 2.7.1 tables: its 2.7 ones are used
        ("2.8.2", "ADT_A05"),
        (" 2.5.1 ", "ADT_A05"),
    ],
)
def test_message_structure_follows_the_version(version, expected):
    # HL7 v2.3.1 Table 0354 lists A28 under ADT_A01; ADT_A05 exists from v2.4 on.
    assert message_structure("ADT", "A28", version) == expected


@pytest.mark.parametrize("version", ["2.2", "2.9", "3.0", "", "two"])
def test_message_structure_of_an_unsupported_version_is_none(version):
    assert message_structure("ADT", "A01", version) is None


def test_message_structure_of_unknown_events_is_none_and_input_is_normalized():
    assert message_structure("ZZZ", "Z01", "2.5.1") is None
    assert message_structure("ADT", "", "2.5.1") is None
    assert message_structure("ADT", "A1", "2.5.1") is None
    assert message_structure("siu", " s14", "2.5.1") == "SIU_S12"


def test_message_structure_is_cached():
    message_structure.cache_clear()
    message_structure("SIU", "S14", "2.5.1")
    message_structure("SIU", "S14", "2.5.1")
    assert message_structure.cache_info().hits == 1


def test_the_typed_event_table_agrees_with_hl7apy_where_hl7apy_has_the_event():
    # hl7apy lists some events as their own structure (SIU_S14 ...): the typed Table 0354
    # entries must name the structure of the same shape.
    compared = 0
    for version in ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8", "2.8.1", "2.8.2"):
        messages = structure_module._library(version).MESSAGES
        listed = structure_module._listed_structures(version)
        for event, candidates in structure_module._EVENT_STRUCTURES.items():
            if listed is None or event not in messages or event in listed:
                continue
            shaped = structure_module._shapes(version).get(
                structure_module._shape(messages[event], f"{event}_")
            )
            assert shaped == next(c for c in candidates if c in messages), (version, event)
            compared += 1
    assert compared > 50


# --- field_spec -----------------------------------------------------------------------------


def test_field_spec_from_hl7apy_tables():
    pid3 = field_spec("PID", 3, "2.5.1")
    assert pid3 == FieldSpec(
        segment="PID",
        number=3,
        name="PATIENT_IDENTIFIER_LIST",
        datatype="CX",
        min_repetitions=1,
        max_repetitions=None,
        table=None,
        version="2.5.1",
    )
    assert pid3.required
    sex = field_spec("PID", 8, "2.3")
    assert (sex.datatype, sex.table, sex.required, sex.max_repetitions) == (
        "IS",
        "HL70001",
        False,
        1,
    )
    assert field_spec("MSH", 12, "2.8").datatype == "VID"
    assert field_spec("MSH", 12, "2.3").datatype == "ID"
    assert field_spec("OBX", 5, "2.5.1").datatype == "varies"
    assert field_spec("msh", 1, "2.5.1").name == "FIELD_SEPARATOR"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        pid3.number = 4


@pytest.mark.parametrize(
    ("segment", "number", "version"),
    [("ZPI", 1, "2.5.1"), ("PID", 99, "2.5.1"), ("PID", 0, "2.5.1"), ("PID", 3, "2.9")],
)
def test_field_spec_is_none_outside_the_tables(segment, number, version):
    assert field_spec(segment, number, version) is None


# --- groups ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_oru_orders_observations_and_notes(version):
    msg = _oru(version)
    orders = list(groups(msg, "PATIENT_RESULT/ORDER_OBSERVATION"))
    assert [o.segment("OBR").value(4, 1, 2) for o in orders] == ["Lipid panel", "HbA1c"]
    assert [n.value(3) for n in orders[0].segments("NTE")] == ["fasting sample"]
    assert list(orders[1].segments("NTE")) == []

    first = list(orders[0].groups("OBSERVATION"))
    assert [o.segment("OBX").value(3, 1, 2) for o in first] == [
        "Cholesterol",
        "Triglyceride",
        "HDL",
    ]
    assert [[n.value(3) for n in o.segments("NTE")] for o in first] == [["within range"], [], []]
    # A Z-segment stays with the group open where it occurs: the second observation.
    assert [s.id for s in first[1]] == ["OBX", "ZLB"]

    second = list(orders[1].groups("OBSERVATION"))
    assert [[s.id for s in o.segments()] for o in second] == [["OBX", "NTE", "NTE"], ["OBX"]]
    assert [n.value(3) for n in second[0].segments("NTE")] == ["first note", "second note"]

    assert [s.value(1) for s in orders[1].segments("OBX", nested=True)] == ["1", "2"]
    assert orders[0].segment("ZZZ") is None


@pytest.mark.parametrize("version", VERSIONS)
def test_group_paths_are_shared_across_versions(version):
    msg = _oru(version)
    tree = group_tree(msg)
    assert tree.name == "ORU_R01"
    assert _segment_ids(tree) == [s.id for s in msg]  # every segment once, in order
    orders = list(groups(msg, "PATIENT_RESULT/ORDER_OBSERVATION"))
    assert len(orders) == 2
    # A name no child has is looked for further down; the structure prefix is optional.
    assert list(groups(msg, "ORDER_OBSERVATION")) == orders
    assert list(groups(msg, "ORU_R01_PATIENT_RESULT/ORU_R01_ORDER_OBSERVATION")) == orders
    assert len(list(groups(msg, "ORDER_OBSERVATION/OBSERVATION"))) == 5
    assert len(list(groups(msg, "/PATIENT_RESULT/PATIENT/VISIT/"))) == 1
    assert list(groups(msg, "")) == []
    top = "RESPONSE" if version == "2.3" else "PATIENT_RESULT"  # hl7apy's own v2.3 name
    assert list(groups(msg, f"{top}/ORDER_OBSERVATION")) == orders
    assert orders[1].path == f"ORU_R01/{top}[1]/ORDER_OBSERVATION[2]"
    assert orders[0].name == "ORDER_OBSERVATION"


def test_version_differences_in_oru_groups():
    # v2.8 puts ORC in the COMMON_ORDER group of ORDER_OBSERVATION; earlier versions do not.
    order_251 = next(groups(_oru("2.5.1"), "ORDER_OBSERVATION"))
    order_28 = next(groups(_oru("2.8"), "ORDER_OBSERVATION"))
    assert order_251.segment("ORC").value(1) == "RE"
    assert order_28.segment("ORC") is None
    assert order_28.segment("ORC", nested=True).value(1) == "RE"
    assert [g.name for g in order_28.groups("COMMON_ORDER")] == ["COMMON_ORDER"]
    # A group of another version yields nothing; a name of no version is an error.
    assert list(groups(_oru("2.5.1"), "ORDER_OBSERVATION/COMMON_ORDER")) == []
    assert list(groups(_oru("2.3"), "PATIENT_RESULT/ORDER_OBSERVATION/SPECIMEN")) == []
    with pytest.raises(ValidationError) as info:
        list(groups(_oru("2.5.1"), "PATIENT_RESULT/ORDER_OBSERVATIONS"))
    assert info.value.location == "path"
    assert "ORDER_OBSERVATION" in str(info.value)


@pytest.mark.parametrize("version", VERSIONS)
def test_referral_groups_by_their_v24_names(version):
    msg = _message(
        version,
        _msh9(version, "REF^I12", "REF_I12"),
        "RF1|P^Pending|R^Routine|SP^Specialist||O^Outpatient|REF1",
        "PRD|RP^Referring|Smith^Ann",
        "CTD|CP^Contact|Smith^Ann",
        "PRD|RT^Referred to|Jones^Bob",
        PID,
        "OBR|1|PL1||1234^Consult",
        "OBX|1|ST|1^Reason||Knee pain||||||F",
        "NTE|1||note",
    )
    providers = list(groups(msg, "PROVIDER_CONTACT"))  # v2.3: PROVIDER
    assert [p.segment("PRD").value(1, 1, 1) for p in providers] == ["RP", "RT"]
    assert [s.id for s in providers[0]] == ["PRD", "CTD"]
    results = list(groups(msg, "OBSERVATION/RESULTS_NOTES"))  # v2.3: RESULTS/OBSERVATION
    assert [[s.id for s in r] for r in results] == [["OBX", "NTE"]]


def test_schedule_groups():
    msg = _message(
        "2.5.1",
        "SIU^S14^SIU_S12",
        "SCH|A1|F1|||||R^Reason|||||||||C^Contact||||E^Entered",
        PID,
        "RGS|1",
        "AIS|1||CONSULT^Consult",
        "AIL|1||CLINIC^^^H",
        "RGS|2",
        "AIP|1||1234^Doc^Pat",
        "AIP|2||5678^Nurse^Pat",
    )
    resources = list(groups(msg, "RESOURCES"))
    assert [r.segment("RGS").value(1) for r in resources] == ["1", "2"]
    assert [len(list(r.groups("PERSONNEL_RESOURCE"))) for r in resources] == [0, 2]
    assert [g.segment("AIL").value(1) for g in groups(msg, "RESOURCES/LOCATION_RESOURCE")] == ["1"]
    assert next(groups(msg, "PATIENT")).segment("PID").value(3, 1, 1) == phi.PATIENT_MRN


def test_grouping_is_lenient():
    # MSH-9.3 names no structure of 2.5.1: the one of ADT^A04 (ADT_A01) is used.
    wrong = _message("2.5.1", "ADT^A04^ADT_A04", _evn("2.5.1"), PID, "PV1|1|O", "IN1|1|PLAN")
    assert group_tree(wrong).name == "ADT_A01"
    assert [g.segment("IN1").value(2) for g in groups(wrong, "INSURANCE")] == ["PLAN"]
    # No structure at all: the root holds every segment, and no path finds a group.
    unknown = _message("2.5.1", "ZZZ^Z99", PID, "ZZ1|1")
    assert group_tree(unknown).name == ""
    assert [s.id for s in group_tree(unknown)] == ["MSH", "PID", "ZZ1"]
    assert list(groups(unknown, "ANYTHING")) == []
    # An unsupported or missing version groups by the nearest tables.
    assert group_tree(_message("2.9", "ADT^A01^ADT_A01", PID)).name == "ADT_A01"
    assert group_tree(_message("", "ADT^A01^ADT_A01", PID)).name == "ADT_A01"


def test_the_tree_is_built_once_per_message():
    msg = _oru("2.5.1")
    assert group_tree(msg) is group_tree(msg)
    assert repr(group_tree(msg)) == "<Group ORU_R01: 2 items>"


SEGMENT_POOL = ["MSH", "PID", "PV1", "ORC", "OBR", "OBX", "NTE", "SPM", "EVN", "ZXX", "QQQ"]


@given(
    st.sampled_from(["ORU^R01^ORU_R01", "ADT^A04", "SIU^S12", "REF^I12", "ZZZ^Z01"]),
    st.sampled_from(["2.3", "2.5.1", "2.8"]),
    st.lists(st.sampled_from(SEGMENT_POOL), max_size=25),
)
def test_every_segment_lands_in_one_group_in_order(msh9, version, ids):
    msg = _message(version, msh9, *(f"{i}|1" for i in ids))
    tree = structure_module._walk(msg, structure_module._structure_of(msg), [])
    assert _segment_ids(tree) == [s.id for s in msg]
    assert all(isinstance(p, Problem) for p in validate(msg, strict=False))


# --- lenient validation ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("strict", [False, True])
def test_valid_messages_have_no_problems(version, strict):
    for name, msg in _valid_messages(version).items():
        assert validate(msg, strict=strict) == [], name
        check(msg, strict=strict)


def test_missing_and_misplaced_segments():
    missing_evn = _message("2.5.1", "ADT^A01^ADT_A01", PID, "PV1|1|O")
    assert validate(missing_evn, strict=False) == [
        Problem("ADT_A01/EVN", "the required segment EVN (HL7 2.5.1 ADT_A01)")
    ]
    out_of_order = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), "PV1|1|O", PID)
    assert [p.path for p in validate(out_of_order, strict=False)] == [
        "ADT_A01/PID",
        "segment 4 (PID)",
    ]
    assert "out of order" in validate(out_of_order, strict=False)[1].message
    twice = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), PID, PID, "PV1|1|O")
    assert validate(twice, strict=False) == [
        Problem("segment 4 (PID)", "no further PID at this position (HL7 2.5.1 ADT_A01 allows one)")
    ]
    foreign = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), PID, "PV1|1|O", "QQQ|1", "ZZ1|1")
    assert validate(foreign, strict=False) == [
        Problem("segment 5 (QQQ)", "a segment id defined by HL7 2.5.1, or a Z-segment")
    ]
    not_part = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), PID, "PV1|1|O", "SCH|1")
    assert "SCH is not part of it" in validate(not_part, strict=False)[0].message


def test_results_before_their_order():
    msg = _message("2.5.1", "ORU^R01^ORU_R01", PID, "OBX|1|NM|1^G^L||1||||||F", "OBR|1||F|1^P^L")
    assert validate(msg, strict=False) == [
        Problem(
            "ORU_R01/PATIENT_RESULT[1]/ORDER_OBSERVATION[1]/OBR",
            "the required segment OBR (HL7 2.5.1 ORU_R01)",
        )
    ]
    assert validate(_message("2.5.1", "ORU^R01^ORU_R01"), strict=False) == [
        Problem("ORU_R01/PATIENT_RESULT", "the required group PATIENT_RESULT (HL7 2.5.1 ORU_R01)")
    ]


def test_header_problems():
    msg = parse("MSH|^~\\&|A|B|C|D|20261201083000||||P|2.9")
    assert [p.path for p in validate(msg, strict=False)] == ["MSH-9.1", "MSH-10", "MSH-12"]
    assert [p.path for p in validate(parse("MSH|^~\\&|A|B|C|D|||ADT|1|P|"))] == [
        "MSH-9.2",
        "MSH-12",
    ]
    assert validate(_message("2.5.1", "ZZZ^Z01", PID), strict=False) == [
        Problem("MSH-9", "a type and trigger event with a structure in HL7 2.5.1")
    ]
    assert validate(
        _message("2.5.1", "ADT^A04^ADT_A04", _evn("2.5.1"), PID, "PV1|1"), strict=False
    ) == [
        Problem("MSH-9.3", "a message structure of HL7 2.5.1 (ADT_A01 for this type and trigger)")
    ]
    # MSH-9.3 names a real structure, but not the one Table 0354 gives the event.
    assert validate(
        _message("2.5.1", "ADT^A01^ADT_A03", _evn("2.5.1"), PID, "PV1|1"), strict=False
    ) == [Problem("MSH-9.3", "ADT_A01 for this type and trigger (HL7 Table 0354)")]
    # A structure hl7apy repeats per event (SIU_S14) is the same as SIU_S12.
    siu = _message("2.5.1", "SIU^S14^SIU_S14", "SCH|1", PID, "RGS|1")
    assert validate(siu, strict=False) == []


def test_fields_beyond_the_definition():
    msg = _message(
        "2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), PID + "|" * 40 + "|extra|||", "PV1|1|O"
    )
    assert validate(msg, strict=False) == [
        Problem("PID-49", "at most 39 fields in PID (HL7 2.5.1)")
    ]
    # Trailing empty fields are not counted.
    assert (
        validate(
            _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), PID + "|" * 60, "PV1|1"),
            strict=False,
        )
        == []
    )


# --- strict validation ------------------------------------------------------------------------


def test_strict_finds_missing_required_fields():
    msg = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), "PID|1", "PV1|1|O")
    assert validate(msg, strict=False) == []
    assert validate(msg) == [
        Problem("PID-3", "a value: HL7 2.5.1 requires PID-3 (PATIENT_IDENTIFIER_LIST)"),
        Problem("PID-5", "a value: HL7 2.5.1 requires PID-5 (PATIENT_NAME)"),
    ]
    second_obx = _message(
        "2.5.1",
        "ORU^R01^ORU_R01",
        PID,
        "OBR|1||F|1^P^L",
        "OBX|1|NM|1^G^L||1||||||F",
        "OBX|2|NM|1^G^L||1",
    )
    assert validate(second_obx) == [
        Problem("OBX[2]-11", "a value: HL7 2.5.1 requires OBX-11 (OBSERVATION_RESULT_STATUS)")
    ]


def test_strict_finds_bad_values_and_bad_order():
    bad_birth_date = PID.replace("19610719", "1961-07-19")
    msg = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), bad_birth_date, "PV1|1|O")
    assert validate(msg) == [Problem("PID-7", "a valid TS value (HL7 2.5.1 PID-7, datatype TS)")]
    bad_set_id = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), "PID|x" + PID[5:], "PV1|1|O")
    assert [p.path for p in validate(bad_set_id)] == ["PID-1"]
    out_of_order = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), "PV1|1|O", PID)
    assert [p.path for p in validate(out_of_order)] == ["ADT_A01/PID", "segment 4 (PID)"]


def test_check_raises_the_first_problem():
    msg = _message("2.5.1", "ADT^A01^ADT_A01", _evn("2.5.1"), "PID|1", "PV1|1|O")
    check(msg, strict=False)
    with pytest.raises(Hl7ParseError) as info:
        check(msg)
    error = info.value
    assert isinstance(error, ParseError)
    assert (error.segment_index, error.segment_id, error.field) == (3, "PID", 3)
    assert str(error) == (
        "cannot parse at segment 3 (PID), field 3: expected a value: "
        "HL7 2.5.1 requires PID-3 (PATIENT_IDENTIFIER_LIST)"
    )
    with pytest.raises(Hl7ParseError) as info:
        check(_message("2.5.1", "ADT^A01^ADT_A01", PID, "PV1|1|O"), strict=False)
    assert info.value.segment_index is None
    assert str(info.value).endswith("(HL7 2.5.1 ADT_A01) at ADT_A01/EVN")


# --- never patient data ---------------------------------------------------------------------


def test_problems_and_errors_never_contain_patient_data():
    name = f"{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}"
    messages = [
        # a name where a date goes, an MRN where a number goes, too many components
        _message(
            "2.5.1",
            "ADT^A01^ADT_A01",
            _evn("2.5.1"),
            f"PID|{phi.PATIENT_MRN}||{phi.PATIENT_MRN}||{name}||{phi.PATIENT_FAMILY}|"
            f"{phi.PATIENT_GIVEN}|||||{phi.PATIENT_PHONE}",
            "PV1|1|O",
        ),
        _message(
            "2.8",
            "ORU^R01^ORU_R01",
            f"PID|1||{phi.PATIENT_MRN}||{name}^a^b^c^d^e^f^g^h^i^j^k^l^m^n^o^p||{phi.PATIENT_BIRTH_DATE}",
            f"OBX|{phi.PATIENT_MRN}|NM|1^G^L||{phi.PATIENT_FAMILY}|||||F",
            f"OBR|1||{phi.PATIENT_MRN}",
        ),
        _message(
            "2.3",
            "ADT^A04",
            f"EVN|A04|{phi.PATIENT_BIRTH_DATE}",
            PID + "|" * 40 + f"|{phi.PATIENT_GIVEN}",
            f"QQQ|{phi.PATIENT_MRN}",
            f"PV1|{phi.PATIENT_MRN}|{phi.PATIENT_FAMILY}",
        ),
    ]
    for msg in messages:
        problems = validate(msg) + validate(msg, strict=False)
        assert problems
        for problem in problems:
            phi.assert_no_phi(str(problem))
        with pytest.raises(Hl7ParseError) as info:
            check(msg)
        phi.assert_no_phi(str(info.value))
    with pytest.raises(ValidationError) as info:
        list(groups(messages[0], phi.PATIENT_FAMILY))
    phi.assert_no_phi(str(info.value))


def test_hl7apy_exception_texts_are_not_copied():
    # hl7apy's own message for this value quotes it ("... is not an HL7 valid date value").
    msg = _message(
        "2.5.1",
        "ADT^A01^ADT_A01",
        _evn("2.5.1"),
        PID.replace("19610719", phi.PATIENT_GIVEN),
        "PV1|1|O",
    )
    [problem] = validate(msg)
    assert problem.path == "PID-7"
    phi.assert_no_phi(problem.message)
    assert problem.message == "a valid TS value (HL7 2.5.1 PID-7, datatype TS)"


# --- lazy import ----------------------------------------------------------------------------


def _loaded_after(code):
    probe = f"import sys\n{code}\nprint('hl7apy' in sys.modules)"
    return subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_importing_the_module_does_not_import_hl7apy():
    assert _loaded_after("import caredomain.adapters.hl7v2.structure") == "False"
    assert (
        _loaded_after(
            "from caredomain.adapters.hl7v2.structure import message_structure\n"
            "message_structure('ADT', 'A04', '2.5.1')"
        )
        == "True"
    )


def test_segment_objects_are_the_messages_own():
    msg = _oru("2.5.1")
    order = next(groups(msg, "ORDER_OBSERVATION"))
    assert isinstance(order.segment("OBR"), Segment)
    assert order.segment("OBR") is next(msg.segments("OBR"))


def test_hl7apy_exceptions_are_translated_by_class_without_their_text():
    exceptions = pytest.importorskip("hl7apy.exceptions")
    oru = structure_module._compiled("ORU_R01", "2.5.1")
    missing = exceptions.ValidationError("Missing required child ORU_R01_ORDER_OBSERVATION.OBR")
    finding = structure_module._structure_finding(missing, oru)
    assert (finding.path, finding.message) == (
        "ORU_R01",
        "the required OBR in ORDER_OBSERVATION (HL7 2.5.1 ORU_R01)",
    )
    too_long = exceptions.MaxLengthReached(phi.PATIENT_MRN, 5)
    expected = structure_module._value_expected(too_long, field_spec("PID", 3, "2.5.1"))
    assert expected == "at most 5 characters (HL7 2.5.1 PID-3, datatype CX)"
    for exc in (ValueError(phi.PATIENT_FAMILY), KeyError(phi.PATIENT_MRN), missing):
        msg = _oru("2.5.1")
        segment = next(msg.segments("PID"))
        for found in (
            structure_module._segment_finding(segment, exc, "2.5.1"),
            structure_module._validation_finding(exc, segment, 1, "2.5.1"),
            structure_module._structure_finding(exc, oru),
        ):
            phi.assert_no_phi(found.message)
            assert str(exc) not in found.message
