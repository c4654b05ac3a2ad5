"""Prior-authorization rules as data: matchers, outcomes, precedence, and the code index.

A `Rule` says what a payer answers for the services it matches, in the vocabulary of Da
Vinci Coverage Requirements Discovery (CRD STU 2.2, CodeSystem
``http://hl7.org/fhir/us/davinci-crd/CodeSystem/coverage-information-codes``): `Covered`,
`PaNeeded`, `DocNeeded` and `InfoNeeded`. A `RulePack` holds rules, refuses ambiguous
ones, and finds the rules that match a service line through an index by code.

Rules of this module:

1. **A matcher left unset matches anything.** A rule matches a line when its code system
   and one of its `CodePattern`s match the line's code (exact ``15823``, range
   ``64490-64495``, prefix ``L58*``, or ``*``), the date of service is inside its dates,
   and every other matcher it sets (payer, plans, lines of business, setting, place of
   service, network, sex, age, diagnoses, codes billed with it, units over a period) holds.
2. **Dates are half-open.** A rule applies on dates of service ``effective <= date < end``;
   ``end`` is the first date on which it no longer applies, as in CMS notices ("removed for
   dates of service on or after ...").
3. **Unknown is not false.** A matcher whose fact the request does not carry (no place of
   service, no birth date, no diagnoses, no units history) does not fail: the rule *may*
   match, and `RulePack.matches` reports what is missing as the CRD `InfoNeeded` code to ask
   for (``location``, ``performer``, ``OTH``). `caredomain.authorization.check` turns that
   into a ``conditional`` answer.
4. **Precedence is a key, compared left to right; the highest wins** (`Rule.precedence`):
   the tier (an ``exclusion`` beats an ordinary rule, which beats a ``fallback``), then the
   specificity of the code pattern that matched (exact > range > prefix > any; among ranges
   the one with the longer common prefix, then the narrower; among prefixes the longer),
   then the number of other matchers set (each of plans, lines of business, setting, place
   of service, network, sex, age, diagnoses, excluded diagnoses, billed-with, units counts
   one), then the rule's explicit ``priority``.
5. **Ties are errors, never a silent pick.** Two rules with equal precedence that could
   both match one line and answer differently make `RulePack` raise `RuleError` naming
   both (with the file and line when the rule came from a file). "Could both match" is
   decided conservatively: only matchers that cannot hold together (disjoint dates, codes,
   payers, settings...) keep two rules apart.
6. **Indexed, not scanned.** `RulePack` indexes each pattern by code system: exact codes in
   a dict, prefixes in a dict by prefix (looked up once per prefix length in use), ranges
   in elementary segments searched with ``bisect``. Looking a line up costs a few dict
   probes and one binary search per range length, whatever the number of rules that
   cannot match it.
7. **No patient data in errors.** Errors name rule ids, keys, files and lines; explanations
   state the rule's conditions ("age 65 or over"), not the patient's facts.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Final

import attrs
from pendulum import Date

from caredomain.authorization.case import Program
from caredomain.authorization.deadlines import DEADLINES, DecisionDeadline
from caredomain.core.codes import CPT, HCPCS, ICD_10_CM, resolve_system
from caredomain.core.errors import RuleError, ValidationError
from caredomain.core.parties import AdministrativeGender, LineOfBusiness
from caredomain.core.time import to_date

__all__ = [
    "PLACE_OF_SERVICE_SETTING",
    "CodePattern",
    "Covered",
    "DefinedAt",
    "DocNeeded",
    "InfoNeeded",
    "LineFacts",
    "Match",
    "Missing",
    "NetworkStatus",
    "Outcome",
    "PaNeeded",
    "PatternKind",
    "PriorService",
    "Rule",
    "RulePack",
    "Setting",
    "UnitsPeriod",
    "normalize_code",
    "system_label",
]


# --- CRD coverage-information vocabulary -----------------------------------------------


class Covered(StrEnum):
    """CRD ``covered``: is the service covered under the patient's coverage?"""

    COVERED = "covered"
    NOT_COVERED = "not-covered"
    CONDITIONAL = "conditional"
    INDETERMINATE = "indeterminate"


class PaNeeded(StrEnum):
    """CRD ``pa-needed``: is prior authorization needed?

    ``satisfied`` is never a rule's outcome: only an existing approval gives it, and the
    answer then carries that approval's id (CRD invariant crd-ci-q5).
    """

    NO_AUTH = "no-auth"
    AUTH_NEEDED = "auth-needed"
    SATISFIED = "satisfied"
    PERFORMPA = "performpa"
    CONDITIONAL = "conditional"
    INDETERMINATE = "indeterminate"


class DocNeeded(StrEnum):
    """CRD ``doc-needed``: which kind of documentation must be supplied."""

    CLINICAL = "clinical"
    ADMIN = "admin"
    PATIENT = "patient"
    CONDITIONAL = "conditional"
    INDETERMINATE = "indeterminate"


class InfoNeeded(StrEnum):
    """CRD ``info-needed``: what the payer needs to know to answer a ``conditional``."""

    PERFORMER = "performer"
    LOCATION = "location"
    TIMEFRAME = "timeframe"
    CONTRACT_WINDOW = "contract-window"
    DETAIL_CODE = "detail-code"
    OTH = "OTH"


class Setting(StrEnum):
    """Where the service happens, as payers' rules name it."""

    INPATIENT = "inpatient"
    OUTPATIENT_HOSPITAL = "outpatient-hospital"
    AMBULATORY_SURGICAL_CENTER = "ambulatory-surgical-center"
    EMERGENCY = "emergency"
    OFFICE = "office"
    HOME = "home"
    TELEHEALTH = "telehealth"
    SKILLED_NURSING = "skilled-nursing"
    NURSING_FACILITY = "nursing-facility"


