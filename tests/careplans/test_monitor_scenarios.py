"""Acceptance scenarios for the care-plan monitor (issue 6), asserted exactly.

Plans and rules are built inline: the figures are the ones DOMAIN.md names (AHA/HFSA weight
gain, 2017 ACC/AHA blood-pressure stages, ADA A1C goal, CMS TCM visit windows).
"""

import datetime as dt

import pendulum
import pytest

from caredomain.careplans import (
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
    ObservationSource,
    OverdueRule,
    Severity,
    Target,
    ThresholdRule,
    Timing,
    TrendRule,
)
from caredomain.careplans.monitor import (
    ActivityCompleted,
    GoalStatus,
    GoalStatusChange,
    Monitor,
    OverdueActivity,
    worklist,
)
from caredomain.core import CodeableConcept, FixedClock, Interval, Quantity, Reference, stable_id

CHI = "America/Chicago"
WEIGHT, BP, SYSTOLIC, DIASTOLIC, A1C = "29463-7", "85354-9", "8480-6", "8462-4", "4548-4"


def mm_hg_below(component, value, *, inclusive=False):
    return Target(BP, component=component, high=Bound(Quantity(value, "mm[Hg]"), inclusive))


def weight(oid, moment, value, unit="[lb_av]"):
    return Observation(oid, "pat-hf", WEIGHT, moment, value=Quantity(value, unit))


def pressure(oid, moment, systolic, diastolic):
    return Observation(
        oid,
        "pat-hf",
        BP,
        moment,
        components=[
            Component(SYSTOLIC, Quantity(systolic, "mm[Hg]")),
            Component(DIASTOLIC, Quantity(diastolic, "mm[Hg]")),
        ],
    )


def row(change):
    """An alert change as (time, state, rule, severity, evidence, message)."""
    return (
        change.at.isoformat(),
        change.state.value,
        change.rule,
        change.severity.value,
        change.evidence,
        change.message,
    )


def feed(monitor, items):
    changes = []
    for item in items:
        if isinstance(item, Observation):
            changes += monitor.ingest(item)
        elif isinstance(item, ActivityCompleted):
            changes += monitor.ingest_event(item)
        else:
            changes += monitor.advance(FixedClock(item))
    return changes


# --- scenario 3: heart-failure monitoring at home ----------------------------------------


def day(n, hour, minute=0):
    """Day ``n`` of the heart-failure week (day 0 = Monday 2026-03-02, Chicago).

    The week crosses the start of US daylight saving time (Sunday 2026-03-08), so day 6's
    07:00 is 23 hours after day 5's: still inside a 1-day trend window.
    """
    return pendulum.datetime(2026, 3, 2, hour, minute, tz=CHI).add(days=n)


HF_PLAN = CarePlan(
    "hf-plan",
    Reference.to("Patient", "pat-hf"),
    "Heart failure: daily weight and blood pressure at home",
    period=Interval(day(0, 0), day(90, 0)),
    goals=[
        Goal(
            "bp-below-130-80",
            "Blood pressure below 130/80 (2017 ACC/AHA goal for most adults)",
            [mm_hg_below(SYSTOLIC, 130), mm_hg_below(DIASTOLIC, 80)],
        )
    ],
    activities=[
        Activity(
            "daily-weight",
            ActivityKind.MEASUREMENT,
            CodeableConcept.of("LOINC", WEIGHT),
            Timing(1, 1, "d"),
        ),
        Activity(
            "daily-bp", ActivityKind.MEASUREMENT, CodeableConcept.of("LOINC", BP), Timing(1, 1, "d")
        ),
    ],
)
HF_RULES = [
    # AHA/HFSA patient guidance: call when weight rises > 2-3 lb in a day or > 5 lb in a week.
    TrendRule("hf-weight-1d", WEIGHT, Quantity(2, "[lb_av]"), dt.timedelta(days=1)),
    TrendRule("hf-weight-7d", WEIGHT, Quantity(5, "[lb_av]"), dt.timedelta(days=7)),
    # 2017 ACC/AHA stage 2: systolic >= 140 or diastolic >= 90 (a reading outside "< 140").
    ThresholdRule("bp-stage2-systolic", mm_hg_below(SYSTOLIC, 140), escalate_after=3),
    ThresholdRule("bp-stage2-diastolic", mm_hg_below(DIASTOLIC, 90)),
    # Severe: systolic > 180 and/or diastolic > 120.
    ThresholdRule(
        "bp-severe-systolic",
        mm_hg_below(SYSTOLIC, 180, inclusive=True),
        severity=Severity.CRITICAL,
    ),
    ThresholdRule(
        "bp-severe-diastolic",
        mm_hg_below(DIASTOLIC, 120, inclusive=True),
        severity=Severity.CRITICAL,
    ),
    MissingRule("hf-weight-missing", WEIGHT, dt.timedelta(days=2)),
]

