"""Prior authorization <-> FHIR: Da Vinci PAS Claim/ClaimResponse and CRD coverage information.

* `authorization_to_fhir` writes an `AuthorizationCase` as a Claim with ``use =
  preauthorization`` shaped after the Da Vinci PAS ``profile-claim`` (patient, insurer,
  provider, priority, ``item[]`` with ``productOrService`` and ``quantity``,
  ``insurance[].coverage``), and its latest `Decision` as a ClaimResponse shaped after PAS
  ``profile-claimresponse`` (outcome, ``item[].adjudication`` with the PAS review action,
  ``preAuthRef``, ``preAuthPeriod``). `authorization_from_fhir` reads them back.
* `coverage_information` writes one `Requirement` of a check as the Da Vinci CRD
  ``coverage-information`` extension, in the same vocabulary as ``caredomain authorization
  check`` prints; `coverage_information_from_fhir` reads it back.

Rules of this module:

1. Plain JSON-ready dicts, built directly (no fhir.resources); datatypes from ``_elements``;
   problems located by FHIRPath (``ClaimResponse.item[0].adjudication[0].extension[0]``),
   never with a value.
2. PAS (Da Vinci Prior Authorization Support STU 2, FHIR R4) profiles the R4 resources; the
   same JSON is written for R5, plus what R5 added natively: ``ClaimResponse.decision``
   and ``item.reviewOutcome`` (claim-decision codes). The X12 review action, read in both
   versions from the PAS extension, is the source of truth; R5 ``decision`` is read only
   when the extension is absent. R5 ``Adjudication.value`` became ``quantity``.
3. What FHIR cannot carry is not written and reads back as the domain default (module
   docstring "Not carried"). The case state is derived, so it is lossy (`carried_state`).

The PAS shapes (HL7 Da Vinci PAS IG 2.1/2.2, ``profile-claim``, ``profile-claimresponse``):

* ``Claim.status``: ``draft`` for a draft case, ``cancelled``, ``entered-in-error``, else
  ``active`` (FHIR ``fm-status``). ``Claim.type``: THO ``claim-type`` (default
  ``professional``). ``Claim.created``: when the case was submitted; a draft without that
  time carries the data-absent-reason extension on ``_created`` (``created`` is 1..1).
* ``Claim.priority``: THO ``processpriority`` ``stat`` for expedited review, ``normal`` for
  standard (``deferred`` reads as standard).
* ``Claim.insurer``, ``Claim.provider`` and ``ClaimResponse.insurer`` are required by PAS
  (and ``provider`` by R4): the case holds neither, so they are the references passed in,
  or the data-absent-reason extension.
* ``ClaimResponse.item[].adjudication[]`` (category THO ``adjudication#submitted``) holds
  the PAS ``extension-reviewAction`` (`PAS_REVIEW_ACTION`) whose ``code`` sub-extension is
  `PAS_REVIEW_ACTION_CODE` with an X12 306 (HCR01) coding (`X12_REVIEW_ACTION`) and whose
  ``reasonCode`` is the decision's reason (PAS binds it to the X12 278 HCR03 review
  decision reason codes: pass reasons coded there for a conformant response). The decision
  is for the whole case, so every item carries the same review action.
* ``ClaimResponse.outcome`` (``remittance-outcome``): ``queued`` for A4 pended and CT
  contact payer, else ``complete``.
* Approved units: a case-level total, which PAS's per-item ``itemAuthorizedDetail`` cannot
  hold for several lines; written as a header ``ClaimResponse.adjudication`` of category
  `AUTHORIZATION_ADJUDICATION` ``authorized-units`` (R4 ``value``, R5 ``quantity``).
* The program (whose timeframes apply) is caredomain's extension `PROGRAM_EXTENSION` on the
  Claim; a Claim without it reads as the ``program`` argument (default ``other``).

Not carried (FHIR has no home for them; they read back as the defaults):

* ``trail`` (every applied event: an audit trail is Provenance/AuditEvent's business, not a
  Claim's) reads back empty; ``units_used`` (visits consumed: a claims history matter) as 0;
  ``appeals`` (how many: each appeal is a new Claim in PAS) as 0.
* The exact state (see `carried_state`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from caredomain.adapters.fhir._elements import (
    Problems,
    absent,
    as_json,
    each,
    items,
    mapping,
    optional,
    read_concept,
    read_date,
    read_datetime,
    read_interval,
    read_number,
    read_reference,
    required_reference,
    resource_id,
    string,
    write_coding,
    write_concept,
    write_date,
    write_datetime,
    write_interval,
    write_reference,
)
from caredomain.adapters.fhir._models import FhirVersion
from caredomain.adapters.fhir.careplans import CANONICAL_BASE
from caredomain.adapters.fhir.resources import ResourceMapping, register
from caredomain.authorization.case import (
    REVIEW_ACTION_STATE,
    AuthorizationCase,
    CaseStatus,
    Decision,
    Program,
    ReviewAction,
    ReviewPriority,
    ServiceLine,
)
from caredomain.authorization.check import CheckResult, Requirement
from caredomain.authorization.rules import Covered, DocNeeded, InfoNeeded, PaNeeded
from caredomain.core.codes import CodeableConcept, Coding
from caredomain.core.errors import ValidationError
from caredomain.core.events import AuditTrail
from caredomain.core.identity import Reference

__all__ = [
    "AUTHORIZATION_ADJUDICATION",
    "CRD_COVERAGE_INFORMATION",
    "PAS_REVIEW_ACTION",
    "PAS_REVIEW_ACTION_CODE",
    "PROGRAM_EXTENSION",
    "X12_REVIEW_ACTION",
    "authorization_from_fhir",
    "authorization_to_fhir",
    "carried_state",
    "coverage_information",
    "coverage_information_from_fhir",
]

PAS_REVIEW_ACTION: Final = (
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction"
)
"""Da Vinci PAS ``ReviewAction`` (on ``ClaimResponse.item.adjudication``; PAS STU 2.1+)."""

PAS_REVIEW_ACTION_CODE: Final = (
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"
)
"""Da Vinci PAS ``ReviewActionCode``: the ``code`` sub-extension of `PAS_REVIEW_ACTION`."""

X12_REVIEW_ACTION: Final = "https://codesystem.x12.org/005010/306"
"""X12 code list 306 (Action Code, 278 HCR01), the system of `ReviewAction` codings in PAS."""

CRD_COVERAGE_INFORMATION: Final = (
    "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
)
"""Da Vinci CRD ``ext-coverage-information`` (CRD STU 2)."""

PROGRAM_EXTENSION: Final = f"{CANONICAL_BASE}/StructureDefinition/authorization-program"
"""caredomain's Claim extension carrying the `Program` (``valueCode``)."""

