"""FHIR datatypes <-> caredomain values: the building blocks of `resources`.

Writers take a domain value and return a plain JSON-ready dict (or string, or number);
readers take parsed JSON, a FHIRPath-like location and a `Problems` collector, and return the
domain value or ``None`` after recording what was wrong. The same datatypes have the same JSON
shape in FHIR R4 (4.0.1) and R5 (5.0.0), so no datatype here depends on the version. The
last section holds resource-level helpers shared by the mapping modules (`as_json`,
`resource_reader`, `enum_member`...).

Rules of this module:

1. No fhir.resources, no pydantic, no I/O, no clock: dict building and checking only
   (`as_json` dumps a model it is given through the model's own method).
2. A problem says where (``Patient.name[0].given[1]``) and what was expected; it never
   contains a value read from the resource.
3. Numbers: a ``Decimal`` is written as an ``int`` when it is integral, else as a ``float``
   when the float reads back as the same number (up to 15 significant digits, every value a
   UCUM quantity in care carries), else it stays a ``Decimal`` so that no digit is lost (a
   caller serializing with the stdlib ``json`` then needs an encoder that writes a
   ``Decimal`` as a number; FHIR R4 "JSON Representation": a decimal is a JSON number and
   its precision is significant). Readers take ``int``, ``float`` (through its shortest
   ``repr``) and ``Decimal`` (from ``json.loads(..., parse_float=Decimal)``) alike.
4. Times keep their own UTC offset. A ``DateTime`` is written with its offset, never
   converted to the machine's zone; an offset with seconds (local mean time before a zone
   adopted standard time, such as ``+05:21:10`` in 1901 Kolkata), which the FHIR dateTime
   syntax cannot express, is written in UTC: the same instant. Reading, a dateTime with a
   time SHALL carry an offset (FHIR R4 datatypes, ``dateTime``: "If hours and minutes are
   specified, a time zone SHALL be populated"); caredomain never guesses a zone.
5. A complex value with nothing in it (an empty ``HumanName``, ``CodeableConcept``, ``Range``)
   cannot be written as ``{}``: FHIR's invariant ele-1 ("All FHIR elements must have a @value
   or children") forbids it. It is written with the data-absent-reason extension
   (http://hl7.org/fhir/StructureDefinition/data-absent-reason, code ``unknown``), and an
   element holding only that extension (or nothing) reads back as the empty value.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Final, TypeVar

import pendulum
from pendulum import Date, DateTime

from caredomain.adapters.fhir._models import FhirVersion
from caredomain.core.codes import UCUM, CodeableConcept, Coding
from caredomain.core.errors import Problem, ValidationError
from caredomain.core.identity import REFERENCE_TARGETS, Identifier, Reference
from caredomain.core.parties import Address, ContactPoint, ContactPointSystem, HumanName
from caredomain.core.quantities import Quantity
from caredomain.core.time import Interval, epoch_us, validate_timezone

__all__ = [
    "BCP_47",
    "DATA_ABSENT_REASON",
    "TIMEZONE_EXTENSION",
    "ElementReader",
    "Fields",
    "Problems",
    "absent",
    "as_json",
    "each",
    "enum_member",
    "first_item",
    "items",
    "mapping",
    "number",
    "optional",
    "put",
    "read_address",
    "read_coding",
    "read_concept",
    "read_concepts",
    "read_contact_point",
    "read_date",
    "read_datetime",
    "read_identifier",
    "read_identifiers",
    "read_interval",
    "read_name",
    "read_number",
    "read_quantity",
    "read_reference",
    "read_timezone",
    "require_timezone",
    "required_reference",
    "resource_id",
    "resource_reader",
    "set_if_read",
    "string",
    "strings",
    "write_address",
    "write_coding",
    "write_concept",
    "write_contact_point",
    "write_date",
    "write_datetime",
    "write_identifier",
    "write_interval",
    "write_name",
    "write_quantity",
    "write_reference",
    "write_timezone",
]

T = TypeVar("T")

DATA_ABSENT_REASON: Final = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
"""The FHIR core extension saying why a value is missing (here always ``unknown``)."""

TIMEZONE_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/timezone"
"""The FHIR core extension carrying an IANA zone (``valueCode``), on Patient and Location."""

BCP_47: Final = "urn:ietf:bcp:47"
"""The code system of language tags (FHIR R4 ``Patient.communication.language`` binding)."""

_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# FHIR R4/R5 dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or a full time with seconds and (SHALL) an
# offset; the offset is optional here so that its absence is refused with a precise message.
_DATE_TIME: Final = re.compile(
    r"^(?P<date>\d{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)?)"
    r"(?:T(?P<time>[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?"
    r"(?P<offset>Z|[+-](?:0\d|1[0-4]):[0-5]\d)?)?$"
)
# [base/]Type/id[/_history/version] (FHIR R4 "References", "Literal references").
_LITERAL_REFERENCE: Final = re.compile(
    r"(?:^|/)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?\Z"
)
_MAX_OFFSET: Final = _dt.timedelta(hours=14)
_MINUTE: Final = _dt.timedelta(minutes=1)
_ABSENT_CODE: Final = "unknown"


class Problems:
    """Collects every problem found in one resource, to raise them together.

    Attributes:
        items: The problems so far, in the order found.
    """

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        """Record a problem: where it is and what was expected there."""
        self.items.append(Problem(path, message))

    def raise_if_any(self, subject: str) -> None:
        """Raise a `ValidationError` about ``subject`` holding every problem, if any.

        Raises:
            ValidationError: At least one problem was recorded.
        """
        if self.items:
            raise ValidationError(self.items, subject=subject)


# --- structure -----------------------------------------------------------------------------


def absent() -> dict[str, Any]:
    """An element with no value but the data-absent-reason extension (module rule 5)."""
    return {"extension": [{"url": DATA_ABSENT_REASON, "valueCode": _ABSENT_CODE}]}


def _empty(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` holds nothing but (optionally) a data-absent-reason extension."""
    if not data:
        return True
    if set(data) - {"extension", "id"}:
        return False
    extensions = data.get("extension")
    return isinstance(extensions, list) and all(
        isinstance(e, Mapping) and e.get("url") == DATA_ABSENT_REASON for e in extensions
    )


