from pathlib import Path

import attrs
import pendulum
import pytest
from hypothesis import given
from pendulum import Date

from caredomain.adapters.hl7v2 import Hl7ParseError, parse
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.adapters.hl7v2.ref import (
    _PRIORITY,
    _REF_STATE,
    _RRI_STATE,
    ReferralAuthorization,
    build_ref,
    build_rri,
    read_ref,
)
from caredomain.authorization.check import Approval
from caredomain.core.codes import CPT, ICD_10_CM, CodeableConcept, Coding, hl7_v2_table
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier, stable_id
from caredomain.core.parties import AdministrativeGender, HumanName
from caredomain.referrals.mappings import RF1_PRIORITY, RF1_STATUS
from caredomain.referrals.model import (
    AuthorizationLink,
    ReferralCategory,
    ReferralPriority,
    ReferralStatus,
)
from caredomain.testing._hl7v2_ref import ref_messages
from tests import phi

EXAMPLES = Path(__file__).parents[2] / "examples" / "hl7v2"
CHICAGO = SenderProfile(timezone="America/Chicago")


def _read(name: str, profile: SenderProfile = CHICAGO):
    return read_ref(parse((EXAMPLES / name).read_bytes()), profile=profile)


def _v2(table: int, code: str, display: str | None = None) -> CodeableConcept:
    return CodeableConcept((Coding(hl7_v2_table(table), code, display),))


# --- tables --------------------------------------------------------------------------------


def test_status_inverses_agree_with_rf1_status():
    for table in (_REF_STATE, _RRI_STATE):
        for code, state in table.items():
            assert RF1_STATUS[state] == code
    assert set(_REF_STATE) == set(_RRI_STATE) == {"A", "E", "P", "R"}  # HL7 table 0283


def test_priority_inverse_agrees_with_rf1_priority():
    for code, priority in _PRIORITY.items():
        assert RF1_PRIORITY[priority] == code
    assert set(_PRIORITY) == set(RF1_PRIORITY.values())  # HL7 table 0280


# --- round trip ----------------------------------------------------------------------------


@given(ref_messages())
def test_build_then_read_gives_the_values_back(pair):
    text, expected = pair
    assert read_ref(parse(text), profile=SenderProfile()) == expected


@given(ref_messages())
def test_built_messages_are_cr_terminated_and_typed(pair):
    text, expected = pair
    assert text.endswith("\r")
    assert "\n" not in text.replace("\\.br\\", "")
    msg = parse(text)
    assert msg.type == f"{expected.message_type}^{expected.trigger}"
    assert msg["MSH-9.3"] == f"{expected.message_type}_I12"


# --- corpus scenarios ----------------------------------------------------------------------


def test_cardiology_ref_requires_authorization_and_links_it():
    m = _read("ref-i12-cardiology-consult.hl7")
    r = m.referral
    assert (m.message_type, m.trigger, m.control_id) == ("REF", "I12", "LPC-REF-30071")
    assert r.id == stable_id("Referral", "LPC", "LPC-REF-30071")
    assert r.placer_id == Identifier("LPC-REF-30071", "LPC")
    assert r.filler_id is None
    assert r.state is ReferralStatus.SENT
    assert r.priority is ReferralPriority.ROUTINE
    assert r.category is ReferralCategory.CLINICAL
    assert r.target.specialty == _v2(281, "Med")
    assert r.reasons == (_v2(336, "O"),)
    assert r.services == (
        CodeableConcept((Coding(CPT, "99244"),)),
        CodeableConcept((Coding(CPT, "93306"),)),
    )
    assert m.procedures == r.services
    assert m.diagnoses == (
        CodeableConcept((Coding(ICD_10_CM, "I50.22"),)),
        CodeableConcept((Coding(ICD_10_CM, "R06.02"),)),
    )
    assert m.dispositions == (_v2(282, "AM"),)
    assert m.setting == _v2(284, "O")
    assert m.processed_at == pendulum.datetime(2026, 12, 1, 9, 45, tz="America/Chicago")
    # Valid from 1 December through 1 March, in the sender's zone.
    assert r.validity is not None
    assert r.validity.start == pendulum.datetime(2026, 12, 1, tz="America/Chicago")
    assert r.validity.end == pendulum.datetime(2027, 3, 2, tz="America/Chicago")
    # The AUT: a request, not a decision yet.
    assert r.authorization_required
    auth = m.authorization
    assert auth is not None
    assert auth.identifier == Identifier("PA-REQ-88213", "PSHP")
    assert auth.plan == _v2(72, "PSHP-PPO")
    assert auth.payer == _v2(285, "PSHP")
    assert auth.payer_name == "Prairie State Health Plan"
    assert (auth.requested, auth.authorized, auth.status) == (1, None, "requested")
    assert auth.effective is None
    assert auth.expires is None
    assert auth.processed_at is not None
    case = stable_id("AuthorizationCase", "PSHP", "PA-REQ-88213")
    assert r.authorization == AuthorizationLink(case, "requested")
    assert not r.authorized
    assert m.approval() is None
    # Providers: the referring and the referred-to physician.
    assert [p.role for p in m.providers] == ["RP", "RT"]
    rp, rt = m.practitioners
    assert rp.names == (HumanName("Ferreira", ("Marisol",), ("Dr",), ("MD",)),)
    assert rp.identifiers == (Identifier("D10442", None, _v2(338, "PRN")),)
    assert r.requester.id == rp.id
    assert r.target.performer is not None
    assert r.target.performer.id == rt.id
    assert m.roles == {rp.id: "RP", rt.id: "RT"}
    assert m.providers[1].addresses[0].city == "Chicago"
    assert m.providers[1].location is not None
    assert m.providers[1].location.point_of_care == "LCC"
    # The patient.
    p = m.patient
    assert p.identifiers == (Identifier("LPC-0071145", "LPC", _v2(203, "MR")),)
    assert p.id == stable_id("Patient", "LPC", "LPC-0071145")
    assert r.patient.id == p.id
    assert p.names == (HumanName("Kettleby", ("Hollis", "W")),)
    assert p.birth_date == Date(1962, 5, 7)
    assert p.sex is AdministrativeGender.MALE
    assert p.addresses[0].use == "home"
    assert len(m.notes) == 1
    assert m.notes[0].startswith("Worsening dyspnea")
    assert (m.ack_code, m.acknowledged_id) == (None, None)


