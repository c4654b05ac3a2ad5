"""``caredomain careplan monitor``: replay a patient's FHIR observations through a care plan.

```text
caredomain careplan monitor --template NAME --patient PATIENT.json --start DATE
                            OBSERVATIONS.ndjson [--until DATETIME] [--patient-tz ZONE]
                            [--override NAME=VALUE]...
```

The plan comes from a template (`caredomain.careplans.templates`) instantiated for the
patient at ``--start``; the observations (FHIR R4, one per line, any order) are replayed as
a feed: before each observation newer than all before it, time advances to its effective
time (so missing readings and overdue activities are noticed when they happen), then the
observation is ingested; a reading older than one already seen is a late reading, handled as
`caredomain.careplans.monitor` documents. At the end time advances to ``--until``.

Output (stdout, NDJSON): one line per alert change, in the order the monitor reported them,

    {"alert", "state", "kind", "severity", "at", "rule", "evidence", "message"}

then a last line ``{"snapshot": {"at", "goals", "overdue"}}`` as of ``--until``. Times are
RFC 3339 in the patient's timezone; evidence is ``Observation/{id}``. Goal status changes are
not alert changes: goals appear in the snapshot.

Rules of this module:

1. ``--start`` and ``--until`` take an RFC 3339 datetime with offset or a date (local
   midnight in the patient's timezone). The patient's timezone is ``--patient-tz`` if given,
   else the Patient's ``http://hl7.org/fhir/StructureDefinition/timezone`` extension.
   Without ``--until`` the snapshot is as of the newest observation (or the start).
   Observations after ``--until`` are not known at ``--until``: they are skipped, and counted
   on stderr.
2. Observation times must carry a UTC offset (FHIR requires one with a time); none is
   guessed from the patient's zone.
3. A line that cannot be read or ingested (bad JSON, an invalid observation, another
   patient, an id seen before) is reported on stderr as ``FILE:LINE: error`` and skipped;
   the command still finishes and exits 1. Messages never carry patient data.
4. Exit codes: 0 on success; 1 when a line was rejected or PATIENT.json is invalid; 2 on
   usage errors (an unknown template, a bad option value, a file that cannot be read).
5. Ids are derived from the template, patient and start (`SequentialIds`), so the same
   input gives the same output.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import sys
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import pendulum
from pendulum import DateTime

from caredomain.adapters.fhir.observations import observation_from_json
from caredomain.careplans.model import CarePlan
from caredomain.careplans.monitor import Monitor, MonitorChange, Snapshot
from caredomain.careplans.rules import Alert
from caredomain.careplans.templates import (
    ParameterKind,
    Template,
    instantiate,
    load_template,
)
from caredomain.core.errors import CareDomainError, ParseError, ValidationError
from caredomain.core.identity import SequentialIds
from caredomain.core.parties import Patient
from caredomain.core.time import FixedClock, epoch_us, parse_datetime, validate_timezone

__all__ = ["TIMEZONE_EXTENSION", "register"]

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
"""The FHIR extension carrying a patient's IANA timezone (``valueCode``)."""

_PROG = "caredomain careplan monitor"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


class _UsageError(Exception):
    """An option's value is wrong: exit 2."""


def register(commands: Any) -> None:
    """Add the ``careplan`` command (with ``monitor``) to the CLI's subparsers."""
    careplan = commands.add_parser(
        "careplan",
        help="care plans from templates, monitored against observations",
        description="Care plans from templates, monitored against FHIR observations.",
    )
    careplan.set_defaults(handler=_usage(careplan))
    actions = careplan.add_subparsers(dest="action", metavar="ACTION")
    monitor = actions.add_parser(
        "monitor",
        help="replay FHIR observations through a template's plan; print alert changes",
        description=(
            "Instantiate a care-plan template for a patient, replay FHIR R4 observations "
            "(NDJSON, any order) through the monitor, and print one NDJSON line per alert "
            "change, then a snapshot of goals and overdue activities."
        ),
    )
    monitor.add_argument(
        "--template", required=True, metavar="NAME", help="a bundled template, or a .toml file"
    )
    monitor.add_argument(
        "--patient", required=True, metavar="PATIENT.json", help="a FHIR R4 Patient resource"
    )
    monitor.add_argument(
        "--start",
        required=True,
        metavar="DATE",
        help="when the plan starts: YYYY-MM-DD (patient's local midnight) or RFC 3339",
    )
    monitor.add_argument(
        "observations", metavar="OBSERVATIONS.ndjson", help="FHIR R4 Observations, or - for stdin"
    )
    monitor.add_argument(
        "--until",
        metavar="DATETIME",
        help="the snapshot's moment: RFC 3339 or YYYY-MM-DD (default: the newest observation)",
    )
    monitor.add_argument(
        "--patient-tz",
        metavar="ZONE",
        help="the patient's IANA timezone (default: the Patient's timezone extension)",
    )
    monitor.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a template parameter, e.g. weight_gain_day='3 [lb_av]' (repeatable)",
    )
    monitor.set_defaults(handler=_monitor)


