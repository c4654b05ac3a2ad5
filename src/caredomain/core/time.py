"""Time: aware datetimes only, half-open intervals, clocks, and business-day calendars.

Rules of this module:

1. Every datetime that crosses a public boundary is aware. A naive ``datetime`` raises
   `NaiveDatetimeError` naming the field it arrived in;
   nothing here ever assumes UTC or the machine's zone for a naive value.
2. Intervals are half-open, ``[start, end)``: a 09:00-09:30 visit and a 09:30-10:00 visit do
   not overlap.
3. Engines never read the wall clock; they take a `Clock`. Tests pass a
   `FixedClock` or a `ManualClock`.
4. Business days come from the ``holidays`` package (maintained country and subdivision
   calendars, with observed-day rules), never from hand-written tables.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import attrs
import holidays
import pendulum
from pendulum import Date, DateTime

from caredomain.core.errors import NaiveDatetimeError, ValidationError

__all__ = [
    "BusinessCalendar",
    "Clock",
    "FixedClock",
    "Interval",
    "ManualClock",
    "SystemClock",
    "check_aware",
    "ensure_aware",
    "epoch_us",
    "format_duration",
    "instant_key",
    "parse_datetime",
    "parse_duration",
    "to_date",
    "to_datetime",
    "validate_timezone",
]


def ensure_aware(value: _dt.datetime, location: str) -> DateTime:
    """Return ``value`` as an aware pendulum ``DateTime``.

    Args:
        value: A ``datetime`` (stdlib or pendulum) with a UTC offset.
        location: Where the value came from, for the error (``"Interval.start"``).

    Raises:
        NaiveDatetimeError: ``value`` has no UTC offset.
        ValidationError: ``value`` is not a datetime at all.
    """
    if not isinstance(value, _dt.datetime):
        raise ValidationError.at(location, "expected an aware datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(location)
    if isinstance(value, DateTime):
        return value
    return pendulum.instance(value)


_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_MICROSECOND = _dt.timedelta(microseconds=1)


def epoch_us(value: _dt.datetime) -> int:
    """The instant of an aware datetime as whole microseconds since 1970-01-01T00:00Z.

    Use it to compare instants. Python compares two datetimes that share a tzinfo by wall
    clock, ignoring the offset, and (PEP 495) never finds a time in a DST fold equal to the
    same instant in another zone; integers have neither problem and compare fastest.
    """
    offset = value.utcoffset()
    if offset is None:
        raise NaiveDatetimeError("epoch_us(value)")
    seconds = (value.toordinal() - _EPOCH_ORDINAL) * 86_400 + (
        value.hour * 3600 + value.minute * 60 + value.second
    )
    return (seconds * 1_000_000 + value.microsecond) - offset // _MICROSECOND


def instant_key(value: _dt.datetime | None) -> int | None:
    """Attrs ``eq`` key for datetime fields: equal when they denote the same instant."""
    return None if value is None else epoch_us(value)


def to_datetime(value: _dt.datetime) -> DateTime:
    """Attrs converter: a stdlib aware datetime becomes a pendulum ``DateTime``.

    A naive value is passed through unchanged so that `check_aware`, which knows the
    field's name, can reject it with a precise location.
    """
    aware = isinstance(value, _dt.datetime) and value.utcoffset() is not None
    if aware and not isinstance(value, DateTime):
        return pendulum.instance(value)
    return value  # type: ignore[return-value]  # rejected by check_aware if not a DateTime


def check_aware(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Attrs validator: ``value`` (or each item of a tuple) is an aware ``DateTime``."""
    subject = type(instance).__name__
    location = f"{subject}.{attribute.name}"
    if value is None:
        return
    if not isinstance(value, _dt.datetime):
        raise ValidationError.at(location, "expected an aware datetime", subject=subject)
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(location, subject=subject)


def to_date(value: _dt.date) -> Date:
    """Attrs converter: a stdlib ``date`` becomes a pendulum ``Date`` (datetimes are refused)."""
    if isinstance(value, _dt.datetime):
        raise ValidationError.at("date", "expected a calendar date, got a datetime")
    if isinstance(value, _dt.date) and not isinstance(value, Date):
        return Date(value.year, value.month, value.day)
    return value


def parse_datetime(text: str, location: str = "$") -> DateTime:
    """Parse an RFC 3339 / ISO 8601 datetime that carries a UTC offset.

    ``2026-03-02T09:00:00-06:00`` and ``2026-03-02T15:00:00Z`` are accepted; a value without
    an offset raises `NaiveDatetimeError` (pendulum's own parser would silently take
    UTC, which is how appointments end up an hour off).

    Raises:
        NaiveDatetimeError: The text has no offset.
        ValidationError: The text is not an ISO 8601 datetime.
    """
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValidationError.at(
            location, "expected an RFC 3339 datetime such as 2026-03-02T09:00:00-06:00"
        ) from None
    return ensure_aware(parsed, location)


