"""The prior-authorization case: its lifecycle as a table, its decisions, its units.

Rules of this module: everything that affects the case state machine lives here, in
`AUTHORIZATION_MACHINE`'s table and the guards, effects and choosers beside it.

Decisions arrive as Da Vinci PAS ``ClaimResponse`` review actions, the X12 278 HCR01 codes
(`ReviewAction`): A1 certified in total, A2 certified partial, A3 not certified, A4 pended,
A6 modified, C cancelled, CT contact payer, NA no action required. `DecisionReceived`
chooses the next state from the code; `REVIEW_ACTION_STATE` and `STATE_REVIEW_ACTION` are the
mapping in both directions. A denial carries a specific reason (CMS-0057-F requires payers
to give one from 2026-01-01).

After approval, each visit consumes authorized units (`UnitsUsed`); a visit that would
exceed them is refused with the units left, and using the last unit exhausts the case.
An approval ends at its validity period (`AuthorizationExpired`).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

import attrs
from pendulum import DateTime

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ValidationError
from caredomain.core.events import AuditTrail, DomainEvent
from caredomain.core.identity import Reference
from caredomain.core.statemachine import Guard, Machine, Transition
from caredomain.core.time import Interval, check_aware, epoch_us, instant_key, to_datetime

__all__ = [
    "AUTHORIZATION_MACHINE",
    "REVIEW_ACTION_STATE",
    "STATE_REVIEW_ACTION",
    "AppealDecided",
    "AppealFiled",
    "AuthorizationCase",
    "AuthorizationExpired",
    "CaseCancelled",
    "CaseEnteredInError",
    "CaseStatus",
    "CaseSubmitted",
    "Decision",
    "DecisionReceived",
    "InformationProvided",
    "InformationRequested",
    "Program",
    "ReviewAction",
    "ReviewPriority",
    "ServiceLine",
    "UnitsUsed",
]


class CaseStatus(StrEnum):
    """Where a prior-authorization case stands."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    PENDED = "pended"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially-approved"
    DENIED = "denied"
    APPEAL = "appeal"
    OVERTURNED = "overturned"
    UPHELD = "upheld"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"


class ReviewAction(StrEnum):
    """X12 278 HCR01 review action codes, as Da Vinci PAS ClaimResponse carries them."""

    CERTIFIED_IN_TOTAL = "A1"
    CERTIFIED_PARTIAL = "A2"
    NOT_CERTIFIED = "A3"
    PENDED = "A4"
    MODIFIED = "A6"
    CANCELLED = "C"
    CONTACT_PAYER = "CT"
    NO_ACTION_REQUIRED = "NA"


class ReviewPriority(StrEnum):
    """How fast a decision is due: standard or expedited (urgent) review."""

    STANDARD = "standard"
    EXPEDITED = "expedited"


class Program(StrEnum):
    """The rule set whose decision timeframes bind the payer (see `deadlines`)."""

    CMS_0057_F = "cms-0057-f"
    """Medicare Advantage, Medicaid and CHIP (fee-for-service and managed care), CMS-0057-F."""
    MEDICARE_DMEPOS = "medicare-dmepos"
    """Medicare fee-for-service DMEPOS prior authorization (CMS DMEPOS program)."""
    MEDICARE_OPD = "medicare-opd"
    """Medicare hospital outpatient department prior authorization (42 CFR 419.83)."""
    OTHER = "other"
    """Commercial and other plans: timeframes by contract or state law (configure them)."""


C = CaseStatus

REVIEW_ACTION_STATE: Final[dict[ReviewAction, CaseStatus]] = {
    ReviewAction.CERTIFIED_IN_TOTAL: C.APPROVED,
    ReviewAction.CERTIFIED_PARTIAL: C.PARTIALLY_APPROVED,
    ReviewAction.MODIFIED: C.PARTIALLY_APPROVED,
    ReviewAction.NOT_CERTIFIED: C.DENIED,
    ReviewAction.PENDED: C.PENDED,
    ReviewAction.CONTACT_PAYER: C.PENDED,
    ReviewAction.CANCELLED: C.CANCELLED,
    ReviewAction.NO_ACTION_REQUIRED: C.APPROVED,
}
"""The state a decision's review action leads to (A6 "modified" is a partial approval: the
payer approved something other than what was asked; CT "contact payer" waits like A4)."""