AUTHORIZATION_ADJUDICATION: Final = f"{CANONICAL_BASE}/CodeSystem/authorization-adjudication"
"""caredomain's adjudication category code system: ``authorized-units``."""

_CLAIM_TYPE: Final = "http://terminology.hl7.org/CodeSystem/claim-type"
_PRIORITY: Final = "http://terminology.hl7.org/CodeSystem/processpriority"
_ADJUDICATION: Final = "http://terminology.hl7.org/CodeSystem/adjudication"
_CLAIM_DECISION: Final = "http://terminology.hl7.org/CodeSystem/claim-decision"
_AUTHORIZED_UNITS: Final = "authorized-units"

# ReviewPriority <-> THO processpriority (stat | normal | deferred).
_PRIORITY_CODE: Final = {ReviewPriority.STANDARD: "normal", ReviewPriority.EXPEDITED: "stat"}
_PRIORITY_READ: Final = {
    "normal": ReviewPriority.STANDARD,
    "deferred": ReviewPriority.STANDARD,
    "stat": ReviewPriority.EXPEDITED,
}
# CaseStatus -> FHIR fm-status of the Claim (active | cancelled | draft | entered-in-error).
_CLAIM_STATUS: Final = {
    CaseStatus.DRAFT: "draft",
    CaseStatus.CANCELLED: "cancelled",
    CaseStatus.ENTERED_IN_ERROR: "entered-in-error",
}
_STATUS_READ: Final = {code: state for state, code in _CLAIM_STATUS.items()}
_QUEUED: Final = frozenset({ReviewAction.PENDED, ReviewAction.CONTACT_PAYER})
# X12 306 -> R5 claim-decision (denied | approved | partial | pending); C has none.
_DECISION: Final = {
    ReviewAction.CERTIFIED_IN_TOTAL: "approved",
    ReviewAction.NO_ACTION_REQUIRED: "approved",
    ReviewAction.CERTIFIED_PARTIAL: "partial",
    ReviewAction.MODIFIED: "partial",
    ReviewAction.NOT_CERTIFIED: "denied",
    ReviewAction.PENDED: "pending",
    ReviewAction.CONTACT_PAYER: "pending",
}
_DECISION_READ: Final = {
    "approved": ReviewAction.CERTIFIED_IN_TOTAL,
    "partial": ReviewAction.CERTIFIED_PARTIAL,
    "denied": ReviewAction.NOT_CERTIFIED,
    "pending": ReviewAction.PENDED,
}
_DECIDED_EVENTS: Final = frozenset({"DecisionReceived", "AppealDecided"})


