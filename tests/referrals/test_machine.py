import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.core import (
    CodeableConcept,
    FixedClock,
    GuardRejected,
    Interval,
    InvalidTransition,
    OutOfOrderEvent,
    Reference,
    event_class,
    from_json,
    to_dict,
    to_json,
)
from caredomain.referrals import (
    REFERRAL_MACHINE,
    AppointmentBooked,
    AppointmentCancelled,
    AuthorizationDecided,
    AuthorizationRequested,
    CancellationConfirmed,
    CancellationRequested,
    DocumentKind,
    DocumentsSent,
    InterimReportReceived,
    LoopClosed,
    PatientNoShow,
    PatientSeen,
    Referral,
    ReferralAccepted,
    ReferralCancelled,
    ReferralDeclined,
    ReferralEnteredInError,
    ReferralExpired,
    ReferralPutOnHold,
    ReferralReceived,
    ReferralRedirected,
    ReferralResumed,
    ReferralSent,
    ReferralStatus,
    ReferralTarget,
    ReportReceived,
)
from caredomain.testing import strategies as cst
from tests.referrals.conftest import T0, make_referral

S = ReferralStatus


def ev(cls, hours, n=None, **kw):
    return cls(event_id=f"e{n if n is not None else hours}", occurred_at=T0.add(hours=hours), **kw)


def run(referral, *events, clock):
    return REFERRAL_MACHINE.replay(referral, events, clock)


def outcome():
    return Reference.to("DocumentReference", "consult-note-1")


def test_event_types_are_namespaced():
    import caredomain.scheduling  # noqa: F401 - registers the scheduling events

    assert ReferralSent.event_type == "referral.ReferralSent"
    assert event_class("referral.AppointmentBooked") is AppointmentBooked
    assert event_class("AppointmentBooked").__module__ == "caredomain.scheduling.appointments"


def test_orthopedic_referral_from_sent_to_loop_closed(clock):
    ref = make_referral(documents_required=[DocumentKind.NOTES, DocumentKind.IMAGING])
    assert ref.documents_missing == {DocumentKind.NOTES, DocumentKind.IMAGING}
    ref = run(
        ref,
        ev(ReferralSent, 0),
        ev(DocumentsSent, 1, documents=[DocumentKind.NOTES, DocumentKind.IMAGING]),
        ev(ReferralReceived, 2),
        ev(ReferralAccepted, 20),
        ev(AppointmentBooked, 21, appointment="appt-9", start=T0.add(days=10)),
        ev(PatientSeen, 24 * 10 + 1),
        ev(ReportReceived, 24 * 12, documents=[outcome()]),
        ev(LoopClosed, 24 * 13),
        clock=clock,
    )
    assert ref.state is S.CLOSED
    assert ref.documents_missing == frozenset()
    assert ref.appointment == "appt-9"
    assert ref.outcome_documents == (outcome(),)
    assert [e.to_state for e in ref.trail] == [
        "sent", "sent", "received", "accepted", "scheduled", "seen", "report-received", "closed",
    ]  # fmt: skip


def test_cannot_schedule_before_acceptance(clock):
    sent = run(make_referral(), ev(ReferralSent, 0), clock=clock)
    with pytest.raises(InvalidTransition) as info:
        REFERRAL_MACHINE.apply(sent, ev(AppointmentBooked, 1, appointment="a", start=T0), clock)
    assert info.value.state == "sent"