STATE_REVIEW_ACTION: Final[dict[CaseStatus, ReviewAction | None]] = {
    C.DRAFT: None,
    C.SUBMITTED: None,
    C.PENDED: ReviewAction.PENDED,
    C.APPROVED: ReviewAction.CERTIFIED_IN_TOTAL,
    C.PARTIALLY_APPROVED: ReviewAction.CERTIFIED_PARTIAL,
    C.DENIED: ReviewAction.NOT_CERTIFIED,
    C.APPEAL: ReviewAction.PENDED,
    C.OVERTURNED: ReviewAction.CERTIFIED_IN_TOTAL,
    C.UPHELD: ReviewAction.NOT_CERTIFIED,
    C.EXPIRED: None,
    C.EXHAUSTED: None,
    C.CANCELLED: ReviewAction.CANCELLED,
    C.ENTERED_IN_ERROR: None,
}
"""The review action a state reports in a PAS ClaimResponse (``None``: no decision)."""


@attrs.frozen
class ServiceLine:
    """One requested service.

    Attributes:
        code: The service (CPT or HCPCS), coded.
        units: Units requested (visits, items, days).
    """

    code: CodeableConcept
    units: int = 1

    def __attrs_post_init__(self) -> None:
        if self.units < 1:
            raise ValidationError.at("ServiceLine.units", "expected at least one unit")


@attrs.frozen
class Decision:
    """A payer's decision on the case.

    Attributes:
        action: The X12 278 review action.
        units: Units approved (``None`` means as requested, or not applicable).
        valid: The period the approval covers.
        reason: The specific reason for a denial or modification (CMS-0057-F).
        reference: The payer's authorization number.
    """

    action: ReviewAction
    units: int | None = None
    valid: Interval | None = None
    reason: CodeableConcept | None = None
    reference: str | None = None


def _lines(value: Iterable[ServiceLine]) -> tuple[ServiceLine, ...]:
    return tuple(value)


@attrs.frozen
class AuthorizationCase:
    """A prior-authorization request and what became of it (PAS Claim/ClaimResponse).

    Change it only by applying events with `AUTHORIZATION_MACHINE`.

    Attributes:
        id: caredomain's id.
        patient: The patient.
        coverage: The coverage it is asked of.
        program: Whose decision timeframes apply.
        priority: Standard or expedited review.
        lines: The services requested.
        state: Where it stands.
        trail: Every event applied.
        submitted_at: When it was (last) submitted to the payer.
        decision: The latest decision.
        units_used: Units consumed by visits since approval.
        appeals: How many appeals were filed.
    """

    id: str
    patient: Reference
    coverage: Reference
    program: Program
    lines: tuple[ServiceLine, ...] = attrs.field(converter=_lines)
    priority: ReviewPriority = ReviewPriority.STANDARD
    state: CaseStatus = CaseStatus.DRAFT
    trail: AuditTrail = attrs.field(factory=AuditTrail)
    submitted_at: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    decision: Decision | None = None
    units_used: int = 0
    appeals: int = 0

    def __attrs_post_init__(self) -> None:
        if self.patient.target != "Patient":
            raise ValidationError.at("AuthorizationCase.patient", "expected a Patient")
        if self.coverage.target != "Coverage":
            raise ValidationError.at("AuthorizationCase.coverage", "expected a Coverage")
        if not self.lines:
            raise ValidationError.at("AuthorizationCase.lines", "expected at least one line")

    @property
    def units_requested(self) -> int:
        """Units asked for, over all lines."""
        return sum(line.units for line in self.lines)

    @property
    def units_authorized(self) -> int | None:
        """Units the latest decision allows (``None``: no decision yet)."""
        if self.decision is None:
            return None
        return self.decision.units if self.decision.units is not None else self.units_requested

    @property
    def units_left(self) -> int | None:
        """Authorized units not yet used (``None`` before an approval)."""
        if self.state not in _USABLE:
            return None
        authorized = self.units_authorized
        return None if authorized is None else max(0, authorized - self.units_used)

    @property
    def status_for_referral(self) -> str:
        """The decision as a referral records it: approved, partial, denied, pended..."""
        return {
            C.APPROVED: "approved",
            C.OVERTURNED: "approved",
            C.PARTIALLY_APPROVED: "partial",
            C.DENIED: "denied",
            C.UPHELD: "denied",
            C.APPEAL: "denied",
            C.PENDED: "pended",
            C.CANCELLED: "cancelled",
        }.get(self.state, "requested")