# The week as it arrives: weights in lb and kg, no weight on day 3, and day 3's blood
# pressure delivered late (after day 4's). The coordinator's system advances every noon and
# once early on day 4.
HF_WEEK = [
    weight("w0", day(0, 7), "180.0"),
    pressure("bp0", day(0, 7, 5), 132, 84),
    day(0, 12),
    weight("w1", day(1, 7), "81.8", "kg"),  # 180.34 lb
    pressure("bp1", day(1, 7, 5), 138, 86),
    day(1, 12),
    weight("w2", day(2, 7), "181.0"),
    pressure("bp2", day(2, 7, 5), 142, 88),
    day(2, 12),
    day(3, 12),  # no weight today; the cuff's reading (bp3) has not synced yet
    day(4, 7, 30),
    weight("w4", day(4, 7, 40), "185.2"),
    pressure("bp4", day(4, 7, 45), 150, 94),
    pressure("bp3", day(3, 7, 5), 146, 88),  # late: measured yesterday
    day(4, 12),
    weight("w5", day(5, 7), "187.6"),
    pressure("bp5", day(5, 7, 5), 128, 82),
    day(5, 12),
    weight("w6", day(6, 7), "84.8", "kg"),  # 186.95 lb
    pressure("bp6", day(6, 7, 5), 184, 88),
    day(6, 12),
]

HF_EXPECTED = [
    (
        "2026-03-04T07:05:00-06:00",
        "raised",
        "bp-stage2-systolic",
        "warning",
        ("bp2",),
        "systolic blood pressure 142 mm[Hg] outside target < 140 mm[Hg]",
    ),
    (
        "2026-03-06T07:00:00-06:00",
        "raised",
        "hf-weight-missing",
        "warning",
        ("w2",),
        "no body weight reading for more than 2 days",
    ),
    (
        "2026-03-06T07:40:00-06:00",
        "resolved",
        "hf-weight-missing",
        "warning",
        ("w4",),
        "body weight reading received",
    ),
    (
        "2026-03-06T07:40:00-06:00",
        "raised",
        "hf-weight-7d",
        "warning",
        ("w0", "w4"),
        "body weight rose 5.2 [lb_av] within 7 days",
    ),
    (
        "2026-03-06T07:45:00-06:00",
        "raised",
        "bp-stage2-diastolic",
        "warning",
        ("bp4",),
        "diastolic blood pressure 94 mm[Hg] outside target < 90 mm[Hg]",
    ),
    (
        # The late bp3 makes bp4 the third consecutive stage-2 reading: the escalation lands
        # where sorted data would have put it, with the same evidence.
        "2026-03-06T07:45:00-06:00",
        "escalated",
        "bp-stage2-systolic",
        "critical",
        ("bp2", "bp3", "bp4"),
        "systolic blood pressure outside target < 140 mm[Hg] for 3 consecutive readings",
    ),
    (
        "2026-03-07T07:00:00-06:00",
        "raised",
        "hf-weight-1d",
        "warning",
        ("w4", "w5"),
        "body weight rose 2.4 [lb_av] within 1 day",
    ),
    (
        "2026-03-07T07:05:00-06:00",
        "resolved",
        "bp-stage2-systolic",
        "critical",
        ("bp5",),
        "systolic blood pressure back within target < 140 mm[Hg]",
    ),
    (
        "2026-03-07T07:05:00-06:00",
        "resolved",
        "bp-stage2-diastolic",
        "warning",
        ("bp5",),
        "diastolic blood pressure back within target < 90 mm[Hg]",
    ),
    (
        "2026-03-08T07:00:00-05:00",
        "resolved",
        "hf-weight-1d",
        "warning",
        ("w6",),
        "body weight no longer up 2 [lb_av] within 1 day",
    ),
    (
        "2026-03-08T07:05:00-05:00",
        "raised",
        "bp-stage2-systolic",
        "warning",
        ("bp6",),
        "systolic blood pressure 184 mm[Hg] outside target < 140 mm[Hg]",
    ),
    (
        "2026-03-08T07:05:00-05:00",
        "raised",
        "bp-severe-systolic",
        "critical",
        ("bp6",),
        "systolic blood pressure 184 mm[Hg] outside target <= 180 mm[Hg]",
    ),
]


