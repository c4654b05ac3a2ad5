"""Parties: the people and organizations care coordination is about, kept lean.

Each type holds the minimum coordination needs and maps to one FHIR R4 resource (Patient,
Practitioner, Organization, Location, Coverage). Fields that identify a patient (names,
birth date, contact details, addresses, identifiers) are left out of ``repr`` so that a
traceback or a log line of a value does not leak them.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Final

import attrs
from pendulum import Date

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier, Reference
from caredomain.core.time import Interval, to_date, validate_timezone

__all__ = [
    "Address",
    "AdministrativeGender",
    "ContactPoint",
    "ContactPointSystem",
    "Coverage",
    "HumanName",
    "LineOfBusiness",
    "Location",
    "Organization",
    "Patient",
    "Practitioner",
    "age_on",
]


def _tuple(value: Iterable[object]) -> tuple[object, ...]:
    if isinstance(value, str | bytes):
        raise ValidationError.at("sequence", "expected a sequence of values, not a string")
    return tuple(value)


_FHIR_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # FHIR R4 id datatype


def _check_id(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or _FHIR_ID.fullmatch(value) is None:
        raise ValidationError.at(
            f"{type(instance).__name__}.{attribute.name}",
            "expected 1-64 characters of A-Z, a-z, 0-9, '-' or '.' (FHIR id)",
        )


def _check_tz(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        validate_timezone(value, f"{type(instance).__name__}.{attribute.name}")


def age_on(birth_date: _dt.date, day: _dt.date) -> int:
    """Completed years of age on ``day`` for someone born on ``birth_date``.

    A birthday on 29 February counts as reached on 1 March in common years.
    """
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


class AdministrativeGender(StrEnum):
    """FHIR R4 ``administrative-gender`` (required binding on Patient.gender)."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class ContactPointSystem(StrEnum):
    """FHIR R4 ``contact-point-system``."""

    PHONE = "phone"
    FAX = "fax"
    EMAIL = "email"
    PAGER = "pager"
    URL = "url"
    SMS = "sms"
    OTHER = "other"


