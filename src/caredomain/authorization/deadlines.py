"""Decision deadlines and approval validity, as data per program, and the overdue worklist.

Figures (``../shared/DOMAIN.md``; check the current edition of each source):

* CMS-0057-F payers (Medicare Advantage, Medicaid, CHIP): standard 7 calendar days,
  expedited 72 hours (CMS-0057-F, 89 FR 8758, from 2026-01-01).
* Medicare fee-for-service DMEPOS: standard 5 business days but not over 7 calendar days
  (from 2025-01-01; 10 business days before), expedited 2 business days (CMS DMEPOS
  prior-authorization program page).
* Medicare hospital OPD: standard 7 calendar days for requests from 2025-01-01 (10
  business days before; CY 2025 OPPS/ASC final rule), expedited 2 business days (CMS OPD
  prior-authorization program page).

DMEPOS approvals are valid for: power mobility devices 6 months, lower-limb prostheses 120
days, orthoses 60 days, pressure-reducing support surfaces 1 month (DME MAC program table).
A decision clock starts when the request (or the information asked for) reaches the payer;
business days follow the US federal calendar of the ``holidays`` package unless another
`BusinessCalendar` is given.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Final

import attrs
import pendulum
from pendulum import DateTime

from caredomain.authorization.case import (
    AuthorizationCase,
    CaseStatus,
    Program,
    ReviewPriority,
)
from caredomain.core.errors import ValidationError
from caredomain.core.severity import Severity
from caredomain.core.time import BusinessCalendar, Clock, ensure_aware, epoch_us

__all__ = [
    "DEADLINES",
    "DMEPOS_VALIDITY",
    "DeadlineRule",
    "DecisionDeadline",
    "OverdueCase",
    "decision_due",
    "overdue",
]


@attrs.frozen
class DeadlineRule:
    """How long a payer has to decide: business days, elapsed time, or both (the earlier).

    Attributes:
        business_days: Whole business days after the day the clock starts.
        elapsed: An elapsed-time limit (72 hours, 7 calendar days).
    """

    business_days: int | None = None
    elapsed: _dt.timedelta | None = None

    def __attrs_post_init__(self) -> None:
        if self.business_days is None and self.elapsed is None:
            raise ValidationError.at("DeadlineRule", "expected business days, elapsed time or both")

    def due(self, start: DateTime, calendar: BusinessCalendar) -> DateTime:
        """The deadline for a clock that started at ``start``."""
        start = ensure_aware(start, "DeadlineRule.due(start)")
        limits = []
        if self.business_days is not None:
            limits.append(calendar.deadline(start, self.business_days))
        if self.elapsed is not None:
            limits.append(start + self.elapsed)
        return min(limits, key=epoch_us)


@attrs.frozen
class DecisionDeadline:
    """A program's decision timeframes.

    Attributes:
        standard: For standard review.
        expedited: For expedited (urgent) review.
        source: Where the figures come from.
    """

    standard: DeadlineRule
    expedited: DeadlineRule
    source: str


DEADLINES: Final[Mapping[Program, DecisionDeadline]] = {
    Program.CMS_0057_F: DecisionDeadline(
        DeadlineRule(elapsed=_dt.timedelta(days=7)),
        DeadlineRule(elapsed=_dt.timedelta(hours=72)),
        "CMS-0057-F (89 FR 8758): Medicare Advantage, Medicaid and CHIP, from 2026-01-01",
    ),
    Program.MEDICARE_DMEPOS: DecisionDeadline(
        DeadlineRule(business_days=5, elapsed=_dt.timedelta(days=7)),
        DeadlineRule(business_days=2),
        "CMS DMEPOS prior authorization program: 5 business days (not over 7 calendar days) "
        "from 2025-01-01; expedited 2 business days",
    ),
    Program.MEDICARE_OPD: DecisionDeadline(
        DeadlineRule(elapsed=_dt.timedelta(days=7)),
        DeadlineRule(business_days=2),
        "CMS hospital OPD prior authorization program: 7 calendar days for requests from "
        "2025-01-01 (CY 2025 OPPS/ASC final rule; 10 business days before); expedited 2 "
        "business days",
    ),
}
"""Decision timeframes by program. ``Program.OTHER`` has none: configure your contracts'."""

DMEPOS_VALIDITY: Final[Mapping[str, _dt.timedelta | int]] = {
    "power-mobility": 6,
    "lower-limb-prostheses": _dt.timedelta(days=120),
    "orthoses": _dt.timedelta(days=60),
    "support-surfaces": 1,
}
"""DMEPOS approval validity by item category: whole calendar months (int) or elapsed days
(timedelta). Source: the DME MAC (CGS Jurisdictions B and C) prior-authorization program
table, as summarized in ``shared/DOMAIN.md``; the CMS "Prior Authorization Process for
Certain DMEPOS Items" page names the same limits per item group."""


def decision_due(
    case: AuthorizationCase,
    *,
    deadlines: Mapping[Program, DecisionDeadline] = DEADLINES,
    calendar: BusinessCalendar | None = None,
) -> DateTime | None:
    """When the payer's decision on ``case`` is due, or ``None`` when no clock runs.

    The clock runs while the case is submitted or under appeal, from ``submitted_at`` (the
    last submission, information provided, or appeal filed). A pended case waits for the
    requester, so no decision is due.
    """
    if case.state not in {CaseStatus.SUBMITTED, CaseStatus.APPEAL} or case.submitted_at is None:
        return None
    rules = deadlines.get(case.program)
    if rules is None:
        return None
    rule = rules.expedited if case.priority is ReviewPriority.EXPEDITED else rules.standard
    return rule.due(case.submitted_at, calendar or BusinessCalendar())


@attrs.frozen
class OverdueCase:
    """A case past, or near, its decision deadline.

    Attributes:
        case: The case's id.
        due: When the decision is due.
        severity: ``critical`` when past due, ``warning`` when due within the warning window.
        reason: What is late, without patient data.
    """

    case: str
    due: DateTime
    severity: Severity
    reason: str


def overdue(
    cases: Iterable[AuthorizationCase],
    clock: Clock,
    *,
    warn_within: _dt.timedelta = _dt.timedelta(hours=24),
    deadlines: Mapping[Program, DecisionDeadline] = DEADLINES,
    calendar: BusinessCalendar | None = None,
) -> list[OverdueCase]:
    """Cases whose decision is past due or due within ``warn_within``, most urgent first.

    Ordered past-due before near-due, then by due time (earliest first), then case id.
    """
    now = ensure_aware(clock.now(), "Clock.now()")
    now_us = epoch_us(now)
    found = []
    calendar = calendar or BusinessCalendar()
    for case in cases:
        due = decision_due(case, deadlines=deadlines, calendar=calendar)
        if due is None:
            continue
        due_us = epoch_us(due)
        if due_us <= now_us:
            late = pendulum.duration(microseconds=now_us - due_us).in_words(locale="en")
            found.append(
                OverdueCase(
                    case.id,
                    due,
                    Severity.CRITICAL,
                    f"{case.priority.value} decision past due by {late}",
                )
            )
        elif due_us - now_us <= warn_within // _dt.timedelta(microseconds=1):
            found.append(
                OverdueCase(
                    case.id,
                    due,
                    Severity.WARNING,
                    f"{case.priority.value} decision due within {warn_within}",
                )
            )
    found.sort(key=lambda item: (-item.severity.rank, epoch_us(item.due), item.case))
    return found
