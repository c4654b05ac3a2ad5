"""Community-resource navigation: a directory of community services and ranked matching.

A `ServiceDirectory` holds `CommunityService`s (rides to treatment, financial-assistance
funds, support groups, food pantries, home care) and answers "what can this patient use for
this need?" with `ServiceDirectory.match`: every candidate, ranked, each with the reasons it
matched or did not. Social-care referrals to these services then run on the same referral
machine as clinical ones.

Rules of this module:

1. Pure and sans-IO. Nothing here reads a file, a socket or the clock: `from_toml` takes
   text, `match` takes the date to judge on (ages are computed on it).
2. Index, don't scan. The directory keeps services by category and by ZIP code, county and
   state; `match` intersects those sets instead of walking every service.
3. A service is a candidate when the need's category is among its categories or service
   types and its service area is not known to exclude the patient. Every candidate appears
   once in the result.
4. Eligibility criteria (service area, age, income, condition, coverage) decide `eligible`.
   An unknown fact is `unknown`, never `not-met`: it does not exclude a service, it ranks it
   below the confirmed ones and becomes a question to ask the patient (`Match.questions`).
5. Preferences (language, proximity, open on the day needed) and capacity only rank.
6. Order: eligible before ineligible; then fewer criteria not met; then fewer unknown
   criteria; then the higher `Match.score`; then name and id. For a routine need the score
   puts preferences met before capacity; for an `urgent`, `asap` or `stat` need (FHIR
   `request-priority`) capacity comes first.
7. Explanations are criterion-level and built from the service's data only ("age within the
   service's range (18 and over)"); no reason and no error ever holds the patient's age,
   income, diagnoses, ZIP code or language.

Codes. Categories are the Gravity Project SDOH domains of the HL7 SDOH Clinical Care IG
(`SDOHCC ValueSet SDOH Category`, STU 2.3 and STU 3, drawn from the code system
`SDOHCC-CodeSystemTemporaryCodes`). Service types are THO `service-type` codes
(HealthcareService.type): 230 Patient Transport, 548 Food Relief/Food/Meals and 8 Home
Care/Housekeeping Assistance appear in the HL7 Human Services Directory IG's Human Service
Type value set, 224 Support groups in the SDOH Clinical Care IG's HealthcareService type value
set of the STU 3 ballot. Capacity maps to the SDOH Clinical Care IG's capacity-status codes
(`capacity`, `no-capacity-has-waitlist`, `no-capacity`; new in STU 3, status draft).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, TypeVar

import attrs
from pendulum import Date

from caredomain.core.codes import Coding
from caredomain.core.errors import RuleError, ValidationError
from caredomain.core.identity import Reference
from caredomain.core.parties import (
    Address,
    ContactPoint,
    ContactPointSystem,
    LineOfBusiness,
    Organization,
    Patient,
)
from caredomain.core.time import ensure_aware, to_date, validate_timezone
from caredomain.core.tomlfile import TomlDocument, load_toml

__all__ = [
    "FHIR_SERVICE_TYPE",
    "SDOHCC_TEMPORARY_CODES",
    "SDOH_CATEGORIES",
    "CapacityStatus",
    "CommunityService",
    "Criterion",
    "CriterionStatus",
    "Delivery",
    "Eligibility",
    "Match",
    "Need",
    "OpeningHours",
    "OpeningPeriod",
    "Place",
    "Reason",
    "ServiceArea",
    "ServiceDirectory",
    "assess",
    "sdoh_category",
]

T = TypeVar("T")

# --- codes -----------------------------------------------------------------------------

SDOHCC_TEMPORARY_CODES: Final = (
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
)
"""The HL7 SDOH Clinical Care IG's code system for the Gravity Project SDOH domains."""

FHIR_SERVICE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/service-type"
"""THO ``service-type`` (HealthcareService.type), used by the SDOH Clinical Care IG."""

# Source: HL7 SDOH Clinical Care IG, ValueSet SDOHCC-ValueSetSDOHCategory (STU 2.3.0 adds
# incarceration-status and language-access; STU 3 adds protective-factor, left out here
# because no one is referred to a service for a protective factor), codes and displays
# from CodeSystem SDOHCC-CodeSystemTemporaryCodes (HL7/fhir-sdoh-clinicalcare, input/fsh).
SDOH_CATEGORIES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sdoh-category-unspecified": "SDOH Category Unspecified",
        "food-insecurity": "Food Insecurity",
        "housing-instability": "Housing Instability",
        "homelessness": "Homelessness",
        "inadequate-housing": "Inadequate Housing",
        "transportation-insecurity": "Transportation Insecurity",
        "financial-insecurity": "Financial Insecurity",
        "material-hardship": "Material Hardship",
        "educational-attainment": "Educational Attainment",
        "employment-status": "Employment Status",
        "veteran-status": "Veteran Status",
        "stress": "Stress",
        "social-connection": "Social Connection",
        "intimate-partner-violence": "Intimate Partner Violence",
        "elder-abuse": "Elder Abuse",
        "personal-health-literacy": "Personal Health Literacy",
        "health-insurance-coverage-status": "Health Insurance Coverage Status",
        "medical-cost-burden": "Medical Cost Burden",
        "digital-literacy": "Digital Literacy",
        "digital-access": "Digital Access",
        "utility-insecurity": "Utility Insecurity",
        "incarceration-status": "Incarceration Status",
        "language-access": "Language Access",
    }
)
"""Gravity Project SDOH domain codes (``SDOHCC_TEMPORARY_CODES``) and their displays."""

# THO service-type codes confirmed in value sets of the HL7 Human Services Directory IG
# (HumanServiceType: 8, 230, 344, 548) and of the SDOH Clinical Care IG STU 3 ballot
# (SDOHCC-ValueSetHealthcareServiceType: 224); other codes are accepted without a display.
_SERVICE_TYPE_DISPLAY: Final[Mapping[str, str]] = MappingProxyType(
    {
        "8": "Home Care/Housekeeping Assistance",
        "224": "Support groups",
        "230": "Patient Transport",
        "344": "Food",
        "548": "Food Relief/Food/Meals",
    }
)


def sdoh_category(code: str) -> Coding:
    """The Gravity Project SDOH domain ``code`` as a `Coding` with its display.

    >>> sdoh_category("transportation-insecurity").display
    'Transportation Insecurity'

    Raises:
        ValidationError: ``code`` is not one of `SDOH_CATEGORIES`.
    """
    display = SDOH_CATEGORIES.get(code) if isinstance(code, str) else None
    if display is None:
        raise ValidationError.at(
            "category", "expected a Gravity Project SDOH domain code such as food-insecurity"
        )
    return Coding(SDOHCC_TEMPORARY_CODES, code, display)


# --- small validators ------------------------------------------------------------------

