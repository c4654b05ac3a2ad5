"""Hypothesis strategies for caredomain's public types, for your property tests and ours.

Every strategy returns valid values (ones the type's validators accept), including the
awkward ones real feeds produce: timezones with DST and half-hour offsets, instants inside
DST gaps and folds, units spelled in aliases, decimals with many places. Use them in your
own tests:

```python
from hypothesis import given
from caredomain import from_json, to_json
from caredomain.testing import strategies as cst

@given(cst.patients())
def test_my_store_round_trips(patient):
    assert from_json(to_json(patient), type(patient)) == patient
```

Strategies take keyword arguments to narrow them (``quantities(units=["kg", "[lb_av]"])``,
``aware_datetimes(timezones=["America/Chicago"])``).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar, cast

import attrs
import pendulum
from hypothesis import strategies as st
from pendulum import Date, DateTime

from caredomain.adapters.hl7v2.ref import ReferralMessage
from caredomain.adapters.hl7v2.siu import SchedulingMessage
from caredomain.authorization.case import (
    AuthorizationCase,
    CaseStatus,
    Decision,
    Program,
    ReviewAction,
    ReviewPriority,
    ServiceLine,
)
from caredomain.authorization.check import Requirement
from caredomain.authorization.rules import Covered, DocNeeded, InfoNeeded, PaNeeded
from caredomain.careplans.model import (
    MEASURES,
    Activity,
    ActivityKind,
    ActivityStatus,
    Bound,
    CarePlan,
    CarePlanStatus,
    Component,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    Observation,
    ObservationSource,
    Target,
    Timing,
)
from caredomain.core.codes import (
    CPT,
    FHIR_OBSERVATION_CATEGORY,
    HCPCS,
    ICD_10_CM,
    LOINC,
    RXNORM,
    SNOMED_CT,
    UCUM,
    CodeableConcept,
    Coding,
    hl7_v2_table,
)
from caredomain.core.encounters import (
    ACT_CODE,
    ENCOUNTER_CLASSES,
    Encounter,
    EncounterParticipant,
    EncounterStatus,
)
from caredomain.core.errors import ValidationError
from caredomain.core.events import AuditEntry, AuditTrail, DomainEvent
from caredomain.core.identity import REFERENCE_TARGETS, Identifier, Reference
from caredomain.core.parties import (
    Address,
    AdministrativeGender,
    ContactPoint,
    ContactPointSystem,
    Coverage,
    HumanName,
    LineOfBusiness,
    Location,
    Organization,
    Patient,
    Practitioner,
)
from caredomain.core.quantities import Quantity, known_units
from caredomain.core.results import (
    INTERPRETATION,
    ObservationResult,
    Range,
    Ratio,
    ReferenceRange,
    ResultStatus,
)
from caredomain.core.time import BusinessCalendar, Interval
from caredomain.referrals.directory import (
    SDOH_CATEGORIES,
    CapacityStatus,
    CommunityService,
    Delivery,
    Eligibility,
    OpeningHours,
    OpeningPeriod,
    Place,
    ServiceArea,
)
from caredomain.referrals.model import (
    AuthorizationLink,
    DocumentKind,
    Referral,
    ReferralCategory,
    ReferralPriority,
    ReferralStatus,
    ReferralTarget,
)
from caredomain.scheduling.appointments import (
    Appointment,
    AppointmentStatus,
    Participant,
    ParticipationStatus,
)
from caredomain.scheduling.availability import Session
from caredomain.scheduling.reminders import PlannedReminder, ReminderKind
from caredomain.scheduling.requests import (
    DEFAULT_POLICY,
    AppointmentRequest,
    Predecessor,
    Preferences,
    UrgencyPolicy,
)
from caredomain.scheduling.slots import SCHEDULE_ACTORS, Schedule, Slot, SlotStatus

__all__ = [
    "TIMEZONES",
    "activities",
    "addresses",
    "appointment_requests",
    "appointments",
    "audit_entries",
    "audit_trails",
    "authorization_cases",
    "aware_datetimes",
    "business_calendars",
    "care_plan_observations",
    "care_plans",
    "code_systems",
    "codeable_concepts",
    "codes",
    "codings",
    "community_services",
    "contact_points",
    "coverages",
    "dates",
    "decisions",
    "domain_events",
    "eligibilities",
    "encounters",
    "event_ids",
    "fhir_ids",
    "goals",
    "hl7v2_messages",
    "human_names",
    "identifiers",
    "intervals",
    "locations",
    "observation_results",
    "opening_hours",
    "organizations",
    "patients",
    "planned_reminders",
    "practitioners",
    "quantities",
    "ref_messages",
    "references",
    "referral_targets",
    "referrals",
    "referrals_in_flight",
    "requirements",
    "schedules",
    "scheduling_messages",
    "sessions",
    "siu_messages",
    "slots",
    "targets",
    "timezones",
    "timings",
]

E = TypeVar("E", bound=DomainEvent)

TIMEZONES: tuple[str, ...] = (
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Puerto_Rico",
    "America/St_Johns",
    "America/Santiago",
    "Europe/London",
    "Australia/Adelaide",
    "Asia/Kolkata",
    "Asia/Kathmandu",
)
"""IANA zones the default strategies draw from: US zones with and without DST, a southern
hemisphere DST zone, half- and quarter-hour offsets, a zone whose DST shift is at midnight, and
UTC.
"""

_FHIR_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-."
_CODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.*"
_MIN_INSTANT = _dt.datetime(1900, 1, 2, tzinfo=_dt.UTC)
_MAX_INSTANT = _dt.datetime(2100, 12, 30, tzinfo=_dt.UTC)


def _text(max_size: int = 30) -> st.SearchStrategy[str]:
    """Printable text that is not blank, as names and free text are in real data."""
    return st.text(
        st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")),
        min_size=1,
        max_size=max_size,
    ).filter(lambda s: s.strip() == s and s != "")


def fhir_ids() -> st.SearchStrategy[str]:
    """Ids valid as FHIR ``id``: 1-64 of ``A-Z a-z 0-9 - .``."""
    return st.text(_FHIR_ID_ALPHABET, min_size=1, max_size=64)


def timezones(zones: Sequence[str] = TIMEZONES) -> st.SearchStrategy[str]:
    """IANA timezone names (by default `TIMEZONES`)."""
    return st.sampled_from(tuple(zones))


def aware_datetimes(
    *,
    min_value: _dt.datetime = _MIN_INSTANT,
    max_value: _dt.datetime = _MAX_INSTANT,
    timezones: Sequence[str] = TIMEZONES,
) -> st.SearchStrategy[DateTime]:
    """Aware pendulum datetimes between two instants, expressed in one of ``timezones``.

    Instants are drawn uniformly in UTC with microsecond precision and then shown in a
    zone, so local times inside DST folds (the repeated hour) appear naturally.
    """
    low = min_value.astimezone(_dt.UTC).replace(tzinfo=None)
    high = max_value.astimezone(_dt.UTC).replace(tzinfo=None)

    @st.composite
    def build(draw: st.DrawFn) -> DateTime:
        naive = draw(st.datetimes(min_value=low, max_value=high))
        zone = draw(st.sampled_from(tuple(timezones)))
        return pendulum.instance(naive.replace(tzinfo=_dt.UTC)).in_tz(zone)

    return build()


def dates(
    *, min_value: _dt.date = _dt.date(1900, 1, 1), max_value: _dt.date = _dt.date(2100, 12, 31)
) -> st.SearchStrategy[Date]:
    """Calendar dates as pendulum ``Date``."""
    return st.dates(min_value=min_value, max_value=max_value).map(
        lambda d: Date(d.year, d.month, d.day)
    )


def intervals(
    *,
    max_duration: _dt.timedelta = _dt.timedelta(days=60),
    timezones: Sequence[str] = TIMEZONES,
    allow_empty: bool = True,
) -> st.SearchStrategy[Interval]:
    """Half-open intervals no longer than ``max_duration`` (empty ones if ``allow_empty``)."""
    low = _dt.timedelta(0) if allow_empty else _dt.timedelta(microseconds=1)

    @st.composite
    def build(draw: st.DrawFn) -> Interval:
        start = draw(aware_datetimes(timezones=timezones))
        length = draw(st.timedeltas(min_value=low, max_value=max_duration))
        end_zone = draw(st.sampled_from(tuple(timezones)))
        return Interval(start, (start + length).in_tz(end_zone))

    return build()


def code_systems() -> st.SearchStrategy[str]:
    """Code-system URIs caredomain knows, plus an HL7 v2 table."""
    return st.sampled_from(
        (LOINC, SNOMED_CT, ICD_10_CM, CPT, HCPCS, UCUM, RXNORM, hl7_v2_table(203))
    )


def codes() -> st.SearchStrategy[str]:
    """Code values: short, case-sensitive, with the punctuation real systems use."""
    return st.text(_CODE_ALPHABET, min_size=1, max_size=12)


def codings(systems: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Coding]:
    """``Coding`` values (display and version sometimes set)."""
    return st.builds(
        Coding,
        system=systems if systems is not None else code_systems(),
        code=codes(),
        display=st.none() | _text(),
        version=st.none() | st.sampled_from(("2.77", "2026", "20260301")),
    )


def codeable_concepts() -> st.SearchStrategy[CodeableConcept]:
    """``CodeableConcept`` values with zero to three codings."""
    return st.builds(
        CodeableConcept,
        codings=st.lists(codings(), max_size=3).map(tuple),
        text=st.none() | _text(),
    )


def identifiers() -> st.SearchStrategy[Identifier]:
    """``Identifier`` values shaped like MRNs, NPIs and member ids."""
    return st.builds(
        Identifier,
        value=st.text("ABCDEFGHJKMNPQRTUVWXY0123456789-", min_size=1, max_size=20).filter(
            lambda s: s.strip("-") == s
        ),
        system=st.none()
        | st.sampled_from(("http://hl7.org/fhir/sid/us-npi", "urn:oid:2.16.840.1.113883.3.999.1")),
        type=st.none()
        | st.sampled_from(("MR", "NPI", "MB", "PLAC", "FILL")).map(
            lambda code: CodeableConcept.of(hl7_v2_table(203), code)
        ),
    )


def references(targets: Sequence[str] | None = None) -> st.SearchStrategy[Reference]:
    """``Reference`` values to ``targets`` (default: every allowed target type)."""
    kinds = tuple(targets) if targets is not None else tuple(sorted(REFERENCE_TARGETS))
    by_id = st.builds(Reference, target=st.sampled_from(kinds), id=fhir_ids())
    by_identifier = st.builds(
        Reference,
        target=st.sampled_from(kinds),
        id=st.none() | fhir_ids(),
        identifier=identifiers(),
        display=st.none() | _text(),
    )
    return by_id | by_identifier


def quantities(units: Sequence[str] | None = None) -> st.SearchStrategy[Quantity]:
    """``Quantity`` values in convertible UCUM units, with exact decimal values."""
    pool = tuple(units) if units is not None else tuple(sorted(known_units()))
    return st.builds(
        Quantity,
        value=st.decimals(
            min_value=Decimal("-100000"),
            max_value=Decimal("100000"),
            places=4,
            allow_nan=False,
            allow_infinity=False,
        ),
        unit=st.sampled_from(pool),
    )


def human_names() -> st.SearchStrategy[HumanName]:
    """``HumanName`` values, including non-ASCII letters."""
    return st.builds(
        HumanName,
        family=st.none() | _text(),
        given=st.lists(_text(), max_size=3).map(tuple),
        prefix=st.lists(st.sampled_from(("Dr.", "Mr.", "Ms.", "Mx.")), max_size=1).map(tuple),
        suffix=st.lists(st.sampled_from(("Jr.", "III", "MD")), max_size=1).map(tuple),
        use=st.none() | st.sampled_from(("official", "usual", "nickname", "maiden")),
    )


def contact_points() -> st.SearchStrategy[ContactPoint]:
    """``ContactPoint`` values (phones, emails)."""
    return st.builds(
        ContactPoint,
        system=st.sampled_from(ContactPointSystem),
        value=_text(),
        use=st.none() | st.sampled_from(("home", "work", "mobile", "temp")),
        rank=st.none() | st.integers(1, 5),
    )


def addresses() -> st.SearchStrategy[Address]:
    """``Address`` values."""
    return st.builds(
        Address,
        lines=st.lists(_text(), max_size=2).map(tuple),
        city=st.none() | _text(),
        state=st.none() | st.sampled_from(("IL", "TX", "CA", "NY", "PR")),
        postal_code=st.none() | st.from_regex(r"\A[0-9]{5}(-[0-9]{4})?\Z"),
        country=st.none() | st.just("US"),
        use=st.none() | st.sampled_from(("home", "work", "temp")),
    )


def patients() -> st.SearchStrategy[Patient]:
    """``Patient`` values with the optional parts sometimes missing."""
    return st.builds(
        Patient,
        id=fhir_ids(),
        identifiers=st.lists(identifiers(), max_size=3).map(tuple),
        names=st.lists(human_names(), max_size=2).map(tuple),
        birth_date=st.none() | dates(max_value=_dt.date(2026, 12, 31)),
        sex=st.none() | st.sampled_from(AdministrativeGender),
        telecom=st.lists(contact_points(), max_size=2).map(tuple),
        addresses=st.lists(addresses(), max_size=2).map(tuple),
        language=st.none() | st.sampled_from(("en", "es", "en-US", "zh-Hans", "vi")),
        timezone=st.none() | timezones(),
    )


def practitioners() -> st.SearchStrategy[Practitioner]:
    """``Practitioner`` values."""
    return st.builds(
        Practitioner,
        id=fhir_ids(),
        identifiers=st.lists(identifiers(), max_size=2).map(tuple),
        names=st.lists(human_names(), max_size=1).map(tuple),
        specialties=st.lists(codeable_concepts(), max_size=2).map(tuple),
        telecom=st.lists(contact_points(), max_size=2).map(tuple),
    )


def organizations() -> st.SearchStrategy[Organization]:
    """``Organization`` values."""
    return st.builds(
        Organization,
        id=fhir_ids(),
        name=_text(),
        identifiers=st.lists(identifiers(), max_size=2).map(tuple),
        kind=st.none() | codeable_concepts(),
        telecom=st.lists(contact_points(), max_size=2).map(tuple),
        addresses=st.lists(addresses(), max_size=1).map(tuple),
    )


def locations() -> st.SearchStrategy[Location]:
    """``Location`` values, each in an IANA zone."""
    return st.builds(
        Location,
        id=fhir_ids(),
        name=_text(),
        timezone=timezones(),
        address=st.none() | addresses(),
        kind=st.none() | codeable_concepts(),
        managing_organization=st.none() | references(["Organization"]),
    )


def coverages() -> st.SearchStrategy[Coverage]:
    """``Coverage`` values, every line of business."""
    return st.builds(
        Coverage,
        id=fhir_ids(),
        beneficiary=references(["Patient"]),
        payer=references(["Organization"]),
        plan=_text(),
        member_id=identifiers(),
        line_of_business=st.sampled_from(LineOfBusiness),
        period=st.none() | intervals(max_duration=_dt.timedelta(days=800)),
    )


@st.composite
def encounters(draw: st.DrawFn) -> Encounter:
    """``Encounter`` values: admitted or not; once admitted, sometimes discharged (after)."""
    admitted = draw(st.none() | aware_datetimes())
    discharged = None
    if admitted is not None and draw(st.booleans()):
        stay = draw(st.timedeltas(min_value=_dt.timedelta(0), max_value=_dt.timedelta(days=90)))
        discharged = (admitted + stay).in_tz(draw(timezones()))
    role = st.sampled_from(("ATND", "ADM", "REF", "CON")).map(
        lambda code: CodeableConcept.of(
            "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", code
        )
    )
    return Encounter(
        id=draw(fhir_ids()),
        patient=draw(references(("Patient",))),
        status=draw(st.sampled_from(EncounterStatus)),
        encounter_class=draw(
            st.sampled_from(sorted(ENCOUNTER_CLASSES)).map(
                lambda code: Coding(ACT_CODE, code, ENCOUNTER_CLASSES[code])
            )
        ),
        identifiers=tuple(draw(st.lists(identifiers(), max_size=2))),
        service_type=draw(st.none() | codeable_concepts()),
        admitted_at=admitted,
        discharged_at=discharged,
        admit_source=draw(st.none() | codeable_concepts()),
        discharge_disposition=draw(
            st.none()
            | st.sampled_from(("01", "02", "03", "06", "07", "20")).map(
                lambda code: CodeableConcept.of(hl7_v2_table(112), code)
            )
        ),
        reasons=tuple(draw(st.lists(codeable_concepts(), max_size=2))),
        participants=tuple(
            draw(
                st.lists(
                    st.builds(
                        EncounterParticipant,
                        actor=references(("Practitioner",)),
                        role=st.none() | role,
                    ),
                    max_size=3,
                )
            )
        ),
        location=draw(st.none() | references(("Location",))),
        service_provider=draw(st.none() | references(("Organization",))),
    )


def _bounds() -> st.SearchStrategy[tuple[Quantity | None, Quantity | None]]:
    """A low and a high in mg/dL, either missing, never backwards."""
    one = st.none() | quantities(("mg/dL",))

    def ordered(
        pair: tuple[Quantity | None, Quantity | None],
    ) -> tuple[Quantity | None, Quantity | None]:
        low, high = pair
        if low is not None and high is not None and low.value > high.value:
            return high, low
        return low, high

    return st.tuples(one, one).map(ordered)


@st.composite
def observation_results(draw: st.DrawFn) -> ObservationResult:
    """``ObservationResult`` values of every value type.

    Quantity, coded, text, range, ratio or none; with and without comparators, reference
    ranges and flags.
    """
    value = draw(
        st.none()
        | quantities()
        | codeable_concepts()
        | _text(80)
        | _bounds().map(lambda b: Range(*b))
        | st.builds(Ratio, numerator=quantities(("1",)), denominator=quantities(("1",)))
    )
    comparator = (
        draw(st.none() | st.sampled_from(("<", "<=", ">=", ">")))
        if isinstance(value, Quantity)
        else None
    )
    flag = st.sampled_from(("H", "L", "HH", "LL", "N", "A", "AA")).map(
        lambda code: CodeableConcept.of(INTERPRETATION, code)
    )
    return ObservationResult(
        id=draw(fhir_ids()),
        patient=draw(references(("Patient",))),
        code=draw(codeable_concepts()),
        status=draw(st.sampled_from(ResultStatus)),
        value=value,
        comparator=comparator,
        effective=draw(st.none() | aware_datetimes()),
        issued=draw(st.none() | aware_datetimes()),
        reference_range=draw(
            st.none()
            | st.tuples(_bounds(), st.none() | _text()).map(
                lambda b: (
                    ReferenceRange(*b[0], text=b[1])
                    if b[0] != (None, None) or b[1]
                    else ReferenceRange(text="normal")
                )
            )
        ),
        interpretation=tuple(draw(st.lists(flag, max_size=2))),
        category=draw(
            st.none()
            | st.sampled_from(("vital-signs", "laboratory")).map(
                lambda code: CodeableConcept.of(FHIR_OBSERVATION_CATEGORY, code)
            )
        ),
        identifiers=tuple(draw(st.lists(identifiers(), max_size=2))),
        performer=draw(st.none() | references(("Practitioner", "Organization"))),
        notes=tuple(draw(st.lists(_text(80), max_size=2))),
    )


def business_calendars() -> st.SearchStrategy[BusinessCalendar]:
    """``BusinessCalendar`` values: US federal, some states, observed or not, closures."""
    return st.builds(
        BusinessCalendar,
        country=st.just("US"),
        subdivision=st.none() | st.sampled_from(("CA", "TX", "NY", "IL", "MA")),
        observed=st.booleans(),
        weekend=st.sampled_from((frozenset({5, 6}), frozenset({6}))),
        closures=st.frozensets(dates(min_value=_dt.date(2025, 1, 1)), max_size=3),
        timezone=st.none() | timezones(),
    )


def event_ids() -> st.SearchStrategy[str]:
    """Event ids (UUID strings)."""
    return st.uuids().map(str)


def domain_events(event_type: type[E], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[E]:
    """Events of ``event_type`` with a fresh id, an aware ``occurred_at`` and ``fields``.

    ``recorded_at`` is left ``None`` (the machine stamps it) unless given in ``fields``.
    """
    return st.builds(
        event_type,
        event_id=event_ids(),
        occurred_at=aware_datetimes(),
        actor=st.none() | references(["Practitioner", "Organization"]),
        **fields,
    )


def audit_entries() -> st.SearchStrategy[AuditEntry]:
    """``AuditEntry`` values."""
    return st.builds(
        AuditEntry,
        event_id=event_ids(),
        event_type=st.sampled_from(("ReferralSent", "ReferralAccepted", "AppointmentBooked")),
        occurred_at=aware_datetimes(),
        recorded_at=aware_datetimes(),
        from_state=st.sampled_from(("draft", "requested", "accepted")),
        to_state=st.sampled_from(("requested", "accepted", "completed")),
        actor=st.none() | references(["Practitioner"]),
        reason=st.none() | _text(),
    )


def audit_trails() -> st.SearchStrategy[AuditTrail]:
    """``AuditTrail`` values of up to five entries."""
    return st.lists(audit_entries(), max_size=5).map(lambda entries: AuditTrail(tuple(entries)))


# --- scheduling ---------------------------------------------------------------------------


def schedules() -> st.SearchStrategy[Schedule]:
    """``Schedule`` values for practitioners, rooms and equipment."""
    return st.builds(
        Schedule,
        id=fhir_ids(),
        actor=references(sorted(SCHEDULE_ACTORS)),
        timezone=timezones(),
        service_types=st.lists(codeable_concepts(), max_size=2).map(tuple),
        horizon=st.none() | intervals(allow_empty=False),
        active=st.booleans(),
    )


def slots(resources: Sequence[str] = ("dr-chen", "dr-ortiz", "room-1")) -> st.SearchStrategy[Slot]:
    """``Slot`` values on ``resources``, never empty, any status."""
    return st.builds(
        Slot,
        id=fhir_ids(),
        schedule=st.sampled_from(tuple(resources)),
        interval=intervals(allow_empty=False, max_duration=_dt.timedelta(hours=4)),
        status=st.sampled_from(SlotStatus),
        service_types=st.lists(codeable_concepts(), max_size=1).map(tuple),
        capacity=st.integers(1, 4),
        overbook=st.integers(0, 2),
    )


def _clock_time(minutes: int) -> _dt.time:
    return _dt.time(minutes // 60, minutes % 60)


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    """Weekly ``Session`` values: a local opening span with slots, turnover and a break."""
    start = draw(st.integers(0, 22 * 4)) * 15
    end = draw(st.integers(start // 15 + 1, 24 * 4 - 1)) * 15
    breaks: tuple[tuple[_dt.time, _dt.time], ...] = ()
    if end - start >= 60 and draw(st.booleans()):
        at = draw(st.integers(start // 15, end // 15 - 1)) * 15
        breaks = ((_clock_time(at), _clock_time(min(at + 15, end))),)
    return Session(
        weekday=draw(st.integers(0, 6)),
        start=_clock_time(start),
        end=_clock_time(end),
        slot_minutes=draw(st.sampled_from([10, 15, 20, 30, 45, 60])),
        turnover_minutes=draw(st.sampled_from([0, 5, 10])),
        breaks=breaks,
        capacity=draw(st.integers(1, 3)),
        overbook=draw(st.integers(0, 1)),
    )


@st.composite
def appointment_requests(
    draw: st.DrawFn, policy: UrgencyPolicy = DEFAULT_POLICY
) -> AppointmentRequest:
    """Valid ``AppointmentRequest`` values whose urgency is one of ``policy``'s classes."""
    release = draw(aware_datetimes(min_value=_dt.datetime(2025, 1, 1, tzinfo=_dt.UTC)))
    window = draw(st.timedeltas(min_value=_dt.timedelta(0), max_value=_dt.timedelta(days=60)))
    resources = draw(
        st.lists(
            st.sampled_from(("dr-chen", "dr-ortiz", "room-1", "echo-1")),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    split = draw(st.integers(1, len(resources)))
    gap_low = draw(st.timedeltas(min_value=_dt.timedelta(0), max_value=_dt.timedelta(days=3)))
    return AppointmentRequest(
        id=draw(fhir_ids()),
        patient=draw(fhir_ids()),
        urgency=draw(st.sampled_from([c.name for c in policy.classes])),
        duration=_dt.timedelta(minutes=draw(st.sampled_from([15, 20, 30, 45, 60]))),
        release=release,
        due=release + window,
        any_of=tuple(resources[:split]),
        all_of=tuple(resources[split:]),
        service_type=draw(st.none() | codeable_concepts()),
        preferences=Preferences(
            weekdays=draw(st.frozensets(st.integers(0, 6), max_size=3)),
            earliest=draw(st.none() | st.sampled_from([_dt.time(8), _dt.time(9, 30)])),
            latest=draw(st.none() | st.sampled_from([_dt.time(15), _dt.time(17, 30)])),
            resources=tuple(draw(st.lists(st.sampled_from(resources), max_size=1))),
        ),
        usual_provider=draw(st.none() | st.sampled_from(resources)),
        after=draw(
            st.none()
            | st.builds(
                Predecessor,
                request=st.just("prior-visit"),
                min_gap=st.just(gap_low),
                max_gap=st.just(gap_low + _dt.timedelta(days=2)),
            )
        ),
    )


# --- referrals ----------------------------------------------------------------------------


def referral_targets() -> st.SearchStrategy[ReferralTarget]:
    """``ReferralTarget`` values: a specialty, a performer, or both."""
    performer = references(["Practitioner", "Organization", "HealthcareService"])
    return st.one_of(
        st.builds(
            ReferralTarget, specialty=codeable_concepts(), in_network=st.none() | st.booleans()
        ),
        st.builds(
            ReferralTarget,
            specialty=st.none() | codeable_concepts(),
            performer=performer,
            in_network=st.none() | st.booleans(),
        ),
    )


def referrals() -> st.SearchStrategy[Referral]:
    """New (draft) ``Referral`` values; drive them with `REFERRAL_MACHINE` for later states."""
    return st.builds(
        Referral,
        id=fhir_ids(),
        patient=references(["Patient"]),
        requester=references(["Practitioner", "Organization"]),
        target=referral_targets(),
        category=st.sampled_from(ReferralCategory),
        priority=st.sampled_from(ReferralPriority),
        reasons=st.lists(codeable_concepts(), max_size=2).map(tuple),
        services=st.lists(codeable_concepts(), max_size=2).map(tuple),
        placer_id=st.none() | identifiers(),
        documents_required=st.frozensets(st.sampled_from(DocumentKind)),
        documents_sent=st.frozensets(st.sampled_from(DocumentKind)),
        authorization_required=st.booleans(),
        authorization=st.none()
        | st.builds(
            AuthorizationLink,
            case=fhir_ids(),
            status=st.sampled_from(["requested", "approved", "denied", "pended"]),
        ),
        validity=st.none() | intervals(allow_empty=False),
    )


_APPOINTMENT_ROLE = st.sampled_from(("ATND", "PART", "PPRF")).map(
    lambda code: CodeableConcept.of(
        "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", code
    )
)


@st.composite
def appointments(draw: st.DrawFn) -> Appointment:
    """``Appointment`` values in every state, valid FHIR.

    A time whenever FHIR app-3 needs one, a cancellation reason only when cancelled (app-4),
    at least one participant (``1..*`` in FHIR). The audit trail is empty.
    """
    state = draw(st.sampled_from(AppointmentStatus))
    untimed = {AppointmentStatus.PROPOSED, AppointmentStatus.CANCELLED, AppointmentStatus.WAITLIST}
    interval = draw(
        st.none() | intervals(max_duration=_dt.timedelta(hours=3))
        if state in untimed
        else intervals(max_duration=_dt.timedelta(hours=3))
    )
    patient = st.builds(
        Participant,
        actor=references(["Patient"]),
        required=st.booleans(),
        status=st.sampled_from(ParticipationStatus),
        role=st.none(),
    )
    others = st.builds(
        Participant,
        actor=references(["Practitioner", "Location", "Device", "HealthcareService"]),
        required=st.booleans(),
        status=st.sampled_from(ParticipationStatus),
        role=st.none() | _APPOINTMENT_ROLE,
    )
    return Appointment(
        id=draw(fhir_ids()),
        participants=draw(st.lists(patient, max_size=1))
        + draw(st.lists(others, min_size=1, max_size=3)),
        state=state,
        service_type=draw(st.none() | codeable_concepts()),
        reasons=draw(st.lists(codeable_concepts(), max_size=2)),
        interval=interval,
        slots=draw(st.lists(fhir_ids(), max_size=2)),
        cancellation_reason=draw(st.none() | codeable_concepts())
        if state is AppointmentStatus.CANCELLED
        else None,
    )


@st.composite
def planned_reminders(draw: st.DrawFn) -> PlannedReminder:
    """``PlannedReminder`` values, with a channel or the reason there is none."""
    channel = draw(
        st.none()
        | st.sampled_from(
            (ContactPointSystem.SMS, ContactPointSystem.EMAIL, ContactPointSystem.PHONE)
        )
    )
    return PlannedReminder(
        id=draw(fhir_ids()),
        appointment_id=draw(fhir_ids()),
        patient_id=draw(fhir_ids()),
        kind=draw(st.sampled_from(ReminderKind)),
        send_at=draw(aware_datetimes()),
        visit_start=draw(aware_datetimes()),
        channel=channel,
        reason=None if channel else "no usable contact point for any of the rule's channels (sms)",
    )


@st.composite
def opening_hours(draw: st.DrawFn) -> OpeningHours:
    """``OpeningHours``: up to four periods on quarter hours, in one of `TIMEZONES`."""
    periods: list[OpeningPeriod] = []
    for _ in range(draw(st.integers(0, 4))):
        opens = draw(st.integers(0, 22 * 4)) * 15
        closes = draw(st.integers(opens // 15 + 1, 24 * 4 - 1)) * 15
        periods.append(
            OpeningPeriod(
                draw(st.integers(0, 6)),
                _dt.time(opens // 60, opens % 60),
                _dt.time(closes // 60, closes % 60),
            )
        )
    return OpeningHours(draw(timezones()), periods)


_ZIP_CODES = st.from_regex(r"\A[0-9]{5}\Z")
_COUNTY_FIPS = st.from_regex(r"\A[0-9]{5}\Z")
_US_STATES = st.sampled_from(("IL", "TX", "CA", "NY", "PR"))


@st.composite
def eligibilities(draw: st.DrawFn) -> Eligibility:
    """``Eligibility`` rules: age and income bands (never backwards), conditions, coverage."""
    ages = sorted(draw(st.lists(st.integers(0, 120), min_size=2, max_size=2)))
    incomes = sorted(draw(st.lists(st.integers(0, 500), min_size=2, max_size=2)))
    return Eligibility(
        min_age=draw(st.none() | st.just(ages[0])),
        max_age=draw(st.none() | st.just(ages[1])),
        min_income_fpl=draw(st.none() | st.just(incomes[0])),
        max_income_fpl=draw(st.none() | st.just(incomes[1])),
        conditions=draw(st.frozensets(st.sampled_from(("C", "D0", "E11", "F32")), max_size=2)),
        coverage=draw(st.frozensets(st.sampled_from(LineOfBusiness), max_size=2)),
    )


def community_services() -> st.SearchStrategy[CommunityService]:
    """``CommunityService`` directory entries (categories, areas, hours, capacity)."""
    return st.builds(
        CommunityService,
        id=fhir_ids(),
        name=st.sampled_from(("Rides to Treatment", "Food pantry", "Cuidado en casa")),
        organization=references(["Organization"]),
        categories=st.frozensets(st.sampled_from(sorted(SDOH_CATEGORIES)), min_size=1, max_size=3),
        service_types=st.frozensets(st.sampled_from(("8", "224", "230", "548", "999")), max_size=2),
        eligibility=eligibilities(),
        area=st.builds(
            ServiceArea,
            zip_codes=st.frozensets(_ZIP_CODES, max_size=2),
            counties=st.frozensets(_COUNTY_FIPS, max_size=2),
            states=st.frozensets(_US_STATES, max_size=2),
        ),
        delivery=st.sampled_from(Delivery),
        site=st.none()
        | st.builds(
            Place, st.none() | _ZIP_CODES, st.none() | _COUNTY_FIPS, st.none() | _US_STATES
        ),
        languages=st.frozensets(st.sampled_from(("en", "es", "zh-Hans", "vi")), max_size=3),
        hours=st.none() | opening_hours(),
        capacity=st.none() | st.sampled_from(CapacityStatus),
        open_slots=st.none() | st.integers(0, 50),
        electronic_referral=st.booleans(),
        self_referral=st.booleans(),
        telecom=st.lists(contact_points(), max_size=2),
        description=st.none() | st.just("Call intake before 3 pm."),
    )


@st.composite
def referrals_in_flight(draw: st.DrawFn) -> Referral:
    """``Referral`` values in any state, each loop field set or not, drawn independently.

    `referrals` draws new drafts; these carry the fields a referral gains in its loop
    (filler id, appointment, visit and seen times, outcome documents, hold, reasons), with
    no promise that a state machine could reach the combination: what serialization and the
    FHIR mappings must carry, not what the referral machine produces.
    """
    referral = draw(referrals())
    moment = st.none() | aware_datetimes()
    return attrs.evolve(
        referral,
        state=draw(st.sampled_from(ReferralStatus)),
        filler_id=draw(st.none() | identifiers()),
        appointment=draw(st.none() | fhir_ids()),
        visit_at=draw(moment),
        seen_at=draw(moment),
        outcome_documents=draw(
            st.lists(references(["DocumentReference", "Observation"]), max_size=2)
        ),
        held_from=draw(st.none() | st.sampled_from(ReferralStatus)),
        decline_reason=draw(st.none() | codeable_concepts()),
        closure_reason=draw(st.none() | codeable_concepts()),
    )


# --- prior authorization ------------------------------------------------------------------

_REFERENCE_TEXT = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-"


def decisions() -> st.SearchStrategy[Decision]:
    """``Decision`` values: every review action, each optional part set or not."""
    return st.builds(
        Decision,
        action=st.sampled_from(ReviewAction),
        units=st.none() | st.integers(0, 500),
        valid=st.none() | intervals(max_duration=_dt.timedelta(days=400)),
        reason=st.none() | codeable_concepts(),
        reference=st.none() | st.text(_REFERENCE_TEXT, min_size=1, max_size=20),
    )


def authorization_cases() -> st.SearchStrategy[AuthorizationCase]:
    """``AuthorizationCase`` values in any state, decided or not.

    Fields are drawn independently (a case is not driven through its machine), which is
    what serialization and FHIR mappings must carry.
    """
    return st.builds(
        AuthorizationCase,
        id=fhir_ids(),
        patient=references(["Patient"]),
        coverage=references(["Coverage"]),
        program=st.sampled_from(Program),
        lines=st.lists(
            st.builds(ServiceLine, code=codeable_concepts(), units=st.integers(1, 60)),
            min_size=1,
            max_size=3,
        ),
        priority=st.sampled_from(ReviewPriority),
        state=st.sampled_from(CaseStatus),
        trail=audit_trails(),
        submitted_at=st.none() | aware_datetimes(),
        decision=st.none() | decisions(),
        units_used=st.integers(0, 20),
        appeals=st.integers(0, 3),
    )


def _requirement(
    covered: Covered,
    pa: PaNeeded | None,
    docs: list[DocNeeded],
    info: list[InfoNeeded],
    reason: str | None,
    satisfied: str | None,
) -> Requirement | None:
    try:
        return Requirement(
            "line-1", covered, pa, docs, info, reason=reason, satisfied_pa_id=satisfied
        )
    except ValidationError:
        return None


def requirements() -> st.SearchStrategy[Requirement]:
    """``Requirement`` answers that keep Da Vinci CRD's invariants (the rest are refused)."""
    return (
        st.builds(
            _requirement,
            st.sampled_from(Covered),
            st.none() | st.sampled_from(PaNeeded),
            st.lists(st.sampled_from(DocNeeded), max_size=2, unique=True),
            st.lists(st.sampled_from(InfoNeeded), max_size=2, unique=True),
            st.none()
            | st.text(_REFERENCE_TEXT + " ", min_size=1, max_size=30).map(str.strip).filter(bool),
            st.none() | st.text(_REFERENCE_TEXT, min_size=1, max_size=12),
        )
        .filter(lambda r: r is not None)
        .map(lambda r: cast(Requirement, r))
    )


# --- care plans ---------------------------------------------------------------------------

_BP_PANEL = "85354-9"
_SINGLE_MEASURES = tuple(sorted(set(MEASURES) - {_BP_PANEL, "8480-6", "8462-4"}))
_SLUG = "abcdefghijklmnopqrstuvwxyz0123456789-"
_MODERN = _dt.datetime(1975, 1, 1, tzinfo=_dt.UTC)


def _measured(code: str) -> st.SearchStrategy[Quantity]:
    return st.decimals(
        min_value=Decimal("0.1"), max_value=Decimal("400"), places=2, allow_nan=False
    ).map(lambda value: Quantity(value, MEASURES[code].unit))


@st.composite
def targets(draw: st.DrawFn) -> Target:
    """Goal ``Target`` values: one-sided (either inclusivity) or ranges; BP components too."""
    component: str | None
    if draw(st.booleans()):
        code, component = _BP_PANEL, draw(st.sampled_from(("8480-6", "8462-4")))
    else:
        code, component = draw(st.sampled_from(_SINGLE_MEASURES)), None
    measured = component or code
    one, two = draw(_measured(measured)), draw(_measured(measured))
    shape = draw(st.sampled_from(("low", "high", "range")))
    if shape == "range":
        low, high = sorted((one, two), key=lambda q: q.value)
        return Target(
            code, component, Bound(low, draw(st.booleans())), Bound(high, draw(st.booleans()))
        )
    bound = Bound(one, draw(st.booleans()))
    return Target(
        code, component, bound if shape == "low" else None, bound if shape == "high" else None
    )


def goals(ids: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Goal]:
    """Care-plan ``Goal`` values (ids from ``ids``, by default any FHIR id)."""
    return st.builds(
        Goal,
        id=ids if ids is not None else fhir_ids(),
        description=_text(),
        targets=st.lists(targets(), min_size=1, max_size=3).map(tuple),
        lifecycle=st.sampled_from(GoalLifecycle),
        achievement=st.none() | st.sampled_from(GoalAchievement),
        start=st.none() | dates(),
        due=st.none() | dates(),
        addresses=st.lists(codeable_concepts(), max_size=2).map(tuple),
        source=st.none() | _text(),
    )


def timings() -> st.SearchStrategy[Timing]:
    """Activity ``Timing`` values: repetitions, and single occurrences within days or hours."""
    return st.builds(
        Timing,
        frequency=st.integers(1, 4),
        period=st.integers(1, 3),
        period_unit=st.sampled_from(("h", "d", "wk", "mo", "a")),
    ) | st.builds(
        Timing.once,
        st.integers(1, 30).map(lambda d: _dt.timedelta(days=d))
        | st.integers(1, 23).map(lambda h: _dt.timedelta(hours=h)),
    )


def activities(ids: st.SearchStrategy[str] | None = None) -> st.SearchStrategy[Activity]:
    """Care-plan ``Activity`` values of every kind (ids from ``ids``)."""
    return st.builds(
        Activity,
        id=ids if ids is not None else fhir_ids(),
        kind=st.sampled_from(ActivityKind),
        code=st.none() | codeable_concepts(),
        timing=timings(),
        status=st.sampled_from(ActivityStatus),
        evidence=st.lists(references(), max_size=2).map(tuple),
        description=st.none() | _text(),
    )


@st.composite
def care_plans(draw: st.DrawFn) -> CarePlan:
    """``CarePlan`` values with goals and activities of distinct ids.

    Periods start after 1975, so that no local-mean-time offsets appear.
    """
    ids = draw(st.lists(fhir_ids(), unique=True, max_size=5))
    split = draw(st.integers(0, len(ids)))
    return CarePlan(
        id=draw(fhir_ids()),
        patient=draw(references(["Patient"])),
        title=draw(_text()),
        status=draw(st.sampled_from(CarePlanStatus)),
        period=draw(
            st.none()
            | st.builds(
                lambda start, length: Interval(start, start + length),
                aware_datetimes(min_value=_MODERN),
                st.timedeltas(_dt.timedelta(days=1), _dt.timedelta(days=800)),
            )
        ),
        addresses=tuple(draw(st.lists(codeable_concepts(), max_size=2))),
        care_team=tuple(
            draw(st.lists(references(["CareTeam", "Practitioner", "Organization"]), max_size=3))
        ),
        goals=tuple(draw(goals(st.just(i))) for i in ids[:split]),
        activities=tuple(draw(activities(st.just(i))) for i in ids[split:]),
        template=draw(
            st.none()
            | st.tuples(
                st.text(_SLUG, min_size=1, max_size=20), st.sampled_from(("", "|1.0.0"))
            ).map("".join)
        ),
    )


@st.composite
def care_plan_observations(draw: st.DrawFn) -> Observation:
    """The monitor's ``Observation`` values: single readings and blood-pressure panels."""
    value: Quantity | None
    if draw(st.booleans()):
        codes = draw(
            st.lists(st.sampled_from(("8480-6", "8462-4")), min_size=1, max_size=2, unique=True)
        )
        value, components = None, tuple(Component(c, draw(_measured(c))) for c in codes)
        code = _BP_PANEL
    else:
        code = draw(st.sampled_from(_SINGLE_MEASURES))
        value, components = draw(_measured(code)), ()
    return Observation(
        id=draw(fhir_ids()),
        patient=draw(fhir_ids()),
        code=code,
        effective=draw(aware_datetimes()),
        value=value,
        components=components,
        source=draw(st.sampled_from(ObservationSource)),
    )


def siu_messages(
    versions: Sequence[str] | None = None,
) -> st.SearchStrategy[tuple[str, SchedulingMessage]]:
    """Valid SIU messages (v2.3 to v2.8) as ``(ER7 text, SchedulingMessage)`` pairs.

    ``read_siu(parse(text), profile=SenderProfile())`` gives the value back.
    """
    from caredomain.testing import _hl7v2_siu  # it builds on this module's strategies

    return _hl7v2_siu.siu_messages(_hl7v2_siu.SIU_VERSIONS if versions is None else versions)


def scheduling_messages(
    versions: Sequence[str] | None = None,
) -> st.SearchStrategy[SchedulingMessage]:
    """The `SchedulingMessage` values an SIU message of one of ``versions`` can carry."""
    from caredomain.testing import _hl7v2_siu  # it builds on this module's strategies

    return _hl7v2_siu.scheduling_messages(_hl7v2_siu.SIU_VERSIONS if versions is None else versions)


def ref_messages(
    message_types: Sequence[str] = ("REF", "RRI"),
) -> st.SearchStrategy[tuple[str, ReferralMessage]]:
    """Valid REF or RRI (I12-I15) messages as ``(ER7 text, ReferralMessage)`` pairs.

    ``read_ref(parse(text), profile=SenderProfile())`` gives the value back.
    """
    from caredomain.testing import _hl7v2_ref  # it builds on this module's strategies

    return _hl7v2_ref.ref_messages(tuple(message_types))


def hl7v2_messages(
    families: Sequence[str] = ("SIU", "REF", "RRI"),
) -> st.SearchStrategy[tuple[str, SchedulingMessage | ReferralMessage]]:
    """Valid HL7 v2 messages as ``(ER7 text, domain values)`` pairs, of the given families.

    The text is what caredomain's builders write for the values (SIU from
    `siu_messages`, REF and RRI from `ref_messages`), and
    ``read(parse(text), profile=SenderProfile())`` (`caredomain.adapters.hl7v2.inbound`)
    gives the values back: use it to feed an interface valid, varied messages, or to
    check a round trip.

    Raises:
        ValueError: A family caredomain does not build (ADT and ORU are read only).
    """
    wanted = tuple(dict.fromkeys(f.upper() for f in families))
    unknown = [f for f in wanted if f not in ("SIU", "REF", "RRI")]
    if unknown or not wanted:
        raise ValueError("expected families among SIU, REF and RRI")
    options: list[st.SearchStrategy[tuple[str, SchedulingMessage | ReferralMessage]]] = []
    if "SIU" in wanted:
        options.append(siu_messages())
    referrals = tuple(f for f in wanted if f in ("REF", "RRI"))
    if referrals:
        options.append(ref_messages(referrals))
    return st.one_of(options)
