"""Confirmations and reminders: when to contact a patient about an appointment, and how.

Why reminders exist: patients miss about 23% of outpatient appointments on average across
105 studies (Dantas et al., "No-shows in appointment scheduling - a systematic literature
review", Health Policy 2018), and commonly 5-30% depending on the setting. A confirmation
at booking and reminders at sensible lead times are the cheapest way to lower that.

Rules of this module (sans-IO: values in, values out; the only "now" is the `Clock`'s):

1. **Local time.** Every rule is computed in the *patient's* IANA zone (`Patient.timezone`,
   or the explicit ``tz=`` argument; a missing zone is a `ValidationError`, never a guess).
   "2 days before" means the same local wall-clock time two calendar days earlier, so a
   09:00 Monday visit is reminded at 09:00 on Saturday on both sides of a DST change (47 or
   49 elapsed hours). A lead time's whole days are calendar days; its remainder (hours,
   minutes) is elapsed time. A local time that occurs twice is taken at its first
   occurrence; one that does not exist (the skipped hour) is read with the offset before
   the gap, i.e. moved forward by the gap, as RFC 5545 section 3.3.5 specifies.
2. **Latest send time.** Nothing is sent later than ``visit start - minimum_notice``; a
   rule whose time falls later is moved back to that instant.
3. **Quiet hours** (default 21:00-08:00 in the patient's zone: the calling-time window of
   the US Telephone Consumer Protection Act rules, 47 CFR 64.1200(c)(1), no calls before
   8 a.m. or after 9 p.m. local time, applied to every channel). A message whose time falls
   inside them moves *earlier*, to ``quiet start - margin`` (20:30 by default: the margin
   leaves room for delivery delay so that a moved message does not arrive inside quiet
   hours). One exception keeps a rule's intent: a rule written as a local time ("the same
   morning at 07:30") moves *forward* to the end of the quiet period (08:00) when that is
   still no later than ``visit start - minimum_notice``; otherwise it too moves back to the
   evening before. So with the default policy a 09:00 visit is reminded at 08:00 the same
   morning, and an 08:30 visit at 20:30 the evening before.
4. **Never in the past.** A reminder whose time has passed (relative to ``clock.now()``) is
   dropped. A confirmation whose time has passed - above all the one "at booking" - is sent
   *now* instead; if now is inside quiet hours it waits for the end of the quiet period,
   and it is dropped only when that is later than ``visit start - minimum_notice``.
5. **One message per instant.** Two rules landing on the same instant yield one message
   (the confirmation, if one of them is), and the plan is sorted by send time.
6. **Ids are content.** A planned message's id is
   ``stable_id(appointment id, kind, send time in UTC ISO 8601)``: planning twice gives the
   same ids, which is what lets `replan` say what to cancel and what to add.

Only booked appointments get reminders. The output is plain values that map to FHIR R4
``CommunicationRequest`` (`PlannedReminder.to_communication_request`), holding references
only - never a name, a phone number or an address.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Final

import attrs
import pendulum
from pendulum import DateTime

from caredomain.core.errors import RuleError, ValidationError
from caredomain.core.identity import stable_id
from caredomain.core.parties import ContactPoint, ContactPointSystem, Patient
from caredomain.core.time import (
    Clock,
    check_aware,
    ensure_aware,
    epoch_us,
    instant_key,
    parse_duration,
    to_datetime,
    validate_timezone,
)
from caredomain.core.tomlfile import TomlDocument, load_toml
from caredomain.scheduling.appointments import Appointment, AppointmentStatus

__all__ = [
    "DEFAULT_REMINDER_POLICY",
    "PlannedReminder",
    "QuietHours",
    "ReminderKind",
    "ReminderPlanChange",
    "ReminderPolicy",
    "ReminderRule",
    "plan_reminders",
    "replan",
]

# FHIR communication-category (alert, notification, reminder, instruction): planned
# messages are category "reminder". HL7 v3 ParticipationMode is the example binding of
# CommunicationRequest.medium.
_COMMUNICATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/communication-category"
_PARTICIPATION_MODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationMode"

# HL7 Terminology (THO) v3-ParticipationMode: SMSWRIT ("SMS message", under MSGWRIT, added
# after the R4 edition of the code system), EMAILWRIT ("email", under ONLINEWRIT), PHONE
# ("telephone", under VERBAL).
_MEDIUM: Final[dict[ContactPointSystem, tuple[str, str]]] = {
    ContactPointSystem.SMS: ("SMSWRIT", "SMS message"),
    ContactPointSystem.EMAIL: ("EMAILWRIT", "email"),
    ContactPointSystem.PHONE: ("PHONE", "telephone"),
}

_SENDABLE: Final = frozenset(_MEDIUM)
_DEFAULT_CHANNELS: Final = (
    ContactPointSystem.SMS,
    ContactPointSystem.EMAIL,
    ContactPointSystem.PHONE,
)


class ReminderKind(StrEnum):
    """What a planned message is for."""

    CONFIRMATION = "confirmation"
    """Tells the patient the appointment is booked (and may ask them to confirm)."""

    REMINDER = "reminder"
    """Reminds the patient of an upcoming appointment."""


def _kind(value: ReminderKind | str) -> ReminderKind:
    try:
        return ReminderKind(value)
    except ValueError:
        raise ValidationError.at(
            "ReminderRule.kind", "expected 'confirmation' or 'reminder'"
        ) from None


def _channels(value: Iterable[ContactPointSystem | str]) -> tuple[ContactPointSystem, ...]:
    if isinstance(value, str):
        raise ValidationError.at("ReminderRule.channels", "expected a list of channels")
    try:
        return tuple(ContactPointSystem(item) for item in value)
    except ValueError:
        raise ValidationError.at(
            "ReminderRule.channels", "expected FHIR contact-point-system codes: sms, email, phone"
        ) from None


def _check_channels(
    _inst: object, _attribute: attrs.Attribute[Any], value: tuple[ContactPointSystem, ...]
) -> None:
    if not value:
        raise ValidationError.at("ReminderRule.channels", "expected at least one channel")
    if len(set(value)) != len(value):
        raise ValidationError.at("ReminderRule.channels", "expected each channel once")
    if not set(value) <= _SENDABLE:
        raise ValidationError.at(
            "ReminderRule.channels", "expected channels among sms, email, phone"
        )


@attrs.frozen
class ReminderRule:
    """One message of a reminder policy: what, when, and through which channels.

    A rule is timed in exactly one of three ways (build it with the class methods):

    * `at_booking`: a confirmation sent when planned ("now");
    * `before`: a lead time before the visit start ("7 days before");
    * `on_day`: a local wall-clock time on the visit's local date, or ``days_before``
      calendar days earlier ("the same morning at 07:30").

    Attributes:
        kind: Confirmation or reminder.
        lead: Lead time before the visit start; whole days are calendar days in the
            patient's zone, the rest is elapsed time.
        at: Local wall-clock time (no zone: the patient's zone applies).
        days_before: With ``at``: calendar days before the visit's local date (0 = same day).
        channels: Preference order among FHIR ``contact-point-system`` ``sms``, ``email``,
            ``phone``; the first the patient has a contact point for is used.
    """

    kind: ReminderKind = attrs.field(converter=_kind)
    lead: _dt.timedelta | None = None
    at: _dt.time | None = None
    days_before: int = 0
    channels: tuple[ContactPointSystem, ...] = attrs.field(
        default=_DEFAULT_CHANNELS, converter=_channels, validator=_check_channels
    )

    def __attrs_post_init__(self) -> None:
        if self.lead is not None and self.at is not None:
            raise ValidationError.at(
                "ReminderRule.at", "expected a lead time or a local time, not both"
            )
        if self.lead is not None and self.lead <= _dt.timedelta(0):
            raise ValidationError.at("ReminderRule.lead", "expected a positive lead time")
        if self.at is not None and (
            not isinstance(self.at, _dt.time) or self.at.tzinfo is not None
        ):
            raise ValidationError.at(
                "ReminderRule.at", "expected a local wall-clock time without a zone"
            )
        if self.days_before < 0 or (self.days_before and self.at is None):
            raise ValidationError.at(
                "ReminderRule.days_before", "expected a non-negative count, with a local time"
            )
        if self.sends_at_booking and self.kind is not ReminderKind.CONFIRMATION:
            raise ValidationError.at(
                "ReminderRule.lead", "expected a lead time or a local time for a reminder"
            )

    @property
    def sends_at_booking(self) -> bool:
        """Whether the rule sends when the plan is made (neither lead nor local time)."""
        return self.lead is None and self.at is None

    @classmethod
    def at_booking(
        cls, channels: Iterable[ContactPointSystem | str] = _DEFAULT_CHANNELS
    ) -> ReminderRule:
        """A confirmation sent as soon as the appointment is planned (outside quiet hours)."""
        return cls(ReminderKind.CONFIRMATION, channels=channels)

    @classmethod
    def before(
        cls,
        lead: _dt.timedelta,
        kind: ReminderKind = ReminderKind.REMINDER,
        channels: Iterable[ContactPointSystem | str] = _DEFAULT_CHANNELS,
    ) -> ReminderRule:
        """A message ``lead`` before the visit start (``before(timedelta(days=2))``)."""
        return cls(kind, lead=lead, channels=channels)

    @classmethod
    def on_day(
        cls,
        at: _dt.time,
        days_before: int = 0,
        kind: ReminderKind = ReminderKind.REMINDER,
        channels: Iterable[ContactPointSystem | str] = _DEFAULT_CHANNELS,
    ) -> ReminderRule:
        """A message at local time ``at``, ``days_before`` days before the visit's date."""
        return cls(kind, at=at, days_before=days_before, channels=channels)


def _wall_minutes(value: _dt.time) -> int:
    return value.hour * 60 + value.minute


@attrs.frozen
class QuietHours:
    """A daily span of local wall-clock time in which no message is sent.

    The span is half-open, ``[start, end)``, and wraps past midnight when ``end`` is before
    ``start`` (the default 21:00-08:00). Messages moved out of it to the evening before go
    to ``start - margin``.

    Attributes:
        start: Local time quiet hours begin.
        end: Local time they end (the first allowed time).
        margin: How long before ``start`` a message moved back is sent, leaving room for
            delivery delay.
    """

    start: _dt.time = _dt.time(21, 0)
    end: _dt.time = _dt.time(8, 0)
    margin: _dt.timedelta = _dt.timedelta(minutes=30)

    def __attrs_post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, _dt.time) or value.tzinfo is not None:
                raise ValidationError.at(
                    f"QuietHours.{name}", "expected a local wall-clock time without a zone"
                )
        if self.start == self.end:
            raise ValidationError.at(
                "QuietHours.end", "expected end different from start (use no quiet hours)"
            )
        allowed = (_wall_minutes(self.start) - _wall_minutes(self.end)) % (24 * 60)
        if self.margin < _dt.timedelta(0) or self.margin >= _dt.timedelta(minutes=allowed):
            raise ValidationError.at(
                "QuietHours.margin",
                "expected a non-negative margin shorter than the allowed part of the day",
            )

    def contains(self, wall: _dt.time) -> bool:
        """Whether the local wall-clock time ``wall`` is inside quiet hours."""
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def _bounds(self, local: DateTime, zone: str) -> tuple[list[DateTime], list[DateTime]]:
        """Candidate start and end instants of the quiet period that contains ``local``.

        Each is the wall time resolved at both folds: two instants when it is repeated or
        skipped by a DST change, the same instant twice otherwise.
        """
        day = _dt.date(local.year, local.month, local.day)
        one = _dt.timedelta(days=1)
        if self.start < self.end:
            first, last = day, day
        elif local.time() >= self.start:
            first, last = day, day + one
        else:
            first, last = day - one, day
        return _both_folds(first, self.start, zone), _both_folds(last, self.end, zone)

    def _end_after(self, local: DateTime, zone: str) -> DateTime | None:
        """The first instant after ``local`` at which its quiet period has ended."""
        ends = [
            end.in_tz(zone)
            for end in self._bounds(local, zone)[1]
            if epoch_us(end) > epoch_us(local) and not self.contains(end.in_tz(zone).time())
        ]
        return min(ends, key=epoch_us, default=None)

    def _evening_before(self, local: DateTime, zone: str) -> DateTime | None:
        """``margin`` before the quiet period containing ``local`` began, if that is allowed."""
        moved = [(start - self.margin).in_tz(zone) for start in self._bounds(local, zone)[0]]
        allowed = [
            m for m in moved if epoch_us(m) < epoch_us(local) and not self.contains(m.time())
        ]
        return max(allowed, key=epoch_us, default=None)


