"""Typed HL7 v2 datatypes: readers from an `Item` to caredomain values, and writers back.

Each ``read_xxx`` takes one field repetition (an `Item`, from `Segment.item`,
`Segment.items` or `Message.item`) and returns a core value, or ``None`` when the item is
empty (absent, all separators, or the HL7 null ``""``). Each ``write_xxx`` takes the value
and returns the escaped ER7 text of one field repetition, trailing empty components and
subcomponents trimmed. For every pair ``read(write(x)) == x`` over the values the datatype
can carry (property-tested); what a datatype cannot carry is dropped by the writer, and the
docstring of each writer says what.

Rules of this module:

1. Readers raise only `Hl7ParseError`, at the item's position (segment, field, repetition,
   component) with what was expected, and never the content. A bad *configuration* (an
   unknown timezone name) is the caller's mistake and raises ``ValidationError``.
2. Components are read stripped of surrounding spaces (fixed-width senders pad them).
3. Code-table mappings follow the HL7 v2-to-FHIR IG (HL7 International, "HL7 Version 2 to
   FHIR" STU 1, ConceptMaps named at each table below); field layouts follow HL7 v2.5.1
   chapter 2A (and v2.8 where later components are read).
4. Hot paths use precompiled patterns, cached lookups and pendulum constructors from
   integers (never ``pendulum.parse``); no regex is built per call.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from decimal import Decimal
from enum import IntEnum
from typing import Final

import attrs
import pendulum
from pendulum import Date, DateTime

from caredomain.adapters.hl7v2._message import Delimiters, Hl7ParseError, Item, escape
from caredomain.core.codes import (
    CPT,
    HCPCS,
    ICD_10_CM,
    LOINC,
    NPI,
    RXNORM,
    SNOMED_CT,
    UCUM,
    CodeableConcept,
    Coding,
    hl7_v2_table,
    resolve_system,
)
from caredomain.core.errors import NaiveDatetimeError, ValidationError
from caredomain.core.identity import Identifier, stable_id
from caredomain.core.parties import Address, ContactPoint, ContactPointSystem, HumanName
from caredomain.core.quantities import Quantity, to_decimal
from caredomain.core.time import epoch_us, validate_timezone

__all__ = [
    "Hl7Location",
    "Hl7Person",
    "Hl7Time",
    "Precision",
    "StructuredNumeric",
    "parse_nm",
    "parse_ts",
    "read_cq",
    "read_cwe",
    "read_cx",
    "read_ei",
    "read_nm",
    "read_pl",
    "read_sn",
    "read_ts",
    "read_xad",
    "read_xcn",
    "read_xpn",
    "read_xtn",
    "write_ce",
    "write_cq",
    "write_cwe",
    "write_cx",
    "write_ei",
    "write_nm",
    "write_pl",
    "write_sn",
    "write_ts",
    "write_xad",
    "write_xcn",
    "write_xpn",
    "write_xtn",
]

_STANDARD: Final = Delimiters()

# --------------------------------------------------------------------------------------
# Code tables (HL7 v2-to-FHIR IG ConceptMaps; codes the IG leaves "unmatched" map to None)
# --------------------------------------------------------------------------------------

# ConceptMap "Table HL70200 to Name Use" (table-hl70200-to-name-use). A, B, C, F, I, K, NB,
# NOUSE, P, REL, S, T, U are unmatched in the IG.
_NAME_USE: Final[dict[str, str]] = {
    "BAD": "old",
    "D": "usual",
    "L": "official",
    "M": "maiden",
    "MSK": "anonymous",
    "N": "nickname",
    "NAV": "temp",
    "R": "official",
    "TEMP": "temp",
}
# The inverse, one code per use: the IG's first (or only) source code for each target.
_NAME_TYPE: Final[dict[str, str]] = {
    "old": "BAD",
    "usual": "D",
    "official": "L",
    "maiden": "M",
    "anonymous": "MSK",
    "nickname": "N",
    "temp": "TEMP",
}

# ConceptMap "Table HL70190 to Address Use" (table-hl70190-to-address-use). M and SH map to
# Address.type "postal" in the IG (table-hl70190-to-address-type), which Address does not hold.
_ADDRESS_USE: Final[dict[str, str]] = {
    "BA": "old",
    "BI": "billing",
    "C": "temp",
    "B": "work",
    "H": "home",
    "O": "work",
}
_ADDRESS_TYPE: Final[dict[str, str]] = {
    "old": "BA",
    "billing": "BI",
    "temp": "C",
    "work": "B",
    "home": "H",
}

# ConceptMap "Table HL70201 to Contact Point Use" (table-hl70201-to-contact-point-use).
# ORN, VHN, ASN, EMR, NET, BPN are unmatched in the IG.
_CONTACT_USE: Final[dict[str, str]] = {"PRN": "home", "WPN": "work", "PRS": "mobile"}
_TELECOM_USE: Final[dict[str, str]] = {"home": "PRN", "work": "WPN", "mobile": "PRS"}

# ConceptMap "Table HL70202 to Contact Point System" (table-hl70202-to-contact-point-system);
# its second group maps CP to ContactPoint.use "mobile", and CP is a phone.
_P = ContactPointSystem
_CONTACT_SYSTEM: Final[dict[str, ContactPointSystem]] = {
    "PH": _P.PHONE,
    "FX": _P.FAX,
    "MD": _P.OTHER,
    "SAT": _P.OTHER,
    "BP": _P.PAGER,
    "Internet": _P.EMAIL,
    "X.400": _P.EMAIL,
    "TDD": _P.OTHER,
    "TTY": _P.OTHER,
    "CP": _P.PHONE,
}
# SMS goes to a cellular phone (CP) and a URL is an Internet address; OTHER has no code.
_EQUIPMENT: Final[dict[ContactPointSystem, str]] = {
    _P.PHONE: "PH",
    _P.FAX: "FX",
    _P.EMAIL: "Internet",
    _P.PAGER: "BP",
    _P.SMS: "CP",
    _P.URL: "Internet",
    _P.OTHER: "",
}

# HL7 table 0396 mnemonics written for the systems caredomain knows (the read direction is
# core.codes.resolve_system). I10C is ICD-10-CM (table 0396 from v2.6; "I10" is WHO ICD-10).
_MNEMONICS: Final[dict[str, str]] = {
    LOINC: "LN",
    SNOMED_CT: "SCT",
    ICD_10_CM: "I10C",
    CPT: "C4",
    HCPCS: "HCPCS",
    UCUM: "UCUM",
    RXNORM: "RXNORM",
    NPI: "NPI",
}
_V2_TABLE_PREFIX: Final = hl7_v2_table(1)[:-4]
_HL7_TABLE: Final = re.compile(r"HL7(\d{4})", re.ASCII | re.IGNORECASE)

# HL7 table 0301 (Universal ID type) -> URI, per the IG's "HD[uri]" map: ISO -> urn:oid:,
# UUID -> urn:uuid:, any other type (URI, DNS, ...) as written.
_UID_PREFIX: Final[dict[str, str]] = {"ISO": "urn:oid:", "UUID": "urn:uuid:"}


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _error(at: Item | None, expected: str, component: int | None = None) -> Hl7ParseError:
    if at is None:
        return Hl7ParseError(expected, component=component)
    return at.error(expected, component=component)


def _join(parts: list[str], separator: str) -> str:
    end = len(parts)
    while end and not parts[end - 1]:
        end -= 1
    return separator.join(parts[:end])


def _subs(parts: list[str], d: Delimiters) -> str:
    """One component made of subcomponents, each escaped, trailing empties trimmed."""
    return _join([escape(p, d) for p in parts], d.subcomponent)


@functools.lru_cache(maxsize=1024)
def _known_system(name: str) -> str | None:
    # resolve_system raises for unknown names; the answer for a name never changes.
    try:
        return resolve_system(name)
    except ValidationError:
        return None


@functools.lru_cache(maxsize=1024)
def _coding_system(name: str) -> str:
    """CWE-3/6/12 (HL7 table 0396) -> a system URI; unknown names are kept as written."""
    match = _HL7_TABLE.fullmatch(name)
    if match is not None and int(match[1]) > 0:
        return hl7_v2_table(int(match[1]))
    return _known_system(name) or name


def _coding_system_name(system: str) -> str:
    mnemonic = _MNEMONICS.get(system)
    if mnemonic is not None:
        return mnemonic
    rest = system.removeprefix(_V2_TABLE_PREFIX)
    if rest != system and len(rest) == 4 and rest.isascii() and rest.isdigit():
        return f"HL7{rest}"
    return system


@functools.lru_cache(maxsize=1024)
def _v2_concept(table: int, code: str) -> CodeableConcept:
    return CodeableConcept((Coding(hl7_v2_table(table), code),))


def _v2_code(concept: CodeableConcept | None, table: int) -> str:
    if concept is None:
        return ""
    system = hl7_v2_table(table)
    return next((c.code for c in concept.codings if c.system == system), "")


def _hd_system(namespace: str, universal_id: str, universal_id_type: str) -> str | None:
    """An assigning authority (HD) as an identifier system.

    Order: a namespace that names a known system (core.codes.resolve_system: NPI, a URI...),
    then the universal id per its type (HD-3, table 0301; IG "HD[uri]"), then the namespace
    as written (a local mnemonic such as ``NORTH``), else None.
    """
    if namespace:
        known = _known_system(namespace)
        if known is not None:
            return known
    if universal_id:
        if universal_id.startswith("urn:"):
            return universal_id
        return _UID_PREFIX.get(universal_id_type.upper(), "") + universal_id
    return namespace or None


def _hd_parts(system: str | None) -> list[str]:
    """The inverse of `_hd_system`: [namespace, universal id, universal id type].

    A system caredomain knows is written as its short name (``NPI``), which reads back.
    """
    if not system:
        return ["", "", ""]
    mnemonic = _MNEMONICS.get(system)
    if mnemonic is not None:
        return [mnemonic, "", ""]
    for type_code, prefix in _UID_PREFIX.items():
        if system.startswith(prefix):
            return ["", system.removeprefix(prefix), type_code]
    if system.startswith(("http://", "https://", "urn:")):
        return ["", system, "URI"]
    return [system, "", ""]


# --------------------------------------------------------------------------------------
# TS / DTM
# --------------------------------------------------------------------------------------


class Precision(IntEnum):
    """How much of a TS/DTM value was sent (HL7 v2.5.1 2.A.74 TS, v2.6+ 2.A.22 DTM).

    Ordered: ``Precision.DAY < Precision.MINUTE``. ``FRACTION_1`` .. ``FRACTION_4`` are
    seconds with 1 to 4 fraction digits (``SS.S`` .. ``SS.SSSS``).
    """

    YEAR = 1
    MONTH = 2
    DAY = 3
    HOUR = 4
    MINUTE = 5
    SECOND = 6
    FRACTION_1 = 7
    FRACTION_2 = 8
    FRACTION_3 = 9
    FRACTION_4 = 10

    @property
    def fraction_digits(self) -> int:
        """Digits after the decimal point of the seconds (0 below ``FRACTION_1``)."""
        return max(0, self.value - 6)

    @property
    def has_time(self) -> bool:
        """Whether a time of day was sent (hour precision or finer)."""
        return self >= Precision.HOUR


def _to_pendulum(value: _dt.date) -> Date:
    # pendulum's Date and DateTime pass; a stdlib aware datetime or date is converted; a
    # naive datetime is kept for the class check to reject with its location.
    if isinstance(value, Date):
        return value
    if isinstance(value, _dt.datetime):
        if value.utcoffset() is None:
            return value  # type: ignore[return-value]
        return pendulum.instance(value)
    return Date(value.year, value.month, value.day)


def _time_key(value: _dt.date) -> object:
    # Instants compare as integers: Python never finds a datetime in a DST fold equal to the
    # same instant in another zone (PEP 495), which a fixed-offset reading of it would be.
    if isinstance(value, _dt.datetime):
        return epoch_us(value) if value.utcoffset() is not None else value
    return value


@attrs.frozen
class Hl7Time:
    """A TS/DTM value at the precision it was sent.

    Attributes:
        value: A ``Date`` at year, month or day precision (a missing month or day is 1);
            otherwise an aware ``DateTime``: in the sender's UTC offset when one was sent,
            else in the configured sender timezone. Finer parts beyond the precision are 0.
            Two times are equal when they denote the same instant (or date).
        precision: How much was sent.
        offset_given: Whether the text carried a UTC offset (always false for a date: a
            calendar date has no offset, and one sent with it is dropped).
    """

    value: Date | DateTime = attrs.field(converter=_to_pendulum, eq=_time_key)
    precision: Precision = attrs.field(converter=Precision)
    offset_given: bool = False

    def __attrs_post_init__(self) -> None:
        value: object = self.value
        precision = self.precision
        if not precision.has_time:
            if isinstance(value, _dt.datetime) or not isinstance(value, _dt.date):
                raise ValidationError.at("Hl7Time.value", "expected a Date at date precision")
            if self.offset_given:
                raise ValidationError.at("Hl7Time.offset_given", "expected False for a date")
            if (precision is Precision.YEAR and (value.month, value.day) != (1, 1)) or (
                precision is Precision.MONTH and value.day != 1
            ):
                raise ValidationError.at("Hl7Time.value", "expected 1 for parts not sent")
            return
        if not isinstance(value, _dt.datetime):
            raise ValidationError.at("Hl7Time.value", "expected a DateTime at time precision")
        if value.utcoffset() is None:
            raise NaiveDatetimeError("Hl7Time.value", subject="Hl7Time")
        unit = 10 ** (6 - precision.fraction_digits)
        rest = {
            Precision.HOUR: (value.minute, value.second, value.microsecond),
            Precision.MINUTE: (value.second, value.microsecond),
        }.get(precision, (value.microsecond % unit,))
        if any(rest):
            raise ValidationError.at("Hl7Time.value", "expected 0 for parts not sent")

    def isoformat(self) -> str:
        """ISO 8601 / FHIR ``dateTime`` text at this precision.

        ``2026``, ``2026-11``, ``2026-11-25``; with a time, seconds are always written
        (FHIR ``dateTime`` requires them when a time is present), so hour and minute
        precision read ``2026-11-25T15:30:00-06:00``; fraction digits are kept as sent
        (``15:30:45.12-06:00``). The offset is the value's own (``+00:00``, never ``Z``).
        """
        v: _dt.date = self.value  # typed as the stdlib base, for isinstance narrowing
        precision = self.precision
        if precision is Precision.YEAR:
            return f"{v.year:04d}"
        if precision is Precision.MONTH:
            return f"{v.year:04d}-{v.month:02d}"
        date = f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
        if not isinstance(v, _dt.datetime):
            return date
        digits = precision.fraction_digits
        fraction = f".{v.microsecond:06d}"[: digits + 1] if digits else ""
        offset = _offset_text(v, ":")
        return f"{date}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}{fraction}{offset}"


def _offset_text(value: _dt.datetime, separator: str) -> str:
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{separator}{minutes:02d}"


# YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ] (HL7 v2.5.1 2.A.74 TS-1, v2.6+ 2.A.22 DTM).
_TS: Final = re.compile(
    r"\s*(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?"
    r"(?:([+-])(\d{2})(\d{2}))?\s*",
    re.ASCII,
)
_TS_EXPECTED: Final = "a date/time YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]"
_DAYS: Final = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Real UTC offsets run from -12:00 to +14:00; +/-14:00 bounds both sides.
_MAX_OFFSET_MINUTES: Final = 14 * 60


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> pendulum.Timezone:
    validate_timezone(name)
    return pendulum.timezone(name)


@functools.lru_cache(maxsize=128)
def _fixed(minutes: int) -> pendulum.FixedTimezone:
    return pendulum.FixedTimezone(minutes * 60)


def parse_ts(
    text: str, *, timezone: str | None, at: Item | None = None, component: int | None = None
) -> Hl7Time:
    """Read TS-1/DTM text (``20261125153000-0600``) at the precision it was sent.

    A time with a UTC offset keeps the sender's offset (a fixed-offset zone; it is never
    converted to another zone); a time without one is taken in ``timezone``. A date needs
    no timezone. Use this for a TS nested in a composite (TQ-4, DR-1), passing ``at`` and
    ``component`` so that errors carry the position; `read_ts` reads a whole field.

    Args:
        text: The unescaped text.
        timezone: The sender's IANA timezone, for times sent without an offset.
        at: The item the text came from, for error positions.
        component: The component of ``at`` the text came from.

    Raises:
        Hl7ParseError: Not of the TS form, an impossible date or time (month 13, 30
            February, hour 25), an offset beyond +/-1400, or a time without an offset and
            no ``timezone``.
        ValidationError: ``timezone`` is not an IANA timezone name (a configuration error).
    """
    zone = _zone(timezone) if timezone is not None else None
    match = _TS.fullmatch(text)
    if match is None:
        raise _error(at, _TS_EXPECTED, component)
    y, mo, d, h, mi, s, frac, sign, oh, om = match.groups()
    year = int(y)
    month = int(mo) if mo else 1
    day = int(d) if d else 1
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if year < 1 or not 1 <= month <= 12 or not 1 <= day <= _DAYS[month] + leap:
        raise _error(at, "a calendar date that exists (year 0001-9999, month, day)", component)
    offset = 0
    if sign:
        offset = int(oh) * 60 + int(om)
        if int(om) > 59 or offset > _MAX_OFFSET_MINUTES:
            raise _error(at, "a UTC offset from -1400 to +1400", component)
        offset = -offset if sign == "-" else offset
    if h is None:
        precision = Precision.DAY if d else Precision.MONTH if mo else Precision.YEAR
        return Hl7Time(Date(year, month, day), precision)
    hour = int(h)
    minute = int(mi) if mi else 0
    second = int(s) if s else 0
    if hour > 23 or minute > 59 or second > 59:
        raise _error(at, "a time of day from 000000 to 235959", component)
    if frac:
        precision = Precision(Precision.SECOND + len(frac))
        microsecond = int(frac.ljust(6, "0"))
    else:
        precision = Precision.SECOND if s else Precision.MINUTE if mi else Precision.HOUR
        microsecond = 0
    if sign:
        value = DateTime(year, month, day, hour, minute, second, microsecond, _fixed(offset))
    elif zone is None:
        raise _error(at, "a UTC offset or a configured sender timezone", component)
    else:
        try:
            # A wall time in a DST gap moves forward by the gap; an ambiguous one takes the
            # later (standard-time) offset: pendulum's defaults (fold=1).
            value = pendulum.datetime(year, month, day, hour, minute, second, microsecond, tz=zone)
        except (OverflowError, ValueError):
            raise _error(at, "a date/time within years 0001-9999", component) from None
    return Hl7Time(value, precision, bool(sign))


def read_ts(item: Item, *, timezone: str | None) -> Hl7Time | None:
    """Read a TS (component 1; the deprecated degree of precision, TS-2, is ignored) or DTM.

    Args:
        item: The field repetition.
        timezone: The sender's IANA timezone, used only for times sent without an offset.
            Pass ``None`` to require an offset on every time.

    Returns:
        The time at its precision, or ``None`` for an empty item.

    Raises:
        Hl7ParseError: See `parse_ts`.
        ValidationError: ``timezone`` is not an IANA timezone name.
    """
    if not item:
        return None
    text = item.component(1)
    if not text.strip():
        return None
    return parse_ts(text, timezone=timezone, at=item)


def write_ts(
    value: Hl7Time | DateTime | Date | _dt.datetime | _dt.date, delimiters: Delimiters = _STANDARD
) -> str:
    """TS-1/DTM text for a time.

    An `Hl7Time` is written at its precision, with its offset when ``offset_given`` (else
    as the wall-clock time in its own zone). A ``DateTime`` is written to the second with
    its offset (``20261125153000-0600``; microseconds dropped); a ``Date`` as
    ``YYYYMMDD``.

    Raises:
        NaiveDatetimeError: A datetime without an offset.
        ValidationError: An offset that HL7 cannot carry (beyond +/-14:00, or with seconds:
            the local mean time of some zones before ~1900).
    """
    if not isinstance(value, Hl7Time):
        if isinstance(value, _dt.datetime):
            if value.utcoffset() is None:
                raise NaiveDatetimeError("write_ts(value)")
            value = Hl7Time(value.replace(microsecond=0), Precision.SECOND, offset_given=True)
        else:
            value = Hl7Time(value, Precision.DAY)
    v: _dt.date = value.value
    precision = value.precision
    digits = f"{v.year:04d}{v.month:02d}{v.day:02d}"[: 2 + 2 * min(precision, Precision.DAY)]
    if isinstance(v, _dt.datetime) and precision.has_time:
        clock = f"{v.hour:02d}{v.minute:02d}{v.second:02d}"
        digits += clock[: 2 * min(precision - Precision.DAY, 3)]
        if precision.fraction_digits:
            digits += f".{v.microsecond:06d}"[: precision.fraction_digits + 1]
        if value.offset_given:
            offset = v.utcoffset()
            if offset is None or offset.seconds % 60 or abs(offset) > _dt.timedelta(hours=14):
                raise ValidationError.at("write_ts(value)", "expected an offset in whole minutes")
            digits += _offset_text(v, "")
    return escape(digits, delimiters)


# --------------------------------------------------------------------------------------
# NM, SN, CQ
# --------------------------------------------------------------------------------------

# HL7 v2.5.1 2.A.47 NM: an optional leading sign, digits and an optional decimal point.
_NM: Final = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*", re.ASCII)
_NM_EXPECTED: Final = "a number: optional sign, digits, optional decimal point"


def parse_nm(text: str, *, at: Item | None = None, component: int | None = None) -> Decimal:
    """Read NM text (HL7 v2.5.1 2.A.47) as an exact ``Decimal``; spaces around are allowed.

    Raises:
        Hl7ParseError: Not an NM (exponents, commas, ``NaN`` and the like are refused).
    """
    match = _NM.fullmatch(text)
    if match is None:
        raise _error(at, _NM_EXPECTED, component)
    return Decimal(match[1])


def read_nm(item: Item) -> Decimal | None:
    """Read an NM field repetition (the whole text is the number).

    Raises:
        Hl7ParseError: Not an NM.
    """
    if not item:
        return None
    components = item.components()
    if len(components) > 1:
        raise item.error(_NM_EXPECTED, component=2)
    return parse_nm(components[0], at=item)


def _nm_text(value: object, location: str) -> str:
    return format(to_decimal(value, location), "f")


def write_nm(value: Decimal | int | str, delimiters: Delimiters = _STANDARD) -> str:
    """NM text for a number, without exponent (``Decimal("1E+2")`` is written ``100``).

    Raises:
        ValidationError: Not a finite number.
    """
    return escape(_nm_text(value, "write_nm(value)"), delimiters)


_COMPARATORS: Final = frozenset({">", "<", ">=", "<=", "=", "<>"})
_SEPARATORS: Final = frozenset({"-", "+", "/", ".", ":"})


def _check_comparator(_inst: object, _attribute: attrs.Attribute[str | None], v: object) -> None:
    if v is not None and v not in _COMPARATORS:
        raise ValidationError.at("StructuredNumeric.comparator", "expected > < >= <= = or <>")


def _check_separator(_inst: object, _attribute: attrs.Attribute[str | None], v: object) -> None:
    if v is not None and v not in _SEPARATORS:
        raise ValidationError.at("StructuredNumeric.separator", "expected - + / . or :")


@attrs.frozen
class StructuredNumeric:
    """An SN value (HL7 v2.5.1 2.A.71): ``>=5``, ``1:128``, ``10-20``, ``2+``.

    Attributes:
        comparator: SN-1, one of ``>`` ``<`` ``>=`` ``<=`` ``=`` ``<>``, if sent.
        value1: SN-2, the first number.
        separator: SN-3, a separator or suffix: ``-`` (range), ``+`` (``2+``, or a sum),
            ``/`` and ``:`` (ratios), ``.``.
        value2: SN-4, the second number (needs a separator).
    """

    comparator: str | None = attrs.field(default=None, validator=_check_comparator)
    value1: Decimal | None = None
    separator: str | None = attrs.field(default=None, validator=_check_separator)
    value2: Decimal | None = None

    def __attrs_post_init__(self) -> None:
        if self.value1 is None and self.value2 is None:
            raise ValidationError.at("StructuredNumeric", "expected at least one number")
        if self.value2 is not None and self.separator is None:
            raise ValidationError.at("StructuredNumeric.separator", "expected a separator")

    @property
    def number(self) -> Decimal | None:
        """The single number of a plain (``5``) or compared (``>5``) value, else ``None``."""
        if self.separator is None and self.value2 is None:
            return self.value1
        return None


def read_sn(item: Item) -> StructuredNumeric | None:
    """Read an SN field repetition.

    Raises:
        Hl7ParseError: An unknown comparator or separator, a number that is not an NM, a
            second number without a separator, or no number at all.
    """
    if not item:
        return None
    comparator = item.component(1).strip() or None
    if comparator is not None and comparator not in _COMPARATORS:
        raise item.error("a comparator: > < >= <= = or <>", component=1)
    num1 = item.component(2)
    value1 = parse_nm(num1, at=item, component=2) if num1.strip() else None
    separator = item.component(3).strip() or None
    if separator is not None and separator not in _SEPARATORS:
        raise item.error("a separator or suffix: - + / . or :", component=3)
    num2 = item.component(4)
    value2 = parse_nm(num2, at=item, component=4) if num2.strip() else None
    if value1 is None and value2 is None:
        raise item.error("a number in component 2", component=2)
    if value2 is not None and separator is None:
        raise item.error("a separator before the second number", component=3)
    return StructuredNumeric(comparator, value1, separator, value2)


def write_sn(value: StructuredNumeric, delimiters: Delimiters = _STANDARD) -> str:
    """SN text: ``comparator^num1^separator^num2``."""
    parts = [
        value.comparator or "",
        "" if value.value1 is None else _nm_text(value.value1, "StructuredNumeric.value1"),
        value.separator or "",
        "" if value.value2 is None else _nm_text(value.value2, "StructuredNumeric.value2"),
    ]
    return _join([escape(p, delimiters) for p in parts], delimiters.component)


def read_cq(item: Item) -> Quantity | None:
    """Read a CQ (HL7 v2.5.1 2.A.8): CQ-1 the amount (NM), CQ-2 the unit (CE/CWE).

    The unit is CQ-2.1, the code, in UCUM, ISO+ or ANSI+ (CQ-2.3); a code in another
    system is kept as written, and common non-UCUM spellings are normalized by `Quantity`.
    Without a unit the quantity is dimensionless: UCUM ``1`` (IG "CQ[Quantity]").

    Raises:
        Hl7ParseError: No amount, or an amount that is not an NM.
    """
    if not item:
        return None
    amount = item.component(1)
    if not amount.strip():
        raise item.error("a quantity in component 1", component=1)
    value = parse_nm(amount, at=item, component=1)
    unit = item.subcomponent(2, 1).strip() or "1"
    return Quantity(value, unit)


def write_cq(value: Quantity, delimiters: Delimiters = _STANDARD) -> str:
    """CQ text: ``amount^unit&&UCUM``."""
    unit = _subs([value.unit, "", "UCUM"], delimiters)
    amount = escape(_nm_text(value.value, "Quantity.value"), delimiters)
    return _join([amount, unit], delimiters.component)


# --------------------------------------------------------------------------------------
# CE / CWE / CNE
# --------------------------------------------------------------------------------------

# (code, text, coding system, version) components of each CWE triplet (HL7 v2.5.1 2.A.13;
# the second alternate triplet, CWE-10..13, from v2.7): IG "CWE[CodeableConcept]".
_TRIPLETS: Final = ((1, 2, 3, 7), (4, 5, 6, 8), (10, 11, 12, 13))


def read_cwe(item: Item, *, default_system: str | None = None) -> CodeableConcept | None:
    """Read a CE, CWE or CNE as a concept (IG "CWE[CodeableConcept]").

    Each triplet with a code (1-3, 4-6, and 10-12) becomes a `Coding`: code, display (its
    text), system, version (CWE-7, 8, 13). Coding system names are HL7 table 0396
    mnemonics resolved by ``core.codes.resolve_system`` (``LN``, ``SCT``, ``I10C``, ``C4``,
    ``HCPCS``...), ``HL7nnnn`` becomes HL7 v2 table nnnn; an unknown name (a local
    ``99zzz`` system) is kept as written. CWE-9, the original text, is the concept's
    ``text``; with no code at all, the first text sent (CWE-9, 2, 5, 11) is.

    Args:
        item: The field repetition.
        default_system: The system of codes sent without one: the table or code system
            the field is bound to (``hl7_v2_table(276)`` for SCH-7), as a URI.

    Raises:
        Hl7ParseError: A code without a coding system and no ``default_system``, or
            neither a code nor a text.
    """
    if not item:
        return None
    codings = []
    for code_at, text_at, system_at, version_at in _TRIPLETS:
        code = item.component(code_at).strip()
        if not code:
            continue
        name = item.component(system_at).strip()
        system = _coding_system(name) if name else default_system
        if not system:
            raise item.error(
                "a coding system name (HL7 table 0396) or a configured default system",
                component=system_at,
            )
        display = item.component(text_at).strip() or None
        version = item.component(version_at).strip() or None
        codings.append(Coding(system, code, display, version))
    text = item.component(9).strip() or None
    if not codings:
        for at in (2, 5, 11):
            text = text or item.component(at).strip() or None
        if text is None:
            raise item.error("a code in component 1 or a text", component=1)
    return CodeableConcept(codings, text)


def _triplet(coding: Coding, d: Delimiters) -> list[str]:
    return [
        escape(coding.code, d),
        escape(coding.display or "", d),
        escape(_coding_system_name(coding.system), d),
    ]


def write_cwe(value: CodeableConcept, delimiters: Delimiters = _STANDARD) -> str:
    """CWE (or CNE) text: up to three codings (triplets 1-3, 4-6, 10-12), versions, CWE-9.

    Systems caredomain knows are written as their table 0396 mnemonic (``LN``, ``SCT``,
    ``I10C``, ``HL7nnnn``...), others as the URI or name they hold. Codings beyond the
    third are dropped.
    """
    d = delimiters
    parts = [""] * 13
    for (code_at, _text, _system, version_at), coding in zip(
        _TRIPLETS, value.codings, strict=False
    ):
        parts[code_at - 1 : code_at + 2] = _triplet(coding, d)
        parts[version_at - 1] = escape(coding.version or "", d)
    parts[8] = escape(value.text or "", d)
    return _join(parts, d.component)


def write_ce(value: CodeableConcept, delimiters: Delimiters = _STANDARD) -> str:
    """CE text (HL7 v2.5.1 2.A.6, six components): up to two codings.

    CE has no version and no original text: a concept without codings is written as its
    text in CE-2; the text of a coded concept, versions and codings beyond the second are
    dropped.
    """
    d = delimiters
    if not value.codings:
        return _join(["", escape(value.text or "", d)], d.component)
    parts: list[str] = []
    for coding in value.codings[:2]:
        parts += _triplet(coding, d)
    return _join(parts, d.component)


# --------------------------------------------------------------------------------------
# CX, EI
# --------------------------------------------------------------------------------------


def read_cx(item: Item) -> Identifier | None:
    """Read a CX (HL7 v2.5.1 2.A.14) as an identifier (IG "CX[Identifier]").

    CX-1 is the value; CX-4, the assigning authority (HD), the system: a namespace id
    (CX-4.1) naming a system caredomain knows (``NPI``, a URI) gives its URI; else the
    universal id (CX-4.2) by its type (CX-4.3: ``ISO`` -> ``urn:oid:``, ``UUID`` ->
    ``urn:uuid:``, others as written); else the namespace id as written (``NORTH``).
    CX-5 is the type, coded in HL7 table 0203.

    Raises:
        Hl7ParseError: An identifier without its ID number (CX-1).
    """
    if not item:
        return None
    value = item.component(1).strip()
    if not value:
        raise item.error("an ID number in component 1", component=1)
    system = _hd_system(
        item.subcomponent(4, 1).strip(),
        item.subcomponent(4, 2).strip(),
        item.subcomponent(4, 3).strip(),
    )
    type_code = item.component(5).strip()
    return Identifier(value, system, _v2_concept(203, type_code) if type_code else None)


def write_cx(value: Identifier, delimiters: Delimiters = _STANDARD) -> str:
    """CX text: ``value^^^authority^type``.

    The system goes to CX-4: a ``urn:oid:`` as an ISO universal id, a ``urn:uuid:`` as a
    UUID, another URI as a URI, anything else as the namespace id. The type is its HL7
    table 0203 code; a type in another system is dropped.
    """
    d = delimiters
    parts = [
        escape(value.value, d),
        "",
        "",
        _subs(_hd_parts(value.system), d),
        escape(_v2_code(value.type, 203), d),
    ]
    return _join(parts, d.component)


def read_ei(item: Item) -> Identifier | None:
    """Read an EI (HL7 v2.5.1 2.A.24) as an identifier (IG "EI[Identifier-System]").

    EI-1 is the value; EI-2 (namespace id), EI-3 (universal id) and EI-4 (its type) give
    the system by the same rule as a CX's assigning authority (see `read_cx`).

    Raises:
        Hl7ParseError: An entity identifier without EI-1.
    """
    if not item:
        return None
    value = item.component(1).strip()
    if not value:
        raise item.error("an entity identifier in component 1", component=1)
    system = _hd_system(
        item.component(2).strip(), item.component(3).strip(), item.component(4).strip()
    )
    return Identifier(value, system)


def write_ei(value: Identifier, delimiters: Delimiters = _STANDARD) -> str:
    """EI text: ``value^namespace^universal id^type`` (the type of the identifier is dropped)."""
    d = delimiters
    parts = [escape(value.value, d), *(escape(p, d) for p in _hd_parts(value.system))]
    return _join(parts, d.component)


# --------------------------------------------------------------------------------------
# XPN, XCN
# --------------------------------------------------------------------------------------


def _name(
    item: Item, family: int, given: int, suffix: int, prefix: int, degree: int, use: int, pro: int
) -> HumanName | None:
    surname = item.subcomponent(family, 1).strip() or None
    givens = [g for g in (item.component(given).strip(), item.component(given + 1).strip()) if g]
    suffixes = [
        s
        for s in (
            item.component(suffix).strip(),
            item.component(degree).strip(),
            item.component(pro).strip(),
        )
        if s
    ]
    title = item.component(prefix).strip()
    name_use = _NAME_USE.get(item.component(use).strip().upper())
    if surname is None and not givens and not suffixes and not title and name_use is None:
        return None
    return HumanName(surname, givens, (title,) if title else (), suffixes, name_use)


def _name_parts(name: HumanName, d: Delimiters) -> dict[str, str]:
    suffix = name.suffix
    return {
        "family": _subs([name.family or ""], d),
        "given": escape(name.given[0] if name.given else "", d),
        "further": escape(" ".join(name.given[1:]), d),
        "suffix": escape(suffix[0] if suffix else "", d),
        "prefix": escape(" ".join(name.prefix), d),
        "degree": escape(suffix[1] if len(suffix) > 1 else "", d),
        "use": escape(_NAME_TYPE.get(name.use or "", ""), d),
        "professional": escape(" ".join(suffix[2:]), d),
    }


def read_xpn(item: Item) -> HumanName | None:
    """Read an XPN (HL7 v2.5.1 2.A.88) as a name (IG "XPN[HumanName]").

    Family name XPN-1.1 (the surname of the FN); given names XPN-2 then XPN-3 (kept as
    one entry even with spaces); suffixes XPN-4, XPN-6 (degree) and XPN-14 (professional
    suffix), in that order; prefix XPN-5; use from XPN-7 by the IG's "Table HL70200 to
    Name Use" (L and R official, D usual, M maiden, N nickname, TEMP and NAV temp, BAD old,
    MSK anonymous; other codes, A alias and C adopted among them, have no use).

    Returns:
        The name, or ``None`` for an item that carries none of these parts.
    """
    if not item:
        return None
    return _name(item, 1, 2, 4, 5, 6, 7, 14)


def write_xpn(name: HumanName, delimiters: Delimiters = _STANDARD) -> str:
    """XPN text; the inverse of `read_xpn`.

    Given names after the second are joined with spaces into XPN-3, prefixes into XPN-5,
    suffixes after the second into XPN-14. The use is written as its table 0200 code (L,
    D, M, N, TEMP, BAD, MSK); a use with no code there is dropped.
    """
    p = _name_parts(name, delimiters)
    parts = [p["family"], p["given"], p["further"], p["suffix"], p["prefix"], p["degree"]]
    parts += [p["use"], "", "", "", "", "", "", p["professional"]]
    return _join(parts, delimiters.component)


@attrs.frozen
class Hl7Person:
    """A person named by an XCN (HL7 v2.5.1 2.A.87): an id and a name, either optional.

    Attributes:
        identifier: XCN-1 with its assigning authority (XCN-9) and type (XCN-13).
        name: XCN-2 to XCN-7, XCN-10 and XCN-21 read as an XPN's name parts.
    """

    identifier: Identifier | None = None
    name: HumanName | None = None


def read_xcn(item: Item) -> Hl7Person | None:
    """Read an XCN (IG "XCN[Practitioner]": XCN-1 identifier, XCN-2.. name).

    The identifier is XCN-1 with XCN-9 as its assigning authority (the rule of
    `read_cx`) and XCN-13 its table 0203 type; an authority without an id is ignored. The
    name is family XCN-2.1, given XCN-3 and XCN-4, suffixes XCN-5, XCN-7 (degree) and
    XCN-21, prefix XCN-6, use from XCN-10 (table 0200, as `read_xpn`).

    Returns:
        The person, or ``None`` for an item with neither an id nor a name.
    """
    if not item:
        return None
    value = item.component(1).strip()
    identifier = None
    if value:
        system = _hd_system(
            item.subcomponent(9, 1).strip(),
            item.subcomponent(9, 2).strip(),
            item.subcomponent(9, 3).strip(),
        )
        type_code = item.component(13).strip()
        identifier = Identifier(value, system, _v2_concept(203, type_code) if type_code else None)
    name = _name(item, 2, 3, 5, 6, 7, 10, 21)
    if identifier is None and name is None:
        return None
    return Hl7Person(identifier, name)


def write_xcn(person: Hl7Person, delimiters: Delimiters = _STANDARD) -> str:
    """XCN text; the inverse of `read_xcn` (name parts as `write_xpn` writes them)."""
    d = delimiters
    parts = [""] * 21
    if person.identifier is not None:
        parts[0] = escape(person.identifier.value, d)
        parts[8] = _subs(_hd_parts(person.identifier.system), d)
        parts[12] = escape(_v2_code(person.identifier.type, 203), d)
    if person.name is not None:
        p = _name_parts(person.name, d)
        parts[1] = p["family"]
        parts[2] = p["given"]
        parts[3] = p["further"]
        parts[4] = p["suffix"]
        parts[5] = p["prefix"]
        parts[6] = p["degree"]
        parts[9] = p["use"]
        parts[20] = p["professional"]
    return _join(parts, d.component)


# --------------------------------------------------------------------------------------
# XAD, XTN
# --------------------------------------------------------------------------------------


def read_xad(item: Item) -> Address | None:
    """Read an XAD (HL7 v2.5.1 2.A.85) as an address (IG "XAD[Address]").

    Lines XAD-1.1 (street or mailing address) and XAD-2 (other designation); city XAD-3,
    state XAD-4, postal code XAD-5, country XAD-6; use from XAD-7 by the IG's "Table
    HL70190 to Address Use" (H home, B and O work, C temp, BA old, BI billing). M and SH
    (mailing, shipping) are Address.type "postal" in the IG, which `Address` does not
    hold: they give no use.

    Returns:
        The address, or ``None`` for an item that carries none of these parts.
    """
    if not item:
        return None
    lines = [x for x in (item.subcomponent(1, 1).strip(), item.component(2).strip()) if x]
    city, state, postal, country = (item.component(i).strip() or None for i in (3, 4, 5, 6))
    use = _ADDRESS_USE.get(item.component(7).strip().upper())
    if not lines and use is None and (city, state, postal, country) == (None, None, None, None):
        return None
    return Address(lines, city, state, postal, country, use)


def write_xad(address: Address, delimiters: Delimiters = _STANDARD) -> str:
    """XAD text; lines after the second are joined into XAD-2 with ``", "``.

    The use is written as its table 0190 code (H, B, C, BA, BI); another use is dropped.
    """
    d = delimiters
    lines = address.lines
    parts = [
        _subs([lines[0] if lines else ""], d),
        escape(", ".join(lines[1:]), d),
        escape(address.city or "", d),
        escape(address.state or "", d),
        escape(address.postal_code or "", d),
        escape(address.country or "", d),
        escape(_ADDRESS_TYPE.get(address.use or "", ""), d),
    ]
    return _join(parts, d.component)


def _phone(item: Item) -> str:
    """XTN-5..8 composed as the IG's "XTN[ContactPoint]" does: ``+5 6 7 X8``."""
    local = item.component(7).strip()
    if not local:
        return ""
    country = item.component(5).strip().lstrip("+")
    area = item.component(6).strip()
    extension = item.component(8).strip()
    parts = [f"+{country}" if country else "", area, local, f"X{extension}" if extension else ""]
    return " ".join(p for p in parts if p)


