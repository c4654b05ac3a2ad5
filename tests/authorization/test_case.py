import datetime as dt

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.authorization import (
    AUTHORIZATION_MACHINE,
    DEADLINES,
    REVIEW_ACTION_STATE,
    STATE_REVIEW_ACTION,
    AppealDecided,
    AppealFiled,
    AuthorizationCase,
    AuthorizationExpired,
    CaseCancelled,
    CaseStatus,
    CaseSubmitted,
    Decision,
    DecisionReceived,
    InformationProvided,
    InformationRequested,
    Program,
    ReviewAction,
    ReviewPriority,
    ServiceLine,
    UnitsUsed,
    decision_due,
    overdue,
)
from caredomain.core import (
    CodeableConcept,
    FixedClock,
    GuardRejected,
    Interval,
    InvalidTransition,
    Reference,
    Severity,
    from_json,
    to_json,
)

CHI = "America/Chicago"
T0 = pendulum.datetime(2026, 11, 23, 10, tz=CHI)  # Monday of Thanksgiving week
S = CaseStatus
PT = CodeableConcept.of("CPT", "97110", "Therapeutic exercise")
REASON = CodeableConcept.of("http://example.org/denial", "not-medically-necessary")


def case(program=Program.CMS_0057_F, priority=ReviewPriority.STANDARD, units=12):
    return AuthorizationCase(
        "pa-1",
        Reference.to("Patient", "p1"),
        Reference.to("Coverage", "cov-1"),
        program,
        [ServiceLine(PT, units)],
        priority=priority,
    )


def ev(cls, hours, **kw):
    return cls(event_id=f"e{hours}", occurred_at=T0.add(hours=hours), **kw)


CLOCK = FixedClock(T0.add(days=400))


def run(value, *events):
    return AUTHORIZATION_MACHINE.replay(value, events, CLOCK)


def approve(units=None, days=90):
    return Decision(
        ReviewAction.CERTIFIED_IN_TOTAL, units, Interval(T0, T0.add(days=days)), reference="AUTH-9"
    )


def test_submitted_pended_then_approved():
    value = run(
        case(),
        ev(CaseSubmitted, 0),
        ev(InformationRequested, 24),
        ev(InformationProvided, 48),
        ev(DecisionReceived, 60, decision=approve()),
    )
    assert value.state is S.APPROVED
    assert value.submitted_at == T0.add(hours=48)  # the clock restarted with the information
    assert value.units_left == 12
    assert value.status_for_referral == "approved"


def test_denial_needs_a_specific_reason_and_is_appealed_and_overturned():
    submitted = run(case(), ev(CaseSubmitted, 0))
    with pytest.raises(GuardRejected, match="CMS-0057-F"):
        AUTHORIZATION_MACHINE.apply(
            submitted, ev(DecisionReceived, 1, decision=Decision(ReviewAction.NOT_CERTIFIED)), CLOCK
        )
    denied = run(
        submitted,
        ev(DecisionReceived, 2, decision=Decision(ReviewAction.NOT_CERTIFIED, reason=REASON)),
    )
    assert denied.state is S.DENIED
    assert denied.status_for_referral == "denied"
    appeal = run(denied, ev(AppealFiled, 3, kind="peer-to-peer"))
    assert (appeal.state, appeal.appeals) == (S.APPEAL, 1)
    assert appeal.trail.last.reason == "peer-to-peer"
    won = run(appeal, ev(AppealDecided, 30, decision=approve(units=8)))
    assert won.state is S.OVERTURNED
    assert won.units_left == 8
    lost = run(
        appeal, ev(AppealDecided, 30, decision=Decision(ReviewAction.NOT_CERTIFIED, reason=REASON))
    )
    assert lost.state is S.UPHELD
    assert run(lost, ev(AppealFiled, 31, kind="independent-review")).appeals == 2