def _rules(value: Iterable[ReminderRule]) -> tuple[ReminderRule, ...]:
    return tuple(value)


@attrs.frozen
class ReminderPolicy:
    """Which confirmations and reminders an appointment gets: data, not code.

    Build one in code or read one from TOML (`from_toml`); `DEFAULT_REMINDER_POLICY` is a
    confirmation at booking and reminders 7 days and 2 days before and the same morning at
    07:30, with quiet hours 21:00-08:00 and one hour of minimum notice.

    Attributes:
        rules: The messages to plan.
        quiet_hours: When nothing is sent, in the patient's zone; ``None`` for never.
        minimum_notice: Nothing is sent later than this before the visit start.
    """

    rules: tuple[ReminderRule, ...] = attrs.field(converter=_rules)
    quiet_hours: QuietHours | None = attrs.field(factory=QuietHours)
    minimum_notice: _dt.timedelta = _dt.timedelta(hours=1)

    def __attrs_post_init__(self) -> None:
        if self.minimum_notice < _dt.timedelta(0):
            raise ValidationError.at(
                "ReminderPolicy.minimum_notice", "expected a non-negative duration"
            )

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>") -> ReminderPolicy:
        """Read a policy from TOML; errors name the file, line and key.

        ```toml
        minimum_notice = "PT1H"     # ISO 8601 duration (default PT1H)

        [quiet_hours]               # default 21:00-08:00; `quiet_hours = false` for none
        start = "21:00"
        end = "08:00"
        margin = "PT30M"

        [[rules]]
        kind = "confirmation"
        at_booking = true

        [[rules]]
        kind = "reminder"
        lead = "P2D"
        channels = ["sms", "email"]

        [[rules]]
        kind = "reminder"
        at = "07:30"                # local time; with days_before = N for N days earlier
        ```

        Raises:
            RuleError: Invalid TOML, an unknown or missing key, or a value out of range.
        """
        doc = load_toml(text, source)
        unknown = set(doc.data) - {"minimum_notice", "quiet_hours", "rules"}
        if unknown:
            raise doc.error(
                "unknown key; expected minimum_notice, quiet_hours and [[rules]]",
                sorted(unknown)[0],
            )
        notice = _toml_duration(doc, doc.data.get("minimum_notice", "PT1H"), "minimum_notice")
        quiet = _toml_quiet_hours(doc, doc.data.get("quiet_hours", True))
        tables = doc.data.get("rules")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise doc.error("expected [[rules]] tables", "rules")
        rules = [_toml_rule(doc, index, table) for index, table in enumerate(tables)]
        try:
            return cls(rules, quiet, notice)
        except ValidationError as exc:
            raise doc.error(exc.problems[0].message, "minimum_notice") from None


