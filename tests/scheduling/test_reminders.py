import datetime as dt
import json
import textwrap

import attrs
import pendulum
import pytest
from fhir.resources.R4B.communicationrequest import CommunicationRequest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    ContactPoint,
    ContactPointSystem,
    FixedClock,
    Interval,
    NaiveDatetimeError,
    Patient,
    Reference,
    RuleError,
    ValidationError,
    epoch_us,
    from_json,
    stable_id,
    to_json,
)
from caredomain.scheduling import Appointment, AppointmentStatus, Participant
from caredomain.scheduling.reminders import (
    DEFAULT_REMINDER_POLICY,
    PlannedReminder,
    QuietHours,
    ReminderKind,
    ReminderPlanChange,
    ReminderPolicy,
    ReminderRule,
    plan_reminders,
    replan,
)
from caredomain.testing import strategies as cst
from tests.phi import PATIENT_FAMILY, PATIENT_PHONE, assert_no_phi

CHI = "America/Chicago"
NY = "America/New_York"
PHX = "America/Phoenix"
SMS = ContactPointSystem.SMS
EMAIL = ContactPointSystem.EMAIL
PHONE = ContactPointSystem.PHONE
K = ReminderKind
NO_QUIET = ReminderPolicy([ReminderRule.before(dt.timedelta(days=2))], quiet_hours=None)


def patient(tz=CHI, telecom=((SMS, PATIENT_PHONE),), pid="p1"):
    return Patient(pid, telecom=[ContactPoint(s, v) for s, v in telecom], timezone=tz)


def booked(start, minutes=30, aid="appt-1", pid="p1", state=AppointmentStatus.BOOKED):
    return Appointment(
        aid,
        [Participant(Reference.to("Patient", pid)), Participant(Reference.to("Practitioner", "d"))],
        state=state,
        interval=Interval(start, start.add(minutes=minutes)),
    )


def at(*args, tz=CHI):
    return pendulum.datetime(*args, tz=tz)


def plan(start, now, policy=DEFAULT_REMINDER_POLICY, who=None, **kw):
    return plan_reminders(booked(start), who or patient(), policy, FixedClock(now), **kw)


def times(reminders):
    return [(r.kind, r.send_at) for r in reminders]


# --- the default policy, worked through ---------------------------------------------------


def test_default_policy_across_the_spring_dst_change():
    # Monday 2026-03-09 09:00 CDT; clocks sprang forward on Sunday 2026-03-08.
    visit = at(2026, 3, 9, 9)
    planned = plan(visit, now=at(2026, 2, 20, 22))  # booked at 22:00: inside quiet hours
    assert times(planned) == [
        (K.CONFIRMATION, at(2026, 2, 21, 8)),  # waits for the end of quiet hours
        (K.REMINDER, at(2026, 3, 2, 9)),  # 7 days before, 09:00 CST
        (K.REMINDER, at(2026, 3, 7, 9)),  # 2 days before, 09:00 CST: 47 elapsed hours
        (K.REMINDER, at(2026, 3, 9, 8)),  # same morning 07:30 -> 08:00 (quiet until 08:00)
    ]
    assert visit - planned[2].send_at == dt.timedelta(hours=47)
    assert [r.send_at.utcoffset() for r in planned[2:]] == [
        dt.timedelta(hours=-6),
        dt.timedelta(hours=-5),
    ]
    assert all(r.send_at.timezone_name == CHI for r in planned)
    assert all(r.channel is SMS and r.reason is None for r in planned)


def test_default_policy_across_the_autumn_dst_change():
    # Monday 2026-11-02 09:00 CST; clocks fell back on Sunday 2026-11-01.
    visit = at(2026, 11, 2, 9)
    planned = plan(visit, now=at(2026, 10, 1, 12))
    assert times(planned) == [
        (K.CONFIRMATION, at(2026, 10, 1, 12)),  # at booking: now
        (K.REMINDER, at(2026, 10, 26, 9)),
        (K.REMINDER, at(2026, 10, 31, 9)),  # 09:00 CDT: 49 elapsed hours before
        (K.REMINDER, at(2026, 11, 2, 8)),
    ]
    assert visit - planned[2].send_at == dt.timedelta(hours=49)