PLACE_OF_SERVICE_SETTING: Final[dict[str, Setting]] = {
    "02": Setting.TELEHEALTH,
    "10": Setting.TELEHEALTH,
    "11": Setting.OFFICE,
    "12": Setting.HOME,
    "19": Setting.OUTPATIENT_HOSPITAL,
    "21": Setting.INPATIENT,
    "22": Setting.OUTPATIENT_HOSPITAL,
    "23": Setting.EMERGENCY,
    "24": Setting.AMBULATORY_SURGICAL_CENTER,
    "31": Setting.SKILLED_NURSING,
    "32": Setting.NURSING_FACILITY,
}
"""The setting a CMS place-of-service code implies, when a request gives no setting.

From the CMS Place of Service Code Set (cms.gov, "Place of Service Codes for Professional
Claims"): 02/10 telehealth, 11 office, 12 home, 19 off-campus and 22 on-campus outpatient
hospital, 21 inpatient hospital, 23 emergency room, 24 ambulatory surgical center, 31
skilled nursing facility, 32 nursing facility. Other codes imply no setting.
"""


class NetworkStatus(StrEnum):
    """Whether the performing provider is in the plan's network."""

    IN = "in"
    OUT = "out"


class UnitsPeriod(StrEnum):
    """The period over which a units threshold counts (see `Rule.units_over`).

    Rolling windows are written as ISO 8601 day durations (``P90D``) in `Rule.units_per`.
    """

    SERVICE = "service"
    CALENDAR_MONTH = "calendar-month"
    CALENDAR_YEAR = "calendar-year"
    LIFETIME = "lifetime"


_SYSTEM_LABELS: Final[dict[str, str]] = {CPT: "CPT", HCPCS: "HCPCS", ICD_10_CM: "ICD-10-CM"}


def system_label(system: str | None) -> str:
    """The short name of a code-system URI for explanations (``CPT``), or the URI itself."""
    if system is None:
        return "any system"
    return _SYSTEM_LABELS.get(system, system)


# --- code patterns -----------------------------------------------------------------------


class PatternKind(StrEnum):
    """How a `CodePattern` matches codes."""

    EXACT = "exact"
    RANGE = "range"
    PREFIX = "prefix"
    ANY = "any"


_CODE = re.compile(r"^[A-Z0-9]+$")
_TOP = "\U0010ffff"


def normalize_code(code: str) -> str:
    """A code as the index compares it: upper case, without dots (``h02.831`` -> ``H02831``)."""
    return code.replace(".", "").strip().upper()


def _base36(text: str) -> int:
    try:
        return int(text, 36) if text else 0
    except ValueError:
        return 0


@attrs.frozen
class CodePattern:
    """Which codes of one system a rule matches: one code, a range, a prefix, or any.

    Codes compare upper-cased and without dots, so ``H02.831`` and ``H02831`` are one code.
    A range ``low-high`` matches a code whose first ``len(low)`` characters are between
    ``low`` and ``high`` inclusive (ranges join codes of one length: ``64490-64495``,
    ``K0813-K0816``; for ICD-10-CM, ``I20-I25`` matches every code in categories I20 to I25).

    Attributes:
        kind: Exact, range, prefix or any.
        low: The code, the range's first code, or the prefix (normalized).
        high: The range's last code (normalized); empty for other kinds.
        text: The pattern as written, for explanations.
    """

    kind: PatternKind
    low: str = ""
    high: str = ""
    text: str = attrs.field(default="", eq=False)

    def __attrs_post_init__(self) -> None:
        if self.kind is PatternKind.ANY:
            if self.low or self.high:
                raise ValidationError.at("CodePattern", "expected no code for the pattern '*'")
        elif not _CODE.match(self.low):
            raise ValidationError.at("CodePattern", "expected letters and digits only")
        if self.kind is PatternKind.RANGE:
            if not _CODE.match(self.high) or len(self.high) != len(self.low):
                raise ValidationError.at(
                    "CodePattern", "expected a range of two codes of the same length"
                )
            if self.high < self.low:
                raise ValidationError.at(
                    "CodePattern", "expected a range whose end is not before its start"
                )
        elif self.high:
            raise ValidationError.at("CodePattern", "expected no range end for this kind")
        if not self.text:
            object.__setattr__(self, "text", self._render())

    @classmethod
    def parse(cls, text: str) -> CodePattern:
        """Read ``15823``, ``64490-64495``, ``L58*`` or ``*``.

        Raises:
            ValidationError: A malformed pattern (an empty code, a range with an end before
                its start or of two lengths, a ``*`` anywhere but at the end).
        """
        if not isinstance(text, str) or not text.strip():
            raise ValidationError.at("CodePattern", "expected a code, a range or a prefix")
        raw = text.strip()
        if raw == "*":
            return cls(PatternKind.ANY, text=raw)
        if raw.endswith("*"):
            return cls(PatternKind.PREFIX, normalize_code(raw[:-1]), text=raw)
        if "-" in raw:
            low, _sep, high = raw.partition("-")
            if "-" in high:
                raise ValidationError.at("CodePattern", "expected a range as LOW-HIGH")
            return cls(PatternKind.RANGE, normalize_code(low), normalize_code(high), text=raw)
        return cls(PatternKind.EXACT, normalize_code(raw), text=raw)

    @classmethod
    def any(cls) -> CodePattern:
        """The pattern that matches every code (``*``)."""
        return cls(PatternKind.ANY, text="*")

    def _render(self) -> str:
        if self.kind is PatternKind.ANY:
            return "*"
        if self.kind is PatternKind.PREFIX:
            return f"{self.low}*"
        if self.kind is PatternKind.RANGE:
            return f"{self.low}-{self.high}"
        return self.low

    def __str__(self) -> str:
        return self.text

    def matches(self, code: str) -> bool:
        """Whether the normalized ``code`` is one this pattern matches."""
        kind = self.kind
        if kind is PatternKind.EXACT:
            return code == self.low
        if kind is PatternKind.PREFIX:
            return code.startswith(self.low)
        if kind is PatternKind.RANGE:
            n = len(self.low)
            return len(code) >= n and self.low <= code[:n] <= self.high
        return True

    @property
    def specificity(self) -> tuple[int, int, int]:
        """How narrow the pattern is, as a key: higher is more specific (module rule 4)."""
        if self.kind is PatternKind.EXACT:
            return (3, len(self.low), 0)
        if self.kind is PatternKind.RANGE:
            common = 0
            for a, b in zip(self.low, self.high, strict=True):
                if a != b:
                    break
                common += 1
            width = _base36(self.high[common:]) - _base36(self.low[common:])
            return (2, common, -width)
        if self.kind is PatternKind.PREFIX:
            return (1, len(self.low), 0)
        return (0, 0, 0)

    def bounds(self) -> tuple[str, str]:
        """The pattern as a closed interval of strings (conservative for ranges)."""
        if self.kind is PatternKind.EXACT:
            return self.low, self.low
        if self.kind is PatternKind.PREFIX:
            return self.low, self.low + _TOP
        if self.kind is PatternKind.RANGE:
            return self.low, self.high + _TOP
        return "", _TOP

    def overlaps(self, other: CodePattern) -> bool:
        """Whether some code could match both patterns (never false when one could)."""
        if PatternKind.ANY in (self.kind, other.kind):
            return True
        if self.kind is PatternKind.EXACT:
            return other.matches(self.low)
        if other.kind is PatternKind.EXACT:
            return self.matches(other.low)
        a_low, a_high = self.bounds()
        b_low, b_high = other.bounds()
        return a_low <= b_high and b_low <= a_high

    def covers(self, other: CodePattern) -> bool:
        """Whether every code ``other`` matches, this pattern matches too (or may say no)."""
        if self.kind is PatternKind.ANY:
            return True
        if other.kind is PatternKind.ANY:
            return False
        if other.kind is PatternKind.EXACT:
            return self.matches(other.low)
        if self.kind is PatternKind.EXACT:
            return False
        if self.kind is PatternKind.PREFIX:
            if other.kind is PatternKind.PREFIX:
                return other.low.startswith(self.low)
            return other.low.startswith(self.low) and other.high.startswith(self.low)
        n = len(self.low)
        if other.kind is PatternKind.PREFIX:
            return len(other.low) >= n and self.low <= other.low[:n] <= self.high
        return len(other.low) >= n and self.low <= other.low[:n] and other.high[:n] <= self.high


