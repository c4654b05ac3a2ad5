"""Appointments and their lifecycle, declared as a table on the core kernel.

Rules of this module: everything that affects the appointment state machine lives here,
in :data:`APPOINTMENT_MACHINE`'s table and the few guards and effects beside it.

States are FHIR R4 ``appointmentstatus``. FHIR does not make the transitions normative; this
table follows the state descriptions of the R4 Appointment resource ("proposed: none of the
participant(s) have finalized their acceptance", "pending: some or all participants have
not finalized", "booked: all participants have confirmed", "arrived: the patient has
arrived and is waiting to be seen", "checked-in: pre-encounter administrative work is
complete", "waitlist: the appointment has been placed on a waitlist to be scheduled/booked
when a slot becomes available"), and invariant app-3: only proposed or cancelled
appointments may lack a start and end. A no-show never carries a cancellation reason (a
strict validator's reading of invariant app-4; see ``../shared/DOMAIN.md``).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

import attrs

from caredomain.core.codes import CodeableConcept
from caredomain.core.events import AuditTrail, DomainEvent
from caredomain.core.identity import Reference
from caredomain.core.statemachine import Guard, Machine, Transition
from caredomain.core.time import Interval, epoch_us

__all__ = [
    "APPOINTMENT_MACHINE",
    "Appointment",
    "AppointmentBooked",
    "AppointmentCancelled",
    "AppointmentEnteredInError",
    "AppointmentFulfilled",
    "AppointmentPended",
    "AppointmentRescheduled",
    "AppointmentStatus",
    "AppointmentWaitlisted",
    "Participant",
    "ParticipationStatus",
    "PatientArrived",
    "PatientCheckedIn",
    "PatientNoShow",
]


class AppointmentStatus(StrEnum):
    """FHIR R4 ``appointmentstatus`` (required binding on ``Appointment.status``)."""

    PROPOSED = "proposed"
    PENDING = "pending"
    BOOKED = "booked"
    ARRIVED = "arrived"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"
    NOSHOW = "noshow"
    ENTERED_IN_ERROR = "entered-in-error"
    CHECKED_IN = "checked-in"
    WAITLIST = "waitlist"


class ParticipationStatus(StrEnum):
    """FHIR R4 ``participationstatus`` (``Appointment.participant.status``)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    TENTATIVE = "tentative"
    NEEDS_ACTION = "needs-action"


@attrs.frozen
class Participant:
    """Someone or something taking part: the patient, clinicians, a room, equipment.

    Attributes:
        actor: The participant.
        required: Whether the appointment cannot happen without it.
        status: Its answer to the invitation.
        role: Its role (FHIR ``participant.type``, e.g. v3 ParticipationType ``ATND``).
    """

    actor: Reference
    required: bool = True
    status: ParticipationStatus = ParticipationStatus.ACCEPTED
    role: CodeableConcept | None = None


def _participants(value: Iterable[Participant]) -> tuple[Participant, ...]:
    return tuple(value)


