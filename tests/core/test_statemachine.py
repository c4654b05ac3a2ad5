"""The kernel, exercised on a FHIR Task-like referral machine declared here."""

import itertools
from enum import StrEnum

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    Applied,
    AuditTrail,
    DomainEvent,
    FixedClock,
    Guard,
    GuardRejected,
    InvalidTransition,
    Machine,
    OutOfOrderEvent,
    RuleError,
    Transition,
    ValidationError,
)


class Status(StrEnum):
    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"


@attrs.frozen
class Job:
    id: str
    state: Status = Status.DRAFT
    trail: AuditTrail = attrs.field(factory=AuditTrail)
    report: str | None = None


@attrs.frozen(kw_only=True)
class Sent(DomainEvent):
    pass


@attrs.frozen(kw_only=True)
class Accepted(DomainEvent):
    pass


@attrs.frozen(kw_only=True)
class Started(DomainEvent):
    pass


@attrs.frozen(kw_only=True)
class Rescheduled(DomainEvent):
    pass


@attrs.frozen(kw_only=True)
class Finished(DomainEvent):
    report: str | None = None
    override_reason: str | None = None

    def audit_reason(self) -> str | None:
        return self.override_reason


@attrs.frozen(kw_only=True)
class Cancelled(DomainEvent):
    pass


@attrs.frozen(kw_only=True)
class MarkedInError(DomainEvent):
    pass


def _needs_report(_job: Job, event: Finished) -> str | None:
    if event.report is None and event.override_reason is None:
        return "no outcome document and no override reason"
    return None


def _store_report(job: Job, event: Finished) -> Job:
    return attrs.evolve(job, report=event.report)


S = Status
ACTIVE = {S.DRAFT, S.REQUESTED, S.ACCEPTED, S.IN_PROGRESS}
MACHINE: Machine[Status, Job] = Machine(
    "job",
    Status,
    initial=S.DRAFT,
    terminal={S.COMPLETED, S.CANCELLED, S.ENTERED_IN_ERROR},
    transitions=[
        Transition(Sent, S.DRAFT, S.REQUESTED),
        Transition(Accepted, S.REQUESTED, S.ACCEPTED),
        Transition(Started, S.ACCEPTED, S.IN_PROGRESS),
        Transition(Rescheduled, {S.ACCEPTED, S.IN_PROGRESS}, None),
        Transition(
            Finished,
            S.IN_PROGRESS,
            S.COMPLETED,
            guards=[Guard("outcome-documented", _needs_report)],
            effect=_store_report,
        ),
        Transition(Cancelled, ACTIVE, S.CANCELLED),
        Transition(
            MarkedInError, set(Status) - {S.ENTERED_IN_ERROR}, S.ENTERED_IN_ERROR, correction=True
        ),
    ],
)

T0 = pendulum.datetime(2026, 3, 2, 9, tz="America/Chicago")
CLOCK = FixedClock(T0.add(days=30))


def ev(cls, n, **kw):
    return cls(event_id=f"e{n}", occurred_at=T0.add(hours=n), **kw)


def run(*events):
    return MACHINE.replay(Job("j1"), events, CLOCK)


def test_happy_path_records_every_step():
    job = run(ev(Sent, 1), ev(Accepted, 2), ev(Started, 3), ev(Finished, 4, report="note-1"))
    assert job.state is S.COMPLETED
    assert job.report == "note-1"
    assert [(e.from_state, e.to_state) for e in job.trail] == [
        ("draft", "requested"),
        ("requested", "accepted"),
        ("accepted", "in-progress"),
        ("in-progress", "completed"),
    ]
    assert all(e.recorded_at == CLOCK.now() for e in job.trail)


def test_apply_returns_new_value_and_the_recorded_event():
    job = Job("j1")
    applied = MACHINE.apply(job, ev(Sent, 1), CLOCK)
    assert isinstance(applied, Applied)
    assert job.state is S.DRAFT  # unchanged: values are frozen
    assert applied.value.state is S.REQUESTED
    assert applied.event.recorded_at == CLOCK.now()
    assert not applied.duplicate


def test_self_loop_keeps_state():
    job = run(ev(Sent, 1), ev(Accepted, 2), ev(Rescheduled, 3))
    assert job.state is S.ACCEPTED
    assert job.trail.last.to_state == "accepted"


