"""Booking: an immutable ledger of holds and appointments over indexed slots.

Rules of this module:

1. Invariants, checked on every operation: no slot ever holds more than its capacity plus
   (when the booking asks for it) its overbook allowance, counting live holds; no patient
   has two overlapping live appointments or holds; a hold stops counting once the clock
   passes its expiry.
2. Every operation takes the version the caller read and a clock, and returns a new
   :class:`Calendar` (version + 1) and the events it recorded. A stale version raises
   :class:`~caredomain.core.errors.ConflictError`, so an app that keeps the calendar in a
   database can compare-and-set on the version: two concurrent bookings of the last seat
   cannot both succeed.
3. Appointment status changes go through the appointment state machine; this module only
   adds the capacity and overlap rules around them.

Copy-on-write dictionaries keep each operation proportional to the live bookings, not to
the slots (the slots live in a shared, immutable :class:`SlotIndex`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs
from pendulum import DateTime

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ConflictError, ValidationError
from caredomain.core.events import DomainEvent
from caredomain.core.identity import IdSource, RandomIds, Reference
from caredomain.core.time import (
    Clock,
    Interval,
    check_aware,
    ensure_aware,
    epoch_us,
    instant_key,
    to_datetime,
)
from caredomain.scheduling.appointments import (
    APPOINTMENT_MACHINE,
    Appointment,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentFulfilled,
    AppointmentRescheduled,
    AppointmentStatus,
    PatientCheckedIn,
    PatientNoShow,
)
from caredomain.scheduling.search import SlotIndex
from caredomain.scheduling.slots import SlotStatus

__all__ = ["Calendar", "Hold", "HoldExpired", "HoldPlaced", "HoldReleased", "Outcome"]

_LIVE: Final = frozenset(
    {AppointmentStatus.BOOKED, AppointmentStatus.ARRIVED, AppointmentStatus.CHECKED_IN}
)
"""Statuses whose appointment occupies its slots and its patient's time."""


@attrs.frozen
class Hold:
    """A short reservation of slots while a patient confirms (Argonaut ``$hold``).

    Attributes:
        id: The hold's id.
        patient: The patient's id.
        slots: The slot ids held.
        interval: The visit time held.
        expires_at: When it stops counting.
    """

    id: str
    patient: str
    slots: tuple[str, ...]
    interval: Interval
    expires_at: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)


@attrs.frozen(kw_only=True)
class HoldPlaced(DomainEvent):
    """Slots were held for a patient."""

    hold: str
    slots: tuple[str, ...]


@attrs.frozen(kw_only=True)
class HoldReleased(DomainEvent):
    """A hold was released: turned into a booking or given up."""

    hold: str


@attrs.frozen(kw_only=True)
class HoldExpired(DomainEvent):
    """A hold passed its expiry and its slots are free again."""

    hold: str


@attrs.frozen
class Outcome:
    """What an operation returns: the new calendar and the events it recorded.

    Attributes:
        calendar: The calendar after the operation (version + 1).
        events: Events recorded, oldest first (hold expiries swept by the clock come first).
        appointment: The appointment the operation created or changed, if any.
        hold: The hold it placed, if any.
    """

    calendar: Calendar
    events: tuple[DomainEvent, ...]
    appointment: Appointment | None = None
    hold: Hold | None = None