def _concepts(value: Iterable[CodeableConcept]) -> tuple[CodeableConcept, ...]:
    return tuple(value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Appointment:
    """A booking of a patient with resources for a service (FHIR ``Appointment``).

    Change it only through :data:`APPOINTMENT_MACHINE` (``apply`` an event), so every change
    is checked against the table and recorded in ``trail``.

    Attributes:
        id: caredomain's id.
        participants: Patient, practitioners, location, equipment.
        state: The FHIR status.
        trail: Every event applied, in order.
        service_type: The service booked.
        reasons: Why (coded).
        interval: When; required once booked (FHIR invariant app-3).
        slots: Ids of the slots it occupies.
        cancellation_reason: Set by a cancellation only, never by a no-show.
    """

    id: str
    participants: tuple[Participant, ...] = attrs.field(converter=_participants)
    state: AppointmentStatus = AppointmentStatus.PROPOSED
    trail: AuditTrail = attrs.field(factory=AuditTrail)
    service_type: CodeableConcept | None = None
    reasons: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    interval: Interval | None = None
    slots: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    cancellation_reason: CodeableConcept | None = None

    @property
    def patient(self) -> Reference | None:
        """The first participant that is a Patient, if any."""
        return next((p.actor for p in self.participants if p.actor.target == "Patient"), None)


# --- events --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AppointmentPended(DomainEvent):
    """Some participants have not yet confirmed (proposed -> pending)."""


@attrs.frozen(kw_only=True)
class AppointmentWaitlisted(DomainEvent):
    """No suitable slot yet: placed on the waitlist."""


@attrs.frozen(kw_only=True)
class AppointmentBooked(DomainEvent):
    """All participants confirmed a time.

    Attributes:
        interval: The booked time; may be omitted if the appointment already has one.
        slots: The slots it occupies.
    """

    interval: Interval | None = None
    slots: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class AppointmentRescheduled(DomainEvent):
    """A booked appointment moves to another time (and slots); it stays booked."""

    interval: Interval
    slots: tuple[str, ...] = attrs.field(default=(), converter=_strings)


@attrs.frozen(kw_only=True)
class PatientArrived(DomainEvent):
    """The patient is here and waiting to be seen."""


@attrs.frozen(kw_only=True)
class PatientCheckedIn(DomainEvent):
    """Pre-encounter administrative work is complete; the encounter may begin."""


@attrs.frozen(kw_only=True)
class AppointmentFulfilled(DomainEvent):
    """The visit took place."""


@attrs.frozen(kw_only=True)
class AppointmentCancelled(DomainEvent):
    """The appointment will not take place.

    Attributes:
        reason: Why (e.g. FHIR ``appointment-cancellation-reason`` codes ``pat``, ``prov``).
    """

    reason: CodeableConcept | None = None

    def audit_reason(self) -> str | None:
        """The first code of the cancellation reason, for the audit trail."""
        if self.reason is None or not self.reason.codings:
            return None
        return self.reason.codings[0].code


@attrs.frozen(kw_only=True)
class PatientNoShow(DomainEvent):
    """The patient did not come (recorded at or after the start time)."""


@attrs.frozen(kw_only=True)
class AppointmentEnteredInError(DomainEvent):
    """The appointment should never have existed (a correction, allowed from any state)."""


# --- guards and effects --------------------------------------------------------------------


def _has_time(appointment: Appointment, event: AppointmentBooked) -> str | None:
    if event.interval is None and appointment.interval is None:
        return "a booked appointment needs a start and end (FHIR invariant app-3)"
    return None


def _after_start(appointment: Appointment, event: PatientNoShow) -> str | None:
    if appointment.interval is None:
        return "the appointment has no start time"
    if epoch_us(event.occurred_at) < epoch_us(appointment.interval.start):
        return "a no-show can only be recorded at or after the appointment's start"
    return None


def _book(appointment: Appointment, event: AppointmentBooked) -> Appointment:
    return attrs.evolve(
        appointment,
        interval=event.interval or appointment.interval,
        slots=event.slots or appointment.slots,
    )


def _reschedule(appointment: Appointment, event: AppointmentRescheduled) -> Appointment:
    return attrs.evolve(appointment, interval=event.interval, slots=event.slots)


def _cancel(appointment: Appointment, event: AppointmentCancelled) -> Appointment:
    return attrs.evolve(appointment, cancellation_reason=event.reason)


A = AppointmentStatus
_OPEN: Final = {A.PROPOSED, A.PENDING, A.BOOKED, A.WAITLIST}

APPOINTMENT_MACHINE: Final[Machine[AppointmentStatus, Appointment]] = Machine(
    "appointment",
    AppointmentStatus,
    initial=A.PROPOSED,
    terminal={A.FULFILLED, A.CANCELLED, A.NOSHOW, A.ENTERED_IN_ERROR},
    transitions=[
        Transition(AppointmentPended, A.PROPOSED, A.PENDING),
        Transition(AppointmentWaitlisted, {A.PROPOSED, A.PENDING}, A.WAITLIST),
        Transition(
            AppointmentBooked,
            {A.PROPOSED, A.PENDING, A.WAITLIST},
            A.BOOKED,
            guards=[Guard("has-start-and-end", _has_time)],
            effect=_book,
        ),
        Transition(AppointmentRescheduled, A.BOOKED, None, effect=_reschedule),
        Transition(PatientArrived, A.BOOKED, A.ARRIVED),
        Transition(PatientCheckedIn, {A.BOOKED, A.ARRIVED}, A.CHECKED_IN),
        Transition(AppointmentFulfilled, {A.ARRIVED, A.CHECKED_IN}, A.FULFILLED),
        Transition(AppointmentCancelled, _OPEN, A.CANCELLED, effect=_cancel),
        Transition(PatientNoShow, A.BOOKED, A.NOSHOW, guards=[Guard("after-start", _after_start)]),
        Transition(
            AppointmentEnteredInError,
            set(AppointmentStatus) - {A.ENTERED_IN_ERROR},
            A.ENTERED_IN_ERROR,
            correction=True,
        ),
    ],
)
"""The appointment lifecycle: FHIR R4 statuses, caredomain's transitions (see module doc)."""