_ZIP = re.compile(r"^(\d{5})(?:-\d{4})?$")
_FIPS_COUNTY = re.compile(r"^\d{5}$")
_STATE = re.compile(r"^[A-Z]{2}$")
_BCP47 = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_ICD10CM_CODE = re.compile(r"^[A-Z][0-9][0-9A-Z](?:[0-9A-Z]{1,4})?$")
_ICD10CM_PREFIX = re.compile(r"^[A-Z][0-9A-Z]{0,6}$")
_SERVICE_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _icd(code: str) -> str:
    """An ICD-10-CM code or prefix without its dot, in upper case (``c50.911`` -> ``C50911``)."""
    return code.replace(".", "").strip().upper()


def _zip(value: str | None) -> str | None:
    if value is None:
        return None
    found = _ZIP.match(value) if isinstance(value, str) else None
    if found is None:
        raise ValidationError.at("zip_code", "expected a 5-digit ZIP code (or ZIP+4)")
    return found.group(1)


def _zips(value: Iterable[str]) -> frozenset[str]:
    return frozenset(str(_zip(v)) for v in _strings(value, "zip_codes"))


def _county(value: str | None) -> str | None:
    if value is not None and not (isinstance(value, str) and _FIPS_COUNTY.match(value)):
        raise ValidationError.at("county", "expected a 5-digit county FIPS code such as 17031")
    return value


def _counties(value: Iterable[str]) -> frozenset[str]:
    return frozenset(str(_county(v)) for v in _strings(value, "counties"))


def _state(value: str | None) -> str | None:
    if value is not None and not (isinstance(value, str) and _STATE.match(value)):
        raise ValidationError.at("state", "expected a two-letter USPS state code such as IL")
    return value


def _states(value: Iterable[str]) -> frozenset[str]:
    return frozenset(str(_state(v)) for v in _strings(value, "states"))


def _language(value: str | None) -> str | None:
    if value is not None and not (isinstance(value, str) and _BCP47.match(value)):
        raise ValidationError.at("language", "expected a BCP 47 language tag such as es or en-US")
    return value


def _languages(value: Iterable[str]) -> frozenset[str]:
    return frozenset(str(_language(v)) for v in _strings(value, "languages"))


def _primary(tag: str) -> str:
    """The primary language subtag, lower-cased: ``es-MX`` -> ``es``."""
    return tag.split("-", 1)[0].lower()


def _strings(value: Iterable[T], name: str) -> tuple[T, ...]:
    if isinstance(value, str | bytes):
        raise ValidationError.at(name, "expected a list of strings, not a string")
    return tuple(value)


def _lines(value: Iterable[LineOfBusiness | str]) -> frozenset[LineOfBusiness]:
    try:
        return frozenset(LineOfBusiness(v) for v in _strings(value, "coverage"))
    except ValueError:
        known = ", ".join(lob.value for lob in LineOfBusiness)
        raise ValidationError.at("coverage", f"expected lines of business from: {known}") from None


def _optional_lines(
    value: Iterable[LineOfBusiness | str] | None,
) -> frozenset[LineOfBusiness] | None:
    return None if value is None else _lines(value)


def _prefixes(value: Iterable[str]) -> frozenset[str]:
    prefixes = frozenset(_icd(v) for v in _strings(value, "conditions"))
    if not all(_ICD10CM_PREFIX.match(p) for p in prefixes):
        raise ValidationError.at(
            "conditions", "expected ICD-10-CM codes or prefixes such as C or D0"
        )
    return prefixes


