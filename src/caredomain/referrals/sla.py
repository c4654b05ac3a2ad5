"""Referral SLAs: how long each stage of the loop may take, and which referrals are late.

No standard defines referral timeouts. FHIR ``Task``, 360X and BSeR define the states and
messages of a closed-loop referral but say nothing about how long a recipient may take to
accept, or a specialist to send the report; those limits are each organization's
configuration. `SlaPolicy` holds them as data (in code, or read from TOML with
`SlaPolicy.from_toml`), one `SlaLimits` per FHIR request priority (``routine``,
``urgent``, ``asap``, ``stat``), and `overdue` turns a set of referrals into a coordinator's
worklist.

Rules of this module (sans-IO: values in, values out; the only "now" is the `Clock`'s):

1. **One stage per state.** Every state the loop can wait in has one stage and one limit
   (`STAGE_OF_STATE`): ``sent``/``received`` wait for acceptance, ``accepted`` (and
   ``visit-cancelled``, ``no-show``) for a booking, ``scheduled`` for the visit to be
   recorded, ``seen`` for the report, ``report-received`` for the loop to be closed, and so
   on. Besides, a referral whose required documents are not all sent is late on the
   ``documents`` stage while it waits for its visit. ``draft`` is not tracked (nothing was
   sent) and terminal referrals are never overdue.
2. **Clocks start from the trail.** A stage's clock starts at the last audit entry that
   *entered* the stage: its ``to_state`` is one of the stage's states and its
   ``from_state`` is not. Self-loops (documents sent, a denied authorization decision, an
   interim note) do not restart it; a redirect restarts acceptance, an authorization
   approval restarts scheduling, and resuming from a hold restarts the stage resumed. The
   ``visit`` stage starts at the booked visit (`Referral.visit_at`). The ``documents`` stage
   starts when the referral entered ``sent``.
3. **Two kinds of limit.** A `StageLimit` is either *business days*, counted on a
   `BusinessCalendar` (US federal holidays by default) with `BusinessCalendar.deadline` -
   "within 2 business days" ends at the start of the day after the second business day
   following the start, the starting day itself not counting - or an *elapsed* duration
   (ISO 8601 ``P14D``, ``PT4H``; whole days are 24 elapsed hours, also across DST).
4. **Late means at or after the deadline.** The allowed window is half-open
   ``[start, deadline)``; an item's ``overdue_by`` is ``now - deadline``.
5. **Severity.** ``lateness = overdue_by / (deadline - start)``: 0 at the deadline, 1 when
   the referral has waited twice its allowance. It is ``info`` below
   `SlaPolicy.warning_at` (0.5), ``warning`` below `SlaPolicy.critical_at` (1.0) and
   ``critical`` beyond, but never below the priority's `SlaLimits.minimum_severity`
   (urgent is at least a warning; asap and stat are critical at once).
6. **A total order.** The worklist is sorted by severity, then priority (stat, asap, urgent,
   routine), then lateness, then age (the oldest first sending first), then referral id and
   stage: the same referrals give the same list whatever their input order.
7. **No patient data.** An item holds the referral's id, codes, instants and durations; its
   ``reason`` says what is late in relative terms ("open loop: seen 21 days ago, no
   report") and never names the patient, the service or a date.

Defaults (`DEFAULT_SLA`; "bd" is business days, the others elapsed time):

| stage        | routine | urgent | asap | stat |
|--------------|---------|--------|------|------|
| accept       | 2 bd    | 1 bd   | 24 h | 4 h  |
| documents    | 1 bd    | 1 bd   | 24 h | 4 h  |
| redirect     | 2 bd    | 1 bd   | 24 h | 4 h  |
| authorize    | 7 days  | 72 h   | 72 h | 72 h |
| schedule     | 14 days | 2 days | 24 h | 4 h  |
| visit        | 2 bd    | 1 bd   | 24 h | 24 h |
| report       | 7 days  | 3 days | 48 h | 24 h |
| close        | 3 bd    | 2 bd   | 24 h | 24 h |
| cancellation | 2 bd    | 1 bd   | 24 h | 24 h |
| hold         | 30 days | 7 days | 72 h | 24 h |

Why these figures (none is a standard; change them to your agreements):

* **Office work counts business days** for routine and urgent referrals (accepting,
  sending documents, redirecting, recording the visit, closing, confirming a cancellation):
  it happens when the office is open. Asap and stat limits are elapsed hours throughout:
  they do not wait for Monday.
* **accept 2 bd**: intake teams triage daily; the sending day does not count, so two
  business days leave one full working day after arrival. **documents 1 bd**: the package
  should go with the referral, a day allows outside imaging to follow; the recipient cannot
  triage without it.
* **authorize**: the CMS-0057-F decision timeframes (standard 7 calendar days, expedited 72
  hours; Medicare Advantage, Medicaid and CHIP from 2026-01-01). Past them, chase the payer.
  Other payers are not bound by them.
* **schedule 14 days / 2 days**: booking must come well before the visit targets of
  `caredomain.scheduling` (routine 30 days, urgent 2 days). The same limit applies to
  rebooking after a no-show or a cancelled visit, counted from that event.
* **visit**: the recipient reports seen or no-show (360X SIU^S26; BSeR 5.1.2, 5.1.4) soon
  after the booked time. **report 7 days**: a week leaves time to dictate and sign the
  consult note. **close 3 bd**: the referring clinician reviews and files it.
* **hold 30 days**: a hold is a pause to review, not a way to lose a referral.

Minimum severities: routine ``info``, urgent ``warning``, asap and stat ``critical``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, Final

import attrs
from pendulum import DateTime

from caredomain.core.errors import ValidationError
from caredomain.core.events import AuditEntry
from caredomain.core.severity import Severity
from caredomain.core.time import (
    BusinessCalendar,
    Clock,
    check_aware,
    ensure_aware,
    epoch_us,
    format_duration,
    instant_key,
    parse_duration,
    to_datetime,
)
from caredomain.core.tomlfile import TomlDocument, load_toml
from caredomain.referrals.model import Referral, ReferralPriority, ReferralStatus

__all__ = [
    "DEFAULT_SLA",
    "STAGE_OF_STATE",
    "US_FEDERAL_CALENDAR",
    "Severity",
    "SlaLimits",
    "SlaPolicy",
    "SlaStage",
    "StageLimit",
    "WorklistItem",
    "overdue",
]


class SlaStage(StrEnum):
    """What a referral is waiting for; each stage has one limit per priority.

    The values are also the keys of a `SlaLimits` and of the TOML policy file.
    """

    ACCEPT = "accept"
    """Sent or received, not accepted or declined yet."""
    DOCUMENTS = "documents"
    """Required documents not all sent (while the referral waits for its visit)."""
    REDIRECT = "redirect"
    """Declined, neither redirected to another recipient nor closed."""
    AUTHORIZE = "authorize"
    """Accepted, waiting for the payer's prior-authorization approval."""
    SCHEDULE = "schedule"
    """Accepted (or approved), or back from a no-show or a cancelled visit: not booked."""
    VISIT = "visit"
    """Booked, and the visit time has passed without seen or no-show being recorded."""
    REPORT = "report"
    """Seen, no report (the open loop)."""
    CLOSE = "close"
    """Report received, loop not closed by the referring side."""
    CANCELLATION = "cancellation"
    """Cancellation requested, not confirmed by the recipient."""
    HOLD = "hold"
    """On hold."""


