"""Slot search (`$find` in the Argonaut Scheduling IG): ranked candidates for a request.

Rules of this module:

1. Index, never scan: a :class:`SlotIndex` keeps each resource's slots sorted by start
   (epoch microseconds), so a query touches only the eligible resources' slots inside the
   request's window, found by binary search.
2. Every candidate satisfies every hard constraint: an eligible resource, a free slot at
   least as long as the visit, a start inside ``[release, due]``, remaining capacity, a
   matching service type, every ``all_of`` resource free for the whole visit, no overlap
   with the patient's other appointments, and the predecessor gap when one is given.
3. Ranking is by urgency fit (days late beyond the class's access target), then
   preferences missed (weekday, time of day, preferred resources, the usual provider), then
   the earliest start, then the resource id (so ties are deterministic).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

import attrs

from caredomain.core.errors import ValidationError
from caredomain.core.time import Interval, epoch_us
from caredomain.scheduling.requests import DEFAULT_POLICY, AppointmentRequest, UrgencyPolicy
from caredomain.scheduling.slots import Slot, SlotStatus

__all__ = ["Candidate", "SlotIndex", "find_sequence", "find_series", "find_slots"]

_US_PER_DAY: Final = 86_400_000_000


@attrs.frozen
class _Lane:
    """One resource's slots, sorted by start, with parallel arrays for bisection."""

    slots: tuple[Slot, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]


@attrs.frozen
class SlotIndex:
    """Slots indexed by resource (``Slot.schedule``) and start time, and by id.

    Build it once per calendar (``SlotIndex.of(slots)``); queries are binary searches.
    """

    _lanes: dict[str, _Lane] = attrs.field(alias="lanes", eq=False, repr=False)
    _by_id: dict[str, Slot] = attrs.field(alias="by_id", eq=False, repr=False)
    _names: frozenset[str] = attrs.field(init=False, eq=False, repr=False)

    @classmethod
    def of(cls, slots: Iterable[Slot], resources: Iterable[str] = ()) -> SlotIndex:
        """Index ``slots``.

        Args:
            slots: The slots.
            resources: Resources (schedule ids) known even without slots in this horizon
                (on leave, fully blocked), so that requests naming them are not errors.

        Raises:
            ValidationError: Two slots share an id.
        """
        grouped: dict[str, list[tuple[int, int, Slot]]] = {}
        by_id: dict[str, Slot] = {}
        for slot in slots:
            if slot.id in by_id:
                raise ValidationError.at("Slot.id", "expected unique slot ids")
            by_id[slot.id] = slot
            grouped.setdefault(slot.schedule, []).append(
                (slot.interval.start_us, slot.interval.end_us, slot)
            )
        lanes = {name: _Lane((), (), ()) for name in resources}
        for resource, items in grouped.items():
            items.sort(key=lambda item: (item[0], item[2].id))
            lanes[resource] = _Lane(
                tuple(i[2] for i in items), tuple(i[0] for i in items), tuple(i[1] for i in items)
            )
        return cls(lanes=lanes, by_id=by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, slot_id: object) -> bool:
        return slot_id in self._by_id

    def get(self, slot_id: str) -> Slot:
        """The slot with this id.

        Raises:
            ValidationError: No such slot.
        """
        try:
            return self._by_id[slot_id]
        except KeyError:
            raise ValidationError.at("slot", "expected the id of an indexed slot") from None

    @property
    def resources(self) -> frozenset[str]:
        """The resources (schedule ids) known: those with slots and those declared."""
        return self._names

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_names", frozenset(self._lanes))

    def starting(self, resource: str, first_us: int, last_us: int) -> Sequence[Slot]:
        """The resource's slots whose start lies in ``[first_us, last_us]``, by start."""
        lane = self._lanes.get(resource)
        if lane is None:
            return ()
        low = bisect.bisect_left(lane.starts, first_us)
        high = bisect.bisect_right(lane.starts, last_us)
        return lane.slots[low:high]

    def covering(self, resource: str, start_us: int, end_us: int) -> Sequence[Slot]:
        """The resource's slots that contain the whole span ``[start_us, end_us)``."""
        lane = self._lanes.get(resource)
        if lane is None:
            return ()
        # Slots are not longer than a day in practice; look back from the span's start.
        high = bisect.bisect_right(lane.starts, start_us)
        found = []
        index = high - 1
        while index >= 0 and lane.starts[index] > start_us - _US_PER_DAY:
            if lane.ends[index] >= end_us:
                found.append(lane.slots[index])
            index -= 1
        return found


@attrs.frozen
class Candidate:
    """A way to satisfy a request: the slots it would occupy and how well it fits.

    Attributes:
        request: The request's id.
        slots: The primary slot first, then one slot per ``all_of`` resource.
        interval: The visit itself: from the primary slot's start for the request's duration.
        days_late: Fractional days beyond the urgency class's access target (0 if within).
        misses: Preferences not met, by name (``"weekday"``, ``"time"``, ``"resource"``,
            ``"usual-provider"``).
    """

    request: str
    slots: tuple[Slot, ...]
    interval: Interval
    days_late: float
    misses: tuple[str, ...]

    @property
    def resource(self) -> str:
        """The primary resource."""
        return self.slots[0].schedule