def test_cardiology_referral_waits_for_authorization(clock):
    ref = run(
        make_referral(),
        ev(ReferralSent, 0),
        ev(ReferralAccepted, 1),
        ev(AuthorizationRequested, 2, case="pa-77"),
        clock=clock,
    )
    assert ref.state is S.AWAITING_AUTHORIZATION
    with pytest.raises(InvalidTransition):
        REFERRAL_MACHINE.apply(ref, ev(AppointmentBooked, 3, appointment="a", start=T0), clock)
    denied = REFERRAL_MACHINE.apply(
        ref, ev(AuthorizationDecided, 4, case="pa-77", status="denied"), clock
    ).value
    assert denied.state is S.AWAITING_AUTHORIZATION  # a denial goes to appeal; the referral waits
    assert denied.authorization.status == "denied"
    approved = REFERRAL_MACHINE.apply(
        denied, ev(AuthorizationDecided, 30, case="pa-77", status="approved"), clock
    ).value
    assert approved.state is S.ACCEPTED
    booked = REFERRAL_MACHINE.apply(
        approved, ev(AppointmentBooked, 31, appointment="a", start=T0), clock
    )
    assert booked.value.state is S.SCHEDULED


def test_authorization_guard_blocks_scheduling_when_required(clock):
    ref = run(
        make_referral(authorization_required=True),
        ev(ReferralSent, 0),
        ev(ReferralAccepted, 1),
        clock=clock,
    )
    with pytest.raises(GuardRejected) as info:
        REFERRAL_MACHINE.apply(ref, ev(AppointmentBooked, 2, appointment="a", start=T0), clock)
    assert info.value.guard == "authorization-approved"
    assert "not requested" in info.value.reason


def test_declined_referral_is_redirected_to_another_specialist(clock):
    other = ReferralTarget(performer=Reference.to("Practitioner", "dr-other-ortho"))
    ref = run(
        make_referral(),
        ev(ReferralSent, 0),
        ev(
            ReferralDeclined,
            1,
            reason=CodeableConcept.of("http://example.org/decline", "no-capacity"),
        ),
        clock=clock,
    )
    assert ref.state is S.DECLINED
    assert ref.trail.last.reason == "no-capacity"
    ref = run(ref, ev(ReferralRedirected, 2, target=other), ev(ReferralAccepted, 3), clock=clock)
    assert ref.state is S.ACCEPTED
    assert ref.target == other
    assert ref.decline_reason is None


def test_no_show_is_rescheduled(clock):
    ref = run(
        make_referral(),
        ev(ReferralSent, 0),
        ev(ReferralAccepted, 1),
        ev(AppointmentBooked, 2, appointment="a1", start=T0.add(days=3)),
        ev(PatientNoShow, 24 * 3 + 1),
        clock=clock,
    )
    assert ref.state is S.NO_SHOW
    ref = run(
        ref, ev(AppointmentBooked, 24 * 3 + 2, appointment="a2", start=T0.add(days=9)), clock=clock
    )
    assert (ref.state, ref.appointment) == (S.SCHEDULED, "a2")


def test_closing_needs_an_outcome_or_a_coded_override(clock):
    seen = run(
        make_referral(),
        ev(ReferralSent, 0),
        ev(ReferralAccepted, 1),
        ev(AppointmentBooked, 2, appointment="a1", start=T0.add(days=1)),
        ev(PatientSeen, 26),
        clock=clock,
    )
    with pytest.raises(GuardRejected, match="override"):
        REFERRAL_MACHINE.apply(seen, ev(LoopClosed, 27), clock)
    moved_away = CodeableConcept.of("http://example.org/closure", "patient-moved")
    closed = REFERRAL_MACHINE.apply(
        seen, ev(LoopClosed, 27, override_reason=moved_away), clock
    ).value
    assert closed.state is S.CLOSED
    assert closed.closure_reason == moved_away
    with pytest.raises(GuardRejected):
        REFERRAL_MACHINE.apply(seen, ev(ReportReceived, 28, documents=[]), clock)


def test_terminal_states_accept_only_corrections(clock):
    cancelled = run(make_referral(), ev(ReferralCancelled, 0), clock=clock)
    assert cancelled.state is S.CANCELLED
    with pytest.raises(InvalidTransition, match="terminal"):
        REFERRAL_MACHINE.apply(cancelled, ev(ReferralSent, 1), clock)
    fixed = REFERRAL_MACHINE.apply(cancelled, ev(ReferralEnteredInError, 2), clock).value
    assert fixed.state is S.ENTERED_IN_ERROR


