import datetime as dt
import math

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    BusinessCalendar,
    CodeableConcept,
    Coding,
    Interval,
    NaiveDatetimeError,
    Reference,
    ValidationError,
    from_json,
    to_json,
)
from caredomain.scheduling import (
    DEFAULT_POLICY,
    Appointment,
    AppointmentRequest,
    AppointmentStatus,
    Participant,
    Slot,
    SlotStatus,
)
from caredomain.scheduling.metrics import (
    DEFAULT_NO_SHOW_RATE,
    AccessTimeSummary,
    NoShowForecast,
    ResourceFillRate,
    ResourceUtilization,
    ThirdNextAvailable,
    access_times,
    expected_no_shows,
    fill_rate,
    overbook_allowance,
    overflow_risk,
    third_next_available,
    utilization,
)

CHI = "America/Chicago"
S = AppointmentStatus
CARDIO = CodeableConcept.of("SNOMED", "394579002", "Cardiology")
DAY = Interval(pendulum.datetime(2026, 6, 8, tz=CHI), pendulum.datetime(2026, 6, 9, tz=CHI))


def at(*args):
    return pendulum.datetime(*args, tz=CHI)


def slot(sid, start, minutes=30, schedule="dr-a", **kw):
    return Slot(sid, schedule, Interval(start, start.add(minutes=minutes)), **kw)


def appt(aid, slots=(), state=S.BOOKED, patient="p1", service=None, start=None):
    return Appointment(
        aid,
        [Participant(Reference.to("Patient", patient))],
        state=state,
        interval=None if start is None else Interval(start, start.add(minutes=30)),
        slots=slots,
        service_type=service,
    )


def morning(schedule="dr-a", count=4, **kw):
    return [
        slot(f"{schedule}-{i}", at(2026, 6, 8, 9).add(minutes=30 * i), schedule=schedule, **kw)
        for i in range(count)
    ]


# --- utilization and fill rate -------------------------------------------------------------


def test_utilization_and_fill_rate_per_resource():
    slots = [
        *morning("dr-a"),
        *morning("room-1", capacity=2),
        slot("blocked", at(2026, 6, 8, 13), status=SlotStatus.BUSY_UNAVAILABLE),
        slot("tomorrow", at(2026, 6, 9, 9)),  # outside the interval
    ]
    appointments = [
        appt("a1", ["dr-a-0"]),
        appt("a2", ["dr-a-1"], state=S.NOSHOW),  # a no-show used the slot
        appt("a3", ["dr-a-2"], state=S.CANCELLED),  # a cancellation did not
        appt("a4", ["room-1-0"]),
        appt("a5", ["room-1-0"], state=S.FULFILLED),
        appt("a6", ["room-1-1", "tomorrow", "unknown-slot"]),
    ]
    assert utilization(slots, appointments, DAY) == (
        ResourceUtilization("dr-a", 120.0, 60.0),  # 4 x 30; the blocked slot offers nothing
        ResourceUtilization("room-1", 240.0, 90.0),
    )
    assert utilization(slots, appointments, DAY)[0].ratio == 0.5
    assert fill_rate(slots, appointments, DAY) == (
        ResourceFillRate("dr-a", 4, 2),
        ResourceFillRate("room-1", 4, 2),
    )
    assert fill_rate(slots, appointments, DAY)[1].ratio == 0.5


def test_busy_slots_count_as_full_and_overbooking_exceeds_one():
    slots = [slot("s1", at(2026, 6, 8, 9), status=SlotStatus.BUSY), slot("s2", at(2026, 6, 8, 10))]
    over = [appt("a1", ["s2"]), appt("a2", ["s2"], patient="p2")]
    (use,) = utilization(slots, over, DAY)
    assert (use.available_minutes, use.booked_minutes, use.ratio) == (60.0, 90.0, 1.5)
    nothing = utilization(
        [slot("x", at(2026, 6, 8, 9), status=SlotStatus.ENTERED_IN_ERROR)], [], DAY
    )
    assert nothing == (ResourceUtilization("dr-a", 0.0, 0.0),)
    assert nothing[0].ratio is None
    assert fill_rate([], [], DAY) == ()


