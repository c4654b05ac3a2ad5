"""Loop-closure metrics: how many referrals close, how fast each stage is reached, and leakage.

A pure function over referrals (`loop_closure`) returning a frozen value that keeps its
counts, so that shares can be re-derived and figures from several sets compared.

Definitions (each is a rule of this module):

1. **Counted referrals** are those that went out: every referral except drafts, drafts
   cancelled before sending (``draft -> cancelled`` in the trail) and referrals
   ``entered-in-error`` (they should never have existed). They are the denominator of
   every share. `LoopClosure.by_state` alone counts every referral given.
2. **Closed** referrals are in state ``closed``. Those with at least one outcome document
   (`Referral.outcome_documents`) are *closed with an outcome*; the others were closed by a
   coded override (patient declined care, treated elsewhere...). A loop closed by override
   is closed, but it is not the loop the referral meant to close: report both.
3. **Time to a stage** is the elapsed time from the first time the referral entered
   ``sent`` to the first time it entered the stage (``accepted``, ``scheduled``, ``seen``,
   ``report-received``, ``closed``), both read from the audit trail. A redirected referral
   is measured from its first sending: the patient waited through the decline too. Only
   referrals that reached the stage are in its sample (`StageTimes.reached`): the median of
   a set where many loops are still open is the median of the fast ones, so read it beside
   the counts.
4. **Percentiles** interpolate linearly between closest ranks (``numpy.percentile``'s
   default and Excel's ``PERCENTILE.INC``): for sorted values ``x`` of length ``n``,
   ``h = (n - 1) * q`` and the value is ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] -
   x[floor(h)])``, computed in whole microseconds.
5. **Leakage** is the share of counted referrals whose target was out of network
   (`ReferralTarget.in_network` is ``False``). Referrals whose network status is unknown
   (``None``) are counted apart: the true leakage lies between `LoopClosure.leakage` and
   ``leakage + network_unknown_share``. The target is the referral's current one (after a
   redirect, the new recipient).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from caredomain.core.time import epoch_us
from caredomain.referrals.model import Referral, ReferralStatus

__all__ = ["TIMED_STAGES", "LoopClosure", "StageTimes", "loop_closure"]

R = ReferralStatus

TIMED_STAGES: Final[tuple[ReferralStatus, ...]] = (
    R.ACCEPTED,
    R.SCHEDULED,
    R.SEEN,
    R.REPORT_RECEIVED,
    R.CLOSED,
)
"""The stages whose time from sending `loop_closure` measures, in loop order."""


def _ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


@attrs.frozen
class StageTimes:
    """How long counted referrals took from first sending to first reaching one stage.

    Attributes:
        stage: The stage reached.
        reached: Counted referrals that reached it (the sample size).
        median: The median time, or ``None`` when none reached it.
        p90: The 90th percentile, or ``None``.
    """

    stage: ReferralStatus
    reached: int
    median: _dt.timedelta | None = None
    p90: _dt.timedelta | None = None


@attrs.frozen(kw_only=True)
class LoopClosure:
    """Loop-closure metrics over a set of referrals (see the module docs for definitions).

    Attributes:
        total: Every referral given.
        counted: Referrals that went out (the denominator of every share).
        closed: Counted referrals in state ``closed``.
        closed_with_outcome: Closed with at least one outcome document.
        closed_by_override: Closed without an outcome document (a coded override).
        in_network: Counted referrals whose target is in network.
        out_of_network: Counted referrals whose target is out of network.
        network_unknown: Counted referrals whose target's network status is unknown.
        by_state: ``(state, count)`` for every declared state, in declaration order, over
            every referral given (drafts and entered-in-error included).
        stage_times: Time to each of `TIMED_STAGES`, in that order.
    """

    total: int
    counted: int
    closed: int
    closed_with_outcome: int
    closed_by_override: int
    in_network: int
    out_of_network: int
    network_unknown: int
    by_state: tuple[tuple[ReferralStatus, int], ...]
    stage_times: tuple[StageTimes, ...]

    @property
    def closed_share(self) -> float | None:
        """Closed over counted, or ``None`` when nothing was counted."""
        return _ratio(self.closed, self.counted)

    @property
    def closed_with_outcome_share(self) -> float | None:
        """Closed with an outcome document over counted."""
        return _ratio(self.closed_with_outcome, self.counted)

    @property
    def closed_by_override_share(self) -> float | None:
        """Closed by a coded override over counted."""
        return _ratio(self.closed_by_override, self.counted)

    @property
    def leakage(self) -> float | None:
        """Out-of-network over counted: the lower bound of leakage."""
        return _ratio(self.out_of_network, self.counted)

    @property
    def network_unknown_share(self) -> float | None:
        """Unknown network status over counted: how far leakage could be above `leakage`."""
        return _ratio(self.network_unknown, self.counted)

    def count(self, state: ReferralStatus | str) -> int:
        """How many of the referrals given are in ``state``."""
        wanted = ReferralStatus(state)
        for candidate, number in self.by_state:
            if candidate is wanted:
                return number
        return 0

    def time_to(self, stage: ReferralStatus | str) -> StageTimes:
        """The `StageTimes` of ``stage`` (one of `TIMED_STAGES`).

        Raises:
            KeyError: ``stage`` is not measured.
        """
        wanted = ReferralStatus(stage)
        for times in self.stage_times:
            if times.stage is wanted:
                return times
        raise KeyError(wanted.value)


_TIMED_VALUES: Final = frozenset(stage.value for stage in TIMED_STAGES)


def _counted(referral: Referral) -> bool:
    if referral.state in (R.DRAFT, R.ENTERED_IN_ERROR):
        return False
    if referral.state is R.CANCELLED:
        last = referral.trail.last
        return not (last is not None and last.from_state == R.DRAFT.value)
    return True


def _first_reached(referral: Referral) -> tuple[int | None, dict[str, int]]:
    """Epoch-us of the first entry into ``sent``, and of the first entry into each stage."""
    sent: int | None = None
    reached: dict[str, int] = {}
    for entry in referral.trail.entries:
        target = entry.to_state
        if target == entry.from_state:
            continue
        if target == R.SENT.value and sent is None:
            sent = epoch_us(entry.occurred_at)
        elif target in _TIMED_VALUES and target not in reached:
            reached[target] = epoch_us(entry.occurred_at)
    return sent, reached


def _percentile_us(ordered: Sequence[int], q: float) -> _dt.timedelta | None:
    if not ordered:
        return None
    h = (len(ordered) - 1) * q
    low = int(h)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (h - low) * (ordered[high] - ordered[low])
    return _dt.timedelta(microseconds=round(value))


def loop_closure(referrals: Iterable[Referral]) -> LoopClosure:
    """Loop-closure metrics over ``referrals`` (see the module docs for every definition).

    Args:
        referrals: The referrals measured, in any state; each is read once.
    """
    states: Counter[ReferralStatus] = Counter()
    waits: dict[str, list[int]] = {stage.value: [] for stage in TIMED_STAGES}
    total = counted = closed = with_outcome = 0
    in_network = out_of_network = unknown = 0
    for referral in referrals:
        total += 1
        states[referral.state] += 1
        if not _counted(referral):
            continue
        counted += 1
        if referral.state is R.CLOSED:
            closed += 1
            if referral.outcome_documents:
                with_outcome += 1
        network = referral.target.in_network
        if network is None:
            unknown += 1
        elif network:
            in_network += 1
        else:
            out_of_network += 1
        sent, reached = _first_reached(referral)
        if sent is None:
            continue
        for stage, at in reached.items():
            if at >= sent:
                waits[stage].append(at - sent)
    times = []
    for stage in TIMED_STAGES:
        sample = sorted(waits[stage.value])
        times.append(
            StageTimes(stage, len(sample), _percentile_us(sample, 0.5), _percentile_us(sample, 0.9))
        )
    return LoopClosure(
        total=total,
        counted=counted,
        closed=closed,
        closed_with_outcome=with_outcome,
        closed_by_override=closed - with_outcome,
        in_network=in_network,
        out_of_network=out_of_network,
        network_unknown=unknown,
        by_state=tuple((state, states[state]) for state in ReferralStatus),
        stage_times=tuple(times),
    )