def mapping(data: object, path: str, problems: Problems, what: str) -> Mapping[str, Any] | None:
    """``data`` if it is a JSON object, else None after recording that ``what`` was expected."""
    if isinstance(data, Mapping):
        return data
    problems.add(path, f"expected {what} (a JSON object)")
    return None


def items(
    data: Mapping[str, Any], key: str, path: str, problems: Problems
) -> Iterator[tuple[str, Any]]:
    """Yield ``(path[i], item)`` for each item of the array ``data[key]`` (none if absent)."""
    value = data.get(key)
    if value is None:
        return
    if not isinstance(value, list):
        problems.add(f"{path}.{key}", "expected an array")
        return
    for index, item in enumerate(value):
        yield f"{path}.{key}[{index}]", item


def string(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, *, required: bool = False
) -> str | None:
    """The string ``data[key]``: None if absent (a problem if ``required``) or not a string."""
    value = data.get(key)
    if value is None:
        if required:
            problems.add(f"{path}.{key}", "expected a value (required)")
        return None
    if not isinstance(value, str) or not value:
        problems.add(f"{path}.{key}", "expected a non-empty string")
        return None
    return value


def strings(data: Mapping[str, Any], key: str, path: str, problems: Problems) -> tuple[str, ...]:
    """The array of strings ``data[key]`` (empty if absent); bad items are problems."""
    found = []
    for where, item in items(data, key, path, problems):
        if isinstance(item, str) and item:
            found.append(item)
        else:
            problems.add(where, "expected a non-empty string")
    return tuple(found)


def resource_id(data: Mapping[str, Any], resource_type: str, problems: Problems) -> str | None:
    """The resource's logical id, which caredomain values always have."""
    value = data.get("id")
    if not isinstance(value, str) or not _ID.fullmatch(value):
        problems.add(f"{resource_type}.id", "expected a FHIR id (1-64 of A-Z a-z 0-9 - .)")
        return None
    return value


