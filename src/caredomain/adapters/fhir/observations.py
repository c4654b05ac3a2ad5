"""FHIR Observation JSON <-> caredomain `Observation` (vital signs and lab results).

`observation_to_fhir` writes what `observation_from_fhir` reads (the JSON is the same in R4
and R5). This module also registers the care-plan mappings with `resources.register`:
`CarePlan`, `Goal`, and `Observation` as a non-default reading of ``Observation``
(`ObservationResult` stays the default; pass ``cls=Observation`` to `from_fhir`).

What is read:

* ``Observation.code.coding``: the first coding with system ``http://loinc.org`` whose code
  caredomain monitors (`caredomain.careplans.MEASURES`).
* ``valueQuantity``, or for a panel (blood pressure 85354-9) ``component[].valueQuantity``,
  each with ``system`` ``http://unitsofmeasure.org`` and a UCUM ``code`` (``kg``,
  ``[lb_av]``, ``mm[Hg]``, ``%``); the human ``unit`` text is ignored. Components whose code
  caredomain does not monitor (a mean arterial pressure) and components with a
  ``dataAbsentReason`` are skipped.
* ``effectiveDateTime`` (or ``effectiveInstant``): an RFC 3339 datetime with its UTC offset.
  A date alone (``2026-11-25``) or a time without an offset is refused unless the caller
  passes ``tz``, an IANA zone, in which it is read (a date as that day's local midnight).
* ``subject.reference``: ``Patient/{id}`` (relative or absolute URL) gives the patient id.
* ``status`` must be ``final``, ``amended``, ``corrected`` or ``preliminary``.
* The source: caredomain's extension `OBSERVATION_SOURCE` when present; else
  ``laboratory`` category -> lab; a performer that is the Patient or a RelatedPerson ->
  patient-reported; a Practitioner(Role) -> clinician; else device.

Rules of this module:

1. Every problem found is reported at once, as one `ValidationError` whose problems carry a
   FHIRPath-like location (``Observation.component[1].valueQuantity.code``); when the only
   problem is a unit, it is a `UnitError`. Text that is not JSON is a `ParseError`.
2. No message ever contains a value from the resource: not the subject's name, not the
   reading, not an identifier. Only locations and what was expected.
3. Pure functions of their input: no fhir.resources, no I/O, no clock.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

import pendulum

from caredomain.adapters.fhir._elements import write_datetime, write_quantity
from caredomain.adapters.fhir._models import FhirVersion
from caredomain.adapters.fhir.careplans import (
    CANONICAL_BASE,
    care_plan_from_fhir,
    care_plan_to_fhir,
    goal_from_fhir,
    goal_to_fhir,
)
from caredomain.adapters.fhir.resources import ResourceMapping, register
from caredomain.careplans.model import (
    MEASURES,
    CarePlan,
    Component,
    Goal,
    Observation,
    ObservationSource,
)
from caredomain.core.codes import FHIR_OBSERVATION_CATEGORY, LOINC, UCUM
from caredomain.core.errors import ParseError, Problem, UnitError, ValidationError
from caredomain.core.quantities import Quantity, can_convert, known_units, to_decimal
from caredomain.core.time import ensure_aware, validate_timezone

__all__ = [
    "ACCEPTED_STATUSES",
    "OBSERVATION_SOURCE",
    "observation_from_fhir",
    "observation_from_json",
    "observation_to_fhir",
]

ACCEPTED_STATUSES: Final = frozenset({"final", "amended", "corrected", "preliminary"})
"""Observation statuses that carry a usable result (FHIR R4 ``observation-status``)."""

OBSERVATION_SOURCE: Final = f"{CANONICAL_BASE}/StructureDefinition/observation-source"
"""caredomain's Observation extension carrying the `ObservationSource` (``valueCode``): FHIR
has no element for it (a clinician's reading has no performer id to point at)."""

_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# FHIR R4 dateTime: YYYY, YYYY-MM, YYYY-MM-DD, or a full time with seconds and (SHALL) an
# offset; the offset is optional here so that it can be refused with a precise message.
_DATE_TIME: Final = re.compile(
    r"^(?P<date>\d{4}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?)?)"
    r"(?:T(?P<time>[01]\d|2[0-3]):[0-5]\d:(?:[0-5]\d|60)(?:\.\d+)?"
    r"(?P<offset>Z|[+-](?:0\d|1[0-4]):[0-5]\d)?)?$"
)
_PATIENT_REFERENCE: Final = re.compile(
    r"(?:^|/)Patient/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$"
)


class _Problems:
    """Collects problems; tracks whether they are all about units."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.unit: tuple[str, str] | None = None  # (from_unit, to_unit) of a unit problem
        self.only_units = True

    def add(self, path: str, message: str) -> None:
        self.items.append(Problem(path, message))
        self.only_units = False

    def add_unit(self, path: str, message: str, from_unit: str, to_unit: str) -> None:
        self.items.append(Problem(path, message))
        self.unit = (from_unit, to_unit)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        if len(self.items) == 1 and self.only_units and self.unit is not None:
            problem = self.items[0]
            raise UnitError(
                problem.path, problem.message, from_unit=self.unit[0], to_unit=self.unit[1]
            )
        raise ValidationError(self.items, subject="Observation")


def observation_from_json(text: str | bytes, *, tz: str | None = None) -> Observation:
    """Read one FHIR R4 Observation from JSON text (one NDJSON line).

    Numbers are read as exact decimals. See `observation_from_fhir` for what is read.

    Raises:
        ParseError: The text is not a JSON object (the location is its line and column).
        ValidationError: As `observation_from_fhir`.
    """
    try:
        resource = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ParseError(f"line {exc.lineno}, column {exc.colno}", "a JSON object") from None
    except UnicodeDecodeError:
        raise ParseError("byte 0", "UTF-8 JSON text") from None
    if not isinstance(resource, dict):
        raise ParseError("line 1, column 1", "a JSON object")
    return observation_from_fhir(resource, tz=tz)


def observation_from_fhir(resource: Mapping[str, Any], *, tz: str | None = None) -> Observation:
    """Read a FHIR R4 vital-signs or laboratory Observation as a caredomain `Observation`.

    Args:
        resource: The Observation as parsed JSON.
        tz: An IANA zone in which to read an ``effectiveDateTime`` that has no UTC offset
            (a date alone reads as local midnight). Without it such times are refused:
            caredomain never guesses a timezone.

    Returns:
        The observation, its id the resource's ``id``, so that alerts cite
        ``Observation/{id}``.

    Raises:
        ValidationError: Every problem found, each with its FHIRPath-like location; a
            `UnitError` when the only problem is a unit; never with a value of the resource.
    """
    if tz is not None:
        validate_timezone(tz, "tz")
    problems = _Problems()
    if resource.get("resourceType") != "Observation":
        raise ValidationError.at("resourceType", "expected Observation", subject="Observation")
    identifier = _text(resource.get("id"))
    if identifier is None or not _ID.match(identifier):
        problems.add("Observation.id", "expected a FHIR id (alerts cite Observation/{id})")
    status = resource.get("status")
    if status not in ACCEPTED_STATUSES:
        problems.add(
            "Observation.status", f"expected one of: {', '.join(sorted(ACCEPTED_STATUSES))}"
        )
    code = _loinc(resource.get("code"), "Observation.code", problems, require=True)
    patient = _subject(resource.get("subject"), problems)
    effective = _effective(resource, tz, problems)
    value, components = _values(resource, code, problems)
    problems.raise_if_any()
    # Each of these being None added a problem, raised just above.
    assert identifier is not None
    assert code is not None
    assert patient is not None
    assert effective is not None
    try:
        return Observation(
            identifier,
            patient,
            code,
            effective,
            value=value,
            components=components,
            source=_source(resource),
        )
    except ValidationError as exc:  # pragma: no cover - every check above runs first
        raise ValidationError(
            [Problem(f"Observation.{p.path}", p.message) for p in exc.problems],
            subject="Observation",
        ) from None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() == value and value else None


def _loinc(concept: object, path: str, problems: _Problems, *, require: bool) -> str | None:
    """The monitored LOINC code of a CodeableConcept (None if absent or not monitored)."""
    if not isinstance(concept, Mapping) or not isinstance(concept.get("coding"), list):
        if require:
            problems.add(f"{path}.coding", "expected a list of codings with a LOINC code")
        return None
    loinc_seen = None
    for index, coding in enumerate(concept["coding"]):
        if not isinstance(coding, Mapping) or coding.get("system") != LOINC:
            continue
        code = coding.get("code")
        if isinstance(code, str) and code in MEASURES:
            return code
        loinc_seen = index
    if require:
        if loinc_seen is not None:
            problems.add(
                f"{path}.coding[{loinc_seen}].code",
                "expected a LOINC code caredomain monitors (see careplans.MEASURES)",
            )
        else:
            problems.add(f"{path}.coding", f"expected a coding with system {LOINC}")
    return None


def _subject(subject: object, problems: _Problems) -> str | None:
    if not isinstance(subject, Mapping):
        problems.add("Observation.subject", "expected a reference to the Patient")
        return None
    reference = subject.get("reference")
    match = _PATIENT_REFERENCE.search(reference) if isinstance(reference, str) else None
    if match is None:
        problems.add("Observation.subject.reference", "expected Patient/{id}")
        return None
    return match.group("id")


def _effective(
    resource: Mapping[str, Any], tz: str | None, problems: _Problems
) -> pendulum.DateTime | None:
    if "effectiveInstant" in resource:
        path, text = "Observation.effectiveInstant", resource["effectiveInstant"]
    else:
        path, text = "Observation.effectiveDateTime", resource.get("effectiveDateTime")
    if text is None:
        problems.add(path, "expected an effectiveDateTime (effectivePeriod is not read)")
        return None
    match = _DATE_TIME.match(text) if isinstance(text, str) else None
    if match is None:
        problems.add(path, "expected an RFC 3339 datetime such as 2026-11-25T07:30:00-06:00")
        return None
    if match.group("time") is None:
        if len(match.group("date")) != 10:
            problems.add(path, "expected at least a full date; a year or month is too vague")
            return None
        if tz is None:
            problems.add(path, "expected a time with a UTC offset (or a tz to read a date in)")
            return None
        day = _dt.date.fromisoformat(text)
        return pendulum.datetime(day.year, day.month, day.day, tz=tz)
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:  # a leap second, or a day that does not exist (2026-02-30)
        problems.add(path, "expected a valid calendar date and time")
        return None
    if match.group("offset") is None:
        if tz is None:
            problems.add(path, "expected a UTC offset (or a tz to read a local time in)")
            return None
        return pendulum.instance(parsed, tz=tz)
    return ensure_aware(parsed, path)


def _values(
    resource: Mapping[str, Any], code: str | None, problems: _Problems
) -> tuple[Quantity | None, list[Component]]:
    others = sorted(k for k in resource if k.startswith("value") and k != "valueQuantity")
    if "valueQuantity" in resource:
        value = _quantity(resource["valueQuantity"], "Observation.valueQuantity", code, problems)
        return value, []
    components: list[Component] = []
    raw = resource.get("component")
    if isinstance(raw, list) and raw:
        for index, item in enumerate(raw):
            path = f"Observation.component[{index}]"
            if not isinstance(item, Mapping):
                problems.add(path, "expected a component object")
                continue
            component_code = _loinc(item.get("code"), f"{path}.code", problems, require=False)
            if component_code is None or "dataAbsentReason" in item:
                continue  # not monitored, or no value: skipped (module docstring)
            if "valueQuantity" not in item:
                problems.add(f"{path}.valueQuantity", "expected a valueQuantity")
                continue
            quantity = _quantity(
                item["valueQuantity"], f"{path}.valueQuantity", component_code, problems
            )
            if quantity is not None:
                components.append(Component(component_code, quantity))
        if components or problems.items:
            return None, components
        problems.add("Observation.component", "expected a component caredomain monitors")
        return None, []
    where = f"Observation.{others[0]}" if others else "Observation.value[x]"
    problems.add(where, "expected a valueQuantity or components with valueQuantity")
    return None, []


def _quantity(value: object, path: str, code: str | None, problems: _Problems) -> Quantity | None:
    if not isinstance(value, Mapping):
        problems.add(path, "expected a Quantity")
        return None
    found = len(problems.items)
    if "comparator" in value:
        problems.add(f"{path}.comparator", "expected an exact value, without a comparator")
    amount = value.get("value")
    number = None
    if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal):
        problems.add(f"{path}.value", "expected a number")
    else:
        try:
            number = to_decimal(amount, f"{path}.value")
        except ValidationError:
            problems.add(f"{path}.value", "expected a finite number")
    if value.get("system") != UCUM:
        problems.add(f"{path}.system", f"expected {UCUM}")
    unit = value.get("code")
    if not isinstance(unit, str) or unit not in known_units():
        problems.add(
            f"{path}.code", "expected a UCUM code caredomain converts, such as kg or [lb_av]"
        )
        return None
    if code is not None and not can_convert(
        unit, MEASURES[code].unit, analyte=MEASURES[code].analyte
    ):
        measure = MEASURES[code]
        problems.add_unit(
            f"{path}.code",
            f"expected a unit convertible to {measure.unit} for {measure.name} (LOINC {code})",
            unit,
            measure.unit,
        )
        return None
    if number is None or len(problems.items) > found:
        return None
    return Quantity(number, unit)


def _source(resource: Mapping[str, Any]) -> ObservationSource:
    extensions = resource.get("extension")
    for extension in extensions if isinstance(extensions, list) else []:
        if isinstance(extension, Mapping) and extension.get("url") == OBSERVATION_SOURCE:
            with contextlib.suppress(ValueError):
                return ObservationSource(str(extension.get("valueCode")))
    categories = resource.get("category")
    if isinstance(categories, list):
        for category in categories:
            codings = category.get("coding") if isinstance(category, Mapping) else None
            for coding in codings if isinstance(codings, list) else []:
                if isinstance(coding, Mapping) and coding.get("code") == "laboratory":
                    return ObservationSource.LAB
    performers = resource.get("performer")
    for performer in performers if isinstance(performers, list) else []:
        reference = performer.get("reference") if isinstance(performer, Mapping) else None
        if isinstance(reference, str):
            # [base/]Type/id[/_history/version]: the type is the part before the id.
            parts = reference.split("/")
            if len(parts) >= 4 and parts[-2] == "_history":
                parts = parts[:-2]
            kind = parts[-2] if len(parts) >= 2 else ""
            if kind in {"Patient", "RelatedPerson"}:
                return ObservationSource.PATIENT_REPORTED
            if kind in {"Practitioner", "PractitionerRole"}:
                return ObservationSource.CLINICIAN
    return ObservationSource.DEVICE


# --- writing (and the registry) ----------------------------------------------------------


def observation_to_fhir(
    observation: Observation, version: FhirVersion | str = FhirVersion.R4
) -> dict[str, Any]:
    """A caredomain `Observation` as a FHIR vital-signs or laboratory Observation.

    ``status`` is ``final``; the category is ``laboratory`` for a lab result, else
    ``vital-signs``; the code is the LOINC coding; a panel's values are ``component[]``;
    a patient-reported reading names the patient as ``performer``; the source itself is in
    `OBSERVATION_SOURCE`. The JSON is the same in R4 and R5. `observation_from_fhir` reads
    it back unchanged.

    Raises:
        ValidationError: The version is unknown.
    """
    FhirVersion.of(version)
    category = "laboratory" if observation.source is ObservationSource.LAB else "vital-signs"
    subject = {"reference": f"Patient/{observation.patient}"}
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": observation.id,
        "extension": [{"url": OBSERVATION_SOURCE, "valueCode": observation.source.value}],
        "status": "final",
        "category": [{"coding": [{"system": FHIR_OBSERVATION_CATEGORY, "code": category}]}],
        "code": {"coding": [_loinc_coding(observation.code)]},
        "subject": subject,
        "effectiveDateTime": write_datetime(observation.effective),
    }
    if observation.source is ObservationSource.PATIENT_REPORTED:
        resource["performer"] = [subject]
    if observation.value is not None:
        resource["valueQuantity"] = write_quantity(observation.value)
    else:
        resource["component"] = [
            {"code": {"coding": [_loinc_coding(c.code)]}, "valueQuantity": write_quantity(c.value)}
            for c in observation.components
        ]
    return resource


def _loinc_coding(code: str) -> dict[str, Any]:
    return {"system": LOINC, "code": code, "display": MEASURES[code].name}


def _write_plan(plan: CarePlan, version: FhirVersion) -> dict[str, Any]:
    return care_plan_to_fhir(plan, goals_as_resources=False, version=version)[0]


def _read_plan(resource: Mapping[str, Any], version: FhirVersion) -> CarePlan:
    return care_plan_from_fhir(resource, (), version)


def _write_goal(goal: Goal, version: FhirVersion) -> dict[str, Any]:
    return goal_to_fhir(goal, None, version)


def _read_observation(resource: Mapping[str, Any], _version: FhirVersion) -> Observation:
    return observation_from_fhir(resource)


# The care-plan mappings register here, not in careplans.py: resources.py imports
# careplans.CANONICAL_BASE at its top, so careplans importing resources would be a cycle.
register(ResourceMapping(CarePlan, "CarePlan", _write_plan, _read_plan))
register(ResourceMapping(Goal, "Goal", _write_goal, goal_from_fhir))
# ObservationResult stays the default reading of an Observation: pass cls=Observation.
register(
    ResourceMapping(Observation, "Observation", observation_to_fhir, _read_observation),
    default=False,
)
