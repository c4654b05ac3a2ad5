"""Domain values <-> FHIR R4 and R5 resources: `to_fhir`, `from_fhir` and their registry.

`to_fhir(value, version)` writes a plain JSON-ready dict, built directly (no fhir.resources,
no pydantic: a few microseconds for a Patient); ``validate=True`` also builds the
fhir.resources model, so that a test or a cautious caller knows the JSON is valid.
`from_fhir(resource, version)` reads a dict or a fhir.resources model back, choosing the
domain type by ``resourceType`` (or ``cls=``), and reports every problem at once with its
FHIRPath-like location (``Patient.name[0].given[1]``), never with a value.

Rules of this module:

1. One `ResourceMapping` per domain type, in `MAPPINGS`: a writer and a reader for both
   versions. Datatypes (Coding, HumanName, Reference, Quantity, dateTime...) are in
   ``_elements``; what differs between R4 and R5 is here, next to the resource it concerns.
2. What caredomain writes it reads back unchanged: ``from_fhir(to_fhir(x, v), v) == x`` for
   every value and both versions (property-tested with `caredomain.testing.strategies`).
3. Reading, elements that caredomain has no field for are ignored, as any FHIR consumer
   ignores what it does not use; where caredomain keeps one value and FHIR allows several
   (``Observation.category``, ``performer``, ``referenceRange``; ``Encounter.location``,
   ``participant.type``; ``Organization.type``, ``Location.type``; ``Coverage.payor``),
   the first is read. An element caredomain reads but cannot hold (a time without an
   offset, an ``effectivePeriod``, a participant without an individual) is a problem.

Resources and the R4/R5 differences handled:

* Patient: ``gender``, ``birthDate``, ``name``, ``telecom``, ``address``, ``identifier``;
  the preferred language as ``communication[].language`` (BCP 47, ``preferred: true``); the
  IANA zone in the timezone extension on the resource, as the care-plan CLI reads it.
* Practitioner: FHIR puts specialties on PractitionerRole (``specialty``), which has no
  home in a Practitioner; they are written as ``qualification[].code``, the one coded
  element of Practitioner about what the clinician is qualified for (NUCC taxonomy codes,
  as Da Vinci PDex Plan-Net uses them in qualifications).
* Organization: ``type`` is the kind; R4 ``telecom``/``address``; R5 removed both and holds
  them in ``contact[]`` (ExtendedContactDetail): one contact with every telecom, then one
  contact per address.
* Location: the timezone extension; ``type`` is the kind.
* Coverage: ``status`` is always ``active`` (caredomain keeps no status); the member id is
  ``identifier[0]``; the plan is a ``class`` of type ``plan`` whose ``value`` is a string in
  R4 and an Identifier in R5; the payer is R4 ``payor[0]`` and R5 ``insurer``; R5 requires
  ``kind`` (``insurance``); the line of business is a ``type`` coding in caredomain's code
  system `LINE_OF_BUSINESS` (a Coverage without one reads as ``other``).
* Encounter: R4 ``status`` and ``class`` (a Coding); R5 renamed ``finished`` to
  ``completed`` and ``onleave`` to ``on-hold`` and dropped ``arrived`` and ``triaged``,
  which become ``in-progress`` with ``subjectStatus`` ``arrived``/``triaged`` (the
  R4B-to-R5 cross-version map); R5 ``class`` is a list of CodeableConcept; R4 ``period``
  is R5 ``actualPeriod``; R4 ``reasonCode`` is R5 ``reason[].value[].concept``; R4
  ``serviceType`` (CodeableConcept) is R5 ``serviceType[].concept``; R4
  ``hospitalization`` is R5 ``admission``; participant R4 ``individual`` is R5 ``actor``.
  Reading R5, ``discharged`` and ``discontinued`` read as ``finished``, and an Encounter
  without ``class`` (0..* in R5) takes the domain's default, ambulatory.
* Observation (`ObservationResult`): value as ``valueQuantity`` (with ``comparator``),
  ``valueCodeableConcept``, ``valueString``, ``valueRange`` or ``valueRatio``; one
  ``referenceRange``; ``interpretation``, ``note``, ``performer``, ``issued``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from caredomain.adapters.fhir._elements import (
    BCP_47,
    Problems,
    absent,
    as_json,
    each,
    enum_member,
    first_item,
    items,
    mapping,
    optional,
    put,
    read_address,
    read_coding,
    read_concept,
    read_concepts,
    read_contact_point,
    read_date,
    read_datetime,
    read_identifier,
    read_identifiers,
    read_interval,
    read_name,
    read_quantity,
    read_reference,
    read_timezone,
    require_timezone,
    required_reference,
    resource_id,
    resource_reader,
    set_if_read,
    string,
    write_address,
    write_coding,
    write_concept,
    write_contact_point,
    write_date,
    write_datetime,
    write_identifier,
    write_interval,
    write_name,
    write_quantity,
    write_reference,
    write_timezone,
)
from caredomain.adapters.fhir._models import FhirVersion
from caredomain.adapters.fhir._models import validate as _validate
from caredomain.adapters.fhir.careplans import CANONICAL_BASE
from caredomain.core.codes import CodeableConcept, hl7_v2_table
from caredomain.core.encounters import Encounter, EncounterParticipant, EncounterStatus
from caredomain.core.errors import RuleError, ValidationError
from caredomain.core.identity import Reference
from caredomain.core.parties import (
    AdministrativeGender,
    Coverage,
    LineOfBusiness,
    Location,
    Organization,
    Patient,
    Practitioner,
)
from caredomain.core.quantities import Quantity
from caredomain.core.results import (
    COMPARATORS,
    ObservationResult,
    Range,
    Ratio,
    ReferenceRange,
    ResultStatus,
)

__all__ = [
    "COVERAGE_CLASS",
    "ENCOUNTER_SUBJECT_STATUS",
    "LINE_OF_BUSINESS",
    "MAPPINGS",
    "ResourceMapping",
    "from_fhir",
    "register",
    "to_fhir",
]

LINE_OF_BUSINESS: Final = f"{CANONICAL_BASE}/CodeSystem/line-of-business"
"""caredomain's code system for `LineOfBusiness` on ``Coverage.type`` (codes: its values)."""