def write_timezone(zone: str) -> dict[str, Any]:
    """The timezone extension carrying the IANA zone ``zone``."""
    return {"url": TIMEZONE_EXTENSION, "valueCode": zone}


def read_timezone(data: Mapping[str, Any], path: str, problems: Problems) -> str | None:
    """The IANA zone of the first timezone extension on ``data``, if any."""
    for where, extension in items(data, "extension", path, problems):
        if isinstance(extension, Mapping) and extension.get("url") == TIMEZONE_EXTENSION:
            zone = string(extension, "valueCode", where, problems, required=True)
            if zone is None:
                return None
            try:
                return validate_timezone(zone, f"{where}.valueCode")
            except ValidationError as exc:
                problems.items.extend(exc.problems)
                return None
    return None


def require_timezone(data: Mapping[str, Any], path: str, problems: Problems) -> str | None:
    """`read_timezone`, with a problem when the extension is absent (the type needs a zone)."""
    before = len(problems.items)
    zone = read_timezone(data, path, problems)
    if zone is None and len(problems.items) == before:
        problems.add(f"{path}.extension", "expected the timezone extension (an IANA zone)")
    return zone


# --- numbers -------------------------------------------------------------------------------


def number(value: Decimal) -> int | float | Decimal:
    """A decimal as a JSON number without losing a digit (module rule 3)."""
    if value == value.to_integral_value():
        return int(value)
    approximate = float(value)
    if Decimal(repr(approximate)) == value:
        return approximate
    return value


def read_number(value: object, path: str, problems: Problems) -> Decimal | None:
    """A JSON number as an exact ``Decimal`` (a float through its shortest repr)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        problems.add(path, "expected a number")
        return None
    result = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not result.is_finite():
        problems.add(path, "expected a finite number")
        return None
    return result


# --- time ----------------------------------------------------------------------------------


def write_datetime(value: _dt.datetime) -> str:
    """An aware datetime as a FHIR ``dateTime``/``instant`` in its own offset (rule 4)."""
    offset = value.utcoffset()
    if offset is None:  # pragma: no cover - domain values are aware by construction
        raise ValidationError.at("dateTime", "expected an aware datetime")
    if offset % _MINUTE or abs(offset) > _MAX_OFFSET:
        value = value.astimezone(_dt.UTC)
    return _dt.datetime.isoformat(value)


def write_date(value: _dt.date) -> str:
    """A calendar date as a FHIR ``date`` (``YYYY-MM-DD``)."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def read_datetime(value: object, path: str, problems: Problems) -> DateTime | None:
    """A FHIR ``dateTime`` or ``instant`` with a time and a UTC offset, kept in that offset.

    A date alone, or a time without an offset, is a problem: the domain fields read with
    this are instants, and caredomain never guesses a zone.
    """
    match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        problems.add(path, "expected an RFC 3339 dateTime such as 2026-03-02T09:00:00-06:00")
        return None
    if match.group("time") is None:
        problems.add(path, "expected a time with a UTC offset, not a date alone")
        return None
    if match.group("offset") is None:
        problems.add(path, "expected a UTC offset (a time without one is not an instant)")
        return None
    assert isinstance(value, str)
    try:
        parsed = _dt.datetime.fromisoformat(value)
    except ValueError:  # a leap second, or a day that does not exist (2026-02-30)
        problems.add(path, "expected a valid calendar date and time")
        return None
    return pendulum.instance(parsed)


def read_date(value: object, path: str, problems: Problems) -> Date | None:
    """A FHIR ``date`` with year, month and day (a year or month alone is a problem)."""
    match = _DATE_TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None or match.group("time") is not None:
        problems.add(path, "expected a date such as 2026-03-02")
        return None
    if len(match.group("date")) != 10:
        problems.add(path, "expected a full date (YYYY-MM-DD); a year or month is too vague")
        return None
    assert isinstance(value, str)
    try:
        day = _dt.date.fromisoformat(value)
    except ValueError:
        problems.add(path, "expected a date that exists")
        return None
    return Date(day.year, day.month, day.day)


def write_interval(value: Interval) -> dict[str, Any]:
    """A half-open interval as a FHIR ``Period`` (FHIR does not say whether end is included)."""
    return {"start": write_datetime(value.start), "end": write_datetime(value.end)}