def read_xtn(item: Item) -> ContactPoint | None:
    """Read an XTN (HL7 v2.5.1 2.A.89) as a contact point (IG "XTN[ContactPoint]").

    System from XTN-3 by the IG's "Table HL70202 to Contact Point System" (PH and CP
    phone, FX fax, BP pager, Internet and X.400 email, MD, SAT, TDD, TTY other; another
    code is other); without XTN-3, email when XTN-4 is sent, else phone. Use from XTN-2
    by "Table HL70201 to Contact Point Use" (PRN home, WPN work, PRS mobile); CP makes
    the use mobile. The value of an email is XTN-4 (else XTN-1); of a number, XTN-5..8
    composed (``+1 312 5550142 X12``) when XTN-7 is sent, else XTN-12 (unformatted),
    else XTN-1. The rank is XTN-18 (preference order).

    Raises:
        Hl7ParseError: No number or address at all, or a rank that is not a positive
            integer.
    """
    if not item:
        return None
    equipment = item.component(3).strip()
    address = item.component(4).strip()
    use = _CONTACT_USE.get(item.component(2).strip().upper())
    if equipment:
        system = _CONTACT_SYSTEM.get(equipment, ContactPointSystem.OTHER)
        if equipment == "CP":
            use = "mobile"
    else:
        system = ContactPointSystem.EMAIL if address else ContactPointSystem.PHONE
    legacy = item.component(1).strip()
    if system is ContactPointSystem.EMAIL:
        value = address or legacy
    else:
        value = _phone(item) or item.component(12).strip() or legacy or address
    if not value:
        raise item.error("a telephone number or communication address (XTN-1, 4 or 7)")
    rank_text = item.component(18).strip()
    rank = None
    if rank_text:
        if not (rank_text.isascii() and rank_text.isdigit()) or int(rank_text) < 1:
            raise item.error("a preference order of 1 or more", component=18)
        rank = int(rank_text)
    return ContactPoint(system, value, use, rank)