DEFAULT_REMINDER_POLICY: Final = ReminderPolicy(
    [
        ReminderRule.at_booking(),
        ReminderRule.before(_dt.timedelta(days=7)),
        ReminderRule.before(_dt.timedelta(days=2)),
        ReminderRule.on_day(_dt.time(7, 30)),
    ],
    QuietHours(_dt.time(21, 0), _dt.time(8, 0)),
    _dt.timedelta(hours=1),
)
"""Confirmation at booking; reminders 7 and 2 days before and the same morning at 07:30
(moved to 08:00, or to 20:30 the evening before for visits before 09:00); quiet hours
21:00-08:00 in the patient's zone; one hour of minimum notice."""


@attrs.frozen
class PlannedReminder:
    """One confirmation or reminder to send: when, about what, and through which channel.

    Attributes:
        id: ``stable_id(appointment id, kind, send time in UTC ISO 8601)``.
        appointment_id: The appointment it is about.
        patient_id: The patient it goes to.
        kind: Confirmation or reminder.
        send_at: When to send it, in the patient's zone.
        visit_start: The appointment start it was planned for.
        channel: The channel to use (``sms``, ``email``, ``phone``), or ``None`` when the
            patient has no contact point for any of the rule's channels.
        reason: Why ``channel`` is ``None``; never patient data.
    """

    id: str
    appointment_id: str
    patient_id: str
    kind: ReminderKind
    send_at: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    visit_start: DateTime = attrs.field(
        converter=to_datetime, validator=check_aware, eq=instant_key
    )
    channel: ContactPointSystem | None = None
    reason: str | None = None

    def to_communication_request(self) -> dict[str, Any]:
        """This message as a FHIR R4 ``CommunicationRequest`` (plain JSON-ready dict).

        Status ``active``; category ``reminder`` (FHIR ``communication-category``, with the
        kind as its text); subject and recipient the Patient, ``about`` the Appointment, as
        references only; ``occurrenceDateTime`` the send time (RFC 3339, patient's offset);
        ``medium`` the v3 ``ParticipationMode`` code of the channel (``SMSWRIT``,
        ``EMAILWRIT``, ``PHONE``), absent when there is no channel. No names, numbers or
        addresses: the sender resolves the contact point from the Patient when it sends.
        """
        patient = {"reference": f"Patient/{self.patient_id}"}
        resource: dict[str, Any] = {
            "resourceType": "CommunicationRequest",
            "id": self.id,
            "status": "active",
            "category": [
                {
                    "coding": [
                        {
                            "system": _COMMUNICATION_CATEGORY,
                            "code": "reminder",
                            "display": "Reminder",
                        }
                    ],
                    "text": self.kind.value,
                }
            ],
            "subject": patient,
            "about": [{"reference": f"Appointment/{self.appointment_id}"}],
            "recipient": [dict(patient)],
            "occurrenceDateTime": self.send_at.isoformat(),
        }
        if self.channel is not None:
            code, display = _MEDIUM[self.channel]
            resource["medium"] = [
                {"coding": [{"system": _PARTICIPATION_MODE, "code": code, "display": display}]}
            ]
        return resource


