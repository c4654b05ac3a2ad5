import datetime as dt
import pickle
from decimal import Decimal

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.careplans import (
    MEASURES,
    Activity,
    ActivityKind,
    Alert,
    AlertKind,
    AlertState,
    Bound,
    CarePlan,
    Component,
    Goal,
    GoalAchievement,
    GoalRule,
    MissingRule,
    Observation,
    OverdueRule,
    Severity,
    Target,
    ThresholdRule,
    Timing,
    TrendRule,
)
from caredomain.careplans.monitor import (
    ActivityCompleted,
    GoalStatusChange,
    Monitor,
    OverdueActivity,
    Snapshot,
    WorklistItem,
    worklist,
)
from caredomain.core import (
    CodeableConcept,
    ConflictError,
    FixedClock,
    Interval,
    NaiveDatetimeError,
    Quantity,
    Reference,
    RuleError,
    ValidationError,
    epoch_us,
    from_json,
    stable_id,
    to_json,
)
from tests.phi import PATIENT_MRN, assert_no_phi

CHI = "America/Chicago"
WEIGHT, BP, SYSTOLIC, DIASTOLIC, SPO2 = "29463-7", "85354-9", "8480-6", "8462-4", "59408-5"
START = pendulum.datetime(2026, 3, 2, tz=CHI)  # the week before US DST starts


def at(days, hours=7, minutes=0):
    return START.add(days=days, hours=hours, minutes=minutes)


def below(component, value, *, inclusive=False):
    return Target(BP, component=component, high=Bound(Quantity(value, "mm[Hg]"), inclusive))


def plan(patient="p1", goals=(), activities=(), start=START):
    return CarePlan(
        f"plan-{patient}",
        Reference.to("Patient", patient),
        "plan",
        period=Interval(start, start.add(days=365)),
        goals=goals,
        activities=activities,
    )


def weight(oid, moment, value, unit="[lb_av]", patient="p1"):
    return Observation(oid, patient, WEIGHT, moment, value=Quantity(value, unit))


def pressure(oid, moment, systolic, diastolic, patient="p1"):
    return Observation(
        oid,
        patient,
        BP,
        moment,
        components=[
            Component(SYSTOLIC, Quantity(systolic, "mm[Hg]")),
            Component(DIASTOLIC, Quantity(diastolic, "mm[Hg]")),
        ],
    )


def alerts(changes):
    return [
        (c.state, c.rule, c.severity, c.at, c.evidence) for c in changes if isinstance(c, Alert)
    ]


# --- threshold -----------------------------------------------------------------------------

STAGE2 = ThresholdRule("stage2", below(SYSTOLIC, 140), escalate_after=3)


def test_a_sustained_breach_is_one_alert_that_escalates_then_resolves():
    monitor = Monitor()
    monitor.watch(plan(), [STAGE2])
    changes = []
    for n, systolic in enumerate([150, 151, 152, 153, 154, 120]):
        changes += monitor.ingest(pressure(f"b{n}", at(n), systolic, 70))
    assert alerts(changes) == [
        (AlertState.RAISED, "stage2", Severity.WARNING, at(0), ("b0",)),
        (AlertState.ESCALATED, "stage2", Severity.CRITICAL, at(2), ("b0", "b1", "b2")),
        (AlertState.RESOLVED, "stage2", Severity.CRITICAL, at(5), ("b5",)),
    ]
    assert len({c.id for c in changes if isinstance(c, Alert)}) == 1


def test_escalate_after_one_raises_at_the_escalated_severity():
    monitor = Monitor()
    monitor.watch(plan(), [ThresholdRule("now", below(SYSTOLIC, 140), escalate_after=1)])
    assert alerts(monitor.ingest(pressure("b0", at(0), 150, 70))) == [
        (AlertState.RAISED, "now", Severity.CRITICAL, at(0), ("b0",))
    ]