def read_interval(data: object, path: str, problems: Problems) -> Interval | None:
    """A ``Period`` with both a start and an end, as an `Interval`."""
    period = mapping(data, path, problems, "a Period")
    if period is None:
        return None
    if "start" not in period or "end" not in period:
        problems.add(path, "expected both a start and an end")
        return None
    start = read_datetime(period["start"], f"{path}.start", problems)
    end = read_datetime(period["end"], f"{path}.end", problems)
    if start is None or end is None:
        return None
    if epoch_us(end) < epoch_us(start):
        problems.add(f"{path}.end", "expected an end at or after the start (FHIR per-1)")
        return None
    return Interval(start, end)


# --- codes ---------------------------------------------------------------------------------


def write_coding(value: Coding) -> dict[str, Any]:
    """A `Coding` as FHIR ``Coding``."""
    result: dict[str, Any] = {"system": value.system}
    if value.version is not None:
        result["version"] = value.version
    result["code"] = value.code
    if value.display is not None:
        result["display"] = value.display
    return result


def read_coding(data: object, path: str, problems: Problems) -> Coding | None:
    """A FHIR ``Coding`` with a system and a code (caredomain codings always have both)."""
    coding = mapping(data, path, problems, "a Coding")
    if coding is None:
        return None
    system = string(coding, "system", path, problems, required=True)
    code = string(coding, "code", path, problems, required=True)
    display = string(coding, "display", path, problems)
    version = string(coding, "version", path, problems)
    if system is None or code is None:
        return None
    if system != system.strip() or code != code.strip():
        problems.add(path, "expected a system and code without surrounding spaces")
        return None
    return Coding(system, code, display, version)


def write_concept(value: CodeableConcept) -> dict[str, Any]:
    """A `CodeableConcept` as FHIR ``CodeableConcept`` (an empty one per module rule 5)."""
    result: dict[str, Any] = {}
    if value.codings:
        result["coding"] = [write_coding(c) for c in value.codings]
    if value.text is not None:
        result["text"] = value.text
    return result or absent()


def read_concept(data: object, path: str, problems: Problems) -> CodeableConcept | None:
    """A FHIR ``CodeableConcept``."""
    concept = mapping(data, path, problems, "a CodeableConcept")
    if concept is None:
        return None
    if _empty(concept):
        return CodeableConcept()
    found = len(problems.items)
    codings = [
        read_coding(item, where, problems)
        for where, item in items(concept, "coding", path, problems)
    ]
    text = string(concept, "text", path, problems)
    if len(problems.items) > found:
        return None
    return CodeableConcept(tuple(c for c in codings if c is not None), text)


def read_concepts(
    data: Mapping[str, Any], key: str, path: str, problems: Problems
) -> tuple[CodeableConcept, ...]:
    """The array of ``CodeableConcept`` ``data[key]`` (empty if absent)."""
    return each(data, key, path, problems, read_concept)


def write_identifier(value: Identifier) -> dict[str, Any]:
    """An `Identifier` as FHIR ``Identifier``."""
    result: dict[str, Any] = {}
    if value.type is not None:
        result["type"] = write_concept(value.type)
    if value.system is not None:
        result["system"] = value.system
    result["value"] = value.value
    return result


def read_identifier(data: object, path: str, problems: Problems) -> Identifier | None:
    """A FHIR ``Identifier`` that has a value (caredomain identifiers always do)."""
    identifier = mapping(data, path, problems, "an Identifier")
    if identifier is None:
        return None
    found = len(problems.items)
    value = string(identifier, "value", path, problems, required=True)
    system = string(identifier, "system", path, problems)
    kind = (
        read_concept(identifier["type"], f"{path}.type", problems) if "type" in identifier else None
    )
    if value is not None and value != value.strip():
        problems.add(f"{path}.value", "expected a value without surrounding spaces")
    if len(problems.items) > found or value is None:
        return None
    return Identifier(value, system, kind)


def read_identifiers(
    data: Mapping[str, Any], key: str, path: str, problems: Problems
) -> tuple[Identifier, ...]:
    """The array of ``Identifier`` ``data[key]`` (empty if absent)."""
    return each(data, key, path, problems, read_identifier)