def hf_monitor():
    monitor = Monitor()
    monitor.watch(HF_PLAN, HF_RULES)
    return monitor


def test_heart_failure_week_raises_exactly_the_expected_alerts():
    changes = feed(hf_monitor(), HF_WEEK)
    alerts = [c for c in changes if isinstance(c, Alert)]
    assert [row(a) for a in alerts] == HF_EXPECTED


def test_heart_failure_alert_ids_name_the_episode():
    alerts = [c for c in feed(hf_monitor(), HF_WEEK) if isinstance(c, Alert)]
    by_rule = {}
    for alert in alerts:
        by_rule.setdefault(alert.rule, []).append(alert)
    first, escalated, resolved, again = by_rule["bp-stage2-systolic"]
    assert first.id == escalated.id == resolved.id != again.id
    assert first.id == stable_id("pat-hf", "bp-stage2-systolic", "2026-03-04T13:05:00+00:00")
    missing_raised, missing_resolved = by_rule["hf-weight-missing"]
    # A missing-reading episode starts at its deadline: the last weight + 2 days.
    assert missing_raised.id == missing_resolved.id
    assert missing_raised.id == stable_id(
        "pat-hf", "hf-weight-missing", "2026-03-06T13:00:00+00:00"
    )
    assert {a.patient for a in alerts} == {"pat-hf"}
    assert {a.kind for a in alerts} == {AlertKind.THRESHOLD, AlertKind.TREND, AlertKind.MISSING}


def test_heart_failure_goal_moves_with_each_blood_pressure():
    changes = feed(hf_monitor(), HF_WEEK)
    statuses = [
        (c.at.isoformat(), c.previous, c.status) for c in changes if isinstance(c, GoalStatusChange)
    ]
    g = GoalAchievement
    assert statuses == [
        ("2026-03-02T07:05:00-06:00", None, g.IN_PROGRESS),
        ("2026-03-03T07:05:00-06:00", g.IN_PROGRESS, g.WORSENING),  # 138/86 after 132/84
        ("2026-03-07T07:05:00-06:00", g.WORSENING, g.IMPROVING),  # 128/82 after 150/94
        ("2026-03-08T07:05:00-05:00", g.IMPROVING, g.WORSENING),  # 184/88
    ]


def test_heart_failure_snapshot_and_worklist_at_the_end_of_the_week():
    monitor = hf_monitor()
    feed(monitor, HF_WEEK)
    snapshot = monitor.snapshot("pat-hf", FixedClock(day(6, 12)))
    assert snapshot.goals == (
        GoalStatus("bp-below-130-80", GoalAchievement.WORSENING, day(6, 7, 5), ("bp6",)),
    )
    assert snapshot.overdue == ()
    assert [(i.rule, i.severity, i.since) for i in snapshot.worklist] == [
        ("bp-severe-systolic", Severity.CRITICAL, day(6, 7, 5)),
        ("hf-weight-7d", Severity.WARNING, day(4, 7, 40)),
        ("bp-stage2-systolic", Severity.WARNING, day(6, 7, 5)),
    ]
    assert worklist(monitor) == list(snapshot.worklist)
    assert worklist([snapshot]) == list(snapshot.worklist)


