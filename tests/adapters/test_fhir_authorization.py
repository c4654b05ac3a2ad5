import copy
import json
from decimal import Decimal

import attrs
import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.adapters.fhir import validate
from caredomain.adapters.fhir.authorization import (
    AUTHORIZATION_ADJUDICATION,
    CRD_COVERAGE_INFORMATION,
    PAS_REVIEW_ACTION,
    PAS_REVIEW_ACTION_CODE,
    PROGRAM_EXTENSION,
    X12_REVIEW_ACTION,
    authorization_from_fhir,
    authorization_to_fhir,
    carried_state,
    coverage_information,
    coverage_information_from_fhir,
)
from caredomain.adapters.fhir.resources import from_fhir, to_fhir
from caredomain.authorization.case import (
    AUTHORIZATION_MACHINE,
    AuthorizationCase,
    CaseStatus,
    CaseSubmitted,
    Decision,
    DecisionReceived,
    Program,
    ReviewAction,
    ReviewPriority,
    ServiceLine,
)
from caredomain.authorization.check import CheckResult, Requirement
from caredomain.authorization.rules import Covered, DocNeeded, PaNeeded
from caredomain.core import ValidationError
from caredomain.core.codes import CPT, CodeableConcept, Coding
from caredomain.core.events import AuditTrail
from caredomain.core.identity import Reference
from caredomain.core.serialization import to_dict
from caredomain.core.time import FixedClock, Interval
from caredomain.testing import strategies as cst
from tests import phi

VERSIONS = ["R4", "R5"]
CHICAGO = "America/Chicago"
COVERAGE = Reference.to("Coverage", "cov-1")


def carried(case: AuthorizationCase) -> AuthorizationCase:
    """What a round trip through Claim/ClaimResponse gives back (module "Not carried")."""
    return attrs.evolve(
        case, state=carried_state(case), trail=AuditTrail(), units_used=0, appeals=0
    )


def case(**changes):
    fields = {
        "id": "pa-1",
        "patient": Reference.to("Patient", "pat-1"),
        "coverage": COVERAGE,
        "program": Program.CMS_0057_F,
        "lines": [ServiceLine(CodeableConcept.of(CPT, "97110"), 12)],
        "priority": ReviewPriority.EXPEDITED,
        "state": CaseStatus.APPROVED,
        "submitted_at": pendulum.datetime(2026, 11, 20, 9, 30, tz=CHICAGO),
        "decision": Decision(
            ReviewAction.CERTIFIED_PARTIAL,
            8,
            Interval(
                pendulum.datetime(2026, 12, 1, tz=CHICAGO),
                pendulum.datetime(2027, 3, 1, tz=CHICAGO),
            ),
            CodeableConcept.of("https://codesystem.x12.org/005010/4000", "A", "test reason"),
            "AUTH-2026-1",
        ),
    }
    fields.update(changes)
    return AuthorizationCase(**fields)


def paths(info):
    return [p.path for p in info.value.problems]


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_round_trip_keeps_what_fhir_carries(version):
    @given(cst.authorization_cases())
    def check(value):
        claim, response = authorization_to_fhir(value, version)
        assert (response is None) == (value.decision is None)
        assert authorization_from_fhir(claim, response, version) == carried(value)
        text = json.dumps([claim, response])
        claim, response = json.loads(text, parse_float=Decimal)
        assert authorization_from_fhir(claim, response, version) == carried(value)

    check()


@pytest.mark.parametrize("version", VERSIONS)
def test_everything_written_is_valid_fhir(version):
    @settings(max_examples=25, deadline=None)
    @given(cst.authorization_cases(), st.booleans())
    def check(value, known_parties):
        parties = {}
        if known_parties:
            parties = {
                "insurer": Reference.to("Organization", "payer-1"),
                "provider": Reference.to("Practitioner", "dr-1"),
            }
        claim, response = authorization_to_fhir(value, version, **parties)
        validate(claim, version)
        if response is not None:
            model = validate(response, version)
            undecided = attrs.evolve(value, decision=None)
            assert from_fhir(claim, version) == carried(undecided)
            assert authorization_from_fhir(validate(claim, version), model, version) == (
                carried(value)
            )

    check()


def test_the_registry_writes_the_claim():
    value = case()
    claim, _ = authorization_to_fhir(value, "R4")
    assert to_fhir(value, "R4") == claim
    assert from_fhir(claim, "R4") == attrs.evolve(value, state=CaseStatus.SUBMITTED, decision=None)


# --- the PAS shapes -------------------------------------------------------------------------


