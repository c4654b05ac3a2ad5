"""The ``referrals`` area: applying and replaying events on ``REFERRAL_MACHINE``.

Peer: ``transitions``, with the same referral machine declared on it (the same 17 states and
transitions, the guards as conditions, the effects as ``before`` callbacks) and the same
per-event bookkeeping done around it: duplicate event ids are no-ops, an event older than
the last applied one is refused, and every applied event leaves an audit record.

The workload: referrals along five realistic paths of exactly 10 events each, mixed as
8:3:4:3:2 (see ``PATHS``):

* ``standard``: sent, documents sent, received, accepted, booked, rescheduled, seen,
  interim note, report, loop closed;
* ``no-show``: sent, documents, received, accepted, booked, no-show, booked again, seen,
  report, closed;
* ``authorization``: sent, received, accepted, authorization requested, approved,
  documents, booked (guarded by the approval), seen, report, closed;
* ``cancelled-visit``: sent, received, accepted, booked, visit cancelled, booked again,
  seen, the same "seen" message delivered twice (a duplicate id: a no-op), report, closed;
* ``redirected``: sent, received, declined, redirected to another specialist, received,
  accepted, booked, seen, report, closed.

Cases (``python -m benchmarks referrals``; batch = events per call, so ops/s is events/s):

* ``referral-replay``: 1,000 referrals x 10 recorded events, each replayed from its draft
  (``REFERRAL_MACHINE.replay``) - rebuilding values from an event store.
* ``referral-replay-unbound``: the same, with the peer firing
  ``Machine.events[name].trigger(model, event)`` on models never registered with
  ``add_model`` - transitions' own lower bound: that call is what the bound ``model.trigger``
  does, minus binding ~40 methods onto each new model (see the differences below).
* ``referral-apply-stream``: the same 10,000 events as they arrive, interleaved across the
  1,000 referrals in time order, unstamped; each is applied to the referral's current value
  held in a dict, and the clock stamps ``recorded_at``.

The 1,000,000-event replay (100,000 referrals x 10 events) takes about 20 seconds per side,
too long for the harness' calibration and five repeats of each side; it runs *once* per side
as a separate line, after the cases, with ``python -m benchmarks.referrals`` (add
``--skip-million`` to leave it out, ``--referrals N`` to change its size).

Differences that remain, by design of each library (none is configured away):

* caredomain's referral is a frozen attrs value: each applied event builds a new
  ``Referral`` (``attrs.evolve``, re-running its field converters and validators), a
  validated ``AuditEntry`` and a new ``AuditTrail``; the kernel looks the transition up by
  event class. The peer mutates one plain model object in place and appends a tuple to a
  list; transitions looks the transition up by trigger name and resolves conditions and
  callbacks by name on the model (its documented style).
* transitions binds triggers to each model (``Machine.add_model``: a ``trigger`` method,
  one method per trigger and an ``is_<state>`` method per state) and keeps registered
  models in a list; each peer value is registered when created and removed at the end of
  the call, and that cost is timed (about 40% of the peer's replay time here); caredomain
  needs no per-value set-up (its drafts are immutable and shared). ``referral-replay-unbound``
  shows the peer without it.
* transitions reports a refused condition as a ``False`` return value and an impossible
  trigger as ``MachineError``; the wrapper turns ``False`` into an error, as caredomain's
  ``GuardRejected`` is. No event of the workload is refused, so neither error path is timed.
* When stamping, caredomain copies the event with its ``recorded_at``
  (``attrs.evolve``); the peer writes the stamp into its audit tuple only.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pendulum
import transitions
from pendulum import DateTime

from benchmarks._harness import Case, Result, package_label, run_case
from caredomain.core import (
    CodeableConcept,
    DomainEvent,
    FixedClock,
    GuardRejected,
    Identifier,
    OutOfOrderEvent,
    Reference,
    epoch_us,
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

TRANSITIONS = package_label("transitions")
CHI = "America/Chicago"
START = pendulum.datetime(2026, 3, 2, 8, tz=CHI)
CLOCK = FixedClock(pendulum.datetime(2027, 1, 1, tz=CHI))
REPEATED_REFERRALS = 1_000
MILLION_REFERRALS = 100_000
EVENTS_PER_REFERRAL = 10

# --- the workload --------------------------------------------------------------------------

ORTHO = ReferralTarget(
    specialty=CodeableConcept.of("SNOMED", "394801008", "Trauma and orthopedics"),
    performer=Reference.to("Organization", "ortho-group"),
    in_network=True,
)
OTHER_ORTHO = ReferralTarget(performer=Reference.to("Practitioner", "dr-other-ortho"))
NOTE = Reference.to("DocumentReference", "consult-note")
NO_CAPACITY = CodeableConcept.of("http://example.org/decline", "no-capacity")
PACKAGE = frozenset({DocumentKind.NOTES, DocumentKind.IMAGING})


def _draft(authorization_required: bool) -> Referral:
    return Referral(
        id="draft",
        patient=Reference.to("Patient", "p1"),
        requester=Reference.to("Practitioner", "dr-pcp"),
        target=ORTHO,
        reasons=[CodeableConcept.of("ICD-10-CM", "M25.561", "Pain in right knee")],
        documents_required=PACKAGE,
        authorization_required=authorization_required,
    )


DRAFT = _draft(False)
DRAFT_AUTH = _draft(True)

# One step: (event class, hours after the referral's start, extra fields(start) -> dict).
Step = tuple[type[DomainEvent], float, Callable[[DateTime], dict[str, Any]]]


def _none(_start: DateTime) -> dict[str, Any]:
    return {}


def _booked(days: int) -> Callable[[DateTime], dict[str, Any]]:
    return lambda start: {"appointment": f"appt-{days}", "start": _visit(start, days)}


_VISITS: dict[tuple[int, int], DateTime] = {}


def _visit(start: DateTime, days: int) -> DateTime:
    key = (epoch_us(start), days)
    visit = _VISITS.get(key)
    if visit is None:
        visit = _VISITS[key] = start.add(days=days)
    return visit


def _docs(_start: DateTime) -> dict[str, Any]:
    return {"documents": PACKAGE}


def _report(_start: DateTime) -> dict[str, Any]:
    return {"documents": (NOTE,)}


D = 24.0  # hours in a day
PATHS: dict[str, tuple[Referral, tuple[Step | str, ...]]] = {
    "standard": (
        DRAFT,
        (
            (
                ReferralSent,
                0,
                lambda _s: {"placer_id": Identifier(value="placer-1", system="urn:example:placer")},
            ),
            (DocumentsSent, 1, _docs),
            (ReferralReceived, 3, _none),
            (
                ReferralAccepted,
                D,
                lambda _s: {"filler_id": Identifier(value="filler-1", system="urn:example:filler")},
            ),
            (AppointmentBooked, 2 * D, _booked(14)),
            (AppointmentBooked, 5 * D, _booked(16)),
            (PatientSeen, 16 * D, _none),
            (InterimReportReceived, 17 * D, _none),
            (ReportReceived, 20 * D, _report),
            (LoopClosed, 22 * D, _none),
        ),
    ),
    "no-show": (
        DRAFT,
        (
            (ReferralSent, 0, _none),
            (DocumentsSent, 1, _docs),
            (ReferralReceived, 3, _none),
            (ReferralAccepted, D, _none),
            (AppointmentBooked, 2 * D, _booked(10)),
            (PatientNoShow, 10 * D + 1, _none),
            (AppointmentBooked, 11 * D, _booked(20)),
            (PatientSeen, 20 * D, _none),
            (ReportReceived, 24 * D, _report),
            (LoopClosed, 25 * D, _none),
        ),
    ),
    "authorization": (
        DRAFT_AUTH,
        (
            (ReferralSent, 0, _none),
            (ReferralReceived, 2, _none),
            (ReferralAccepted, D, _none),
            (AuthorizationRequested, D + 2, lambda _s: {"case": "pa-1"}),
            (AuthorizationDecided, 4 * D, lambda _s: {"case": "pa-1", "status": "approved"}),
            (DocumentsSent, 4 * D + 1, _docs),
            (AppointmentBooked, 5 * D, _booked(12)),
            (PatientSeen, 12 * D, _none),
            (ReportReceived, 15 * D, _report),
            (LoopClosed, 16 * D, _none),
        ),
    ),
    "cancelled-visit": (
        DRAFT,
        (
            (ReferralSent, 0, _none),
            (ReferralReceived, 2, _none),
            (ReferralAccepted, D, _none),
            (AppointmentBooked, 2 * D, _booked(9)),
            (AppointmentCancelled, 8 * D, _none),
            (AppointmentBooked, 8 * D + 2, _booked(15)),
            (PatientSeen, 15 * D, _none),
            "duplicate",  # the previous message delivered again, same event id
            (ReportReceived, 18 * D, _report),
            (LoopClosed, 19 * D, _none),
        ),
    ),
    "redirected": (
        DRAFT,
        (
            (ReferralSent, 0, _none),
            (ReferralReceived, 2, _none),
            (ReferralDeclined, D, lambda _s: {"reason": NO_CAPACITY}),
            (ReferralRedirected, D + 3, lambda _s: {"target": OTHER_ORTHO}),
            (ReferralReceived, D + 5, _none),
            (ReferralAccepted, 2 * D, _none),
            (AppointmentBooked, 3 * D, _booked(10)),
            (PatientSeen, 10 * D, _none),
            (ReportReceived, 13 * D, _report),
            (LoopClosed, 14 * D, _none),
        ),
    ),
}
MIX = ("standard",) * 8 + ("no-show",) * 3 + ("authorization",) * 4
MIX += ("cancelled-visit",) * 3 + ("redirected",) * 2
FINAL = {"standard", "no-show", "authorization", "cancelled-visit", "redirected"}


_MOMENTS: dict[int, DateTime] = {}


def _moment(minutes: int) -> DateTime:
    """``START + minutes`` (cached: pendulum arithmetic dominates building a million events)."""
    moment = _MOMENTS.get(minutes)
    if moment is None:
        moment = _MOMENTS[minutes] = START.add(minutes=minutes)
    return moment


def _events(n: int, stamped: bool) -> tuple[Referral, list[DomainEvent]]:
    """Referral ``n``'s draft and its 10 events (recorded if ``stamped``).

    Referral ``n`` starts ``n % 1440`` minutes after ``START`` (a day of arrivals, so that
    instants repeat and can be shared), and its events follow its path's offsets.
    """
    draft, steps = PATHS[MIX[n % len(MIX)]]
    base = n % 1440
    start = _moment(base)
    events: list[DomainEvent] = []
    for k, step in enumerate(steps):
        if step == "duplicate":
            events.append(events[-1])
            continue
        assert not isinstance(step, str)
        cls, hours, extra = step
        offset = base + round(hours * 60)
        occurred = _moment(offset)
        recorded = _moment(offset + 1) if stamped else None
        events.append(
            cls(
                event_id=f"r{n}-e{k}",
                occurred_at=occurred,
                recorded_at=recorded,
                **extra(start),
            )
        )
    return draft, events


def workload(referrals: int, stamped: bool) -> list[tuple[Referral, list[DomainEvent]]]:
    """``referrals`` drafts with their events: ``referrals * 10`` events in all.

    Built with the garbage collector paused (set-up, not timed: a million new objects
    would otherwise trigger full collections over and over).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [_events(n, stamped) for n in range(referrals)]
    finally:
        if enabled:
            gc.enable()