def test_heart_failure_missed_day_shows_the_weighing_overdue_while_it_lasts():
    monitor = hf_monitor()
    feed(monitor, HF_WEEK[: HF_WEEK.index(day(3, 12)) + 1])
    snapshot = monitor.snapshot("pat-hf", FixedClock(day(3, 12)))
    assert snapshot.overdue == (
        OverdueActivity("daily-weight", ActivityKind.MEASUREMENT, day(3, 7), day(2, 7)),
        OverdueActivity("daily-bp", ActivityKind.MEASUREMENT, day(3, 7, 5), day(2, 7, 5)),
    )


def test_heart_failure_week_in_time_order_ends_in_the_same_state():
    in_order = sorted(
        (item for item in HF_WEEK if isinstance(item, Observation)), key=lambda o: o.effective
    )
    monitor = hf_monitor()
    feed(monitor, [*in_order, day(6, 12)])
    clock = FixedClock(day(6, 12))
    assert monitor.snapshot("pat-hf", clock) == hf_end_snapshot(clock)


def hf_end_snapshot(clock):
    monitor = hf_monitor()
    feed(monitor, HF_WEEK)
    return monitor.snapshot("pat-hf", clock)


def test_alert_changes_map_one_to_one_onto_the_cli_lines():
    """`caredomain careplan monitor` prints one NDJSON line per alert change (cli-contracts)."""
    alerts = [c for c in feed(hf_monitor(), HF_WEEK) if isinstance(c, Alert)]
    for alert in alerts:
        line = {
            "alert": alert.id,
            "state": alert.state.value,
            "kind": alert.kind.value,
            "severity": alert.severity.value,
            "at": alert.at.isoformat(),
            "rule": alert.rule,
            "evidence": [f"Observation/{e}" for e in alert.evidence],
        }
        assert line["state"] in {"raised", "escalated", "resolved"}
        assert line["kind"] in {"threshold", "trend", "missing", "overdue", "goal"}
        assert line["severity"] in {"info", "warning", "critical"}
        assert pendulum.parse(line["at"]) == alert.at


# --- scenario 1: a diabetic's A1C ----------------------------------------------------------


def quarter(n):
    """The n-th quarterly A1C draw: 2026-01-05 09:00 Chicago, then every 3 months."""
    return pendulum.datetime(2026, 1, 5, 9, tz=CHI).add(months=3 * n)


A1C_BELOW_7 = Target(A1C, high=Bound(Quantity(7, "%"), inclusive=False))


def diabetes_plan(patient):
    return CarePlan(
        "dm-plan",
        Reference.to("Patient", patient),
        "Type 2 diabetes",
        period=Interval(quarter(0), quarter(6)),
        goals=[
            Goal(
                "a1c-below-7",
                "A1C < 7% (ADA Standards of Care, many adults)",
                [A1C_BELOW_7],
                due=pendulum.date(2027, 3, 31),
            )
        ],
        activities=[
            Activity(
                "a1c-lab", ActivityKind.LAB, CodeableConcept.of("LOINC", A1C), Timing(1, 3, "mo")
            )
        ],
    )


DIABETES_RULES = [
    GoalRule("a1c-goal-slipping", "a1c-below-7"),
    OverdueRule("a1c-lab-overdue", "a1c-lab", grace=dt.timedelta(days=14)),
]


def a1c(patient, n, value, moment=None):
    return Observation(
        f"a1c-{n}",
        patient,
        A1C,
        moment or quarter(n),
        value=Quantity(value, "%"),
        source=ObservationSource.LAB,
    )


def monthly(until):
    """The 20th of each month at noon, from January 2026 to ``until``."""
    moment = pendulum.datetime(2026, 1, 20, 12, tz=CHI)
    while moment <= until:
        yield moment
        moment = moment.add(months=1)