@attrs.frozen
class Calendar:
    """The booking ledger: slots, live holds, appointments, and a version.

    Build with :meth:`of`; change only through its operations.

    Attributes:
        index: The slots, indexed.
        version: Incremented by every operation.
        appointments: Every appointment by id, including finished ones.
        holds: Live and not yet swept holds by id.
    """

    index: SlotIndex
    version: int = 0
    appointments: Mapping[str, Appointment] = attrs.field(factory=dict)
    holds: Mapping[str, Hold] = attrs.field(factory=dict)

    @classmethod
    def of(cls, index: SlotIndex) -> Calendar:
        """An empty calendar over ``index`` at version 0."""
        return cls(index)

    # --- reading ---------------------------------------------------------------------

    def occupancy(self, now: _dt.datetime | None = None) -> dict[str, int]:
        """Bookings plus live holds per slot id (holds expired at ``now`` do not count)."""
        counts: dict[str, int] = {}
        for appointment in self.appointments.values():
            if appointment.state in _LIVE:
                for slot_id in appointment.slots:
                    counts[slot_id] = counts.get(slot_id, 0) + 1
        now_us = None if now is None else epoch_us(ensure_aware(now, "Calendar.occupancy(now)"))
        for hold in self.holds.values():
            if now_us is None or epoch_us(hold.expires_at) > now_us:
                for slot_id in hold.slots:
                    counts[slot_id] = counts.get(slot_id, 0) + 1
        return counts

    def patient_busy(self, patient: str, now: _dt.datetime | None = None) -> list[Interval]:
        """The patient's live appointments and holds, as intervals."""
        busy = [
            a.interval
            for a in self.appointments.values()
            if a.state in _LIVE and a.interval is not None and _patient_id(a) == patient
        ]
        now_us = None if now is None else epoch_us(ensure_aware(now, "Calendar.patient_busy(now)"))
        busy.extend(
            h.interval
            for h in self.holds.values()
            if h.patient == patient and (now_us is None or epoch_us(h.expires_at) > now_us)
        )
        return busy

    # --- writing ---------------------------------------------------------------------

    def hold(
        self,
        *,
        version: int,
        patient: str,
        slots: Sequence[str],
        interval: Interval,
        ttl: _dt.timedelta,
        clock: Clock,
        ids: IdSource | None = None,
    ) -> Outcome:
        """Hold ``slots`` for ``patient`` for ``ttl``.

        Raises:
            ConflictError: Stale version, a slot full, or the patient busy then.
            ValidationError: Unknown or unusable slots, or a non-positive ``ttl``.
        """
        base, events = self._begin(version, clock, ids)
        ids = ids or RandomIds()
        if ttl <= _dt.timedelta(0):
            raise ValidationError.at("Calendar.hold(ttl)", "expected a positive time to live")
        now = clock.now()
        base._check_room(slots, interval, patient, now, allow_overbook=False, ignore=None)
        hold = Hold(ids.new_id(), patient, tuple(slots), interval, now + ttl)
        placed = HoldPlaced(
            event_id=ids.new_id(), occurred_at=now, recorded_at=now, hold=hold.id, slots=hold.slots
        )
        holds = {**base.holds, hold.id: hold}
        return Outcome(attrs.evolve(base, holds=holds), (*events, placed), hold=hold)

    def release(
        self, *, version: int, hold: str, clock: Clock, ids: IdSource | None = None
    ) -> Outcome:
        """Give up a hold.

        Raises:
            ConflictError: Stale version, or no live hold with that id.
        """
        base, events = self._begin(version, clock, ids)
        ids = ids or RandomIds()
        if hold not in base.holds:
            raise ConflictError("Hold", hold, "no live hold with this id (expired or released)")
        holds = {k: v for k, v in base.holds.items() if k != hold}
        now = clock.now()
        released = HoldReleased(event_id=ids.new_id(), occurred_at=now, recorded_at=now, hold=hold)
        return Outcome(attrs.evolve(base, holds=holds), (*events, released))

    def book(
        self,
        *,
        version: int,
        appointment: Appointment,
        slots: Sequence[str],
        interval: Interval,
        clock: Clock,
        hold: str | None = None,
        allow_overbook: bool = False,
        ids: IdSource | None = None,
    ) -> Outcome:
        """Book ``appointment`` (new, proposed/pending/waitlisted) into ``slots`` at ``interval``.

        With ``hold``, the hold's seats become the booking's; its slots, patient and time
        must match.

        Raises:
            ConflictError: Stale version, a slot full, the patient busy, an unknown hold, or
                an appointment id already booked.
            InvalidTransition: The appointment's state does not allow booking.
            ValidationError: Unknown slots, or no patient among the participants.
        """
        base, events = self._begin(version, clock, ids)
        ids = ids or RandomIds()
        patient = _patient_id(appointment)
        if patient is None:
            raise ValidationError.at("Appointment.participants", "expected a Patient participant")
        existing = base.appointments.get(appointment.id)
        if existing is not None and existing is not appointment:
            raise ConflictError("Appointment", appointment.id, "an appointment with this id exists")
        holds = dict(base.holds)
        if hold is not None:
            placed = holds.pop(hold, None)
            if placed is None:
                raise ConflictError("Hold", hold, "no live hold with this id (expired or released)")
            if (
                placed.patient != patient
                or set(placed.slots) != set(slots)
                or placed.interval != interval
            ):
                raise ConflictError("Hold", hold, "the hold is for other slots, time or patient")
        now = clock.now()
        freed = attrs.evolve(base, holds=holds)
        freed._check_room(slots, interval, patient, now, allow_overbook, ignore=None)
        booked = APPOINTMENT_MACHINE.apply(
            appointment,
            AppointmentBooked(
                event_id=ids.new_id(), occurred_at=now, interval=interval, slots=tuple(slots)
            ),
            clock,
        )
        released = (
            (HoldReleased(event_id=ids.new_id(), occurred_at=now, recorded_at=now, hold=hold),)
            if hold is not None
            else ()
        )
        appointments = {**base.appointments, appointment.id: booked.value}
        new = attrs.evolve(freed, appointments=appointments)
        return Outcome(new, (*events, *released, booked.event), appointment=booked.value)

    def book_series(
        self,
        *,
        version: int,
        bookings: Sequence[tuple[Appointment, Sequence[str], Interval]],
        clock: Clock,
        allow_overbook: bool = False,
        ids: IdSource | None = None,
    ) -> Outcome:
        """Book a whole series, or nothing: each ``(appointment, slots, interval)`` in order.

        Raises:
            ConflictError: Stale version, or any booking of the series does not fit; the
                calendar is then unchanged (values are immutable, so there is nothing to undo).
        """
        if not bookings:
            raise ValidationError.at(
                "Calendar.book_series(bookings)", "expected at least one booking"
            )
        current: Calendar = self
        events: list[DomainEvent] = []
        booked: list[Appointment] = []
        for step, (appointment, slots, interval) in enumerate(bookings):
            try:
                out = current.book(
                    version=current.version if step else version,
                    appointment=appointment,
                    slots=slots,
                    interval=interval,
                    clock=clock,
                    allow_overbook=allow_overbook,
                    ids=ids,
                )
            except ConflictError as exc:
                raise ConflictError(
                    "Series",
                    appointment.id,
                    f"booking {step + 1} of {len(bookings)} does not fit: {exc.reason}",
                ) from None
            current = out.calendar
            events.extend(out.events)
            assert out.appointment is not None  # book always returns the appointment
            booked.append(out.appointment)
        # One operation for the caller: the version moves by one, not by the series length.
        result = attrs.evolve(current, version=version + 1)
        return Outcome(result, tuple(events), appointment=booked[-1])

    def reschedule(
        self,
        *,
        version: int,
        appointment: str,
        slots: Sequence[str],
        interval: Interval,
        clock: Clock,
        allow_overbook: bool = False,
        ids: IdSource | None = None,
    ) -> Outcome:
        """Move a booked appointment to other slots and time (its own seats do not count)."""
        base, events = self._begin(version, clock, ids)
        ids = ids or RandomIds()
        current = base._appointment(appointment)
        patient = _patient_id(current)
        assert patient is not None  # booked appointments always have one
        now = clock.now()
        base._check_room(slots, interval, patient, now, allow_overbook, ignore=current)
        moved = APPOINTMENT_MACHINE.apply(
            current,
            AppointmentRescheduled(
                event_id=ids.new_id(), occurred_at=now, interval=interval, slots=tuple(slots)
            ),
            clock,
        )
        return base._replace(moved.value, (*events, moved.event))

    def cancel(
        self,
        *,
        version: int,
        appointment: str,
        clock: Clock,
        reason: CodeableConcept | None = None,
        ids: IdSource | None = None,
    ) -> Outcome:
        """Cancel an appointment; its seats are free again."""
        base, events = self._begin(version, clock, ids)
        ids = ids or RandomIds()
        event = AppointmentCancelled(event_id=ids.new_id(), occurred_at=clock.now(), reason=reason)
        return base._transition(appointment, event, clock, events)

    def mark_noshow(
        self, *, version: int, appointment: str, clock: Clock, ids: IdSource | None = None
    ) -> Outcome:
        """Record that the patient did not come (at or after the start)."""
        base, events = self._begin(version, clock, ids)
        ids = ids or RandomIds()
        event = PatientNoShow(event_id=ids.new_id(), occurred_at=clock.now())
        return base._transition(appointment, event, clock, events)

    def check_in(
        self, *, version: int, appointment: str, clock: Clock, ids: IdSource | None = None
    ) -> Outcome:
        """Record the patient's check-in."""
        base, events = self._begin(version, clock, ids)
        ids = ids or RandomIds()
        event = PatientCheckedIn(event_id=ids.new_id(), occurred_at=clock.now())
        return base._transition(appointment, event, clock, events)

    def fulfil(
        self, *, version: int, appointment: str, clock: Clock, ids: IdSource | None = None
    ) -> Outcome:
        """Record that the visit took place."""
        base, events = self._begin(version, clock, ids)
        ids = ids or RandomIds()
        event = AppointmentFulfilled(event_id=ids.new_id(), occurred_at=clock.now())
        return base._transition(appointment, event, clock, events)

    # --- internals -------------------------------------------------------------------

    def _begin(
        self, version: int, clock: Clock, ids: IdSource | None
    ) -> tuple[Calendar, tuple[DomainEvent, ...]]:
        """Check the version, sweep expired holds, and bump the version."""
        if version != self.version:
            raise ConflictError(
                "Calendar", str(self.version), f"stale version {version}; re-read and retry"
            )
        now = ensure_aware(clock.now(), "Clock.now()")
        now_us = epoch_us(now)
        expired = [h for h in self.holds.values() if epoch_us(h.expires_at) <= now_us]
        source = ids or RandomIds()
        events: tuple[DomainEvent, ...] = tuple(
            HoldExpired(
                event_id=source.new_id(), occurred_at=h.expires_at, recorded_at=now, hold=h.id
            )
            for h in sorted(expired, key=lambda h: (epoch_us(h.expires_at), h.id))
        )
        holds = self.holds
        if expired:
            gone = {h.id for h in expired}
            holds = {k: v for k, v in self.holds.items() if k not in gone}
        return attrs.evolve(self, version=self.version + 1, holds=holds), events

    def _appointment(self, appointment_id: str) -> Appointment:
        try:
            return self.appointments[appointment_id]
        except KeyError:
            raise ConflictError("Appointment", appointment_id, "no such appointment") from None

    def _transition(
        self, appointment_id: str, event: DomainEvent, clock: Clock, events: Iterable[DomainEvent]
    ) -> Outcome:
        applied = APPOINTMENT_MACHINE.apply(self._appointment(appointment_id), event, clock)
        return self._replace(applied.value, (*events, applied.event))

    def _replace(self, appointment: Appointment, events: tuple[DomainEvent, ...]) -> Outcome:
        appointments = {**self.appointments, appointment.id: appointment}
        return Outcome(
            attrs.evolve(self, appointments=appointments), events, appointment=appointment
        )

    def _check_room(
        self,
        slots: Sequence[str],
        interval: Interval,
        patient: str,
        now: DateTime,
        allow_overbook: bool,
        ignore: Appointment | None,
    ) -> None:
        if not slots:
            raise ValidationError.at("slots", "expected at least one slot")
        if len(set(slots)) != len(slots):
            raise ValidationError.at("slots", "expected each slot once")
        occupied = self.occupancy(now)
        if ignore is not None and ignore.state in _LIVE:
            for slot_id in ignore.slots:
                occupied[slot_id] -= 1
        for slot_id in slots:
            slot = self.index.get(slot_id)
            if slot.status is not SlotStatus.FREE:
                raise ConflictError("Slot", slot_id, f"slot is {slot.status.value}")
            if not slot.interval.covers(interval):
                raise ValidationError.at("interval", "expected the visit inside each of its slots")
            room = slot.capacity + (slot.overbook if allow_overbook else 0)
            if occupied.get(slot_id, 0) >= room:
                raise ConflictError("Slot", slot_id, "no capacity left")
        for busy in self.patient_busy(patient, now):
            if ignore is not None and ignore.interval is not None and busy == ignore.interval:
                ignore = None  # skip the appointment's own time once
                continue
            if busy.overlaps(interval):
                raise ConflictError(
                    "Patient", "patient", "the patient is booked at an overlapping time"
                )


def _patient_id(appointment: Appointment) -> str | None:
    patient: Reference | None = appointment.patient
    return None if patient is None else patient.id
