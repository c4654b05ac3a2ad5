"""Coded values: ``Coding``, ``CodeableConcept`` and the code-system URIs caredomain uses.

System URIs are the canonical ones from HL7 Terminology (THO, terminology.hl7.org) and the
FHIR R4 specification ("Using Codes in Resources", section 4.1, and the "External code
systems" table). Short names (``"CPT"``, ``"ICD-10-CM"``) as used in caredomain's JSON
inputs resolve to those URIs through `resolve_system`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

import attrs

from caredomain.core.errors import ValidationError

__all__ = [
    "CPT",
    "FHIR_ADMINISTRATIVE_GENDER",
    "FHIR_APPOINTMENT_STATUS",
    "FHIR_CARE_PLAN_STATUS",
    "FHIR_GOAL_ACHIEVEMENT",
    "FHIR_GOAL_STATUS",
    "FHIR_OBSERVATION_CATEGORY",
    "FHIR_REQUEST_PRIORITY",
    "FHIR_SLOT_STATUS",
    "FHIR_TASK_STATUS",
    "HCPCS",
    "ICD_10_CM",
    "LOINC",
    "NPI",
    "NUCC_TAXONOMY",
    "RXNORM",
    "SNOMED_CT",
    "UCUM",
    "X12_SERVICE_TYPE",
    "CodeableConcept",
    "Coding",
    "hl7_v2_table",
    "resolve_system",
]

# External code systems (FHIR R4 "External code systems"; THO CodeSystem pages).
LOINC: Final = "http://loinc.org"
SNOMED_CT: Final = "http://snomed.info/sct"
ICD_10_CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
CPT: Final = "http://www.ama-assn.org/go/cpt"
HCPCS: Final = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
"""HCPCS Level II (OID 2.16.840.1.113883.6.285), THO CodeSystem ``HCPCS-all-codes``."""
UCUM: Final = "http://unitsofmeasure.org"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
NPI: Final = "http://hl7.org/fhir/sid/us-npi"
"""National Provider Identifier, an identifier system (FHIR R4 "Identifier systems")."""
NUCC_TAXONOMY: Final = "http://nucc.org/provider-taxonomy"
"""NUCC Health Care Provider Taxonomy, for practitioner specialties."""
X12_SERVICE_TYPE: Final = "https://codesystem.x12.org/005010/1365"
"""X12 service type codes (used by Da Vinci PAS and eligibility)."""

# FHIR code systems (FHIR R4 value sets bound "required" on the resources caredomain maps).
FHIR_ADMINISTRATIVE_GENDER: Final = "http://hl7.org/fhir/administrative-gender"
FHIR_APPOINTMENT_STATUS: Final = "http://hl7.org/fhir/appointmentstatus"
FHIR_SLOT_STATUS: Final = "http://hl7.org/fhir/slotstatus"
FHIR_TASK_STATUS: Final = "http://hl7.org/fhir/task-status"
FHIR_REQUEST_PRIORITY: Final = "http://hl7.org/fhir/request-priority"
FHIR_CARE_PLAN_STATUS: Final = "http://hl7.org/fhir/request-status"
FHIR_GOAL_STATUS: Final = "http://hl7.org/fhir/goal-status"
FHIR_GOAL_ACHIEVEMENT: Final = "http://terminology.hl7.org/CodeSystem/goal-achievement"
FHIR_OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"

_V2_TABLE_PREFIX: Final = "http://terminology.hl7.org/CodeSystem/v2-"


def hl7_v2_table(number: int) -> str:
    """Return the THO code-system URI of HL7 v2 table ``number``.

    >>> hl7_v2_table(203)
    'http://terminology.hl7.org/CodeSystem/v2-0203'
    """
    if not 0 < number < 10000:
        raise ValidationError.at("table", "expected an HL7 v2 table number from 1 to 9999")
    return f"{_V2_TABLE_PREFIX}{number:04d}"


# Short names accepted in caredomain's JSON inputs (and HL7 v2 table 0396 coding-system
# mnemonics for the same systems), mapped to canonical URIs.
_SYSTEM_ALIASES: Final[dict[str, str]] = {
    "LOINC": LOINC,
    "LN": LOINC,
    "SNOMED": SNOMED_CT,
    "SNOMED-CT": SNOMED_CT,
    "SCT": SNOMED_CT,
    "ICD-10-CM": ICD_10_CM,
    "ICD10CM": ICD_10_CM,
    "I10C": ICD_10_CM,
    # HL7 table 0396: I10 is WHO ICD-10, not ICD-10-CM. Older US senders often mean
    # ICD-10-CM by it; caredomain reads the table's meaning (rewrite it in the interface
    # engine for such a sender).
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "I10P": "http://www.cms.gov/Medicare/Coding/ICD10",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "CVX": "http://hl7.org/fhir/sid/cvx",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "CPT": CPT,
    "C4": CPT,
    "HCPCS": HCPCS,
    "HCPT": HCPCS,
    "UCUM": UCUM,
    "RXNORM": RXNORM,
    "NPI": NPI,
}


def resolve_system(name: str) -> str:
    """Return the canonical URI for a code-system short name or URI.

    Short names are case-insensitive (``"cpt"``, ``"ICD-10-CM"``, HL7 v2 table 0396
    mnemonics such as ``"LN"``); a value that already looks like a URI or OID is returned
    unchanged.

    Raises:
        ValidationError: The name is neither a known short name nor a URI.
    """
    if name.startswith(("http://", "https://", "urn:")):
        return name
    try:
        return _SYSTEM_ALIASES[name.upper()]
    except KeyError:
        known = ", ".join(sorted(_SYSTEM_ALIASES))
        raise ValidationError.at(
            "system", f"expected a code-system URI or one of: {known}"
        ) from None


def _nonempty(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or value != value.strip():
        raise ValidationError.at(
            attribute.name, "expected a non-empty string without surrounding spaces"
        )


@attrs.frozen
class Coding:
    """A code from a code system, as FHIR's ``Coding``.

    Two codings are equal, and hash alike, when their ``system`` and ``code`` are; the
    ``display`` text and ``version`` are carried but do not take part in equality.

    Attributes:
        system: The code system's canonical URI (see the constants in this module).
        code: The code, exactly as the system defines it (case matters).
        display: Human-readable text, if known.
        version: The code system version, if it matters.
    """

    system: str = attrs.field(validator=_nonempty)
    code: str = attrs.field(validator=_nonempty)
    display: str | None = attrs.field(default=None, eq=False)
    version: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def of(cls, system: str, code: str, display: str | None = None) -> Coding:
        """Build a coding, resolving a short system name (``"CPT"``) to its URI."""
        return cls(resolve_system(system), code, display)

    def __str__(self) -> str:
        return f"{self.system}|{self.code}"


def _to_codings(value: Iterable[Coding]) -> tuple[Coding, ...]:
    return tuple(value)


@attrs.frozen
class CodeableConcept:
    """A concept expressed by one or more codings (as FHIR's ``CodeableConcept``).

    Attributes:
        codings: The codings, in the sender's order; usually one per code system.
        text: The concept as the user saw or typed it.
    """

    codings: tuple[Coding, ...] = attrs.field(default=(), converter=_to_codings)
    text: str | None = None

    @classmethod
    def of(cls, system: str, code: str, display: str | None = None) -> CodeableConcept:
        """Build a concept from one coding (system short names are resolved)."""
        return cls((Coding.of(system, code, display),))

    def __iter__(self) -> Iterator[Coding]:
        return iter(self.codings)

    def __contains__(self, coding: object) -> bool:
        return coding in self.codings

    def has(self, system: str, code: str) -> bool:
        """Whether any coding has this system (URI or short name) and code."""
        return Coding(resolve_system(system), code) in self.codings

    def code_in(self, system: str) -> str | None:
        """The first code from ``system`` (URI or short name), or ``None``."""
        uri = resolve_system(system)
        return next((c.code for c in self.codings if c.system == uri), None)

    def matches(self, other: CodeableConcept) -> bool:
        """Whether the two concepts share at least one coding (by system and code)."""
        return not set(self.codings).isdisjoint(other.codings)
