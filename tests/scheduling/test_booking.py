import datetime as dt
import itertools

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.core import (
    ConflictError,
    GuardRejected,
    Interval,
    InvalidTransition,
    ManualClock,
    Reference,
    SequentialIds,
    ValidationError,
    epoch_us,
)
from caredomain.scheduling import (
    Appointment,
    AppointmentStatus,
    Calendar,
    HoldExpired,
    HoldPlaced,
    Participant,
    Slot,
    SlotIndex,
)

CHI = "America/Chicago"
DAY = pendulum.datetime(2026, 12, 1, tz=CHI)


def slot(sid, hour, minute=0, resource="dr-chen", **kw):
    start = DAY.add(hours=hour, minutes=minute)
    return Slot(sid, resource, Interval(start, start.add(minutes=30)), **kw)


SLOTS = [
    slot("s9", 9),
    slot("s930", 9, 30),
    slot("s10", 10, capacity=2, overbook=1),
    slot("r9", 9, resource="dr-ortiz"),
]
INDEX = SlotIndex.of(SLOTS)


def appt(aid, patient="p1"):
    return Appointment(aid, [Participant(Reference.to("Patient", patient))])


def visit(sid):
    return INDEX.get(sid).interval


@pytest.fixture
def clock():
    return ManualClock(DAY.add(hours=7))


def test_book_then_full_then_overbook(clock):
    cal = Calendar.of(INDEX)
    out = cal.book(
        version=0, appointment=appt("a1"), slots=["s9"], interval=visit("s9"), clock=clock
    )
    assert out.calendar.version == 1
    assert out.appointment.state is AppointmentStatus.BOOKED
    with pytest.raises(ConflictError, match="no capacity"):
        out.calendar.book(
            version=1, appointment=appt("a2", "p2"), slots=["s9"], interval=visit("s9"), clock=clock
        )
    cal = out.calendar
    for n, patient in enumerate(["p2", "p3"]):
        cal = cal.book(
            version=cal.version,
            appointment=appt(f"b{n}", patient),
            slots=["s10"],
            interval=visit("s10"),
            clock=clock,
        ).calendar
    with pytest.raises(ConflictError):
        cal.book(
            version=cal.version,
            appointment=appt("b3", "p4"),
            slots=["s10"],
            interval=visit("s10"),
            clock=clock,
        )
    cal = cal.book(
        version=cal.version,
        appointment=appt("b3", "p4"),
        slots=["s10"],
        interval=visit("s10"),
        clock=clock,
        allow_overbook=True,
    ).calendar
    assert cal.occupancy()["s10"] == 3


def test_stale_version_is_a_conflict(clock):
    cal = Calendar.of(INDEX)
    first = cal.book(
        version=0, appointment=appt("a1"), slots=["s9"], interval=visit("s9"), clock=clock
    )
    # A second writer that read version 0 loses the compare-and-set.
    with pytest.raises(ConflictError, match="stale version"):
        first.calendar.book(
            version=0,
            appointment=appt("a2", "p2"),
            slots=["s930"],
            interval=visit("s930"),
            clock=clock,
        )


def test_patient_is_never_in_two_places(clock):
    cal = (
        Calendar.of(INDEX)
        .book(version=0, appointment=appt("a1"), slots=["s9"], interval=visit("s9"), clock=clock)
        .calendar
    )
    with pytest.raises(ConflictError, match="overlapping"):
        cal.book(version=1, appointment=appt("a2"), slots=["r9"], interval=visit("r9"), clock=clock)
    cal.book(version=1, appointment=appt("a2"), slots=["s930"], interval=visit("s930"), clock=clock)


def test_holds_count_until_they_expire(clock):
    ids = SequentialIds("t")
    cal = Calendar.of(INDEX)
    held = cal.hold(
        version=0,
        patient="p1",
        slots=["s9"],
        interval=visit("s9"),
        ttl=dt.timedelta(minutes=10),
        clock=clock,
        ids=ids,
    )
    assert isinstance(held.events[-1], HoldPlaced)
    with pytest.raises(ConflictError):
        held.calendar.book(
            version=1, appointment=appt("a2", "p2"), slots=["s9"], interval=visit("s9"), clock=clock
        )
    clock.advance(dt.timedelta(minutes=10))
    out = held.calendar.book(
        version=1,
        appointment=appt("a2", "p2"),
        slots=["s9"],
        interval=visit("s9"),
        clock=clock,
        ids=ids,
    )
    assert isinstance(out.events[0], HoldExpired)
    assert out.calendar.holds == {}