def test_early_visit_is_reminded_the_evening_before():
    # 08:30 visit: 08:00 would leave less than the hour of minimum notice.
    planned = plan(at(2026, 3, 9, 8, 30), now=at(2026, 3, 1, 12))
    assert planned[-1].send_at == at(2026, 3, 8, 20, 30)  # quiet start 21:00 - 30 min margin
    # A lead-time reminder in quiet hours moves earlier, never later.
    planned = plan(at(2026, 3, 20, 7), now=at(2026, 3, 1, 12))
    assert (K.REMINDER, at(2026, 3, 17, 20, 30)) in times(planned)  # 2 days before 07:00


def test_reminders_use_the_patients_zone_not_the_clinics():
    visit = at(2026, 3, 9, 11)  # 11:00 in Chicago (CDT) is 09:00 in Phoenix (MST, no DST)
    planned = plan(visit, now=at(2026, 2, 1, 12), who=patient(tz=PHX))
    assert all(r.send_at.timezone_name == PHX for r in planned)
    two_days = planned[2]
    assert two_days.send_at == at(2026, 3, 7, 9, tz=PHX)
    assert visit - two_days.send_at == dt.timedelta(hours=48)  # Phoenix kept its clock
    # New York: a 09:00 Chicago visit is 10:00 there; same morning at 08:00 New York time.
    planned = plan(at(2026, 1, 14, 9), now=at(2026, 1, 1, 12), who=patient(tz=NY))
    assert planned[-1].send_at == at(2026, 1, 14, 8, tz=NY)


def test_a_skipped_local_time_moves_forward_and_a_repeated_one_takes_the_first():
    # 2 days before Tuesday 02:30 is Sunday 2026-03-08 02:30, which does not exist.
    planned = plan(at(2026, 3, 10, 2, 30), now=at(2026, 3, 1), policy=NO_QUIET)
    assert planned[0].send_at == at(2026, 3, 8, 3, 30)
    assert planned[0].send_at.utcoffset() == dt.timedelta(hours=-5)
    # 2 days before Tuesday 01:30 is Sunday 2026-11-01 01:30, which happens twice.
    planned = plan(at(2026, 11, 3, 1, 30), now=at(2026, 10, 1), policy=NO_QUIET)
    assert planned[0].send_at.isoformat() == "2026-11-01T01:30:00-05:00"


def test_lead_days_are_calendar_days_and_the_rest_elapsed_time():
    policy = ReminderPolicy([ReminderRule.before(dt.timedelta(days=1, hours=2))], None)
    planned = plan(at(2026, 3, 9, 12), now=at(2026, 3, 1), policy=policy)
    assert planned[0].send_at == at(2026, 3, 8, 10)  # Sunday 12:00 CDT minus 2 hours


# --- now, the past, and the minimum notice ---------------------------------------------


def test_reminders_in_the_past_are_dropped_but_the_confirmation_goes_now():
    visit = at(2026, 6, 10, 14)
    planned = plan(visit, now=at(2026, 6, 6, 10))  # 4 days before: the 7-day one is past
    assert times(planned) == [
        (K.CONFIRMATION, at(2026, 6, 6, 10)),
        (K.REMINDER, at(2026, 6, 8, 14)),
        (K.REMINDER, at(2026, 6, 10, 8)),
    ]
    # A confirmation rule "3 days before" whose time has passed is sent now.
    policy = ReminderPolicy([ReminderRule.before(dt.timedelta(days=3), K.CONFIRMATION)])
    assert times(plan(visit, at(2026, 6, 9, 10), policy)) == [(K.CONFIRMATION, at(2026, 6, 9, 10))]


