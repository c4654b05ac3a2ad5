"""Scheduling metrics: how full, how soon, and how many will not come.

Pure functions over slots, appointments and requests; each returns small frozen values
that keep their numerators and denominators, so totals over several resources are sums.

Conventions shared by every function here:

* A **resource** is a schedule: `Slot.schedule` groups slots, one schedule per
  practitioner, room or device.
* A slot belongs to the interval its **start** falls in (half-open ``[start, end)``).
* A slot is **offered** when its status is ``free``, ``busy`` or ``busy-tentative``;
  ``busy-unavailable`` (blocked) and ``entered-in-error`` slots offer nothing.
* A slot's **bookings** are the appointments that list its id in `Appointment.slots` and
  are ``booked``, ``arrived``, ``checked-in``, ``fulfilled`` or ``noshow`` (a no-show used
  the capacity). A slot whose status is ``busy`` counts as full (its capacity) even when
  the appointments that fill it are not given, e.g. booked by another system.
* Appointments that point at slots not given are ignored, so pass the slots of the
  period you measure.

No-show figures: no-shows average about 23% across 105 studies (Dantas et al., Health
Policy 2018) and commonly range 5-30% of outpatient visits; measure your own per service.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from typing import Final

import attrs
from pendulum import DateTime

from caredomain.core.codes import Coding
from caredomain.core.errors import ValidationError
from caredomain.core.time import (
    BusinessCalendar,
    Interval,
    check_aware,
    ensure_aware,
    epoch_us,
    instant_key,
    to_datetime,
)
from caredomain.scheduling.appointments import Appointment, AppointmentStatus
from caredomain.scheduling.requests import AppointmentRequest, UrgencyPolicy
from caredomain.scheduling.slots import Slot, SlotStatus

__all__ = [
    "DEFAULT_NO_SHOW_RATE",
    "AccessTimeSummary",
    "NoShowForecast",
    "ResourceFillRate",
    "ResourceUtilization",
    "ThirdNextAvailable",
    "access_times",
    "expected_no_shows",
    "fill_rate",
    "overbook_allowance",
    "overflow_risk",
    "third_next_available",
    "utilization",
    "with_overbooking",
]

DEFAULT_NO_SHOW_RATE: Final = 0.23
"""The default no-show probability per appointment: the 23% average across 105 studies of
Dantas et al. (Health Policy 2018). Outpatient rates commonly range 5-30%; pass your own
rates per service or per patient whenever you have them."""

_OCCUPYING: Final = frozenset(
    {
        AppointmentStatus.BOOKED,
        AppointmentStatus.ARRIVED,
        AppointmentStatus.CHECKED_IN,
        AppointmentStatus.FULFILLED,
        AppointmentStatus.NOSHOW,
    }
)
_OFFERED: Final = frozenset({SlotStatus.FREE, SlotStatus.BUSY, SlotStatus.BUSY_TENTATIVE})
_DAY_US: Final = 86_400_000_000


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


@attrs.frozen
class ResourceUtilization:
    """Booked time over offered time for one resource.

    ``ratio = booked_minutes / available_minutes``, where ``available_minutes`` sums
    ``slot minutes x capacity`` over offered slots and ``booked_minutes`` sums
    ``slot minutes x bookings``. Within ``[0, 1]`` unless slots are overbooked.

    Attributes:
        resource: The schedule id.
        available_minutes: Offered capacity, in minutes.
        booked_minutes: Booked capacity, in minutes (overbooking can exceed the available).
    """

    resource: str
    available_minutes: float
    booked_minutes: float

    @property
    def ratio(self) -> float | None:
        """Booked over available, or ``None`` when nothing was offered."""
        return _ratio(self.booked_minutes, self.available_minutes)


@attrs.frozen
class ResourceFillRate:
    """Slots with at least one booking over offered slots, for one resource.

    Attributes:
        resource: The schedule id.
        offered: Offered slots.
        booked: Offered slots holding at least one booking.
    """

    resource: str
    offered: int
    booked: int

    @property
    def ratio(self) -> float | None:
        """Booked over offered, or ``None`` when nothing was offered."""
        return _ratio(self.booked, self.offered)


@attrs.frozen
class ThirdNextAvailable:
    """Days from a moment to a resource's third next available appointment.

    Attributes:
        resource: The schedule id.
        measured_at: The moment measured from.
        nth: Which available appointment was sought (3 for the standard measure).
        slot_id: The slot holding it, or ``None`` if the slots given have fewer free places.
        slot_start: That slot's start.
        days: Days from ``measured_at``'s local date to the slot's local date (calendar days,
            or business days when a calendar was given), or ``None``.
    """

    resource: str
    measured_at: DateTime = attrs.field(
        converter=to_datetime, validator=check_aware, eq=instant_key
    )
    nth: int
    slot_id: str | None = None
    slot_start: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    days: int | None = None


@attrs.frozen
class AccessTimeSummary:
    """How long booked requests of one urgency class waited, release to visit start.

    Attributes:
        urgency: The urgency class.
        requests: Requests of this class.
        booked: Of those, requests with a booked appointment (the sample).
        median_days: Median elapsed days from release to start, or ``None`` if none booked.
        p90_days: 90th percentile of the same, or ``None``.
        within_target: Booked requests whose wait is within the class's access target,
            when a policy was given; else ``None``.
    """

    urgency: str
    requests: int
    booked: int
    median_days: float | None = None
    p90_days: float | None = None
    within_target: int | None = None


@attrs.frozen
class NoShowForecast:
    """The expected number of no-shows among booked appointments.

    With independent per-appointment no-show probabilities ``p_i``, the count of no-shows
    has mean ``sum(p_i)`` and variance ``sum(p_i * (1 - p_i))`` (a Poisson binomial).

    Attributes:
        appointments: Booked appointments counted.
        expected: Expected no-shows.
        variance: Variance of the number of no-shows.
    """

    appointments: int
    expected: float
    variance: float


# --- shared --------------------------------------------------------------------------------


def _index(slots: Iterable[Slot]) -> dict[str, Slot]:
    index: dict[str, Slot] = {}
    for slot in slots:
        if slot.id in index:
            raise ValidationError.at("slots", "expected each slot once (a slot id repeats)")
        index[slot.id] = slot
    return index


def _bookings(appointments: Iterable[Appointment], index: Mapping[str, Slot]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for appointment in appointments:
        if appointment.state in _OCCUPYING:
            counts.update(sid for sid in set(appointment.slots) if sid in index)
    return counts


def _occupied(slot: Slot, counts: Counter[str]) -> int:
    full = slot.capacity if slot.status is SlotStatus.BUSY else 0
    return max(counts[slot.id], full)


def _in(interval: Interval, slots: Iterable[Slot]) -> list[Slot]:
    return [s for s in slots if interval.contains(s.interval.start)]


# --- utilization and fill rate -------------------------------------------------------------


def utilization(
    slots: Iterable[Slot], appointments: Iterable[Appointment], interval: Interval
) -> tuple[ResourceUtilization, ...]:
    """Booked minutes over offered minutes, per resource, for slots starting in ``interval``.

    Formula, per resource: ``sum(minutes(s) * bookings(s)) / sum(minutes(s) * capacity(s))``
    over offered slots ``s``; see the module documentation for what counts as offered and
    booked. Every resource with a slot starting in the interval appears, sorted by id.

    Raises:
        ValidationError: A slot id repeats.
    """
    index = _index(slots)
    counts = _bookings(appointments, index)
    available: dict[str, float] = defaultdict(float)
    booked: dict[str, float] = defaultdict(float)
    for slot in _in(interval, index.values()):
        available[slot.schedule] += 0.0
        booked[slot.schedule] += 0.0
        if slot.status not in _OFFERED:
            continue
        minutes = slot.interval.duration.total_seconds() / 60
        available[slot.schedule] += minutes * slot.capacity
        booked[slot.schedule] += minutes * _occupied(slot, counts)
    return tuple(
        ResourceUtilization(resource, available[resource], booked[resource])
        for resource in sorted(available)
    )


def fill_rate(
    slots: Iterable[Slot], appointments: Iterable[Appointment], interval: Interval
) -> tuple[ResourceFillRate, ...]:
    """Booked slots over offered slots, per resource, for slots starting in ``interval``.

    A slot is booked when it holds at least one booking, whatever its capacity. Every
    resource with a slot starting in the interval appears, sorted by id.

    Raises:
        ValidationError: A slot id repeats.
    """
    index = _index(slots)
    counts = _bookings(appointments, index)
    offered: Counter[str] = Counter()
    filled: Counter[str] = Counter()
    resources: set[str] = set()
    for slot in _in(interval, index.values()):
        resources.add(slot.schedule)
        if slot.status in _OFFERED:
            offered[slot.schedule] += 1
            filled[slot.schedule] += _occupied(slot, counts) > 0
    return tuple(
        ResourceFillRate(resource, offered[resource], filled[resource])
        for resource in sorted(resources)
    )


# --- access --------------------------------------------------------------------------------


def third_next_available(
    slots: Iterable[Slot],
    appointments: Iterable[Appointment],
    moment: _dt.datetime,
    *,
    nth: int = 3,
    calendar: BusinessCalendar | None = None,
) -> tuple[ThirdNextAvailable, ...]:
    """Days to each resource's third next available appointment: the IHI access measure.

    The Institute for Healthcare Improvement defines the third next available appointment
    as the time in days between the day a patient asks for an appointment and the third
    available one, not counting frozen or held slots; the third rather than the first is
    used because the first and second are often chance openings from cancellations (IHI,
    "Third Next Available Appointment" measure; Murray and Berwick, "Advanced Access",
    JAMA 2003;289(8):1035-40).

    Here: walking each resource's slots that start at or after ``moment`` in time order,
    a ``free`` slot offers ``capacity - bookings`` places (held ``busy-tentative``, ``busy``
    and blocked slots offer none; overbook allowances are not availability); the ``nth``
    place found is the answer. Days count from ``moment``'s local date to the slot's local
    date, both in ``moment``'s zone (pass it in the clinic's zone): calendar days, or
    business days of ``calendar`` when given.

    Raises:
        NaiveDatetimeError: ``moment`` has no UTC offset.
        ValidationError: ``nth`` is below 1, or a slot id repeats.
    """
    at = ensure_aware(moment, "third_next_available(moment)")
    if nth < 1:
        raise ValidationError.at("third_next_available(nth)", "expected 1 or more")
    index = _index(slots)
    counts = _bookings(appointments, index)
    at_us = epoch_us(at)
    by_resource: dict[str, list[Slot]] = defaultdict(list)
    for slot in index.values():
        by_resource[slot.schedule].append(slot)
    results = []
    for resource in sorted(by_resource):
        found: Slot | None = None
        seen = 0
        upcoming = (s for s in by_resource[resource] if epoch_us(s.interval.start) >= at_us)
        for slot in sorted(upcoming, key=lambda s: (epoch_us(s.interval.start), s.id)):
            if slot.status is SlotStatus.FREE:
                seen += max(slot.capacity - _occupied(slot, counts), 0)
            if seen >= nth:
                found = slot
                break
        if found is None:
            results.append(ThirdNextAvailable(resource, at, nth))
            continue
        start = found.interval.start
        days = _days_between(at, start, calendar)
        results.append(ThirdNextAvailable(resource, at, nth, found.id, start, days))
    return tuple(results)


def _days_between(at: DateTime, then: DateTime, calendar: BusinessCalendar | None) -> int:
    first = _dt.date(at.year, at.month, at.day)
    local = then.in_tz(at.tz) if at.tz is not None else then  # at is aware: tz is set
    last = _dt.date(local.year, local.month, local.day)
    if calendar is None:
        return (last - first).days
    return calendar.business_days_between(first, last)


def access_times(
    requests: Iterable[AppointmentRequest],
    booked: Mapping[str, Appointment],
    *,
    policy: UrgencyPolicy | None = None,
) -> tuple[AccessTimeSummary, ...]:
    """Access time by urgency class: elapsed days from request release to booked start.

    For each request whose id maps to an appointment in ``booked`` that is booked (or
    later: arrived, checked in, fulfilled, no-show) and has a time, the wait is
    ``(start - release)`` in elapsed days of 24 hours. Per class: the median and the 90th
    percentile, by linear interpolation between closest ranks (as ``numpy.percentile``'s
    default and Excel's ``PERCENTILE.INC``: for sorted waits ``x`` of length ``n``,
    ``h = (n - 1) * q`` and the value is ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1]
    - x[floor(h)])``). With a ``policy``, ``within_target`` counts waits no longer than
    the class's access target, and every class of the policy appears, in policy order;
    otherwise classes appear sorted by name.

    Args:
        requests: The requests measured.
        booked: Request id -> its appointment.
        policy: The urgency policy, for targets and class order.
    """
    waits: dict[str, list[float]] = defaultdict(list)
    totals: Counter[str] = Counter()
    for request in requests:
        totals[request.urgency] += 1
        appointment = booked.get(request.id)
        if (
            appointment is None
            or appointment.state not in _OCCUPYING
            or appointment.interval is None
        ):
            continue
        wait_us = epoch_us(appointment.interval.start) - epoch_us(request.release)
        waits[request.urgency].append(wait_us / _DAY_US)
    names = [c.name for c in policy.classes] if policy is not None else sorted(totals)
    if policy is not None:
        names += sorted(set(totals) - set(names))
    results = []
    for name in names:
        sample = sorted(waits[name])
        within = None
        if policy is not None and name in policy:
            target = policy[name].target.total_seconds() / 86_400
            within = sum(1 for days in sample if days <= target)
        results.append(
            AccessTimeSummary(
                name,
                totals[name],
                len(sample),
                _percentile(sample, 0.5),
                _percentile(sample, 0.9),
                within,
            )
        )
    return tuple(results)


def _percentile(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    h = (len(ordered) - 1) * q
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


# --- no-shows and overbooking --------------------------------------------------------------


def _check_rate(value: float, location: str) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise ValidationError.at(location, "expected a probability between 0 and 1")
    if not 0 <= value <= 1:
        raise ValidationError.at(location, "expected a probability between 0 and 1")
    return Fraction(value)


def expected_no_shows(
    appointments: Iterable[Appointment],
    *,
    service_rates: Mapping[Coding | str, float] | None = None,
    patient_rates: Mapping[str, float] | None = None,
    default_rate: float = DEFAULT_NO_SHOW_RATE,
) -> NoShowForecast:
    """Expected no-shows among ``booked`` appointments: the sum of their probabilities.

    Each appointment's probability is, in order of precedence: the patient's own rate
    (``patient_rates`` by patient id, e.g. from their history), the service's rate
    (``service_rates`` keyed by a `Coding` of the appointment's service type, or by a bare
    code matching any coding's code), else ``default_rate`` (23%, the Dantas et al. 2018
    average; outpatient rates commonly range 5-30%). Appointments in other states are not
    counted: they have happened, or will not.

    Raises:
        ValidationError: A rate is not a probability between 0 and 1.
    """
    default = float(_check_rate(default_rate, "expected_no_shows(default_rate)"))
    services = dict(service_rates or {})
    patients = dict(patient_rates or {})
    for value in services.values():
        _check_rate(value, "expected_no_shows(service_rates)")
    for value in patients.values():
        _check_rate(value, "expected_no_shows(patient_rates)")
    count, expected, variance = 0, 0.0, 0.0
    for appointment in appointments:
        if appointment.state is not AppointmentStatus.BOOKED:
            continue
        p = _rate_of(appointment, services, patients, default)
        count += 1
        expected += p
        variance += p * (1 - p)
    return NoShowForecast(count, expected, variance)


def _rate_of(
    appointment: Appointment,
    services: Mapping[Coding | str, float],
    patients: Mapping[str, float],
    default: float,
) -> float:
    patient = appointment.patient
    if patient is not None and patient.id is not None and patient.id in patients:
        return float(patients[patient.id])
    if appointment.service_type is not None:
        for coding in appointment.service_type.codings:
            if coding in services:
                return float(services[coding])
        for coding in appointment.service_type.codings:
            if coding.code in services:
                return float(services[coding.code])
    return default


def _check_counts(capacity: int, location: str) -> None:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValidationError.at(location, "expected a whole capacity of at least 1")


def overflow_risk(capacity: int, bookings: int, no_show_rate: float) -> float:
    """The probability that more than ``capacity`` of ``bookings`` patients show up.

    Each booked patient shows independently with probability ``1 - no_show_rate``, so the
    number who show is binomial: ``P(X > c) = sum over k = c+1..n of C(n, k) p^k
    (1 - p)^(n - k)`` with ``n = bookings`` and ``p = 1 - no_show_rate``. Computed exactly
    in rational arithmetic and rounded once at the end.

    Raises:
        ValidationError: ``capacity`` is below 1, ``bookings`` is negative, or the rate is
            not between 0 and 1.
    """
    _check_counts(capacity, "overflow_risk(capacity)")
    if isinstance(bookings, bool) or not isinstance(bookings, int) or bookings < 0:
        raise ValidationError.at("overflow_risk(bookings)", "expected a whole count, 0 or more")
    miss = _check_rate(no_show_rate, "overflow_risk(no_show_rate)")
    show = 1 - miss
    tail = sum(
        (
            math.comb(bookings, k) * show**k * miss ** (bookings - k)
            for k in range(capacity + 1, bookings + 1)
        ),
        Fraction(0),
    )
    return float(tail)


def overbook_allowance(
    capacity: int, no_show_rate: float, max_risk: float, *, limit: int = 100
) -> int:
    """How many bookings beyond ``capacity`` a slot may take at a given no-show rate.

    The answer is the largest ``k`` (0 to ``limit``) such that, with ``capacity + k``
    patients booked, each showing independently with probability ``1 - no_show_rate``, the
    probability that more than ``capacity`` show up is at most ``max_risk`` (see
    `overflow_risk` for the binomial tail). That probability grows with ``k``, so the
    search stops at the first ``k`` that breaks the bound. It is computed exactly, in
    integers: with the rate as a fraction ``a / d``, ``d^n P(X_n = j)`` is an integer for
    every ``j``, updated one booking at a time (``P(X_(n+1) = j) = P(X_n = j) q +
    P(X_n = j - 1) p``), so no rounding can break the answer's monotonicity: a higher
    no-show rate or a higher ``max_risk`` never allows fewer extra bookings.

    Example: one-patient slots with a 23% no-show rate and at most a 5% risk of two
    patients showing for one slot allow no extra booking (``overbook_allowance(1, 0.23,
    0.05) == 0``: two bookings overflow with probability 0.77^2, about 59%), while a
    20-place group session allows two (``overbook_allowance(20, 0.23, 0.05) == 2``).

    Args:
        capacity: Patients the slot holds normally (1 or more).
        no_show_rate: Each patient's no-show probability (0 to 1).
        max_risk: Acceptable probability of more than ``capacity`` patients showing (0 to 1).
        limit: The most extra bookings ever allowed (the answer when the bound is never
            broken, e.g. at a 100% no-show rate).

    Raises:
        ValidationError: ``capacity`` is below 1, ``limit`` is negative, or a probability
            is not between 0 and 1.
    """
    _check_counts(capacity, "overbook_allowance(capacity)")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValidationError.at("overbook_allowance(limit)", "expected a whole count, 0 or more")
    miss = _check_rate(no_show_rate, "overbook_allowance(no_show_rate)")
    risk = _check_rate(max_risk, "overbook_allowance(max_risk)")
    # miss = a / d and show = b / d; scaled[j] = d^n P(X_n = j) for j = 0..capacity,
    # tail = d^n P(X_n > capacity); start at n = capacity, where the tail is empty.
    a, d = miss.numerator, miss.denominator
    b = d - a
    n = capacity
    scaled = [math.comb(n, j) * b**j * a ** (n - j) for j in range(capacity + 1)]
    tail = 0
    scale = d**n
    for extra in range(1, limit + 1):
        tail = tail * d + scaled[capacity] * b
        scaled = [scaled[0] * a] + [
            scaled[j] * a + scaled[j - 1] * b for j in range(1, capacity + 1)
        ]
        scale *= d
        # tail / scale > risk.numerator / risk.denominator, in integers
        if tail * risk.denominator > risk.numerator * scale:
            return extra - 1
    return limit


def with_overbooking(
    slots: Iterable[Slot],
    *,
    max_risk: float,
    default_rate: float = DEFAULT_NO_SHOW_RATE,
    service_rates: Mapping[str, float] | None = None,
) -> tuple[Slot, ...]:
    """The slots with their overbook allowance set from expected no-show rates.

    Each slot's rate is the rate of the first of its service-type codes found in
    ``service_rates`` (e.g. ``{"394579002": 0.12}`` for a cardiology clinic that sees 12%
    no-shows), else ``default_rate``; its allowance is `overbook_allowance` of its capacity
    at that rate and ``max_risk``. Slots are returned in the given order; only ``overbook``
    changes. A booking then uses the allowance with ``Calendar.book(allow_overbook=True)``.

    Raises:
        ValidationError: A rate or ``max_risk`` is not between 0 and 1.
    """
    rates = service_rates or {}
    result = []
    for slot in slots:
        rate = next(
            (
                rates[coding.code]
                for concept in slot.service_types
                for coding in concept.codings
                if coding.code in rates
            ),
            default_rate,
        )
        allowance = overbook_allowance(slot.capacity, rate, max_risk)
        result.append(attrs.evolve(slot, overbook=allowance))
    return tuple(result)