def write_xtn(contact: ContactPoint, delimiters: Delimiters = _STANDARD) -> str:
    """XTN text: ``number^use^equipment^address`` with the rank in XTN-18.

    A number goes to XTN-1 (as sent, not split into XTN-5..8), an email address to
    XTN-4. The use is written as its table 0201 code (PRN, WPN, PRS); another use is
    dropped. Table 0202 has no code for ``sms`` (written CP), ``url`` (written Internet)
    or ``other`` (no code): those do not read back as written.
    """
    d = delimiters
    system = contact.system
    equipment = _EQUIPMENT[system]
    if system is ContactPointSystem.PHONE and contact.use == "mobile":
        equipment = "CP"
    email = equipment == "Internet"
    parts = [""] * 18
    parts[0] = "" if email else escape(contact.value, d)
    parts[1] = escape(_TELECOM_USE.get(contact.use or "", ""), d)
    parts[2] = escape(equipment, d)
    parts[3] = escape(contact.value, d) if email else ""
    parts[17] = "" if contact.rank is None else str(contact.rank)
    return _join(parts, d.component)


# --------------------------------------------------------------------------------------
# PL
# --------------------------------------------------------------------------------------


@attrs.frozen
class Hl7Location:
    """A person location (PL, HL7 v2.5.1 2.A.53), as the identifiers it names.

    Each part is the HD's namespace id (its universal id when no namespace is sent).
    The IG's "PL[Location]" makes each a Location resource linked by ``partOf``, from
    bed (most granular) through room, floor, point of care and building to facility.

    Attributes:
        point_of_care: PL-1 (a nursing unit, clinic or department).
        room: PL-2.
        bed: PL-3.
        facility: PL-4.
        floor: PL-8.
        building: PL-7.
        location_type: PL-6, person location type (HL7 table 0305: C clinic, D department,
            H home, N nursing unit, O provider's office, P phone, S SNF).
    """

    point_of_care: str | None = None
    room: str | None = None
    bed: str | None = None
    facility: str | None = None
    floor: str | None = None
    building: str | None = None
    location_type: str | None = None

    @property
    def path(self) -> tuple[str, ...]:
        """The parts from least to most granular, as the IG's ``partOf`` chain runs.

        Facility, building, floor, point of care, room, bed; ``""`` for a part not sent.
        """
        return tuple(
            p or ""
            for p in (
                self.facility,
                self.building,
                self.floor,
                self.point_of_care,
                self.room,
                self.bed,
            )
        )

    @property
    def id(self) -> str:
        """A stable id over the whole path, so that room EX3 of two clinics differ."""
        return stable_id("Location", *self.path)


