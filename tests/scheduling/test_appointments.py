import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    CodeableConcept,
    FixedClock,
    GuardRejected,
    Interval,
    InvalidTransition,
    Reference,
    from_json,
    to_json,
)
from caredomain.scheduling import (
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
    PatientArrived,
    PatientCheckedIn,
    PatientNoShow,
)

CHI = "America/Chicago"
T0 = pendulum.datetime(2026, 12, 1, 8, tz=CHI)
VISIT = Interval(
    pendulum.datetime(2026, 12, 3, 9, tz=CHI), pendulum.datetime(2026, 12, 3, 9, 30, tz=CHI)
)
CLOCK = FixedClock(T0)
S = AppointmentStatus


def new():
    return Appointment(
        "appt-1",
        [
            Participant(Reference.to("Patient", "p1")),
            Participant(Reference.to("Practitioner", "dr-ortiz")),
        ],
        service_type=CodeableConcept.of("SNOMED", "394579002", "Cardiology"),
    )


def ev(cls, at, n, **kw):
    return cls(event_id=f"e{n}", occurred_at=at, **kw)


def test_booking_to_fulfilment():
    appt = APPOINTMENT_MACHINE.replay(
        new(),
        [
            ev(AppointmentBooked, T0, 1, interval=VISIT, slots=["s1"]),
            ev(PatientArrived, VISIT.start.subtract(minutes=5), 2),
            ev(PatientCheckedIn, VISIT.start, 3),
            ev(AppointmentFulfilled, VISIT.end, 4),
        ],
        CLOCK,
    )
    assert appt.state is S.FULFILLED
    assert appt.interval == VISIT
    assert appt.slots == ("s1",)
    assert appt.patient == Reference.to("Patient", "p1")


def test_booking_needs_a_time():
    with pytest.raises(GuardRejected) as info:
        APPOINTMENT_MACHINE.apply(new(), ev(AppointmentBooked, T0, 1), CLOCK)
    assert "app-3" in str(info.value)


def test_waitlist_then_book():
    appt = APPOINTMENT_MACHINE.replay(
        new(),
        [
            ev(AppointmentPended, T0, 1),
            ev(AppointmentWaitlisted, T0.add(hours=1), 2),
            ev(AppointmentBooked, T0.add(hours=2), 3, interval=VISIT),
        ],
        CLOCK,
    )
    assert appt.state is S.BOOKED


def test_reschedule_keeps_booked_and_moves_time():
    later = VISIT.shift(pendulum.duration(days=1))
    appt = APPOINTMENT_MACHINE.replay(
        new(),
        [
            ev(AppointmentBooked, T0, 1, interval=VISIT, slots=["s1"]),
            ev(AppointmentRescheduled, T0.add(hours=1), 2, interval=later, slots=["s9"]),
        ],
        CLOCK,
    )
    assert appt.state is S.BOOKED
    assert (appt.interval, appt.slots) == (later, ("s9",))


def test_no_show_only_after_start_and_without_cancellation_reason():
    booked = APPOINTMENT_MACHINE.apply(
        new(), ev(AppointmentBooked, T0, 1, interval=VISIT), CLOCK
    ).value
    with pytest.raises(GuardRejected, match="at or after"):
        APPOINTMENT_MACHINE.apply(
            booked, ev(PatientNoShow, VISIT.start.subtract(minutes=1), 2), CLOCK
        )
    noshow = APPOINTMENT_MACHINE.apply(
        booked, ev(PatientNoShow, VISIT.start.add(minutes=15), 2), CLOCK
    ).value
    assert noshow.state is S.NOSHOW
    assert noshow.cancellation_reason is None


def test_cancellation_records_its_reason():
    reason = CodeableConcept.of(
        "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason", "pat"
    )
    appt = APPOINTMENT_MACHINE.replay(
        new(),
        [
            ev(AppointmentBooked, T0, 1, interval=VISIT),
            ev(AppointmentCancelled, T0.add(hours=1), 2, reason=reason),
        ],
        CLOCK,
    )
    assert appt.state is S.CANCELLED
    assert appt.cancellation_reason == reason
    assert appt.trail.last.reason == "pat"
    with pytest.raises(InvalidTransition, match="terminal"):
        APPOINTMENT_MACHINE.apply(appt, ev(PatientArrived, T0.add(hours=2), 3), CLOCK)
    fixed = APPOINTMENT_MACHINE.apply(
        appt, ev(AppointmentEnteredInError, T0.add(hours=3), 4), CLOCK
    )
    assert fixed.value.state is S.ENTERED_IN_ERROR


def test_cannot_arrive_before_booking():
    with pytest.raises(InvalidTransition) as info:
        APPOINTMENT_MACHINE.apply(new(), ev(PatientArrived, T0, 1), CLOCK)
    assert info.value.state == "proposed"


def test_every_fhir_status_is_reachable_from_proposed():
    reached = {APPOINTMENT_MACHINE.initial}
    frontier = [APPOINTMENT_MACHINE.initial]
    while frontier:
        state = frontier.pop()
        for row in APPOINTMENT_MACHINE.transitions:
            if state in row.sources:
                target = row.target or state
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
    assert reached == set(AppointmentStatus)
    assert {s.value for s in AppointmentStatus} == {
        "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled",
        "noshow", "entered-in-error", "checked-in", "waitlist",
    }  # fmt: skip


EVENTS = [
    AppointmentPended, AppointmentWaitlisted, AppointmentBooked, AppointmentRescheduled,
    PatientArrived, PatientCheckedIn, AppointmentFulfilled, AppointmentCancelled,
    PatientNoShow, AppointmentEnteredInError,
]  # fmt: skip


@given(st.lists(st.sampled_from(EVENTS), max_size=20))
def test_random_lifecycles_respect_the_table_and_replay(kinds):
    appt, recorded = new(), []
    for n, kind in enumerate(kinds):
        extra = {"interval": VISIT} if kind in (AppointmentBooked, AppointmentRescheduled) else {}
        event = kind(event_id=f"e{n}", occurred_at=T0.add(days=n), **extra)
        try:
            result = APPOINTMENT_MACHINE.apply(appt, event, CLOCK)
        except InvalidTransition:
            continue
        appt = result.value
        recorded.append(result.event)
    assert appt.state in set(AppointmentStatus)
    if appt.state in {S.BOOKED, S.ARRIVED, S.CHECKED_IN, S.FULFILLED, S.NOSHOW}:
        assert appt.interval is not None  # FHIR app-3
    if appt.state is S.NOSHOW:
        assert appt.cancellation_reason is None
    assert APPOINTMENT_MACHINE.replay(new(), recorded) == appt
    assert from_json(to_json(appt), Appointment) == appt