def test_repeated_slot_ids_are_refused():
    twice = [slot("s1", at(2026, 6, 8, 9)), slot("s1", at(2026, 6, 8, 10))]
    with pytest.raises(ValidationError):
        utilization(twice, [], DAY)


@given(
    capacities=st.lists(st.integers(1, 3), min_size=1, max_size=12),
    data=st.data(),
)
def test_utilization_is_within_zero_and_one_without_overbooking(capacities, data):
    slots = [
        slot(f"s{i}", at(2026, 6, 8, 8).add(minutes=20 * i), minutes=20, capacity=c)
        for i, c in enumerate(capacities)
    ]
    appointments = []
    for i, capacity in enumerate(capacities):
        state = data.draw(st.sampled_from(list(S)))
        for n in range(data.draw(st.integers(0, capacity))):
            appointments.append(appt(f"a{i}-{n}", [f"s{i}"], state=state))
    (use,) = utilization(slots, appointments, DAY)
    assert 0 <= use.ratio <= 1
    (fill,) = fill_rate(slots, appointments, DAY)
    assert 0 <= fill.ratio <= 1
    if set(capacities) == {1}:  # equal-length single slots: both measure the same thing
        assert fill.ratio == pytest.approx(use.ratio)


# --- third next available ------------------------------------------------------------------


def test_third_next_available():
    slots = [
        slot("mon-9", at(2026, 6, 8, 9)),  # before the moment
        slot("mon-14", at(2026, 6, 8, 14)),
        slot("tue-9", at(2026, 6, 9, 9), status=SlotStatus.BUSY_TENTATIVE),  # held
        slot("wed-9", at(2026, 6, 10, 9)),
        slot("fri-9", at(2026, 6, 12, 9), capacity=2),
        slot("mon2-9", at(2026, 6, 15, 9)),
        slot("x-9", at(2026, 6, 8, 15), schedule="dr-b"),
    ]
    appointments = [appt("a1", ["wed-9"])]
    moment = at(2026, 6, 8, 12)
    result = third_next_available(slots, appointments, moment)
    assert result == (
        ThirdNextAvailable("dr-a", moment, 3, "fri-9", at(2026, 6, 12, 9), 4),
        ThirdNextAvailable("dr-b", moment, 3),  # fewer than three free places
    )
    # Business days: Monday to Friday is 4 either way; to the next Monday, 5 not 7.
    first = third_next_available(slots, [*appointments, appt("a2", ["fri-9"])], moment)[0]
    assert (first.slot_id, first.days) == ("mon2-9", 7)
    business = third_next_available(
        slots, [*appointments, appt("a2", ["fri-9"])], moment, calendar=BusinessCalendar()
    )[0]
    assert business.days == 5
    assert third_next_available(slots, [], moment, nth=1)[0].slot_id == "mon-14"


def test_third_next_available_counts_days_in_the_moments_zone():
    slots = [slot(f"s{i}", at(2026, 6, 8, 20).add(hours=i)) for i in range(3)]  # to 22:00 CDT
    utc = third_next_available(slots, [], pendulum.datetime(2026, 6, 8, 20, tz="UTC"))[0]
    assert utc.days == 1  # 22:00 CDT is 03:00 UTC the next day
    local = third_next_available(slots, [], at(2026, 6, 8, 15))[0]
    assert local.days == 0


def test_third_next_available_refuses_naive_moments_and_bad_nth():
    with pytest.raises(NaiveDatetimeError):
        third_next_available([], [], dt.datetime(2026, 6, 8, 12))
    with pytest.raises(ValidationError):
        third_next_available([], [], at(2026, 6, 8), nth=0)


# --- access time ---------------------------------------------------------------------------


def request(rid, urgency, release):
    return AppointmentRequest(
        rid, "p1", urgency, dt.timedelta(minutes=30), release, release.add(days=60), any_of=["dr-a"]
    )