def test_cancellation_is_requested_then_confirmed(clock):
    ref = run(
        make_referral(),
        ev(ReferralSent, 0),
        ev(ReferralAccepted, 1),
        ev(CancellationRequested, 2),
        clock=clock,
    )
    assert ref.state is S.CANCEL_REQUESTED
    assert run(ref, ev(CancellationConfirmed, 3), clock=clock).state is S.CANCELLED
    # The recipient may still report an outcome (BSeR transition 24).
    assert (
        run(ref, ev(ReportReceived, 3, documents=[outcome()]), clock=clock).state
        is S.REPORT_RECEIVED
    )


def test_hold_resumes_where_it_was(clock):
    ref = run(
        make_referral(),
        ev(ReferralSent, 0),
        ev(ReferralReceived, 1),
        ev(ReferralPutOnHold, 2),
        clock=clock,
    )
    assert (ref.state, ref.held_from) == (S.ON_HOLD, S.RECEIVED)
    assert run(ref, ev(ReferralResumed, 3), clock=clock).state is S.RECEIVED


def test_expiry_only_after_the_validity_period(clock):
    validity = Interval(T0, T0.add(days=90))
    ref = run(make_referral(validity=validity), ev(ReferralSent, 0), clock=clock)
    with pytest.raises(GuardRejected, match="not ended"):
        REFERRAL_MACHINE.apply(ref, ev(ReferralExpired, 24 * 30), clock)
    assert REFERRAL_MACHINE.apply(ref, ev(ReferralExpired, 24 * 90), clock).value.state is S.EXPIRED


def test_duplicates_are_no_ops_and_out_of_order_is_rejected(clock):
    ref = run(make_referral(), ev(ReferralSent, 5), clock=clock)
    again = REFERRAL_MACHINE.apply(ref, ev(ReferralSent, 5), clock)
    assert again.duplicate
    assert again.value is ref
    with pytest.raises(OutOfOrderEvent):
        REFERRAL_MACHINE.apply(ref, ev(ReferralAccepted, 4), clock)


def test_visit_cancelled_then_rescheduled(clock):
    ref = run(
        make_referral(),
        ev(ReferralSent, 0),
        ev(ReferralAccepted, 1),
        ev(AppointmentBooked, 2, appointment="a1", start=T0.add(days=2)),
        ev(AppointmentCancelled, 3),
        clock=clock,
    )
    assert (ref.state, ref.appointment) == (S.VISIT_CANCELLED, None)
    assert (
        run(
            ref, ev(AppointmentBooked, 4, appointment="a2", start=T0.add(days=5)), clock=clock
        ).state
        is S.SCHEDULED
    )


def test_interim_report_counts_as_seen(clock):
    ref = run(
        make_referral(),
        ev(ReferralSent, 0),
        ev(ReferralAccepted, 1),
        ev(InterimReportReceived, 2),
        clock=clock,
    )
    assert ref.state is S.SEEN
    assert ref.seen_at == T0.add(hours=2)


def test_referral_round_trips_as_json(clock):
    ref = run(
        make_referral(documents_required=[DocumentKind.LABS]),
        ev(ReferralSent, 0),
        ev(ReferralAccepted, 1),
        ev(AuthorizationRequested, 2, case="pa-1"),
        clock=clock,
    )
    back = from_json(to_json(ref), Referral)
    assert back == ref
    assert to_dict(back)["state"] == "awaiting-authorization"


# --- properties ----------------------------------------------------------------------------