def test_claim_has_the_pas_shape():
    claim, _ = authorization_to_fhir(case(), "R4", insurer=Reference.to("Organization", "payer-1"))
    assert claim["use"] == "preauthorization"
    assert claim["status"] == "active"
    assert claim["type"]["coding"][0]["code"] == "professional"
    assert claim["patient"] == {"reference": "Patient/pat-1"}
    assert claim["created"] == "2026-11-20T09:30:00-06:00"
    assert claim["insurer"] == {"reference": "Organization/payer-1"}
    assert claim["provider"]["extension"][0]["valueCode"] == "unknown"
    assert claim["priority"]["coding"][0]["code"] == "stat"
    assert claim["insurance"] == [
        {"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}}
    ]
    assert claim["item"] == [
        {
            "sequence": 1,
            "productOrService": {"coding": [{"system": CPT, "code": "97110"}]},
            "quantity": {"value": 12},
        }
    ]
    assert claim["extension"] == [{"url": PROGRAM_EXTENSION, "valueCode": "cms-0057-f"}]


def test_claim_response_carries_the_review_action_and_the_authorization():
    _, response = authorization_to_fhir(case(), "R4")
    assert response["request"] == {"reference": "Claim/pa-1"}
    assert response["outcome"] == "complete"
    assert response["preAuthRef"] == "AUTH-2026-1"
    assert response["preAuthPeriod"] == {
        "start": "2026-12-01T00:00:00-06:00",
        "end": "2027-03-01T00:00:00-06:00",
    }
    (item,) = response["item"]
    (adjudication,) = item["adjudication"]
    assert adjudication["category"]["coding"][0]["code"] == "submitted"
    (review,) = adjudication["extension"]
    assert review["url"] == PAS_REVIEW_ACTION
    code, reason = review["extension"]
    assert code == {
        "url": PAS_REVIEW_ACTION_CODE,
        "valueCodeableConcept": {"coding": [{"system": X12_REVIEW_ACTION, "code": "A2"}]},
    }
    assert reason["url"] == "reasonCode"
    assert response["adjudication"] == [
        {
            "category": {
                "coding": [{"system": AUTHORIZATION_ADJUDICATION, "code": "authorized-units"}]
            },
            "value": 8,
        }
    ]
    assert "decision" not in response


def test_r5_adds_the_native_decision_and_review_outcome():
    _, response = authorization_to_fhir(case(), "R5")
    assert response["decision"]["coding"][0]["code"] == "partial"
    assert response["item"][0]["reviewOutcome"]["decision"] == response["decision"]
    assert response["adjudication"][0]["quantity"] == {"value": 8}
    # Without the PAS extension, R5's own decision is read.
    del response["item"][0]["adjudication"]
    claim, _ = authorization_to_fhir(case(), "R5")
    back = authorization_from_fhir(claim, response, "R5")
    assert back.decision.action is ReviewAction.CERTIFIED_PARTIAL


@pytest.mark.parametrize(
    ("action", "outcome", "state"),
    [
        (ReviewAction.CERTIFIED_IN_TOTAL, "complete", CaseStatus.APPROVED),
        (ReviewAction.NOT_CERTIFIED, "complete", CaseStatus.DENIED),
        (ReviewAction.PENDED, "queued", CaseStatus.PENDED),
        (ReviewAction.CONTACT_PAYER, "queued", CaseStatus.PENDED),
        (ReviewAction.MODIFIED, "complete", CaseStatus.PARTIALLY_APPROVED),
    ],
)
def test_outcome_and_state_follow_the_review_action(action, outcome, state):
    value = case(decision=Decision(action, reason=CodeableConcept(text="r")))
    claim, response = authorization_to_fhir(value, "R4")
    assert response["outcome"] == outcome
    assert authorization_from_fhir(claim, response).state is state


@pytest.mark.parametrize(
    ("state", "status", "back"),
    [
        (CaseStatus.DRAFT, "draft", CaseStatus.DRAFT),
        (CaseStatus.CANCELLED, "cancelled", CaseStatus.CANCELLED),
        (CaseStatus.ENTERED_IN_ERROR, "entered-in-error", CaseStatus.ENTERED_IN_ERROR),
        (CaseStatus.APPEAL, "active", CaseStatus.PARTIALLY_APPROVED),
        (CaseStatus.OVERTURNED, "active", CaseStatus.PARTIALLY_APPROVED),
        (CaseStatus.EXHAUSTED, "active", CaseStatus.PARTIALLY_APPROVED),
    ],
)
def test_the_state_map_is_lossy_as_documented(state, status, back):
    value = case(state=state)
    claim, response = authorization_to_fhir(value, "R4")
    assert claim["status"] == status
    assert authorization_from_fhir(claim, response).state is back
    assert carried_state(value) is back


def test_a_draft_without_a_submission_time_marks_created_absent():
    value = case(state=CaseStatus.DRAFT, submitted_at=None, decision=None)
    claim, response = authorization_to_fhir(value, "R4")
    assert response is None
    assert "created" not in claim
    assert claim["_created"]["extension"][0]["valueCode"] == "unknown"
    validate(claim, "R4")
    assert authorization_from_fhir(claim) == value


def test_a_case_driven_by_the_machine_dates_its_response():
    clock = FixedClock(pendulum.datetime(2026, 11, 20, 9, 0, tz=CHICAGO))
    value = case(state=CaseStatus.DRAFT, submitted_at=None, decision=None)
    at = pendulum.datetime(2026, 11, 20, 9, 30, tz=CHICAGO)
    value = AUTHORIZATION_MACHINE.apply(
        value, CaseSubmitted(event_id="00000000-0000-4000-8000-000000000001", occurred_at=at), clock
    ).value
    decided = pendulum.datetime(2026, 11, 22, 16, 0, tz=CHICAGO)
    value = AUTHORIZATION_MACHINE.apply(
        value,
        DecisionReceived(
            event_id="00000000-0000-4000-8000-000000000002",
            occurred_at=decided,
            decision=Decision(ReviewAction.CERTIFIED_IN_TOTAL, reference="AUTH-9"),
        ),
        clock,
    ).value
    claim, response = authorization_to_fhir(value, "R4")
    assert response["created"] == "2026-11-22T16:00:00-06:00"
    assert authorization_from_fhir(claim, response) == carried(value)


def test_a_claim_without_the_program_extension_takes_the_argument():
    claim, _ = authorization_to_fhir(case(decision=None), "R4")
    del claim["extension"]
    assert authorization_from_fhir(claim).program is Program.OTHER
    assert authorization_from_fhir(claim, program=Program.MEDICARE_OPD).program is (
        Program.MEDICARE_OPD
    )


# --- errors ---------------------------------------------------------------------------------


def test_every_problem_is_located_and_carries_no_patient_data():
    claim, response = authorization_to_fhir(case(), "R4")
    claim = copy.deepcopy(claim)
    claim["use"] = phi.PATIENT_FAMILY
    claim["patient"] = {"reference": f"Patient/{phi.PATIENT_GIVEN} {phi.PATIENT_MRN}"}
    claim["priority"]["coding"][0]["code"] = phi.PATIENT_BIRTH_DATE
    claim["item"][0]["quantity"]["value"] = phi.PATIENT_PHONE
    claim["created"] = phi.PATIENT_BIRTH_DATE + "T10:00:00"
    review = response["item"][0]["adjudication"][0]["extension"][0]["extension"][0]
    review["valueCodeableConcept"]["coding"][0]["code"] = phi.PATIENT_MRN
    response["preAuthPeriod"]["end"] = phi.PATIENT_BIRTH_DATE
    with pytest.raises(ValidationError) as info:
        authorization_from_fhir(claim, response, "R4")
    assert paths(info) == [
        "Claim.use",
        "Claim.patient.reference",
        "Claim.created",
        "Claim.priority",
        "Claim.item[0].quantity.value",
        "ClaimResponse.preAuthPeriod.end",
        "ClaimResponse.item[0].adjudication[0].extension[0].extension[0].valueCodeableConcept",
    ]
    phi.assert_no_phi(str(info.value))


def test_missing_required_parts_are_located():
    with pytest.raises(ValidationError) as info:
        authorization_from_fhir({"resourceType": "Claim", "id": "x", "status": "active"})
    assert paths(info) == ["Claim.use", "Claim.patient", "Claim.insurance", "Claim.item"]


def test_a_response_to_another_claim_is_refused():
    claim, response = authorization_to_fhir(case(), "R4")
    response["request"] = {"reference": "Claim/other"}
    with pytest.raises(ValidationError) as info:
        authorization_from_fhir(claim, response)
    assert paths(info) == ["ClaimResponse.request"]


def test_a_response_without_a_review_action_is_refused():
    claim, response = authorization_to_fhir(case(), "R4")
    del response["item"][0]["adjudication"][0]["extension"]
    with pytest.raises(ValidationError) as info:
        authorization_from_fhir(claim, response)
    assert paths(info) == ["ClaimResponse.item"]


def test_a_model_of_the_other_version_is_refused():
    claim, _ = authorization_to_fhir(case(), "R4")
    with pytest.raises(ValidationError) as info:
        authorization_from_fhir(validate(claim, "R4"), None, "R5")
    assert paths(info) == ["Claim"]


def test_wrong_resource_types_are_refused():
    with pytest.raises(ValidationError) as info:
        authorization_from_fhir({"resourceType": "Patient"})
    assert paths(info) == ["resourceType"]
    claim, _ = authorization_to_fhir(case(), "R4")
    with pytest.raises(ValidationError) as info:
        authorization_from_fhir(claim, {"resourceType": "Claim"})
    assert paths(info) == ["ClaimResponse.resourceType"]
    with pytest.raises(ValidationError):
        authorization_to_fhir(case(), "R6")


# --- CRD coverage information ---------------------------------------------------------------


def _service_request(extension, version):
    code = {"coding": [{"system": CPT, "code": "97110"}]}
    return {
        "resourceType": "ServiceRequest",
        "id": "sr-1",
        "extension": [extension],
        "status": "draft",
        "intent": "order",
        "code": code if version == "R4" else {"concept": code},  # R5: a CodeableReference
        "subject": {"reference": "Patient/pat-1"},
    }


@given(cst.requirements())
def test_coverage_information_uses_the_check_cli_vocabulary(requirement):
    extension = coverage_information(
        requirement, coverage=COVERAGE, date=pendulum.date(2026, 11, 25)
    )
    assert extension["url"] == CRD_COVERAGE_INFORMATION
    parts = extension["extension"]

    def values(name):
        return [
            next(v for k, v in p.items() if k.startswith("value"))
            for p in parts
            if p["url"] == name
        ]

    printed = to_dict(requirement)  # what `caredomain authorization check` prints
    assert values("covered") == [printed["covered"]]
    assert values("pa-needed") == ([printed["pa_needed"]] if printed["pa_needed"] else [])
    assert values("doc-needed") == printed["doc_needed"]
    assert values("info-needed") == printed["info_needed"]
    assert values("satisfied-pa-id") == (
        [printed["satisfied_pa_id"]] if printed["satisfied_pa_id"] else []
    )
    assert values("date") == ["2026-11-25"]
    assert values("coverage-assertion-id") == ["line-1"]
    # The CRD invariants crd-ci-q2, q3 and q5 hold in the JSON.
    covered, pa = values("covered")[0], values("pa-needed")
    assert (covered == "not-covered") == (not pa)
    conditional = "conditional" in [covered, *pa, *values("doc-needed")]
    assert conditional == bool(values("info-needed"))
    assert (pa == ["satisfied"]) == bool(values("satisfied-pa-id"))
    back, coverage, day = coverage_information_from_fhir(extension)
    assert (coverage, day) == (COVERAGE, pendulum.date(2026, 11, 25))
    assert back == Requirement(
        requirement.id,
        requirement.covered,
        requirement.pa_needed,
        requirement.doc_needed,
        requirement.info_needed,
        reason=requirement.reason,
        satisfied_pa_id=requirement.satisfied_pa_id,
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_coverage_information_is_valid_on_a_request(version):
    @settings(max_examples=25, deadline=None)
    @given(cst.requirements())
    def check(requirement):
        extension = coverage_information(
            CheckResult([requirement]),
            coverage=COVERAGE,
            date=pendulum.date(2026, 11, 25),
            assertion_id="trace-1",
            billing_codes=[Coding(CPT, "97110")],
        )
        validate(_service_request(extension, version), version)

    check()


def test_coverage_information_picks_the_line():
    one = Requirement("a", Covered.COVERED, PaNeeded.NO_AUTH)
    two = Requirement("b", Covered.COVERED, PaNeeded.AUTH_NEEDED, [DocNeeded.CLINICAL])
    result = CheckResult([one, two])
    extension = coverage_information(
        result, coverage=COVERAGE, date=pendulum.date(2026, 1, 2), line="b"
    )
    assert {"url": "pa-needed", "valueCode": "auth-needed"} in extension["extension"]
    with pytest.raises(ValidationError) as info:
        coverage_information(result, coverage=COVERAGE, date=pendulum.date(2026, 1, 2))
    assert paths(info) == ["line"]
    with pytest.raises(ValidationError):
        coverage_information(result, coverage=COVERAGE, date=pendulum.date(2026, 1, 2), line="z")


def test_coverage_information_problems_are_located_without_values():
    extension = coverage_information(
        Requirement("a", Covered.COVERED, PaNeeded.NO_AUTH),
        coverage=COVERAGE,
        date=pendulum.date(2026, 1, 2),
    )
    extension["extension"][1]["valueCode"] = phi.PATIENT_FAMILY
    extension["extension"][3]["valueDate"] = phi.PATIENT_BIRTH_DATE + "T"
    with pytest.raises(ValidationError) as info:
        coverage_information_from_fhir(extension, "ServiceRequest.extension[0]")
    assert paths(info) == [
        "ServiceRequest.extension[0].extension[1].valueCode",
        "ServiceRequest.extension[0].extension[3].valueDate",
    ]
    phi.assert_no_phi(str(info.value))
