"""caredomain's own JSON: exactly one ``cattrs`` converter, every hook registered here.

* Datetimes are RFC 3339 strings with an offset (``2026-03-02T09:00:00-06:00``); a string
  without one is refused (`NaiveDatetimeError` as a problem).
  Zone *names* are not carried by a timestamp; types that need one have a ``timezone`` field.
* Dates are ``YYYY-MM-DD``; durations ISO 8601 (``PT30M``, ``P7D``); local times
  ``08:30:00``. Decimals are strings (``"72.5"``) so no float ever touches them;
  numbers are accepted on input.
* Enums are their values; tuples are lists; sets are sorted lists, so output is stable.
* Domain events carry a ``"type"`` key naming their registered event type, so a list of
  mixed events reads back as the right classes.
* Reading is strict: unknown keys, missing required keys and wrong types are all reported
  together, each with its path, as one `ValidationError`
  built by cattrs' ``transform_error`` (never by hand-kept paths). No message carries the
  offending value.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Any, Final, TypeVar, get_args, get_origin

import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn
from cattrs.preconf.json import make_converter
from pendulum import Date, DateTime

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import (
    CareDomainError,
    NaiveDatetimeError,
    ParseError,
    Problem,
    ValidationError,
)
from caredomain.core.events import DomainEvent, event_class
from caredomain.core.quantities import Quantity, to_decimal
from caredomain.core.results import Range, Ratio
from caredomain.core.results import Value as ResultValue
from caredomain.core.time import ensure_aware, format_duration, parse_datetime, parse_duration

__all__ = ["converter", "from_dict", "from_json", "to_dict", "to_json"]

T = TypeVar("T")

converter: Final[cattrs.Converter] = make_converter(
    detailed_validation=True, forbid_extra_keys=True
)
"""The converter. Areas register hooks for their own types here, in this module's style, rather
than making converters of their own.
"""


# --- scalars ---------------------------------------------------------------------------


def _structure_datetime(value: Any, _type: type) -> DateTime:
    if isinstance(value, _dt.datetime):
        return ensure_aware(value, "datetime")
    if not isinstance(value, str):
        raise ValidationError.at("datetime", "expected an RFC 3339 datetime string")
    return parse_datetime(value, "datetime")


def _structure_date(value: Any, _type: type) -> Date:
    if isinstance(value, _dt.datetime):
        raise ValidationError.at("date", "expected a calendar date, not a datetime")
    if isinstance(value, _dt.date):
        return Date(value.year, value.month, value.day)
    if not isinstance(value, str) or len(value) != 10:
        raise ValidationError.at("date", "expected a date as YYYY-MM-DD")
    try:
        day = _dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError.at("date", "expected a date as YYYY-MM-DD") from None
    return Date(day.year, day.month, day.day)


def _structure_decimal(value: Any, _type: type) -> Decimal:
    return to_decimal(value, "decimal")


def _strict(kind: type) -> Callable[[Any, type], Any]:
    def structure(value: Any, _type: type) -> Any:
        # bool is an int in Python, but not in JSON.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValidationError.at(kind.__name__, f"expected {kind.__name__}")
        return value

    return structure


converter.register_unstructure_hook(DateTime, lambda value: value.isoformat())
converter.register_structure_hook(DateTime, _structure_datetime)
converter.register_unstructure_hook(Date, lambda value: value.isoformat())
converter.register_structure_hook(Date, _structure_date)
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, _structure_decimal)


def _structure_timedelta(value: Any, _type: type) -> _dt.timedelta:
    if isinstance(value, _dt.timedelta):
        return value
    return parse_duration(value, "duration")


def _structure_time(value: Any, _type: type) -> _dt.time:
    if isinstance(value, _dt.time) and value.tzinfo is None:
        return value
    try:
        parsed = _dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is not None:
        raise ValidationError.at("time", "expected a local wall-clock time such as 08:30")
    return parsed


converter.register_unstructure_hook(_dt.timedelta, format_duration)
converter.register_structure_hook(_dt.timedelta, _structure_timedelta)
converter.register_unstructure_hook(_dt.time, lambda value: value.isoformat())
converter.register_structure_hook(_dt.time, _structure_time)


def _structure_enum(value: Any, type_: type[Enum]) -> Enum:
    return type_(value)


for _kind in (str, int, bool):
    converter.register_structure_hook(_kind, _strict(_kind))
# Hooks dispatch on the MRO, where str and int come before Enum for StrEnum and IntEnum:
# give the enum bases their own hook so that members are checked, not passed through.
for _enum_base in (StrEnum, IntEnum):
    converter.register_structure_hook(_enum_base, _structure_enum)


# --- sequences: JSON arrays only (a string is not a list of characters) ---------------


def _is_homogeneous(type_: Any) -> bool:
    origin, args = get_origin(type_), get_args(type_)
    if origin is tuple:
        return len(args) == 2 and args[1] is Ellipsis
    return origin in (list, frozenset, set)


def _structure_sequence_factory(type_: Any) -> Callable[[Any, Any], Any]:
    origin = get_origin(type_)
    (item_type, *_) = get_args(type_)
    if origin is tuple:
        inner = homogenous_tuple_structure_factory(type_, converter)
    else:
        inner = list_structure_factory(list[item_type], converter)  # type: ignore[valid-type]
    finish: Callable[[Any], Any] = origin if origin in (frozenset, set) else (lambda v: v)

    def structure(value: Any, _type: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise ValidationError.at("array", "expected an array")
        return finish(inner(value, type_))

    return structure


converter.register_structure_hook_factory(_is_homogeneous, _structure_sequence_factory)


# --- sets: sorted lists, so that output does not depend on hash order ------------------


def _is_set(type_: Any) -> bool:
    return get_origin(type_) in (frozenset, set)


def _unstructure_set_factory(type_: Any) -> Callable[[Any], list[Any]]:
    (item_type,) = get_args(type_) or (Any,)

    def unstructure(value: Any) -> list[Any]:
        items = [converter.unstructure(item, item_type) for item in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)

    return unstructure


converter.register_unstructure_hook_factory(_is_set, _unstructure_set_factory)


# --- domain events: tagged by "type" ---------------------------------------------------


def _is_event(type_: Any) -> bool:
    return isinstance(type_, type) and issubclass(type_, DomainEvent)


_EVENT_UNSTRUCTURE: dict[type, Callable[[Any], dict[str, Any]]] = {}
_EVENT_STRUCTURE: dict[type, Callable[[Any, Any], Any]] = {}


def _unstructure_event(event: DomainEvent) -> dict[str, Any]:
    cls = type(event)
    fn = _EVENT_UNSTRUCTURE.get(cls)
    if fn is None:
        fn = _EVENT_UNSTRUCTURE[cls] = make_dict_unstructure_fn(cls, converter)
    return {"type": cls.event_type, **fn(event)}


def _structure_event_factory(declared: type[DomainEvent]) -> Callable[[Any, Any], DomainEvent]:
    def structure(value: Any, _type: Any) -> DomainEvent:
        if not isinstance(value, dict):
            raise ValidationError.at("event", "expected an object")
        tag = value.get("type", declared.event_type if declared is not DomainEvent else None)
        if not isinstance(tag, str):
            raise ValidationError.at("type", "expected the event's type name")
        cls = event_class(tag)
        if not issubclass(cls, declared):
            raise ValidationError.at("type", f"expected a {declared.event_type} event type")
        fn = _EVENT_STRUCTURE.get(cls)
        if fn is None:
            fn = _EVENT_STRUCTURE[cls] = make_dict_structure_fn(
                cls, converter, _cattrs_forbid_extra_keys=True
            )
        body = {k: v for k, v in value.items() if k != "type"}
        result: DomainEvent = fn(body, cls)
        return result

    return structure


converter.register_unstructure_hook_func(_is_event, _unstructure_event)
converter.register_structure_hook_factory(_is_event, _structure_event_factory)


# --- observation result values: a string, or an object tagged by "type" -----------------

_RESULT_VALUE_TYPES: Final[dict[str, type]] = {
    "Quantity": Quantity,
    "CodeableConcept": CodeableConcept,
    "Range": Range,
    "Ratio": Ratio,
}


def _unstructure_result_value(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return {"type": type(value).__name__, **converter.unstructure(value)}


def _structure_result_value(value: Any, _type: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or value.get("type") not in _RESULT_VALUE_TYPES:
        raise ValidationError.at(
            "type", f"expected text or an object whose type is one of {sorted(_RESULT_VALUE_TYPES)}"
        )
    fields = {k: v for k, v in value.items() if k != "type"}
    return converter.structure(fields, _RESULT_VALUE_TYPES[value["type"]])


def _is_result_value(type_: Any) -> bool:
    return type_ in (ResultValue, ResultValue | None)


# Predicate hooks: the JSON preconf's union passthrough would otherwise claim these unions.
converter.register_unstructure_hook_func(_is_result_value, _unstructure_result_value)
converter.register_structure_hook_func(_is_result_value, _structure_result_value)


# --- errors ----------------------------------------------------------------------------


def _type_name(type_: Any) -> str:
    if type_ is None:
        return "a value"
    args = get_args(type_)
    if type(None) in args:  # Optional[X]: say what X is; null is allowed anyway
        others = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in others) + " or null"
    if isinstance(type_, type) and issubclass(type_, Enum):
        return "one of: " + ", ".join(str(member.value) for member in type_)
    name = getattr(type_, "__name__", None)
    return name if isinstance(name, str) else str(type_).replace("typing.", "")


def _format_exception(exc: BaseException, type_: Any) -> str:
    """Say what was expected without ever formatting the offending value."""
    if isinstance(exc, ValidationError):
        if len(exc.problems) == 1 and exc.problems[0].path in {"str", "int", "bool"}:
            return f"expected {_type_name(type_)}"  # the declared type says "or null"
        return "; ".join(
            p.message
            if p.path
            in {
                "$",
                "datetime",
                "date",
                "decimal",
                "str",
                "int",
                "bool",
                "array",
                "duration",
                "time",
            }
            else f"{p.message} ({p.path})"
            for p in exc.problems
        )
    if isinstance(exc, CareDomainError):
        return type(exc).__name__
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown keys: {', '.join(sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "required key missing"
    return f"expected {_type_name(type_)}"


def _problems(exc: BaseException) -> list[Problem]:
    problems = []
    for line in cattrs.transform_error(exc, path="$", format_exception=_format_exception):
        message, _, path = line.rpartition(" @ ")
        problems.append(Problem(path or "$", message))
    return problems


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def from_dict(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` value from plain JSON-like data (dicts, lists, strings, numbers).

    Raises:
        ValidationError: Every problem found, each with its path (``$.names[0].family``).
            When every problem is a naive datetime, the error is a
            `NaiveDatetimeError`.
    """
    subject = _type_name(cls)
    try:
        return converter.structure(data, cls)
    except (cattrs.ClassValidationError, cattrs.IterableValidationError) as exc:
        problems = _problems(exc)
        leaves = _leaves(exc)
        if leaves and all(isinstance(leaf, NaiveDatetimeError) for leaf in leaves):
            error: ValidationError = NaiveDatetimeError(problems[0].path, subject=subject)
            error.problems = tuple(problems)
            raise error from None
        raise ValidationError(problems, subject=subject) from None
    except ValidationError as exc:
        # Raised by the value's own validators (a cross-field rule): already located.
        exc.subject = exc.subject or subject
        raise
    except (TypeError, ValueError, AttributeError, KeyError):
        raise ValidationError.at(
            "$", f"expected an object for {subject}", subject=subject
        ) from None


def to_dict(value: Any) -> Any:
    """The value as plain JSON-ready data (dicts, lists, strings, numbers, booleans, None)."""
    return converter.unstructure(value)


def to_json(value: Any, *, indent: int | None = None) -> str:
    """The value as caredomain JSON text (UTF-8 safe, keys in field order)."""
    return json.dumps(to_dict(value), ensure_ascii=False, indent=indent)


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Read a ``cls`` value from caredomain JSON text.

    Raises:
        ParseError: The text is not JSON (with line and column, never the text itself).
        ValidationError: The JSON does not describe a ``cls`` (see `from_dict`).
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"line {exc.lineno}, column {exc.colno}", exc.msg) from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"byte {exc.start}", "UTF-8 text") from None
    return from_dict(data, cls)