def _patterns(value: Iterable[CodePattern | str]) -> tuple[CodePattern, ...]:
    if isinstance(value, str | CodePattern):
        value = (value,)
    return tuple(p if isinstance(p, CodePattern) else CodePattern.parse(p) for p in value)


# --- outcomes --------------------------------------------------------------------------


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _doc_codes(value: Iterable[DocNeeded | str]) -> tuple[DocNeeded, ...]:
    if isinstance(value, str):
        value = (value,)
    return tuple(DocNeeded(v) for v in value)


def _info_codes(value: Iterable[InfoNeeded | str]) -> tuple[InfoNeeded, ...]:
    if isinstance(value, str):
        value = (value,)
    return tuple(InfoNeeded(v) for v in value)


@attrs.frozen
class Outcome:
    """What a rule answers, in CRD coverage-information terms.

    The CRD invariants hold by construction (CRD STU 2.2 ``ext-coverage-information``):
    ``not-covered`` has no ``pa_needed`` (crd-ci-q2); ``info_needed`` is given if and only if
    one of ``covered``, ``pa_needed``, ``doc_needed`` is ``conditional`` (crd-ci-q3); ``OTH``
    needs a ``reason`` (crd-ci-q6). ``satisfied`` is not a rule's outcome (crd-ci-q5: it
    needs the approval's id, which only a check knows).

    Attributes:
        covered: Whether the service is covered.
        pa_needed: Whether prior authorization is needed (``None`` only when not covered).
        doc_needed: The kinds of documentation to send.
        info_needed: What the payer needs to know, for a conditional answer.
        documents: The documents themselves, as the payer names them.
        reason: Why, in words a coordinator can act on.
    """

    covered: Covered = Covered.COVERED
    pa_needed: PaNeeded | None = PaNeeded.NO_AUTH
    doc_needed: tuple[DocNeeded, ...] = attrs.field(default=(), converter=_doc_codes)
    info_needed: tuple[InfoNeeded, ...] = attrs.field(default=(), converter=_info_codes)
    documents: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    reason: str | None = None

    def __attrs_post_init__(self) -> None:
        where = "Outcome"
        if self.covered is Covered.NOT_COVERED and self.pa_needed is not None:
            raise ValidationError.at(
                f"{where}.pa_needed", "expected no pa_needed when not-covered (CRD crd-ci-q2)"
            )
        if self.covered is not Covered.NOT_COVERED and self.pa_needed is None:
            raise ValidationError.at(f"{where}.pa_needed", "expected pa_needed unless not-covered")
        if self.pa_needed is PaNeeded.SATISFIED:
            raise ValidationError.at(
                f"{where}.pa_needed",
                "expected no 'satisfied' in a rule: only an approval satisfies (CRD crd-ci-q5)",
            )
        conditional = (
            self.covered is Covered.CONDITIONAL
            or self.pa_needed is PaNeeded.CONDITIONAL
            or DocNeeded.CONDITIONAL in self.doc_needed
        )
        if conditional != bool(self.info_needed):
            raise ValidationError.at(
                f"{where}.info_needed",
                "expected info_needed exactly when an answer is conditional (CRD crd-ci-q3)",
            )
        if InfoNeeded.OTH in self.info_needed and not self.reason:
            raise ValidationError.at(
                f"{where}.reason", "expected a reason with info_needed OTH (CRD crd-ci-q6)"
            )
        if self.documents and not self.doc_needed:
            raise ValidationError.at(
                f"{where}.doc_needed", "expected doc_needed saying what kind the documents are"
            )


# --- facts a rule is matched against ----------------------------------------------------