_PRIORITY_RANK: Final[Mapping[ReferralPriority, int]] = {
    ReferralPriority.STAT: 0,
    ReferralPriority.ASAP: 1,
    ReferralPriority.URGENT: 2,
    ReferralPriority.ROUTINE: 3,
}
_STAGE_RANK: Final[Mapping[SlaStage, int]] = {stage: n for n, stage in enumerate(SlaStage)}

R = ReferralStatus

STAGE_OF_STATE: Final[Mapping[ReferralStatus, SlaStage]] = {
    R.SENT: SlaStage.ACCEPT,
    R.RECEIVED: SlaStage.ACCEPT,
    R.DECLINED: SlaStage.REDIRECT,
    R.AWAITING_AUTHORIZATION: SlaStage.AUTHORIZE,
    R.ACCEPTED: SlaStage.SCHEDULE,
    R.VISIT_CANCELLED: SlaStage.SCHEDULE,
    R.NO_SHOW: SlaStage.SCHEDULE,
    R.SCHEDULED: SlaStage.VISIT,
    R.SEEN: SlaStage.REPORT,
    R.REPORT_RECEIVED: SlaStage.CLOSE,
    R.CANCEL_REQUESTED: SlaStage.CANCELLATION,
    R.ON_HOLD: SlaStage.HOLD,
}
"""The stage each waiting state is in. ``draft`` and the terminal states have none."""