COVERAGE_CLASS: Final = "http://terminology.hl7.org/CodeSystem/coverage-class"
"""THO ``coverage-class``, the code system of ``Coverage.class.type`` (``plan``, ``group``)."""

ENCOUNTER_SUBJECT_STATUS: Final = "http://terminology.hl7.org/CodeSystem/encounter-subject-status"
"""THO ``encounter-subject-status``, of R5 ``Encounter.subjectStatus``."""

Writer = Callable[[Any, FhirVersion], dict[str, Any]]
Reader = Callable[[Mapping[str, Any], FhirVersion], Any]


@attrs.frozen
class ResourceMapping:
    """How one domain type is written to and read from one FHIR resource type.

    Attributes:
        domain: The domain type (`Patient`, `Encounter`...).
        resource_type: The FHIR resource type it maps to (``"Patient"``).
        write: ``write(value, version)`` returns the resource as a JSON-ready dict.
        read: ``read(resource, version)`` returns the domain value from a JSON dict whose
            ``resourceType`` is ``resource_type``, or raises `ValidationError`.
    """

    domain: type
    resource_type: str
    write: Writer
    read: Reader


_BY_TYPE: dict[type, ResourceMapping] = {}
_BY_RESOURCE: dict[str, ResourceMapping] = {}

MAPPINGS: Final[Mapping[type, ResourceMapping]] = MappingProxyType(_BY_TYPE)
"""Every registered mapping by domain type (read-only; add with `register`)."""


def register(mapping: ResourceMapping, *, default: bool = True) -> None:
    """Add a mapping, so that `to_fhir` writes its domain type and `from_fhir` reads it.

    Args:
        mapping: The mapping.
        default: Whether `from_fhir` reads its resource type as this domain type when no
            ``cls`` is given (the first mapping of a resource type is its default anyway).

    Raises:
        RuleError: The domain type already has a mapping.
    """
    if mapping.domain in _BY_TYPE:
        raise RuleError("the domain type already has a FHIR mapping", key=mapping.domain.__name__)
    _BY_TYPE[mapping.domain] = mapping
    if default or mapping.resource_type not in _BY_RESOURCE:
        _BY_RESOURCE[mapping.resource_type] = mapping


def to_fhir(
    value: Any, version: FhirVersion | str = FhirVersion.R4, *, validate: bool = False
) -> dict[str, Any]:
    """Write a domain value as a FHIR resource (a plain JSON-ready dict).

    Numbers are ``int`` or ``float`` (a ``Decimal`` only when a float would lose digits);
    datetimes keep their own UTC offset. See the module docstring for each mapping.

    Args:
        value: A value of a type in `MAPPINGS`.
        version: ``"R4"`` (4.0.1) or ``"R5"``.
        validate: Also build the fhir.resources model (slow; imports fhir.resources).

    Raises:
        ValidationError: The type has no mapping, the version is unknown, or (with
            ``validate``) fhir.resources rejects the resource.
    """
    release = FhirVersion.of(version)
    mapping = _BY_TYPE.get(type(value))
    if mapping is None:
        mapping = next((_BY_TYPE[t] for t in type(value).__mro__ if t in _BY_TYPE), None)
        if mapping is None:
            raise ValidationError.at("value", "expected a domain value with a FHIR mapping")
    resource = mapping.write(value, release)
    if validate:
        _validate(resource, release)
    return resource