def test_a_hold_becomes_the_booking(clock):
    cal = Calendar.of(INDEX)
    held = cal.hold(
        version=0,
        patient="p1",
        slots=["s9"],
        interval=visit("s9"),
        ttl=dt.timedelta(minutes=10),
        clock=clock,
    )
    booked = held.calendar.book(
        version=1,
        appointment=appt("a1"),
        slots=["s9"],
        interval=visit("s9"),
        clock=clock,
        hold=held.hold.id,
    )
    assert booked.calendar.occupancy()["s9"] == 1
    with pytest.raises(ConflictError):
        held.calendar.book(
            version=1,
            appointment=appt("a1"),
            slots=["s930"],
            interval=visit("s930"),
            clock=clock,
            hold=held.hold.id,
        )
    released = held.calendar.release(version=1, hold=held.hold.id, clock=clock)
    assert released.calendar.occupancy() == {}


def test_cancel_frees_and_reschedule_moves(clock):
    cal = (
        Calendar.of(INDEX)
        .book(version=0, appointment=appt("a1"), slots=["s9"], interval=visit("s9"), clock=clock)
        .calendar
    )
    moved = cal.reschedule(
        version=1, appointment="a1", slots=["s930"], interval=visit("s930"), clock=clock
    )
    assert moved.appointment.slots == ("s930",)
    assert moved.calendar.occupancy() == {"s930": 1}
    cancelled = moved.calendar.cancel(version=2, appointment="a1", clock=clock)
    assert cancelled.appointment.state is AppointmentStatus.CANCELLED
    assert cancelled.calendar.occupancy() == {}


def test_noshow_check_in_and_fulfil_use_the_machine(clock):
    cal = Calendar.of(INDEX)
    cal = cal.book(
        version=0, appointment=appt("a1"), slots=["s9"], interval=visit("s9"), clock=clock
    ).calendar
    cal = cal.book(
        version=1, appointment=appt("a2", "p2"), slots=["s930"], interval=visit("s930"), clock=clock
    ).calendar
    with pytest.raises(GuardRejected):
        cal.mark_noshow(version=2, appointment="a1", clock=clock)
    clock.set(DAY.add(hours=9, minutes=20))
    cal = cal.mark_noshow(version=2, appointment="a1", clock=clock).calendar
    cal = cal.check_in(version=3, appointment="a2", clock=clock).calendar
    cal = cal.fulfil(version=4, appointment="a2", clock=clock).calendar
    assert cal.appointments["a1"].state is AppointmentStatus.NOSHOW
    assert cal.appointments["a2"].state is AppointmentStatus.FULFILLED
    with pytest.raises(ConflictError):
        cal.cancel(version=5, appointment="nope", clock=clock)


def test_bad_requests_are_typed_errors(clock):
    cal = Calendar.of(INDEX)
    with pytest.raises(ValidationError):
        cal.book(version=0, appointment=appt("a1"), slots=["zz"], interval=visit("s9"), clock=clock)
    with pytest.raises(ValidationError):
        cal.book(
            version=0, appointment=appt("a1"), slots=["s9"], interval=visit("s930"), clock=clock
        )
    with pytest.raises(ValidationError):
        cal.book(
            version=0,
            appointment=Appointment("a1", []),
            slots=["s9"],
            interval=visit("s9"),
            clock=clock,
        )
    with pytest.raises(ValidationError):
        cal.hold(
            version=0,
            patient="p1",
            slots=["s9"],
            interval=visit("s9"),
            ttl=dt.timedelta(0),
            clock=clock,
        )


# --- random interleavings keep every invariant -------------------------------------------

MANY = [slot(f"{res}-{h}{m}", h, m, resource=res, capacity=cap, overbook=ob)
        for res, cap, ob in (("dr-chen", 1, 0), ("dr-ortiz", 2, 1))
        for h in (9, 10) for m in (0, 30)]  # fmt: skip