_USABLE: Final = frozenset({C.APPROVED, C.PARTIALLY_APPROVED, C.OVERTURNED})


# --- events --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CaseSubmitted(DomainEvent):
    """The request went to the payer (PAS Claim, use = preauthorization)."""


@attrs.frozen(kw_only=True)
class InformationRequested(DomainEvent):
    """The payer asked for more information (pended)."""

    reason: CodeableConcept | None = None


@attrs.frozen(kw_only=True)
class InformationProvided(DomainEvent):
    """The requested documents were sent; the clock restarts from here."""


@attrs.frozen(kw_only=True)
class DecisionReceived(DomainEvent):
    """The payer decided (a PAS ClaimResponse).

    Attributes:
        decision: The decision; its review action picks the next state.
    """

    decision: Decision

    def audit_reason(self) -> str | None:
        """The review action code."""
        return self.decision.action.value


@attrs.frozen(kw_only=True)
class AppealFiled(DomainEvent):
    """An appeal of a denial or partial approval.

    Attributes:
        kind: ``reconsideration``, ``peer-to-peer``, ``independent-review``...
    """

    kind: str = "reconsideration"

    def audit_reason(self) -> str | None:
        """The appeal kind."""
        return self.kind


@attrs.frozen(kw_only=True)
class AppealDecided(DomainEvent):
    """The appeal's outcome.

    Attributes:
        decision: A1/A2/A6 overturn the denial; A3 upholds it.
    """

    decision: Decision

    def audit_reason(self) -> str | None:
        """The review action code."""
        return self.decision.action.value


@attrs.frozen(kw_only=True)
class UnitsUsed(DomainEvent):
    """Visits consumed authorized units.

    Attributes:
        units: How many.
    """

    units: int = 1


@attrs.frozen(kw_only=True)
class AuthorizationExpired(DomainEvent):
    """The approval's validity period ended."""


@attrs.frozen(kw_only=True)
class CaseCancelled(DomainEvent):
    """The request was withdrawn (the service is no longer planned)."""


@attrs.frozen(kw_only=True)
class CaseEnteredInError(DomainEvent):
    """The case should never have existed (a correction)."""


# --- guards, choosers and effects ----------------------------------------------------------


def _denial_has_reason(_case: AuthorizationCase, event: DecisionReceived) -> str | None:
    if event.decision.action is ReviewAction.NOT_CERTIFIED and event.decision.reason is None:
        return "a denial must carry a specific reason (CMS-0057-F)"
    return None


def _after_decision(_case: AuthorizationCase, event: DecisionReceived) -> CaseStatus:
    return REVIEW_ACTION_STATE[event.decision.action]


def _after_appeal(_case: AuthorizationCase, event: AppealDecided) -> CaseStatus:
    target = REVIEW_ACTION_STATE[event.decision.action]
    return C.UPHELD if target is C.DENIED else C.OVERTURNED


def _appeal_outcome_known(_case: AuthorizationCase, event: AppealDecided) -> str | None:
    if REVIEW_ACTION_STATE[event.decision.action] in {C.PENDED, C.CANCELLED}:
        return "an appeal decision approves (A1, A2, A6, NA) or upholds (A3)"
    return None


def _submitted(case: AuthorizationCase, event: CaseSubmitted) -> AuthorizationCase:
    return attrs.evolve(case, submitted_at=event.occurred_at)