def _usage(parser: argparse.ArgumentParser) -> Any:
    def handler(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    return handler


# --- the command -------------------------------------------------------------------------


def _monitor(args: argparse.Namespace) -> int:
    try:
        patient_text = _read_text(args.patient)
        if args.template.endswith(".toml") or "/" in args.template:
            template = Template.from_toml(_read_text(args.template), args.template)
        else:
            template = load_template(args.template)
    except _UsageError as exc:
        return _fail(str(exc), 2)
    except ValidationError as exc:  # an unknown template name
        return _fail(f"--template: {exc}", 2)
    except CareDomainError as exc:  # a template file that is wrong
        return _fail(f"{type(exc).__name__}: {exc}", 1)
    try:
        patient = _patient(patient_text, args.patient_tz)
    except _UsageError as exc:
        return _fail(str(exc), 2)
    except CareDomainError as exc:
        return _fail(f"{args.patient}: {type(exc).__name__}: {exc}", 1)
    try:
        start = _moment(args.start, patient.timezone, "--start")
        until = _moment(args.until, patient.timezone, "--until") if args.until else None
        overrides = _overrides(template, args.override)
        lines = _lines(args.observations)
    except _UsageError as exc:
        return _fail(str(exc), 2)
    return _run(template, patient, start, until, overrides, lines, args.observations)


def _run(
    template: Template,
    patient: Patient,
    start: DateTime,
    until: DateTime | None,
    overrides: Mapping[str, object],
    lines: Iterator[tuple[int, str]],
    name: str,
) -> int:
    try:
        seed = f"{template.citation}|{patient.id}|{start.isoformat()}"
        plan, rules = instantiate(template, patient, start, overrides, SequentialIds(seed))
    except CareDomainError as exc:
        return _fail(f"--override: {exc}", 2)
    zone = patient.timezone or "UTC"
    monitor = Monitor()
    monitor.watch(plan, rules)
    out = sys.stdout
    now: DateTime | None = None
    counts = {"read": 0, "rejected": 0, "after": 0, "changes": 0}

    def emit(changes: list[MonitorChange]) -> None:
        for change in changes:
            if isinstance(change, Alert):  # goal status changes show in the snapshot
                _write(out, _alert(change, zone))
                counts["changes"] += 1

    limit = None if until is None else epoch_us(until)
    for number, line in lines:
        try:
            observation = observation_from_json(line)
        except CareDomainError as exc:
            _reject(name, number, exc, counts)
            continue
        at = epoch_us(observation.effective)
        if limit is not None and at > limit:
            counts["after"] += 1
            continue
        try:
            if now is None or at > epoch_us(now):
                emit(monitor.advance(FixedClock(observation.effective)))
                now = observation.effective
            emit(monitor.ingest(observation))
        except CareDomainError as exc:
            _reject(name, number, exc, counts)
            continue
        counts["read"] += 1
    end = until or now or start
    if now is None or epoch_us(end) > epoch_us(now):
        emit(monitor.advance(FixedClock(end)))
    snapshot = monitor.snapshot(patient.id, FixedClock(end))
    _write(out, {"snapshot": _snapshot(snapshot, plan, zone)})
    out.flush()
    summary = (
        f"{_PROG}: {counts['read']} observations read, {counts['rejected']} rejected, "
        f"{counts['changes']} alert changes"
    )
    if counts["after"]:
        summary += f", {counts['after']} after --until skipped"
    print(summary, file=sys.stderr)
    return 1 if counts["rejected"] else 0


def _reject(name: str, number: int, exc: CareDomainError, counts: dict[str, int]) -> None:
    counts["rejected"] += 1
    print(f"{_PROG}: {name}:{number}: {type(exc).__name__}: {exc}", file=sys.stderr)


def _fail(message: str, code: int) -> int:
    print(f"{_PROG}: error: {message}", file=sys.stderr)
    return code


def _write(out: TextIO, value: dict[str, Any]) -> None:
    out.write(json.dumps(value, separators=(", ", ": "), ensure_ascii=False) + "\n")


# --- inputs ------------------------------------------------------------------------------


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise _UsageError(f"cannot read {path}: {reason}") from None


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """The non-blank lines of ``path`` (``-``: stdin) with their numbers, read as they come."""
    if path != "-":
        try:
            with open(path, encoding="utf-8"):
                pass  # fail now, as a usage error, rather than halfway through
        except OSError as exc:
            raise _UsageError(f"cannot read {path}: {exc.strerror or 'error'}") from None
    return _numbered(path)


def _numbered(path: str) -> Iterator[tuple[int, str]]:
    handle = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    try:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line
    except UnicodeDecodeError:
        print(f"{_PROG}: {path}: not UTF-8 text; stopped reading", file=sys.stderr)
    finally:
        if handle is not sys.stdin:
            handle.close()


def _patient(text: str, zone: str | None) -> Patient:
    """The patient's id and timezone from a FHIR R4 Patient (nothing else is read)."""
    try:
        resource = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ParseError(f"line {exc.lineno}, column {exc.colno}", "a JSON object") from None
    if not isinstance(resource, dict) or resource.get("resourceType") != "Patient":
        raise ValidationError.at("resourceType", "expected a FHIR Patient resource")
    identifier = resource.get("id")
    if not isinstance(identifier, str) or not _ID.match(identifier):
        raise ValidationError.at("Patient.id", "expected a FHIR id")
    if zone is not None:
        try:
            validate_timezone(zone, "--patient-tz")
        except ValidationError as exc:
            raise _UsageError(str(exc)) from None
    else:
        zone = _timezone_extension(resource)
    return Patient(identifier, timezone=zone)


def _timezone_extension(resource: Mapping[str, Any]) -> str | None:
    extensions = resource.get("extension")
    for index, extension in enumerate(extensions if isinstance(extensions, list) else []):
        if isinstance(extension, Mapping) and extension.get("url") == TIMEZONE_EXTENSION:
            location = f"Patient.extension[{index}].valueCode"
            value = extension.get("valueCode")
            if not isinstance(value, str):
                raise ValidationError.at(location, "expected an IANA timezone code")
            return validate_timezone(value, location)
    return None


def _moment(text: str, zone: str | None, option: str) -> DateTime:
    if _DATE.match(text):
        if zone is None:
            raise _UsageError(
                f"{option}: a date needs the patient's timezone (the Patient's timezone "
                "extension or --patient-tz); or give an RFC 3339 datetime with offset"
            )
        try:
            day = _dt.date.fromisoformat(text)
        except ValueError:
            raise _UsageError(f"{option}: expected a valid date (YYYY-MM-DD)") from None
        return pendulum.datetime(day.year, day.month, day.day, tz=zone)
    try:
        return parse_datetime(text, option)
    except ValidationError as exc:
        raise _UsageError(str(exc)) from None


def _overrides(template: Template, items: list[str]) -> dict[str, object]:
    known = {p.name: p for p in template.parameters}
    overrides: dict[str, object] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in known:
            names = ", ".join(known) or "none"
            raise _UsageError(f"--override: expected NAME=VALUE with NAME one of: {names}")
        text = value.strip()
        if known[name].kind is ParameterKind.INTEGER:
            if not re.fullmatch(r"-?\d+", text):
                raise _UsageError(f"--override {name}: expected a whole number")
            overrides[name] = int(text)
        else:
            overrides[name] = text
    return overrides


# --- outputs -----------------------------------------------------------------------------


def _time(moment: DateTime | None, zone: str) -> str | None:
    return None if moment is None else moment.in_tz(zone).isoformat()


def _alert(alert: Alert, zone: str) -> dict[str, Any]:
    return {
        "alert": alert.id,
        "state": alert.state.value,
        "kind": alert.kind.value,
        "severity": alert.severity.value,
        "at": _time(alert.at, zone),
        "rule": alert.rule,
        "evidence": [f"Observation/{e}" for e in alert.evidence],
        "message": alert.message,
    }


def _snapshot(snapshot: Snapshot, plan: CarePlan, zone: str) -> dict[str, Any]:
    goals = {g.id: g for g in plan.goals}
    activities = {a.id: a for a in plan.activities}
    return {
        "at": _time(snapshot.at, zone),
        "goals": [
            {
                "goal": status.goal,
                "description": goals[status.goal].description,
                "status": None if status.status is None else status.status.value,
                "at": _time(status.at, zone),
                "evidence": [f"Observation/{e}" for e in status.evidence],
            }
            for status in snapshot.goals
        ],
        "overdue": [
            {
                "activity": item.activity,
                "kind": item.kind.value,
                "description": activities[item.activity].description,
                "due": _time(item.due, zone),
                "last_done": _time(item.last_done, zone),
            }
            for item in snapshot.overdue
        ],
    }