def stream(
    work: list[tuple[Referral, list[DomainEvent]]],
) -> list[tuple[int, DomainEvent]]:
    """Every event of ``work`` as (referral index, event), in the order they occur."""
    tagged = [(n, event) for n, (_draft, events) in enumerate(work) for event in events]
    tagged.sort(key=lambda pair: epoch_us(pair[1].occurred_at))  # stable: duplicates stay put
    return tagged


# --- caredomain ----------------------------------------------------------------------------


def ours_replay(work: list[tuple[Referral, list[DomainEvent]]]) -> list[Referral]:
    replay = REFERRAL_MACHINE.replay
    return [replay(draft, events) for draft, events in work]


def ours_stream(drafts: list[Referral], arrivals: list[tuple[int, DomainEvent]]) -> list[Referral]:
    values = list(drafts)
    apply = REFERRAL_MACHINE.apply
    for n, event in arrivals:
        values[n] = apply(values[n], event, CLOCK).value
    return values


# --- transitions ---------------------------------------------------------------------------

S = ReferralStatus


class PeerReferral:
    """The referral as a transitions model: a plain object, changed in place.

    The callbacks mirror ``caredomain.referrals.machine``'s guards and effects one for one.
    """

    state: str
    trigger: Callable[..., bool]  # bound by transitions.Machine.add_model

    def __init__(self, draft: Referral) -> None:
        self.id = draft.id
        self.target = draft.target
        self.placer_id = draft.placer_id
        self.filler_id = draft.filler_id
        self.documents_required = draft.documents_required
        self.documents_sent = draft.documents_sent
        self.authorization_required = draft.authorization_required
        self.authorization: tuple[str, str] | None = None
        self.appointment: str | None = None
        self.visit_at: DateTime | None = None
        self.seen_at: DateTime | None = None
        self.outcome_documents: tuple[Reference, ...] = ()
        self.validity = draft.validity
        self.held_from: str | None = None
        self.decline_reason: CodeableConcept | None = None
        self.closure_reason: CodeableConcept | None = None
        self.trail: list[tuple[Any, ...]] = []
        self.event_ids: set[str] = set()
        self.last_us: int | None = None

    # guards (conditions)
    def can_book(self, _event: AppointmentBooked) -> bool:
        if not self.authorization_required:
            return True
        return self.authorization is not None and self.authorization[1] == "approved"

    def has_documents(self, event: ReportReceived) -> bool:
        return bool(event.documents)

    def outcome_or_override(self, event: LoopClosed) -> bool:
        return bool(self.outcome_documents) or event.override_reason is not None

    def validity_over(self, event: ReferralExpired) -> bool:
        return self.validity is not None and epoch_us(event.occurred_at) >= self.validity.end_us

    def decision_goes_on(self, event: AuthorizationDecided) -> bool:
        return event.status == "approved" or not self.authorization_required

    def held_from_received(self, _event: ReferralResumed) -> bool:
        return self.held_from == S.RECEIVED.value

    def held_from_awaiting(self, _event: ReferralResumed) -> bool:
        return self.held_from == S.AWAITING_AUTHORIZATION.value

    def held_from_scheduled(self, _event: ReferralResumed) -> bool:
        return self.held_from == S.SCHEDULED.value

    def held_from_accepted(self, _event: ReferralResumed) -> bool:
        return self.held_from in (None, S.ACCEPTED.value)

    # effects (before callbacks)
    def on_sent(self, event: ReferralSent) -> None:
        self.placer_id = event.placer_id or self.placer_id

    def on_accepted(self, event: ReferralAccepted) -> None:
        self.filler_id = event.filler_id or self.filler_id

    def on_declined(self, event: ReferralDeclined) -> None:
        self.decline_reason = event.reason

    def on_redirected(self, event: ReferralRedirected) -> None:
        self.target = event.target
        self.filler_id = None
        self.decline_reason = None
        self.appointment = None

    def on_documents(self, event: DocumentsSent) -> None:
        self.documents_sent = self.documents_sent | event.documents

    def on_auth_requested(self, event: AuthorizationRequested) -> None:
        self.authorization_required = True
        self.authorization = (event.case, "requested")

    def on_auth_decided(self, event: AuthorizationDecided) -> None:
        self.authorization = (event.case, event.status)

    def on_booked(self, event: AppointmentBooked) -> None:
        self.appointment = event.appointment
        self.visit_at = event.start

    def on_visit_cancelled(self, _event: AppointmentCancelled) -> None:
        self.appointment = None
        self.visit_at = None

    def on_seen(self, event: PatientSeen) -> None:
        self.seen_at = event.occurred_at

    def on_interim(self, event: InterimReportReceived) -> None:
        self.seen_at = self.seen_at or event.occurred_at

    def on_report(self, event: ReportReceived) -> None:
        self.outcome_documents = (*self.outcome_documents, *event.documents)

    def on_closed(self, event: LoopClosed) -> None:
        self.closure_reason = event.override_reason

    def on_hold(self, _event: ReferralPutOnHold) -> None:
        self.held_from = self.state


