"""The ``core`` area: JSON, business days, unit conversion and the state-machine kernel.

Peers: pydantic 2 (JSON round trip), numpy (business days), pint (units), transitions (state
machines), plus a plain-dict baseline for the state machine. Every case's ``check`` asserts
that both sides give the same answers on the batch before anything is timed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import zoneinfo
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

import attrs
import holidays
import numpy as np
import pendulum
import pint
import pydantic
import transitions
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from benchmarks._harness import Case, package_label
from caredomain.core import (
    Address,
    AdministrativeGender,
    AuditTrail,
    BusinessCalendar,
    CodeableConcept,
    ContactPoint,
    ContactPointSystem,
    DomainEvent,
    HumanName,
    Identifier,
    Machine,
    Patient,
    Quantity,
    Transition,
    ValidationError,
    from_json,
    hl7_v2_table,
    to_json,
)

PYDANTIC = package_label("pydantic")
NUMPY = package_label("numpy")
PINT = package_label("pint")
TRANSITIONS = package_label("transitions")


def _must_reject(attempt: Callable[[], object]) -> None:
    try:
        attempt()
    except (ValidationError, pydantic.ValidationError):
        return
    raise AssertionError("an invalid input was accepted")


# --- 1. json-roundtrip-patient ---------------------------------------------------------
#
# caredomain: to_json + from_json(..., Patient), strict reading (unknown keys, wrong types,
# naive values refused; every problem reported with its path).
# pydantic: the same shape as BaseModels with extra="forbid" and strict=True, dumped with
# model_dump_json and read back with model_validate_json; the same field-level rules (FHIR
# id pattern, non-blank identifier and code strings, IANA timezone). Both produce the same
# JSON document (checked). Remaining differences: pydantic's parser and validators run in
# Rust (pydantic-core), caredomain's in Python (json + cattrs + attrs validators);
# caredomain's values are pendulum Dates where pydantic's are datetime.date.

_NON_BLANK = r"^\S(?:[\s\S]*\S)?$"  # caredomain: non-empty, no surrounding whitespace
NonBlank = Annotated[str, StringConstraints(pattern=_NON_BLANK)]
FhirId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]


def _iana_zone(name: str | None) -> str | None:
    # caredomain's validate_timezone: a name the tz database knows, and not an offset.
    if name is not None:
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # the former is a KeyError
            raise ValueError("expected an IANA timezone name") from None
        if name.startswith(("+", "-")) or name[:1].isdigit():
            raise ValueError("expected an IANA timezone name, not an offset")
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PydCoding(_Strict):
    system: NonBlank
    code: NonBlank
    display: str | None = None
    version: str | None = None


class PydCodeableConcept(_Strict):
    codings: tuple[PydCoding, ...] = ()
    text: str | None = None


class PydIdentifier(_Strict):
    value: NonBlank
    system: str | None = None
    type: PydCodeableConcept | None = None


class PydHumanName(_Strict):
    family: str | None = None
    given: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    use: str | None = None


class PydContactPoint(_Strict):
    system: ContactPointSystem  # the same stdlib StrEnum as caredomain's
    value: str
    use: str | None = None
    rank: int | None = None


class PydAddress(_Strict):
    lines: tuple[str, ...] = ()
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    use: str | None = None


class PydPatient(_Strict):
    id: FhirId
    identifiers: tuple[PydIdentifier, ...] = ()
    names: tuple[PydHumanName, ...] = ()
    birth_date: dt.date | None = None
    sex: AdministrativeGender | None = None
    telecom: tuple[PydContactPoint, ...] = ()
    addresses: tuple[PydAddress, ...] = ()
    language: str | None = None
    timezone: Annotated[str | None, AfterValidator(_iana_zone)] = None


_FAMILIES = ("Okafor", "Nguyen", "García", "Kowalski", "Haddad", "Johnson", "Yamamoto", "Brown")
_GIVEN = ("Adaeze", "Minh", "Lucía", "Piotr", "Rania", "Marcus", "Haruto", "Evelyn")
_ZONES = ("America/Chicago", "America/New_York", "America/Denver", "America/Los_Angeles")


def _patient(n: int) -> Patient:
    """A realistic registered patient: an MRN, one name, birth date, sex, phone and email,
    a home address, a preferred language and a timezone."""
    return Patient(
        id=f"pat-{n:05d}",
        identifiers=(
            Identifier(
                f"MRN{400000 + n * 37:08d}",
                system="urn:oid:2.16.840.1.113883.3.72.5.9.1",
                type=CodeableConcept.of(hl7_v2_table(203), "MR", "Medical record number"),
            ),
        ),
        names=(HumanName(family=_FAMILIES[n % 8], given=(_GIVEN[n % 8], "A."), use="official"),),
        birth_date=pendulum.Date(1940 + n % 60, 1 + n % 12, 1 + n % 28),
        sex=(AdministrativeGender.FEMALE, AdministrativeGender.MALE)[n % 2],
        telecom=(
            ContactPoint(ContactPointSystem.PHONE, f"+1-312-555-{n % 10000:04d}", "mobile", 1),
            ContactPoint(ContactPointSystem.EMAIL, f"patient{n}@example.org", "home", 2),
        ),
        addresses=(
            Address(
                lines=(f"{100 + n} W Harrison St", "Apt 4B"),
                city="Chicago",
                state="IL",
                postal_code="60607",
                country="US",
                use="home",
            ),
        ),
        language=("en-US", "es")[n % 2],
        timezone=_ZONES[n % 4],
    )


PATIENTS = tuple(_patient(n) for n in range(100))
PYD_PATIENTS = tuple(PydPatient.model_validate_json(to_json(p)) for p in PATIENTS)


def json_ours() -> list[Patient]:
    return [from_json(to_json(p), Patient) for p in PATIENTS]


def json_pydantic() -> list[PydPatient]:
    return [PydPatient.model_validate_json(m.model_dump_json()) for m in PYD_PATIENTS]


def json_check() -> None:
    for ours, theirs in zip(PATIENTS, PYD_PATIENTS, strict=True):
        assert json.loads(to_json(ours)) == json.loads(theirs.model_dump_json())
    assert json_ours() == list(PATIENTS)
    assert json_pydantic() == list(PYD_PATIENTS)
    # The same inputs are refused by both: unknown key, bad id, bool as int, string as
    # array, unknown timezone, datetime as a date, blank identifier.
    good = json.loads(to_json(PATIENTS[0]))
    bad_inputs = [
        {**good, "nickname": "x"},
        {**good, "id": "pat_1"},
        {**good, "telecom": [{**good["telecom"][0], "rank": True}]},
        {**good, "addresses": [{**good["addresses"][0], "lines": "1 Main St"}]},
        {**good, "timezone": "CST"},
        {**good, "birth_date": "1958-04-17T00:00:00"},
        {**good, "identifiers": [{**good["identifiers"][0], "value": " "}]},
    ]
    for bad in bad_inputs:
        text = json.dumps(bad)
        _must_reject(functools.partial(from_json, text, Patient))
        _must_reject(functools.partial(PydPatient.model_validate_json, text))


# --- 2. business-days-add ----------------------------------------------------------------
#
# caredomain: BusinessCalendar().add_business_days(day, 10): the US federal calendar from
# the holidays package, observed days closed; `day` itself never counts, the result is the
# 10th business day after it. The calendar is built once, as an application would.
# numpy: busday_offset(day, 10, roll="backward", busdaycal=...) with the very same holiday
# dates (read from the holidays package with the calendar's settings) and a Mon-Fri week.
# roll="backward" is the setting that means the same as caredomain: a weekend or holiday
# start rolls back to the business day before it, so the next business day counts as 1.
# roll="forward" would instead count from the next business day as 0 and land one business
# day later than caredomain for every non-business start (checked below). The holidays are
# given once as a busdaycalendar, numpy's form for repeated calls (holidays=... on each call
# rebuilds the calendar every time). The per-call peer takes the same datetime.date values
# and returns numpy.datetime64; the vectorized peer gets a datetime64[D] array up front.

CALENDAR = BusinessCalendar()
DAYS = tuple(dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(730))  # 2026-2027
HOLIDAY_DATES = sorted(
    holidays.country_holidays(
        CALENDAR.country,
        subdiv=CALENDAR.subdivision,
        years=range(2025, 2029),
        observed=CALENDAR.observed,
        categories=CALENDAR.categories,
    )
)
NP_CALENDAR = np.busdaycalendar(weekmask="1111100", holidays=HOLIDAY_DATES)
DAYS_64 = np.array(DAYS, dtype="datetime64[D]")


def days_ours() -> list[pendulum.Date]:
    return [CALENDAR.add_business_days(day, 10) for day in DAYS]


def days_numpy() -> list[np.datetime64]:
    return [np.busday_offset(day, 10, roll="backward", busdaycal=NP_CALENDAR) for day in DAYS]


def days_numpy_vectorized() -> Any:
    return np.busday_offset(DAYS_64, 10, roll="backward", busdaycal=NP_CALENDAR)


def days_check() -> None:
    ours = np.array(days_ours(), dtype="datetime64[D]")
    assert (ours == np.array(days_numpy())).all()
    assert (ours == days_numpy_vectorized()).all()
    forward = np.busday_offset(DAYS_64, 10, roll="forward", busdaycal=NP_CALENDAR)
    starts_on_business_day = np.is_busday(DAYS_64, busdaycal=NP_CALENDAR)
    assert ((forward == ours) == starts_on_business_day).all()


# --- 3. unit-convert-weight --------------------------------------------------------------
#
# caredomain: Quantity(value, "[lb_av]").to("kg"), exact Decimal arithmetic (28 digits).
# pint: UnitRegistry(non_int_type=Decimal), Q_(value, "lb").to("kg"): the same Decimal
# values in, the same exact Decimal results out (checked). pint's registry is built once and
# caches the lb -> kg factor, as caredomain's unit table is a module constant. Remaining
# difference: caredomain's unit table is a small dict of UCUM codes; pint parses unit
# expressions against its full definition file.

UREG: Any = pint.UnitRegistry(non_int_type=Decimal)
WEIGHTS_LB = tuple(Decimal(90) + Decimal(n) / Decimal(10) for n in range(0, 2000, 10))


def units_ours() -> list[Quantity]:
    return [Quantity(value, "[lb_av]").to("kg") for value in WEIGHTS_LB]


def units_pint() -> list[Any]:
    return [UREG.Quantity(value, "lb").to("kg") for value in WEIGHTS_LB]


def units_check() -> None:
    for ours, theirs in zip(units_ours(), units_pint(), strict=True):
        assert isinstance(theirs.magnitude, Decimal)
        assert ours.unit == "kg"
        assert str(theirs.units) == "kilogram"
        assert ours.value == theirs.magnitude


# --- 4. statemachine-apply ---------------------------------------------------------------
#
# A FHIR Task-like lifecycle: draft -> requested -> accepted -> in-progress -> completed,
# with a self-loop on in-progress (a progress note) and completed terminal. One operation is
# one event applied; each call replays one 1,000-event sequence onto a new draft task.
#
# caredomain: Machine.replay over frozen values: for each event, the idempotency check
# (event id already in the trail?), the ordering check (not before the last event), the
# table lookup, an AuditEntry, and a new value by attrs.evolve.
# transitions: one Machine declared once (auto_transitions off), a fresh model added per
# sequence. transitions keeps no audit trail and checks neither duplicates nor order, so the
# loop around it does that work as cheaply as Python allows: a set of seen ids, a
# comparison with the last occurred_at, and a tuple appended to a list per event. The model
# is mutable where caredomain's value is frozen.
# dict-baseline: the same loop with the transition table as a plain dict: the floor.


class TaskStatus(StrEnum):
    DRAFT = "draft"
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"


@attrs.frozen(kw_only=True)
class TaskRequested(DomainEvent):
    event_type: ClassVar[str] = "bench-task-requested"


@attrs.frozen(kw_only=True)
class TaskAccepted(DomainEvent):
    event_type: ClassVar[str] = "bench-task-accepted"


@attrs.frozen(kw_only=True)
class TaskStarted(DomainEvent):
    event_type: ClassVar[str] = "bench-task-started"


@attrs.frozen(kw_only=True)
class TaskProgressNoted(DomainEvent):
    event_type: ClassVar[str] = "bench-task-progress-noted"


@attrs.frozen(kw_only=True)
class TaskCompleted(DomainEvent):
    event_type: ClassVar[str] = "bench-task-completed"


@attrs.frozen
class Task:
    id: str
    state: TaskStatus = TaskStatus.DRAFT
    trail: AuditTrail = attrs.field(factory=AuditTrail)


S = TaskStatus
TASK_MACHINE: Machine[TaskStatus, Task] = Machine(
    "bench-task",
    TaskStatus,
    initial=S.DRAFT,
    terminal=[S.COMPLETED],
    transitions=[
        Transition(TaskRequested, S.DRAFT, S.REQUESTED),
        Transition(TaskAccepted, S.REQUESTED, S.ACCEPTED),
        Transition(TaskStarted, S.ACCEPTED, S.IN_PROGRESS),
        Transition(TaskProgressNoted, S.IN_PROGRESS, None),
        Transition(TaskCompleted, S.IN_PROGRESS, S.COMPLETED),
    ],
)

_START = pendulum.datetime(2026, 3, 2, 8, tz="America/Chicago")
_KINDS: Sequence[type[DomainEvent]] = (
    TaskRequested,
    TaskAccepted,
    TaskStarted,
    *([TaskProgressNoted] * 996),
    TaskCompleted,
)
EVENTS: tuple[DomainEvent, ...] = tuple(
    kind(
        event_id=f"evt-{i:04d}",
        occurred_at=_START.add(minutes=i),
        recorded_at=_START.add(minutes=i, seconds=1),
    )
    for i, kind in enumerate(_KINDS)
)

TRIGGERS: dict[type[DomainEvent], str] = {
    TaskRequested: "request",
    TaskAccepted: "accept",
    TaskStarted: "start",
    TaskProgressNoted: "note_progress",
    TaskCompleted: "complete",
}
PEER_MACHINE = transitions.Machine(
    model=None,
    states=[s.value for s in TaskStatus],
    initial=S.DRAFT.value,
    transitions=[
        {"trigger": "request", "source": "draft", "dest": "requested"},
        {"trigger": "accept", "source": "requested", "dest": "accepted"},
        {"trigger": "start", "source": "accepted", "dest": "in-progress"},
        {"trigger": "note_progress", "source": "in-progress", "dest": "="},
        {"trigger": "complete", "source": "in-progress", "dest": "completed"},
    ],
    auto_transitions=False,
)
TABLE: dict[tuple[type[DomainEvent], str], str] = {
    (TaskRequested, "draft"): "requested",
    (TaskAccepted, "requested"): "accepted",
    (TaskStarted, "accepted"): "in-progress",
    (TaskProgressNoted, "in-progress"): "in-progress",
    (TaskCompleted, "in-progress"): "completed",
}


class PeerTask:
    state: str
    trigger: Callable[[str], bool]  # added by transitions.Machine.add_model


def machine_ours() -> Task:
    return TASK_MACHINE.replay(Task("task-1"), EVENTS)


def machine_transitions() -> tuple[str, list[tuple[Any, ...]]]:
    model = PeerTask()
    PEER_MACHINE.add_model(model)
    seen: set[str] = set()
    trail: list[tuple[Any, ...]] = []
    last = None
    for event in EVENTS:
        if event.event_id in seen:
            continue
        if last is not None and event.occurred_at < last:
            raise ValueError("out of order")
        source = model.state
        model.trigger(TRIGGERS[type(event)])
        trail.append(
            (
                event.event_id,
                event.event_type,
                event.occurred_at,
                event.recorded_at,
                source,
                model.state,
            )
        )
        seen.add(event.event_id)
        last = event.occurred_at
    PEER_MACHINE.remove_model(model)
    return model.state, trail


def machine_dict() -> tuple[str, list[tuple[Any, ...]]]:
    state = "draft"
    seen: set[str] = set()
    trail: list[tuple[Any, ...]] = []
    last = None
    for event in EVENTS:
        if event.event_id in seen:
            continue
        if last is not None and event.occurred_at < last:
            raise ValueError("out of order")
        source = state
        state = TABLE[type(event), state]
        trail.append(
            (event.event_id, event.event_type, event.occurred_at, event.recorded_at, source, state)
        )
        seen.add(event.event_id)
        last = event.occurred_at
    return state, trail


def machine_check() -> None:
    ours = machine_ours()
    expected = [(e.from_state, e.to_state) for e in ours.trail]
    assert ours.state is S.COMPLETED
    assert len(expected) == len(EVENTS)
    for state, trail in (machine_transitions(), machine_dict()):
        assert state == "completed"
        assert [(row[-2], row[-1]) for row in trail] == expected


CASES = [
    Case("json-roundtrip-patient", json_ours, PYDANTIC, json_pydantic, len(PATIENTS), json_check),
    Case("business-days-add", days_ours, NUMPY, days_numpy, len(DAYS), days_check),
    Case(
        "business-days-add-vectorized",
        days_ours,
        f"{NUMPY} vectorized",
        days_numpy_vectorized,
        len(DAYS),
        days_check,
    ),
    Case("unit-convert-weight", units_ours, PINT, units_pint, len(WEIGHTS_LB), units_check),
    Case(
        "statemachine-apply",
        machine_ours,
        TRANSITIONS,
        machine_transitions,
        len(EVENTS),
        machine_check,
    ),
    Case(
        "statemachine-apply-dict",
        machine_ours,
        "dict-baseline",
        machine_dict,
        len(EVENTS),
        machine_check,
    ),
]
