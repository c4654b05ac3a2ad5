import datetime as dt
import itertools
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import CodeableConcept, FixedClock, Reference, from_json, to_json
from caredomain.referrals import (
    REFERRAL_MACHINE,
    AppointmentBooked,
    LoopClosed,
    PatientSeen,
    ReferralAccepted,
    ReferralCancelled,
    ReferralDeclined,
    ReferralEnteredInError,
    ReferralRedirected,
    ReferralSent,
    ReferralStatus,
    ReferralTarget,
    ReportReceived,
)
from caredomain.referrals.metrics import TIMED_STAGES, LoopClosure, StageTimes, loop_closure
from tests.referrals.conftest import T0, make_referral

S = ReferralStatus
_ids = itertools.count()
DAY = dt.timedelta(days=1)


def ev(cls, days, **kw):
    return cls(event_id=f"m{next(_ids)}", occurred_at=T0.add(days=days), **kw)


def run(referral, *events):
    return REFERRAL_MACHINE.replay(referral, events, FixedClock(T0.add(years=1)))


def target(in_network):
    return ReferralTarget(performer=Reference.to("Organization", "org"), in_network=in_network)


def full_loop(ref_id, accept_days, in_network=True, override=False):
    """Sent at 0, accepted, booked a day later, seen 10 days after, report, closed."""
    events = [
        ev(ReferralSent, 0),
        ev(ReferralAccepted, accept_days),
        ev(AppointmentBooked, accept_days + 1, appointment="a", start=T0.add(days=20)),
        ev(PatientSeen, accept_days + 11),
    ]
    if override:
        reason = CodeableConcept.of("http://example.org/closure", "treated-elsewhere")
        events.append(ev(LoopClosed, accept_days + 12, override_reason=reason))
    else:
        document = Reference.to("DocumentReference", "note")
        events.append(ev(ReportReceived, accept_days + 14, documents=[document]))
        events.append(ev(LoopClosed, accept_days + 15))
    return run(make_referral(id=ref_id, target=target(in_network)), *events)


def test_share_closed_with_outcome_and_by_override():
    referrals = [
        full_loop("a", 1),
        full_loop("b", 2),
        full_loop("c", 3, override=True),
        run(make_referral(id="d"), ev(ReferralSent, 0), ev(ReferralAccepted, 1)),
        make_referral(id="draft"),
        run(make_referral(id="abandoned"), ev(ReferralCancelled, 0)),
        run(make_referral(id="error"), ev(ReferralSent, 0), ev(ReferralEnteredInError, 1)),
    ]
    metrics = loop_closure(referrals)
    assert (metrics.total, metrics.counted) == (7, 4)
    assert (metrics.closed, metrics.closed_with_outcome, metrics.closed_by_override) == (3, 2, 1)
    assert metrics.closed_share == 0.75
    assert metrics.closed_with_outcome_share == 0.5
    assert metrics.closed_by_override_share == 0.25
    assert metrics.count(S.CLOSED) == 3
    assert metrics.count("draft") == 1
    assert metrics.count(S.CANCELLED) == 1
    assert metrics.count(S.ENTERED_IN_ERROR) == 1
    assert metrics.count(S.SEEN) == 0
    assert [state for state, _ in metrics.by_state] == list(S)
    assert sum(n for _, n in metrics.by_state) == metrics.total


def test_median_and_p90_time_to_each_stage():
    referrals = [full_loop(f"r{n}", accept) for n, accept in enumerate([1, 2, 3, 4, 10])]
    metrics = loop_closure(referrals)
    accepted = metrics.time_to(S.ACCEPTED)
    assert accepted == StageTimes(S.ACCEPTED, 5, 3 * DAY, dt.timedelta(days=7.6))
    assert metrics.time_to("scheduled").median == 4 * DAY
    assert metrics.time_to(S.SEEN).median == 14 * DAY
    assert metrics.time_to(S.REPORT_RECEIVED).median == 17 * DAY
    assert metrics.time_to(S.CLOSED).median == 18 * DAY
    assert [t.stage for t in metrics.stage_times] == list(TIMED_STAGES)
    with pytest.raises(KeyError):
        metrics.time_to(S.DECLINED)


def test_time_is_measured_from_the_first_sending_across_a_redirect():
    declined = run(make_referral(), ev(ReferralSent, 0), ev(ReferralDeclined, 2))
    other = target(False)
    ref = run(declined, ev(ReferralRedirected, 3, target=other), ev(ReferralAccepted, 5))
    times = loop_closure([ref]).time_to(S.ACCEPTED)
    assert (times.reached, times.median, times.p90) == (1, 5 * DAY, 5 * DAY)
    assert loop_closure([ref]).leakage == 1.0  # the current target is out of network


def test_leakage_counts_unknown_network_apart():
    referrals = [
        full_loop("in-1", 1, in_network=True),
        full_loop("in-2", 1, in_network=True),
        full_loop("out", 1, in_network=False),
        full_loop("unknown", 1, in_network=None),
    ]
    metrics = loop_closure(referrals)
    assert (metrics.in_network, metrics.out_of_network, metrics.network_unknown) == (2, 1, 1)
    assert metrics.leakage == 0.25
    assert metrics.network_unknown_share == 0.25


def test_empty_and_unsent_sets_have_no_shares():
    for referrals in ([], [make_referral()]):
        metrics = loop_closure(referrals)
        assert metrics.counted == 0
        assert metrics.closed_share is None
        assert metrics.leakage is None
        assert all(t.reached == 0 and t.median is None for t in metrics.stage_times)


def test_metrics_round_trip_json():
    metrics = loop_closure([full_loop("a", 1), full_loop("b", 3, in_network=None)])
    assert from_json(to_json(metrics), LoopClosure) == metrics


@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=40))
def test_percentiles_interpolate_like_statistics_inclusive(waits_us):
    referrals = []
    for n, wait in enumerate(waits_us):
        accepted = T0 + dt.timedelta(microseconds=wait)
        events = [
            ReferralSent(event_id="s", occurred_at=T0),
            ReferralAccepted(event_id="a", occurred_at=accepted),
        ]
        referrals.append(run(make_referral(id=f"r{n}"), *events))
    times = loop_closure(referrals).time_to(S.ACCEPTED)
    assert times.reached == len(waits_us)
    median_us = times.median / dt.timedelta(microseconds=1)
    p90_us = times.p90 / dt.timedelta(microseconds=1)
    assert median_us == pytest.approx(statistics.median(waits_us), abs=1)
    # statistics.quantiles(method="inclusive") is numpy.percentile's default (R type 7).
    p90 = (
        statistics.quantiles(waits_us, n=10, method="inclusive")[8]
        if len(waits_us) > 1
        else waits_us[0]
    )
    assert p90_us == pytest.approx(p90, abs=1, rel=1e-12)
