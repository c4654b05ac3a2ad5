"""Availability: recurring weekly templates expanded into slots, in local time, across DST.

A template says "Mondays 08:00-12:00, 30-minute visits, 10 minutes of turnover, a break at
10:00-10:15" in the schedule's IANA zone. :func:`generate_slots` walks the local calendar
day by day and builds every slot from its *local wall-clock* start and end, so a 08:00-12:00
clinic is 08:00-12:00 on the Sundays DST starts and ends, not 07:00 or 09:00.

Daylight-saving rules (explicit, tested):

* A slot whose local start or end does not exist (the hour skipped when clocks spring
  forward, 02:00-02:59 in US zones) is not generated.
* A local time that occurs twice (the hour repeated when clocks fall back) is taken at its
  *first* occurrence (daylight time, ``fold=0``); the repeated hour yields no second set.
* A slot whose elapsed length differs from its wall-clock length (it straddles a change)
  is not generated, so every slot lasts exactly its nominal minutes.

Closed days come from ``closed_dates`` and, when a ``BusinessCalendar`` is given, from its
holidays; ``blocked`` intervals (time off, a blocked session) remove every slot they overlap.
Slot ids are derived from the schedule id and the start instant (``stable_id``), so
expanding the same template twice yields the same ids.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator
from typing import Any

import attrs
import pendulum
from pendulum import Date, DateTime, Timezone

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ValidationError
from caredomain.core.identity import stable_id
from caredomain.core.time import BusinessCalendar, Interval, epoch_us, to_date, validate_timezone
from caredomain.scheduling.slots import Slot

__all__ = ["AvailabilityTemplate", "Session", "generate_slots"]


def _times(value: Iterable[tuple[_dt.time, _dt.time]]) -> tuple[tuple[_dt.time, _dt.time], ...]:
    return tuple((start, end) for start, end in value)


def _concepts(value: Iterable[CodeableConcept]) -> tuple[CodeableConcept, ...]:
    return tuple(value)


@attrs.frozen
class Session:
    """One recurring block of bookable time on a weekday, in local wall-clock time.

    Attributes:
        weekday: 0 = Monday ... 6 = Sunday.
        start: Local opening time.
        end: Local closing time (after ``start``; sessions do not cross midnight).
        slot_minutes: Length of each slot.
        turnover_minutes: Buffer after each slot (room turnover, documentation).
        breaks: Local ``(start, end)`` spans inside the session with no slots.
        service_types: Services offered in this session.
        capacity: Appointments per slot.
        overbook: Extra appointments per slot the overbooking policy may allow.
    """

    weekday: int
    start: _dt.time
    end: _dt.time
    slot_minutes: int
    turnover_minutes: int = 0
    breaks: tuple[tuple[_dt.time, _dt.time], ...] = attrs.field(default=(), converter=_times)
    service_types: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    capacity: int = 1
    overbook: int = 0

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValidationError.at("Session.weekday", "expected 0 (Monday) to 6 (Sunday)")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValidationError.at(
                "Session.start", "expected local wall-clock times; the zone is the template's"
            )
        if self.end <= self.start:
            raise ValidationError.at("Session.end", "expected end after start, same day")
        if self.slot_minutes <= 0:
            raise ValidationError.at("Session.slot_minutes", "expected a positive length")
        if self.turnover_minutes < 0:
            raise ValidationError.at("Session.turnover_minutes", "expected zero or more")
        for start, end in self.breaks:
            if not self.start <= start < end <= self.end:
                raise ValidationError.at(
                    "Session.breaks", "expected each break inside the session, start before end"
                )

    def _starts(self) -> Iterator[tuple[_dt.time, _dt.time]]:
        """Local (start, end) wall times of each slot, before any date is applied."""
        day = _dt.date(2000, 1, 3)  # any date: wall-clock arithmetic only
        cursor = _dt.datetime.combine(day, self.start)
        close = _dt.datetime.combine(day, self.end)
        length = _dt.timedelta(minutes=self.slot_minutes)
        step = length + _dt.timedelta(minutes=self.turnover_minutes)
        breaks = [
            (_dt.datetime.combine(day, s), _dt.datetime.combine(day, e)) for s, e in self.breaks
        ]
        while cursor + length <= close:
            end = cursor + length
            clash = next((b for b in breaks if cursor < b[1] and b[0] < end), None)
            if clash is not None:
                cursor = clash[1]  # resume at the end of the break
                continue
            yield cursor.time(), end.time()
            cursor += step


def _dates(value: Iterable[_dt.date]) -> frozenset[Date]:
    return frozenset(to_date(d) for d in value)


def _sessions(value: Iterable[Session]) -> tuple[Session, ...]:
    return tuple(value)


def _intervals(value: Iterable[Interval]) -> tuple[Interval, ...]:
    return tuple(value)


def _check_zone(_inst: object, _attribute: attrs.Attribute[Any], value: str) -> None:
    validate_timezone(value, "AvailabilityTemplate.timezone")


@attrs.frozen
class AvailabilityTemplate:
    """A schedule's recurring weekly availability and its exceptions.

    Attributes:
        schedule: The schedule's id (slots point at it).
        timezone: IANA zone the sessions' wall-clock times are in.
        sessions: The weekly sessions.
        closed_dates: Local dates with no slots (time off, a closure).
        blocked: Spans with no slots (a blocked session, a meeting), any zone.
        holidays: When set, its holidays and closures are closed days too.
    """

    schedule: str
    timezone: str = attrs.field(validator=_check_zone)
    sessions: tuple[Session, ...] = attrs.field(converter=_sessions)
    closed_dates: frozenset[Date] = attrs.field(factory=frozenset, converter=_dates)
    blocked: tuple[Interval, ...] = attrs.field(default=(), converter=_intervals)
    holidays: BusinessCalendar | None = None

    def is_closed(self, day: _dt.date) -> bool:
        """Whether ``day`` (local) has no availability at all."""
        if day in self.closed_dates:
            return True
        return self.holidays is not None and self.holidays.holiday(day) is not None


def _local(day: _dt.date, wall: _dt.time, zone: Timezone) -> DateTime | None:
    """``day`` at ``wall`` in ``zone`` at its first occurrence, or None if it does not exist."""
    moment = pendulum.datetime(
        day.year, day.month, day.day, wall.hour, wall.minute, wall.second, tz=zone, fold=0
    )
    if (moment.hour, moment.minute, moment.second) != (wall.hour, wall.minute, wall.second):
        return None  # pendulum moved it forward out of a DST gap
    return moment


def generate_slots(
    template: AvailabilityTemplate, first: _dt.date, last: _dt.date
) -> Iterator[Slot]:
    """Expand ``template`` into slots for the local dates ``first`` through ``last``.

    Slots come in chronological order per day and session order within a day. See the module
    documentation for the DST rules.

    Raises:
        ValidationError: ``last`` is before ``first``.
    """
    start_day, end_day = to_date(first), to_date(last)
    if end_day < start_day:
        raise ValidationError.at("generate_slots(last)", "expected last on or after first")
    zone = pendulum.timezone(template.timezone)
    by_weekday: dict[int, list[Session]] = {}
    for session in template.sessions:
        by_weekday.setdefault(session.weekday, []).append(session)
    plans = {id(s): list(s._starts()) for s in template.sessions}
    blocked = sorted((epoch_us(b.start), epoch_us(b.end)) for b in template.blocked)
    day = _dt.date(start_day.year, start_day.month, start_day.day)
    final = _dt.date(end_day.year, end_day.month, end_day.day)
    while day <= final:
        sessions = by_weekday.get(day.weekday(), ())
        if sessions and not template.is_closed(day):
            yield from _day_slots(template, day, sessions, plans, blocked, zone)
        day += _dt.timedelta(days=1)


def _day_slots(
    template: AvailabilityTemplate,
    day: _dt.date,
    sessions: Iterable[Session],
    plans: dict[int, list[tuple[_dt.time, _dt.time]]],
    blocked: list[tuple[int, int]],
    zone: Timezone,
) -> Iterator[Slot]:
    for session in sessions:
        nominal = session.slot_minutes * 60_000_000
        for wall_start, wall_end in plans[id(session)]:
            start, end = _local(day, wall_start, zone), _local(day, wall_end, zone)
            if start is None or end is None:
                continue  # inside the skipped hour
            interval = Interval(start, end)
            start_us, end_us = interval.start_us, interval.end_us
            if end_us - start_us != nominal:
                continue  # straddles a DST change
            if any(b_start < end_us and start_us < b_end for b_start, b_end in blocked):
                continue
            yield Slot(
                id=stable_id(template.schedule, str(start_us)),
                schedule=template.schedule,
                interval=interval,
                service_types=session.service_types,
                capacity=session.capacity,
                overbook=session.overbook,
            )