# --- people and places ---------------------------------------------------------------------


def write_name(value: HumanName) -> dict[str, Any]:
    """A `HumanName` as FHIR ``HumanName`` (an empty one per module rule 5)."""
    result: dict[str, Any] = {}
    if value.use is not None:
        result["use"] = value.use
    if value.family is not None:
        result["family"] = value.family
    if value.given:
        result["given"] = list(value.given)
    if value.prefix:
        result["prefix"] = list(value.prefix)
    if value.suffix:
        result["suffix"] = list(value.suffix)
    return result or absent()


def read_name(data: object, path: str, problems: Problems) -> HumanName | None:
    """A FHIR ``HumanName`` (its ``text`` and ``period`` are not read)."""
    name = mapping(data, path, problems, "a HumanName")
    if name is None:
        return None
    found = len(problems.items)
    result = HumanName(
        family=string(name, "family", path, problems),
        given=strings(name, "given", path, problems),
        prefix=strings(name, "prefix", path, problems),
        suffix=strings(name, "suffix", path, problems),
        use=string(name, "use", path, problems),
    )
    return None if len(problems.items) > found else result


def write_address(value: Address) -> dict[str, Any]:
    """An `Address` as FHIR ``Address`` (an empty one per module rule 5)."""
    result: dict[str, Any] = {}
    if value.use is not None:
        result["use"] = value.use
    if value.lines:
        result["line"] = list(value.lines)
    if value.city is not None:
        result["city"] = value.city
    if value.state is not None:
        result["state"] = value.state
    if value.postal_code is not None:
        result["postalCode"] = value.postal_code
    if value.country is not None:
        result["country"] = value.country
    return result or absent()


def read_address(data: object, path: str, problems: Problems) -> Address | None:
    """A FHIR ``Address`` (``text``, ``district``, ``type`` and ``period`` are not read)."""
    address = mapping(data, path, problems, "an Address")
    if address is None:
        return None
    found = len(problems.items)
    result = Address(
        lines=strings(address, "line", path, problems),
        city=string(address, "city", path, problems),
        state=string(address, "state", path, problems),
        postal_code=string(address, "postalCode", path, problems),
        country=string(address, "country", path, problems),
        use=string(address, "use", path, problems),
    )
    return None if len(problems.items) > found else result


def write_contact_point(value: ContactPoint) -> dict[str, Any]:
    """A `ContactPoint` as FHIR ``ContactPoint``."""
    result: dict[str, Any] = {"system": value.system.value, "value": value.value}
    if value.use is not None:
        result["use"] = value.use
    if value.rank is not None:
        result["rank"] = value.rank
    return result


_SYSTEM_CODES: Final = frozenset(s.value for s in ContactPointSystem)
_SYSTEMS: Final = ", ".join(s.value for s in ContactPointSystem)


def read_contact_point(data: object, path: str, problems: Problems) -> ContactPoint | None:
    """A FHIR ``ContactPoint`` with a system and a value."""
    contact = mapping(data, path, problems, "a ContactPoint")
    if contact is None:
        return None
    found = len(problems.items)
    system = string(contact, "system", path, problems, required=True)
    if system is not None and system not in _SYSTEM_CODES:
        problems.add(f"{path}.system", f"expected one of: {_SYSTEMS} (contact-point-system)")
    value = string(contact, "value", path, problems, required=True)
    use = string(contact, "use", path, problems)
    rank = contact.get("rank")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        problems.add(f"{path}.rank", "expected a positive integer")
    if len(problems.items) > found or system is None or value is None:
        return None
    return ContactPoint(ContactPointSystem(system), value, use, rank)


def write_reference(value: Reference) -> dict[str, Any]:
    """A `Reference` as FHIR ``Reference``.

    With an id it is the literal reference ``Type/id``; without, a logical reference: the
    ``type`` and the ``identifier`` (FHIR R4 "References", "Logical references").
    """
    if value.id is not None:
        result: dict[str, Any] = {"reference": f"{value.target}/{value.id}"}
    else:
        result = {"type": value.target}
    if value.identifier is not None:
        result["identifier"] = write_identifier(value.identifier)
    if value.display is not None:
        result["display"] = value.display
    return result