def test_threshold_bounds_convert_units_and_respect_inclusion():
    low_high = Target(WEIGHT, low=Bound(Quantity(70, "kg")), high=Bound(Quantity(80, "kg"), False))
    monitor = Monitor()
    monitor.watch(plan(), [ThresholdRule("range", low_high)])
    assert monitor.ingest(weight("w0", at(0), 70, "kg")) == []  # inclusive low
    assert alerts(monitor.ingest(weight("w1", at(1), 80000, "g")))[0][0] is AlertState.RAISED
    assert alerts(monitor.ingest(weight("w2", at(2), "165", "[lb_av]")))[0][0] is (
        AlertState.RESOLVED  # 74.8 kg
    )


@given(
    tenths=st.integers(1000, 2500),
    unit=st.sampled_from(["[lb_av]", "kg", "g", "[oz_av]"]),
    bound_kg=st.integers(60, 100),
    inclusive=st.booleans(),
)
def test_threshold_decisions_match_target_met_by_in_any_unit(tenths, unit, bound_kg, inclusive):
    """Unit conversions never change a decision: the monitor agrees with `Target.met_by`
    (exact Decimal conversion, 28 significant digits; lb, oz, g and kg convert exactly)."""
    target = Target(WEIGHT, high=Bound(Quantity(bound_kg, "kg"), inclusive))
    pounds = Quantity(Decimal(tenths) / 10, "[lb_av]")
    reading = pounds.to(unit)
    monitor = Monitor()
    monitor.watch(plan(), [ThresholdRule("t", target)])
    changes = monitor.ingest(Observation("w0", "p1", WEIGHT, at(0), value=reading))
    assert bool(changes) is (not target.met_by(pounds)) is (not target.met_by(reading))


# --- trend ---------------------------------------------------------------------------------


def test_trend_compares_with_the_lowest_reading_in_the_window_inclusive():
    rule = TrendRule("gain-1d", WEIGHT, Quantity(2, "[lb_av]"), dt.timedelta(days=1))
    monitor = Monitor()
    monitor.watch(plan(), [rule])
    assert monitor.ingest(weight("w0", at(0), "180")) == []
    changes = monitor.ingest(weight("w1", at(1), "91.2", "kg"))  # 201.06 lb, exactly 24 h later
    assert alerts(changes) == [
        (AlertState.RAISED, "gain-1d", Severity.WARNING, at(1), ("w0", "w1"))
    ]
    assert changes[0].message == "body weight rose 21.1 [lb_av] within 1 day"
    # 25 h later nothing is in the window to compare with: the rise no longer holds.
    assert alerts(monitor.ingest(weight("w2", at(2, 8), "203")))[0][0] is AlertState.RESOLVED
    assert alerts(monitor.ingest(weight("w3", at(3), "205.5"))) == [
        (AlertState.RAISED, "gain-1d", Severity.WARNING, at(3), ("w2", "w3"))
    ]


def test_trend_fall_uses_the_highest_reading():
    rule = TrendRule("spo2-drop", SPO2, Quantity(4, "%"), dt.timedelta(hours=12), direction="fall")
    monitor = Monitor()
    monitor.watch(plan(), [rule])
    readings = [("s0", 0, 97), ("s1", 2, 98), ("s2", 4, 95), ("s3", 6, 93)]
    changes = []
    for oid, hours, value in readings:
        changes += monitor.ingest(
            Observation(oid, "p1", SPO2, START.add(hours=hours), value=Quantity(value, "%"))
        )
    assert alerts(changes) == [
        (AlertState.RAISED, "spo2-drop", Severity.WARNING, START.add(hours=6), ("s1", "s3"))
    ]
    assert changes[0].message == "oxygen saturation by pulse oximetry fell 5 % within 12 hours"


# --- missing and overdue --------------------------------------------------------------------


