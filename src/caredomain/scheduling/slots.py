"""Schedules and slots: who or what can be booked, and when (FHIR R4 Schedule and Slot)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Final

import attrs

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Reference
from caredomain.core.time import Interval, validate_timezone

__all__ = ["SCHEDULE_ACTORS", "Schedule", "Slot", "SlotStatus"]

SCHEDULE_ACTORS: Final = frozenset(
    {"Practitioner", "PractitionerRole", "Location", "Device", "HealthcareService"}
)
"""What a FHIR R4 ``Schedule.actor`` may reference: a clinician, a room or site, equipment
such as an MRI scanner, or a service."""


class SlotStatus(StrEnum):
    """FHIR R4 ``slotstatus`` (required binding on ``Slot.status``)."""

    BUSY = "busy"
    FREE = "free"
    BUSY_UNAVAILABLE = "busy-unavailable"
    BUSY_TENTATIVE = "busy-tentative"
    ENTERED_IN_ERROR = "entered-in-error"


def _concepts(value: Iterable[CodeableConcept]) -> tuple[CodeableConcept, ...]:
    return tuple(value)


def _check_zone(_inst: object, _attribute: attrs.Attribute[Any], value: str) -> None:
    validate_timezone(value, "Schedule.timezone")


@attrs.frozen
class Schedule:
    """The bookable time of one resource (FHIR ``Schedule``).

    Attributes:
        id: caredomain's id.
        actor: The resource: a Practitioner, a Location (room), a Device (an MRI), ...
        timezone: IANA zone its availability is written in; slots are generated in local
            time there, so a 08:00 clinic opens at 08:00 on both sides of a DST change.
        service_types: Services it offers (used to match requests).
        horizon: The period its slots are planned for (``Schedule.planningHorizon``).
        active: Whether it is in use.
    """

    id: str
    actor: Reference
    timezone: str = attrs.field(validator=_check_zone)
    service_types: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    horizon: Interval | None = None
    active: bool = True

    def __attrs_post_init__(self) -> None:
        if self.actor.target not in SCHEDULE_ACTORS:
            raise ValidationError.at(
                "Schedule.actor", f"expected a reference to one of {sorted(SCHEDULE_ACTORS)}"
            )


@attrs.frozen
class Slot:
    """A span of a schedule that appointments can be booked into (FHIR ``Slot``).

    Attributes:
        id: caredomain's id.
        schedule: The schedule's id.
        interval: When, half-open ``[start, end)``; never empty.
        status: Free, busy, ... (FHIR ``slotstatus``).
        service_types: Services this slot is for; empty means any of the schedule's.
        capacity: How many appointments it holds normally (group visits hold more).
        overbook: How many more it may hold when the overbooking policy allows.
    """

    id: str
    schedule: str
    interval: Interval
    status: SlotStatus = SlotStatus.FREE
    service_types: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    capacity: int = 1
    overbook: int = 0

    def __attrs_post_init__(self) -> None:
        if self.interval.is_empty:
            raise ValidationError.at("Slot.interval", "expected a slot that lasts some time")
        if self.capacity < 1:
            raise ValidationError.at("Slot.capacity", "expected a capacity of at least 1")
        if self.overbook < 0:
            raise ValidationError.at("Slot.overbook", "expected a non-negative overbook allowance")