@attrs.frozen
class HumanName:
    """A person's name (FHIR ``HumanName``, HL7 v2 ``XPN``). Never in errors or ``repr``.

    Attributes:
        family: Family name (surname).
        given: Given names, in order.
        prefix: Prefixes such as ``"Dr."``.
        suffix: Suffixes such as ``"Jr."``.
        use: FHIR ``name-use`` (``usual``, ``official``, ``nickname``...), if known.
    """

    family: str | None = attrs.field(default=None, repr=False)
    given: tuple[str, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    prefix: tuple[str, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    suffix: tuple[str, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    use: str | None = None

    def __str__(self) -> str:
        return " ".join(
            [*self.prefix, *self.given, *([self.family] if self.family else []), *self.suffix]
        )


@attrs.frozen
class ContactPoint:
    """A way to reach someone (FHIR ``ContactPoint``, HL7 v2 ``XTN``).

    Attributes:
        system: Phone, SMS, email...
        value: The number or address. Never in errors or ``repr``.
        use: FHIR ``contact-point-use`` (``home``, ``work``, ``mobile``...).
        rank: Preference order, 1 = most preferred.
    """

    system: ContactPointSystem
    value: str = attrs.field(repr=False)
    use: str | None = None
    rank: int | None = None


@attrs.frozen
class Address:
    """A postal address (FHIR ``Address``, HL7 v2 ``XAD``). Never in errors or ``repr``.

    Attributes:
        lines: Street lines.
        city: City.
        state: State or province (two-letter USPS code in the US).
        postal_code: ZIP or postal code.
        country: ISO 3166 country code.
        use: FHIR ``address-use`` (``home``, ``work``, ``temp``...).
    """

    lines: tuple[str, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    city: str | None = attrs.field(default=None, repr=False)
    state: str | None = None
    postal_code: str | None = attrs.field(default=None, repr=False)
    country: str | None = None
    use: str | None = None


@attrs.frozen
class Patient:
    """The person whose care is being coordinated (FHIR ``Patient``).

    Attributes:
        id: caredomain's id (also the FHIR logical id).
        identifiers: MRNs, member ids and other business identifiers.
        names: Names, the first being the one to use.
        birth_date: Date of birth.
        sex: Administrative gender (FHIR ``Patient.gender``).
        telecom: Phones and emails, for reminders.
        addresses: Postal addresses, for transport and home visits.
        language: Preferred language as a BCP 47 tag (``"es"``, ``"en-US"``).
        timezone: IANA zone to schedule reminders and quiet hours in.
    """

    id: str = attrs.field(validator=_check_id)
    identifiers: tuple[Identifier, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    names: tuple[HumanName, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    birth_date: Date | None = attrs.field(
        default=None, converter=attrs.converters.optional(to_date), repr=False
    )
    sex: AdministrativeGender | None = None
    telecom: tuple[ContactPoint, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    addresses: tuple[Address, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    language: str | None = None
    timezone: str | None = attrs.field(default=None, validator=_check_tz)

    def age_on(self, day: _dt.date) -> int | None:
        """Completed years of age on ``day``, or ``None`` without a birth date."""
        return None if self.birth_date is None else age_on(self.birth_date, day)


@attrs.frozen
class Practitioner:
    """A clinician (FHIR ``Practitioner``; specialties as on ``PractitionerRole``).

    Attributes:
        id: caredomain's id.
        identifiers: NPI and other identifiers.
        names: Names.
        specialties: Specialties, coded (NUCC taxonomy or SNOMED CT).
        telecom: Contact points.
    """

    id: str = attrs.field(validator=_check_id)
    identifiers: tuple[Identifier, ...] = attrs.field(default=(), converter=_tuple)
    names: tuple[HumanName, ...] = attrs.field(default=(), converter=_tuple)
    specialties: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_tuple)
    telecom: tuple[ContactPoint, ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen
class Organization:
    """A clinic, hospital, payer or community organization (FHIR ``Organization``).

    Attributes:
        id: caredomain's id.
        name: Display name.
        identifiers: NPI, tax id, payer id.
        kind: FHIR ``organization-type`` (``prov``, ``pay``, ``cg``...), as a concept.
        telecom: Contact points.
        addresses: Addresses.
    """

    id: str = attrs.field(validator=_check_id)
    name: str
    identifiers: tuple[Identifier, ...] = attrs.field(default=(), converter=_tuple)
    kind: CodeableConcept | None = None
    telecom: tuple[ContactPoint, ...] = attrs.field(default=(), converter=_tuple)
    addresses: tuple[Address, ...] = attrs.field(default=(), converter=_tuple)


@attrs.frozen
class Location:
    """A place care happens: a clinic site, a room, an imaging suite (FHIR ``Location``).

    Attributes:
        id: caredomain's id.
        name: Display name.
        timezone: IANA zone of the place; calendars at this location run in it.
        address: Postal address.
        kind: FHIR ``ServiceDeliveryLocationRoleType`` or similar, as a concept.
        managing_organization: The organization responsible for it.
    """

    id: str = attrs.field(validator=_check_id)
    name: str
    timezone: str = attrs.field(validator=_check_tz)
    address: Address | None = None
    kind: CodeableConcept | None = None
    managing_organization: Reference | None = None


class LineOfBusiness(StrEnum):
    """The kind of health plan, which decides the prior-authorization rules that bind it.

    CMS-0057-F (89 FR 8758) binds Medicare Advantage, Medicaid and CHIP (fee-for-service
    and managed care) to its decision timeframes, but not QHP issuers on the federal
    exchanges; Medicare fee-for-service follows its own program rules (e.g. DMEPOS).
    """

    MEDICARE_FFS = "medicare-ffs"
    MEDICARE_ADVANTAGE = "medicare-advantage"
    MEDICAID_FFS = "medicaid-ffs"
    MEDICAID_MANAGED_CARE = "medicaid-managed-care"
    CHIP_FFS = "chip-ffs"
    CHIP_MANAGED_CARE = "chip-managed-care"
    QHP_FFE = "qhp-ffe"
    COMMERCIAL = "commercial"
    OTHER = "other"


@attrs.frozen
class Coverage:
    """A patient's insurance (FHIR ``Coverage``).

    Attributes:
        id: caredomain's id.
        beneficiary: The covered patient.
        payer: The insurer (an Organization reference).
        plan: The plan's name or code as the payer knows it.
        member_id: The subscriber/member id (an identifier: never in errors or ``repr``).
        line_of_business: Medicare, Medicare Advantage, Medicaid...
        period: When the coverage is in force, if known.
    """

    id: str = attrs.field(validator=_check_id)
    beneficiary: Reference
    payer: Reference
    plan: str
    member_id: Identifier = attrs.field(repr=False)
    line_of_business: LineOfBusiness
    period: Interval | None = None

    def __attrs_post_init__(self) -> None:
        if self.beneficiary.target != "Patient":
            raise ValidationError.at("Coverage.beneficiary", "expected a reference to a Patient")
        if self.payer.target != "Organization":
            raise ValidationError.at("Coverage.payer", "expected a reference to an Organization")