def test_missing_counts_from_the_plan_start_until_a_first_reading():
    monitor = Monitor()
    monitor.watch(plan(), [MissingRule("no-weight", WEIGHT, dt.timedelta(days=2))])
    assert monitor.advance(FixedClock(START.add(days=2))) == []  # exactly 2 days: not more
    raised = monitor.advance(FixedClock(START.add(days=2, seconds=1)))
    assert alerts(raised) == [
        (AlertState.RAISED, "no-weight", Severity.WARNING, START.add(days=2), ())
    ]
    assert raised[0].id == stable_id("p1", "no-weight", "2026-03-04T06:00:00+00:00")
    assert monitor.advance(FixedClock(START.add(days=3))) == []  # one alert per episode
    resolved = monitor.ingest(weight("w0", at(3), "180"))
    assert alerts(resolved) == [
        (AlertState.RESOLVED, "no-weight", Severity.WARNING, at(3), ("w0",))
    ]


def test_a_late_reading_that_fills_the_gap_resolves_the_missing_alert_at_its_raise():
    monitor = Monitor()
    monitor.watch(plan(), [MissingRule("no-weight", WEIGHT, dt.timedelta(days=2))])
    monitor.ingest(weight("w0", at(0), "180"))
    (raised,) = monitor.advance(FixedClock(at(3, 12)))
    assert raised.at == at(2)
    changes = monitor.ingest(weight("w1", at(1), "181"))  # measured on day 1, sent on day 3
    # The correction is stamped no earlier than the change it corrects; the new gap since
    # day 1 is also over 2 days at the monitor's time, so a new episode opens.
    assert alerts(changes) == [
        (AlertState.RESOLVED, "no-weight", Severity.WARNING, at(2), ("w1",)),
        (AlertState.RAISED, "no-weight", Severity.WARNING, at(3), ("w1",)),
    ]


def test_repeating_activities_fall_due_by_calendar_months_in_the_plan_zone():
    lab = Activity(
        "a1c", ActivityKind.LAB, CodeableConcept.of("LOINC", "4548-4"), Timing(1, 3, "mo")
    )
    jan31 = pendulum.datetime(2026, 1, 31, 9, tz=CHI)
    monitor = Monitor()
    monitor.watch(plan(activities=[lab], start=jan31), [OverdueRule("a1c-late", "a1c")])
    due = pendulum.datetime(2026, 4, 30, 9, tz=CHI)  # 3 months after Jan 31, across DST
    assert monitor.advance(FixedClock(due)) == []
    (raised,) = monitor.advance(FixedClock(due.add(minutes=1)))
    assert raised.at == due
    assert monitor.snapshot("p1", FixedClock(due.add(days=1))).overdue == (
        OverdueActivity("a1c", ActivityKind.LAB, due),
    )


def test_twice_a_month_is_half_a_mean_gregorian_month():
    visit = Activity("rn", ActivityKind.HOME_VISIT, None, Timing(2, 1, "mo"))
    monitor = Monitor()
    monitor.watch(plan(activities=[visit]), [])
    half = dt.timedelta(days=365.2425 / 24)
    assert monitor.snapshot("p1", FixedClock(START + half)).overdue == ()
    (late,) = monitor.snapshot("p1", FixedClock(START + half + dt.timedelta(seconds=1))).overdue
    assert late.due == START + half


def test_daily_activities_keep_their_local_time_across_dst():
    weigh = Activity(
        "weigh", ActivityKind.MEASUREMENT, CodeableConcept.of("LOINC", WEIGHT), Timing()
    )
    monitor = Monitor()
    monitor.watch(plan(activities=[weigh]), [OverdueRule("weigh-late", "weigh")])
    monitor.ingest(weight("w0", at(6), "180"))  # Sunday 2026-03-08 07:00 CDT
    (raised,) = monitor.advance(FixedClock(at(7, 12)))
    assert raised.at == pendulum.datetime(2026, 3, 9, 7, tz=CHI)  # 07:00 the next day


def test_inactive_and_completed_activities_are_never_overdue():
    visit = Activity(
        "visit",
        ActivityKind.APPOINTMENT,
        None,
        Timing.once(dt.timedelta(days=7)),
        status="cancelled",
    )
    monitor = Monitor()
    monitor.watch(plan(activities=[visit]), [OverdueRule("late", "visit")])
    assert monitor.advance(FixedClock(START.add(days=30))) == []
    assert monitor.snapshot("p1", FixedClock(START.add(days=30))).overdue == ()


