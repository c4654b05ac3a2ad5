"""Encounters: a patient's stay or visit, as admission/discharge feeds report it.

An `Encounter` is what an HL7 v2 ADT message (PV1/PV2) describes and what FHIR's Encounter
resource holds: who, what class of care, when admitted and discharged, and where the patient
went afterwards. A discharge is the trigger for transitional care (CMS TCM, CPT 99495/99496),
so the discharge time and disposition are first-class here.

Vocabularies:

- ``status``: FHIR R4 ``encounter-status`` (http://hl7.org/fhir/encounter-status); R5
  renamed ``finished`` to ``completed`` and ``onleave`` to ``on-hold`` and added
  ``discharged``: the FHIR adapter translates.
- ``encounter_class``: HL7 v3 ActCode (``IMP``, ``AMB``, ``EMER``...), FHIR R4's
  ``Encounter.class`` binding (http://terminology.hl7.org/ValueSet/v3-ActEncounterCode).
- ``discharge_disposition``: HL7 v2 table 0112 or the FHIR ``discharge-disposition`` codes;
  ``admit_source``: HL7 v2 table 0023 or FHIR ``admit-source``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

import attrs
from pendulum import DateTime

from caredomain.core.codes import CodeableConcept, Coding
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier, Reference
from caredomain.core.parties import _check_id, _tuple
from caredomain.core.time import check_aware, instant_key, to_datetime

__all__ = [
    "ACT_CODE",
    "ENCOUNTER_CLASSES",
    "Encounter",
    "EncounterParticipant",
    "EncounterStatus",
]

ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
"""The HL7 v3 ActCode code system, which FHIR R4's ``Encounter.class`` draws from."""

ENCOUNTER_CLASSES: Final[dict[str, str]] = {
    "AMB": "ambulatory",
    "EMER": "emergency",
    "FLD": "field",
    "HH": "home health",
    "IMP": "inpatient encounter",
    "ACUTE": "inpatient acute",
    "NONAC": "inpatient non-acute",
    "OBSENC": "observation encounter",
    "PRENC": "pre-admission",
    "SS": "short stay",
    "VR": "virtual",
}
"""The v3-ActEncounterCode value set (FHIR R4 ``Encounter.class``): code -> display."""


class EncounterStatus(StrEnum):
    """FHIR R4 ``encounter-status``."""

    PLANNED = "planned"
    ARRIVED = "arrived"
    TRIAGED = "triaged"
    IN_PROGRESS = "in-progress"
    ON_LEAVE = "onleave"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"


def _check_class(_inst: object, _attribute: attrs.Attribute[Coding], value: Coding) -> None:
    if value.system == ACT_CODE and value.code not in ENCOUNTER_CLASSES:
        raise ValidationError.at(
            "Encounter.encounter_class",
            f"expected a v3-ActEncounterCode code ({', '.join(sorted(ENCOUNTER_CLASSES))})",
        )


@attrs.frozen
class EncounterParticipant:
    """Someone taking part in an encounter in a role.

    Attributes:
        actor: The practitioner (or related person) taking part.
        role: Their role, usually HL7 v3 ParticipationType (``ATND`` attending, ``ADM``
            admitter, ``REF`` referrer, ``CON`` consultant).
    """

    actor: Reference
    role: CodeableConcept | None = None


def _participants(value: Iterable[EncounterParticipant]) -> tuple[EncounterParticipant, ...]:
    return tuple(value)


def _concepts(value: Iterable[CodeableConcept]) -> tuple[CodeableConcept, ...]:
    return _tuple(value)  # type: ignore[return-value]


def _identifiers(value: Iterable[Identifier]) -> tuple[Identifier, ...]:
    return _tuple(value)  # type: ignore[return-value]


@attrs.frozen
class Encounter:
    """A patient's stay or visit (FHIR ``Encounter``; HL7 v2 PV1/PV2).

    Attributes:
        id: The encounter's id (FHIR id syntax).
        patient: Who the encounter is for.
        status: FHIR R4 encounter status.
        encounter_class: Class of care, a v3 ActCode `Coding` (``IMP`` inpatient...).
        identifiers: Visit or account numbers (PV1-19).
        service_type: The hospital service (PV1-10, HL7 v2 table 0069).
        admitted_at: Admission time (PV1-44), aware.
        discharged_at: Discharge time (PV1-45), aware; set once the patient has left.
        admit_source: Where the patient came from (PV1-14, table 0023).
        discharge_disposition: Where the patient went (PV1-36, table 0112): home, skilled
            nursing, home health... — it decides the transitional-care path.
        reasons: Why the patient was admitted (PV2-3, DG1 admitting diagnoses).
        participants: Attending, admitting, referring and consulting practitioners.
        location: The assigned location (PV1-3), when it is a known `Location`.
        service_provider: The organization responsible (the facility).
    """

    id: str = attrs.field(validator=_check_id)
    patient: Reference
    status: EncounterStatus = EncounterStatus.UNKNOWN
    encounter_class: Coding = attrs.field(
        factory=lambda: Coding(ACT_CODE, "AMB", "ambulatory"), validator=_check_class
    )
    identifiers: tuple[Identifier, ...] = attrs.field(
        default=(), converter=_identifiers, repr=False
    )
    service_type: CodeableConcept | None = None
    admitted_at: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    discharged_at: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    admit_source: CodeableConcept | None = None
    discharge_disposition: CodeableConcept | None = None
    reasons: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    participants: tuple[EncounterParticipant, ...] = attrs.field(
        default=(), converter=_participants
    )
    location: Reference | None = None
    service_provider: Reference | None = None

    def __attrs_post_init__(self) -> None:
        if (
            self.admitted_at is not None
            and self.discharged_at is not None
            and self.discharged_at < self.admitted_at
        ):
            raise ValidationError.at(
                "Encounter.discharged_at", "expected a discharge at or after the admission"
            )

    @property
    def inpatient(self) -> bool:
        """Whether this is an inpatient stay (ActCode ``IMP``, ``ACUTE`` or ``NONAC``).

        ``ACUTE`` and ``NONAC`` specialize ``IMP`` in the v3-ActEncounterCode hierarchy.
        """
        coding = self.encounter_class
        return coding.system == ACT_CODE and coding.code in {"IMP", "ACUTE", "NONAC"}

    @property
    def discharged(self) -> bool:
        """Whether the patient has been discharged (a discharge time is known)."""
        return self.discharged_at is not None

    def length_of_stay_days(self) -> int | None:
        """Whole days from admission to discharge, None until both are known.

        Counted by calendar date in the admission's own offset, as LACE's "L" counts them.
        """
        if self.admitted_at is None or self.discharged_at is None:
            return None
        end = self.discharged_at.in_timezone(self.admitted_at.timezone or "UTC")
        return (end.date() - self.admitted_at.date()).days
