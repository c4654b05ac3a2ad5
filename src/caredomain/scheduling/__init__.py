"""Scheduling: schedules and slots, availability templates, and the appointment lifecycle.

Built so far: the FHIR-shaped models (`caredomain.scheduling.slots`), weekly
availability expanded into slots in local time across DST
(`caredomain.scheduling.availability`), and the appointment state machine
(`caredomain.scheduling.appointments`). Slot search, booking with holds,
the optimizer and reminders follow.

This area imports only `caredomain.core`, never another area or an adapter.
"""

from caredomain.scheduling.appointments import (
    APPOINTMENT_MACHINE,
    Appointment,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentEnteredInError,
    AppointmentFulfilled,
    AppointmentPended,
    AppointmentRescheduled,
    AppointmentStatus,
    AppointmentWaitlisted,
    Participant,
    ParticipationStatus,
    PatientArrived,
    PatientCheckedIn,
    PatientNoShow,
)
from caredomain.scheduling.availability import AvailabilityTemplate, Session, generate_slots
from caredomain.scheduling.booking import (
    Calendar,
    Hold,
    HoldExpired,
    HoldPlaced,
    HoldReleased,
    Outcome,
)
from caredomain.scheduling.requests import (
    DEFAULT_POLICY,
    AppointmentRequest,
    Predecessor,
    Preferences,
    UrgencyClass,
    UrgencyPolicy,
)
from caredomain.scheduling.search import (
    Candidate,
    SlotIndex,
    find_sequence,
    find_series,
    find_slots,
)
from caredomain.scheduling.slots import SCHEDULE_ACTORS, Schedule, Slot, SlotStatus

__all__ = [
    "APPOINTMENT_MACHINE",
    "DEFAULT_POLICY",
    "SCHEDULE_ACTORS",
    "Appointment",
    "AppointmentBooked",
    "AppointmentCancelled",
    "AppointmentEnteredInError",
    "AppointmentFulfilled",
    "AppointmentPended",
    "AppointmentRequest",
    "AppointmentRescheduled",
    "AppointmentStatus",
    "AppointmentWaitlisted",
    "AvailabilityTemplate",
    "Calendar",
    "Candidate",
    "Hold",
    "HoldExpired",
    "HoldPlaced",
    "HoldReleased",
    "Outcome",
    "Participant",
    "ParticipationStatus",
    "PatientArrived",
    "PatientCheckedIn",
    "PatientNoShow",
    "Predecessor",
    "Preferences",
    "Schedule",
    "Session",
    "Slot",
    "SlotIndex",
    "SlotStatus",
    "UrgencyClass",
    "UrgencyPolicy",
    "find_sequence",
    "find_series",
    "find_slots",
    "generate_slots",
]
