"""The referral: who is sent where, why, with which documents, and where the loop stands."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

import attrs
from pendulum import DateTime

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ValidationError
from caredomain.core.events import AuditTrail
from caredomain.core.identity import Identifier, Reference
from caredomain.core.time import Interval, check_aware, instant_key, to_datetime

__all__ = [
    "AuthorizationLink",
    "DocumentKind",
    "Referral",
    "ReferralCategory",
    "ReferralPriority",
    "ReferralStatus",
    "ReferralTarget",
]


class ReferralStatus(StrEnum):
    """Where a referral stands in its closed loop (see `REFERRAL_MACHINE`).

    The names follow the 360X closed-loop referral and BSeR harmonized business statuses;
    `caredomain.referrals.mappings` maps each to FHIR ``Task.status`` and
    ``Task.businessStatus``, ``ServiceRequest.status`` and HL7 v2 RF1-1.
    """

    DRAFT = "draft"
    SENT = "sent"
    RECEIVED = "received"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    AWAITING_AUTHORIZATION = "awaiting-authorization"
    SCHEDULED = "scheduled"
    VISIT_CANCELLED = "visit-cancelled"
    NO_SHOW = "no-show"
    SEEN = "seen"
    REPORT_RECEIVED = "report-received"
    CLOSED = "closed"
    CANCEL_REQUESTED = "cancel-requested"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    ON_HOLD = "on-hold"
    ENTERED_IN_ERROR = "entered-in-error"


class ReferralPriority(StrEnum):
    """FHIR R4 ``request-priority`` (``ServiceRequest.priority``)."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ASAP = "asap"
    STAT = "stat"


class ReferralCategory(StrEnum):
    """Clinical referral, or a social-care referral to a community service (Gravity SDOH)."""

    CLINICAL = "clinical"
    SOCIAL_CARE = "social-care"


class DocumentKind(StrEnum):
    """The clinical documents a referral package carries (the coordinator's checklist)."""

    NOTES = "clinical-notes"
    LABS = "lab-results"
    IMAGING = "imaging"
    MEDICATIONS = "medication-list"
    ALLERGIES = "allergies"
    PROBLEMS = "problem-list"


@attrs.frozen
class ReferralTarget:
    """Where the referral goes: a specialty, a practitioner, an organization or a service.

    Attributes:
        specialty: The specialty asked for (e.g. NUCC taxonomy or SNOMED CT).
        performer: A specific Practitioner, PractitionerRole, Organization or
            HealthcareService (a community service).
        in_network: Whether the performer is in the referring network (for leakage), if known.
    """

    specialty: CodeableConcept | None = None
    performer: Reference | None = None
    in_network: bool | None = None

    def __attrs_post_init__(self) -> None:
        if self.specialty is None and self.performer is None:
            raise ValidationError.at("ReferralTarget", "expected a specialty, a performer, or both")
        allowed = {"Practitioner", "PractitionerRole", "Organization", "HealthcareService"}
        if self.performer is not None and self.performer.target not in allowed:
            raise ValidationError.at(
                "ReferralTarget.performer", f"expected a reference to one of {sorted(allowed)}"
            )


@attrs.frozen
class AuthorizationLink:
    """The prior authorization a referral depends on, as last reported to it.

    Attributes:
        case: The authorization case's id.
        status: Its latest decision as reported (``approved``, ``denied``, ``pended``,
            ``partial``, ``cancelled``), or ``requested`` before any decision.
    """

    case: str
    status: str = "requested"


def _documents(value: Iterable[DocumentKind]) -> frozenset[DocumentKind]:
    return frozenset(DocumentKind(v) for v in value)


def _concepts(value: Iterable[CodeableConcept]) -> tuple[CodeableConcept, ...]:
    return tuple(value)


def _refs(value: Iterable[Reference]) -> tuple[Reference, ...]:
    return tuple(value)


APPROVED: Final = "approved"
"""The authorization status that releases the scheduling guard."""


@attrs.frozen
class Referral:
    """A referral and its closed loop (FHIR ``ServiceRequest`` + ``Task``).

    Change it only by applying events with `REFERRAL_MACHINE`, so that every change is
    checked and recorded in ``trail``.

    Attributes:
        id: caredomain's id.
        patient: The patient.
        requester: The referring practitioner or organization.
        target: Where it goes.
        category: Clinical or social care.
        priority: FHIR request priority.
        reasons: Why (conditions, findings), coded.
        services: The services requested, coded.
        placer_id: The referring side's identifier (HL7 v2 RF1-6 / 360X placer).
        filler_id: The receiving side's identifier, once known.
        documents_required: The documents the package must carry.
        documents_sent: Those sent so far.
        authorization_required: Whether the payer requires prior authorization.
        authorization: The authorization case and its latest known status.
        appointment: The booked appointment's id, if any.
        visit_at: When the booked visit starts.
        outcome_documents: The specialist's report or the community organization's outcome.
        validity: When the referral is valid; it expires at the end.
        state: Where the loop stands.
        trail: Every event applied.
        held_from: The state the referral was in when put on hold.
        decline_reason: Why the recipient declined.
        closure_reason: A coded reason when closed without an outcome document.
        seen_at: When the patient was seen.
    """

    id: str
    patient: Reference
    requester: Reference
    target: ReferralTarget
    category: ReferralCategory = ReferralCategory.CLINICAL
    priority: ReferralPriority = ReferralPriority.ROUTINE
    reasons: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    services: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    placer_id: Identifier | None = None
    filler_id: Identifier | None = None
    documents_required: frozenset[DocumentKind] = attrs.field(
        factory=frozenset, converter=_documents
    )
    documents_sent: frozenset[DocumentKind] = attrs.field(factory=frozenset, converter=_documents)
    authorization_required: bool = False
    authorization: AuthorizationLink | None = None
    appointment: str | None = None
    visit_at: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    outcome_documents: tuple[Reference, ...] = attrs.field(default=(), converter=_refs)
    validity: Interval | None = None
    state: ReferralStatus = ReferralStatus.DRAFT
    trail: AuditTrail = attrs.field(factory=AuditTrail)
    held_from: ReferralStatus | None = None
    decline_reason: CodeableConcept | None = None
    closure_reason: CodeableConcept | None = None
    seen_at: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )

    def __attrs_post_init__(self) -> None:
        if self.patient.target != "Patient":
            raise ValidationError.at("Referral.patient", "expected a reference to a Patient")
        if self.requester.target not in {"Practitioner", "PractitionerRole", "Organization"}:
            raise ValidationError.at(
                "Referral.requester", "expected a Practitioner, PractitionerRole or Organization"
            )

    @property
    def documents_missing(self) -> frozenset[DocumentKind]:
        """Required documents not sent yet."""
        return self.documents_required - self.documents_sent

    @property
    def authorized(self) -> bool:
        """Whether scheduling may proceed as far as authorization is concerned."""
        if not self.authorization_required:
            return True
        return self.authorization is not None and self.authorization.status == APPROVED