def from_fhir(
    resource: Any, version: FhirVersion | str = FhirVersion.R4, *, cls: type | None = None
) -> Any:
    """Read a FHIR resource as the domain value it maps to.

    Args:
        resource: The resource as parsed JSON (a mapping; numbers may be ``Decimal``), or a
            fhir.resources model of the same version.
        version: ``"R4"`` or ``"R5"``: the release the resource follows.
        cls: The domain type to read (default: the registered default for the
            ``resourceType``, such as `ObservationResult` for an Observation).

    Raises:
        ValidationError: Every problem found, each with its FHIRPath-like location
            (``Encounter.period.start``) and what was expected, never a value.
    """
    release = FhirVersion.of(version)
    data = as_json(resource, release)
    kind = data.get("resourceType")
    if cls is not None:
        mapping = _BY_TYPE.get(cls)
        if mapping is None:
            raise ValidationError.at("cls", "expected a domain type with a FHIR mapping")
        if kind != mapping.resource_type:
            raise ValidationError.at("resourceType", f"expected {mapping.resource_type}")
    else:
        found = _BY_RESOURCE.get(kind) if isinstance(kind, str) else None
        if found is None:
            known = ", ".join(sorted(_BY_RESOURCE))
            raise ValidationError.at("resourceType", f"expected one of: {known}")
        mapping = found
    return mapping.read(data, release)


# --- Patient -------------------------------------------------------------------------------


def _write_patient(value: Patient, version: FhirVersion) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": value.id}
    if value.timezone is not None:
        resource["extension"] = [write_timezone(value.timezone)]
    put(resource, "identifier", [write_identifier(i) for i in value.identifiers])
    put(resource, "name", [write_name(n) for n in value.names])
    put(resource, "telecom", [write_contact_point(c) for c in value.telecom])
    if value.sex is not None:
        resource["gender"] = value.sex.value
    if value.birth_date is not None:
        resource["birthDate"] = write_date(value.birth_date)
    put(resource, "address", [write_address(a) for a in value.addresses])
    if value.language is not None:
        # FHIR R4 Patient.communication.language: BCP 47 (preferred binding, "all languages").
        resource["communication"] = [
            {
                "language": {"coding": [{"system": BCP_47, "code": value.language}]},
                "preferred": True,
            }
        ]
    return resource


_GENDERS: Final = ", ".join(AdministrativeGender)


def _patient_fields(
    data: Mapping[str, Any], _version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Patient"
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "identifiers": read_identifiers(data, "identifier", path, problems),
        "names": each(data, "name", path, problems, read_name),
        "telecom": each(data, "telecom", path, problems, read_contact_point),
        "addresses": each(data, "address", path, problems, read_address),
        "timezone": read_timezone(data, path, problems),
        "birth_date": optional(data, "birthDate", path, problems, read_date),
        "language": _language(data, path, problems),
    }
    gender = string(data, "gender", path, problems)
    if gender is not None:
        if gender in {g.value for g in AdministrativeGender}:
            kwargs["sex"] = AdministrativeGender(gender)
        else:
            problems.add(f"{path}.gender", f"expected one of: {_GENDERS} (administrative-gender)")
    return kwargs


def _language(data: Mapping[str, Any], path: str, problems: Problems) -> str | None:
    """The BCP 47 tag of the preferred (else the first) communication language, if coded."""
    chosen: tuple[str, Any] | None = None
    for where, item in items(data, "communication", path, problems):
        if mapping(item, where, problems, "a communication") is None:
            continue
        if chosen is None or (
            item.get("preferred") is True and chosen[1].get("preferred") is not True
        ):
            chosen = (where, item)
    if chosen is None:
        return None
    where, item = chosen
    concept = item.get("language")
    if not isinstance(concept, Mapping):
        problems.add(f"{where}.language", "expected a CodeableConcept (required)")
        return None
    for coding_path, coding in items(concept, "coding", f"{where}.language", problems):
        if isinstance(coding, Mapping) and coding.get("system") == BCP_47:
            return string(coding, "code", coding_path, problems, required=True)
    return None


# --- Practitioner --------------------------------------------------------------------------


def _write_practitioner(value: Practitioner, version: FhirVersion) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Practitioner", "id": value.id}
    put(resource, "identifier", [write_identifier(i) for i in value.identifiers])
    put(resource, "name", [write_name(n) for n in value.names])
    put(resource, "telecom", [write_contact_point(c) for c in value.telecom])
    # Specialties belong to PractitionerRole.specialty in FHIR R4/R5; on a Practitioner the
    # nearest element is qualification.code (see the module docstring).
    put(resource, "qualification", [{"code": write_concept(s)} for s in value.specialties])
    return resource