def test_rri_accepts_the_same_referral_with_an_approved_authorization():
    ref = _read("ref-i12-cardiology-consult.hl7")
    m = _read("rri-i12-accept.hl7")
    r = m.referral
    assert (m.message_type, m.trigger) == ("RRI", "I12")
    assert (m.ack_code, m.acknowledged_id) == ("AA", "LPC-REF-30071")
    assert r.id == ref.referral.id
    assert r.state is ReferralStatus.ACCEPTED
    assert r.filler_id == Identifier("LMH-REF-99017", "LMH")
    assert m.practitioners[0].id == ref.practitioners[1].id  # same RT, other order
    assert r.requester == ref.referral.requester
    auth = m.authorization
    assert auth is not None
    assert (auth.effective, auth.expires) == (Date(2026, 12, 2), Date(2027, 3, 2))
    assert (auth.requested, auth.authorized, auth.status) == (1, 1, "approved")
    assert r.authorization == AuthorizationLink(
        stable_id("AuthorizationCase", "PSHP", "PA-88213-APPROVED"), "approved"
    )
    assert r.authorized
    # The approval covers the REF's procedures, through 2 March inclusive.
    assert auth.approval(ref.procedures) == Approval(
        id="PA-88213-APPROVED",
        system=CPT,
        codes=("99244", "93306"),
        start=Date(2026, 12, 2),
        end=Date(2027, 3, 3),
        units=1,
    )
    assert m.approval() is None  # the RRI itself carries no PR1


def test_modify_with_custom_delimiters():
    m = _read("ref-i13-modify-custom-delimiters.hl7")
    assert m.trigger == "I13"
    assert m.referral.priority is ReferralPriority.ASAP
    assert m.referral.id == _read("ref-i12-cardiology-consult.hl7").referral.id
    assert m.notes[0].endswith("dyspnea at night / orthopnea")  # /E/ is the escape


def test_cancel_is_a_cancellation_whatever_rf1_1_says():
    m = _read("ref-i14-cancel.hl7")
    assert m.referral.state is ReferralStatus.CANCEL_REQUESTED
    assert m.referral.target.specialty == _v2(281, "Rad")
    assert m.referral.reasons == (_v2(336, "P"),)
    assert m.referral.validity is None  # RF1-8 not sent
    assert m.referral.target.performer is not None
    assert m.referral.target.performer.identifier is None  # PRD without PRD-7


def test_status_request_and_v28_referral():
    assert _read("ref-i15-status-query.hl7").referral.state is ReferralStatus.SENT
    m = _read("ref-i12-physical-therapy.hl7")
    assert m.referral.services[1] == CodeableConcept((Coding(CPT, "97110"),))
    assert m.authorization is None
    assert not m.referral.authorization_required
    rt = m.providers[1].practitioner
    assert rt.id == stable_id("Practitioner", "referral", m.referral.id, "RT", "2")


def test_rri_pending_is_received_and_refused_rf1_is_declined():
    text = (EXAMPLES / "rri-i12-accept.hl7").read_text()
    pending = read_ref(parse(text.replace("RF1|A^Accepted", "RF1|P^Pending")), profile=CHICAGO)
    assert pending.referral.state is ReferralStatus.RECEIVED
    refused = read_ref(parse(text.replace("RF1|A^Accepted", "RF1|R^Rejected")), profile=CHICAGO)
    assert refused.referral.state is ReferralStatus.DECLINED


def test_profile_systems_apply_to_assigning_authorities():
    profile = SenderProfile("America/Chicago", {"LPC": "urn:oid:2.16.840.1.113883.3.999.7"})
    m = _read("ref-i12-cardiology-consult.hl7", profile)
    assert m.referral.placer_id == Identifier("LPC-REF-30071", "urn:oid:2.16.840.1.113883.3.999.7")
    assert m.patient.identifiers[0].system == "urn:oid:2.16.840.1.113883.3.999.7"