_HOLDABLE = [S.RECEIVED, S.ACCEPTED, S.AWAITING_AUTHORIZATION, S.SCHEDULED]
_TERMINAL = {S.CLOSED, S.CANCELLED, S.EXPIRED, S.ENTERED_IN_ERROR}
_ACTIVE = [s for s in S if s not in _TERMINAL]
_IN_FLIGHT = [
    S.SENT,
    S.RECEIVED,
    S.ACCEPTED,
    S.AWAITING_AUTHORIZATION,
    S.SCHEDULED,
    S.VISIT_CANCELLED,
    S.NO_SHOW,
    S.SEEN,
    S.ON_HOLD,
]


def _v(states: Sequence[S] | S) -> list[str]:
    return [states.value] if isinstance(states, S) else [s.value for s in states]


def _t(trigger: str, source: Sequence[S] | S, dest: S | None, **kw: Any) -> dict[str, Any]:
    return {
        "trigger": trigger,
        "source": _v(source),
        "dest": dest.value if dest is not None else None,
        **kw,
    }


# The table of caredomain.referrals.machine, row for row. A ``choose`` row becomes one row
# per target with complementary conditions; a self-loop (target None) is an internal
# transition (dest None) when the row has no fixed target.
PEER_TRANSITIONS: list[dict[str, Any]] = [
    _t("send", S.DRAFT, S.SENT, before="on_sent"),
    _t("receive", S.SENT, S.RECEIVED),
    _t("accept", [S.SENT, S.RECEIVED], S.ACCEPTED, before="on_accepted"),
    _t(
        "decline",
        [
            S.SENT,
            S.RECEIVED,
            S.ACCEPTED,
            S.AWAITING_AUTHORIZATION,
            S.SCHEDULED,
            S.VISIT_CANCELLED,
            S.NO_SHOW,
        ],
        S.DECLINED,
        before="on_declined",
    ),
    _t("redirect", S.DECLINED, S.SENT, before="on_redirected"),
    _t("send_documents", [s for s in _ACTIVE if s is not S.DECLINED], None, before="on_documents"),
    _t(
        "request_authorization",
        [S.ACCEPTED, S.AWAITING_AUTHORIZATION],
        S.AWAITING_AUTHORIZATION,
        before="on_auth_requested",
    ),
    _t(
        "decide_authorization",
        [S.ACCEPTED, S.AWAITING_AUTHORIZATION],
        S.ACCEPTED,
        conditions="decision_goes_on",
        before="on_auth_decided",
    ),
    _t(
        "decide_authorization",
        [S.ACCEPTED, S.AWAITING_AUTHORIZATION],
        S.AWAITING_AUTHORIZATION,
        unless="decision_goes_on",
        before="on_auth_decided",
    ),
    _t(
        "book",
        [S.ACCEPTED, S.SCHEDULED, S.VISIT_CANCELLED, S.NO_SHOW],
        S.SCHEDULED,
        conditions="can_book",
        before="on_booked",
    ),
    _t("cancel_visit", S.SCHEDULED, S.VISIT_CANCELLED, before="on_visit_cancelled"),
    _t("no_show", S.SCHEDULED, S.NO_SHOW),
    _t("see", S.SCHEDULED, S.SEEN, before="on_seen"),
    _t("interim_report", [S.ACCEPTED, S.SCHEDULED, S.SEEN], S.SEEN, before="on_interim"),
    _t(
        "report",
        [S.ACCEPTED, S.SCHEDULED, S.SEEN, S.CANCEL_REQUESTED],
        S.REPORT_RECEIVED,
        conditions="has_documents",
        before="on_report",
    ),
    _t(
        "close",
        [
            S.REPORT_RECEIVED,
            S.SEEN,
            S.NO_SHOW,
            S.DECLINED,
            S.VISIT_CANCELLED,
            S.ACCEPTED,
            S.AWAITING_AUTHORIZATION,
            S.SCHEDULED,
            S.ON_HOLD,
        ],
        S.CLOSED,
        conditions="outcome_or_override",
        before="on_closed",
    ),
    _t("request_cancellation", [s for s in _IN_FLIGHT if s is not S.SEEN], S.CANCEL_REQUESTED),
    _t("confirm_cancellation", S.CANCEL_REQUESTED, S.CANCELLED),
    _t("cancel", S.DRAFT, S.CANCELLED),
    _t(
        "expire",
        [
            S.SENT,
            S.RECEIVED,
            S.ACCEPTED,
            S.AWAITING_AUTHORIZATION,
            S.VISIT_CANCELLED,
            S.NO_SHOW,
            S.ON_HOLD,
        ],
        S.EXPIRED,
        conditions="validity_over",
    ),
    _t("hold", _HOLDABLE, S.ON_HOLD, before="on_hold"),
    _t("resume", S.ON_HOLD, S.RECEIVED, conditions="held_from_received"),
    _t("resume", S.ON_HOLD, S.ACCEPTED, conditions="held_from_accepted"),
    _t("resume", S.ON_HOLD, S.AWAITING_AUTHORIZATION, conditions="held_from_awaiting"),
    _t("resume", S.ON_HOLD, S.SCHEDULED, conditions="held_from_scheduled"),
    _t("enter_in_error", [s for s in S if s is not S.ENTERED_IN_ERROR], S.ENTERED_IN_ERROR),
]
TRIGGERS: dict[type[DomainEvent], str] = {
    ReferralSent: "send",
    ReferralReceived: "receive",
    ReferralAccepted: "accept",
    ReferralDeclined: "decline",
    ReferralRedirected: "redirect",
    DocumentsSent: "send_documents",
    AuthorizationRequested: "request_authorization",
    AuthorizationDecided: "decide_authorization",
    AppointmentBooked: "book",
    AppointmentCancelled: "cancel_visit",
    PatientNoShow: "no_show",
    PatientSeen: "see",
    InterimReportReceived: "interim_report",
    ReportReceived: "report",
    LoopClosed: "close",
    CancellationRequested: "request_cancellation",
    CancellationConfirmed: "confirm_cancellation",
    ReferralCancelled: "cancel",
    ReferralExpired: "expire",
    ReferralPutOnHold: "hold",
    ReferralResumed: "resume",
    ReferralEnteredInError: "enter_in_error",
}
PEER_MACHINE = transitions.Machine(
    model=None,
    states=[s.value for s in S],
    initial=S.DRAFT.value,
    transitions=PEER_TRANSITIONS,
    auto_transitions=False,
)