def _diagnoses(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    codes = frozenset(_strings(value, "diagnoses"))
    if not all(_ICD10CM_CODE.match(_icd(c)) for c in codes):
        raise ValidationError.at("Need.diagnoses", "expected ICD-10-CM codes such as C50.911")
    return codes


def _whole(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValidationError.at(name, "expected a non-negative whole number")


def _optional_date(value: _dt.date | None) -> Date | None:
    return None if value is None else to_date(value)


# --- places and service areas ----------------------------------------------------------


@attrs.frozen
class Place:
    """Where a patient lives or a service is sited, at the grain directories use.

    Attributes:
        zip_code: 5-digit ZIP code (a ZIP+4 is cut to its first five digits).
        county: 5-digit county FIPS code (``17031`` is Cook County, Illinois).
        state: Two-letter USPS state code.
    """

    zip_code: str | None = attrs.field(default=None, converter=_zip, repr=False)
    county: str | None = attrs.field(default=None, converter=_county, repr=False)
    state: str | None = attrs.field(default=None, converter=_state)

    @classmethod
    def of_patient(cls, patient: Patient) -> Place | None:
        """The patient's home place from their first home (else first) address, if any.

        The county is not on a postal address, so it stays unknown; pass a `Place` in the
        `Need` when the county matters.
        """
        addresses = sorted(patient.addresses, key=lambda a: a.use != "home")
        for address in addresses:
            place = cls._of_address(address)
            if place is not None:
                return place
        return None

    @classmethod
    def _of_address(cls, address: Address) -> Place | None:
        zip_code = address.postal_code
        if zip_code is not None and not _ZIP.match(zip_code):
            zip_code = None
        state = address.state.upper() if address.state else None
        if state is not None and not _STATE.match(state):
            state = None
        if zip_code is None and state is None:
            return None
        return cls(zip_code, None, state)


@attrs.frozen
class ServiceArea:
    """Where a service serves people: ZIP codes, counties and states (any one suffices).

    A service area with no ZIP code, county or state serves everyone (a national fund, a
    phone line).

    Attributes:
        zip_codes: 5-digit ZIP codes served.
        counties: 5-digit county FIPS codes served.
        states: Two-letter USPS state codes served.
    """

    zip_codes: frozenset[str] = attrs.field(factory=frozenset, converter=_zips)
    counties: frozenset[str] = attrs.field(factory=frozenset, converter=_counties)
    states: frozenset[str] = attrs.field(factory=frozenset, converter=_states)

    @property
    def everywhere(self) -> bool:
        """Whether the service serves every location."""
        return not (self.zip_codes or self.counties or self.states)


# --- opening hours ---------------------------------------------------------------------

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HOURS_LINE = re.compile(
    r"^\s*(?P<days>[A-Za-z]{3}(?:\s*-\s*[A-Za-z]{3})?(?:\s*,\s*[A-Za-z]{3}(?:\s*-\s*[A-Za-z]{3})?)*)"
    r"\s+(?P<opens>\d{2}:\d{2})\s*-\s*(?P<closes>\d{2}:\d{2})\s*$"
)


def _weekday(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise ValidationError.at("OpeningPeriod.weekday", "expected a weekday 0 (Mon) to 6 (Sun)")
    return value


@attrs.frozen
class OpeningPeriod:
    """One weekly opening: a weekday and local wall-clock hours, half-open ``[opens, closes)``.

    Attributes:
        weekday: 0 = Monday ... 6 = Sunday.
        opens: Local opening time.
        closes: Local closing time, after ``opens`` (a period does not cross midnight).
    """

    weekday: int = attrs.field(converter=_weekday)
    opens: _dt.time
    closes: _dt.time

    def __attrs_post_init__(self) -> None:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValidationError.at("OpeningPeriod", "expected local wall-clock times")
        if self.closes <= self.opens:
            raise ValidationError.at("OpeningPeriod.closes", "expected closing after opening")

    def __str__(self) -> str:
        return f"{_DAYS[self.weekday]} {self.opens:%H:%M}-{self.closes:%H:%M}"


def _periods(value: Iterable[OpeningPeriod]) -> tuple[OpeningPeriod, ...]:
    return tuple(sorted(value, key=lambda p: (p.weekday, p.opens, p.closes)))


@attrs.frozen
class OpeningHours:
    """Weekly opening hours in local time of an IANA zone (public holidays not modelled).

    Attributes:
        timezone: IANA zone the hours are kept in (``America/Chicago``).
        periods: The weekly periods, sorted by weekday and time.
    """

    timezone: str
    periods: tuple[OpeningPeriod, ...] = attrs.field(converter=_periods)

    def __attrs_post_init__(self) -> None:
        validate_timezone(self.timezone, "OpeningHours.timezone")

    @classmethod
    def parse(cls, lines: Iterable[str], timezone: str) -> OpeningHours:
        """Read hours written as ``"Mon-Fri 08:00-17:00"``, ``"Tue,Thu 18:00-19:30"``.

        Day names are the English three-letter abbreviations; a range may wrap the week
        (``"Sat-Mon"``). Times are 24-hour local ``HH:MM``.

        Raises:
            ValidationError: A line is not of that form, or a period closes before it opens.
        """
        periods: list[OpeningPeriod] = []
        for line in _strings(lines, "hours"):
            periods.extend(_parse_hours_line(line))
        return cls(timezone, periods)

    def open_on(self, day: _dt.date) -> bool:
        """Whether the service opens at some time on local calendar date ``day``."""
        weekday = to_date(day).weekday()
        return any(p.weekday == weekday for p in self.periods)

    def is_open(self, moment: _dt.datetime) -> bool:
        """Whether the aware instant ``moment`` falls within an opening period (local time)."""
        local = ensure_aware(moment, "OpeningHours.is_open(moment)").in_tz(self.timezone)
        at = _dt.time(local.hour, local.minute, local.second, local.microsecond)
        return any(p.weekday == local.weekday() and p.opens <= at < p.closes for p in self.periods)

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.periods) or "closed"


def _parse_hours_line(line: object) -> list[OpeningPeriod]:
    expected = "expected hours such as 'Mon-Fri 08:00-17:00' or 'Tue,Thu 18:00-19:30'"
    found = _HOURS_LINE.match(line) if isinstance(line, str) else None
    if found is None:
        raise ValidationError.at("hours", expected)
    try:
        opens = _dt.time.fromisoformat(found.group("opens"))
        closes = _dt.time.fromisoformat(found.group("closes"))
    except ValueError:
        raise ValidationError.at("hours", expected) from None
    weekdays: list[int] = []
    for part in found.group("days").split(","):
        names = [n.strip().capitalize() for n in part.split("-")]
        if not all(n in _DAYS for n in names):
            raise ValidationError.at("hours", expected)
        first, last = _DAYS.index(names[0]), _DAYS.index(names[-1])
        weekdays.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
    return [OpeningPeriod(day, opens, closes) for day in dict.fromkeys(weekdays)]


# --- services --------------------------------------------------------------------------


class Delivery(StrEnum):
    """Where the service happens, which decides how proximity is judged."""

    ON_SITE = "on-site"
    """The patient goes to the service's site (a pantry, a support group)."""
    AT_HOME = "at-home"
    """The service comes to the patient (a ride that picks up, a home-care aide)."""
    REMOTE = "remote"
    """By phone, mail or online (an assistance fund's application)."""


class CapacityStatus(StrEnum):
    """Whether a service can take a new person now.

    The values map to the SDOH Clinical Care IG's `SDOHCC ValueSet Capacity Status` (STU 3,
    draft) through `sdohcc_code`.
    """

    OPEN = "open"
    WAITLIST = "waitlist"
    FULL = "full"

    @property
    def sdohcc_code(self) -> str:
        """The IG's capacity-status code in `SDOHCC_TEMPORARY_CODES`."""
        return _SDOHCC_CAPACITY[self]


_SDOHCC_CAPACITY: Final = {
    CapacityStatus.OPEN: "capacity",
    CapacityStatus.WAITLIST: "no-capacity-has-waitlist",
    CapacityStatus.FULL: "no-capacity",
}


def _check_bounds(low_name: str, low: int | None, high_name: str, high: int | None) -> None:
    _whole(low_name, low)
    _whole(high_name, high)
    if low is not None and high is not None and high < low:
        raise ValidationError.at(high_name, f"expected {high_name} at or above {low_name}")


@attrs.frozen
class Eligibility:
    """Who a service may serve. Every criterion left empty is no restriction.

    Attributes:
        min_age: Youngest age served, in completed years (inclusive).
        max_age: Oldest age served, in completed years (inclusive).
        min_income_fpl: Lowest household income served, as a percent of the Federal
            Poverty Level (inclusive); rare, for programs above Medicaid's band.
        max_income_fpl: Highest household income served, percent of FPL (inclusive):
            ``200`` serves households at or below 200% FPL.
        conditions: ICD-10-CM codes or prefixes, one of which a diagnosis must start with
            (``C`` malignant neoplasms, ``D0`` carcinoma in situ). Dots do not matter.
        coverage: Lines of business accepted; a patient with any one qualifies, and an
            uninsured patient does not.
    """

    min_age: int | None = None
    max_age: int | None = None
    min_income_fpl: int | None = None
    max_income_fpl: int | None = None
    conditions: frozenset[str] = attrs.field(factory=frozenset, converter=_prefixes)
    coverage: frozenset[LineOfBusiness] = attrs.field(factory=frozenset, converter=_lines)

    def __attrs_post_init__(self) -> None:
        _check_bounds("min_age", self.min_age, "max_age", self.max_age)
        _check_bounds("min_income_fpl", self.min_income_fpl, "max_income_fpl", self.max_income_fpl)

    @property
    def unrestricted(self) -> bool:
        """Whether the service serves everyone in its area."""
        return self == _OPEN_TO_ALL


_OPEN_TO_ALL: Final = Eligibility()


def _categories(value: Iterable[Coding | str]) -> frozenset[Coding]:
    codings = frozenset(
        sdoh_category(v) if isinstance(v, str) else v for v in _strings(value, "categories")
    )
    if not codings or not all(isinstance(c, Coding) for c in codings):
        raise ValidationError.at("categories", "expected at least one category coding")
    return codings


def _service_types(value: Iterable[Coding | str]) -> frozenset[Coding]:
    return frozenset(
        Coding(FHIR_SERVICE_TYPE, v, _SERVICE_TYPE_DISPLAY.get(v)) if isinstance(v, str) else v
        for v in _strings(value, "service_types")
    )


def _check_service_id(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not _SERVICE_ID.match(value):
        raise ValidationError.at(
            "CommunityService.id", "expected 1-64 characters of A-Z, a-z, 0-9, '-' or '.'"
        )


def _check_name(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.at(f"CommunityService.{attribute.name}", "expected a non-empty name")


def _contacts(value: Iterable[ContactPoint]) -> tuple[ContactPoint, ...]:
    return tuple(value)


@attrs.frozen
class CommunityService:
    """A community service a patient can be referred to (FHIR ``HealthcareService``).

    Attributes:
        id: The service's id in the directory.
        name: Display name.
        organization: The community organization that runs it (a `Reference` to an
            ``Organization``).
        categories: The needs it addresses: Gravity Project SDOH domains (`sdoh_category`)
            or other codings. A plain string is read as an SDOH domain code.
        service_types: THO ``service-type`` codings (a plain string is read as a code there).
        eligibility: Who it may serve.
        area: Where it serves.
        delivery: Whether people go to it, it comes to them, or it is remote.
        site: Where its site is, for proximity (only meaningful for on-site services).
        languages: BCP 47 tags of the languages it is offered in.
        hours: Weekly opening hours, if published.
        capacity: Whether it can take someone now; ``None`` when not reported.
        open_slots: How many openings it reported, if it did.
        electronic_referral: Whether it accepts closed-loop electronic referrals (through a
            coordination platform, as in the SDOH Clinical Care IG), not just phone or fax.
        self_referral: Whether the patient may contact it directly.
        telecom: How to reach its intake.
        description: Free text for the coordinator.
    """

    id: str = attrs.field(validator=_check_service_id)
    name: str = attrs.field(validator=_check_name)
    organization: Reference
    categories: frozenset[Coding] = attrs.field(converter=_categories)
    service_types: frozenset[Coding] = attrs.field(factory=frozenset, converter=_service_types)
    eligibility: Eligibility = attrs.field(factory=Eligibility)
    area: ServiceArea = attrs.field(factory=ServiceArea)
    delivery: Delivery = attrs.field(default=Delivery.ON_SITE, converter=Delivery)
    site: Place | None = None
    languages: frozenset[str] = attrs.field(factory=frozenset, converter=_languages)
    hours: OpeningHours | None = None
    capacity: CapacityStatus | None = attrs.field(
        default=None, converter=attrs.converters.optional(CapacityStatus)
    )
    open_slots: int | None = None
    electronic_referral: bool = False
    self_referral: bool = False
    telecom: tuple[ContactPoint, ...] = attrs.field(default=(), converter=_contacts)
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.organization.target != "Organization":
            raise ValidationError.at(
                "CommunityService.organization", "expected a reference to an Organization"
            )
        _whole("CommunityService.open_slots", self.open_slots)


# --- needs -----------------------------------------------------------------------------

_PRIORITIES: Final = frozenset({"routine", "urgent", "asap", "stat"})


def _category(value: Coding | str) -> Coding:
    if isinstance(value, str):
        return sdoh_category(value)
    if not isinstance(value, Coding):
        raise ValidationError.at("Need.category", "expected a Coding or an SDOH domain code")
    return value


def _check_priority(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _PRIORITIES:
        raise ValidationError.at(
            "Need.urgency", "expected a FHIR request-priority: routine, urgent, asap or stat"
        )


@attrs.frozen
class Need:
    """What a patient needs from the community, with the facts eligibility depends on.

    Each fact is ``None`` when unknown: a criterion that depends on it is then reported as
    unknown, not as not met. Patient facts are kept out of ``repr``.

    Attributes:
        category: The need, as an SDOH domain code (``"transportation-insecurity"``) or a
            `Coding` (an SDOH domain, or a THO ``service-type`` such as 8 Home
            Care/Housekeeping Assistance); services are found by their categories and
            service types.
        urgency: FHIR ``request-priority``: ``routine``, ``urgent``, ``asap`` or ``stat``.
        needed_on: The local date the service is needed (a treatment day), if any.
        language: Preferred language (BCP 47); ``None`` uses the patient's.
        location: Where the patient is; ``None`` uses the patient's home address.
        income_fpl: Household income as a whole percent of the Federal Poverty Level.
        diagnoses: ICD-10-CM codes of the patient's conditions (``C50.911``).
        coverage: The patient's lines of business; an empty set means uninsured.
    """

    category: Coding = attrs.field(converter=_category)
    urgency: str = attrs.field(default="routine", validator=_check_priority)
    needed_on: Date | None = attrs.field(default=None, converter=_optional_date)
    language: str | None = attrs.field(default=None, converter=_language, repr=False)
    location: Place | None = attrs.field(default=None, repr=False)
    income_fpl: int | None = attrs.field(default=None, repr=False)
    diagnoses: frozenset[str] | None = attrs.field(default=None, converter=_diagnoses, repr=False)
    coverage: frozenset[LineOfBusiness] | None = attrs.field(
        default=None, converter=_optional_lines, repr=False
    )

    def __attrs_post_init__(self) -> None:
        _whole("Need.income_fpl", self.income_fpl)


# --- match results ---------------------------------------------------------------------


class Criterion(StrEnum):
    """What a service is judged on: eligibility criteria first, then preferences."""

    SERVICE_AREA = "service-area"
    AGE = "age"
    INCOME = "income"
    CONDITION = "condition"
    COVERAGE = "coverage"
    LANGUAGE = "language"
    PROXIMITY = "proximity"
    HOURS = "hours"
    CAPACITY = "capacity"

    @property
    def decides_eligibility(self) -> bool:
        """Whether a ``not-met`` on this criterion makes the service ineligible."""
        return self in _ELIGIBILITY


_ELIGIBILITY: Final = frozenset(
    {
        Criterion.SERVICE_AREA,
        Criterion.AGE,
        Criterion.INCOME,
        Criterion.CONDITION,
        Criterion.COVERAGE,
    }
)
_PREFERENCES: Final = frozenset({Criterion.LANGUAGE, Criterion.PROXIMITY, Criterion.HOURS})


class CriterionStatus(StrEnum):
    """How a criterion came out: met, not met, or unknown for want of a fact."""

    MET = "met"
    NOT_MET = "not-met"
    UNKNOWN = "unknown"


@attrs.frozen
class Reason:
    """Why a service matched or not on one criterion.

    Attributes:
        criterion: The criterion judged.
        status: Met, not met or unknown.
        explanation: One sentence for the coordinator, built from the service's data only.
    """

    criterion: Criterion
    status: CriterionStatus
    explanation: str

    def __str__(self) -> str:
        return f"{self.criterion.value}: {self.status.value}: {self.explanation}"


_QUESTIONS: Final = {
    Criterion.SERVICE_AREA: "home ZIP code and county",
    Criterion.AGE: "date of birth",
    Criterion.INCOME: "household income and household size (for the percent of FPL)",
    Criterion.CONDITION: "diagnosis (ICD-10-CM)",
    Criterion.COVERAGE: "health coverage (Medicare, Medicaid, commercial...)",
}


def _reasons(value: Iterable[Reason]) -> tuple[Reason, ...]:
    return tuple(value)


@attrs.frozen
class Match:
    """One service judged against one need.

    Attributes:
        service: The service.
        eligible: Whether no eligibility criterion is ``not-met`` (unknowns do not exclude).
        reasons: The criteria judged, eligibility first, in `Criterion` order.
        score: The ranking score among matches with the same eligibility counts. For a
            routine need ``100 * preferences met + 10 * proximity + capacity``; for an
            urgent one ``100 * capacity + 10 * preferences met + proximity``. Proximity is 3
            for the same ZIP code or a service that comes to the patient or is remote, 2 for
            the same county, 1 for the same state, 0 otherwise; capacity is 3 open,
            2 not reported, 1 waitlist, 0 full.
    """

    service: CommunityService
    eligible: bool
    reasons: tuple[Reason, ...] = attrs.field(converter=_reasons)
    score: int

    @property
    def confirmed(self) -> bool:
        """Whether the service is eligible with every eligibility criterion known to be met."""
        return self.eligible and not self.unknown

    @property
    def not_met(self) -> tuple[Reason, ...]:
        """The eligibility criteria not met."""
        return tuple(
            r
            for r in self.reasons
            if r.criterion.decides_eligibility and r.status is CriterionStatus.NOT_MET
        )

    @property
    def unknown(self) -> tuple[Reason, ...]:
        """The eligibility criteria that could not be judged for want of a fact."""
        return tuple(
            r
            for r in self.reasons
            if r.criterion.decides_eligibility and r.status is CriterionStatus.UNKNOWN
        )

    @property
    def preferences_met(self) -> int:
        """How many of language, proximity and hours (when a date is needed) are met."""
        return sum(
            1
            for r in self.reasons
            if r.criterion in _PREFERENCES and r.status is CriterionStatus.MET
        )

    @property
    def questions(self) -> tuple[str, ...]:
        """What to ask the patient to settle the unknown criteria, e.g. their income."""
        return tuple(f"ask the patient's {_QUESTIONS[r.criterion]}" for r in self.unknown)

    def rank_key(self) -> tuple[bool, int, int, int, str, str]:
        """The sort key that orders matches (see the module's rule 6)."""
        return (
            not self.eligible,
            len(self.not_met),
            len(self.unknown),
            -self.score,
            self.service.name.casefold(),
            self.service.id,
        )


# --- assessing one service -------------------------------------------------------------

_MET, _NOT_MET, _UNKNOWN = CriterionStatus.MET, CriterionStatus.NOT_MET, CriterionStatus.UNKNOWN


def _range_text(low: int | None, high: int | None, unit: str = "") -> str:
    if low is not None and high is not None:
        return f"{low}{unit} to {high}{unit}"
    if low is not None:
        return f"{low}{unit} and over"
    return f"up to {high}{unit}"


def _within(value: int, low: int | None, high: int | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def _area_reason(area: ServiceArea, place: Place | None) -> Reason:
    key = Criterion.SERVICE_AREA
    if area.everywhere:
        return Reason(key, _MET, "the service serves every location")
    if place is None:
        return Reason(key, _UNKNOWN, "location unknown: the service serves a limited area")
    if place.zip_code is not None and place.zip_code in area.zip_codes:
        return Reason(key, _MET, "ZIP code in the service area")
    if place.county is not None and place.county in area.counties:
        return Reason(key, _MET, "county in the service area")
    if place.state is not None and place.state in area.states:
        return Reason(key, _MET, "state in the service area")
    missing = [
        name
        for name, known, listed in (
            ("ZIP code", place.zip_code, area.zip_codes),
            ("county", place.county, area.counties),
            ("state", place.state, area.states),
        )
        if known is None and listed
    ]
    if missing:
        return Reason(
            key, _UNKNOWN, f"{' and '.join(missing)} unknown: the service area is given by it"
        )
    return Reason(key, _NOT_MET, "outside the service area")


def _eligibility_reasons(rules: Eligibility, need: Need, age: int | None) -> Iterator[Reason]:
    if rules.min_age is not None or rules.max_age is not None:
        band = _range_text(rules.min_age, rules.max_age)
        if age is None:
            yield Reason(Criterion.AGE, _UNKNOWN, f"age unknown: the service serves ages {band}")
        elif _within(age, rules.min_age, rules.max_age):
            yield Reason(Criterion.AGE, _MET, f"age within the service's range ({band})")
        else:
            yield Reason(Criterion.AGE, _NOT_MET, f"age outside the service's range ({band})")
    if rules.min_income_fpl is not None or rules.max_income_fpl is not None:
        if rules.min_income_fpl is None:
            band = f"at or below {rules.max_income_fpl}% FPL"
        else:
            band = _range_text(rules.min_income_fpl, rules.max_income_fpl, "%") + " FPL"
        if need.income_fpl is None:
            text = f"income band unknown: the service requires household income {band}"
            yield Reason(Criterion.INCOME, _UNKNOWN, text)
        elif _within(need.income_fpl, rules.min_income_fpl, rules.max_income_fpl):
            yield Reason(Criterion.INCOME, _MET, f"income within the service's band ({band})")
        else:
            yield Reason(Criterion.INCOME, _NOT_MET, f"income outside the service's band ({band})")
    if rules.conditions:
        listed = ", ".join(sorted(rules.conditions))
        if need.diagnoses is None:
            text = f"diagnoses unknown: the service requires ICD-10-CM {listed}"
            yield Reason(Criterion.CONDITION, _UNKNOWN, text)
        elif any(_icd(d).startswith(tuple(rules.conditions)) for d in need.diagnoses):
            text = f"a diagnosis is among the service's conditions (ICD-10-CM {listed})"
            yield Reason(Criterion.CONDITION, _MET, text)
        else:
            text = f"no diagnosis among the service's conditions (ICD-10-CM {listed})"
            yield Reason(Criterion.CONDITION, _NOT_MET, text)
    if rules.coverage:
        listed = ", ".join(sorted(lob.value for lob in rules.coverage))
        if need.coverage is None:
            text = f"coverage unknown: the service accepts {listed}"
            yield Reason(Criterion.COVERAGE, _UNKNOWN, text)
        elif need.coverage & rules.coverage:
            yield Reason(Criterion.COVERAGE, _MET, "coverage accepted by the service")
        else:
            text = f"coverage not accepted: the service accepts {listed}"
            yield Reason(Criterion.COVERAGE, _NOT_MET, text)


def _language_reason(service: CommunityService, language: str | None) -> Reason:
    key = Criterion.LANGUAGE
    if language is None:
        return Reason(key, _UNKNOWN, "preferred language unknown")
    if not service.languages:
        return Reason(key, _UNKNOWN, "the service's languages are not listed")
    if _primary(language) in {_primary(t) for t in service.languages}:
        return Reason(key, _MET, "offered in the patient's preferred language")
    return Reason(key, _NOT_MET, "not offered in the patient's preferred language")


def _proximity(service: CommunityService, place: Place | None) -> tuple[Reason, int]:
    key = Criterion.PROXIMITY
    if service.delivery is Delivery.AT_HOME:
        return Reason(key, _MET, "the service comes to the patient"), 3
    if service.delivery is Delivery.REMOTE:
        return Reason(key, _MET, "the service is delivered by phone, mail or online"), 3
    site = service.site
    if site is None:
        return Reason(key, _UNKNOWN, "the service's site is not listed"), 0
    if place is None:
        return Reason(key, _UNKNOWN, "location unknown"), 0
    if place.zip_code is not None and place.zip_code == site.zip_code:
        return Reason(key, _MET, "site in the patient's ZIP code"), 3
    if place.county is not None and place.county == site.county:
        return Reason(key, _MET, "site in the patient's county"), 2
    if place.state is not None and place.state == site.state:
        return Reason(
            key, _NOT_MET, "site in the patient's state, not in their ZIP code or county"
        ), 1
    return Reason(key, _NOT_MET, "site outside the patient's state"), 0


def _hours_reason(service: CommunityService, day: Date) -> Reason:
    key = Criterion.HOURS
    if service.hours is None:
        return Reason(key, _UNKNOWN, "opening hours not listed")
    if service.hours.open_on(day):
        return Reason(key, _MET, "open on the day needed")
    return Reason(key, _NOT_MET, f"closed on the day needed (open {service.hours})")


_CAPACITY_RANK: Final = {
    CapacityStatus.OPEN: 3,
    None: 2,
    CapacityStatus.WAITLIST: 1,
    CapacityStatus.FULL: 0,
}


def _capacity_reason(service: CommunityService) -> Reason:
    key = Criterion.CAPACITY
    if service.capacity is None:
        return Reason(key, _UNKNOWN, "capacity not reported: confirm with the service")
    if service.capacity is CapacityStatus.OPEN:
        slots = f" ({service.open_slots} open slots)" if service.open_slots is not None else ""
        return Reason(key, _MET, f"accepting new clients{slots}")
    if service.capacity is CapacityStatus.WAITLIST:
        return Reason(key, _NOT_MET, "no open capacity: has a waitlist")
    return Reason(key, _NOT_MET, "no open capacity and no waitlist")


def _resolve(need: Need, patient: Patient) -> tuple[Place | None, str | None]:
    place = need.location if need.location is not None else Place.of_patient(patient)
    language = need.language if need.language is not None else patient.language
    return place, language


def assess(service: CommunityService, need: Need, patient: Patient, *, on: _dt.date) -> Match:
    """Judge one service against a need: every criterion, eligibility and score.

    Args:
        service: The service.
        need: The need and the patient's facts.
        patient: The patient (birth date for age; home address and language as defaults).
        on: The date ages are computed on (a date, not a datetime).

    Raises:
        ValidationError: ``on`` is not a calendar date.
    """
    day = to_date(on)
    place, language = _resolve(need, patient)
    return _assess(service, need, patient.age_on(day), place, language)


def _assess(
    service: CommunityService,
    need: Need,
    age: int | None,
    place: Place | None,
    language: str | None,
) -> Match:
    reasons = [_area_reason(service.area, place)]
    reasons.extend(_eligibility_reasons(service.eligibility, need, age))
    reasons.append(_language_reason(service, language))
    proximity_reason, proximity = _proximity(service, place)
    reasons.append(proximity_reason)
    if need.needed_on is not None:
        reasons.append(_hours_reason(service, need.needed_on))
    reasons.append(_capacity_reason(service))
    eligible = not any(r.criterion.decides_eligibility and r.status is _NOT_MET for r in reasons)
    preferences = sum(1 for r in reasons if r.criterion in _PREFERENCES and r.status is _MET)
    capacity = _CAPACITY_RANK[service.capacity]
    if need.urgency == "routine":
        score = 100 * preferences + 10 * proximity + capacity
    else:
        score = 100 * capacity + 10 * preferences + proximity
    return Match(service, eligible, reasons, score)


# --- the directory ---------------------------------------------------------------------


def _service_tuple(value: Iterable[CommunityService]) -> tuple[CommunityService, ...]:
    return tuple(value)


def _organization_tuple(value: Iterable[Organization]) -> tuple[Organization, ...]:
    return tuple(value)


def _index(pairs: Iterable[tuple[Any, str]]) -> dict[Any, frozenset[str]]:
    building: dict[Any, set[str]] = {}
    for key, service_id in pairs:
        building.setdefault(key, set()).add(service_id)
    return {key: frozenset(ids) for key, ids in building.items()}


_EMPTY: Final[frozenset[str]] = frozenset()


@attrs.frozen
class ServiceDirectory:
    """Community services indexed by category and by ZIP code, county and state.

    Attributes:
        services: The services, in the order given; ids are unique.
        organizations: The organizations that run them, when known; every service's
            organization must then be among them.
    """

    services: tuple[CommunityService, ...] = attrs.field(converter=_service_tuple)
    organizations: tuple[Organization, ...] = attrs.field(default=(), converter=_organization_tuple)
    _by_id: dict[str, CommunityService] = attrs.field(init=False, eq=False, repr=False)
    _by_category: dict[Coding, frozenset[str]] = attrs.field(init=False, eq=False, repr=False)
    _by_zip: dict[str, frozenset[str]] = attrs.field(init=False, eq=False, repr=False)
    _by_county: dict[str, frozenset[str]] = attrs.field(init=False, eq=False, repr=False)
    _by_state: dict[str, frozenset[str]] = attrs.field(init=False, eq=False, repr=False)
    _everywhere: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    _by_zip_list: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    _by_county_list: frozenset[str] = attrs.field(init=False, eq=False, repr=False)
    _by_state_list: frozenset[str] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        by_id = {s.id: s for s in self.services}
        if len(by_id) != len(self.services):
            raise ValidationError.at("ServiceDirectory.services", "expected unique service ids")
        org_ids = {o.id for o in self.organizations}
        if len(org_ids) != len(self.organizations):
            raise ValidationError.at(
                "ServiceDirectory.organizations", "expected unique organization ids"
            )
        if self.organizations and any(s.organization.id not in org_ids for s in self.services):
            raise ValidationError.at(
                "ServiceDirectory.services",
                "expected every service's organization among the directory's organizations",
            )
        ss = self.services
        setattr_ = object.__setattr__
        setattr_(self, "_by_id", by_id)
        setattr_(
            self,
            "_by_category",
            _index((c, s.id) for s in ss for c in (*s.categories, *s.service_types)),
        )
        setattr_(self, "_by_zip", _index((z, s.id) for s in ss for z in s.area.zip_codes))
        setattr_(self, "_by_county", _index((c, s.id) for s in ss for c in s.area.counties))
        setattr_(self, "_by_state", _index((t, s.id) for s in ss for t in s.area.states))
        setattr_(self, "_everywhere", frozenset(s.id for s in ss if s.area.everywhere))
        setattr_(self, "_by_zip_list", frozenset(s.id for s in ss if s.area.zip_codes))
        setattr_(self, "_by_county_list", frozenset(s.id for s in ss if s.area.counties))
        setattr_(self, "_by_state_list", frozenset(s.id for s in ss if s.area.states))

    def __len__(self) -> int:
        return len(self.services)

    def __iter__(self) -> Iterator[CommunityService]:
        return iter(self.services)

    def __contains__(self, service_id: object) -> bool:
        return service_id in self._by_id

    def __getitem__(self, service_id: str) -> CommunityService:
        try:
            return self._by_id[service_id]
        except KeyError:
            raise ValidationError.at(
                "service", "expected the id of a service in the directory"
            ) from None

    def in_category(self, category: Coding | str) -> tuple[CommunityService, ...]:
        """The services with ``category`` among their categories or service types.

        ``category`` is a `Coding` (an SDOH domain, a THO ``service-type``) or an SDOH
        domain code such as ``"food-insecurity"``.
        """
        ids = self._by_category.get(_category(category), _EMPTY)
        return tuple(s for s in self.services if s.id in ids)

    def _candidates(
        self, category: Coding, place: Place | None, everywhere: bool
    ) -> frozenset[str]:
        in_category = self._by_category.get(category, _EMPTY)
        if everywhere or place is None:
            return in_category
        found: set[str] = set(in_category & self._everywhere)
        for key, index, listed in (
            (place.zip_code, self._by_zip, self._by_zip_list),
            (place.county, self._by_county, self._by_county_list),
            (place.state, self._by_state, self._by_state_list),
        ):
            # A known fact finds the services listing it; an unknown one keeps every service
            # whose area is given that way, since it may serve the patient (rule 3).
            found |= in_category & (index.get(key, _EMPTY) if key is not None else listed)
        return frozenset(found)

    def match(
        self,
        need: Need,
        patient: Patient,
        *,
        on: _dt.date,
        include_out_of_area: bool = False,
    ) -> list[Match]:
        """Rank the services for ``need`` and say why each one matched or not.

        Args:
            need: The need and the patient's facts.
            patient: The patient: age from the birth date on ``on``; the home address and
                preferred language when the need gives none.
            on: The date to judge on (a calendar date).
            include_out_of_area: Also return services of the category whose area excludes
                the patient, with their service area ``not-met``.

        Returns:
            One `Match` per candidate service, best first (see the module's rule 6).

        Raises:
            ValidationError: ``on`` is not a calendar date.
        """
        day = to_date(on)
        place, language = _resolve(need, patient)
        age = patient.age_on(day)
        ids = self._candidates(need.category, place, include_out_of_area)
        matches = [_assess(self._by_id[i], need, age, place, language) for i in ids]
        matches.sort(key=Match.rank_key)
        return matches

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>") -> ServiceDirectory:
        """Read a directory from TOML; errors name the file, line and key.

        ```toml
        [directory]
        name = "Chicago cancer navigation"
        timezone = "America/Chicago"        # default zone of opening hours

        [organizations.lakeshore-rides]
        name = "Lakeshore Cancer Rides"

        [services.rides-to-treatment]
        name = "Rides to Treatment"
        organization = "lakeshore-rides"
        categories = ["transportation-insecurity"]   # Gravity SDOH domain codes
        service_types = ["230"]                       # THO service-type
        delivery = "at-home"                          # on-site | at-home | remote
        languages = ["en", "es"]
        hours = ["Mon-Fri 06:00-19:00"]
        capacity = "open"                             # open | waitlist | full
        electronic_referral = true

        [services.rides-to-treatment.area]
        counties = ["17031"]                          # or zip_codes, states, everywhere = true

        [services.rides-to-treatment.eligibility]
        min_age = 18
        conditions = ["C", "D0"]                      # ICD-10-CM prefixes
        ```

        Raises:
            RuleError: Invalid TOML, an unknown or missing key, or a value out of range.
        """
        return _DirectoryReader(load_toml(text, source)).read()


# --- TOML ------------------------------------------------------------------------------

_SERVICE_KEYS: Final = frozenset(
    {
        "name",
        "organization",
        "categories",
        "service_types",
        "description",
        "delivery",
        "site",
        "languages",
        "hours",
        "timezone",
        "capacity",
        "open_slots",
        "electronic_referral",
        "self_referral",
        "phone",
        "url",
        "area",
        "eligibility",
    }
)
_AREA_KEYS: Final = frozenset({"zip_codes", "counties", "states", "everywhere"})
_ELIGIBILITY_KEYS: Final = frozenset(
    {"min_age", "max_age", "min_income_fpl", "max_income_fpl", "conditions", "coverage"}
)
_SITE_KEYS: Final = frozenset({"zip_code", "county", "state"})
_ORGANIZATION_KEYS: Final = frozenset({"name", "phone", "url"})


class _DirectoryReader:
    """Reads the TOML form of a directory, raising `RuleError` at the line of the key."""

    def __init__(self, doc: TomlDocument) -> None:
        self.doc = doc
        self.timezone: str | None = None

    def error(self, message: str, *path: str) -> RuleError:
        # TomlDocument.line_of falls back to the table header when a key sits in an inline
        # table; the deepest line found along the path is the most precise one.
        lines = [self.doc.line_of(*path[:depth]) for depth in range(1, len(path) + 1)]
        found = [n for n in lines if n is not None]
        return RuleError(
            message,
            source=self.doc.source,
            line=max(found) if found else None,
            key=".".join(path) or None,
        )

    def table(self, value: object, *path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error("expected a table", *path)
        return value

    def keys(self, table: Mapping[str, Any], allowed: frozenset[str], *path: str) -> None:
        extra = sorted(set(table) - allowed)
        if extra:
            raise self.error(
                f"unknown key; expected one of: {', '.join(sorted(allowed))}", *path, extra[0]
            )

    def build(self, factory: Callable[[], T], *path: str) -> T:
        try:
            return factory()
        except ValidationError as exc:
            raise self.error(exc.problems[0].message, *path) from None

    def read(self) -> ServiceDirectory:
        data = self.doc.data
        self.keys(data, frozenset({"directory", "organizations", "services"}))
        meta = self.table(data.get("directory", {}), "directory")
        self.keys(meta, frozenset({"name", "region", "timezone"}), "directory")
        if "timezone" in meta:
            zone = meta["timezone"]
            self.build(lambda: validate_timezone(zone, "timezone"), "directory", "timezone")
            self.timezone = zone
        organizations = [
            self.organization(key, spec)
            for key, spec in self.table(data.get("organizations", {}), "organizations").items()
        ]
        known = {o.id for o in organizations}
        services_table = self.table(data.get("services", {}), "services")
        if not services_table:
            raise self.error("expected at least one [services.ID] table", "services")
        services = [self.service(key, spec, known) for key, spec in services_table.items()]
        return ServiceDirectory(services, organizations)

    def organization(self, key: str, spec: object) -> Organization:
        path = ("organizations", key)
        table = self.table(spec, *path)
        self.keys(table, _ORGANIZATION_KEYS, *path)
        name = self.text(table, "name", *path, required=True)
        telecom = self.telecom(table, *path)
        return self.build(lambda: Organization(key, name, telecom=telecom), *path)

    def text(self, table: Mapping[str, Any], key: str, *path: str, required: bool = False) -> Any:
        if key not in table:
            if required:
                raise self.error(f"missing key {key!r}", *path)
            return None
        value = table[key]
        if not isinstance(value, str) or not value.strip():
            raise self.error("expected a non-empty string", *path, key)
        return value

    def strings(self, table: Mapping[str, Any], key: str, *path: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error("expected a list of strings", *path, key)
        return value

    def whole(self, table: Mapping[str, Any], key: str, *path: str) -> int | None:
        value = table.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise self.error("expected a non-negative whole number", *path, key)
        return value

    def flag(self, table: Mapping[str, Any], key: str, *path: str) -> bool:
        value = table.get(key, False)
        if not isinstance(value, bool):
            raise self.error("expected true or false", *path, key)
        return value

    def telecom(self, table: Mapping[str, Any], *path: str) -> list[ContactPoint]:
        points = []
        for key, system in (("phone", ContactPointSystem.PHONE), ("url", ContactPointSystem.URL)):
            value = self.text(table, key, *path)
            if value is not None:
                points.append(ContactPoint(system, value, use="work"))
        return points

    def service(self, key: str, spec: object, organizations: set[str]) -> CommunityService:
        path = ("services", key)
        table = self.table(spec, *path)
        self.keys(table, _SERVICE_KEYS, *path)
        name = self.text(table, "name", *path, required=True)
        org_id = self.text(table, "organization", *path, required=True)
        if org_id not in organizations:
            raise self.error(
                "expected the key of an [organizations.ID] table", *path, "organization"
            )
        if "categories" not in table:
            raise self.error("missing key 'categories'", *path)
        categories = self.strings(table, "categories", *path)
        self.build(lambda: _categories(categories), *path, "categories")
        service_types = self.strings(table, "service_types", *path)
        languages = self.strings(table, "languages", *path)
        self.build(lambda: _languages(languages), *path, "languages")
        delivery = table.get("delivery", "on-site")
        if delivery not in {d.value for d in Delivery}:
            raise self.error("expected on-site, at-home or remote", *path, "delivery")
        site = self.site(table, *path)
        hours = self.hours(table, *path)
        capacity = table.get("capacity")
        if capacity is not None and capacity not in {c.value for c in CapacityStatus}:
            raise self.error("expected open, waitlist or full", *path, "capacity")
        open_slots = self.whole(table, "open_slots", *path)
        area = self.area(table.get("area"), *path, "area")
        eligibility = self.eligibility(table.get("eligibility", {}), *path, "eligibility")
        description = self.text(table, "description", *path)
        telecom = self.telecom(table, *path)
        electronic = self.flag(table, "electronic_referral", *path)
        self_referral = self.flag(table, "self_referral", *path)
        reference = Reference("Organization", id=org_id)
        return self.build(
            lambda: CommunityService(
                key,
                name,
                reference,
                categories,
                service_types=service_types,
                eligibility=eligibility,
                area=area,
                delivery=Delivery(delivery),
                site=site,
                languages=languages,
                hours=hours,
                capacity=capacity,
                open_slots=open_slots,
                electronic_referral=electronic,
                self_referral=self_referral,
                telecom=telecom,
                description=description,
            ),
            *path,
        )

    def site(self, table: Mapping[str, Any], *path: str) -> Place | None:
        if "site" not in table:
            return None
        spec = self.table(table["site"], *path, "site")
        self.keys(spec, _SITE_KEYS, *path, "site")
        for key in _SITE_KEYS:
            if key in spec and not isinstance(spec[key], str):
                raise self.error("expected a string", *path, "site", key)
        return self.build(
            lambda: Place(spec.get("zip_code"), spec.get("county"), spec.get("state")),
            *path,
            "site",
        )

    def hours(self, table: Mapping[str, Any], *path: str) -> OpeningHours | None:
        zone = self.timezone
        if "timezone" in table:
            zone = self.text(table, "timezone", *path)
            self.build(lambda: validate_timezone(zone, "timezone"), *path, "timezone")
        if "hours" not in table:
            return None
        lines = self.strings(table, "hours", *path)
        if zone is None:
            raise self.error(
                "expected a timezone for the hours (here or under [directory])", *path, "hours"
            )
        return self.build(lambda: OpeningHours.parse(lines, zone), *path, "hours")

    def area(self, spec: object, *path: str) -> ServiceArea:
        if spec is None:
            raise self.error(
                "missing the service area: zip_codes, counties, states or everywhere = true",
                *path[:-1],
            )
        table = self.table(spec, *path)
        self.keys(table, _AREA_KEYS, *path)
        lists = {
            key: self.strings(table, key, *path) for key in ("zip_codes", "counties", "states")
        }
        everywhere = self.flag(table, "everywhere", *path)
        if everywhere == any(lists.values()):
            raise self.error(
                "expected zip_codes, counties or states, or everywhere = true (not both)", *path
            )
        zips = self.build(lambda: _zips(lists["zip_codes"]), *path, "zip_codes")
        counties = self.build(lambda: _counties(lists["counties"]), *path, "counties")
        states = self.build(lambda: _states(lists["states"]), *path, "states")
        return ServiceArea(zips, counties, states)

    def eligibility(self, spec: object, *path: str) -> Eligibility:
        table = self.table(spec, *path)
        self.keys(table, _ELIGIBILITY_KEYS, *path)
        numbers = {
            key: self.whole(table, key, *path)
            for key in ("min_age", "max_age", "min_income_fpl", "max_income_fpl")
        }
        conditions = self.strings(table, "conditions", *path)
        self.build(lambda: _prefixes(conditions), *path, "conditions")
        coverage = self.strings(table, "coverage", *path)
        self.build(lambda: _lines(coverage), *path, "coverage")
        for low_key, high_key in (("min_age", "max_age"), ("min_income_fpl", "max_income_fpl")):
            low, high = numbers[low_key], numbers[high_key]
            if low is not None and high is not None and high < low:
                raise self.error(f"expected {high_key} at or above {low_key}", *path, high_key)
        return Eligibility(
            numbers["min_age"],
            numbers["max_age"],
            numbers["min_income_fpl"],
            numbers["max_income_fpl"],
            conditions,
            coverage,
        )