# --- goals -----------------------------------------------------------------------------------


def test_goal_statuses_compare_each_targets_distance():
    goal = Goal("bp", "BP < 130/80", [below(SYSTOLIC, 130), below(DIASTOLIC, 80)])
    monitor = Monitor()
    monitor.watch(plan(goals=[goal]), [])
    readings = [(150, 90), (150, 90), (140, 95), (135, 85), (128, 79), (125, 75)]
    statuses = []
    for n, (s, d) in enumerate(readings):
        statuses += [c.status for c in monitor.ingest(pressure(f"b{n}", at(n), s, d))]
    g = GoalAchievement
    assert statuses == [
        g.IN_PROGRESS,  # the first evaluation, not met
        g.NO_CHANGE,  # the same distances
        g.WORSENING,  # systolic closer, diastolic farther: any target farther is worsening
        g.IMPROVING,
        g.ACHIEVED,
        g.SUSTAINING,
    ]


def test_goal_on_two_codes_uses_each_codes_latest_reading():
    goal = Goal(
        "dry-weight-and-bp",
        "weight 70-80 kg and systolic < 140",
        [
            Target(WEIGHT, low=Bound(Quantity(70, "kg")), high=Bound(Quantity(80, "kg"))),
            below(SYSTOLIC, 140),
        ],
    )
    monitor = Monitor()
    monitor.watch(plan(goals=[goal]), [])
    first = monitor.ingest(weight("w0", at(0), 75, "kg"))
    assert [c.status for c in first] == [GoalAchievement.IN_PROGRESS]  # no systolic yet
    assert [c.status for c in monitor.ingest(pressure("b0", at(0, 8), 130, 70))] == [
        GoalAchievement.ACHIEVED
    ]
    (change,) = monitor.ingest(weight("w1", at(1), 76, "kg"))
    assert (change.status, change.evidence) == (GoalAchievement.SUSTAINING, ("b0", "w1"))


def test_a_late_reading_of_another_code_re_evaluates_the_goal():
    goal = Goal(
        "dry-weight-and-bp",
        "weight <= 80 kg and systolic < 140",
        [Target(WEIGHT, high=Bound(Quantity(80, "kg"))), below(SYSTOLIC, 140)],
    )
    sorted_monitor, late_monitor = Monitor(), Monitor()
    readings = [
        weight("w0", at(0), 79, "kg"),
        pressure("b0", at(0, 8), 130, 70),
        weight("w1", at(1), 82, "kg"),
        pressure("b1", at(1, 8), 128, 70),
    ]
    changes = {}
    for monitor, order in ((sorted_monitor, [0, 1, 2, 3]), (late_monitor, [0, 1, 3, 2])):
        monitor.watch(plan(goals=[goal]), [])
        changes[monitor] = [c.status for i in order for c in monitor.ingest(readings[i])]
    g = GoalAchievement
    # Sorted: met, then 82 kg breaks it, then the same distances at b1.
    assert changes[sorted_monitor] == [g.IN_PROGRESS, g.ACHIEVED, g.WORSENING, g.NO_CHANGE]
    # Late: b1 looked like a second met evaluation until w1 (82 kg) arrived.
    assert changes[late_monitor] == [g.IN_PROGRESS, g.ACHIEVED, g.SUSTAINING, g.NO_CHANGE]
    clock = FixedClock(at(2))
    assert late_monitor.snapshot("p1", clock) == sorted_monitor.snapshot("p1", clock)


def test_goal_without_readings_becomes_not_achieved_after_its_due_date():
    goal = Goal("bp", "BP < 130/80", [below(SYSTOLIC, 130)], due=pendulum.date(2026, 3, 10))
    monitor = Monitor()
    monitor.watch(plan(goals=[goal]), [GoalRule("bp-slipping", "bp", severity=Severity.INFO)])
    assert monitor.advance(FixedClock(pendulum.datetime(2026, 3, 10, 23, 59, tz=CHI))) == []
    changes = monitor.advance(FixedClock(pendulum.datetime(2026, 3, 11, 0, 1, tz=CHI)))
    midnight = pendulum.datetime(2026, 3, 11, tz=CHI)
    assert [(type(c).__name__, c.at) for c in changes] == [
        ("GoalStatusChange", midnight),
        ("Alert", midnight),
    ]
    assert changes[0] == GoalStatusChange("p1", "bp", GoalAchievement.NOT_ACHIEVED, None, midnight)
    assert changes[1].severity is Severity.INFO