@attrs.frozen
class ReminderPlanChange:
    """What `replan` asks the sender to do: cancel some pending messages, add others.

    Apply the cancellations first: a message whose channel changed appears in both (same
    id, new channel).

    Attributes:
        cancel: Pending messages that must not be sent any more.
        add: New messages to schedule.
        keep: Pending messages that stay (as planned now: store `pending` as the new plan).
    """

    cancel: tuple[PlannedReminder, ...] = ()
    add: tuple[PlannedReminder, ...] = ()
    keep: tuple[PlannedReminder, ...] = ()

    @property
    def pending(self) -> tuple[PlannedReminder, ...]:
        """The messages still to send after the change, sorted by send time."""
        return _sorted([*self.keep, *self.add])

    @property
    def is_empty(self) -> bool:
        """Whether nothing needs to change."""
        return not self.cancel and not self.add


# --- planning ------------------------------------------------------------------------------


def plan_reminders(
    appointment: Appointment,
    patient: Patient,
    policy: ReminderPolicy,
    clock: Clock,
    *,
    tz: str | None = None,
) -> tuple[PlannedReminder, ...]:
    """Plan the confirmations and reminders of a booked appointment.

    See the module documentation for the rules (local time, quiet hours, minimum notice,
    nothing in the past, one message per instant). Appointments that are not ``booked``
    get an empty plan.

    Args:
        appointment: The appointment; its patient participant must be ``patient``.
        patient: The patient, for the zone and the contact points (only their *kind* is
            used: the plan holds no number or address).
        policy: The rules.
        clock: Where "now" comes from.
        tz: IANA zone to plan in instead of ``patient.timezone`` (an explicit choice,
            such as the clinic's zone, when the patient's is unknown).

    Returns:
        The planned messages, sorted by send time.

    Raises:
        ValidationError: The patient has no timezone and ``tz`` is not given, the zone is
            unknown, or the appointment's patient is not ``patient``.
        NaiveDatetimeError: The clock returned a naive datetime.
    """
    return _plan(appointment, patient, policy, clock, tz=tz, confirmed=False)