@attrs.frozen
class PriorService:
    """A service already used (or scheduled) that counts towards units thresholds.

    Attributes:
        system: The code system's URI (short names such as ``"CPT"`` are resolved).
        code: The service code.
        date: Its date of service.
        units: Units it used.
    """

    system: str = attrs.field(converter=resolve_system)
    code: str
    date: Date = attrs.field(converter=to_date)
    units: int = 1

    def __attrs_post_init__(self) -> None:
        if self.units < 0:
            raise ValidationError.at("PriorService.units", "expected zero or more units")


def _casefold(value: str) -> str:
    return value.casefold()


@attrs.frozen
class LineFacts:
    """One service line in its context, as rules see it, as of its date of service.

    Built by `caredomain.authorization.check` from a request; ``None`` means the request
    did not say (module rule 3).

    Attributes:
        payer: The payer's id (compared case-insensitively).
        date_of_service: The date the rules are taken "as of".
        system: The service code's system URI.
        code: The service code (normalized by `normalize_code`).
        units: Units this line asks for.
        plan: The plan, if known.
        line_of_business: The kind of plan, if known.
        setting: The setting (given, or implied by the place of service).
        place_of_service: The CMS place-of-service code.
        network: In or out of network.
        age: Whole years of age on the date of service.
        sex: Administrative gender.
        diagnoses: Normalized ICD-10-CM codes.
        billed_with: ``(system, normalized code)`` of every line of the request.
        prior_units: Units already used in the threshold's period, counted by the caller.
        history: Earlier services, for rules to count units in their own period.
    """

    payer: str = attrs.field(converter=_casefold)
    date_of_service: Date = attrs.field(converter=to_date)
    system: str
    code: str = attrs.field(converter=normalize_code)
    units: int = 1
    plan: str | None = None
    line_of_business: LineOfBusiness | None = None
    setting: Setting | None = None
    place_of_service: str | None = None
    network: NetworkStatus | None = None
    age: int | None = None
    sex: AdministrativeGender | None = None
    diagnoses: frozenset[str] | None = None
    billed_with: frozenset[tuple[str, str]] = frozenset()
    prior_units: int | None = None
    history: tuple[PriorService, ...] | None = None
    _day: int = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_day", self.date_of_service.toordinal())

    @property
    def day(self) -> int:
        """The date of service as a proleptic ordinal (fast comparisons)."""
        return self._day


@attrs.frozen
class Missing:
    """A fact a rule needs that the request did not give.

    Attributes:
        info: The CRD info-needed code to ask for it with.
        what: The fact, in words (``"place of service or setting"``).
    """

    info: InfoNeeded
    what: str


_PLAN = Missing(InfoNeeded.OTH, "plan")
_LOB = Missing(InfoNeeded.OTH, "line of business")
_SETTING = Missing(InfoNeeded.LOCATION, "setting or place of service")
_POS = Missing(InfoNeeded.LOCATION, "place of service")
_NETWORK = Missing(InfoNeeded.PERFORMER, "network status of the performing provider")
_SEX = Missing(InfoNeeded.OTH, "patient sex")
_AGE = Missing(InfoNeeded.OTH, "patient birth date")
_DIAGNOSES = Missing(InfoNeeded.OTH, "diagnoses")
_UNITS = Missing(InfoNeeded.OTH, "units used earlier in the period")


# --- rules -----------------------------------------------------------------------------


@attrs.frozen
class DefinedAt:
    """Where a rule was written, for errors: a file and line."""

    source: str
    line: int | None = None


def _lob_set(value: Iterable[str] | str) -> frozenset[LineOfBusiness]:
    return frozenset(LineOfBusiness(v) for v in _string_set(value))


def _setting_set(value: Iterable[str] | str) -> frozenset[Setting]:
    return frozenset(Setting(v) for v in _string_set(value))


def _sex_set(value: Iterable[str] | str) -> frozenset[AdministrativeGender]:
    return frozenset(AdministrativeGender(v) for v in _string_set(value))


def _string_set(value: Iterable[str] | str) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    return frozenset(value)


def _casefold_set(value: Iterable[str] | str) -> frozenset[str]:
    return frozenset(v.casefold() for v in _string_set(value))


def _optional_casefold(value: str | None) -> str | None:
    return None if value is None else value.casefold()


def _optional_system(value: str | None) -> str | None:
    return None if value is None else resolve_system(value)


def _billed_with(
    value: Iterable[tuple[str, CodePattern | str]],
) -> tuple[tuple[str, CodePattern], ...]:
    out = []
    for system, pattern in value:
        parsed = pattern if isinstance(pattern, CodePattern) else CodePattern.parse(pattern)
        out.append((resolve_system(system), parsed))
    return tuple(out)


_ROLLING = re.compile(r"^P(\d+)D$")