# --- late and out-of-order data ---------------------------------------------------------------


def test_a_late_normal_reading_splits_an_episode_and_corrects_the_alerts():
    rule = ThresholdRule("stage2", below(SYSTOLIC, 140), escalate_after=5)
    monitor = Monitor()
    monitor.watch(plan(), [rule])
    for n in range(3):
        monitor.ingest(pressure(f"b{n}", at(n), 150, 70))
    (first_id,) = [i.alert for i in worklist(monitor)]
    changes = monitor.ingest(pressure("late", at(1, 12), 120, 70))  # between b1 and b2
    assert alerts(changes) == [
        (AlertState.RESOLVED, "stage2", Severity.WARNING, at(1, 12), ("late",)),
        (AlertState.RAISED, "stage2", Severity.WARNING, at(2), ("b2",)),
    ]
    assert changes[0].id == first_id
    assert changes[1].id == stable_id("p1", "stage2", "2026-03-04T13:00:00+00:00")


def test_a_late_breaching_reading_between_normal_ones_is_reported_as_a_past_episode():
    monitor = Monitor()
    monitor.watch(plan(), [ThresholdRule("severe", below(SYSTOLIC, 180, inclusive=True))])
    for n, systolic in ((0, 130), (2, 130), (3, 185)):
        monitor.ingest(pressure(f"b{n}", at(n), systolic, 70))
    (open_before,) = worklist(monitor)
    changes = monitor.ingest(pressure("b1", at(1), 195, 70))
    assert alerts(changes) == [
        (AlertState.RAISED, "severe", Severity.WARNING, at(1), ("b1",)),
        (AlertState.RESOLVED, "severe", Severity.WARNING, at(2), ("b2",)),
    ]
    assert worklist(monitor) == [open_before]  # the open episode (from b3) is untouched


def test_a_reading_beyond_the_horizon_cannot_raise_alerts_but_counts_for_goals():
    goal = Goal("bp", "systolic < 140", [below(SYSTOLIC, 140)])
    monitor = Monitor(horizon=dt.timedelta(days=1))
    monitor.watch(plan(goals=[goal]), [STAGE2])
    for n in range(5, 10):
        monitor.ingest(pressure(f"b{n}", at(n), 120, 70))
    changes = monitor.ingest(pressure("old", at(1), 170, 70))
    assert changes == []  # too old for alerts, and not among the two latest readings
    assert worklist(monitor) == []
    # A sparse series keeps its last 3 readings whatever their age, so an old reading that
    # is one of the latest few is still placed exactly: here a past episode, and the goal's
    # previous evaluation.
    sparse = Monitor(horizon=dt.timedelta(days=1))
    goal_130 = Goal("bp", "systolic < 130", [below(SYSTOLIC, 130)])
    sparse.watch(plan(goals=[goal_130]), [STAGE2])
    sparse.ingest(pressure("b9", at(9), 135, 70))
    changes = sparse.ingest(pressure("old", at(1), 170, 70))
    assert alerts(changes) == [
        (AlertState.RAISED, "stage2", Severity.WARNING, at(1), ("old",)),
        (AlertState.RESOLVED, "stage2", Severity.WARNING, at(9), ("b9",)),
    ]
    (change,) = [c for c in changes if isinstance(c, GoalStatusChange)]
    assert (change.status, change.evidence) == (GoalAchievement.IMPROVING, ("b9",))


# --- order independence (acceptance) ----------------------------------------------------------