def replan(
    previous: tuple[PlannedReminder, ...],
    appointment: Appointment,
    patient: Patient,
    policy: ReminderPolicy,
    clock: Clock,
    *,
    tz: str | None = None,
) -> ReminderPlanChange:
    """Bring a plan up to date with the appointment: after a reschedule, a cancellation...

    Messages of ``previous`` whose send time is at or before now count as sent and are left
    alone. When the appointment is no longer ``booked`` (cancelled, no-show, fulfilled,
    entered in error, or the patient has arrived) every pending message is cancelled.
    Otherwise the plan is made again as `plan_reminders` would make it now: pending
    messages it still contains are kept (same id, time and channel; a reminder at the same
    instant of a moved visit stays, since it refers to the Appointment, not to its time,
    and is returned with the new ``visit_start``), the others cancelled, new ones added. A
    confirmation already sent for the same visit start is not sent again; after a
    reschedule the new time gets a new confirmation.

    Args:
        previous: The plan made before (from `plan_reminders` or an earlier `replan`).
        appointment: The appointment as it is now.
        patient: The patient.
        policy: The rules.
        clock: Where "now" comes from.
        tz: As for `plan_reminders`.

    Raises:
        ValidationError: A message of ``previous`` belongs to another appointment, or as
            for `plan_reminders`.
    """
    now = ensure_aware(clock.now(), "Clock.now()")
    if any(r.appointment_id != appointment.id for r in previous):
        raise ValidationError.at(
            "replan(previous)", "expected only messages planned for this appointment"
        )
    now_us = epoch_us(now)
    sent = [r for r in previous if epoch_us(r.send_at) <= now_us]
    pending = [r for r in previous if epoch_us(r.send_at) > now_us]
    if appointment.state is not AppointmentStatus.BOOKED or appointment.interval is None:
        return ReminderPlanChange(cancel=_sorted(pending))
    start_us = epoch_us(appointment.interval.start)
    confirmed = any(
        r.kind is ReminderKind.CONFIRMATION and epoch_us(r.visit_start) == start_us for r in sent
    )
    fresh = _plan(appointment, patient, policy, clock, tz=tz, confirmed=confirmed)
    sent_ids = {r.id for r in sent}
    planned = {r.id: r for r in fresh if r.id not in sent_ids}
    keep, cancel = [], []
    for old in pending:
        new = planned.get(old.id)
        if new is not None and attrs.evolve(old, visit_start=new.visit_start) == new:
            keep.append(planned.pop(old.id))  # same message; the record follows the visit
        else:
            cancel.append(old)
    return ReminderPlanChange(
        cancel=_sorted(cancel), add=_sorted(planned.values()), keep=_sorted(keep)
    )