def test_booking_late_at_night_for_an_early_visit_sends_no_confirmation():
    # Booked at 22:00 for 08:30 next day: quiet until 08:00, later than 07:30 (08:30 - 1h).
    assert plan(at(2026, 6, 10, 8, 30), now=at(2026, 6, 9, 22)) == ()
    # Booked 30 minutes before the visit: inside the minimum notice.
    assert plan(at(2026, 6, 10, 14), now=at(2026, 6, 10, 13, 30)) == ()


def test_minimum_notice_moves_a_late_rule_back():
    policy = ReminderPolicy([ReminderRule.before(dt.timedelta(minutes=15))], None)
    planned = plan(at(2026, 6, 10, 14), now=at(2026, 6, 1), policy=policy)
    assert planned[0].send_at == at(2026, 6, 10, 13)


def test_rules_landing_on_one_instant_make_one_message_the_confirmation_first():
    policy = ReminderPolicy(
        [
            ReminderRule.before(dt.timedelta(days=1)),
            ReminderRule.on_day(dt.time(10), days_before=1),
            ReminderRule.before(dt.timedelta(days=1), K.CONFIRMATION),
        ]
    )
    planned = plan(at(2026, 6, 10, 10), now=at(2026, 6, 1), policy=policy)
    assert times(planned) == [(K.CONFIRMATION, at(2026, 6, 9, 10))]


def test_only_booked_appointments_get_reminders():
    visit = at(2026, 6, 10, 14)
    for state in set(AppointmentStatus) - {AppointmentStatus.BOOKED}:
        appointment = attrs.evolve(booked(visit), state=state)
        assert (
            plan_reminders(appointment, patient(), DEFAULT_REMINDER_POLICY, FixedClock(visit)) == ()
        )


# --- channels -----------------------------------------------------------------------------


def test_channel_is_the_first_preferred_one_the_patient_has():
    both = patient(telecom=[(PHONE, PATIENT_PHONE), (EMAIL, "q@example.org")])
    planned = plan(at(2026, 6, 10, 14), now=at(2026, 6, 1), who=both)
    assert {r.channel for r in planned} == {EMAIL}
    phone_first = ReminderPolicy([ReminderRule.before(dt.timedelta(days=2), channels=["phone"])])
    assert plan(at(2026, 6, 10, 14), at(2026, 6, 1), phone_first, who=both)[0].channel is PHONE


def test_no_matching_contact_point_keeps_the_message_with_a_reason():
    old = Patient("p1", telecom=[ContactPoint(SMS, PATIENT_PHONE, use="old")], timezone=CHI)
    planned = plan(at(2026, 6, 10, 14), now=at(2026, 6, 1), who=old)
    assert len(planned) == 4
    assert all(r.channel is None for r in planned)
    assert "sms, email, phone" in planned[0].reason
    assert_no_phi(planned[0].reason)
    assert "medium" not in planned[0].to_communication_request()


# --- errors -------------------------------------------------------------------------------


def test_the_patients_timezone_is_needed_or_given():
    nowhere = patient(tz=None)
    with pytest.raises(ValidationError) as info:
        plan(at(2026, 6, 10, 14), at(2026, 6, 1), who=nowhere)
    assert info.value.location == "Patient.timezone"
    planned = plan(at(2026, 6, 10, 14), at(2026, 6, 1), who=nowhere, tz=NY)
    assert planned[0].send_at.timezone_name == NY
    with pytest.raises(ValidationError):
        plan(at(2026, 6, 10, 14), at(2026, 6, 1), tz="Central Time")


def test_the_appointment_must_be_the_patients():
    with pytest.raises(ValidationError) as info:
        plan(at(2026, 6, 10, 14), at(2026, 6, 1), who=patient(pid="someone-else"))
    assert_no_phi(str(info.value))
    no_patient = Appointment(
        "a",
        [Participant(Reference.to("Practitioner", "d"))],
        interval=booked(at(2026, 6, 1)).interval,
    )
    with pytest.raises(ValidationError):
        plan_reminders(no_patient, patient(), DEFAULT_REMINDER_POLICY, FixedClock(at(2026, 5, 1)))