HORIZON = dt.timedelta(days=3)
RULES = [
    TrendRule("gain-1d", WEIGHT, Quantity(2, "[lb_av]"), dt.timedelta(days=1)),
    TrendRule("gain-7d", WEIGHT, Quantity(5, "[lb_av]"), dt.timedelta(days=7)),
    ThresholdRule("stage2-sys", below(SYSTOLIC, 140), escalate_after=3),
    ThresholdRule("stage2-dia", below(DIASTOLIC, 90)),
    ThresholdRule("severe-sys", below(SYSTOLIC, 180, inclusive=True), severity=Severity.CRITICAL),
    MissingRule("no-weight", WEIGHT, dt.timedelta(days=2)),
    GoalRule("bp-slipping", "bp"),
    OverdueRule("weigh-late", "weigh"),
]
GOALS = [
    Goal("bp", "BP < 130/80", [below(SYSTOLIC, 130), below(DIASTOLIC, 80)]),
    Goal(
        "dry",
        "weight <= 85 kg and systolic < 140",
        [Target(WEIGHT, high=Bound(Quantity(85, "kg"))), below(SYSTOLIC, 140)],
        due=pendulum.date(2026, 3, 9),
    ),
]
ACTIVITIES = [
    Activity("weigh", ActivityKind.MEASUREMENT, CodeableConcept.of("LOINC", WEIGHT), Timing()),
]
UNITS = {"[lb_av]": Decimal(1), "kg": Decimal("0.45359237"), "g": Decimal("453.59237")}


@st.composite
def readings(draw):
    """Up to 3 weeks of daily weights (lb, kg or g) and blood pressures, some days missed."""
    days = draw(st.integers(2, 21))
    pounds = Decimal(180)
    observations = []
    for d in range(days):
        if draw(st.integers(0, 5)):
            pounds += Decimal(draw(st.integers(-15, 30))) / 10
            unit = draw(st.sampled_from(sorted(UNITS)))
            moment = at(d, 6, draw(st.integers(0, 180)))
            observations.append(weight(f"w{d}", moment, pounds * UNITS[unit], unit))
        if draw(st.integers(0, 5)):
            moment = at(d, 6, draw(st.integers(0, 180)))
            systolic, diastolic = draw(st.integers(115, 190)), draw(st.integers(70, 100))
            observations.append(pressure(f"b{d}", moment, systolic, diastolic))
    return observations


def run(observations, end):
    monitor = Monitor(horizon=HORIZON)
    monitor.watch(plan(goals=GOALS, activities=ACTIVITIES), RULES)
    for observation in observations:
        monitor.ingest(observation)
    monitor.advance(FixedClock(end))
    return monitor.snapshot("p1", FixedClock(end))


def by_time(observations):
    return sorted(observations, key=lambda o: (epoch_us(o.effective), o.id))


def comparable(items):
    """Open alerts; a goal alert's start depends on what the monitor saw when (see docs)."""
    return sorted(
        (i.alert, i.rule, i.severity, epoch_us(i.since))
        if i.kind is not AlertKind.GOAL
        else ("goal", i.rule, i.severity, 0)
        for i in items
    )


@given(data=st.data(), observations=readings())
def test_any_arrival_order_gives_the_same_goals_and_overdue_activities(data, observations):
    shuffled = data.draw(st.permutations(observations))
    end = at(22)
    expected, actual = run(by_time(observations), end), run(shuffled, end)
    assert actual.goals == expected.goals
    assert actual.overdue == expected.overdue
    time_based = [i for i in expected.worklist if i.kind in (AlertKind.MISSING, AlertKind.OVERDUE)]
    assert [i for i in actual.worklist if i.kind in (AlertKind.MISSING, AlertKind.OVERDUE)] == (
        time_based
    )