def _plan(
    appointment: Appointment,
    patient: Patient,
    policy: ReminderPolicy,
    clock: Clock,
    *,
    tz: str | None,
    confirmed: bool,
) -> tuple[PlannedReminder, ...]:
    now = ensure_aware(clock.now(), "Clock.now()")
    zone = _zone(patient, tz)
    _check_patient(appointment, patient)
    if appointment.state is not AppointmentStatus.BOOKED or appointment.interval is None:
        return ()
    start = appointment.interval.start.in_tz(zone)
    latest = start - policy.minimum_notice
    quiet = policy.quiet_hours
    chosen: dict[int, tuple[ReminderRule, DateTime]] = {}
    for rule in policy.rules:
        moment = _send_time(rule, start, now, latest, quiet, zone, confirmed)
        if moment is None:
            continue
        key = epoch_us(moment)
        held = chosen.get(key)
        if held is None or (
            rule.kind is ReminderKind.CONFIRMATION and held[0].kind is not ReminderKind.CONFIRMATION
        ):
            chosen[key] = (rule, moment)
    planned = [
        _planned(appointment, patient, rule, moment.in_tz(zone), start)
        for rule, moment in chosen.values()
    ]
    return _sorted(planned)


def _send_time(
    rule: ReminderRule,
    start: DateTime,
    now: DateTime,
    latest: DateTime,
    quiet: QuietHours | None,
    zone: str,
    confirmed: bool,
) -> DateTime | None:
    """When ``rule`` sends for a visit at ``start``, or ``None`` if it does not."""
    confirmation = rule.kind is ReminderKind.CONFIRMATION
    if rule.sends_at_booking:
        return None if confirmed else _send_now(now, latest, quiet, zone)
    if rule.lead is not None:
        nominal = _minus_lead(start, rule.lead, zone)
    elif rule.at is not None:
        visit_day = _dt.date(start.year, start.month, start.day)
        nominal = _resolve(visit_day - _dt.timedelta(days=rule.days_before), rule.at, zone)
    else:  # pragma: no cover - sends_at_booking above
        return None
    moment = _place(nominal, latest, quiet, zone, forward=rule.at is not None)
    if moment is not None and epoch_us(moment) >= epoch_us(now):
        return moment
    if confirmation and not confirmed:
        return _send_now(now, latest, quiet, zone)
    return None


def _send_now(
    now: DateTime, latest: DateTime, quiet: QuietHours | None, zone: str
) -> DateTime | None:
    """Now, or the end of the current quiet period; ``None`` if that is too late."""
    moment: DateTime | None = now.in_tz(zone)
    if quiet is not None and moment is not None and quiet.contains(moment.time()):
        moment = quiet._end_after(moment, zone)
    if moment is None or epoch_us(moment) > epoch_us(latest):
        return None
    return moment