def test_access_time_by_urgency_class():
    release = at(2026, 6, 1, 9)
    requests = [request(f"u{i}", "urgent", release) for i in range(5)]
    requests += [request("r1", "routine", release), request("r2", "routine", release)]
    booked = {f"u{i}": appt(f"a{i}", start=release.add(days=d)) for i, d in enumerate([1, 2, 3, 4])}
    booked["r1"] = appt("ar1", start=release.add(days=10), state=S.CANCELLED)
    summaries = access_times(requests, booked)
    assert summaries == (
        AccessTimeSummary("routine", 2, 0),
        AccessTimeSummary("urgent", 5, 4, 2.5, pytest.approx(3.7)),
    )
    with_policy = access_times(requests, booked, policy=DEFAULT_POLICY)
    assert [s.urgency for s in with_policy] == ["emergent", "urgent", "post-discharge", "routine"]
    assert with_policy[1].within_target == 2  # waits of 1 and 2 days meet "urgent <= 2 days"
    assert with_policy[0] == AccessTimeSummary("emergent", 0, 0, within_target=0)


@given(st.lists(st.floats(0, 100), min_size=1, max_size=40))
def test_access_percentiles_match_the_linear_definition(waits):
    release = at(2026, 1, 5, 9)
    requests = [request(f"q{i}", "routine", release) for i in range(len(waits))]
    booked = {
        f"q{i}": appt(f"a{i}", start=release.add(seconds=round(w * 86400)))
        for i, w in enumerate(waits)
    }
    (summary,) = access_times(requests, booked)
    days = sorted(round(w * 86400) / 86400 for w in waits)
    h = (len(days) - 1) * 0.9
    lo, hi = math.floor(h), math.ceil(h)
    assert summary.p90_days == pytest.approx(days[lo] + (h - lo) * (days[hi] - days[lo]))
    assert min(days) <= summary.median_days <= summary.p90_days <= max(days)


# --- no-shows ------------------------------------------------------------------------------


def test_expected_no_shows_with_rates_by_patient_service_and_default():
    appointments = [
        appt("a1", patient="p1", service=CARDIO),
        appt("a2", patient="p2", service=CARDIO),
        appt("a3", patient="p3"),
        appt("a4", patient="p4", state=S.FULFILLED),  # already happened: not counted
    ]
    forecast = expected_no_shows(
        appointments,
        service_rates={Coding.of("SNOMED", "394579002"): 0.1},
        patient_rates={"p1": 0.5},
    )
    assert forecast.appointments == 3
    assert forecast.expected == pytest.approx(0.5 + 0.1 + DEFAULT_NO_SHOW_RATE)
    assert forecast.variance == pytest.approx(0.25 + 0.09 + 0.23 * 0.77)
    by_code = expected_no_shows(appointments, service_rates={"394579002": 0.3}, default_rate=0)
    assert by_code.expected == pytest.approx(0.6)
    assert expected_no_shows([]) == NoShowForecast(0, 0.0, 0.0)
    assert DEFAULT_NO_SHOW_RATE == 0.23


@pytest.mark.parametrize(
    "kwargs",
    [
        {"default_rate": 1.5},
        {"service_rates": {"x": -0.1}},
        {"patient_rates": {"p1": float("nan")}},
    ],
)
def test_no_show_rates_must_be_probabilities(kwargs):
    with pytest.raises(ValidationError) as info:
        expected_no_shows([appt("a1")], **kwargs)
    assert "p1" not in str(info.value)


# --- overbooking ---------------------------------------------------------------------------


def brute_risk(capacity, bookings, rate):
    p = 1 - rate
    return sum(
        math.comb(bookings, k) * p**k * (1 - p) ** (bookings - k)
        for k in range(capacity + 1, bookings + 1)
    )