def _practitioner_fields(
    data: Mapping[str, Any], _version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Practitioner"
    specialties = []
    for where, item in items(data, "qualification", path, problems):
        qualification = mapping(item, where, problems, "a qualification")
        if qualification is not None:
            if "code" not in qualification:
                problems.add(f"{where}.code", "expected a CodeableConcept (required)")
                continue
            specialties.append(read_concept(qualification["code"], f"{where}.code", problems))
    return {
        "id": resource_id(data, path, problems),
        "identifiers": read_identifiers(data, "identifier", path, problems),
        "names": each(data, "name", path, problems, read_name),
        "telecom": each(data, "telecom", path, problems, read_contact_point),
        "specialties": tuple(s for s in specialties if s is not None),
    }


# --- Organization --------------------------------------------------------------------------


def _write_organization(value: Organization, version: FhirVersion) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Organization", "id": value.id}
    put(resource, "identifier", [write_identifier(i) for i in value.identifiers])
    if value.kind is not None:
        resource["type"] = [write_concept(value.kind)]
    resource["name"] = value.name
    telecom = [write_contact_point(c) for c in value.telecom]
    addresses = [write_address(a) for a in value.addresses]
    if version is FhirVersion.R4:
        put(resource, "telecom", telecom)
        put(resource, "address", addresses)
    else:
        # R5 Organization has no telecom or address: both live in contact[]
        # (ExtendedContactDetail), which holds many telecoms but one address.
        contacts: list[dict[str, Any]] = [{"telecom": telecom}] if telecom else []
        contacts.extend({"address": address} for address in addresses)
        put(resource, "contact", contacts)
    return resource


def _organization_fields(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Organization"
    kind_path, kind = first_item(data, "type", path, problems)
    if version is FhirVersion.R4:
        telecom = each(data, "telecom", path, problems, read_contact_point)
        addresses = each(data, "address", path, problems, read_address)
    else:
        telecom, addresses = (), ()
        for where, item in items(data, "contact", path, problems):
            contact = mapping(item, where, problems, "an ExtendedContactDetail")
            if contact is not None:
                telecom += each(contact, "telecom", where, problems, read_contact_point)
                address = optional(contact, "address", where, problems, read_address)
                addresses += (address,) if address is not None else ()
    return {
        "id": resource_id(data, path, problems),
        "name": string(data, "name", path, problems, required=True),
        "identifiers": read_identifiers(data, "identifier", path, problems),
        "kind": read_concept(kind, kind_path, problems) if kind is not None else None,
        "telecom": telecom,
        "addresses": addresses,
    }


# --- Location ------------------------------------------------------------------------------


def _write_location(value: Location, version: FhirVersion) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": value.id,
        "extension": [write_timezone(value.timezone)],
        "name": value.name,
    }
    if value.kind is not None:
        resource["type"] = [write_concept(value.kind)]
    if value.address is not None:
        resource["address"] = write_address(value.address)
    if value.managing_organization is not None:
        resource["managingOrganization"] = write_reference(value.managing_organization)
    return resource


def _location_fields(
    data: Mapping[str, Any], _version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Location"
    timezone = require_timezone(data, path, problems)
    kind_path, kind = first_item(data, "type", path, problems)
    organization = None
    if "managingOrganization" in data:
        organization = read_reference(
            data["managingOrganization"],
            f"{path}.managingOrganization",
            problems,
            ("Organization",),
        )
    return {
        "id": resource_id(data, path, problems),
        "name": string(data, "name", path, problems, required=True),
        "timezone": timezone,
        "address": optional(data, "address", path, problems, read_address),
        "kind": read_concept(kind, kind_path, problems) if kind is not None else None,
        "managing_organization": organization,
    }


# --- Coverage ------------------------------------------------------------------------------

_MEMBER: Final = CodeableConcept.of(hl7_v2_table(203), "MB")  # v2 table 0203: member number


def _write_coverage(value: Coverage, version: FhirVersion) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": value.id,
        "identifier": [write_identifier(value.member_id)],
        "status": "active",
    }
    if version is FhirVersion.R5:
        resource["kind"] = "insurance"  # R5 Coverage.kind, 1..1: insurance | self-pay | other
    resource["type"] = {
        "coding": [{"system": LINE_OF_BUSINESS, "code": value.line_of_business.value}]
    }
    resource["beneficiary"] = write_reference(value.beneficiary)
    if value.period is not None:
        resource["period"] = write_interval(value.period)
    payer = write_reference(value.payer)
    if version is FhirVersion.R4:
        resource["payor"] = [payer]
    else:
        resource["insurer"] = payer
    plan_type = {"coding": [{"system": COVERAGE_CLASS, "code": "plan"}]}
    plan: str | dict[str, str] = value.plan if version is FhirVersion.R4 else {"value": value.plan}
    resource["class"] = [{"type": plan_type, "value": plan}]
    return resource


def _coverage_fields(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Coverage"
    member_id = None
    identifiers = [
        (where, read_identifier(item, where, problems))
        for where, item in items(data, "identifier", path, problems)
    ]
    members = [i for _, i in identifiers if i is not None and i.type == _MEMBER]
    if members or identifiers:
        member_id = members[0] if members else identifiers[0][1]
    else:
        problems.add(f"{path}.identifier", "expected the member id as an identifier")
    line = LineOfBusiness.OTHER
    concept = optional(data, "type", path, problems, read_concept)
    code = concept.code_in(LINE_OF_BUSINESS) if concept is not None else None
    if code is not None:
        if code in {b.value for b in LineOfBusiness}:
            line = LineOfBusiness(code)
        else:
            problems.add(f"{path}.type", f"expected a code of {LINE_OF_BUSINESS}")
    if version is FhirVersion.R4:
        payer_path, payer = first_item(data, "payor", path, problems)
    else:
        payer_path, payer = f"{path}.insurer", data.get("insurer")
    if payer is None:
        problems.add(payer_path or f"{path}.payor", "expected the payer (an Organization)")
    return {
        "id": resource_id(data, path, problems),
        "beneficiary": required_reference(data, "beneficiary", path, problems, ("Patient",)),
        "payer": read_reference(payer, payer_path, problems, ("Organization",))
        if payer is not None
        else None,
        "plan": _plan(data, version, path, problems),
        "member_id": member_id,
        "line_of_business": line,
        "period": optional(data, "period", path, problems, read_interval),
    }


def _plan(
    data: Mapping[str, Any], version: FhirVersion, path: str, problems: Problems
) -> str | None:
    for where, item in items(data, "class", path, problems):
        entry = mapping(item, where, problems, "a coverage class")
        kind = entry.get("type") if entry is not None else None
        if entry is None or not isinstance(kind, Mapping):
            continue
        concept = read_concept(kind, f"{where}.type", problems)
        if concept is None or concept.code_in(COVERAGE_CLASS) != "plan":
            continue
        if version is FhirVersion.R4:
            return string(entry, "value", where, problems, required=True)
        value = mapping(entry.get("value"), f"{where}.value", problems, "an Identifier")
        return string(value, "value", f"{where}.value", problems, required=True) if value else None
    problems.add(f"{path}.class", "expected a class of type plan (coverage-class)")
    return None


def _optional_reference(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, targets: tuple[str, ...]
) -> Reference | None:
    if key not in data:
        return None
    return read_reference(data[key], f"{path}.{key}", problems, targets)


# --- Encounter -----------------------------------------------------------------------------

# R4 encounter-status -> R5 (status, subjectStatus): R5 renamed finished and onleave and
# dropped arrived and triaged, which the R4B-to-R5 cross-version map (FHIR R5 "Encounter
# Transforms: R4B to R5") sends to in-progress; R5 Encounter.subjectStatus keeps them.
_R5_STATUS: Final[dict[EncounterStatus, tuple[str, str | None]]] = {
    EncounterStatus.PLANNED: ("planned", None),
    EncounterStatus.ARRIVED: ("in-progress", "arrived"),
    EncounterStatus.TRIAGED: ("in-progress", "triaged"),
    EncounterStatus.IN_PROGRESS: ("in-progress", None),
    EncounterStatus.ON_LEAVE: ("on-hold", "on-leave"),
    EncounterStatus.FINISHED: ("completed", None),
    EncounterStatus.CANCELLED: ("cancelled", None),
    EncounterStatus.ENTERED_IN_ERROR: ("entered-in-error", None),
    EncounterStatus.UNKNOWN: ("unknown", None),
}
# R5 status -> R4. discharged ("the patient has left; administrative steps remain") and
# discontinued ("started, but not completed as planned") have no R4 code: both have ended,
# which R4 calls finished.
_R4_STATUS: Final[dict[str, EncounterStatus]] = {
    "planned": EncounterStatus.PLANNED,
    "in-progress": EncounterStatus.IN_PROGRESS,
    "on-hold": EncounterStatus.ON_LEAVE,
    "discharged": EncounterStatus.FINISHED,
    "completed": EncounterStatus.FINISHED,
    "cancelled": EncounterStatus.CANCELLED,
    "discontinued": EncounterStatus.FINISHED,
    "entered-in-error": EncounterStatus.ENTERED_IN_ERROR,
    "unknown": EncounterStatus.UNKNOWN,
}
_IN_PROGRESS_SUBJECT: Final[dict[str, EncounterStatus]] = {
    "arrived": EncounterStatus.ARRIVED,
    "triaged": EncounterStatus.TRIAGED,
    "on-leave": EncounterStatus.ON_LEAVE,
}
_PARTICIPANTS: Final = ("Practitioner", "PractitionerRole", "RelatedPerson")


def _write_encounter(value: Encounter, version: FhirVersion) -> dict[str, Any]:
    r4 = version is FhirVersion.R4
    resource: dict[str, Any] = {"resourceType": "Encounter", "id": value.id}
    put(resource, "identifier", [write_identifier(i) for i in value.identifiers])
    subject_status = None
    if r4:
        resource["status"] = value.status.value
        resource["class"] = write_coding(value.encounter_class)
    else:
        resource["status"], subject_status = _R5_STATUS[value.status]
        resource["class"] = [{"coding": [write_coding(value.encounter_class)]}]
    if value.service_type is not None:
        concept = write_concept(value.service_type)
        resource["serviceType"] = concept if r4 else [{"concept": concept}]
    resource["subject"] = write_reference(value.patient)
    if subject_status is not None:
        resource["subjectStatus"] = {
            "coding": [{"system": ENCOUNTER_SUBJECT_STATUS, "code": subject_status}]
        }
    actor = "individual" if r4 else "actor"
    participants = []
    for participant in value.participants:
        entry: dict[str, Any] = {}
        if participant.role is not None:
            entry["type"] = [write_concept(participant.role)]
        entry[actor] = write_reference(participant.actor)
        participants.append(entry)
    put(resource, "participant", participants)
    period = {}
    if value.admitted_at is not None:
        period["start"] = write_datetime(value.admitted_at)
    if value.discharged_at is not None:
        period["end"] = write_datetime(value.discharged_at)
    if period:
        resource["period" if r4 else "actualPeriod"] = period
    if r4:
        put(resource, "reasonCode", [write_concept(c) for c in value.reasons])
    else:
        put(resource, "reason", [{"value": [{"concept": write_concept(c)}]} for c in value.reasons])
    stay = {}
    if value.admit_source is not None:
        stay["admitSource"] = write_concept(value.admit_source)
    if value.discharge_disposition is not None:
        stay["dischargeDisposition"] = write_concept(value.discharge_disposition)
    if stay:
        resource["hospitalization" if r4 else "admission"] = stay
    if value.location is not None:
        resource["location"] = [{"location": write_reference(value.location)}]
    if value.service_provider is not None:
        resource["serviceProvider"] = write_reference(value.service_provider)
    return resource


def _encounter_fields(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Encounter"
    r4 = version is FhirVersion.R4
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "patient": required_reference(data, "subject", path, problems, ("Patient",)),
        "identifiers": read_identifiers(data, "identifier", path, problems),
    }
    if r4:
        set_if_read(
            kwargs,
            "status",
            enum_member(data, "status", path, problems, EncounterStatus, "encounter-status"),
        )
        if "class" in data:
            set_if_read(
                kwargs, "encounter_class", read_coding(data["class"], f"{path}.class", problems)
            )
        else:
            problems.add(f"{path}.class", "expected a Coding (required in R4)")
        set_if_read(
            kwargs, "service_type", optional(data, "serviceType", path, problems, read_concept)
        )
        kwargs["reasons"] = read_concepts(data, "reasonCode", path, problems)
    else:
        set_if_read(kwargs, "status", _r5_status(data, path, problems))
        set_if_read(kwargs, "encounter_class", _r5_class(data, path, problems))
        set_if_read(kwargs, "service_type", _r5_service_type(data, path, problems))
        kwargs["reasons"] = _r5_reasons(data, path, problems)
    period_key = "period" if r4 else "actualPeriod"
    period = data.get(period_key)
    if period is not None:
        where = f"{path}.{period_key}"
        if mapping(period, where, problems, "a Period") is not None:
            kwargs["admitted_at"] = optional(period, "start", where, problems, read_datetime)
            kwargs["discharged_at"] = optional(period, "end", where, problems, read_datetime)
    stay_key = "hospitalization" if r4 else "admission"
    stay = data.get(stay_key)
    if stay is not None:
        where = f"{path}.{stay_key}"
        if mapping(stay, where, problems, "an admission") is not None:
            kwargs["admit_source"] = optional(stay, "admitSource", where, problems, read_concept)
            kwargs["discharge_disposition"] = optional(
                stay, "dischargeDisposition", where, problems, read_concept
            )
    kwargs["participants"] = _participants(data, version, path, problems)
    where, location = first_item(data, "location", path, problems)
    if location is not None and mapping(location, where, problems, "a location") is not None:
        kwargs["location"] = required_reference(
            location, "location", where, problems, ("Location",)
        )
    kwargs["service_provider"] = _optional_reference(
        data, "serviceProvider", path, problems, ("Organization",)
    )
    return kwargs


def _r5_status(data: Mapping[str, Any], path: str, problems: Problems) -> EncounterStatus | None:
    status = string(data, "status", path, problems, required=True)
    if status is None:
        return None
    if status not in _R4_STATUS:
        problems.add(f"{path}.status", f"expected one of: {', '.join(_R4_STATUS)} (R5)")
        return None
    result = _R4_STATUS[status]
    if result is EncounterStatus.IN_PROGRESS:
        concept = optional(data, "subjectStatus", path, problems, read_concept)
        code = concept.code_in(ENCOUNTER_SUBJECT_STATUS) if concept is not None else None
        result = _IN_PROGRESS_SUBJECT.get(code or "", result)
    return result


def _r5_class(data: Mapping[str, Any], path: str, problems: Problems) -> Any:
    where, first = first_item(data, "class", path, problems)
    if first is None:
        return None  # R5 class is 0..*: the domain's default (ambulatory) applies
    concept = mapping(first, where, problems, "a CodeableConcept")
    if concept is None:
        return None
    coding_path, coding = first_item(concept, "coding", where, problems)
    if coding is None:
        problems.add(f"{where}.coding", "expected a v3-ActCode coding")
        return None
    return read_coding(coding, coding_path, problems)


def _r5_service_type(data: Mapping[str, Any], path: str, problems: Problems) -> Any:
    where, first = first_item(data, "serviceType", path, problems)
    if first is None or mapping(first, where, problems, "a CodeableReference") is None:
        return None
    return optional(first, "concept", where, problems, read_concept)


def _r5_reasons(
    data: Mapping[str, Any], path: str, problems: Problems
) -> tuple[CodeableConcept, ...]:
    reasons: list[CodeableConcept] = []
    for where, item in items(data, "reason", path, problems):
        reason = mapping(item, where, problems, "a reason")
        for value_path, value in items(reason or {}, "value", where, problems):
            if mapping(value, value_path, problems, "a CodeableReference") is not None:
                concept = optional(value, "concept", value_path, problems, read_concept)
                if concept is not None:
                    reasons.append(concept)
    return tuple(reasons)


def _participants(
    data: Mapping[str, Any], version: FhirVersion, path: str, problems: Problems
) -> tuple[EncounterParticipant, ...]:
    actor_key = "individual" if version is FhirVersion.R4 else "actor"
    found = []
    for where, item in items(data, "participant", path, problems):
        participant = mapping(item, where, problems, "a participant")
        if participant is None:
            continue
        actor = required_reference(participant, actor_key, where, problems, _PARTICIPANTS)
        role_path, role = first_item(participant, "type", where, problems)
        concept = read_concept(role, role_path, problems) if role is not None else None
        if actor is not None:
            found.append(EncounterParticipant(actor, concept))
    return tuple(found)


# --- Observation ---------------------------------------------------------------------------

_PERFORMERS: Final = (
    "Practitioner",
    "Organization",
    "PractitionerRole",
    "Patient",
    "RelatedPerson",
    "CareTeam",
)
_VALUE_KEYS: Final = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueString",
    "valueRange",
    "valueRatio",
)


def _write_result(value: ObservationResult, version: FhirVersion) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Observation", "id": value.id}
    put(resource, "identifier", [write_identifier(i) for i in value.identifiers])
    resource["status"] = value.status.value
    if value.category is not None:
        resource["category"] = [write_concept(value.category)]
    resource["code"] = write_concept(value.code)
    resource["subject"] = write_reference(value.patient)
    if value.effective is not None:
        resource["effectiveDateTime"] = write_datetime(value.effective)
    if value.issued is not None:
        resource["issued"] = write_datetime(value.issued)
    if value.performer is not None:
        resource["performer"] = [write_reference(value.performer)]
    observed = value.value
    if isinstance(observed, Quantity):
        resource["valueQuantity"] = write_quantity(observed, value.comparator)
    elif isinstance(observed, CodeableConcept):
        resource["valueCodeableConcept"] = write_concept(observed)
    elif isinstance(observed, str):
        resource["valueString"] = observed
    elif isinstance(observed, Range):
        resource["valueRange"] = _write_bounds(observed.low, observed.high) or absent()
    elif isinstance(observed, Ratio):
        resource["valueRatio"] = {
            "numerator": write_quantity(observed.numerator),
            "denominator": write_quantity(observed.denominator),
        }
    put(resource, "interpretation", [write_concept(c) for c in value.interpretation])
    put(resource, "note", [{"text": note} for note in value.notes])
    if value.reference_range is not None:
        limits = value.reference_range
        entry = _write_bounds(limits.low, limits.high)
        if limits.text is not None:
            entry["text"] = limits.text
        resource["referenceRange"] = [entry or absent()]
    return resource


def _write_bounds(low: Quantity | None, high: Quantity | None) -> dict[str, Any]:
    result = {}
    if low is not None:
        result["low"] = write_quantity(low)
    if high is not None:
        result["high"] = write_quantity(high)
    return result


def _result_fields(
    data: Mapping[str, Any], _version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Observation"
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "patient": required_reference(data, "subject", path, problems, ("Patient",)),
        "identifiers": read_identifiers(data, "identifier", path, problems),
        "interpretation": read_concepts(data, "interpretation", path, problems),
        "issued": optional(data, "issued", path, problems, read_datetime),
    }
    set_if_read(
        kwargs,
        "status",
        enum_member(data, "status", path, problems, ResultStatus, "observation-status"),
    )
    if "code" in data:
        kwargs["code"] = read_concept(data["code"], f"{path}.code", problems)
    else:
        problems.add(f"{path}.code", "expected a CodeableConcept (required)")
    where, category = first_item(data, "category", path, problems)
    kwargs["category"] = read_concept(category, where, problems) if category is not None else None
    effective = [k for k in data if k.startswith("effective")]
    if "effectiveDateTime" in data or "effectiveInstant" in data:
        key = "effectiveDateTime" if "effectiveDateTime" in data else "effectiveInstant"
        kwargs["effective"] = read_datetime(data[key], f"{path}.{key}", problems)
    elif effective:
        problems.add(f"{path}.{effective[0]}", "expected an effectiveDateTime or effectiveInstant")
    where, performer = first_item(data, "performer", path, problems)
    if performer is not None:
        kwargs["performer"] = read_reference(performer, where, problems, _PERFORMERS)
    notes = []
    for note_path, item in items(data, "note", path, problems):
        note = mapping(item, note_path, problems, "an Annotation")
        text = string(note, "text", note_path, problems, required=True) if note else None
        if text is not None:
            notes.append(text)
    kwargs["notes"] = tuple(notes)
    kwargs["value"], kwargs["comparator"] = _value(data, path, problems)
    where, limits = first_item(data, "referenceRange", path, problems)
    if limits is not None and mapping(limits, where, problems, "a reference range") is not None:
        kwargs["reference_range"] = ReferenceRange(
            optional(limits, "low", where, problems, read_quantity),
            optional(limits, "high", where, problems, read_quantity),
            string(limits, "text", where, problems),
        )
    return kwargs


def _value(
    data: Mapping[str, Any], path: str, problems: Problems
) -> tuple[Quantity | CodeableConcept | str | Range | Ratio | None, str | None]:
    keys = [k for k in data if k.startswith("value")]
    if not keys:
        return None, None
    key = keys[0]
    where = f"{path}.{key}"
    raw = data[key]
    if key == "valueQuantity":
        quantity = read_quantity(raw, where, problems)
        comparator = raw.get("comparator") if isinstance(raw, Mapping) else None
        if comparator is not None and comparator not in COMPARATORS:
            problems.add(
                f"{where}.comparator", "expected one of <, <=, >=, > (quantity-comparator)"
            )
            comparator = None
        return quantity, comparator
    if key == "valueCodeableConcept":
        return read_concept(raw, where, problems), None
    if key == "valueString":
        return string(data, key, path, problems), None
    if key == "valueRange":
        bounds = mapping(raw, where, problems, "a Range")
        if bounds is None:
            return None, None
        low = optional(bounds, "low", where, problems, read_quantity)
        high = optional(bounds, "high", where, problems, read_quantity)
        return Range(low, high), None
    if key == "valueRatio":
        ratio = mapping(raw, where, problems, "a Ratio")
        if ratio is None:
            return None, None
        numerator = optional(ratio, "numerator", where, problems, read_quantity)
        denominator = optional(ratio, "denominator", where, problems, read_quantity)
        if numerator is None or denominator is None:
            if "numerator" not in ratio or "denominator" not in ratio:
                problems.add(where, "expected both a numerator and a denominator")
            return None, None
        return Ratio(numerator, denominator), None
    problems.add(where, f"expected one of: {', '.join(_VALUE_KEYS)}")
    return None, None


# --- the registry --------------------------------------------------------------------------

for _mapping in (
    ResourceMapping(
        Patient,
        "Patient",
        _write_patient,
        resource_reader(Patient, "Patient", _patient_fields, {"timezone": "extension"}),
    ),
    ResourceMapping(
        Practitioner,
        "Practitioner",
        _write_practitioner,
        resource_reader(Practitioner, "Practitioner", _practitioner_fields),
    ),
    ResourceMapping(
        Organization,
        "Organization",
        _write_organization,
        resource_reader(Organization, "Organization", _organization_fields),
    ),
    ResourceMapping(
        Location,
        "Location",
        _write_location,
        resource_reader(Location, "Location", _location_fields, {"timezone": "extension"}),
    ),
    ResourceMapping(
        Coverage,
        "Coverage",
        _write_coverage,
        resource_reader(
            Coverage,
            "Coverage",
            _coverage_fields,
            {"beneficiary": "beneficiary", "R4:payer": "payor", "R5:payer": "insurer"},
        ),
    ),
    ResourceMapping(
        Encounter,
        "Encounter",
        _write_encounter,
        resource_reader(
            Encounter,
            "Encounter",
            _encounter_fields,
            {
                "encounter_class": "class",
                "R4:discharged_at": "period.end",
                "R5:discharged_at": "actualPeriod.end",
            },
        ),
    ),
    ResourceMapping(
        ObservationResult,
        "Observation",
        _write_result,
        resource_reader(
            ObservationResult,
            "Observation",
            _result_fields,
            {"comparator": "valueQuantity.comparator"},
        ),
    ),
):
    register(_mapping)
del _mapping

# Authorization (Claim), care plans, goals and care-plan observations register themselves
# on import; they import this module, so they come last, once `register` exists.
from caredomain.adapters.fhir import authorization as _authorization  # noqa: E402,F401
from caredomain.adapters.fhir import observations as _observations  # noqa: E402,F401

# Scheduling, referral, reminder and community-service mappings register themselves on import.
from caredomain.adapters.fhir import workflow as _workflow  # noqa: E402,F401