_NO_LOCATION: Final = Hl7Location()


def _hd_name(item: Item, component: int) -> str | None:
    return (
        item.subcomponent(component, 1).strip() or item.subcomponent(component, 2).strip() or None
    )


def read_pl(item: Item) -> Hl7Location | None:
    """Read a PL field repetition.

    Returns:
        The location, or ``None`` for an item that carries none of its parts.
    """
    if not item:
        return None
    location = Hl7Location(
        point_of_care=_hd_name(item, 1),
        room=_hd_name(item, 2),
        bed=_hd_name(item, 3),
        facility=_hd_name(item, 4),
        floor=_hd_name(item, 8),
        building=_hd_name(item, 7),
        location_type=item.component(6).strip() or None,
    )
    return None if location == _NO_LOCATION else location


def write_pl(location: Hl7Location, delimiters: Delimiters = _STANDARD) -> str:
    """PL text; each part written as its HD's namespace id."""
    d = delimiters
    parts = [
        _subs([location.point_of_care or ""], d),
        _subs([location.room or ""], d),
        _subs([location.bed or ""], d),
        _subs([location.facility or ""], d),
        "",
        escape(location.location_type or "", d),
        _subs([location.building or ""], d),
        _subs([location.floor or ""], d),
    ]
    return _join(parts, d.component)