def test_a1c_series_moves_the_goal_through_improving_to_achieved_and_sustaining():
    monitor = Monitor()
    monitor.watch(diabetes_plan("pat-dm"), DIABETES_RULES)
    readings = [a1c("pat-dm", n, v) for n, v in enumerate(["9.1", "8.2", "7.4", "6.8", "6.7"])]
    items = sorted(
        [*readings, *monthly(quarter(4).add(days=20))],
        key=lambda i: i.effective if isinstance(i, Observation) else i,
    )
    changes = feed(monitor, items)
    g = GoalAchievement
    assert [(c.at, c.previous, c.status, c.evidence) for c in changes] == [
        (quarter(0), None, g.IN_PROGRESS, ("a1c-0",)),
        (quarter(1), g.IN_PROGRESS, g.IMPROVING, ("a1c-1",)),  # 8.2 after 9.1
        # 7.4 after 8.2: still improving, so no change is reported
        (quarter(3), g.IMPROVING, g.ACHIEVED, ("a1c-3",)),  # 6.8 < 7
        (quarter(4), g.ACHIEVED, g.SUSTAINING, ("a1c-4",)),  # 6.7: met twice in a row
    ]
    clock = FixedClock(quarter(4).add(days=20))
    assert monitor.snapshot("pat-dm", clock).goals == (
        GoalStatus("a1c-below-7", g.SUSTAINING, quarter(4), ("a1c-4",)),
    )
    assert monitor.snapshot("pat-dm", clock).worklist == ()


def test_a1c_worsening_raises_the_goal_alert_until_the_goal_is_met():
    monitor = Monitor()
    monitor.watch(diabetes_plan("pat-dm"), DIABETES_RULES)
    changes = feed(monitor, [a1c("pat-dm", 0, "8.2"), a1c("pat-dm", 1, "8.4")])
    goal_alerts = [c for c in changes if isinstance(c, Alert)]
    assert [row(a) for a in goal_alerts] == [
        (
            quarter(1).isoformat(),
            "raised",
            "a1c-goal-slipping",
            "warning",
            ("a1c-1",),
            "goal a1c-below-7 is worsening",
        )
    ]
    assert goal_alerts[0].kind is AlertKind.GOAL
    changes = feed(monitor, [a1c("pat-dm", 2, "6.9")])
    assert [(type(c).__name__, c.state if isinstance(c, Alert) else c.status) for c in changes] == [
        ("GoalStatusChange", GoalAchievement.ACHIEVED),
        ("Alert", AlertState.RESOLVED),
    ]
    assert changes[1].id == goal_alerts[0].id


def test_a1c_goal_past_its_due_date_is_not_achieved():
    monitor = Monitor()
    monitor.watch(diabetes_plan("pat-dm"), DIABETES_RULES)
    feed(monitor, [a1c("pat-dm", 0, "8.2"), a1c("pat-dm", 1, "7.9")])
    end_of_due_date = pendulum.datetime(2027, 4, 1, tz=CHI)
    changes = monitor.advance(FixedClock(end_of_due_date.add(hours=1)))
    goal_changes = [c for c in changes if isinstance(c, GoalStatusChange)]
    assert [(c.previous, c.status, c.at) for c in goal_changes] == [
        (GoalAchievement.IMPROVING, GoalAchievement.NOT_ACHIEVED, end_of_due_date)
    ]
    raised = [c for c in changes if isinstance(c, Alert) and c.rule == "a1c-goal-slipping"]
    assert [(a.state, a.at) for a in raised] == [(AlertState.RAISED, end_of_due_date)]