PEER_EVENTS = {cls: PEER_MACHINE.events[name] for cls, name in TRIGGERS.items()}


def peer_apply(
    model: PeerReferral, event: DomainEvent, clock: FixedClock | None = None, bound: bool = True
) -> bool:
    """Apply ``event`` with the same checks and record as `Machine.apply`; False if a dup.

    ``bound``: fire through the trigger method ``add_model`` bound to the model (the
    documented style); else through ``Machine.events[name].trigger(model, ...)``, which is
    what that method calls, on a model never registered.
    """
    if event.event_id in model.event_ids:
        return False
    occurred_us = epoch_us(event.occurred_at)
    if model.last_us is not None and occurred_us < model.last_us:
        raise OutOfOrderEvent("referral", model.state, event.event_type, "out of order")
    recorded_at = event.recorded_at
    if recorded_at is None:
        assert clock is not None
        recorded_at = clock.now()
    source = model.state
    if bound:
        done = model.trigger(TRIGGERS[type(event)], event)
    else:
        done = PEER_EVENTS[type(event)].trigger(model, event)
    if not done:
        raise GuardRejected("referral", source, event.event_type, "condition", "refused")
    model.trail.append(
        (
            event.event_id,
            event.event_type,
            event.occurred_at,
            recorded_at,
            source,
            model.state,
            event.actor,
            event.audit_reason(),
        )
    )
    model.event_ids.add(event.event_id)
    model.last_us = occurred_us
    return True