_DURATION = re.compile(
    r"^(?P<sign>-)?P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d{1,6})?)S)?)?$"
)


def parse_duration(text: str, location: str = "$") -> _dt.timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes and seconds.

    ``P7D``, ``PT72H``, ``PT1H30M``, ``P2W``, ``-PT15M``. Years and months are refused: their
    length depends on the calendar, so a deadline in months is a calendar rule, not a
    duration.

    Raises:
        ValidationError: Not such a duration.
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None or text in ("P", "-P") or text.endswith("T"):
        raise ValidationError.at(
            location, "expected an ISO 8601 duration such as P7D, PT72H or PT1H30M (no Y or M)"
        )
    parts = match.groupdict()
    value = _dt.timedelta(
        weeks=int(parts["weeks"] or 0),
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=float(parts["seconds"] or 0),
    )
    return -value if parts["sign"] else value


def format_duration(value: _dt.timedelta) -> str:
    """Write a ``timedelta`` as an ISO 8601 duration (``P7D``, ``PT72H``, ``P1DT2H30M``).

    Whole days are written as days, the rest as hours, minutes and seconds; the inverse of
    :func:`parse_duration`.
    """
    sign = "-" if value < _dt.timedelta(0) else ""
    rest = abs(value)
    days, seconds, micros = rest.days, rest.seconds, rest.microseconds
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    out = f"{sign}P{days}D" if days else f"{sign}P"
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or micros:
        clock += f"{seconds}.{micros:06d}".rstrip("0").rstrip(".") + "S"
    if clock:
        out += "T" + clock
    return out if out not in ("P", "-P") else "PT0S"


def validate_timezone(name: str, location: str = "timezone") -> str:
    """Return ``name`` if it is an IANA timezone name known to this machine's tz database.

    Raises:
        ValidationError: The name is unknown (``"CST"`` and ``"-06:00"`` are not IANA zones).
    """
    if not _is_iana_zone(name):
        raise ValidationError.at(location, "expected an IANA timezone name such as America/Chicago")
    return name


@functools.lru_cache(maxsize=1024)
def _is_iana_zone(name: str) -> bool:
    # pendulum re-reads tz data on each lookup; the answer for a name never changes.
    if not name or name.startswith(("+", "-")) or name[:1].isdigit():
        return False
    try:
        pendulum.timezone(name)
    except Exception:  # pendulum raises InvalidTimezone/ZoneInfoNotFoundError/ValueError
        return False
    return True


def _check_timezone(_inst: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        validate_timezone(value, attribute.name)


@attrs.frozen
class Interval:
    """A half-open span of time ``[start, end)`` between two aware instants.

    ``start == end`` is the empty interval. Equality and every comparison are by instant
    (whole microseconds since the epoch, computed once), so intervals given in different
    zones, or inside a DST fold, compare correctly.

    Attributes:
        start: The first instant inside the interval.
        end: The first instant after it.
    """

    start: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    end: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    _start_us: int = attrs.field(init=False, eq=False, repr=False)
    _end_us: int = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        start_us, end_us = epoch_us(self.start), epoch_us(self.end)
        if end_us < start_us:
            raise ValidationError.at("Interval.end", "expected end at or after start")
        object.__setattr__(self, "_start_us", start_us)
        object.__setattr__(self, "_end_us", end_us)

    @property
    def start_us(self) -> int:
        """The start as epoch microseconds (see `epoch_us`), computed once."""
        return self._start_us

    @property
    def end_us(self) -> int:
        """The end as epoch microseconds, computed once."""
        return self._end_us

    @property
    def duration(self) -> _dt.timedelta:
        """Elapsed time from start to end (a DST day's 00:00-00:00 is 23 or 25 hours)."""
        return _dt.timedelta(microseconds=self._end_us - self._start_us)

    @property
    def is_empty(self) -> bool:
        """Whether the interval contains no instant."""
        return self._start_us == self._end_us

    def contains(self, moment: _dt.datetime) -> bool:
        """Whether ``moment`` is inside: ``start <= moment < end``."""
        at = epoch_us(ensure_aware(moment, "Interval.contains(moment)"))
        return self._start_us <= at < self._end_us

    def covers(self, other: Interval) -> bool:
        """Whether every instant of ``other`` is inside this interval."""
        if other.is_empty:
            return self._start_us <= other._start_us <= self._end_us
        return self._start_us <= other._start_us and other._end_us <= self._end_us

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share at least one instant."""
        return self._start_us < other._end_us and other._start_us < self._end_us

    def intersection(self, other: Interval) -> Interval | None:
        """The instants in both, or ``None`` when they do not overlap."""
        if not self.overlaps(other):
            return None
        start = self.start if self._start_us >= other._start_us else other.start
        end = self.end if self._end_us <= other._end_us else other.end
        return Interval(start, end)

    def gap_to(self, other: Interval) -> _dt.timedelta:
        """Elapsed time from this interval's end to ``other``'s start (negative if before)."""
        return _dt.timedelta(microseconds=other._start_us - self._end_us)

    def shift(self, delta: _dt.timedelta) -> Interval:
        """The same length of elapsed time, moved by ``delta``."""
        return Interval(self.start + delta, self.end + delta)

    def in_tz(self, tz: str) -> Interval:
        """The same instants, expressed in zone ``tz``."""
        validate_timezone(tz)
        return Interval(self.start.in_tz(tz), self.end.in_tz(tz))


@runtime_checkable
class Clock(Protocol):
    """Where engines get "now" from. Never call ``pendulum.now()`` in an engine."""

    def now(self) -> DateTime:
        """The current instant, aware."""
        ...


@attrs.frozen
class SystemClock:
    """The machine's clock, reported in zone ``tz`` (UTC by default)."""

    tz: str = attrs.field(default="UTC", validator=_check_timezone)

    def now(self) -> DateTime:
        """The current instant in ``tz``."""
        return pendulum.now(self.tz)


@attrs.frozen
class FixedClock:
    """A clock stopped at ``at``: every call to `now` returns the same instant."""

    at: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)

    def now(self) -> DateTime:
        """The fixed instant."""
        return self.at