def test_overflow_risk_and_allowance_examples():
    assert overflow_risk(1, 2, 0.23) == pytest.approx(0.77**2)
    assert overflow_risk(3, 3, 0.1) == 0.0
    assert overflow_risk(1, 5, 1.0) == 0.0
    assert overbook_allowance(1, 0.23, 0.05) == 0
    assert overbook_allowance(20, 0.23, 0.05) == 2
    assert overbook_allowance(1, 0.5, 0.25) == 1  # two booked: both show with p = 0.25
    assert overbook_allowance(1, 0.0, 0.5) == 0
    assert overbook_allowance(2, 1.0, 0.0) == 100  # nobody ever shows: the limit
    assert overbook_allowance(2, 1.0, 0.0, limit=7) == 7
    assert overbook_allowance(4, 0.3, 1.0, limit=12) == 12


@pytest.mark.parametrize(
    "call",
    [
        lambda: overbook_allowance(0, 0.2, 0.05),
        lambda: overbook_allowance(1, 1.2, 0.05),
        lambda: overbook_allowance(1, 0.2, -0.05),
        lambda: overbook_allowance(1, 0.2, 0.05, limit=-1),
        lambda: overflow_risk(1, -1, 0.2),
        lambda: overflow_risk(True, 2, 0.2),
    ],
)
def test_overbooking_arguments_are_checked(call):
    with pytest.raises(ValidationError):
        call()


@given(
    capacity=st.integers(1, 12),
    rate=st.floats(0, 0.95),
    max_risk=st.floats(0, 0.5),
)
def test_overbook_allowance_is_the_largest_safe_extra(capacity, rate, max_risk):
    extra = overbook_allowance(capacity, rate, max_risk, limit=40)
    assert brute_risk(capacity, capacity + extra, rate) <= max_risk + 1e-9
    if extra < 40:
        assert brute_risk(capacity, capacity + extra + 1, rate) > max_risk - 1e-9
    assert overflow_risk(capacity, capacity + extra, rate) == pytest.approx(
        brute_risk(capacity, capacity + extra, rate), abs=1e-12
    )


@given(
    capacity=st.integers(1, 12),
    rates=st.tuples(st.floats(0, 0.95), st.floats(0, 0.95)),
    risks=st.tuples(st.floats(0, 0.5), st.floats(0, 0.5)),
)
def test_overbook_allowance_is_monotone(capacity, rates, risks):
    low, high = sorted(rates)
    assert overbook_allowance(capacity, low, risks[0]) <= overbook_allowance(
        capacity, high, risks[0]
    )
    small, large = sorted(risks)
    assert overbook_allowance(capacity, low, small) <= overbook_allowance(capacity, low, large)


def test_results_round_trip_as_json():
    moment = at(2026, 6, 8, 12)
    values = [
        ResourceUtilization("dr-a", 120.0, 60.0),
        ResourceFillRate("dr-a", 4, 2),
        ThirdNextAvailable("dr-a", moment, 3, "s1", at(2026, 6, 10, 9), 2),
        ThirdNextAvailable("dr-b", moment, 3),
        AccessTimeSummary("urgent", 3, 2, 1.5, 1.9, 2),
        NoShowForecast(3, 0.69, 0.5),
    ]
    for value in values:
        assert from_json(to_json(value), type(value)) == value


def test_with_overbooking_sets_allowances_from_service_rates():
    from caredomain.core import CodeableConcept
    from caredomain.scheduling import SlotIndex, with_overbooking

    start = pendulum.datetime(2026, 12, 1, 9, tz="America/Chicago")
    group = CodeableConcept.of("SNOMED", "229065009", "Group education")
    slots = [
        Slot("one", "dr-chen", Interval(start, start.add(minutes=30))),
        Slot(
            "class",
            "educator",
            Interval(start, start.add(hours=1)),
            service_types=[group],
            capacity=20,
        ),
    ]
    tuned = with_overbooking(slots, max_risk=0.05, service_rates={"229065009": 0.23})
    assert [s.overbook for s in tuned] == [0, 2]
    assert [s.id for s in tuned] == ["one", "class"]
    high = with_overbooking(
        slots, max_risk=0.05, default_rate=0.5, service_rates={"229065009": 0.5}
    )
    assert high[1].overbook > tuned[1].overbook
    assert SlotIndex.of(tuned).get("class").overbook == 2