def peer_replay(work: list[tuple[Referral, list[DomainEvent]]]) -> list[PeerReferral]:
    machine = PEER_MACHINE
    out = []
    for draft, events in work:
        model = PeerReferral(draft)
        machine.add_model(model)
        for event in events:
            peer_apply(model, event)
        machine.remove_model(model)
        out.append(model)
    return out


def peer_replay_unbound(work: list[tuple[Referral, list[DomainEvent]]]) -> list[PeerReferral]:
    initial = PEER_MACHINE.initial
    out = []
    for draft, events in work:
        model = PeerReferral(draft)
        model.state = initial
        for event in events:
            peer_apply(model, event, bound=False)
        out.append(model)
    return out


def peer_stream(
    drafts: list[Referral], arrivals: list[tuple[int, DomainEvent]]
) -> list[PeerReferral]:
    machine = PEER_MACHINE
    models = [PeerReferral(draft) for draft in drafts]
    for model in models:
        machine.add_model(model)
    for n, event in arrivals:
        peer_apply(models[n], event, CLOCK)
    for model in models:
        machine.remove_model(model)
    return models


# --- agreement -----------------------------------------------------------------------------


def _summary(value: Referral | PeerReferral) -> tuple[Any, ...]:
    if isinstance(value, Referral):
        trail = [(e.event_id, e.from_state, e.to_state, e.reason) for e in value.trail]
        auth = value.authorization and (value.authorization.case, value.authorization.status)
        state = value.state.value
    else:
        trail = [(row[0], row[4], row[5], row[7]) for row in value.trail]
        auth = value.authorization
        state = value.state
    return (
        state,
        trail,
        value.target,
        value.appointment,
        value.visit_at and epoch_us(value.visit_at),
        value.seen_at and epoch_us(value.seen_at),
        value.outcome_documents,
        value.documents_sent,
        auth,
        value.placer_id,
        value.filler_id,
    )


