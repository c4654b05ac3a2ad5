"""``caredomain demo``: a walk through caredomain on embedded sample data.

It walks one real situation: a heart-failure patient is discharged on the Wednesday before
Thanksgiving, and the coordinator needs the transitional-care deadlines, the home weight in
the care plan's unit, values that survive JSON, and a follow-up visit within 7 days booked
from the cardiology clinic's availability. Each area adds its scenarios as it lands.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import pendulum

from caredomain.core import (
    LOINC,
    BusinessCalendar,
    CareDomainError,
    CodeableConcept,
    Coding,
    Coverage,
    FixedClock,
    HumanName,
    Identifier,
    Interval,
    InvalidTransition,
    LineOfBusiness,
    Patient,
    Quantity,
    Reference,
    SequentialIds,
    from_dict,
    from_json,
    hl7_v2_table,
    to_json,
)
from caredomain.referrals import (
    REFERRAL_MACHINE,
    AuthorizationDecided,
    AuthorizationRequested,
    DocumentKind,
    Referral,
    ReferralAccepted,
    ReferralEvent,
    ReferralPriority,
    ReferralSent,
    ReferralTarget,
    fhir_status,
    hl7v2_messages,
)
from caredomain.referrals import AppointmentBooked as ReferralBooked
from caredomain.scheduling import (
    Appointment,
    AppointmentRequest,
    AvailabilityTemplate,
    Calendar,
    Participant,
    Preferences,
    Session,
    SlotIndex,
    find_slots,
    generate_slots,
)

__all__ = ["register", "run"]

# Sample data: invented people, real codes and rules.
_TZ = "America/Chicago"
_MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.999.1"  # an example facility's MRN namespace


def _patient() -> Patient:
    return Patient(
        id="pat-hf-001",
        identifiers=(
            Identifier(
                "MRN-448812",
                _MRN_SYSTEM,
                CodeableConcept.of(hl7_v2_table(203), "MR", "Medical record number"),
            ),
        ),
        names=(HumanName(family="Okafor", given=("Grace",)),),
        birth_date=pendulum.date(1948, 2, 14),
        timezone=_TZ,
    )


def _heading(out: TextIO, title: str) -> None:
    out.write(f"\n== {title} ==\n")


def _line(out: TextIO, label: str, value: object) -> None:
    out.write(f"  {label:<34} {value}\n")


def _discharge(out: TextIO) -> None:
    patient = _patient()
    _heading(out, "1. A patient, kept out of logs")
    _line(out, "repr(patient)", repr(patient))
    discharge = pendulum.datetime(2026, 11, 25, 15, 30, tz=_TZ)
    _line(out, "age at discharge", patient.age_on(discharge.date()))
    _line(out, "discharged at", discharge.isoformat())

    _heading(out, "2. Transitional care deadlines (CMS TCM)")
    us = BusinessCalendar(timezone=_TZ)
    contact = us.deadline(discharge, 2)
    _line(out, "holiday on 2026-11-26", us.holiday(pendulum.date(2026, 11, 26)))
    _line(out, "interactive contact due before", contact.isoformat())
    _line(out, "  (within 2 business days)", f"{contact.subtract(days=1).format('dddd D MMMM')}")
    for days, code, complexity in ((7, "99496", "high"), (14, "99495", "moderate")):
        visit_due = discharge.start_of("day").add(days=days + 1)
        _line(out, f"face-to-face, {complexity} (CPT {code})", f"before {visit_due.isoformat()}")

    _heading(out, "3. Units: home weight against the plan's goal")
    weight_code = Coding(LOINC, "29463-7", "Body weight")
    home = Quantity("182.6", "lb")
    _line(
        out,
        f"{weight_code.display} (LOINC {weight_code.code})",
        f"{home} -> {home.to('kg').quantize(2)} (exact: {home.to('kg').value})",
    )
    fasting = Quantity(126, "mg/dL")
    glucose = fasting.to("mmol/L", analyte="glucose").quantize(1)
    _line(out, "fasting glucose", f"{fasting} -> {glucose} (ADA: 126 mg/dL = 7.0)")
    _line(out, "systolic 138 mm[Hg]", Quantity(138, "mm[Hg]").to("kPa").quantize(1))

    _heading(out, "4. Clinic hours across the end of daylight saving time")
    session = Interval(
        pendulum.datetime(2026, 11, 1, 8, tz=_TZ), pendulum.datetime(2026, 11, 1, 12, tz=_TZ)
    )
    day = Interval(pendulum.datetime(2026, 11, 1, tz=_TZ), pendulum.datetime(2026, 11, 2, tz=_TZ))
    _line(out, "08:00-12:00 on 2026-11-01 lasts", session.duration)
    _line(out, "the whole of 2026-11-01 lasts", day.duration)

    _heading(out, "5. Coverage, as caredomain JSON and back")
    coverage = Coverage(
        id="cov-001",
        beneficiary=Reference.to("Patient", patient.id),
        payer=Reference.to("Organization", "org-medicare"),
        plan="original-medicare",
        member_id=Identifier("1EG4-TE5-MK72", "http://hl7.org/fhir/sid/us-mbi"),
        line_of_business=LineOfBusiness.MEDICARE_FFS,
    )
    text = to_json(coverage)
    _line(out, "JSON bytes", len(text.encode()))
    _line(out, "round trip equal", from_json(text, Coverage) == coverage)

    _heading(out, "6. Bad input: typed errors that say where, never who")
    for label, attempt in _bad_inputs(patient):
        try:
            attempt()
        except CareDomainError as exc:
            _line(out, label, f"{type(exc).__name__}: {exc}")


def _follow_up(out: TextIO) -> None:
    _heading(out, "7. The follow-up visit: availability, search, booking")
    clinic = AvailabilityTemplate(
        "dr-chen-cardiology",
        _TZ,
        [Session(day, _dt.time(8), _dt.time(12), 30, turnover_minutes=10) for day in range(5)],
        holidays=BusinessCalendar(),
    )
    slots = list(generate_slots(clinic, _dt.date(2026, 11, 26), _dt.date(2026, 12, 9)))
    index = SlotIndex.of(slots)
    _line(out, "slots, 26 Nov - 9 Dec", f"{len(slots)} (none on Thanksgiving)")
    discharge = pendulum.datetime(2026, 11, 25, 15, 30, tz=_TZ)
    request = AppointmentRequest(
        "req-hf-follow-up",
        "pat-hf-001",
        "post-discharge",
        _dt.timedelta(minutes=30),
        discharge,
        discharge.start_of("day").add(days=8),  # face-to-face within 7 days (CPT 99496)
        ["dr-chen-cardiology"],
        preferences=Preferences(earliest=_dt.time(9)),
    )
    for rank, candidate in enumerate(find_slots(request, index, limit=3), start=1):
        note = ", ".join(candidate.misses) or "all preferences met"
        _line(
            out,
            f"candidate {rank}",
            f"{candidate.interval.start.format('ddd D MMM HH:mm')} ({note})",
        )
    best = find_slots(request, index, limit=1)[0]
    clock = FixedClock(discharge.add(hours=1))
    appointment = Appointment(
        "appt-hf-001",
        [
            Participant(Reference.to("Patient", "pat-hf-001")),
            Participant(Reference.to("Practitioner", "dr-chen")),
        ],
    )
    booked = Calendar.of(index).book(
        version=0,
        appointment=appointment,
        slots=[s.id for s in best.slots],
        interval=best.interval,
        clock=clock,
        ids=SequentialIds("demo"),
    )
    state = booked.calendar.appointments["appt-hf-001"].state
    _line(out, "booked", f"{state.value} {best.interval.start.format('ddd D MMM HH:mm')}")
    try:
        booked.calendar.mark_noshow(version=1, appointment="appt-hf-001", clock=clock)
    except CareDomainError as exc:
        _line(out, "no-show before the visit", f"{type(exc).__name__}: {exc}")
    _line(out, "its lifecycle", "caredomain diagram appointment")


def _referral(out: TextIO) -> None:
    _heading(out, "8. A cardiology referral that needs prior authorization")
    at = pendulum.datetime(2026, 11, 30, 9, tz=_TZ)
    referral = Referral(
        "ref-hf-001",
        Reference.to("Patient", "pat-hf-001"),
        Reference.to("Practitioner", "dr-pcp"),
        ReferralTarget(CodeableConcept.of("SNOMED", "394579002", "Cardiology")),
        priority=ReferralPriority.URGENT,
        documents_required=[DocumentKind.NOTES, DocumentKind.IMAGING],
    )
    clock = FixedClock(at.add(days=10))
    steps: list[ReferralEvent] = [
        ReferralSent(event_id="r1", occurred_at=at),
        ReferralAccepted(event_id="r2", occurred_at=at.add(hours=3)),
        AuthorizationRequested(event_id="r3", occurred_at=at.add(hours=4), case="pa-hf-001"),
        ReferralBooked(
            event_id="r4", occurred_at=at.add(hours=5), appointment="appt-c1", start=at.add(days=3)
        ),
        AuthorizationDecided(
            event_id="r5", occurred_at=at.add(days=1), case="pa-hf-001", status="approved"
        ),
        ReferralBooked(
            event_id="r6",
            occurred_at=at.add(days=1, hours=1),
            appointment="appt-c1",
            start=at.add(days=3),
        ),
    ]
    for event in steps:
        try:
            referral = REFERRAL_MACHINE.apply(referral, event, clock).value
        except InvalidTransition as exc:
            _line(out, type(event).__name__, f"refused: the referral is {exc.state}")
            continue
        task = fhir_status(referral.state)
        business = task.business.code if task.business else "-"
        v2 = hl7v2_messages(event).x360 or "-"
        _line(
            out,
            type(event).__name__,
            f"{referral.state.value} (Task {task.task}/{business}; 360X {v2})",
        )
    missing = ", ".join(sorted(d.value for d in referral.documents_missing))
    _line(out, "documents still to send", missing)
    _line(out, "its lifecycle", "caredomain diagram referral")


def _bad_inputs(patient: Patient) -> Iterator[tuple[str, Callable[[], Any]]]:
    yield (
        "a naive datetime",
        lambda: Interval(_dt.datetime(2026, 12, 1, 9), _dt.datetime(2026, 12, 1, 10)),
    )
    yield "an unknown unit", lambda: Quantity(5, "stone").to("kg")
    yield (
        "a malformed patient",
        lambda: from_dict(
            {
                "id": patient.id,
                "names": [{"family": 7, "given": "Grace"}],
                "birth_date": "14/02/1948",
            },
            Patient,
        ),
    )


def run(out: TextIO) -> None:
    """Write the demo walk-through to ``out``."""
    out.write("caredomain demo: one heart-failure discharge\n")
    _discharge(out)
    _follow_up(out)
    _referral(out)


def _handle(_args: argparse.Namespace) -> int:
    run(sys.stdout)
    return 0


def register(commands: Any) -> None:
    """Add the ``demo`` subcommand to the CLI's subparsers."""
    parser = commands.add_parser(
        "demo",
        help="walk through caredomain on embedded sample data",
        description="Walk through caredomain on embedded sample data (no network, no setup).",
    )
    parser.set_defaults(handler=_handle)