def _free(slot: Slot, occupied: Mapping[str, int], allow_overbook: bool) -> bool:
    if slot.status is not SlotStatus.FREE:
        return False
    room = slot.capacity + (slot.overbook if allow_overbook else 0)
    return occupied.get(slot.id, 0) < room


def _service_fits(slot: Slot, request: AppointmentRequest) -> bool:
    if request.service_type is None or not slot.service_types:
        return True
    return any(request.service_type.matches(offered) for offered in slot.service_types)


def _misses(request: AppointmentRequest, slot: Slot, timezone: str | None) -> tuple[str, ...]:
    prefs = request.preferences
    misses = []
    if prefs.weekdays or prefs.earliest or prefs.latest:
        start = slot.interval.start
        local = start.in_tz(timezone) if timezone else start
        if prefs.weekdays and local.weekday() not in prefs.weekdays:
            misses.append("weekday")
        wall = local.time()
        if (prefs.earliest and wall < prefs.earliest) or (prefs.latest and wall > prefs.latest):
            misses.append("time")
    if prefs.resources and slot.schedule not in prefs.resources:
        misses.append("resource")
    if request.usual_provider and slot.schedule != request.usual_provider:
        misses.append("usual-provider")
    return tuple(misses)


def find_slots(
    request: AppointmentRequest,
    index: SlotIndex,
    *,
    policy: UrgencyPolicy = DEFAULT_POLICY,
    occupied: Mapping[str, int] | None = None,
    patient_busy: Iterable[Interval] = (),
    after: Interval | None = None,
    allow_overbook: bool = False,
    timezone: str | None = None,
    limit: int = 10,
) -> list[Candidate]:
    """Ranked candidates for ``request``, best first (see the module rules).

    Args:
        request: What to find.
        index: The slots.
        policy: The urgency policy (for the access target).
        occupied: Bookings and holds per slot id (a ``Calendar`` provides it).
        patient_busy: The patient's other appointments; candidates never overlap them.
        after: The predecessor's booked visit, when ``request.after`` names one: the start
            must lie between ``min_gap`` and ``max_gap`` after its end.
        allow_overbook: Count each slot's overbook allowance as capacity.
        timezone: Zone for preference checks (weekday, time of day); default: the slot's
            own start zone.
        limit: How many candidates to return.

    Raises:
        ValidationError: The request's urgency is not in the policy, or ``request.after`` is
            set but no ``after`` interval was given.
    """
    urgency = policy[request.urgency]
    unknown = [r for r in (*request.any_of, *request.all_of) if r not in index.resources]
    if unknown:
        raise ValidationError.at(
            "AppointmentRequest.any_of",
            f"expected resources known to the slot index; unknown: {', '.join(sorted(unknown))}",
        )
    if limit < 1:
        raise ValidationError.at("find_slots(limit)", "expected a limit of at least 1")
    occupied = occupied or {}
    release_us, due_us = epoch_us(request.release), epoch_us(request.due)
    if request.after is not None:
        if after is None:
            raise ValidationError.at(
                "find_slots(after)", "expected the predecessor's visit for a request with 'after'"
            )
        end_us = epoch_us(after.end)
        release_us = max(release_us, end_us + _us(request.after.min_gap))
        due_us = min(due_us, end_us + _us(request.after.max_gap))
    duration_us = _us(request.duration)
    target_us = epoch_us(request.release) + _us(urgency.target)
    busy = [(epoch_us(i.start), epoch_us(i.end)) for i in patient_busy]
    prefs = request.preferences
    wishes = bool(
        prefs.weekdays
        or prefs.earliest
        or prefs.latest
        or prefs.resources
        or request.usual_provider
    )
    primaries = request.any_of or request.all_of[:1]
    companions = request.all_of if request.any_of else request.all_of[1:]

    # The best `limit` so far, sorted. Within a lane slots come by start, and lateness never
    # decreases with start, so once the list is full of keys below (this slot's lateness, no
    # misses, this start), nothing later in the lane can enter it: stop the lane there.
    best: list[tuple[tuple[float, int, int, str], int, Slot, list[Slot], tuple[str, ...]]] = []
    seen = 0
    for resource in primaries:
        for slot in index.starting(resource, release_us, due_us):
            start_us = slot.interval.start_us
            late = max(0, start_us - target_us) / _US_PER_DAY
            if len(best) >= limit and best[-1][0] < (late, 0, start_us, ""):
                break
            end_us = start_us + duration_us
            if slot.interval.end_us < end_us or not _free(slot, occupied, allow_overbook):
                continue
            if not _service_fits(slot, request):
                continue
            if any(b_start < end_us and start_us < b_end for b_start, b_end in busy):
                continue
            others = _companions(index, companions, start_us, end_us, occupied, allow_overbook)
            if others is None:
                continue
            misses = _misses(request, slot, timezone) if wishes else ()
            seen += 1
            bisect.insort(
                best, ((late, len(misses), start_us, slot.schedule), seen, slot, others, misses)
            )
            del best[limit:]
    # Build result values only for the winners: ranking works on plain tuples.
    return [
        Candidate(
            request.id,
            (slot, *others),
            Interval(slot.interval.start, slot.interval.start + request.duration),
            key[0],
            misses,
        )
        for key, _, slot, others, misses in best
    ]