def check_agree(ours: Sequence[Referral], peer: Sequence[PeerReferral]) -> None:
    assert len(ours) == len(peer)
    for a, b in zip(ours, peer, strict=True):
        assert _summary(a) == _summary(b), (_summary(a), _summary(b))
    assert all(value.state is S.CLOSED for value in ours)


# --- cases ---------------------------------------------------------------------------------

WORK = workload(REPEATED_REFERRALS, stamped=True)
LIVE = workload(REPEATED_REFERRALS, stamped=False)
DRAFTS = [draft for draft, _events in LIVE]
ARRIVALS = stream(LIVE)
BATCH = sum(len(events) for _draft, events in WORK)


def replay_check() -> None:
    ours = ours_replay(WORK)
    check_agree(ours, peer_replay(WORK))
    check_agree(ours, peer_replay_unbound(WORK))


def stream_check() -> None:
    ours = ours_stream(DRAFTS, ARRIVALS)
    peer = peer_stream(DRAFTS, ARRIVALS)
    check_agree(ours, peer)
    # Stamped from the clock: every audit entry was recorded "now".
    assert all(e.recorded_at == CLOCK.now() for value in ours for e in value.trail)


CASES = [
    Case(
        "referral-replay",
        lambda: ours_replay(WORK),
        TRANSITIONS,
        lambda: peer_replay(WORK),
        BATCH,
        replay_check,
    ),
    Case(
        "referral-replay-unbound",
        lambda: ours_replay(WORK),
        f"{TRANSITIONS} (no add_model)",
        lambda: peer_replay_unbound(WORK),
        BATCH,
        replay_check,
    ),
    Case(
        "referral-apply-stream",
        lambda: ours_stream(DRAFTS, ARRIVALS),
        TRANSITIONS,
        lambda: peer_stream(DRAFTS, ARRIVALS),
        len(ARRIVALS),
        stream_check,
    ),
]


