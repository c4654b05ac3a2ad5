import datetime as dt

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.core import CodeableConcept, Interval, ValidationError, epoch_us
from caredomain.scheduling import (
    AppointmentRequest,
    AvailabilityTemplate,
    Predecessor,
    Preferences,
    Session,
    Slot,
    SlotIndex,
    SlotStatus,
    find_sequence,
    find_slots,
    generate_slots,
)

CHI = "America/Chicago"
t = dt.time
MON = dt.date(2026, 11, 30)


EIGHT, NOON = dt.time(8), dt.time(12)


def weekday_clinic(resource, start=EIGHT, end=NOON, minutes=30, **kw):
    sessions = [Session(d, start, end, minutes, **kw) for d in range(5)]
    return AvailabilityTemplate(resource, CHI, sessions)


def index_of(*templates, first=MON, days=14):
    slots = []
    for tpl in templates:
        slots.extend(generate_slots(tpl, first, first + dt.timedelta(days=days)))
    return SlotIndex.of(slots, resources=KNOWN)


KNOWN = ["dr-ortiz", "dr-chen"]


def req(**kw):
    args = {
        "id": "r1",
        "patient": "p1",
        "urgency": "urgent",
        "duration": dt.timedelta(minutes=30),
        "release": pendulum.datetime(2026, 11, 30, tz=CHI),
        "due": pendulum.datetime(2026, 12, 11, tz=CHI),
        "any_of": ["dr-ortiz", "dr-chen"],
    } | kw
    return AppointmentRequest(**args)


def test_earliest_within_target_comes_first_and_ties_are_deterministic():
    index = index_of(weekday_clinic("dr-ortiz"), weekday_clinic("dr-chen"))
    found = find_slots(req(), index, limit=4)
    assert [c.interval.start.format("ddd HH:mm") for c in found] == [
        "Mon 08:00", "Mon 08:00", "Mon 08:30", "Mon 08:30",
    ]  # fmt: skip
    assert [c.resource for c in found] == ["dr-chen", "dr-ortiz", "dr-chen", "dr-ortiz"]
    assert all(c.days_late == 0 for c in found)


def test_preferences_rank_but_never_exclude():
    index = index_of(weekday_clinic("dr-ortiz"), weekday_clinic("dr-chen"))
    prefs = Preferences(weekdays=[2], earliest=t(10), resources=["dr-ortiz"])
    routine = req(urgency="routine", preferences=prefs)  # urgent would win on access target
    found = find_slots(routine, index, limit=3)
    assert [c.interval.start.format("ddd HH:mm") for c in found] == [
        "Wed 10:00",
        "Wed 10:30",
        "Wed 11:00",
    ]
    assert {c.resource for c in found} == {"dr-ortiz"}
    assert found[0].misses == ()
    only_monday = index_of(weekday_clinic("dr-ortiz"), days=0)
    fallback = find_slots(routine, only_monday, limit=1)
    assert fallback[0].misses == ("weekday",)
    assert fallback[0].interval.start.format("ddd HH:mm") == "Mon 10:00"


def test_continuity_prefers_the_usual_provider():
    index = index_of(weekday_clinic("dr-ortiz"), weekday_clinic("dr-chen"))
    found = find_slots(req(usual_provider="dr-ortiz"), index, limit=1)
    assert found[0].resource == "dr-ortiz"


def test_urgency_fit_beats_preferences():
    # Only Friday-afternoon slots of the preferred doctor exist after the target.
    index = index_of(weekday_clinic("dr-ortiz"), weekday_clinic("dr-chen"))
    prefs = Preferences(weekdays=[4])  # Friday: 4 days after release, urgent target is 2
    found = find_slots(req(preferences=prefs), index, limit=1)
    assert found[0].interval.start.format("ddd") == "Mon"
    assert found[0].misses == ("weekday",)


def test_hard_constraints():
    index = index_of(weekday_clinic("dr-ortiz", minutes=20), weekday_clinic("dr-chen"))
    found = find_slots(req(duration=dt.timedelta(minutes=30)), index, limit=50)
    assert {c.resource for c in found} == {"dr-chen"}  # 20-minute slots are too short
    window = req(
        release=pendulum.datetime(2026, 12, 2, 9, tz=CHI),
        due=pendulum.datetime(2026, 12, 2, 10, tz=CHI),
    )
    starts = {c.interval.start.format("HH:mm") for c in find_slots(window, index, limit=50)}
    assert starts == {"09:00", "09:30", "10:00"}  # release <= start <= due
    full = {c.slots[0].id: 1 for c in find_slots(window, index, limit=50)}
    assert find_slots(window, index, occupied=full) == []
    with pytest.raises(ValidationError, match="unknown: nobody"):
        find_slots(req(any_of=["nobody"]), index)
    on_leave = SlotIndex.of(list(index.starting("dr-chen", 0, 2**62)), resources=["dr-ortiz"])
    assert {c.resource for c in find_slots(req(), on_leave, limit=50)} == {"dr-chen"}