def _check_units_per(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if value in {p.value for p in UnitsPeriod}:
        return
    found = _ROLLING.match(value)
    if found is None or int(found.group(1)) < 1:
        raise ValidationError.at(
            "Rule.units_per",
            "expected service, calendar-month, calendar-year, lifetime or days as P90D",
        )


def _check_rule_id(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not value or value != value.strip() or any(c.isspace() for c in value):
        raise ValidationError.at("Rule.id", "expected a non-empty rule id without spaces")


def _optional_date(value: _dt.date | None) -> Date | None:
    return None if value is None else to_date(value)


_NPI = re.compile(r"^\d{10}$")


@attrs.frozen
class Rule:
    """One payer rule: which services it matches, and what the payer answers for them.

    Build rules in code or load them from TOML (`caredomain.authorization.packs`). Every
    matcher is optional; an unset one matches anything (module rule 1).

    Attributes:
        id: Unique within a pack; answers and errors name it.
        outcome: What the payer answers when the rule decides.
        system: The service codes' system URI (``"CPT"``/``"HCPCS"`` are resolved);
            ``None`` only with the pattern ``*`` (a rule for every service).
        codes: The service code patterns, any of which matches.
        payer: The payer's id; ``None`` for every payer.
        plans: Plans it applies to; empty for every plan.
        lines_of_business: Kinds of plan it applies to; empty for all.
        effective: First date of service it applies to; ``None`` for always.
        end: First date of service it no longer applies to; ``None`` for never.
        settings: Settings it applies to (empty: any).
        places_of_service: CMS place-of-service codes it applies to (empty: any).
        network: Network status it applies to (``None``: either).
        sexes: Administrative genders it applies to (empty: any).
        age_at_least: Applies from this age in whole years on the date of service.
        age_below: Applies below this age.
        diagnoses: ICD-10-CM patterns; at least one diagnosis must match one.
        excluded_diagnoses: ICD-10-CM patterns; no diagnosis may match one.
        billed_with: ``(system, pattern)`` pairs; a line of the same request must match
            one (Medicare OPD botulinum toxin: CPT 64612 only with J0585-J0588).
        units_over: Applies when units used in `units_per` plus this line's exceed it
            ("more than 12 visits per calendar year" is ``units_over=12``).
        units_per: The units period: a `UnitsPeriod` value or rolling days (``P90D``).
        exempt_providers: NPIs of ordering providers exempt from this rule's prior
            authorization (gold carding): their requests answer ``no-auth``.
        exclusion: An exception carved out of other rules: it beats every ordinary rule.
        fallback: The answer when nothing else matches: every ordinary rule beats it.
        priority: Breaks ties explicitly; higher wins (module rule 4).
        program: Whose decision timeframes apply (for ``decision_due``).
        deadline: The decision timeframes; by default `DEADLINES` of `program`.
        category: A short name of the service group (``blepharoplasty``).
        description: What the rule is for.
        source: The document the rule comes from (name it, with its date).
        defined_at: Where the rule was written (file and line), for errors.
    """

    id: str = attrs.field(validator=_check_rule_id)
    outcome: Outcome
    system: str | None = attrs.field(default=None, converter=_optional_system)
    codes: tuple[CodePattern, ...] = attrs.field(default=(CodePattern.any(),), converter=_patterns)
    payer: str | None = attrs.field(default=None, converter=_optional_casefold)
    plans: frozenset[str] = attrs.field(default=frozenset(), converter=_casefold_set)
    lines_of_business: frozenset[LineOfBusiness] = attrs.field(
        default=frozenset(), converter=_lob_set
    )
    effective: Date | None = attrs.field(default=None, converter=_optional_date)
    end: Date | None = attrs.field(default=None, converter=_optional_date)
    settings: frozenset[Setting] = attrs.field(default=frozenset(), converter=_setting_set)
    places_of_service: frozenset[str] = attrs.field(default=frozenset(), converter=_string_set)
    network: NetworkStatus | None = None
    sexes: frozenset[AdministrativeGender] = attrs.field(default=frozenset(), converter=_sex_set)
    age_at_least: int | None = None
    age_below: int | None = None
    diagnoses: tuple[CodePattern, ...] = attrs.field(default=(), converter=_patterns)
    excluded_diagnoses: tuple[CodePattern, ...] = attrs.field(default=(), converter=_patterns)
    billed_with: tuple[tuple[str, CodePattern], ...] = attrs.field(
        default=(), converter=_billed_with
    )
    units_over: int | None = None
    units_per: str = attrs.field(
        default=UnitsPeriod.CALENDAR_YEAR.value, validator=_check_units_per
    )
    exempt_providers: frozenset[str] = attrs.field(default=frozenset(), converter=_string_set)
    exclusion: bool = False
    fallback: bool = False
    priority: int = 0
    program: Program | None = None
    deadline: DecisionDeadline | None = None
    category: str | None = None
    description: str | None = None
    source: str | None = None
    defined_at: DefinedAt | None = attrs.field(default=None, eq=False, repr=False)
    _start: int = attrs.field(init=False, eq=False, repr=False)
    _stop: int = attrs.field(init=False, eq=False, repr=False)
    _constraints: int = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        where = "Rule"
        if self.system is None and any(p.kind is not PatternKind.ANY for p in self.codes):
            raise ValidationError.at(f"{where}.system", "expected a code system for these codes")
        if not self.codes:
            raise ValidationError.at(f"{where}.codes", "expected at least one code pattern")
        if self.effective is not None and self.end is not None and self.end <= self.effective:
            raise ValidationError.at(f"{where}.end", "expected end after effective")
        for name in ("age_at_least", "age_below", "units_over"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise ValidationError.at(f"{where}.{name}", "expected a whole number, 0 or more")
        if (
            self.age_at_least is not None
            and self.age_below is not None
            and self.age_below <= self.age_at_least
        ):
            raise ValidationError.at(f"{where}.age_below", "expected age_below above age_at_least")
        if self.exclusion and self.fallback:
            raise ValidationError.at(
                f"{where}.fallback", "expected an exclusion or a fallback, not both"
            )
        for npi in self.exempt_providers:
            if not _NPI.match(npi):
                raise ValidationError.at(f"{where}.exempt_providers", "expected 10-digit NPIs")
        for pos in self.places_of_service:
            if not (len(pos) == 2 and pos.isdigit()):
                raise ValidationError.at(
                    f"{where}.places_of_service", "expected two-digit CMS place-of-service codes"
                )
        if self.deadline is None and self.program is not None:
            object.__setattr__(self, "deadline", DEADLINES.get(self.program))
        object.__setattr__(
            self, "_start", self.effective.toordinal() if self.effective is not None else 0
        )
        object.__setattr__(self, "_stop", self.end.toordinal() if self.end is not None else 10**9)
        count = sum(
            bool(x)
            for x in (
                self.plans,
                self.lines_of_business,
                self.settings,
                self.places_of_service,
                self.network is not None,
                self.sexes,
                self.age_at_least is not None or self.age_below is not None,
                self.diagnoses,
                self.excluded_diagnoses,
                self.billed_with,
                self.units_over is not None,
            )
        )
        object.__setattr__(self, "_constraints", count)

    # -- precedence -------------------------------------------------------------------

    @property
    def tier(self) -> int:
        """2 for an exclusion, 1 for an ordinary rule, 0 for a fallback."""
        return 2 if self.exclusion else 0 if self.fallback else 1

    @property
    def constraints(self) -> int:
        """How many matchers besides codes, payer and dates the rule sets."""
        return self._constraints

    def precedence(self, pattern: CodePattern) -> tuple[int, ...]:
        """The precedence key when ``pattern`` matched (module rule 4): higher wins."""
        return (self.tier, *pattern.specificity, self._constraints, self.priority)

    @property
    def answer(self) -> tuple[object, ...]:
        """What decides the answer: two rules answering alike tie harmlessly."""
        return (self.outcome, self.exempt_providers, self.deadline)

    # -- matching ---------------------------------------------------------------------

    def pattern_for(self, code: str) -> CodePattern | None:
        """The most specific of the rule's patterns matching the normalized ``code``."""
        best: CodePattern | None = None
        for pattern in self.codes:
            if pattern.matches(code) and (best is None or pattern.specificity > best.specificity):
                best = pattern
        return best

    def assess(self, facts: LineFacts) -> tuple[Missing, ...] | None:
        """Whether the rule matches ``facts``, codes aside (the index matched them).

        Returns:
            ``None`` when it does not match; otherwise the facts it would need that the
            request lacks: an empty tuple is a sure match (module rule 3).
        """
        day = facts.day
        if day < self._start or day >= self._stop:
            return None
        if self.payer is not None and self.payer != facts.payer:
            return None
        if not self._constraints:
            return ()
        missing: list[Missing] = []
        plan = facts.plan.casefold() if facts.plan is not None else None
        network = frozenset({self.network}) if self.network is not None else frozenset()
        # (what the rule allows, what the request says, what to ask for when it says nothing)
        for allowed, value, ask in (
            (self.plans, plan, _PLAN),
            (self.lines_of_business, facts.line_of_business, _LOB),
            (self.settings, facts.setting, _SETTING),
            (self.places_of_service, facts.place_of_service, _POS),
            (network, facts.network, _NETWORK),
            (self.sexes, facts.sex, _SEX),
        ):
            if not allowed:
                continue
            if value is None:
                missing.append(ask)
            elif value not in allowed:
                return None
        if self.age_at_least is not None or self.age_below is not None:
            if facts.age is None:
                missing.append(_AGE)
            elif (self.age_at_least is not None and facts.age < self.age_at_least) or (
                self.age_below is not None and facts.age >= self.age_below
            ):
                return None
        if self.diagnoses or self.excluded_diagnoses:
            if facts.diagnoses is None:
                missing.append(_DIAGNOSES)
            else:
                if self.diagnoses and not any(
                    p.matches(d) for d in facts.diagnoses for p in self.diagnoses
                ):
                    return None
                if any(p.matches(d) for d in facts.diagnoses for p in self.excluded_diagnoses):
                    return None
        if self.billed_with and not any(
            system == s and pattern.matches(code)
            for system, code in facts.billed_with
            for s, pattern in self.billed_with
        ):
            return None
        if self.units_over is not None and facts.units <= self.units_over:
            prior = self.prior_units(facts)
            if prior is None:
                missing.append(_UNITS)
            elif prior + facts.units <= self.units_over:
                return None
        return tuple(missing)

    def prior_units(self, facts: LineFacts) -> int | None:
        """Units already used in the rule's period, or ``None`` when the request lacks them.

        The caller's ``prior_units`` wins; else the history's services that match the
        rule's codes and fall in the period: the same calendar year or month as the date
        of service, the rolling ``PnD`` days ending on it, or ever (``lifetime``).
        """
        if self.units_per == UnitsPeriod.SERVICE:
            return 0
        if facts.prior_units is not None:
            return facts.prior_units
        if facts.history is None:
            return None
        dos = facts.date_of_service
        rolling = _ROLLING.match(self.units_per)
        total = 0
        for prior in facts.history:
            if prior.system != self.system:
                continue
            code = normalize_code(prior.code)
            if not any(p.matches(code) for p in self.codes):
                continue
            when = prior.date
            if self.units_per == UnitsPeriod.CALENDAR_YEAR:
                inside = when.year == dos.year
            elif self.units_per == UnitsPeriod.CALENDAR_MONTH:
                inside = (when.year, when.month) == (dos.year, dos.month)
            elif rolling is not None:
                days = (dos - when).days
                inside = 0 <= days < int(rolling.group(1))
            else:
                inside = True
            if inside:
                total += prior.units
        return total

    def could_coexist(self, other: Rule) -> bool:
        """Whether one line could match both rules, codes aside (conservative: module rule 5)."""
        if self.system is not None and other.system is not None and self.system != other.system:
            return False
        if self._start >= other._stop or other._start >= self._stop:
            return False
        if self.payer is not None and other.payer is not None and self.payer != other.payer:
            return False
        for mine, theirs in (
            (self.plans, other.plans),
            (self.lines_of_business, other.lines_of_business),
            (self.settings, other.settings),
            (self.places_of_service, other.places_of_service),
            (self.sexes, other.sexes),
        ):
            if mine and theirs and not (mine & theirs):
                return False
        if self.network is not None and other.network is not None and self.network != other.network:
            return False
        low = max(self.age_at_least or 0, other.age_at_least or 0)
        high = min(
            self.age_below if self.age_below is not None else 10**6,
            other.age_below if other.age_below is not None else 10**6,
        )
        if low >= high:
            return False
        for a, b in ((self, other), (other, self)):
            if a.diagnoses and all(
                any(ex.covers(p) for ex in b.excluded_diagnoses) for p in a.diagnoses
            ):
                return False
        return True

    def covers_rule(self, other: Rule) -> bool:
        """Whether this rule matches at least everything ``other`` matches, codes aside."""
        if self._start > other._start or self._stop < other._stop:
            return False
        if self.payer is not None and self.payer != other.payer:
            return False
        for mine, theirs in (
            (self.plans, other.plans),
            (self.lines_of_business, other.lines_of_business),
            (self.settings, other.settings),
            (self.places_of_service, other.places_of_service),
            (self.sexes, other.sexes),
        ):
            if mine and not (theirs and theirs <= mine):
                return False
        if self.network is not None and self.network != other.network:
            return False
        if self.age_at_least is not None and (
            other.age_at_least is None or other.age_at_least < self.age_at_least
        ):
            return False
        if self.age_below is not None and (
            other.age_below is None or other.age_below > self.age_below
        ):
            return False
        if self.diagnoses and not (
            other.diagnoses
            and all(any(mine.covers(p) for mine in self.diagnoses) for p in other.diagnoses)
        ):
            return False
        if self.excluded_diagnoses and not all(
            any(theirs.covers(p) for theirs in other.excluded_diagnoses)
            for p in self.excluded_diagnoses
        ):
            return False
        if self.billed_with and self.billed_with != other.billed_with:
            return False
        return self.units_over is None or (
            other.units_over is not None
            and other.units_over >= self.units_over
            and other.units_per == self.units_per
        )

    def conditions(self) -> list[str]:
        """The rule's conditions in words, for explanations (never the patient's facts)."""
        words = []
        if self.effective is not None:
            words.append(f"from {self.effective.isoformat()}")
        if self.end is not None:
            words.append(f"until {self.end.isoformat()} (exclusive)")
        if self.plans:
            words.append("plan " + "/".join(sorted(self.plans)))
        if self.lines_of_business:
            words.append("line of business " + "/".join(sorted(self.lines_of_business)))
        if self.settings:
            words.append("setting " + "/".join(sorted(self.settings)))
        if self.places_of_service:
            words.append("place of service " + "/".join(sorted(self.places_of_service)))
        if self.network is not None:
            words.append(f"{self.network.value}-network")
        if self.sexes:
            words.append("sex " + "/".join(sorted(self.sexes)))
        if self.age_at_least is not None:
            words.append(f"age {self.age_at_least} or over")
        if self.age_below is not None:
            words.append(f"age under {self.age_below}")
        if self.diagnoses:
            words.append("a diagnosis in " + ", ".join(str(p) for p in self.diagnoses))
        if self.excluded_diagnoses:
            words.append("no diagnosis in " + ", ".join(str(p) for p in self.excluded_diagnoses))
        if self.billed_with:
            words.append(
                "billed with " + ", ".join(f"{system_label(s)} {p}" for s, p in self.billed_with)
            )
        if self.units_over is not None:
            words.append(f"more than {self.units_over} units per {self.units_per}")
        return words


# --- matches and the pack ----------------------------------------------------------------


@attrs.frozen
class Match:
    """A rule that matches (or may match) a line.

    Attributes:
        rule: The rule.
        pattern: Its code pattern that matched the line.
        key: Its precedence key for that pattern (`Rule.precedence`).
        missing: Facts the request lacks; empty when the match is sure.
    """

    rule: Rule
    pattern: CodePattern
    key: tuple[int, ...]
    missing: tuple[Missing, ...] = ()

    @property
    def sure(self) -> bool:
        """Whether the rule matches whatever the missing facts turn out to be."""
        return not self.missing


_Entry = tuple[Rule, CodePattern, tuple[int, ...]]


class _RangeIndex:
    """Ranges of one length as elementary segments: a stabbing query is one bisect."""

    def __init__(self, length: int, entries: list[_Entry]) -> None:
        self.length = length
        points = sorted({e[1].low for e in entries} | {e[1].high for e in entries})
        self.points = points
        slots: list[list[_Entry]] = [[] for _ in range(2 * len(points))]
        for entry in entries:
            first = bisect.bisect_left(points, entry[1].low)
            last = bisect.bisect_left(points, entry[1].high)
            for slot in range(2 * first, 2 * last + 1):
                slots[slot].append(entry)
        self.slots = [tuple(s) for s in slots]

    def query(self, code: str) -> tuple[_Entry, ...]:
        if len(code) < self.length:
            return ()
        key = code[: self.length]
        i = bisect.bisect_left(self.points, key)
        if i < len(self.points) and self.points[i] == key:
            return self.slots[2 * i]
        if i == 0:
            return ()
        return self.slots[2 * i - 1]


class _SystemIndex:
    """The index of one code system's patterns (module rule 6)."""

    def __init__(self, entries: list[_Entry]) -> None:
        exact: dict[str, list[_Entry]] = defaultdict(list)
        prefixes: dict[str, list[_Entry]] = defaultdict(list)
        ranges: dict[int, list[_Entry]] = defaultdict(list)
        self.any: tuple[_Entry, ...] = ()
        anything = []
        for entry in entries:
            pattern = entry[1]
            if pattern.kind is PatternKind.EXACT:
                exact[pattern.low].append(entry)
            elif pattern.kind is PatternKind.PREFIX:
                prefixes[pattern.low].append(entry)
            elif pattern.kind is PatternKind.RANGE:
                ranges[len(pattern.low)].append(entry)
            else:
                anything.append(entry)
        self.exact = {code: tuple(items) for code, items in exact.items()}
        self.prefixes = {code: tuple(items) for code, items in prefixes.items()}
        self.prefix_lengths = sorted({len(p) for p in prefixes})
        self.ranges = [_RangeIndex(n, items) for n, items in sorted(ranges.items())]
        self.any = tuple(anything)

    def query(self, code: str) -> list[_Entry]:
        found = list(self.exact.get(code, ()))
        prefixes = self.prefixes
        for n in self.prefix_lengths:
            if n > len(code):
                break
            hit = prefixes.get(code[:n])
            if hit:
                found.extend(hit)
        for ranges in self.ranges:
            found.extend(ranges.query(code))
        found.extend(self.any)
        return found


def _ties(entries: list[_Entry]) -> Iterator[tuple[_Entry, _Entry]]:
    """Pairs of entries with equal keys whose patterns overlap (candidates for a tie)."""
    by_key: dict[tuple[object, ...], list[_Entry]] = defaultdict(list)
    for entry in entries:
        by_key[entry[2]].append(entry)
    for group in by_key.values():
        if len(group) < 2:
            continue
        kind = group[0][1].kind
        if kind in (PatternKind.EXACT, PatternKind.PREFIX):
            same: dict[str, list[_Entry]] = defaultdict(list)
            for entry in group:
                same[entry[1].low].append(entry)
            for items in same.values():
                for i, a in enumerate(items):
                    for b in items[i + 1 :]:
                        yield a, b
        elif kind is PatternKind.RANGE:
            ordered = sorted(group, key=lambda e: e[1].low)
            active: list[_Entry] = []
            for entry in ordered:
                active = [a for a in active if a[1].overlaps(entry[1])]
                for a in active:
                    yield a, entry
                active.append(entry)
        else:
            for i, a in enumerate(group):
                for b in group[i + 1 :]:
                    yield a, b


def _tie_error(a: Rule, b: Rule, pattern: CodePattern) -> RuleError:
    where = b.defined_at or a.defined_at
    other = a if where is b.defined_at else b
    here = b if other is a else a
    return RuleError(
        f"rules {a.id} and {b.id} tie: both can match {system_label(a.system)} {pattern} "
        f"with equal precedence and different answers; narrow one or give it a priority",
        source=where.source if where else "<python>",
        line=where.line if where else None,
        key=here.id,
    )


def _to_rules(value: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(value)


@attrs.frozen
class RulePack:
    """A set of rules, checked for ties and indexed by code (module rules 5 and 6).

    Attributes:
        name: The pack's name (``medicare``, ``acme-commercial``).
        rules: The rules, in the order written (order never changes an answer).
        version: The pack's version or as-of date, if it has one.
        source: The documents the pack was built from, with their dates.

    Raises:
        RuleError: Two rules share an id, or two rules tie (module rule 5).
    """

    name: str
    rules: tuple[Rule, ...] = attrs.field(converter=_to_rules)
    version: str | None = None
    source: str | None = None
    _index: dict[str | None, _SystemIndex] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )
    _by_id: dict[str, Rule] = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        by_id: dict[str, Rule] = {}
        for rule in self.rules:
            if rule.id in by_id:
                where = rule.defined_at
                raise RuleError(
                    "duplicate rule id",
                    source=where.source if where else "<python>",
                    line=where.line if where else None,
                    key=rule.id,
                )
            by_id[rule.id] = rule
        entries: dict[str | None, list[_Entry]] = defaultdict(list)
        for rule in self.rules:
            for pattern in rule.codes:
                entries[rule.system].append((rule, pattern, rule.precedence(pattern)))
        everything = [e for items in entries.values() for e in items]
        for (a, pa, _), (b, _pb, _) in _ties(everything):
            if a is not b and a.answer != b.answer and a.could_coexist(b):
                raise _tie_error(a, b, pa)
        object.__setattr__(self, "_by_id", by_id)
        object.__setattr__(
            self, "_index", {system: _SystemIndex(items) for system, items in entries.items()}
        )

    def __len__(self) -> int:
        return len(self.rules)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id.

        Raises:
            KeyError: No such rule.
        """
        return self._by_id[rule_id]

    def entries(
        self, system: str | None, code: str | None
    ) -> list[tuple[Rule, CodePattern, tuple[int, ...]]]:
        """Every ``(rule, pattern, key)`` whose pattern matches ``code`` (``None``: only ``*``).

        Unlike `candidates`, a rule appears once per matching pattern. Rules for any system
        (``system=None``) are included.
        """
        found: list[_Entry] = []
        index = self._index.get(system)
        if index is not None:
            found = index.query(normalize_code(code)) if code is not None else list(index.any)
        anywhere = self._index.get(None)
        if anywhere is not None and system is not None:
            found.extend(anywhere.any)
        return found

    def candidates(self, system: str, code: str) -> list[tuple[Rule, CodePattern, tuple[int, ...]]]:
        """Rules whose code patterns match ``code`` of ``system`` (the index lookup).

        Each rule appears once, with its most specific matching pattern.
        """
        code = normalize_code(code)
        found: list[_Entry] = []
        index = self._index.get(system)
        if index is not None:
            found = index.query(code)
        anywhere = self._index.get(None)
        if anywhere is not None:
            found.extend(anywhere.any)
        if len(found) < 2:
            return found
        best: dict[str, _Entry] = {}
        for entry in found:
            seen = best.get(entry[0].id)
            if seen is None or entry[2] > seen[2]:
                best[entry[0].id] = entry
        return list(best.values())

    def matches(self, facts: LineFacts) -> list[Match]:
        """Every rule that matches, or may match, ``facts``: highest precedence first.

        Ties in precedence are ordered by rule id, so the result never depends on the
        order in which rules were written.
        """
        out = []
        for rule, pattern, key in self.candidates(facts.system, facts.code):
            missing = rule.assess(facts)
            if missing is not None:
                out.append(Match(rule, pattern, key, missing))
        if len(out) > 1:
            out.sort(key=lambda m: m.rule.id)
            out.sort(key=lambda m: m.key, reverse=True)
        return out

    @classmethod
    def combine(cls, packs: Sequence[RulePack], name: str | None = None) -> RulePack:
        """One pack holding the rules of several (ties across them are errors too).

        Raises:
            RuleError: Duplicate rule ids or ties across the packs.
        """
        if len(packs) == 1 and name is None:
            return packs[0]
        rules = [rule for pack in packs for rule in pack.rules]
        sources = [p.source for p in packs if p.source]
        return cls(
            name or "+".join(p.name for p in packs),
            rules,
            source="; ".join(sources) or None,
        )