# --- the one-shot million ------------------------------------------------------------------


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def replay_once(referrals: int = MILLION_REFERRALS) -> Iterator[str]:
    """Replay ``referrals * 10`` recorded events once per side; yield the report lines.

    One timed run each: caredomain, transitions (``add_model`` per referral), transitions
    without ``add_model``. Every side must end with every referral closed.
    """
    work = workload(referrals, stamped=True)
    events = sum(len(e) for _d, e in work)
    expected = {S.CLOSED.value: referrals}
    seconds_ours, ours = _timed(lambda: ours_replay(work))
    assert Counter(value.state.value for value in ours) == expected
    del ours
    width = len(f"referral-replay-{events // 1000}k-unbound-once")
    for label, peer, replay in (
        ("once", TRANSITIONS, peer_replay),
        ("unbound-once", f"{TRANSITIONS} (no add_model)", peer_replay_unbound),
    ):
        seconds_peer, models = _timed(lambda replay=replay: replay(work))
        assert Counter(model.state for model in models) == expected
        del models
        result = Result(
            area="referrals",
            name=f"referral-replay-{events // 1000}k-{label}",
            ours_ops=events / seconds_ours,
            peer=peer,
            peer_ops=events / seconds_peer,
            batch=events,
        )
        yield result.line(width)
        yield f"  ({events:,} events: caredomain {seconds_ours:.1f} s, peer {seconds_peer:.1f} s)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.referrals",
        description="The repeated referral cases, then the one-shot million-event replay.",
    )
    parser.add_argument("--skip-million", action="store_true", help="only the repeated cases")
    parser.add_argument("--referrals", type=int, default=MILLION_REFERRALS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    width = max(len(case.name) for case in CASES)
    for case in CASES:
        print(run_case("referrals", case, repeat=args.repeat).line(width), flush=True)
    if not args.skip_million:
        for line in replay_once(args.referrals):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