class ManualClock:
    """A test clock that moves only when told to.

    >>> clock = ManualClock(pendulum.datetime(2026, 3, 7, 9, tz="America/Chicago"))
    >>> clock.advance(_dt.timedelta(days=1)).hour   # elapsed time: 23h across DST, so 10:00
    10
    """

    def __init__(self, start: _dt.datetime) -> None:
        self._now = ensure_aware(start, "ManualClock(start)")

    def now(self) -> DateTime:
        """The clock's current instant."""
        return self._now

    def advance(self, delta: _dt.timedelta) -> DateTime:
        """Move forward by an elapsed ``delta`` and return the new instant.

        Raises:
            ValidationError: ``delta`` is negative (clocks do not run backwards).
        """
        if delta < _dt.timedelta(0):
            raise ValidationError.at("ManualClock.advance", "expected a non-negative delta")
        self._now = self._now + delta
        return self._now

    def set(self, moment: _dt.datetime) -> DateTime:
        """Jump to ``moment`` (not earlier than now) and return it."""
        instant = ensure_aware(moment, "ManualClock.set(moment)")
        if epoch_us(instant) < epoch_us(self._now):
            raise ValidationError.at("ManualClock.set", "expected a moment not before now")
        self._now = instant
        return self._now


def _to_frozen_dates(value: Iterable[_dt.date]) -> frozenset[Date]:
    return frozenset(to_date(d) for d in value)


def _to_weekdays(value: Iterable[int]) -> frozenset[int]:
    days = frozenset(value)
    if not days <= frozenset(range(7)):
        raise ValidationError.at("BusinessCalendar.weekend", "expected weekdays 0 (Mon) to 6 (Sun)")
    return days


_ONE_DAY = _dt.timedelta(days=1)


@functools.lru_cache(maxsize=256)
def _holiday_table(
    country: str, subdivision: str | None, observed: bool, categories: tuple[str, ...], year: int
) -> dict[_dt.date, str]:
    """One year of holidays from the ``holidays`` package, shared by equal calendars."""
    try:
        table = holidays.country_holidays(
            country, subdiv=subdivision, years=year, observed=observed, categories=categories
        )
    except (NotImplementedError, ValueError):
        raise ValidationError.at(
            "BusinessCalendar",
            "expected a country, subdivision and categories known to the holidays package",
        ) from None
    return dict(table.items())