def test_a_naive_clock_is_refused():
    class NaiveClock:
        def now(self):
            return dt.datetime(2026, 6, 1, 12)

    with pytest.raises(NaiveDatetimeError):
        plan_reminders(
            booked(at(2026, 6, 10, 14)), patient(), DEFAULT_REMINDER_POLICY, NaiveClock()
        )


def test_rule_and_policy_validation():
    with pytest.raises(ValidationError):
        ReminderRule(K.REMINDER, lead=dt.timedelta(days=1), at=dt.time(8))
    with pytest.raises(ValidationError):
        ReminderRule(K.REMINDER)  # a reminder needs a time; only confirmations go at booking
    with pytest.raises(ValidationError):
        ReminderRule.before(dt.timedelta(0))
    with pytest.raises(ValidationError):
        ReminderRule.on_day(dt.time(8, tzinfo=dt.UTC))
    with pytest.raises(ValidationError):
        ReminderRule.on_day(dt.time(8), days_before=-1)
    with pytest.raises(ValidationError):
        ReminderRule(K.REMINDER, lead=dt.timedelta(days=1), days_before=1)
    with pytest.raises(ValidationError):
        ReminderRule.at_booking(channels=["fax"])
    with pytest.raises(ValidationError):
        ReminderRule.at_booking(channels=["carrier pigeon"])
    with pytest.raises(ValidationError):
        ReminderRule.at_booking(channels=["sms", "sms"])
    with pytest.raises(ValidationError):
        ReminderRule.at_booking(channels=[])
    with pytest.raises(ValidationError):
        QuietHours(dt.time(21), dt.time(21))
    with pytest.raises(ValidationError):
        QuietHours(dt.time(8), dt.time(21), margin=dt.timedelta(hours=11))
    with pytest.raises(ValidationError):
        ReminderPolicy([], minimum_notice=dt.timedelta(minutes=-1))
    night = QuietHours()
    assert [night.contains(dt.time(*t)) for t in [(20, 59), (21,), (23,), (7, 59), (8,)]] == [
        False, True, True, True, False,
    ]  # fmt: skip
    lunch = QuietHours(dt.time(12), dt.time(13), margin=dt.timedelta(0))
    assert [lunch.contains(dt.time(*t)) for t in [(11, 59), (12,), (12, 30), (13,)]] == [
        False, True, True, False,
    ]  # fmt: skip


# --- FHIR ---------------------------------------------------------------------------------


def test_communication_request_is_valid_fhir_r4_with_references_only():
    planned = plan(at(2026, 6, 10, 14), now=at(2026, 6, 1, 12))
    resource = planned[1].to_communication_request()
    CommunicationRequest.model_validate(resource)
    assert resource["resourceType"] == "CommunicationRequest"
    assert resource["id"] == planned[1].id
    assert resource["status"] == "active"
    assert resource["subject"] == {"reference": "Patient/p1"}
    assert resource["about"] == [{"reference": "Appointment/appt-1"}]
    assert resource["occurrenceDateTime"] == "2026-06-03T14:00:00-05:00"
    category = resource["category"][0]["coding"][0]
    assert (category["system"], category["code"]) == (
        "http://terminology.hl7.org/CodeSystem/communication-category",
        "reminder",
    )
    medium = resource["medium"][0]["coding"][0]
    assert (medium["system"], medium["code"]) == (
        "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode",
        "SMSWRIT",
    )
    text = json.dumps(resource)
    assert_no_phi(text)
    assert PATIENT_FAMILY not in text