def _companions(
    index: SlotIndex,
    resources: Sequence[str],
    start_us: int,
    end_us: int,
    occupied: Mapping[str, int],
    allow_overbook: bool,
) -> list[Slot] | None:
    chosen = []
    for resource in resources:
        slot = next(
            (
                s
                for s in index.covering(resource, start_us, end_us)
                if _free(s, occupied, allow_overbook)
            ),
            None,
        )
        if slot is None:
            return None
        chosen.append(slot)
    return chosen


def find_sequence(
    first: AppointmentRequest,
    then: AppointmentRequest,
    index: SlotIndex,
    *,
    policy: UrgencyPolicy = DEFAULT_POLICY,
    occupied: Mapping[str, int] | None = None,
    patient_busy: Iterable[Interval] = (),
    limit: int = 10,
    breadth: int = 50,
) -> list[tuple[Candidate, Candidate]]:
    """Ranked pairs for two requests where ``then.after`` names ``first``.

    "A1C draw 1-3 days before the endocrinology visit": ``first`` is the draw, ``then`` the
    visit with ``after=Predecessor(first.id, P1D, P3D)``. Pairs are ranked by the summed
    urgency lateness, then preferences missed, then the later visit's start. ``breadth``
    candidates of ``first`` are extended.

    Raises:
        ValidationError: ``then.after`` does not name ``first``, or the two are for
            different patients.
    """
    if then.after is None or then.after.request != first.id:
        raise ValidationError.at("find_sequence(then)", "expected then.after to name first")
    if first.patient != then.patient:
        raise ValidationError.at("find_sequence(then)", "expected both requests for one patient")
    busy = list(patient_busy)
    pairs = []
    for lead in find_slots(
        first, index, policy=policy, occupied=occupied, patient_busy=busy, limit=breadth
    ):
        taken = dict(occupied or {})
        for slot in lead.slots:
            taken[slot.id] = taken.get(slot.id, 0) + 1
        follow = find_slots(
            then,
            index,
            policy=policy,
            occupied=taken,
            patient_busy=[*busy, lead.interval],
            after=lead.interval,
            limit=1,
        )
        if follow:
            pairs.append((lead, follow[0]))
    pairs.sort(
        key=lambda p: (
            p[0].days_late + p[1].days_late,
            len(p[0].misses) + len(p[1].misses),
            epoch_us(p[1].interval.start),
            epoch_us(p[0].interval.start),
        )
    )
    return pairs[:limit]


def find_series(
    requests: Sequence[AppointmentRequest],
    index: SlotIndex,
    *,
    policy: UrgencyPolicy = DEFAULT_POLICY,
    occupied: Mapping[str, int] | None = None,
    patient_busy: Iterable[Interval] = (),
    breadth: int = 3,
) -> list[Candidate] | None:
    """The earliest complete series, or ``None`` when the whole series does not fit.

    ``requests`` is a chain: each one after the first names the one before it in ``after``
    ("PT twice a week for six weeks": twelve requests, each 2 to 5 days after the last).
    A series is only useful whole, so this searches depth-first, trying up to ``breadth``
    candidates per step (best first) and backtracking when a later step has none; a series
    that does not fit returns ``None`` rather than a prefix.

    Raises:
        ValidationError: The requests do not form a chain for one patient.
    """
    for earlier, later in itertools.pairwise(requests):
        if later.after is None or later.after.request != earlier.id:
            raise ValidationError.at(
                "find_series(requests)", "expected each request to follow the one before"
            )
        if later.patient != earlier.patient:
            raise ValidationError.at("find_series(requests)", "expected one patient for the series")
    busy = list(patient_busy)

    def extend(step: int, taken: dict[str, int], chosen: list[Candidate]) -> list[Candidate] | None:
        if step == len(requests):
            return chosen
        previous = chosen[-1].interval if chosen else None
        options = find_slots(
            requests[step],
            index,
            policy=policy,
            occupied=taken,
            patient_busy=[*busy, *(c.interval for c in chosen)],
            after=previous if requests[step].after is not None else None,
            limit=breadth,
        )
        for option in options:
            more = dict(taken)
            for slot in option.slots:
                more[slot.id] = more.get(slot.id, 0) + 1
            found = extend(step + 1, more, [*chosen, option])
            if found is not None:
                return found
        return None

    if not requests:
        return []
    if requests[0].after is not None:
        raise ValidationError.at(
            "find_series(requests)", "expected the first request to have no predecessor"
        )
    return extend(0, dict(occupied or {}), [])


def _us(delta: _dt.timedelta) -> int:
    return delta // _dt.timedelta(microseconds=1)