def _to_categories(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen
class BusinessCalendar:
    """Which days are business days: weekends, public holidays, and local closures.

    Holidays come from the ``holidays`` package (``holidays.country_holidays``), so the
    US federal calendar, state calendars and other countries stay current with that
    package's releases. The default is the US federal calendar with observed days
    (a Saturday holiday is observed on Friday, a Sunday one on Monday, 5 U.S.C. 6103).

    Attributes:
        country: ISO 3166-1 alpha-2 code (``"US"``).
        subdivision: State or province code (``"CA"`` adds California's holidays such as
            the day after Thanksgiving), or ``None`` for national holidays only.
        observed: Whether observed days (Friday for a Saturday holiday) are closed.
        categories: ``holidays`` categories to include (``"public"``; ``"government"``...).
        weekend: Weekdays that are never business days, Monday = 0.
        closures: Extra closed dates (an office closure, a snow day).
        timezone: IANA zone in which a datetime is turned into a calendar date; ``None``
            uses the datetime's own zone.
    """

    country: str = "US"
    subdivision: str | None = None
    observed: bool = True
    categories: tuple[str, ...] = attrs.field(default=("public",), converter=_to_categories)
    weekend: frozenset[int] = attrs.field(default=frozenset({5, 6}), converter=_to_weekdays)
    closures: frozenset[Date] = attrs.field(factory=frozenset, converter=_to_frozen_dates)
    timezone: str | None = attrs.field(default=None, validator=_check_timezone)

    def __attrs_post_init__(self) -> None:
        if len(self.weekend) == 7:
            raise ValidationError.at("BusinessCalendar.weekend", "expected at least one workday")
        self._holidays_for(2000)  # fail fast on an unknown country, subdivision or category

    def _holidays_for(self, year: int) -> dict[_dt.date, str]:
        return _holiday_table(self.country, self.subdivision, self.observed, self.categories, year)

    def _local_date(self, day: _dt.date) -> _dt.date:
        if isinstance(day, _dt.datetime):
            moment = ensure_aware(day, "BusinessCalendar(day)")
            if self.timezone is not None:
                moment = moment.in_tz(self.timezone)
            return _dt.date(moment.year, moment.month, moment.day)
        if not isinstance(day, _dt.date):
            raise ValidationError.at("BusinessCalendar(day)", "expected a date or datetime")
        return day

    def _closed(self, day: _dt.date) -> str | None:
        if day in self.closures:
            return "closure"
        return self._holidays_for(day.year).get(day)

    def _open(self, day: _dt.date) -> bool:
        return day.weekday() not in self.weekend and self._closed(day) is None

    def holiday(self, day: _dt.date) -> str | None:
        """The name of the holiday (or ``"closure"``) on ``day``, or ``None``."""
        return self._closed(self._local_date(day))

    def is_business_day(self, day: _dt.date) -> bool:
        """Whether ``day`` (a date, or a datetime read in the calendar's zone) is a business day."""
        return self._open(self._local_date(day))

    def add_business_days(self, day: _dt.date, count: int) -> Date:
        """The date ``count`` business days after ``day`` (before it, if ``count`` < 0).

        ``day`` itself does not count, whether or not it is a business day: from a Friday,
        one business day later is the next Monday (Tuesday if Monday is a holiday).
        ``count == 0`` returns ``day``'s date unchanged.
        """
        current = self._local_date(day)
        step = _ONE_DAY if count >= 0 else -_ONE_DAY
        remaining = abs(count)
        while remaining:
            current += step
            if self._open(current):
                remaining -= 1
        return Date(current.year, current.month, current.day)

    def business_days_between(self, start: _dt.date, end: _dt.date) -> int:
        """Business days from ``start`` to ``end``: the inverse of `add_business_days`.

        Forward (``end >= start``) it counts the business days in ``(start, end]``;
        backward it counts those in ``[end, start)`` and negates, so that
        ``business_days_between(d, add_business_days(d, n)) == n`` for every ``n``.
        """
        first, last = self._local_date(start), self._local_date(end)
        if last < first:
            return -self._count(last - _ONE_DAY, first - _ONE_DAY)
        return self._count(first, last)

    def _count(self, after: _dt.date, through: _dt.date) -> int:
        count = 0
        current = after
        while current < through:
            current += _ONE_DAY
            if self._open(current):
                count += 1
        return count

    def deadline(self, moment: _dt.datetime, business_days: int) -> DateTime:
        """The exclusive deadline for "within N business days after ``moment``".

        The deadline is the start of the day after the Nth business day following
        ``moment``'s local date, in the calendar's zone (or ``moment``'s zone). This is how
        CMS counts the transitional-care contact "within 2 business days following discharge"
        (Medicare Claims Processing Manual, ch. 12, 30.6.15.3): the discharge day does not
        count and the whole Nth business day does.
        """
        start = ensure_aware(moment, "BusinessCalendar.deadline(moment)")
        if business_days < 0:
            raise ValidationError.at("BusinessCalendar.deadline", "expected a non-negative count")
        zone = pendulum.timezone(self.timezone) if self.timezone else (start.tz or pendulum.UTC)
        last = self.add_business_days(start.in_tz(zone), business_days)
        following = last.add(days=1)
        return pendulum.datetime(following.year, following.month, following.day, tz=zone)