def test_busy_patient_and_unavailable_slots_are_skipped():
    index = index_of(weekday_clinic("dr-chen"), days=0)
    busy = Interval(
        pendulum.datetime(2026, 11, 30, 8, tz=CHI), pendulum.datetime(2026, 11, 30, 9, tz=CHI)
    )
    found = find_slots(req(), index, patient_busy=[busy], limit=1)
    assert found[0].interval.start.format("HH:mm") == "09:00"
    blocked = SlotIndex.of(
        [Slot("x", "dr-chen", busy, status=SlotStatus.BUSY_UNAVAILABLE)], resources=KNOWN
    )
    assert find_slots(req(), blocked) == []


def test_overbook_allowance_counts_only_when_allowed():
    slot = Slot(
        "s1",
        "dr-chen",
        Interval(
            pendulum.datetime(2026, 12, 1, 9, tz=CHI), pendulum.datetime(2026, 12, 1, 9, 30, tz=CHI)
        ),
        overbook=1,
    )
    index = SlotIndex.of([slot], resources=KNOWN)
    assert find_slots(req(), index, occupied={"s1": 1}) == []
    assert len(find_slots(req(), index, occupied={"s1": 1}, allow_overbook=True)) == 1


def test_service_types_must_match_when_both_are_set():
    echo = CodeableConcept.of("SNOMED", "40701008", "Echocardiography")
    consult = CodeableConcept.of("SNOMED", "11429006", "Consultation")
    index = index_of(weekday_clinic("dr-chen", service_types=[echo]), days=0)
    assert find_slots(req(service_type=consult), index) == []
    assert find_slots(req(service_type=echo), index)


def test_multi_resource_visit_needs_every_all_of_resource_free():
    mri_room = weekday_clinic("mri-1", minutes=60)
    tech = weekday_clinic("tech-kim", start=t(9), end=t(11), minutes=60)
    index = index_of(mri_room, tech, days=0)
    mri = req(duration=dt.timedelta(minutes=60), any_of=["mri-1"], all_of=["tech-kim"])
    found = find_slots(mri, index, limit=10)
    assert [c.interval.start.format("HH:mm") for c in found] == ["09:00", "10:00"]
    assert [s.schedule for s in found[0].slots] == ["mri-1", "tech-kim"]


def test_requests_with_a_predecessor_need_its_visit():
    index = index_of(weekday_clinic("dr-chen"))
    follow = req(after=Predecessor("r0", dt.timedelta(days=1), dt.timedelta(days=3)))
    with pytest.raises(ValidationError):
        find_slots(follow, index)


def test_unknown_urgency_is_a_typed_error():
    with pytest.raises(ValidationError):
        find_slots(req(urgency="someday"), index_of(weekday_clinic("dr-chen")))


def test_diabetes_scenario_a1c_draw_one_to_three_days_before_endocrinology():
    lab = AvailabilityTemplate("lab", CHI, [Session(d, t(7), t(10), 15) for d in range(5)])
    endo = AvailabilityTemplate("dr-endo", CHI, [Session(d, t(13), t(16), 30) for d in (1, 3)])
    index = index_of(lab, endo, days=21)
    release = pendulum.datetime(2026, 11, 30, tz=CHI)
    draw = AppointmentRequest(
        "a1c", "p-dm", "routine", dt.timedelta(minutes=15), release, release.add(days=30), ["lab"]
    )
    visit = AppointmentRequest(
        "endo",
        "p-dm",
        "routine",
        dt.timedelta(minutes=30),
        release,
        release.add(days=30),
        ["dr-endo"],
        after=Predecessor("a1c", dt.timedelta(days=1), dt.timedelta(days=3)),
    )
    pairs = find_sequence(draw, visit, index, limit=3)
    assert pairs
    for lab_visit, endo_visit in pairs:
        gap = endo_visit.interval.start - lab_visit.interval.end
        assert dt.timedelta(days=1) <= gap <= dt.timedelta(days=3)
    best_lab, best_endo = pairs[0]
    # Endocrinology sits Tue/Thu afternoons; the first visit at least a day after a
    # morning draw is Tuesday 2026-12-01 13:00 after a Monday draw.
    assert best_endo.interval.start.format("YYYY-MM-DD HH:mm") == "2026-12-01 13:00"
    assert best_lab.interval.start.format("YYYY-MM-DD") == "2026-11-30"
    with pytest.raises(ValidationError):
        find_sequence(visit, draw, index)