FACTORIES = [
    lambda: {"cls": ReferralSent},
    lambda: {"cls": ReferralReceived},
    lambda: {"cls": ReferralAccepted},
    lambda: {"cls": ReferralDeclined},
    lambda: {
        "cls": ReferralRedirected,
        "target": ReferralTarget(performer=Reference.to("Organization", "o2")),
    },
    lambda: {"cls": DocumentsSent, "documents": [DocumentKind.NOTES]},
    lambda: {"cls": AuthorizationRequested, "case": "pa"},
    lambda: {"cls": AuthorizationDecided, "case": "pa", "status": "approved"},
    lambda: {"cls": AuthorizationDecided, "case": "pa", "status": "denied"},
    lambda: {"cls": AppointmentBooked, "appointment": "a", "start": T0},
    lambda: {"cls": AppointmentCancelled},
    lambda: {"cls": PatientNoShow},
    lambda: {"cls": PatientSeen},
    lambda: {"cls": InterimReportReceived},
    lambda: {"cls": ReportReceived, "documents": [outcome()]},
    lambda: {"cls": LoopClosed},
    lambda: {"cls": LoopClosed, "override_reason": CodeableConcept.of("http://example.org/c", "x")},
    lambda: {"cls": CancellationRequested},
    lambda: {"cls": CancellationConfirmed},
    lambda: {"cls": ReferralCancelled},
    lambda: {"cls": ReferralExpired},
    lambda: {"cls": ReferralPutOnHold},
    lambda: {"cls": ReferralResumed},
    lambda: {"cls": ReferralEnteredInError},
]


@settings(max_examples=150)
@given(st.lists(st.integers(0, len(FACTORIES) - 1), max_size=40), st.booleans())
def test_any_sequence_stays_declared_and_replays(choices, needs_auth):
    ref = make_referral(authorization_required=needs_auth, validity=Interval(T0, T0.add(days=3)))
    clock = FixedClock(T0.add(days=400))
    recorded = []
    for n, choice in enumerate(choices):
        spec = FACTORIES[choice]()
        cls = spec.pop("cls")
        event = cls(event_id=f"e{n}", occurred_at=T0.add(hours=2 * n), **spec)
        try:
            applied = REFERRAL_MACHINE.apply(ref, event, clock)
        except InvalidTransition:
            continue
        ref = applied.value
        recorded.append(applied.event)
        assert ref.state in set(ReferralStatus)
        if ref.state is S.SCHEDULED and needs_auth:
            assert ref.authorized
    assert (
        REFERRAL_MACHINE.replay(
            make_referral(authorization_required=needs_auth, validity=Interval(T0, T0.add(days=3))),
            recorded,
        )
        == ref
    )
    if ref.state is S.CLOSED:
        assert ref.outcome_documents or ref.closure_reason is not None
    assert from_json(to_json(ref), Referral) == ref


def test_every_state_is_reachable():
    reached, frontier = {REFERRAL_MACHINE.initial}, [REFERRAL_MACHINE.initial]
    while frontier:
        state = frontier.pop()
        for row in REFERRAL_MACHINE.transitions:
            if state in row.sources:
                for target in row.possible_targets(state):
                    if target not in reached:
                        reached.add(target)
                        frontier.append(target)
    assert reached == set(ReferralStatus)


def test_every_event_class_has_a_transition():
    in_table = {row.event for row in REFERRAL_MACHINE.transitions}
    import caredomain.referrals.machine as machine

    declared = {
        getattr(machine, n)
        for n in machine.__all__
        if n not in {"REFERRAL_MACHINE", "ReferralEvent"}
    }
    assert declared == in_table
    assert all(attrs.has(cls) for cls in declared)


@given(cst.referrals())
def test_generated_referrals_round_trip(referral):
    assert from_json(to_json(referral), Referral) == referral
    assert referral.state is S.DRAFT


def test_booked_visit_start_must_be_aware():
    import datetime as _dt

    from caredomain.core import NaiveDatetimeError

    with pytest.raises(NaiveDatetimeError) as info:
        AppointmentBooked(
            event_id="e", occurred_at=T0, appointment="a", start=_dt.datetime(2026, 12, 3, 9)
        )
    assert info.value.location == "AppointmentBooked.start"