@pytest.mark.parametrize(("system", "code"), [(EMAIL, "EMAILWRIT"), (PHONE, "PHONE")])
def test_medium_codes(system, code):
    planned = plan(at(2026, 6, 10, 14), at(2026, 6, 1), who=patient(telecom=[(system, "x")]))
    resource = planned[0].to_communication_request()
    CommunicationRequest.model_validate(resource)
    assert resource["medium"][0]["coding"][0]["code"] == code


def test_planned_reminders_and_policies_round_trip_as_json():
    planned = plan(at(2026, 3, 9, 9), now=at(2026, 2, 20, 22))
    for item in planned:
        assert from_json(to_json(item), PlannedReminder) == item
    assert from_json(to_json(DEFAULT_REMINDER_POLICY), ReminderPolicy) == DEFAULT_REMINDER_POLICY


# --- replanning ---------------------------------------------------------------------------


def test_reschedule_replans_everything_not_yet_sent():
    first = plan(at(2026, 6, 10, 14), now=at(2026, 6, 1, 12))
    now = at(2026, 6, 5, 12)  # confirmation and the 7-day reminder are sent
    moved = booked(at(2026, 6, 12, 9))
    change = replan(first, moved, patient(), DEFAULT_REMINDER_POLICY, FixedClock(now))
    assert {r.send_at for r in change.cancel} == {at(2026, 6, 8, 14), at(2026, 6, 10, 8)}
    assert times(change.add) == [
        (K.CONFIRMATION, now),  # the new time is confirmed
        (K.REMINDER, at(2026, 6, 10, 9)),
        (K.REMINDER, at(2026, 6, 12, 8)),
    ]
    assert change.keep == ()
    assert change.pending == change.add


def test_replan_without_change_changes_nothing():
    visit = at(2026, 6, 10, 14)
    first = plan(visit, now=at(2026, 6, 1, 12))
    for now in (at(2026, 6, 1, 12), at(2026, 6, 2, 9), at(2026, 6, 9, 9)):
        change = replan(first, booked(visit), patient(), DEFAULT_REMINDER_POLICY, FixedClock(now))
        assert change.is_empty
        assert change.keep == tuple(r for r in first if epoch_us(r.send_at) > epoch_us(now))


def test_a_reschedule_within_the_day_keeps_the_same_morning_reminder():
    first = plan(at(2026, 6, 10, 14), now=at(2026, 6, 1, 12))
    change = replan(
        first,
        booked(at(2026, 6, 10, 15)),
        patient(),
        DEFAULT_REMINDER_POLICY,
        FixedClock(at(2026, 6, 2, 12)),
    )
    assert [r.send_at for r in change.keep] == [at(2026, 6, 10, 8)]
    assert change.keep[0].visit_start == at(2026, 6, 10, 15)
    assert change.keep[0].id == first[-1].id
    assert [r.send_at for r in change.add] == [
        at(2026, 6, 2, 12),
        at(2026, 6, 3, 15),
        at(2026, 6, 8, 15),
    ]


def test_cancel_drops_everything_pending():
    first = plan(at(2026, 6, 10, 14), now=at(2026, 6, 1, 12))
    cancelled = attrs.evolve(booked(at(2026, 6, 10, 14)), state=AppointmentStatus.CANCELLED)
    change = replan(
        first, cancelled, patient(), DEFAULT_REMINDER_POLICY, FixedClock(at(2026, 6, 5))
    )
    assert change.cancel == first[2:]
    assert change.add == change.keep == change.pending == ()


def test_a_changed_channel_cancels_and_adds_the_same_id():
    visit = at(2026, 6, 10, 14)
    first = plan(visit, now=at(2026, 6, 1, 12))
    by_email = patient(telecom=[(EMAIL, "q@example.org")])
    change = replan(
        first, booked(visit), by_email, DEFAULT_REMINDER_POLICY, FixedClock(at(2026, 6, 2))
    )
    assert [r.id for r in change.cancel] == [r.id for r in change.add] == [r.id for r in first[1:]]
    assert {r.channel for r in change.add} == {EMAIL}