def read_reference(
    data: object, path: str, problems: Problems, targets: tuple[str, ...]
) -> Reference | None:
    """A FHIR ``Reference`` to one of ``targets`` (a literal ``Type/id`` or a logical one).

    A logical reference without ``type`` is taken to point at ``targets[0]``, the only or
    the usual target type of the element.
    """
    reference = mapping(data, path, problems, "a Reference")
    if reference is None:
        return None
    found = len(problems.items)
    literal = string(reference, "reference", path, problems)
    kind = string(reference, "type", path, problems)
    display = string(reference, "display", path, problems)
    identifier = None
    if "identifier" in reference:
        identifier = read_identifier(reference["identifier"], f"{path}.identifier", problems)
    target, id_ = kind, None
    if literal is not None:
        match = _LITERAL_REFERENCE.search(literal)
        if match is None:
            problems.add(f"{path}.reference", "expected a literal reference Type/id")
        else:
            target, id_ = match.group("type"), match.group("id")
            if kind is not None and kind != target:
                problems.add(f"{path}.type", "expected the type named in the reference")
    elif identifier is None and len(problems.items) == found:
        problems.add(path, "expected a reference Type/id or an identifier")
    target = target or targets[0]
    if target not in targets:
        problems.add(path, f"expected a reference to {' or '.join(targets)}")
    if len(problems.items) > found or target not in REFERENCE_TARGETS:
        return None
    return Reference(target, id_, identifier, display)


# --- quantities ----------------------------------------------------------------------------


def write_quantity(value: Quantity, comparator: str | None = None) -> dict[str, Any]:
    """A `Quantity` as FHIR ``Quantity`` in UCUM: ``code`` (and ``unit``) are its UCUM unit."""
    result: dict[str, Any] = {"value": number(value.value)}
    if comparator is not None:
        result["comparator"] = comparator
    result["unit"] = value.unit
    result["system"] = UCUM
    result["code"] = value.unit
    return result


def read_quantity(data: object, path: str, problems: Problems) -> Quantity | None:
    """A FHIR ``Quantity`` with a value, system ``http://unitsofmeasure.org`` and a ``code``.

    The human ``unit`` text is not read; the comparator is read by the caller.
    """
    quantity = mapping(data, path, problems, "a Quantity")
    if quantity is None:
        return None
    found = len(problems.items)
    amount = read_number(quantity.get("value"), f"{path}.value", problems)
    if quantity.get("system") != UCUM:
        problems.add(f"{path}.system", f"expected {UCUM}")
    code = string(quantity, "code", path, problems, required=True)
    if code is not None and code != code.strip():
        problems.add(f"{path}.code", "expected a UCUM code without surrounding spaces")
    if len(problems.items) > found or amount is None or code is None:
        return None
    return Quantity(amount, code)


ElementReader = Callable[[object, str, Problems], T | None]
"""A datatype reader: ``read(json, path, problems)`` returns the value or None."""


def optional(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, read: ElementReader[T]
) -> T | None:
    """``read(data[key], path.key, problems)`` when ``key`` is present, else None."""
    if key not in data:
        return None
    return read(data[key], f"{path}.{key}", problems)


def each(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, read: ElementReader[T]
) -> tuple[T, ...]:
    """``read`` applied to each item of the array ``data[key]`` (empty if absent).

    Items that fail are left out; their problems were recorded, so the resource is refused.
    """
    found = [read(item, where, problems) for where, item in items(data, key, path, problems)]
    return tuple(v for v in found if v is not None)


# --- resources -----------------------------------------------------------------------------
# Shared by the mapping modules (resources, workflow, authorization, careplans).