def test_index_refuses_duplicate_ids_and_reports_membership():
    slot = Slot(
        "s1",
        "dr-chen",
        Interval(
            pendulum.datetime(2026, 12, 1, 9, tz=CHI), pendulum.datetime(2026, 12, 1, 9, 30, tz=CHI)
        ),
    )
    index = SlotIndex.of([slot])
    assert "s1" in index
    assert len(index) == 1
    assert index.resources == {"dr-chen"}
    with pytest.raises(ValidationError):
        SlotIndex.of([slot, slot])
    with pytest.raises(ValidationError):
        index.get("nope")


# --- the indexed, early-stopping search equals a brute-force ranking -----------------------

RESOURCES = ["a", "b", "c"]


@st.composite
def worlds(draw):
    base = pendulum.datetime(2026, 12, 1, 8, tz=CHI)
    slots = []
    for n in range(draw(st.integers(0, 25))):
        start = base.add(minutes=15 * draw(st.integers(0, 40)))
        length = draw(st.sampled_from([15, 30, 45]))
        slots.append(
            Slot(
                f"s{n}",
                draw(st.sampled_from(RESOURCES)),
                Interval(start, start.add(minutes=length)),
                status=draw(st.sampled_from([SlotStatus.FREE, SlotStatus.FREE, SlotStatus.BUSY])),
                capacity=draw(st.integers(1, 2)),
            )
        )
    occupied = {s.id: draw(st.integers(0, 2)) for s in slots if draw(st.booleans())}
    release = base.add(minutes=15 * draw(st.integers(0, 10)))
    request = AppointmentRequest(
        "r",
        "p",
        draw(st.sampled_from(["urgent", "routine", "emergent"])),
        dt.timedelta(minutes=draw(st.sampled_from([15, 30]))),
        release,
        release.add(minutes=15 * draw(st.integers(0, 40))),
        draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3, unique=True)),
        preferences=Preferences(
            earliest=draw(st.none() | st.sampled_from([t(9), t(10)])),
            resources=draw(st.lists(st.sampled_from(RESOURCES), max_size=1)),
        ),
        usual_provider=draw(st.none() | st.sampled_from(RESOURCES)),
    )
    return slots, occupied, request, draw(st.integers(1, 6))


def brute_force(slots, occupied, request, limit):
    from caredomain.scheduling import DEFAULT_POLICY

    target = epoch_us(request.release) + request_target(DEFAULT_POLICY, request)
    keyed = []
    for slot in slots:
        start = slot.interval.start_us
        end = start + request.duration // dt.timedelta(microseconds=1)
        if slot.schedule not in request.any_of or slot.status is not SlotStatus.FREE:
            continue
        if not epoch_us(request.release) <= start <= epoch_us(request.due):
            continue
        if slot.interval.end_us < end or occupied.get(slot.id, 0) >= slot.capacity:
            continue
        misses = 0
        if (
            request.preferences.earliest
            and slot.interval.start.time() < request.preferences.earliest
        ):
            misses += 1
        if request.preferences.resources and slot.schedule not in request.preferences.resources:
            misses += 1
        if request.usual_provider and slot.schedule != request.usual_provider:
            misses += 1
        keyed.append(
            ((max(0, start - target) / 86_400_000_000, misses, start, slot.schedule), slot.id)
        )
    keyed.sort()
    return [slot_id for _, slot_id in keyed[:limit]]


def request_target(policy, request):
    return policy[request.urgency].target // dt.timedelta(microseconds=1)


@settings(max_examples=200)
@given(worlds())
def test_search_equals_brute_force(world):
    slots, occupied, request, limit = world
    found = find_slots(
        request, SlotIndex.of(slots, resources=RESOURCES), occupied=occupied, limit=limit
    )
    ours = [c.slots[0].id for c in found]
    expected = brute_force(slots, occupied, request, limit)
    # Same ranking keys in the same order (ids may differ only between equal keys).
    assert len(ours) == len(expected)
    by_id = {s.id: s for s in slots}
    assert [(by_id[i].interval.start_us, by_id[i].schedule) for i in ours] == [
        (by_id[i].interval.start_us, by_id[i].schedule) for i in expected
    ]