MANY_INDEX = SlotIndex.of(MANY)
PATIENTS = ["p1", "p2", "p3"]

operation = st.one_of(
    st.tuples(
        st.just("book"),
        st.sampled_from(PATIENTS),
        st.sampled_from([s.id for s in MANY]),
        st.booleans(),
    ),
    st.tuples(
        st.just("hold"),
        st.sampled_from(PATIENTS),
        st.sampled_from([s.id for s in MANY]),
        st.integers(1, 60),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("reschedule"), st.integers(0, 30), st.sampled_from([s.id for s in MANY])),
    st.tuples(st.just("wait"), st.integers(1, 45)),
    st.tuples(st.just("stale"), st.sampled_from(PATIENTS), st.sampled_from([s.id for s in MANY])),
)


def check_invariants(cal, now):
    counts = cal.occupancy(now)
    for slot_id, count in counts.items():
        s = MANY_INDEX.get(slot_id)
        assert count <= s.capacity + s.overbook
    for patient in PATIENTS:
        spans = sorted((epoch_us(i.start), epoch_us(i.end)) for i in cal.patient_busy(patient, now))
        for (_, a_end), (b_start, _) in itertools.pairwise(spans):
            assert a_end <= b_start, "a patient is in two places"


@settings(max_examples=60)
@given(st.lists(operation, max_size=30))
def test_random_interleavings_keep_every_invariant(ops):
    clock = ManualClock(DAY.add(hours=7))
    ids = SequentialIds("fuzz")
    cal = Calendar.of(MANY_INDEX)
    booked = []
    for op in ops:
        kind = op[0]
        try:
            if kind == "book":
                _, patient, sid, over = op
                aid = f"a{len(booked)}-{cal.version}"
                out = cal.book(
                    version=cal.version,
                    appointment=appt(aid, patient),
                    slots=[sid],
                    interval=MANY_INDEX.get(sid).interval,
                    clock=clock,
                    allow_overbook=over,
                    ids=ids,
                )
                booked.append(aid)
            elif kind == "hold":
                _, patient, sid, minutes = op
                out = cal.hold(
                    version=cal.version,
                    patient=patient,
                    slots=[sid],
                    interval=MANY_INDEX.get(sid).interval,
                    ttl=dt.timedelta(minutes=minutes),
                    clock=clock,
                    ids=ids,
                )
            elif kind == "cancel" and booked:
                out = cal.cancel(
                    version=cal.version,
                    appointment=booked[op[1] % len(booked)],
                    clock=clock,
                    ids=ids,
                )
            elif kind == "reschedule" and booked:
                sid = op[2]
                out = cal.reschedule(
                    version=cal.version,
                    appointment=booked[op[1] % len(booked)],
                    slots=[sid],
                    interval=MANY_INDEX.get(sid).interval,
                    clock=clock,
                    ids=ids,
                )
            elif kind == "wait":
                clock.advance(dt.timedelta(minutes=op[1]))
                continue
            elif kind == "stale" and cal.version > 0:
                with pytest.raises(ConflictError):
                    cal.book(
                        version=cal.version - 1,
                        appointment=appt("late", op[1]),
                        slots=[op[2]],
                        interval=MANY_INDEX.get(op[2]).interval,
                        clock=clock,
                    )
                continue
            else:
                continue
        except (ConflictError, ValidationError, InvalidTransition):
            continue
        except Exception as exc:  # any other error is a bug
            raise AssertionError(f"unexpected {type(exc).__name__}") from exc
        assert out.calendar.version == cal.version + 1
        cal = out.calendar
        check_invariants(cal, clock.now())


def test_reading_the_calendar_refuses_naive_times():
    from caredomain.core import NaiveDatetimeError

    with pytest.raises(NaiveDatetimeError):
        Calendar.of(INDEX).occupancy(dt.datetime(2026, 12, 1, 9))
    with pytest.raises(NaiveDatetimeError):
        Calendar.of(INDEX).patient_busy("p1", dt.datetime(2026, 12, 1, 9))