def as_json(resource: Any, version: FhirVersion, what: str = "resource") -> Mapping[str, Any]:
    """Parsed JSON as is; a fhir.resources model of ``version`` dumped as FHIR JSON.

    A ``fhir.resources.R4B`` model is R4; ``fhir.resources`` (not STU3 or DSTU2) is R5.

    Raises:
        ValidationError: At ``what``: neither a mapping nor a fhir.resources model of
            ``version``.
    """
    if isinstance(resource, Mapping):
        return resource
    module = type(resource).__module__
    if not module.startswith("fhir.resources."):
        raise ValidationError.at(what, "expected a JSON object or a fhir.resources model")
    model_version = FhirVersion.R4 if module.startswith("fhir.resources.R4B.") else None
    if module.split(".")[2] not in {"R4B", "STU3", "DSTU2"}:
        model_version = FhirVersion.R5
    if model_version is not version:
        raise ValidationError.at(what, f"expected a fhir.resources model of {version}")
    if hasattr(resource, "model_dump"):  # fhir.resources 7+ (pydantic 2)
        dumped = resource.model_dump(mode="json")
    else:  # fhir.resources 6 (pydantic 1): .json() writes FHIR JSON
        dumped = json.loads(resource.json(), parse_float=Decimal)
    if not isinstance(dumped, Mapping):  # pragma: no cover - models dump objects
        raise ValidationError.at(what, "expected a resource model")
    return dumped


Fields = Callable[[Mapping[str, Any], FhirVersion, Problems], dict[str, Any]]
"""Reads a resource's elements: ``fields(json, version, problems)`` returns constructor
keyword arguments, recording each problem rather than raising."""


def resource_reader(
    domain: type, resource_type: str, fields: Fields, where: Mapping[str, str] | None = None
) -> Callable[[Mapping[str, Any], FhirVersion], Any]:
    """A resource reader: check, gather every field's problems, then build the domain value.

    ``where`` maps a domain field named in a constructor's error to its FHIR element (a
    ``"R4:field"`` or ``"R5:field"`` key for one version only), so that a cross-field rule
    (discharge before admission) is reported where FHIR holds it.
    """
    paths = where or {}

    def read(resource: Mapping[str, Any], version: FhirVersion) -> Any:
        if resource.get("resourceType") != resource_type:
            raise ValidationError.at(
                "resourceType", f"expected {resource_type}", subject=resource_type
            )
        problems = Problems()
        kwargs = fields(resource, version, problems)
        problems.raise_if_any(resource_type)
        try:
            return domain(**kwargs)
        except ValidationError as exc:
            raise ValidationError(
                [
                    Problem(_element(resource_type, p.path, paths, version), p.message)
                    for p in exc.problems
                ],
                subject=resource_type,
            ) from None

    return read


def _element(resource_type: str, path: str, paths: Mapping[str, str], version: str) -> str:
    field = path.rpartition(".")[2]
    element = paths.get(f"{version}:{field}") or paths.get(field)
    return f"{resource_type}.{element}" if element else resource_type


def put(resource: dict[str, Any], key: str, values: list[Any]) -> None:
    """Set ``resource[key]`` to ``values`` unless empty (FHIR arrays are never empty)."""
    if values:
        resource[key] = values


def first_item(data: Mapping[str, Any], key: str, path: str, problems: Problems) -> tuple[str, Any]:
    """``(path, item)`` of the first item of the array ``data[key]``, or ``("", None)``."""
    return next(iter(items(data, key, path, problems)), ("", None))


def enum_member(
    data: Mapping[str, Any],
    key: str,
    path: str,
    problems: Problems,
    enum: Any,
    what: str | None = None,
) -> Any:
    """The member of ``enum`` whose value is the required code ``data[key]``, else None.

    ``what`` (the FHIR value set's name) is added to the problem of an unknown code.
    """
    value = string(data, key, path, problems, required=True)
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        suffix = f" ({what})" if what is not None else ""
        problems.add(f"{path}.{key}", f"expected one of: {', '.join(enum)}{suffix}")
        return None


def set_if_read(kwargs: dict[str, Any], key: str, value: Any) -> None:
    """Pass ``value`` to the constructor only when read, so that its default applies."""
    if value is not None:
        kwargs[key] = value


def required_reference(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, targets: tuple[str, ...]
) -> Reference | None:
    """The reference ``data[key]`` to one of ``targets``; a problem when absent."""
    if key not in data:
        problems.add(f"{path}.{key}", f"expected a reference to {' or '.join(targets)}")
        return None
    return read_reference(data[key], f"{path}.{key}", problems, targets)