def test_replan_refuses_another_appointments_plan():
    first = plan(at(2026, 6, 10, 14), now=at(2026, 6, 1, 12))
    other = attrs.evolve(booked(at(2026, 6, 10, 14)), id="appt-2")
    with pytest.raises(ValidationError):
        replan(first, other, patient(), DEFAULT_REMINDER_POLICY, FixedClock(at(2026, 6, 2)))


# --- policy as TOML -----------------------------------------------------------------------

DEFAULT_TOML = """
minimum_notice = "PT1H"

[quiet_hours]
start = "21:00"
end = 08:00:00

[[rules]]
kind = "confirmation"
at_booking = true

[[rules]]
kind = "reminder"
lead = "P7D"

[[rules]]
kind = "reminder"
lead = "P2D"
channels = ["sms", "email", "phone"]

[[rules]]
kind = "reminder"
at = "07:30"
"""


def test_policy_from_toml():
    assert ReminderPolicy.from_toml(DEFAULT_TOML) == DEFAULT_REMINDER_POLICY
    quiet_free = ReminderPolicy.from_toml(
        'quiet_hours = false\n[[rules]]\nkind = "reminder"\nat = "18:00"\ndays_before = 1\n'
    )
    assert quiet_free.quiet_hours is None
    assert quiet_free.rules == (ReminderRule.on_day(dt.time(18), days_before=1),)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        (DEFAULT_TOML.replace('lead = "P2D"', 'lead = "2 days"'), 18, "rules[2].lead"),
        (DEFAULT_TOML.replace('at = "07:30"', 'at = "7.30am"'), 23, "rules[3].at"),
        (DEFAULT_TOML.replace('"phone"]', '"telex"]'), 19, "rules[2].channels"),
        (DEFAULT_TOML.replace("at_booking = true", 'lead = "P1D"\nat = "08:00"'), 8, "rules[0]"),
        (DEFAULT_TOML.replace('kind = "confirmation"', 'kind = "nudge"'), 9, "rules[0].kind"),
        (DEFAULT_TOML.replace("end = 08:00:00", 'end = "21:00"'), 6, "quiet_hours.end"),
        (DEFAULT_TOML.replace('minimum_notice = "PT1H"', 'minimum_notice = "-PT1H"'), 2, None),
        (DEFAULT_TOML + "frequency = 3\n", 24, "rules[3].frequency"),
        ("frequency = 3\n" + DEFAULT_TOML, 1, "frequency"),
        (
            DEFAULT_TOML.replace(
                '[[rules]]\nkind = "reminder"\nlead = "P7D"',
                '[[rules]]\nkind = "reminder"\nlead = "P7D"\nsnooze = 1',
            ),
            15,
            "rules[1].snooze",
        ),
        ("minimum_notice = = 1\n", 1, None),
    ],
)
def test_policy_toml_errors_name_the_line(text, line, key):
    with pytest.raises(RuleError) as info:
        ReminderPolicy.from_toml(text, "reminders.toml")
    assert info.value.source == "reminders.toml"
    assert info.value.line == line
    if key is not None:
        assert info.value.key == key


# --- invariants ---------------------------------------------------------------------------

VISITS = cst.aware_datetimes(
    min_value=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    max_value=dt.datetime(2027, 12, 31, tzinfo=dt.UTC),
)
WALL = st.times().map(lambda t: t.replace(second=0, microsecond=0))


def policies():
    return (
        st.tuples(
            st.lists(
                st.one_of(
                    st.just(ReminderRule.at_booking()),
                    st.builds(
                        ReminderRule.before,
                        st.timedeltas(dt.timedelta(minutes=1), dt.timedelta(days=10)),
                        st.sampled_from(list(K)),
                    ),
                    st.builds(ReminderRule.on_day, WALL, st.integers(0, 3)),
                ),
                max_size=5,
            ),
            st.one_of(st.none(), st.tuples(WALL, WALL, st.integers(0, 30))),
            st.timedeltas(dt.timedelta(0), dt.timedelta(hours=3)),
        )
        .filter(lambda t: t[1] is None or _valid_quiet(*t[1]))
        .map(
            lambda t: ReminderPolicy(
                t[0],
                None
                if t[1] is None
                else QuietHours(t[1][0], t[1][1], dt.timedelta(minutes=t[1][2])),
                t[2],
            )
        )
    )