def test_duplicate_event_id_is_a_no_op():
    job = run(ev(Sent, 1), ev(Accepted, 2))
    again = MACHINE.apply(job, ev(Accepted, 2), CLOCK)
    assert again.duplicate
    assert again.value is job


def test_illegal_transition_names_state_and_event():
    with pytest.raises(InvalidTransition) as info:
        run(ev(Started, 1))
    err = info.value
    assert (err.machine, err.state, err.event) == ("job", "draft", "Started")
    assert "expected one of: Cancelled, MarkedInError, Sent" in err.reason


def test_guard_refusal_gives_its_reason():
    job = run(ev(Sent, 1), ev(Accepted, 2), ev(Started, 3))
    with pytest.raises(GuardRejected) as info:
        MACHINE.apply(job, ev(Finished, 4), CLOCK)
    assert info.value.guard == "outcome-documented"
    assert "no outcome document" in str(info.value)
    assert MACHINE.can_apply(job, ev(Finished, 4)) is not None
    closed = MACHINE.apply(job, ev(Finished, 4, override_reason="patient-declined"), CLOCK)
    assert closed.value.trail.last.reason == "patient-declined"


def test_terminal_states_accept_only_corrections():
    job = run(ev(Sent, 1), ev(Cancelled, 2))
    with pytest.raises(InvalidTransition) as info:
        MACHINE.apply(job, ev(Accepted, 3), CLOCK)
    assert "terminal" in info.value.reason
    corrected = MACHINE.apply(job, ev(MarkedInError, 4), CLOCK).value
    assert corrected.state is S.ENTERED_IN_ERROR


def test_out_of_order_event_is_rejected():
    job = run(ev(Sent, 5))
    with pytest.raises(OutOfOrderEvent):
        MACHINE.apply(job, ev(Accepted, 4), CLOCK)


def test_unrecorded_event_needs_a_clock():
    with pytest.raises(ValidationError):
        MACHINE.apply(Job("j1"), ev(Sent, 1))
    recorded = ev(Sent, 1, recorded_at=T0.add(hours=2))
    assert MACHINE.apply(Job("j1"), recorded).event.recorded_at == T0.add(hours=2)


def test_subclassed_events_trigger_their_parents_transition():
    @attrs.frozen(kw_only=True)
    class SentByFax(Sent):
        pass

    assert run(ev(SentByFax, 1)).state is S.REQUESTED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": "nowhere"}, "initial state"),
        (
            {
                "transitions": [
                    Transition(Sent, S.DRAFT, S.REQUESTED),
                    Transition(Sent, S.DRAFT, S.ACCEPTED),
                ]
            },
            "two transitions",
        ),
        ({"transitions": [Transition(Sent, S.COMPLETED, S.DRAFT)]}, "not a correction"),
        ({"transitions": [Transition(Sent, set(), S.DRAFT)]}, "no source"),
    ],
)
def test_inconsistent_tables_are_rule_errors(kwargs, message):
    args = {
        "initial": S.DRAFT,
        "terminal": {S.COMPLETED},
        "transitions": [Transition(Sent, S.DRAFT, S.REQUESTED)],
    } | kwargs
    with pytest.raises(RuleError, match=message):
        Machine("bad", Status, **args)


def test_undeclared_target_is_a_rule_error():
    class Other(StrEnum):
        X = "x"

    with pytest.raises(RuleError, match="undeclared"):
        Machine("bad", Status, S.DRAFT, (), [Transition(Sent, S.DRAFT, Other.X)])


def test_mermaid_is_generated_from_the_table():
    text = MACHINE.to_mermaid()
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert '    state "in-progress" as in_progress' in lines
    assert "    [*] --> draft" in lines
    assert "    draft --> requested : Sent" in lines
    assert "    in_progress --> completed : Finished [outcome-documented]" in lines
    assert "    accepted --> accepted : Rescheduled" in lines
    assert "    completed --> [*]" in lines
    assert sum(1 for line in lines if line.endswith("--> entered_in_error : MarkedInError")) == 6


# --- properties ---------------------------------------------------------------------------

EVENT_TYPES = [Sent, Accepted, Started, Rescheduled, Finished, Cancelled, MarkedInError]