# The states whose entry starts a stage's clock, per current state: entering ``received``
# from ``sent`` does not restart acceptance (both wait for it).
_CLOCK_STATES: Final[Mapping[ReferralStatus, frozenset[str]]] = {
    state: frozenset({R.SENT.value, R.RECEIVED.value})
    if STAGE_OF_STATE[state] is SlaStage.ACCEPT
    else frozenset({state.value})
    for state in STAGE_OF_STATE
}
_SENT_STATES: Final = frozenset({R.SENT.value})
# While the package still matters: from sending until the visit, except when declined
# (back to sent on redirect) or on hold (the clock is paused).
_DOCUMENT_STATES: Final = frozenset(
    {
        R.SENT,
        R.RECEIVED,
        R.ACCEPTED,
        R.AWAITING_AUTHORIZATION,
        R.SCHEDULED,
        R.VISIT_CANCELLED,
        R.NO_SHOW,
    }
)

US_FEDERAL_CALENDAR: Final = BusinessCalendar()
"""US federal holidays with observed days (5 U.S.C. 6103), Saturday and Sunday off: the
default calendar for business-day limits."""


# --- limits and policy ---------------------------------------------------------------------


def _check_business_days(_inst: object, _attr: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValidationError.at("StageLimit.business_days", "expected a whole number, 0 or more")


def _check_elapsed(_inst: object, _attr: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, _dt.timedelta) or value <= _dt.timedelta(0):
        raise ValidationError.at("StageLimit.elapsed", "expected a positive duration")


@attrs.frozen(kw_only=True)
class StageLimit:
    """How long a stage may take: business days, or an elapsed duration (exactly one).

    ``StageLimit(business_days=2)`` ends at the start of the day after the second business day
    following the stage's start (`BusinessCalendar.deadline`); ``business_days=0`` means
    "by the end of the day it started". ``StageLimit(elapsed=timedelta(hours=72))`` ends 72
    elapsed hours after the start.

    Attributes:
        business_days: Business days allowed, on the calendar given to `overdue`.
        elapsed: Elapsed time allowed (positive).

    Raises:
        ValidationError: Neither or both given, a negative count or a non-positive duration.
    """

    business_days: int | None = attrs.field(default=None, validator=_check_business_days)
    elapsed: _dt.timedelta | None = attrs.field(default=None, validator=_check_elapsed)

    def __attrs_post_init__(self) -> None:
        if (self.business_days is None) == (self.elapsed is None):
            raise ValidationError.at(
                "StageLimit", "expected either business_days or elapsed, not both"
            )

    def deadline(self, start: _dt.datetime, calendar: BusinessCalendar) -> DateTime:
        """The first instant that is late for a stage that started at ``start``.

        Raises:
            NaiveDatetimeError: ``start`` has no UTC offset.
        """
        moment = ensure_aware(start, "StageLimit.deadline(start)")
        if self.business_days is not None:
            return calendar.deadline(moment, self.business_days)
        assert self.elapsed is not None  # exactly one is set (checked on construction)
        return moment + self.elapsed

    def __str__(self) -> str:
        if self.business_days is not None:
            return _plural(self.business_days, "business day")
        assert self.elapsed is not None
        return format_duration(self.elapsed)


def _business(count: int) -> StageLimit:
    return StageLimit(business_days=count)


def _hours(count: int) -> StageLimit:
    return StageLimit(elapsed=_dt.timedelta(hours=count))


def _days(count: int) -> StageLimit:
    return StageLimit(elapsed=_dt.timedelta(days=count))


def _check_limit(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, StageLimit):
        raise ValidationError.at(f"SlaLimits.{attribute.name}", "expected a StageLimit or None")


def _to_severity(value: Severity | str) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise ValidationError.at(
            "SlaLimits.minimum_severity", "expected info, warning or critical"
        ) from None


@attrs.frozen(kw_only=True)
class SlaLimits:
    """The limit of each stage for one priority; ``None`` means the stage is not tracked.

    Field names are the `SlaStage` values; see the module documentation for what each
    stage waits for and where its clock starts.

    Attributes:
        accept: From sending (or redirecting) to acceptance or decline.
        documents: From sending to every required document sent.
        redirect: From a decline to a redirect or closing.
        authorize: From requesting prior authorization to its approval.
        schedule: From acceptance (or approval, or a no-show, or a cancelled visit) to a
            booking.
        visit: From the booked visit time to seen or no-show being recorded.
        report: From the visit to the report.
        close: From the report to closing the loop.
        cancellation: From a cancellation request to its confirmation.
        hold: Time on hold.
        minimum_severity: The least severity of this priority's overdue items.
    """

    accept: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    documents: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    redirect: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    authorize: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    schedule: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    visit: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    report: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    close: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    cancellation: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    hold: StageLimit | None = attrs.field(default=None, validator=_check_limit)
    minimum_severity: Severity = attrs.field(default=Severity.INFO, converter=_to_severity)

    def limit(self, stage: SlaStage) -> StageLimit | None:
        """The limit of ``stage``, or ``None`` when it is not tracked."""
        value: StageLimit | None = getattr(self, SlaStage(stage).value)
        return value


def _check_share(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValidationError.at(f"SlaPolicy.{attribute.name}", "expected a number, 0 or more")


def _check_limits(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, SlaLimits):
        raise ValidationError.at(f"SlaPolicy.{attribute.name}", "expected SlaLimits")


_PRIORITY_KEYS: Final = tuple(p.value for p in ReferralPriority)
_LIMITS_KEYS: Final = (*(s.value for s in SlaStage), "minimum_severity")
_TOP_KEYS: Final = ("warning_at", "critical_at", *_PRIORITY_KEYS)


@attrs.frozen(kw_only=True)
class SlaPolicy:
    """Referral SLAs: the stage limits of each FHIR request priority, and when to escalate.

    Attributes:
        routine: Limits of ``routine`` referrals.
        urgent: Limits of ``urgent`` referrals.
        asap: Limits of ``asap`` referrals.
        stat: Limits of ``stat`` referrals.
        warning_at: An item is at least a warning once it is late by this share of its
            allowance (0.5: half the allowed time again).
        critical_at: ... and critical from this share on (1.0: twice the allowed time in
            all). Not below ``warning_at``.

    Raises:
        ValidationError: A negative share, or ``critical_at < warning_at``.
    """

    routine: SlaLimits = attrs.field(factory=SlaLimits, validator=_check_limits)
    urgent: SlaLimits = attrs.field(factory=SlaLimits, validator=_check_limits)
    asap: SlaLimits = attrs.field(factory=SlaLimits, validator=_check_limits)
    stat: SlaLimits = attrs.field(factory=SlaLimits, validator=_check_limits)
    warning_at: float = attrs.field(default=0.5, validator=_check_share)
    critical_at: float = attrs.field(default=1.0, validator=_check_share)

    def __attrs_post_init__(self) -> None:
        if self.critical_at < self.warning_at:
            raise ValidationError.at("SlaPolicy.critical_at", "expected at least warning_at")

    def limits(self, priority: ReferralPriority | str) -> SlaLimits:
        """The limits of ``priority``.

        Raises:
            ValidationError: Not a FHIR request priority.
        """
        try:
            key = ReferralPriority(priority).value
        except ValueError:
            raise ValidationError.at("priority", "expected routine, urgent, asap or stat") from None
        limits: SlaLimits = getattr(self, key)
        return limits

    def severity(self, priority: ReferralPriority, lateness: float) -> Severity:
        """The severity of an item of ``priority`` late by ``lateness`` times its allowance."""
        if lateness >= self.critical_at:
            level = Severity.CRITICAL
        elif lateness >= self.warning_at:
            level = Severity.WARNING
        else:
            level = Severity.INFO
        floor = self.limits(priority).minimum_severity
        return level if level.rank >= floor.rank else floor

    @classmethod
    def from_toml(
        cls, text: str, source: str = "<string>", *, base: SlaPolicy | None = None
    ) -> SlaPolicy:
        """Read a policy from TOML over ``base`` (`DEFAULT_SLA` unless given).

        Every key given replaces the base's value; ``false`` removes a stage's limit. Pass
        ``base=SlaPolicy()`` (no limits at all) for a file that says everything itself.

        ```toml
        warning_at = 0.5                  # share of the allowance late -> warning
        critical_at = 1.0                 # share of the allowance late -> critical

        [routine]
        accept = { business_days = 3 }    # counted on the calendar given to overdue()
        schedule = "P21D"                 # ISO 8601 elapsed duration (W, D, H, M, S)
        hold = false                      # not tracked
        minimum_severity = "info"         # info | warning | critical

        [stat]
        accept = "PT2H"
        ```

        Raises:
            RuleError: Invalid TOML, an unknown table or key, or a value of the wrong kind;
                the error names the file, the line and the key.
        """
        doc = load_toml(text, source)
        start = DEFAULT_SLA if base is None else base
        unknown = sorted(set(doc.data) - set(_TOP_KEYS))
        if unknown:
            raise doc.error(
                "unknown key; expected warning_at, critical_at, or a table "
                "[routine], [urgent], [asap], [stat]",
                unknown[0],
            )
        changes: dict[str, Any] = {}
        for key in ("warning_at", "critical_at"):
            if key in doc.data:
                value = doc.data[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise doc.error("expected a number, 0 or more", key)
                changes[key] = float(value)
        for priority in _PRIORITY_KEYS:
            if priority in doc.data:
                changes[priority] = _toml_limits(doc, priority, start.limits(priority))
        try:
            return attrs.evolve(start, **changes)
        except ValidationError:
            raise doc.error("expected critical_at at least warning_at", "critical_at") from None


def _toml_limits(doc: TomlDocument, priority: str, base: SlaLimits) -> SlaLimits:
    table = doc.data[priority]
    if not isinstance(table, dict):
        raise doc.error("expected a table", priority)
    unknown = sorted(set(table) - set(_LIMITS_KEYS))
    if unknown:
        raise doc.error(
            f"unknown key; expected one of {', '.join(_LIMITS_KEYS)}", priority, unknown[0]
        )
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key == "minimum_severity":
            if value not in tuple(Severity):
                raise doc.error("expected info, warning or critical", priority, key)
            changes[key] = Severity(value)
        else:
            changes[key] = _toml_limit(doc, value, priority, key)
    return attrs.evolve(base, **changes)


def _toml_limit(doc: TomlDocument, value: object, priority: str, key: str) -> StageLimit | None:
    if value is False:
        return None
    if isinstance(value, str):
        try:
            return StageLimit(elapsed=parse_duration(value, key))
        except ValidationError:
            raise doc.error(
                "expected a positive ISO 8601 duration such as P14D or PT4H (no Y or M)",
                priority,
                key,
            ) from None
    if isinstance(value, dict):
        count = value.get("business_days")
        if (
            set(value) == {"business_days"}
            and not isinstance(count, bool)
            and isinstance(count, int)
            and count >= 0
        ):
            return StageLimit(business_days=count)
        raise doc.error("expected { business_days = N } with N a whole number >= 0", priority, key)
    raise doc.error('expected a duration ("P14D"), { business_days = N }, or false', priority, key)


DEFAULT_SLA: Final = SlaPolicy(
    routine=SlaLimits(
        accept=_business(2),
        documents=_business(1),
        redirect=_business(2),
        authorize=_days(7),
        schedule=_days(14),
        visit=_business(2),
        report=_days(7),
        close=_business(3),
        cancellation=_business(2),
        hold=_days(30),
        minimum_severity=Severity.INFO,
    ),
    urgent=SlaLimits(
        accept=_business(1),
        documents=_business(1),
        redirect=_business(1),
        authorize=_hours(72),
        schedule=_days(2),
        visit=_business(1),
        report=_days(3),
        close=_business(2),
        cancellation=_business(1),
        hold=_days(7),
        minimum_severity=Severity.WARNING,
    ),
    asap=SlaLimits(
        accept=_hours(24),
        documents=_hours(24),
        redirect=_hours(24),
        authorize=_hours(72),
        schedule=_days(1),
        visit=_hours(24),
        report=_days(2),
        close=_hours(24),
        cancellation=_hours(24),
        hold=_days(3),
        minimum_severity=Severity.CRITICAL,
    ),
    stat=SlaLimits(
        accept=_hours(4),
        documents=_hours(4),
        redirect=_hours(4),
        authorize=_hours(72),
        schedule=_hours(4),
        visit=_hours(24),
        report=_hours(24),
        close=_hours(24),
        cancellation=_hours(24),
        hold=_hours(24),
        minimum_severity=Severity.CRITICAL,
    ),
)
"""caredomain's default SLAs (a starting point, not a standard: see the module docs)."""


# --- the worklist --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class WorklistItem:
    """One late stage of one referral, as a coordinator's worklist shows it.

    Attributes:
        referral: The referral's id (caredomain's, never a patient identifier).
        priority: The referral's priority.
        state: The referral's state.
        stage: What is late.
        since: When the stage's clock started (for ``visit``: the booked visit time).
        deadline: The first late instant.
        overdue_by: How late: ``now - deadline``.
        lateness: ``overdue_by / (deadline - since)``: 0 at the deadline, 1 at twice the
            allowed time.
        severity: ``info``, ``warning`` or ``critical`` (see `SlaPolicy.severity`).
        sent_at: When the referral was first sent (its age, for ordering).
        reason: What is late, in words and relative terms, without patient data.
    """

    referral: str
    priority: ReferralPriority
    state: ReferralStatus
    stage: SlaStage
    since: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    deadline: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    overdue_by: _dt.timedelta
    lateness: float
    severity: Severity
    sent_at: DateTime = attrs.field(converter=to_datetime, validator=check_aware, eq=instant_key)
    reason: str

    @property
    def sort_key(self) -> tuple[int, int, float, int, str, int]:
        """The worklist order: most severe, highest priority, latest, oldest; then id, stage."""
        return (
            -self.severity.rank,
            _PRIORITY_RANK[self.priority],
            -self.lateness,
            epoch_us(self.sent_at),
            self.referral,
            _STAGE_RANK[self.stage],
        )


def overdue(
    referrals: Iterable[Referral],
    clock: Clock,
    policy: SlaPolicy = DEFAULT_SLA,
    calendar: BusinessCalendar = US_FEDERAL_CALENDAR,
) -> list[WorklistItem]:
    """The late stages of ``referrals`` at ``clock.now()``, most urgent first.

    A referral gives at most two items: its current stage, when late, and ``documents``,
    when required documents are missing past their limit. Drafts and terminal referrals
    give none; a stage whose limit is ``None`` is not tracked. See the module
    documentation for where clocks start, severities and the order.

    Args:
        referrals: The referrals to check (each id once).
        clock: Where "now" comes from.
        policy: The SLAs.
        calendar: The calendar business-day limits are counted on.

    Raises:
        ValidationError: Two referrals share an id, or a tracked referral's trail does not
            record when its stage started (or a booked referral has no visit time). The
            location gives the referral's position in ``referrals``, never its content.
    """
    now = ensure_aware(clock.now(), "overdue(clock.now())")
    now_us = epoch_us(now)
    items: list[WorklistItem] = []
    seen: set[str] = set()
    for index, referral in enumerate(referrals):
        if referral.id in seen:
            raise ValidationError.at(f"referrals[{index}].id", "expected unique referral ids")
        seen.add(referral.id)
        stage = STAGE_OF_STATE.get(referral.state)
        if stage is None:
            continue
        limits = policy.limits(referral.priority)
        tracker = _Tracker(referral, index, now, now_us, policy, calendar)
        limit = limits.limit(stage)
        if limit is not None:
            item = tracker.stage_item(stage, limit)
            if item is not None:
                items.append(item)
        if referral.state in _DOCUMENT_STATES and referral.documents_missing:
            limit = limits.documents
            if limit is not None:
                item = tracker.documents_item(limit)
                if item is not None:
                    items.append(item)
    items.sort(key=lambda item: item.sort_key)
    return items


def _entered(referral: Referral, states: frozenset[str]) -> AuditEntry | None:
    """The last trail entry that entered ``states`` from outside them."""
    for entry in reversed(referral.trail.entries):
        if entry.to_state in states and entry.from_state not in states:
            return entry
    return None


class _Tracker:
    """Builds the items of one referral (internal; not a value)."""

    def __init__(
        self,
        referral: Referral,
        index: int,
        now: DateTime,
        now_us: int,
        policy: SlaPolicy,
        calendar: BusinessCalendar,
    ) -> None:
        self.referral = referral
        self.index = index
        self.now = now
        self.now_us = now_us
        self.policy = policy
        self.calendar = calendar

    def _missing_history(self, what: str) -> ValidationError:
        return ValidationError.at(
            f"referrals[{self.index}].trail", f"expected an audit entry recording {what}"
        )

    def _sent_at(self) -> DateTime:
        for entry in self.referral.trail.entries:
            if entry.to_state == R.SENT.value and entry.from_state != R.SENT.value:
                return entry.occurred_at
        raise self._missing_history("when the referral was sent")

    def _item(
        self, stage: SlaStage, limit: StageLimit, since: DateTime, reason: str
    ) -> WorklistItem | None:
        deadline = limit.deadline(since, self.calendar)
        deadline_us = epoch_us(deadline)
        late_us = self.now_us - deadline_us
        if late_us < 0:
            return None
        allowed_us = max(deadline_us - epoch_us(since), 1)
        lateness = late_us / allowed_us
        referral = self.referral
        return WorklistItem(
            referral=referral.id,
            priority=referral.priority,
            state=referral.state,
            stage=stage,
            since=since,
            deadline=deadline,
            overdue_by=_dt.timedelta(microseconds=late_us),
            lateness=lateness,
            severity=self.policy.severity(referral.priority, lateness),
            sent_at=self._sent_at(),
            reason=reason,
        )

    def _span(self, since: DateTime, limit: StageLimit) -> str:
        """How long since ``since``, in the limit's own unit where that reads naturally.

        Business days are counted through today's date: on the day after the deadline of a
        2-business-day limit the text says 3 business days.
        """
        if limit.business_days is not None:
            count = self.calendar.business_days_between(since, self.now)
            if count >= 1:
                return _plural(count, "business day")
        return _elapsed_text(self.now_us - epoch_us(since))

    def stage_item(self, stage: SlaStage, limit: StageLimit) -> WorklistItem | None:
        referral = self.referral
        state = referral.state
        if stage is SlaStage.VISIT:
            if referral.visit_at is None:
                raise ValidationError.at(
                    f"referrals[{self.index}].visit_at", "expected the booked visit's time"
                )
            since = referral.visit_at
            entry = None
        else:
            entry = _entered(referral, _CLOCK_STATES[state])
            if entry is None:
                raise self._missing_history(f"when the referral entered {state.value!r}")
            since = entry.occurred_at
        if epoch_us(since) > self.now_us:
            return None  # the stage starts in the future: nothing can be late yet
        span = self._span(since, limit)
        reason = _reason(stage, state, entry, span)
        return self._item(stage, limit, since, reason)

    def documents_item(self, limit: StageLimit) -> WorklistItem | None:
        entry = _entered(self.referral, _SENT_STATES)
        if entry is None:
            raise self._missing_history("when the referral was sent")
        since = entry.occurred_at
        if epoch_us(since) > self.now_us:
            return None
        missing = ", ".join(kind.value for kind in sorted(self.referral.documents_missing))
        span = self._span(since, limit)
        reason = f"required documents not sent: {missing} ({span} after sending)"
        return self._item(SlaStage.DOCUMENTS, limit, since, reason)


def _reason(stage: SlaStage, state: ReferralStatus, entry: AuditEntry | None, span: str) -> str:
    if stage is SlaStage.ACCEPT:
        after = "redirecting" if entry is not None and entry.from_state == R.DECLINED else "sending"
        if entry is not None and entry.from_state == R.ON_HOLD:
            after = "resuming from hold"
        return f"not accepted {span} after {after}"
    if stage is SlaStage.SCHEDULE:
        if state is R.NO_SHOW:
            return f"no-show {span} ago, not rescheduled"
        if state is R.VISIT_CANCELLED:
            return f"visit cancelled {span} ago, not rescheduled"
        after = "acceptance"
        if entry is not None and entry.from_state == R.AWAITING_AUTHORIZATION:
            after = "authorization approval"
        elif entry is not None and entry.from_state == R.ON_HOLD:
            after = "resuming from hold"
        return f"not scheduled {span} after {after}"
    texts = {
        SlaStage.REDIRECT: f"declined {span} ago, not redirected or closed",
        SlaStage.AUTHORIZE: f"awaiting authorization for {span}",
        SlaStage.VISIT: f"visit time passed {span} ago, not recorded as seen or no-show",
        SlaStage.REPORT: f"open loop: seen {span} ago, no report",
        SlaStage.CLOSE: f"report received {span} ago, loop not closed",
        SlaStage.CANCELLATION: f"cancellation requested {span} ago, not confirmed",
        SlaStage.HOLD: f"on hold for {span}",
    }
    return texts[stage]


_HOUR_US: Final = 3_600_000_000
_DAY_US: Final = 24 * _HOUR_US


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def _elapsed_text(us: int) -> str:
    """Elapsed time in words: whole days from 2 days on, else hours, else minutes."""
    if us >= 2 * _DAY_US:
        return _plural(us // _DAY_US, "day")
    if us >= _HOUR_US:
        return _plural(us // _HOUR_US, "hour")
    return _plural(max(us, 0) // 60_000_000, "minute")
