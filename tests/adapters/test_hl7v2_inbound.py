from pathlib import Path

import pytest
from hypothesis import given, settings

from caredomain.adapters.hl7v2 import Hl7ParseError, parse
from caredomain.adapters.hl7v2.adt import AdtMessage
from caredomain.adapters.hl7v2.inbound import READERS, read, read_bytes
from caredomain.adapters.hl7v2.oru import ResultMessage
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.adapters.hl7v2.ref import ReferralMessage
from caredomain.adapters.hl7v2.siu import SchedulingMessage
from caredomain.testing import strategies as cst
from tests import phi

EXAMPLES = Path(__file__).parents[2] / "examples" / "hl7v2"
CHICAGO = SenderProfile(timezone="America/Chicago")
KINDS = {
    "adt": AdtMessage,
    "siu": SchedulingMessage,
    "ref": ReferralMessage,
    "rri": ReferralMessage,
    "oru": ResultMessage,
}
SAMPLES = sorted(p for p in EXAMPLES.glob("*.hl7") if p.name != "batch.hl7")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_every_sample_message_reads_into_its_family(path):
    value = read_bytes(path.read_bytes(), profile=CHICAGO)
    assert isinstance(value, KINDS[path.name[:3]])
    assert value.control_id == parse(path.read_bytes()).control_id


def test_the_readers_cover_the_mapped_families():
    assert sorted(READERS) == ["ADT", "ORU", "REF", "RRI", "SIU"]


def test_an_unmapped_type_is_an_error_at_msh_9_without_content():
    text = (
        "MSH|^~\\&|LAB|NORTH|CD|CD|20261201083000-0600||MDM^T02^MDM_T02|C1|P|2.5.1\r"
        f"PID|1||{phi.PATIENT_MRN}^^^NORTH^MR||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}\r"
    )
    with pytest.raises(Hl7ParseError) as caught:
        read(parse(text), profile=CHICAGO)
    assert (caught.value.segment_id, caught.value.field) == ("MSH", 9)
    phi.assert_no_phi(str(caught.value))


def test_message_groups_walk_oru_orders_and_observations():
    message = parse((EXAMPLES / "oru-r01-lab-panel.hl7").read_bytes())
    orders = list(message.groups("PATIENT_RESULT/ORDER_OBSERVATION"))
    assert len(orders) == len(list(message.segments("OBR")))
    observations = [g.segment("OBX") for o in orders for g in o.groups("OBSERVATION")]
    assert [s.index for s in observations] == [s.index for s in message.segments("OBX")]


def test_parse_is_lenient_by_default_and_strict_on_request():
    # PID-3 (required in every version) missing: lenient parsing accepts it, strict does not.
    text = (
        "MSH|^~\\&|EPIC|NORTH|CD|CD|20261125153000-0600||ADT^A03^ADT_A03|C9|P|2.5.1\r"
        "EVN|A03|20261125153000-0600\r"
        f"PID|1||||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}||19610719|F\r"
        "PV1|1|I\r"
    )
    assert len(parse(text)) == 4
    with pytest.raises(Hl7ParseError) as caught:
        parse(text, strict=True)
    assert caught.value.segment_index is not None
    phi.assert_no_phi(str(caught.value))


@given(cst.hl7v2_messages())
@settings(max_examples=40)
def test_generated_messages_read_back_through_the_one_entry_point(pair):
    text, value = pair
    assert read(parse(text), profile=SenderProfile()) == value


def test_hl7v2_messages_refuses_families_it_cannot_build():
    with pytest.raises(ValueError, match="SIU, REF and RRI"):
        cst.hl7v2_messages(["ADT"])


def test_a_configured_assigning_authority_gives_its_system_in_every_family():
    systems = {
        "LMH": "urn:oid:2.16.840.1.113883.3.999.7",
        "LPC": "urn:oid:2.16.840.1.113883.3.999.8",
    }
    profile = SenderProfile("America/Chicago", systems)
    for name, authority in (
        ("adt-a03-discharge-hf.hl7", "LMH"),
        ("siu-s12-new-booking.hl7", "LMH"),
        ("ref-i12-cardiology-consult.hl7", "LPC"),
    ):
        value = read_bytes((EXAMPLES / name).read_bytes(), profile=profile)
        assert value.patient.identifiers[0].system == systems[authority], name
    assert profile.resolve(None, "LMH") is None