def test_read_and_build_agree_on_the_corpus_referral():
    m = _read("rri-i12-accept.hl7")
    text = build_rri(
        m.referral,
        m.trigger,
        patient=m.patient,
        providers=m.providers,
        diagnoses=m.diagnoses,
        authorization=m.authorization,
        dispositions=m.dispositions,
        setting=m.setting,
        processed_at=m.processed_at,
        notes=m.notes,
        control_id=m.control_id,
        now=pendulum.datetime(2026, 12, 2, 14, 5, tz="America/Chicago"),
        acknowledges=m.acknowledged_id,
    )
    again = read_ref(parse(text), profile=CHICAGO)
    # PRD-1 and RF1 codes are written without their displays.
    assert again.referral == m.referral
    assert again.patient == m.patient
    assert again.authorization == m.authorization


# --- errors --------------------------------------------------------------------------------

PHI_REF = (
    "MSH|^~\\&|REFSYS|LPC|CD|CD|20261201094512-0600||REF^I12^REF_I12|C1|P|2.5.1\r"
    "RF1|P|R|Med||O|REF-1^LPC|20261201|20270301\r"
    f"PRD|RP|{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}|||||D1^PRN\r"
    "PRD|RT|Lindqvist^Arne|||||D2^PRN\r"
    f"PID|1||{phi.PATIENT_MRN}^^^LPC^MR||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}||19610719|F\r"
)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (("REF^I12^REF_I12", "ADT^A01^ADT_A01"), "segment 1 (MSH), field 9"),
        (("RF1|P|", "RF1|Q|"), "segment 2 (RF1), field 1"),
        (("|R|Med", "|U|Med"), "segment 2 (RF1), field 2"),
        (("REF-1^LPC", ""), "segment 2 (RF1), field 6"),
        (("|20270301", "|20260301"), "segment 2 (RF1), field 8"),
        (("PRD|RP|", "PRD|CP|"), "segment 3 (PRD), field 1"),
        ((f"{phi.PATIENT_MRN}^^^LPC^MR", ""), "segment 5 (PID), field 3"),
        (("19610719", "19611319"), "segment 5 (PID), field 7"),
        (("D1^PRN", "^PRN"), "segment 3 (PRD), field 7"),
    ],
)
def test_errors_name_the_position_and_never_patient_data(edit, where):
    text = PHI_REF.replace(*edit)
    with pytest.raises(Hl7ParseError) as caught:
        read_ref(parse(text), profile=CHICAGO)
    message = str(caught.value)
    assert where in message
    phi.assert_no_phi(message)


def test_missing_segments_and_timezone():
    with pytest.raises(Hl7ParseError, match="PID segment"):
        read_ref(parse(PHI_REF.split("PID|")[0]), profile=CHICAGO)
    with pytest.raises(Hl7ParseError, match="RF1 segment"):
        read_ref(parse(PHI_REF.replace("RF1|", "ZF1|")), profile=CHICAGO)
    with pytest.raises(Hl7ParseError, match="sender timezone") as caught:
        read_ref(parse(PHI_REF), profile=SenderProfile())
    assert caught.value.field == 7
    with pytest.raises(Hl7ParseError, match="RF1-3"):
        read_ref(
            parse(PHI_REF.replace("|Med|", "||").replace("PRD|RT|", "PRD|CP|")), profile=CHICAGO
        )


def test_build_refuses_what_rf1_cannot_carry():
    m = _read("ref-i12-cardiology-consult.hl7")
    now = pendulum.datetime(2026, 12, 1, tz="UTC")
    common = {"patient": m.patient, "providers": m.providers, "control_id": "X", "now": now}
    social = attrs.evolve(m.referral, category=ReferralCategory.SOCIAL_CARE)
    with pytest.raises(ValidationError, match="social-care"):
        build_ref(social, "I12", **common)
    with pytest.raises(ValidationError, match="trigger"):
        build_ref(m.referral, "I99", **common)
    nameless = attrs.evolve(m.patient, identifiers=())
    with pytest.raises(ValidationError, match="PID-3"):
        build_ref(m.referral, "I12", **{**common, "patient": nameless})


def test_authorization_status_from_counts():
    assert ReferralAuthorization().status == "requested"
    assert ReferralAuthorization(authorized=0, requested=3).status == "denied"
    assert ReferralAuthorization(authorized=2, requested=3).status == "partial"
    assert ReferralAuthorization(authorized=3, requested=3).status == "approved"
    assert ReferralAuthorization(authorized=1).status == "approved"


def test_an_unknown_administrative_sex_is_read_leniently_as_none():
    # PID is read as in ADT ("Table HL70001 to Administrative Gender"): a code outside the
    # table gives no sex rather than refusing the referral.
    text = PHI_REF.replace("19610719|F", "19610719|Z")
    assert read_ref(parse(text), profile=CHICAGO).patient.sex is None