def test_units_are_consumed_and_exhausted():
    approved = run(case(units=3), ev(CaseSubmitted, 0), ev(DecisionReceived, 1, decision=approve()))
    after_two = run(approved, ev(UnitsUsed, 24, units=2))
    assert (after_two.state, after_two.units_left) == (S.APPROVED, 1)
    with pytest.raises(GuardRejected, match="exceed the 1 authorized unit"):
        AUTHORIZATION_MACHINE.apply(after_two, ev(UnitsUsed, 48, units=2), CLOCK)
    done = run(after_two, ev(UnitsUsed, 48, units=1))
    assert done.state is S.EXHAUSTED
    with pytest.raises(InvalidTransition, match="terminal"):
        AUTHORIZATION_MACHINE.apply(done, ev(UnitsUsed, 49), CLOCK)


def test_partial_approval_limits_units_and_visits_outside_validity_are_refused():
    partial = Decision(
        ReviewAction.CERTIFIED_PARTIAL, 6, Interval(T0, T0.add(days=30)), reason=REASON
    )
    value = run(case(units=12), ev(CaseSubmitted, 0), ev(DecisionReceived, 1, decision=partial))
    assert (value.state, value.units_left) == (S.PARTIALLY_APPROVED, 6)
    with pytest.raises(GuardRejected, match="validity"):
        AUTHORIZATION_MACHINE.apply(value, ev(UnitsUsed, 24 * 31), CLOCK)
    expired = run(value, ev(AuthorizationExpired, 24 * 30))
    assert expired.state is S.EXPIRED


def test_expiry_waits_for_the_end_of_validity():
    approved = run(case(), ev(CaseSubmitted, 0), ev(DecisionReceived, 1, decision=approve(days=10)))
    with pytest.raises(GuardRejected):
        AUTHORIZATION_MACHINE.apply(approved, ev(AuthorizationExpired, 24 * 5), CLOCK)


def test_cancelled_from_an_open_case():
    assert run(case(), ev(CaseSubmitted, 0), ev(CaseCancelled, 1)).state is S.CANCELLED


def test_review_action_mappings_both_ways():
    assert set(REVIEW_ACTION_STATE) == set(ReviewAction)
    assert set(STATE_REVIEW_ACTION) == set(CaseStatus)
    for state, action in STATE_REVIEW_ACTION.items():
        if action is not None and state not in {S.APPEAL, S.OVERTURNED, S.UPHELD}:
            assert REVIEW_ACTION_STATE[action] is state
    assert REVIEW_ACTION_STATE[ReviewAction.MODIFIED] is S.PARTIALLY_APPROVED
    assert REVIEW_ACTION_STATE[ReviewAction.CONTACT_PAYER] is S.PENDED


def test_case_round_trips_as_json():
    value = run(case(), ev(CaseSubmitted, 0), ev(DecisionReceived, 1, decision=approve(units=4)))
    assert from_json(to_json(value), AuthorizationCase) == value


# --- deadlines -----------------------------------------------------------------------------


def test_cms_0057_f_deadlines():
    standard = run(case(), ev(CaseSubmitted, 0))
    assert decision_due(standard) == T0.add(days=7)
    expedited = run(case(priority=ReviewPriority.EXPEDITED), ev(CaseSubmitted, 0))
    assert decision_due(expedited) == T0.add(hours=72)
    assert DEADLINES[Program.CMS_0057_F].source.startswith("CMS-0057-F")


def test_dmepos_five_business_days_capped_at_seven_calendar_days():
    # Submitted Monday before Thanksgiving: 5 business days ends Tuesday 1 December,
    # but 7 calendar days (Monday 30 November 10:00) comes first.
    value = run(case(program=Program.MEDICARE_DMEPOS), ev(CaseSubmitted, 0))
    assert decision_due(value) == T0.add(days=7)
    # Submitted on a Friday with no holiday: 5 business days (end of next Friday) < 7 days + ...
    friday = run(
        case(program=Program.MEDICARE_DMEPOS),
        CaseSubmitted(event_id="f", occurred_at=pendulum.datetime(2026, 12, 4, 16, tz=CHI)),
    )
    assert decision_due(friday) == pendulum.datetime(2026, 12, 11, 16, tz=CHI)
    expedited = run(
        case(program=Program.MEDICARE_DMEPOS, priority=ReviewPriority.EXPEDITED),
        ev(CaseSubmitted, 0),
    )
    assert decision_due(expedited) == pendulum.datetime(
        2026, 11, 26, tz=CHI
    )  # Mon + 2 business days ends Wed