@st.composite
def event_sequences(draw):
    kinds = draw(st.lists(st.sampled_from(EVENT_TYPES), max_size=25))
    events = []
    for n, kind in enumerate(kinds):
        extra = {"report": draw(st.none() | st.just("r"))} if kind is Finished else {}
        # Sometimes reuse an earlier id: replays deliver duplicates.
        if events and draw(st.integers(0, 9)) == 0:
            events.append(draw(st.sampled_from(events)))
        else:
            events.append(kind(event_id=f"e{n}", occurred_at=T0.add(minutes=n), **extra))
    return events


def _apply_leniently(events):
    job, applied = Job("j1"), []
    for event in events:
        try:
            result = MACHINE.apply(job, event, CLOCK)
        except InvalidTransition:
            continue
        if not result.duplicate:
            applied.append(result.event)
        job = result.value
    return job, applied


@given(event_sequences())
def test_random_sequences_stay_in_declared_states(events):
    job, _ = _apply_leniently(events)
    assert job.state in set(Status)
    for entry in job.trail:
        assert entry.to_state in {s.value for s in Status}
    ids = [entry.event_id for entry in job.trail]
    assert len(ids) == len(set(ids))


@given(event_sequences())
def test_replaying_recorded_events_reproduces_the_value(events):
    job, recorded = _apply_leniently(events)
    assert MACHINE.replay(Job("j1"), recorded) == job
    # ...and replaying again on top changes nothing (idempotent).
    assert MACHINE.replay(job, recorded) == job


@given(event_sequences())
def test_terminal_states_are_left_only_by_corrections(events):
    job, _ = _apply_leniently(events)
    entries = list(job.trail)
    for before, after in itertools.pairwise(entries):
        if Status(before.to_state) in MACHINE.terminal:
            assert after.event_type == "MarkedInError"


# --- targets chosen from the value (a hold resumes where it was) -----------------------------


class Light(StrEnum):
    OFF = "off"
    DIM = "dim"
    ON = "on"
    PAUSED = "paused"


@attrs.frozen
class Lamp:
    state: Light = Light.OFF
    trail: AuditTrail = attrs.field(factory=AuditTrail)
    before_pause: Light | None = None


@attrs.frozen(kw_only=True)
class Dimmed(DomainEvent):
    pass


@attrs.frozen(kw_only=True)
class Paused(DomainEvent):
    pass


@attrs.frozen(kw_only=True)
class Resumed(DomainEvent):
    pass


def _remember(lamp, _event):
    return attrs.evolve(lamp, before_pause=lamp.state)


LAMP = Machine(
    "lamp",
    Light,
    Light.OFF,
    (),
    [
        Transition(Dimmed, Light.OFF, Light.DIM),
        Transition(Paused, {Light.DIM, Light.ON}, Light.PAUSED, effect=_remember),
        Transition(
            Resumed,
            Light.PAUSED,
            None,
            choose=lambda lamp, _e: lamp.before_pause,
            targets={Light.DIM, Light.ON},
        ),
    ],
)


def test_choose_picks_the_target_from_the_value():
    lamp = LAMP.replay(Lamp(), [ev(Dimmed, 1), ev(Paused, 2), ev(Resumed, 3)], CLOCK)
    assert lamp.state is Light.DIM
    assert "    paused --> dim : Resumed" in LAMP.to_mermaid()
    assert "    paused --> on : Resumed" in LAMP.to_mermaid()


def test_choose_outside_its_targets_is_refused():
    bad = Machine(
        "bad",
        Light,
        Light.OFF,
        (),
        [Transition(Dimmed, Light.OFF, None, choose=lambda *_: Light.PAUSED, targets={Light.ON})],
    )
    with pytest.raises(InvalidTransition, match="undeclared target"):
        bad.apply(Lamp(), ev(Dimmed, 1), CLOCK)


def test_choose_needs_targets_and_no_fixed_target():
    with pytest.raises(RuleError):
        Transition(Dimmed, Light.OFF, Light.ON, choose=lambda *_: Light.ON, targets={Light.ON})
    with pytest.raises(RuleError):
        Transition(Dimmed, Light.OFF, None, choose=lambda *_: Light.ON)