def test_a1c_lab_is_overdue_three_months_and_a_grace_after_the_last_draw():
    monitor = Monitor()
    monitor.watch(diabetes_plan("pat-dm"), DIABETES_RULES)
    late_draw = pendulum.datetime(2026, 5, 10, 9, tz=CHI)
    items = sorted(
        [a1c("pat-dm", 0, "8.0"), a1c("pat-dm", 1, "7.6", late_draw), *monthly(late_draw)],
        key=lambda i: i.effective if isinstance(i, Observation) else i,
    )
    alerts = [c for c in feed(monitor, items) if isinstance(c, Alert)]
    due_plus_grace = pendulum.datetime(2026, 4, 19, 9, tz=CHI)  # 2026-04-05 + 14 days
    assert [row(a) for a in alerts] == [
        (
            due_plus_grace.isoformat(),
            "raised",
            "a1c-lab-overdue",
            "warning",
            (),
            "lab activity a1c-lab overdue: expected 1 per 3 months",
        ),
        (
            late_draw.isoformat(),
            "resolved",
            "a1c-lab-overdue",
            "warning",
            ("a1c-1",),
            "lab activity a1c-lab done",
        ),
    ]


# --- scenario 4: transitional care after discharge -----------------------------------------

NYC = "America/New_York"
DISCHARGE = pendulum.datetime(2026, 3, 2, 15, tz=NYC)


def tcm_plan():
    return CarePlan(
        "tcm-plan",
        Reference.to("Patient", "pat-tcm"),
        "Transitional care after discharge (high complexity)",
        period=Interval(DISCHARGE, DISCHARGE.add(days=30)),
        activities=[
            Activity(
                "tcm-visit",
                ActivityKind.APPOINTMENT,
                CodeableConcept.of("CPT", "99496"),
                # CMS TCM: face-to-face visit within 7 days of discharge (CPT 99496).
                Timing.once(dt.timedelta(days=7)),
            )
        ],
    )


def mornings(days):
    return [pendulum.datetime(2026, 3, 2, 9, tz=NYC).add(days=n) for n in range(1, days + 1)]


def test_tcm_follow_up_missed_on_day_8_is_overdue():
    monitor = Monitor()
    monitor.watch(tcm_plan(), [OverdueRule("tcm-visit-overdue", "tcm-visit")])
    through_day_7 = feed(monitor, mornings(7))
    assert through_day_7 == []
    assert monitor.snapshot("pat-tcm", FixedClock(mornings(7)[-1])).overdue == ()
    day_8 = pendulum.datetime(2026, 3, 10, 9, tz=NYC)
    alerts = monitor.advance(FixedClock(day_8))
    assert [row(a) for a in alerts] == [
        (
            "2026-03-09T15:00:00-04:00",
            "raised",
            "tcm-visit-overdue",
            "warning",
            (),
            "appointment activity tcm-visit overdue: expected within 7 days",
        )
    ]
    assert monitor.snapshot("pat-tcm", FixedClock(day_8)).overdue == (
        OverdueActivity("tcm-visit", ActivityKind.APPOINTMENT, DISCHARGE.add(days=7)),
    )
    seen = pendulum.datetime(2026, 3, 10, 14, tz=NYC)
    done = ActivityCompleted(
        event_id="evt-visit",
        occurred_at=seen,
        patient="pat-tcm",
        activity="tcm-visit",
        evidence=Reference.to("Appointment", "appt-1"),
    )
    resolved = monitor.ingest_event(done)
    assert [(a.state, a.id, a.at) for a in resolved] == [(AlertState.RESOLVED, alerts[0].id, seen)]
    assert monitor.snapshot("pat-tcm", FixedClock(seen)).overdue == ()
    assert monitor.advance(FixedClock(seen.add(days=30))) == []


@pytest.mark.parametrize("visit_day", [1, 6])
def test_tcm_follow_up_within_the_window_never_alerts(visit_day):
    monitor = Monitor()
    monitor.watch(tcm_plan(), [OverdueRule("tcm-visit-overdue", "tcm-visit")])
    visit = ActivityCompleted(
        event_id="evt-visit",
        occurred_at=DISCHARGE.add(days=visit_day),
        patient="pat-tcm",
        activity="tcm-visit",
    )
    items = sorted([*mornings(14), visit], key=lambda i: getattr(i, "occurred_at", i))
    assert feed(monitor, items) == []