def carried_state(case: AuthorizationCase) -> CaseStatus:
    """The state `authorization_from_fhir` gives back for ``case`` (the lossy state map).

    ``draft``, ``cancelled`` and ``entered-in-error`` are the Claim's status and come back
    as they were. Otherwise a case without a decision reads as ``submitted`` (a ``pended``
    case waiting for information has no ClaimResponse), and a decided one as the state its
    review action leads to (`REVIEW_ACTION_STATE`): ``appeal`` and ``upheld`` read as the
    decision's state (``denied`` for A3), ``overturned`` as ``approved`` or
    ``partially-approved``, ``expired`` and ``exhausted`` (time and use, not decisions) as
    the approval's state, and ``submitted`` after information was provided as ``pended``
    (the A4 decision is still the latest).
    """
    if case.state in _CLAIM_STATUS:
        return case.state
    if case.decision is None:
        return CaseStatus.SUBMITTED
    return REVIEW_ACTION_STATE[case.decision.action]


# --- writing -------------------------------------------------------------------------------


def authorization_to_fhir(
    case: AuthorizationCase,
    version: FhirVersion | str = FhirVersion.R4,
    *,
    insurer: Reference | None = None,
    provider: Reference | None = None,
    claim_type: str = "professional",
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The case as a PAS Claim, and its latest decision as a PAS ClaimResponse.

    Args:
        case: The case.
        version: ``"R4"`` or ``"R5"``.
        insurer: The payer Organization (the case does not hold it).
        provider: Who asks (Practitioner, PractitionerRole or Organization).
        claim_type: The THO ``claim-type`` code (``professional``, ``institutional``).

    Returns:
        ``(Claim, ClaimResponse)``, the ClaimResponse ``None`` while undecided.

    Raises:
        ValidationError: The version is unknown.
    """
    release = FhirVersion.of(version)
    kind = {"coding": [{"system": _CLAIM_TYPE, "code": claim_type}]}
    claim: dict[str, Any] = {
        "resourceType": "Claim",
        "id": case.id,
        "extension": [{"url": PROGRAM_EXTENSION, "valueCode": case.program.value}],
        "status": _CLAIM_STATUS.get(case.state, "active"),
        "type": kind,
        "use": "preauthorization",
        "patient": write_reference(case.patient),
    }
    if case.submitted_at is not None:
        claim["created"] = write_datetime(case.submitted_at)
    else:
        claim["_created"] = absent()
    claim["insurer"] = write_reference(insurer) if insurer is not None else absent()
    claim["provider"] = write_reference(provider) if provider is not None else absent()
    claim["priority"] = {"coding": [{"system": _PRIORITY, "code": _PRIORITY_CODE[case.priority]}]}
    claim["insurance"] = [
        {"sequence": 1, "focal": True, "coverage": write_reference(case.coverage)}
    ]
    claim["item"] = [
        {
            "sequence": number,
            "productOrService": write_concept(line.code),
            "quantity": {"value": line.units},
        }
        for number, line in enumerate(case.lines, start=1)
    ]
    if case.decision is None:
        return claim, None
    return claim, _write_response(case, case.decision, release, kind, insurer)


def _write_response(
    case: AuthorizationCase,
    decision: Decision,
    version: FhirVersion,
    kind: dict[str, Any],
    insurer: Reference | None,
) -> dict[str, Any]:
    r5 = version is FhirVersion.R5
    response: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": case.id,
        "status": "entered-in-error" if case.state is CaseStatus.ENTERED_IN_ERROR else "active",
        "type": kind,
        "use": "preauthorization",
        "patient": write_reference(case.patient),
    }
    decided = [e for e in case.trail if e.event_type in _DECIDED_EVENTS]
    if decided:
        response["created"] = write_datetime(decided[-1].occurred_at)
    else:
        response["_created"] = absent()
    response["insurer"] = write_reference(insurer) if insurer is not None else absent()
    response["request"] = {"reference": f"Claim/{case.id}"}
    response["outcome"] = "queued" if decision.action in _QUEUED else "complete"
    r5_decision = _DECISION.get(decision.action)
    if r5 and r5_decision is not None:
        response["decision"] = {"coding": [{"system": _CLAIM_DECISION, "code": r5_decision}]}
    if decision.reference is not None:
        response["preAuthRef"] = decision.reference
    if decision.valid is not None:
        response["preAuthPeriod"] = write_interval(decision.valid)
    review: dict[str, Any] = {
        "url": PAS_REVIEW_ACTION,
        "extension": [
            {
                "url": PAS_REVIEW_ACTION_CODE,
                "valueCodeableConcept": {
                    "coding": [{"system": X12_REVIEW_ACTION, "code": decision.action.value}]
                },
            }
        ],
    }
    if decision.reason is not None:
        review["extension"].append(
            {"url": "reasonCode", "valueCodeableConcept": write_concept(decision.reason)}
        )
    adjudication = {
        "extension": [review],
        "category": {"coding": [{"system": _ADJUDICATION, "code": "submitted"}]},
    }
    lines = []
    for number in range(1, len(case.lines) + 1):
        item: dict[str, Any] = {"itemSequence": number, "adjudication": [adjudication]}
        if r5 and r5_decision is not None:
            outcome: dict[str, Any] = {
                "decision": {"coding": [{"system": _CLAIM_DECISION, "code": r5_decision}]}
            }
            if decision.reason is not None:
                outcome["reason"] = [write_concept(decision.reason)]
            item["reviewOutcome"] = outcome
        lines.append(item)
    response["item"] = lines
    if decision.units is not None:
        units: dict[str, Any] = {
            "category": {
                "coding": [{"system": AUTHORIZATION_ADJUDICATION, "code": "authorized-units"}]
            }
        }
        if r5:
            units["quantity"] = {"value": decision.units}
        else:
            units["value"] = decision.units
        response["adjudication"] = [units]
    return response


# --- reading -------------------------------------------------------------------------------


def authorization_from_fhir(
    claim: Mapping[str, Any] | Any,
    claim_response: Mapping[str, Any] | Any | None = None,
    version: FhirVersion | str = FhirVersion.R4,
    *,
    program: Program = Program.OTHER,
) -> AuthorizationCase:
    """Read a PAS Claim (and its ClaimResponse, when decided) as an `AuthorizationCase`.

    The state is derived from ``Claim.status`` and the review action (`carried_state`);
    the trail is empty and ``units_used`` and ``appeals`` are 0 (the module's "Not
    carried"). ``insurer``, ``provider`` and ``type`` are not read.

    Args:
        claim: The Claim, as parsed JSON or a fhir.resources model of ``version``.
        claim_response: Its ClaimResponse, if any (JSON or model).
        version: ``"R4"`` or ``"R5"``.
        program: The program of a Claim without caredomain's program extension.

    Raises:
        ValidationError: Every problem of both resources, each located by FHIRPath
            (``Claim.item[1].quantity.value``), never with a value.
    """
    release = FhirVersion.of(version)
    claim = as_json(claim, release, "Claim")
    if claim_response is not None:
        claim_response = as_json(claim_response, release, "ClaimResponse")
    problems = Problems()
    if claim.get("resourceType") != "Claim":
        raise ValidationError.at("resourceType", "expected Claim", subject="Claim")
    if claim_response is not None and claim_response.get("resourceType") != "ClaimResponse":
        raise ValidationError.at(
            "ClaimResponse.resourceType", "expected ClaimResponse", subject="ClaimResponse"
        )
    path = "Claim"
    case_id = resource_id(claim, path, problems)
    use = string(claim, "use", path, problems, required=True)
    if use is not None and use != "preauthorization":
        problems.add(f"{path}.use", "expected preauthorization")
    status = string(claim, "status", path, problems, required=True)
    if status is not None and status not in {"active", *_STATUS_READ}:
        problems.add(
            f"{path}.status", "expected one of: active, cancelled, draft, entered-in-error"
        )
    patient = required_reference(claim, "patient", path, problems, ("Patient",))
    submitted_at = optional(claim, "created", path, problems, read_datetime)
    priority = _priority(claim, path, problems)
    chosen = _program(claim, path, problems) or program
    coverage = _coverage(claim, path, problems)
    lines = _lines(claim, path, problems)
    decision = None
    if claim_response is not None:
        decision = _decision(claim_response, case_id, release, problems)
    problems.raise_if_any("Claim" if claim_response is None else "Claim and ClaimResponse")
    assert case_id is not None
    assert patient is not None
    assert coverage is not None
    state = _STATUS_READ.get(status or "", CaseStatus.SUBMITTED)
    if state is CaseStatus.SUBMITTED and decision is not None:
        state = REVIEW_ACTION_STATE[decision.action]
    try:
        return AuthorizationCase(
            case_id,
            patient,
            coverage,
            chosen,
            lines,
            priority=priority,
            state=state,
            trail=AuditTrail(),
            submitted_at=submitted_at,
            decision=decision,
        )
    except ValidationError as exc:
        raise ValidationError(
            [attrs.evolve(p, path="Claim") for p in exc.problems], subject="Claim"
        ) from None


def _priority(data: Mapping[str, Any], path: str, problems: Problems) -> ReviewPriority:
    concept = optional(data, "priority", path, problems, read_concept)
    if concept is None:
        return ReviewPriority.STANDARD
    code = concept.code_in(_PRIORITY)
    if code not in _PRIORITY_READ:
        problems.add(f"{path}.priority", f"expected a {_PRIORITY} code: stat, normal or deferred")
        return ReviewPriority.STANDARD
    return _PRIORITY_READ[code]


def _program(data: Mapping[str, Any], path: str, problems: Problems) -> Program | None:
    for where, extension in items(data, "extension", path, problems):
        if isinstance(extension, Mapping) and extension.get("url") == PROGRAM_EXTENSION:
            code = string(extension, "valueCode", where, problems, required=True)
            try:
                return Program(code) if code is not None else None
            except ValueError:
                problems.add(f"{where}.valueCode", f"expected one of: {', '.join(Program)}")
    return None


def _coverage(data: Mapping[str, Any], path: str, problems: Problems) -> Reference | None:
    found = list(items(data, "insurance", path, problems))
    if not found:
        problems.add(f"{path}.insurance", "expected an insurance with its coverage")
        return None
    # The focal insurance is the one the request is made of (FHIR Claim.insurance.focal).
    where, insurance = next(
        ((w, i) for w, i in found if isinstance(i, Mapping) and i.get("focal") is True),
        found[0],
    )
    if mapping(insurance, where, problems, "an insurance") is None:
        return None
    return required_reference(insurance, "coverage", where, problems, ("Coverage",))


def _lines(data: Mapping[str, Any], path: str, problems: Problems) -> tuple[ServiceLine, ...]:
    lines = []
    for where, item in items(data, "item", path, problems):
        if mapping(item, where, problems, "an item") is None:
            continue
        if "productOrService" not in item:
            problems.add(f"{where}.productOrService", "expected the service (required)")
            continue
        code = read_concept(item["productOrService"], f"{where}.productOrService", problems)
        units = 1
        if "quantity" in item:
            units = _count(item["quantity"], f"{where}.quantity", problems) or 1
        if code is not None:
            lines.append(ServiceLine(code, units))
    if not data.get("item"):
        problems.add(f"{path}.item", "expected at least one item")
    return tuple(lines)


def _count(data: object, path: str, problems: Problems) -> int | None:
    quantity = mapping(data, path, problems, "a Quantity")
    if quantity is None:
        return None
    value = read_number(quantity.get("value"), f"{path}.value", problems)
    if value is None:
        return None
    if value != value.to_integral_value() or value < 1:
        problems.add(f"{path}.value", "expected a whole number of units, at least 1")
        return None
    return int(value)


def _decision(
    data: Mapping[str, Any], case_id: str | None, version: FhirVersion, problems: Problems
) -> Decision | None:
    path = "ClaimResponse"
    found = len(problems.items)
    request = data.get("request")
    if request is not None and case_id is not None:
        target = read_reference(request, f"{path}.request", problems, ("Claim",))
        if target is not None and target.id is not None and target.id != case_id:
            problems.add(f"{path}.request", "expected a reference to the Claim given")
    use = string(data, "use", path, problems, required=True)
    if use is not None and use != "preauthorization":
        problems.add(f"{path}.use", "expected preauthorization")
    reference = string(data, "preAuthRef", path, problems)
    valid = optional(data, "preAuthPeriod", path, problems, read_interval)
    action, reason = _review(data, version, problems)
    units = _units(data, version, problems)
    if len(problems.items) > found or action is None:
        return None
    return Decision(action, units, valid, reason, reference)


def _review(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> tuple[ReviewAction | None, CodeableConcept | None]:
    path = "ClaimResponse"
    for item_path, item in items(data, "item", path, problems):
        if mapping(item, item_path, problems, "an item") is None:
            return None, None
        for where, adjudication in items(item, "adjudication", item_path, problems):
            if mapping(adjudication, where, problems, "an adjudication") is None:
                continue
            for ext_path, extension in items(adjudication, "extension", where, problems):
                if isinstance(extension, Mapping) and extension.get("url") == PAS_REVIEW_ACTION:
                    return _review_action(extension, ext_path, problems)
        if version is FhirVersion.R5 and isinstance(item.get("reviewOutcome"), Mapping):
            outcome = item["reviewOutcome"]
            where = f"{item_path}.reviewOutcome"
            action = _r5_decision(outcome, where, problems)
            reasons = each(outcome, "reason", where, problems, read_concept)
            return action, reasons[0] if reasons else None
        break  # the decision is the case's: the first item says it (module docstring)
    if version is FhirVersion.R5 and "decision" in data:
        return _r5_decision(data, path, problems), None
    problems.add(f"{path}.item", "expected an item whose adjudication has the PAS reviewAction")
    return None, None


def _review_action(
    extension: Mapping[str, Any], path: str, problems: Problems
) -> tuple[ReviewAction | None, CodeableConcept | None]:
    action = reason = None
    for where, part in items(extension, "extension", path, problems):
        if not isinstance(part, Mapping):
            problems.add(where, "expected an extension")
            continue
        url = part.get("url")
        if url == PAS_REVIEW_ACTION_CODE:
            concept = optional(part, "valueCodeableConcept", where, problems, read_concept)
            code = concept.code_in(X12_REVIEW_ACTION) if concept is not None else None
            try:
                action = ReviewAction(code) if code is not None else None
            except ValueError:
                action = None
            if action is None:
                problems.add(
                    f"{where}.valueCodeableConcept",
                    f"expected an X12 306 review action ({X12_REVIEW_ACTION}): "
                    + ", ".join(ReviewAction),
                )
        elif url == "reasonCode":
            reason = optional(part, "valueCodeableConcept", where, problems, read_concept)
    if action is None and not any(p.path.startswith(path) for p in problems.items):
        problems.add(f"{path}.extension", "expected the reviewActionCode sub-extension")
    return action, reason


def _r5_decision(data: Mapping[str, Any], path: str, problems: Problems) -> ReviewAction | None:
    concept = optional(data, "decision", path, problems, read_concept)
    code = concept.code_in(_CLAIM_DECISION) if concept is not None else None
    if code not in _DECISION_READ:
        problems.add(f"{path}.decision", "expected a claim-decision code")
        return None
    return _DECISION_READ[code]


def _units(data: Mapping[str, Any], version: FhirVersion, problems: Problems) -> int | None:
    for where, adjudication in items(data, "adjudication", "ClaimResponse", problems):
        if mapping(adjudication, where, problems, "an adjudication") is None:
            continue
        category = optional(adjudication, "category", where, problems, read_concept)
        if category is None or category.code_in(AUTHORIZATION_ADJUDICATION) != _AUTHORIZED_UNITS:
            continue
        if version is FhirVersion.R5:  # R5 Adjudication.value became quantity
            quantity = mapping(
                adjudication.get("quantity"), f"{where}.quantity", problems, "a Quantity"
            )
            if quantity is None:
                return None
            where, adjudication = f"{where}.quantity", quantity
        value = read_number(adjudication.get("value"), f"{where}.value", problems)
        if value is None:
            return None
        if value != value.to_integral_value() or value < 0:
            problems.add(f"{where}.value", "expected a whole number of units")
            return None
        return int(value)
    return None


# --- CRD coverage information --------------------------------------------------------------


def coverage_information(
    result: CheckResult | Requirement,
    *,
    coverage: Reference,
    date: _dt.date,
    line: str | None = None,
    assertion_id: str | None = None,
    billing_codes: Iterable[Coding] = (),
) -> dict[str, Any]:
    """One requirement answer as the CRD ``coverage-information`` extension.

    The codes are the ones ``caredomain authorization check`` prints (``covered``,
    ``pa_needed``, ``doc_needed``, ``info_needed``, ``satisfied_pa_id``, ``reason``), under
    the CRD sub-extension names (``covered``, ``pa-needed``, ``doc-needed``, ``info-needed``,
    ``satisfied-pa-id``, ``reason`` as text). A `Requirement` already satisfies the CRD
    invariants crd-ci-q2, q3 and q5. ``documents``, ``rules``, ``explanation``,
    ``warnings`` and ``decision_due`` have no sub-extension and are not written.
    The extension is the same JSON in R4 and R5 (CRD is an R4 guide).

    Args:
        result: A check's result (choose the line with ``line``) or one requirement.
        coverage: The Coverage the assertion applies to (``coverage``, 1..1).
        date: The date the assertion was made (``date``, 1..1).
        line: The line id, when ``result`` is a `CheckResult` with several lines.
        assertion_id: The trace id (``coverage-assertion-id``, 1..1); default the line id.
        billing_codes: Codes the claim must use for the assertion to hold (``billingCode``).

    Raises:
        ValidationError: ``line`` names no line, or is missing with several lines; the
            coverage is not a Coverage.
    """
    requirement = _requirement(result, line)
    if coverage.target != "Coverage":
        raise ValidationError.at("coverage", "expected a reference to a Coverage")
    parts: list[dict[str, Any]] = [
        {"url": "coverage", "valueReference": write_reference(coverage)},
        {"url": "covered", "valueCode": requirement.covered.value},
    ]
    if requirement.pa_needed is not None:
        parts.append({"url": "pa-needed", "valueCode": requirement.pa_needed.value})
    parts.extend({"url": "doc-needed", "valueCode": d.value} for d in requirement.doc_needed)
    parts.extend({"url": "info-needed", "valueCode": i.value} for i in requirement.info_needed)
    parts.extend({"url": "billingCode", "valueCoding": write_coding(c)} for c in billing_codes)
    if requirement.reason:
        parts.append({"url": "reason", "valueCodeableConcept": {"text": requirement.reason}})
    parts.append({"url": "date", "valueDate": write_date(date)})
    parts.append({"url": "coverage-assertion-id", "valueString": assertion_id or requirement.id})
    if requirement.satisfied_pa_id is not None:
        parts.append({"url": "satisfied-pa-id", "valueString": requirement.satisfied_pa_id})
    return {"url": CRD_COVERAGE_INFORMATION, "extension": parts}


def _requirement(result: CheckResult | Requirement, line: str | None) -> Requirement:
    if isinstance(result, Requirement):
        return result
    if line is None:
        if len(result.lines) != 1:
            raise ValidationError.at("line", "expected the line id (the result has several)")
        return result.lines[0]
    found = next((r for r in result.lines if r.id == line), None)
    if found is None:
        raise ValidationError.at("line", "expected the id of a line of the result")
    return found


def coverage_information_from_fhir(
    extension: Mapping[str, Any], path: str = "extension"
) -> tuple[Requirement, Reference, _dt.date]:
    """Read a CRD ``coverage-information`` extension back as a `Requirement`.

    The requirement's id is the ``coverage-assertion-id``; ``reason`` is the reason's text.
    What the extension does not carry (documents, rules, explanation, warnings, decision
    timeframes) is empty. ``billingCode``, ``detail``, ``questionnaire`` and the other
    sub-extensions caredomain does not hold are not read.

    Args:
        extension: The extension, as parsed JSON.
        path: Its FHIRPath location, used in problems (``ServiceRequest.extension[0]``).

    Returns:
        ``(requirement, coverage, date)``.

    Raises:
        ValidationError: Every problem, located by path, never with a value; a broken CRD
            invariant (crd-ci-q2, q3, q5) is located at the extension.
    """
    problems = Problems()
    if extension.get("url") != CRD_COVERAGE_INFORMATION:
        raise ValidationError.at(f"{path}.url", f"expected {CRD_COVERAGE_INFORMATION}")
    found: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for where, part in items(extension, "extension", path, problems):
        if mapping(part, where, problems, "an extension") is not None:
            found.setdefault(str(part.get("url")), []).append((where, part))

    def codes(name: str, enum: Any) -> list[Any]:
        values = []
        for where, part in found.get(name, []):
            code = string(part, "valueCode", where, problems, required=True)
            try:
                values.append(enum(code))
            except ValueError:
                problems.add(f"{where}.valueCode", f"expected one of: {', '.join(enum)}")
        return values

    def one(name: str, key: str, required: bool) -> tuple[str, Any]:
        parts = found.get(name, [])
        if not parts:
            if required:
                problems.add(f"{path}.extension", f"expected the {name} sub-extension")
            return "", None
        if len(parts) > 1:
            problems.add(parts[1][0], f"expected one {name} sub-extension")
        where, part = parts[0]
        if key not in part:
            problems.add(f"{where}.{key}", "expected a value (required)")
            return where, None
        return f"{where}.{key}", part[key]

    covered = codes("covered", Covered)
    if not found.get("covered"):
        problems.add(f"{path}.extension", "expected the covered sub-extension")
    pa_needed = codes("pa-needed", PaNeeded)
    doc_needed = codes("doc-needed", DocNeeded)
    info_needed = codes("info-needed", InfoNeeded)
    where, value = one("coverage", "valueReference", True)
    coverage = read_reference(value, where, problems, ("Coverage",)) if value else None
    where, value = one("date", "valueDate", True)
    day = read_date(value, where, problems) if value is not None else None
    where, value = one("coverage-assertion-id", "valueString", True)
    if value is not None and (not isinstance(value, str) or not value):
        problems.add(where, "expected a non-empty string")
        value = None
    assertion = value
    where, value = one("reason", "valueCodeableConcept", False)
    reason = read_concept(value, where, problems) if value is not None else None
    where, satisfied = one("satisfied-pa-id", "valueString", False)
    if satisfied is not None and (not isinstance(satisfied, str) or not satisfied):
        problems.add(where, "expected a non-empty string")
        satisfied = None
    problems.raise_if_any("coverage-information")
    assert coverage is not None
    assert day is not None
    assert isinstance(assertion, str)
    try:
        requirement = Requirement(
            assertion,
            covered[0],
            pa_needed[0] if pa_needed else None,
            doc_needed,
            info_needed,
            reason=reason.text if reason is not None else None,
            satisfied_pa_id=satisfied,
        )
    except ValidationError as exc:
        raise ValidationError(
            [attrs.evolve(p, path=path) for p in exc.problems], subject="coverage-information"
        ) from None
    return requirement, coverage, day


def _write(case: AuthorizationCase, version: FhirVersion) -> dict[str, Any]:
    return authorization_to_fhir(case, version)[0]


def _read(claim: Mapping[str, Any], version: FhirVersion) -> AuthorizationCase:
    return authorization_from_fhir(claim, None, version)


register(ResourceMapping(AuthorizationCase, "Claim", _write, _read))