def _place(
    nominal: DateTime, latest: DateTime, quiet: QuietHours | None, zone: str, *, forward: bool
) -> DateTime | None:
    """Move ``nominal`` to at most ``latest`` and out of quiet hours (see module rules).

    Returns ``None`` only for quiet hours that begin inside a DST gap or fold in a way that
    leaves no allowed time before them.
    """
    moment = (nominal if epoch_us(nominal) <= epoch_us(latest) else latest).in_tz(zone)
    if quiet is None or not quiet.contains(moment.time()):
        return moment
    if forward:
        ends = quiet._end_after(moment, zone)
        if ends is not None and epoch_us(ends) <= epoch_us(latest):
            return ends
    return quiet._evening_before(moment, zone)


def _minus_lead(start: DateTime, lead: _dt.timedelta, zone: str) -> DateTime:
    """``start`` minus ``lead``: whole days on the local calendar, the rest elapsed."""
    local = start.in_tz(zone)
    day = _dt.date(local.year, local.month, local.day) - _dt.timedelta(days=lead.days)
    wall = _dt.time(local.hour, local.minute, local.second, local.microsecond)
    return _resolve(day, wall, zone) - _dt.timedelta(
        seconds=lead.seconds, microseconds=lead.microseconds
    )


def _resolve(day: _dt.date, wall: _dt.time, zone: str) -> DateTime:
    """Local ``day`` at ``wall`` in ``zone``: first occurrence; a skipped time moves forward."""
    early, late = _both_folds(day, wall, zone)
    exists = (early.hour, early.minute, early.second, early.microsecond) == (
        wall.hour,
        wall.minute,
        wall.second,
        wall.microsecond,
    ) and (early.year, early.month, early.day) == (day.year, day.month, day.day)
    # Inside a gap pendulum reads fold=1 with the offset before the gap (RFC 5545), which
    # lands after the gap; fold=0 would land before it.
    return early if exists else late


def _both_folds(day: _dt.date, wall: _dt.time, zone: str) -> list[DateTime]:
    """``day`` at ``wall`` resolved with fold 0 and fold 1 (equal unless DST intervenes)."""
    parts = (day.year, day.month, day.day, wall.hour, wall.minute, wall.second, wall.microsecond)
    return [pendulum.datetime(*parts, tz=zone, fold=fold) for fold in (0, 1)]


def _zone(patient: Patient, tz: str | None) -> str:
    if tz is not None:
        return validate_timezone(tz, "plan_reminders(tz)")
    if patient.timezone is None:
        raise ValidationError.at(
            "Patient.timezone",
            "expected the patient's IANA timezone to plan reminders in (or pass tz=)",
        )
    return patient.timezone


def _check_patient(appointment: Appointment, patient: Patient) -> None:
    reference = appointment.patient
    if reference is None or reference.id is None:
        raise ValidationError.at(
            "Appointment.participants", "expected a Patient participant with an id"
        )
    if reference.id != patient.id:
        raise ValidationError.at("plan_reminders(patient)", "expected the appointment's patient")


def _planned(
    appointment: Appointment,
    patient: Patient,
    rule: ReminderRule,
    send_at: DateTime,
    start: DateTime,
) -> PlannedReminder:
    channel = _channel(patient.telecom, rule.channels)
    reason = None
    if channel is None:
        wanted = ", ".join(c.value for c in rule.channels)
        reason = f"no usable contact point for any of the rule's channels ({wanted})"
    instant = send_at.in_tz("UTC").isoformat()
    return PlannedReminder(
        id=stable_id(appointment.id, rule.kind.value, instant),
        appointment_id=appointment.id,
        patient_id=patient.id,
        kind=rule.kind,
        send_at=send_at,
        visit_start=start,
        channel=channel,
        reason=reason,
    )


def _channel(
    telecom: Iterable[ContactPoint], preference: Iterable[ContactPointSystem]
) -> ContactPointSystem | None:
    """The first preferred system the patient has a usable contact point for.

    Matching is by ``system`` only (a ``phone`` is not assumed to take SMS: texting needs
    the patient's ``sms`` contact point); contact points with ``use = old`` are skipped.
    """
    usable = {point.system for point in telecom if point.use != "old" and point.value}
    return next((system for system in preference if system in usable), None)


_KIND_ORDER: Final = {ReminderKind.CONFIRMATION: 0, ReminderKind.REMINDER: 1}


def _sorted(items: Iterable[PlannedReminder]) -> tuple[PlannedReminder, ...]:
    return tuple(sorted(items, key=lambda r: (epoch_us(r.send_at), _KIND_ORDER[r.kind], r.id)))


# --- TOML ----------------------------------------------------------------------------------

_RULE_KEYS: Final = frozenset({"kind", "at_booking", "lead", "at", "days_before", "channels"})
_HEADER: Final = re.compile(r"^\s*\[\[\s*rules\s*\]\]")