@given(data=st.data(), observations=readings())
def test_readings_late_within_the_horizon_give_the_same_open_alerts(data, observations):
    delays = data.draw(
        st.lists(
            st.integers(0, HORIZON // dt.timedelta(minutes=1)),
            min_size=len(observations),
            max_size=len(observations),
        )
    )
    arrival = [
        o
        for _key, o in sorted(
            ((epoch_us(o.effective) + 60_000_000 * delay, o.id), o)
            for o, delay in zip(observations, delays, strict=True)
        )
    ]
    end = at(22)
    expected, actual = run(by_time(observations), end), run(arrival, end)
    assert actual.goals == expected.goals
    assert actual.overdue == expected.overdue
    assert comparable(actual.worklist) == comparable(expected.worklist)
    assert comparable(actual.worklist) == reference_open_alerts(observations)


def reference_open_alerts(observations):
    """The open threshold and trend alerts, recomputed naively from the whole sorted history."""
    ordered = by_time(observations)
    out = []
    for rule in RULES:
        if isinstance(rule, ThresholdRule):
            code = rule.target.measured
            series = [(o, o.quantity(code)) for o in ordered if o.quantity(code) is not None]
            run_start, count = None, 0
            for o, value in series:
                if rule.target.met_by(value):
                    run_start, count = None, 0
                else:
                    run_start, count = run_start or o, count + 1
            if run_start is not None:
                escalated = rule.escalate_after is not None and count >= rule.escalate_after
                severity = rule.escalate_to if escalated else rule.severity
                out.append((rule.id, severity, run_start))
        elif isinstance(rule, TrendRule):
            series = [(epoch_us(o.effective), o, o.canonical(rule.code)) for o in ordered]
            series = [s for s in series if s[2] is not None]
            change = rule.change.to(MEASURES[rule.code].unit).value
            window = rule.window // dt.timedelta(microseconds=1)
            flags = []
            for n, (t, _o, value) in enumerate(series):
                earlier = [v for u, _p, v in series[:n] if u >= t - window]
                flags.append(bool(earlier) and value - min(earlier) >= change)
            if flags and flags[-1]:
                start = len(flags) - 1
                while start > 0 and flags[start - 1]:
                    start -= 1
                out.append((rule.id, rule.severity, series[start][1]))
    open_alerts = [
        (
            stable_id("p1", rule_id, o.effective.in_tz("UTC").isoformat()),
            rule_id,
            severity,
            epoch_us(o.effective),
        )
        for rule_id, severity, o in out
    ]
    # The time-based and goal alerts are not recomputed here; take them from a sorted run.
    others = [
        i
        for i in run(ordered, at(22)).worklist
        if i.kind in (AlertKind.MISSING, AlertKind.OVERDUE, AlertKind.GOAL)
    ]
    return sorted(open_alerts + comparable(others))


# --- worklist -----------------------------------------------------------------------------------


def test_worklist_orders_by_severity_then_age_across_patients():
    monitor = Monitor()
    rules = [
        ThresholdRule("stage2", below(SYSTOLIC, 140)),
        ThresholdRule("severe", below(SYSTOLIC, 180, inclusive=True), severity=Severity.CRITICAL),
    ]
    for patient in ("p1", "p2", "p3"):
        monitor.watch(plan(patient), rules)
    monitor.ingest(pressure("a", at(2), 150, 70, patient="p1"))
    monitor.ingest(pressure("b", at(1), 150, 70, patient="p2"))
    monitor.ingest(pressure("c", at(3), 190, 70, patient="p3"))
    order = [(i.patient, i.rule, i.severity) for i in worklist(monitor)]
    assert order == [
        ("p3", "severe", Severity.CRITICAL),
        ("p2", "stage2", Severity.WARNING),
        ("p1", "stage2", Severity.WARNING),
        ("p3", "stage2", Severity.WARNING),
    ]
    clock = FixedClock(at(4))
    assert worklist(monitor.snapshots(clock)) == worklist(monitor)
    assert isinstance(worklist(monitor)[0], WorklistItem)


# --- inputs that are refused -----------------------------------------------------------------


def watched(patient="p1"):
    monitor = Monitor()
    lab = Activity("lab", ActivityKind.LAB, None, Timing.once(dt.timedelta(days=3)))
    monitor.watch(plan(patient, activities=[lab]), [STAGE2, OverdueRule("lab-late", "lab")])
    monitor.ingest(pressure("b0", at(0), 150, 70, patient=patient))
    (overdue,) = monitor.advance(FixedClock(at(4)))
    assert overdue.rule == "lab-late"
    return monitor


@pytest.mark.parametrize(
    "attempt",
    [
        lambda m: m.ingest(pressure("b0", at(1), 120, 70)),  # duplicate id
        lambda m: m.ingest(pressure("x", at(1), 120, 70, patient=PATIENT_MRN)),
        lambda m: m.ingest({"id": "x", "patient": "p1"}),
        lambda m: m.ingest_event(
            ActivityCompleted(event_id="e", occurred_at=at(1), patient="p1", activity=PATIENT_MRN)
        ),
        lambda m: m.ingest_event(
            ActivityCompleted(event_id="e", occurred_at=at(1), patient=PATIENT_MRN, activity="lab")
        ),
        lambda m: m.advance(FixedClock(at(0))),  # backwards
        lambda m: m.snapshot(PATIENT_MRN, FixedClock(at(1))),
        lambda m: m.watch(plan(), [STAGE2]),  # the same patient twice
        lambda m: m.watch(plan("p2"), [STAGE2, STAGE2]),
        lambda m: m.watch(plan("p2"), [GoalRule("g", "no-such-goal")]),
        lambda m: m.watch(plan("p2"), [OverdueRule("o", "no-such-activity")]),
        lambda m: m.watch(plan("p2"), [ThresholdRule("t", below(SYSTOLIC, 140), escalate_after=0)]),
        lambda m: m.watch(plan("p2"), [MissingRule("m", "0000-0", dt.timedelta(days=1))]),
        lambda m: m.watch(plan("p2"), ["not a rule"]),
    ],
)
def test_refused_inputs_leave_the_state_unchanged_and_name_no_patient_data(attempt):
    monitor = watched()
    before = pickle.dumps(monitor)
    with pytest.raises((ValidationError, ConflictError, RuleError)) as raised:
        attempt(monitor)
    assert pickle.dumps(monitor) == before
    assert_no_phi(str(raised.value))


def test_observations_are_checked_where_they_are_built():
    """Unknown units, wrong value kinds and naive times never reach the monitor."""
    with pytest.raises(ValidationError):
        weight("w", at(0), 180, "mm[Hg]")
    with pytest.raises(ValidationError):
        Observation("w", "p1", WEIGHT, at(0))
    with pytest.raises(NaiveDatetimeError):
        weight("w", dt.datetime(2026, 3, 2, 7), 180)
    with pytest.raises(NaiveDatetimeError):
        Monitor().watch(plan(), [], start=dt.datetime(2026, 3, 2))
    with pytest.raises(ValidationError):
        Monitor(horizon=dt.timedelta(days=-1))


def test_a_repeated_completion_event_is_a_no_op():
    monitor = watched()
    event = ActivityCompleted(event_id="e1", occurred_at=at(5), patient="p1", activity="lab")
    (resolved,) = monitor.ingest_event(event)
    assert resolved.state is AlertState.RESOLVED
    assert monitor.ingest_event(event) == []


def test_completion_events_round_trip_through_json():
    event = ActivityCompleted(
        event_id="e1",
        occurred_at=at(5),
        patient="p1",
        activity="lab",
        evidence=Reference.to("Appointment", "a1"),
    )
    assert from_json(to_json(event), ActivityCompleted) == event


def test_snapshots_and_changes_round_trip_through_json():
    goal = Goal("bp", "BP < 130/80", [below(SYSTOLIC, 130), below(DIASTOLIC, 80)])
    monitor = Monitor()
    monitor.watch(plan(goals=[goal], activities=ACTIVITIES), [STAGE2])
    changes = monitor.ingest(pressure("b0", at(0), 150, 85))
    snapshot = monitor.snapshot("p1", FixedClock(at(3)))
    assert all((snapshot.worklist, snapshot.overdue, snapshot.goals))
    assert from_json(to_json(snapshot), Snapshot) == snapshot
    for change in changes:
        assert from_json(to_json(change), type(change)) == change