def _provided(case: AuthorizationCase, event: InformationProvided) -> AuthorizationCase:
    return attrs.evolve(case, submitted_at=event.occurred_at)


def _decided(case: AuthorizationCase, event: DecisionReceived | AppealDecided) -> AuthorizationCase:
    return attrs.evolve(case, decision=event.decision, units_used=0)


def _appealed(case: AuthorizationCase, event: AppealFiled) -> AuthorizationCase:
    return attrs.evolve(case, appeals=case.appeals + 1, submitted_at=event.occurred_at)


def _units_fit(case: AuthorizationCase, event: UnitsUsed) -> str | None:
    left = case.units_left
    if event.units < 1:
        return "expected at least one unit"
    if left is not None and event.units > left:
        return f"{event.units} unit(s) would exceed the {left} authorized unit(s) left"
    valid = case.decision.valid if case.decision is not None else None
    if valid is not None and not valid.contains(event.occurred_at):
        return "the visit falls outside the approval's validity period"
    return None


def _use(case: AuthorizationCase, event: UnitsUsed) -> AuthorizationCase:
    return attrs.evolve(case, units_used=case.units_used + event.units)


def _after_use(case: AuthorizationCase, event: UnitsUsed) -> CaseStatus:
    left = case.units_left
    if left is not None and event.units >= left:
        return C.EXHAUSTED
    return case.state


def _validity_over(case: AuthorizationCase, event: AuthorizationExpired) -> str | None:
    if case.decision is None or case.decision.valid is None:
        return "the approval has no validity period"
    if epoch_us(event.occurred_at) < case.decision.valid.end_us:
        return "the validity period has not ended"
    return None


_OPEN: Final = frozenset({C.DRAFT, C.SUBMITTED, C.PENDED, C.APPEAL})

AUTHORIZATION_MACHINE: Final[Machine[CaseStatus, AuthorizationCase]] = Machine(
    "authorization",
    CaseStatus,
    initial=C.DRAFT,
    terminal={C.EXPIRED, C.EXHAUSTED, C.CANCELLED, C.ENTERED_IN_ERROR},
    transitions=[
        Transition(CaseSubmitted, C.DRAFT, C.SUBMITTED, effect=_submitted),
        Transition(InformationRequested, {C.SUBMITTED, C.APPEAL}, C.PENDED),
        Transition(InformationProvided, C.PENDED, C.SUBMITTED, effect=_provided),
        Transition(
            DecisionReceived,
            {C.SUBMITTED, C.PENDED},
            None,
            guards=[Guard("denial-reason", _denial_has_reason)],
            effect=_decided,
            choose=_after_decision,
            targets={C.APPROVED, C.PARTIALLY_APPROVED, C.DENIED, C.PENDED, C.CANCELLED},
        ),
        Transition(
            AppealFiled, {C.DENIED, C.PARTIALLY_APPROVED, C.UPHELD}, C.APPEAL, effect=_appealed
        ),
        Transition(
            AppealDecided,
            C.APPEAL,
            None,
            guards=[Guard("appeal-outcome", _appeal_outcome_known)],
            effect=_decided,
            choose=_after_appeal,
            targets={C.OVERTURNED, C.UPHELD},
        ),
        *(
            Transition(
                UnitsUsed,
                usable,
                None,
                guards=[Guard("units-left", _units_fit)],
                effect=_use,
                choose=_after_use,
                targets={usable, C.EXHAUSTED},
            )
            for usable in (C.APPROVED, C.PARTIALLY_APPROVED, C.OVERTURNED)
        ),
        Transition(
            AuthorizationExpired,
            _USABLE,
            C.EXPIRED,
            guards=[Guard("validity-ended", _validity_over)],
        ),
        Transition(CaseCancelled, _OPEN | _USABLE, C.CANCELLED),
        Transition(
            CaseEnteredInError,
            frozenset(CaseStatus) - {C.ENTERED_IN_ERROR},
            C.ENTERED_IN_ERROR,
            correction=True,
        ),
    ],
)
"""The prior-authorization case lifecycle (see the module documentation)."""