def _rule_error(doc: TomlDocument, index: int, key: str | None, message: str) -> RuleError:
    """A `RuleError` at the line of ``key`` in the ``index``-th ``[[rules]]`` table."""
    lines = doc.text.splitlines()
    headers = [n for n, line in enumerate(lines) if _HEADER.match(line)]
    line = None
    if index < len(headers):
        line = headers[index] + 1
        stop = headers[index + 1] if index + 1 < len(headers) else len(lines)
        if key is not None:
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            found = next((n for n in range(headers[index], stop) if pattern.match(lines[n])), None)
            line = found + 1 if found is not None else line
    where = f"rules[{index}]" + (f".{key}" if key else "")
    return RuleError(message, source=doc.source, line=line, key=where)


def _toml_rule(doc: TomlDocument, index: int, table: dict[str, Any]) -> ReminderRule:
    extra = set(table) - _RULE_KEYS
    if extra:
        expected = ", ".join(sorted(_RULE_KEYS))
        raise _rule_error(doc, index, sorted(extra)[0], f"unknown key; expected {expected}")
    kind = table.get("kind")
    if kind not in {k.value for k in ReminderKind}:
        raise _rule_error(doc, index, "kind", "expected kind = 'confirmation' or 'reminder'")
    timings = [k for k in ("at_booking", "lead", "at") if k in table]
    if len(timings) != 1:
        raise _rule_error(doc, index, None, "expected exactly one of at_booking, lead or at")
    if "at_booking" in table and table["at_booking"] is not True:
        raise _rule_error(doc, index, "at_booking", "expected at_booking = true")
    fields: dict[str, Any] = {"kind": kind}
    if "lead" in table:
        try:
            fields["lead"] = parse_duration(table["lead"], "lead")
        except ValidationError as exc:
            raise _rule_error(doc, index, "lead", exc.problems[0].message) from None
    if "at" in table:
        fields["at"] = _toml_time(table["at"])
        if fields["at"] is None:
            raise _rule_error(doc, index, "at", 'expected a local time such as "07:30"')
    if "days_before" in table:
        days = table["days_before"]
        if isinstance(days, bool) or not isinstance(days, int):
            raise _rule_error(doc, index, "days_before", "expected a whole number of days")
        fields["days_before"] = days
    if "channels" in table:
        channels = table["channels"]
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise _rule_error(doc, index, "channels", 'expected a list such as ["sms", "email"]')
        fields["channels"] = channels
    try:
        return ReminderRule(**fields)
    except ValidationError as exc:
        problem = exc.problems[0]
        key = problem.path.rpartition(".")[2]
        raise _rule_error(doc, index, key if key in table else None, problem.message) from None


def _toml_time(value: object) -> _dt.time | None:
    if isinstance(value, _dt.time) and value.tzinfo is None:
        return value
    if isinstance(value, str):
        try:
            parsed = _dt.time.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is None else None
    return None


def _toml_duration(doc: TomlDocument, value: object, key: str) -> _dt.timedelta:
    try:
        return parse_duration(value, key)  # type: ignore[arg-type]  # checked by the parser
    except ValidationError as exc:
        raise doc.error(exc.problems[0].message, key) from None


def _toml_quiet_hours(doc: TomlDocument, value: object) -> QuietHours | None:
    if value is False:
        return None
    if value is True:
        return QuietHours()
    if not isinstance(value, dict):
        raise doc.error("expected a [quiet_hours] table or quiet_hours = false", "quiet_hours")
    extra = set(value) - {"start", "end", "margin"}
    if extra:
        raise doc.error("unknown key; expected start, end, margin", "quiet_hours", sorted(extra)[0])
    fields: dict[str, Any] = {}
    for key in ("start", "end"):
        if key in value:
            parsed = _toml_time(value[key])
            if parsed is None:
                raise doc.error('expected a local time such as "21:00"', "quiet_hours", key)
            fields[key] = parsed
    if "margin" in value:
        try:
            fields["margin"] = parse_duration(value["margin"], "quiet_hours.margin")
        except ValidationError as exc:
            raise doc.error(exc.problems[0].message, "quiet_hours", "margin") from None
    try:
        return QuietHours(**fields)
    except ValidationError as exc:
        key = exc.problems[0].path.rpartition(".")[2]
        raise doc.error(exc.problems[0].message, "quiet_hours", key) from None