def _valid_quiet(start, end, margin):
    try:
        QuietHours(start, end, dt.timedelta(minutes=margin))
    except ValidationError:
        return False
    return True


def check_plan(planned, start, now, policy, zone, aid="appt-1"):
    instants = [epoch_us(r.send_at) for r in planned]
    assert instants == sorted(instants)
    assert len(set(instants)) == len(instants)
    latest = epoch_us(start - policy.minimum_notice)
    for r in planned:
        assert epoch_us(now) <= epoch_us(r.send_at) <= latest
        assert r.send_at.timezone_name == zone
        if policy.quiet_hours is not None:
            assert not policy.quiet_hours.contains(r.send_at.time())
        assert r.id == stable_id(aid, r.kind.value, r.send_at.in_tz("UTC").isoformat())


@given(
    start=VISITS,
    before=st.timedeltas(dt.timedelta(hours=-2), dt.timedelta(days=20)),
    zone=cst.timezones(),
    policy=st.one_of(st.just(DEFAULT_REMINDER_POLICY), policies()),
)
def test_plans_are_sorted_outside_quiet_hours_never_past_nor_late(start, before, zone, policy):
    now = start - before
    who = patient(tz=zone)
    planned = plan_reminders(booked(start), who, policy, FixedClock(now))
    check_plan(planned, start, now, policy, zone)
    assert plan_reminders(booked(start), who, policy, FixedClock(now)) == planned


@given(
    start=VISITS,
    before=st.timedeltas(dt.timedelta(0), dt.timedelta(days=20)),
    later=st.timedeltas(dt.timedelta(0), dt.timedelta(days=20)),
    shift=st.one_of(st.none(), st.timedeltas(dt.timedelta(days=-5), dt.timedelta(days=10))),
    zone=cst.timezones(),
)
def test_replan_after_cancel_or_reschedule(start, before, later, shift, zone):
    policy = DEFAULT_REMINDER_POLICY
    who = patient(tz=zone)
    first_now = start - before
    first = plan_reminders(booked(start), who, policy, FixedClock(first_now))
    now = first_now + later
    pending = tuple(r for r in first if epoch_us(r.send_at) > epoch_us(now))
    if shift is None:
        cancelled = attrs.evolve(booked(start), state=AppointmentStatus.CANCELLED)
        change = replan(first, cancelled, who, policy, FixedClock(now))
        assert change == ReminderPlanChange(cancel=pending)
        assert change.pending == ()
        return
    new_start = start + shift
    change = replan(first, booked(new_start), who, policy, FixedClock(now))
    cancelled, kept = {r.id for r in change.cancel}, {r.id for r in change.keep}
    assert cancelled | kept == {r.id for r in pending}
    assert not cancelled & kept
    check_plan(change.pending, new_start, now, policy, zone)
    sent = {r.id for r in first} - {r.id for r in pending}
    assert not {r.id for r in change.add} & sent


def test_the_documented_toml_example_reads():
    doc = ReminderPolicy.from_toml.__doc__
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    policy = ReminderPolicy.from_toml(textwrap.dedent(example))
    assert [r.kind for r in policy.rules] == [K.CONFIRMATION, K.REMINDER, K.REMINDER]
    assert policy.rules[1].channels == (SMS, EMAIL)


def test_an_unknown_kind_is_a_validation_error():
    with pytest.raises(ValidationError) as info:
        ReminderRule("nudge", lead=dt.timedelta(days=1))
    assert info.value.location == "ReminderRule.kind"