def test_no_clock_while_pended_or_decided():
    pended = run(case(), ev(CaseSubmitted, 0), ev(InformationRequested, 1))
    assert decision_due(pended) is None
    assert decision_due(case()) is None
    assert decision_due(run(case(program=Program.OTHER), ev(CaseSubmitted, 0))) is None


def test_overdue_worklist():
    late = run(case(), ev(CaseSubmitted, 0))
    soon = AuthorizationCase(
        "pa-2", Reference.to("Patient", "p2"), Reference.to("Coverage", "c2"), Program.CMS_0057_F,
        [ServiceLine(PT)], priority=ReviewPriority.EXPEDITED,
    )  # fmt: skip
    soon = AUTHORIZATION_MACHINE.apply(
        soon, CaseSubmitted(event_id="s", occurred_at=T0.add(days=6)), CLOCK
    ).value
    clock = FixedClock(T0.add(days=8))
    items = overdue([soon, late], clock, warn_within=dt.timedelta(days=2))
    assert [(i.case, i.severity) for i in items] == [
        ("pa-1", Severity.CRITICAL),
        ("pa-2", Severity.WARNING),
    ]
    assert "past due by 1 day" in items[0].reason


EVENTS = [
    lambda h: CaseSubmitted(event_id=f"e{h}", occurred_at=T0.add(hours=h)),
    lambda h: InformationRequested(event_id=f"e{h}", occurred_at=T0.add(hours=h)),
    lambda h: InformationProvided(event_id=f"e{h}", occurred_at=T0.add(hours=h)),
    lambda h: DecisionReceived(
        event_id=f"e{h}", occurred_at=T0.add(hours=h), decision=approve(units=3, days=30)
    ),
    lambda h: DecisionReceived(
        event_id=f"e{h}",
        occurred_at=T0.add(hours=h),
        decision=Decision(ReviewAction.NOT_CERTIFIED, reason=REASON),
    ),
    lambda h: AppealFiled(event_id=f"e{h}", occurred_at=T0.add(hours=h)),
    lambda h: AppealDecided(
        event_id=f"e{h}", occurred_at=T0.add(hours=h), decision=approve(units=2, days=30)
    ),
    lambda h: UnitsUsed(event_id=f"e{h}", occurred_at=T0.add(hours=h)),
    lambda h: AuthorizationExpired(event_id=f"e{h}", occurred_at=T0.add(hours=h)),
    lambda h: CaseCancelled(event_id=f"e{h}", occurred_at=T0.add(hours=h)),
]


@settings(max_examples=150)
@given(st.lists(st.integers(0, len(EVENTS) - 1), max_size=30))
def test_any_sequence_keeps_units_and_states_consistent(choices):
    value, recorded = case(units=5), []
    for n, choice in enumerate(choices):
        try:
            applied = AUTHORIZATION_MACHINE.apply(value, EVENTS[choice](n * 12), CLOCK)
        except InvalidTransition:
            continue
        value = applied.value
        recorded.append(applied.event)
        assert value.state in set(CaseStatus)
        if value.units_left is not None:
            assert 0 <= value.units_left <= (value.units_authorized or 0)
    assert AUTHORIZATION_MACHINE.replay(case(units=5), recorded) == value


def test_deadlines_refuse_naive_times():
    from caredomain.authorization import DeadlineRule
    from caredomain.core import BusinessCalendar, NaiveDatetimeError

    with pytest.raises(NaiveDatetimeError) as info:
        DeadlineRule(business_days=2).due(dt.datetime(2026, 12, 1, 9), BusinessCalendar())
    assert info.value.location == "DeadlineRule.due(start)"
