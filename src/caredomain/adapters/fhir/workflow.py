"""Scheduling, referrals, reminders and community services <-> FHIR R4 and R5 resources.

The mappings here join `caredomain.adapters.fhir.resources`' registry, so `to_fhir` and
`from_fhir` write and read `Schedule`, `Slot`, `Appointment`, `PlannedReminder`
(CommunicationRequest) and `CommunityService` (HealthcareService). A `Referral` is two
resources, a ServiceRequest and its Task: `referral_to_fhir` and `referral_from_fhir` write
and read the pair; ``to_fhir(referral)`` writes the ServiceRequest alone, and
``from_fhir`` refuses a ServiceRequest alone, since the referral's state lives in the Task.

Rules of this module:

1. Same rules as ``resources``: plain JSON-ready dicts, no fhir.resources on import, every
   problem reported at once with its FHIRPath-like location and never a value, datetimes
   in their own offset, and ``from_fhir(to_fhir(x, v), v) == x`` for both versions. The one
   exception: an `Appointment`'s (and a `Referral`'s) audit ``trail`` is caredomain's
   record of applied events, not FHIR data (FHIR keeps history in Provenance and
   ``_history``); it is not written, and reads back empty.
2. What FHIR has an element for goes there; what it has none for goes, in this order of
   preference, into a workflow slot FHIR made for it (``Task.input``/``Task.output`` typed
   with caredomain's `REFERRAL_TASK` codes), a second coding next to the standard one
   (``Task.businessStatus``), or a caredomain extension under ``CANONICAL_BASE``.
3. Status vocabularies are tables, written once: a referral's FHIR statuses come from
   `caredomain.referrals.mappings.FHIR_STATUS`, the reminder media from
   `caredomain.scheduling.reminders`.

Resources and the R4/R5 differences handled:

* Schedule: ``actor`` (the one actor), ``serviceType`` (R4 CodeableConcept, R5
  CodeableReference), ``planningHorizon``, ``active``; the IANA zone in the timezone
  extension, as on Location.
* Slot: ``schedule`` is ``Schedule/{id}``; ``status``, ``start``/``end``, ``serviceType`` as
  on Schedule; capacity and overbooking allowance have no FHIR element (``Slot.overbooked``
  says a slot *is* overbooked, not how many more it may hold): extensions `SLOT_CAPACITY`
  and `SLOT_OVERBOOK`, written only when not the defaults 1 and 0.
* Appointment: ``status`` (appointmentstatus, the same ten codes in R4 and R5);
  ``participant`` with ``actor``, ``type`` (the role), ``status`` and ``required``, a code
  in R4 (``required``/``optional``; ``information-only`` reads as not required) and a
  boolean in R5; ``serviceType`` (R4 CodeableConcept, R5 CodeableReference); R4
  ``reasonCode`` is R5 ``reason[].concept``; ``start``/``end``; ``slot`` as ``Slot/{id}``;
  R4 ``cancelationReason`` is R5 ``cancellationReason``; R5 ``subject`` is the patient
  participant (written for readers, not read back: the participants are the source).
* ServiceRequest + Task (`Referral`): statuses from ``FHIR_STATUS``, with caredomain's own
  state as a second ``Task.businessStatus`` coding (`REFERRAL_STATUS`) because the table
  is not one-to-one (accepted and awaiting-authorization, cancelled and expired read the
  same in FHIR); see `referral_to_fhir` for every element.
* CommunicationRequest (`PlannedReminder`): as
  `PlannedReminder.to_communication_request` writes it, plus ``payload`` (a reference to
  the Appointment), the visit start in `VISIT_START` and the no-channel reason as a
  ``note``; R5 requires ``intent`` (``order``) and dropped ``payload.contentString``.
* HealthcareService (`CommunityService`), the same in R4 and R5 except where noted:

  * ``providedBy`` the organization; ``name``; ``comment`` the description;
  * ``category``: the categories (Gravity SDOH domains), one CodeableConcept per coding;
    ``type``: the THO service-type codings, likewise; both sorted by system and code;
  * ``communication``: the languages (BCP 47), sorted;
  * ``telecom`` in R4; R5 removed it: ``contact[0].telecom`` (ExtendedContactDetail);
  * ``location``: the site as a contained Location ``#site``; ``coverageArea``: one contained
    Location per ZIP code, county and state (``address.postalCode``, ``address.district``
    holding the 5-digit county FIPS code - FHIR Address.district is "district name (aka
    county)" - and ``address.state``); no coverageArea means everywhere;
  * ``eligibility``: one entry per criterion set, ``code`` in `SERVICE_ELIGIBILITY` and the
    values in `ELIGIBILITY_VALUE` extensions;
  * ``characteristic``: the delivery mode and ``self-referral`` (`SERVICE_CHARACTERISTIC`),
    and the capacity as the SDOH Clinical Care IG's capacity-status code; the open slots in
    `OPEN_SLOTS`;
  * ``referralMethod`` ``elec`` (THO service-referral-method) when it takes electronic
    referrals;
  * opening hours: R4 ``availableTime``, R5 ``availability[0].availableTime``; their IANA
    zone in the timezone extension on the resource (present whenever hours are).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from caredomain.adapters.fhir._elements import (
    BCP_47,
    Problems,
    as_json,
    each,
    enum_member,
    first_item,
    items,
    mapping,
    optional,
    put,
    read_coding,
    read_concept,
    read_contact_point,
    read_datetime,
    read_identifier,
    read_interval,
    read_number,
    read_reference,
    read_timezone,
    require_timezone,
    required_reference,
    resource_id,
    resource_reader,
    set_if_read,
    string,
    write_coding,
    write_concept,
    write_contact_point,
    write_datetime,
    write_identifier,
    write_interval,
    write_reference,
    write_timezone,
)
from caredomain.adapters.fhir._models import FhirVersion
from caredomain.adapters.fhir._models import validate as _validate
from caredomain.adapters.fhir.careplans import CANONICAL_BASE
from caredomain.adapters.fhir.resources import LINE_OF_BUSINESS, ResourceMapping, register
from caredomain.core.codes import UCUM, CodeableConcept, Coding, hl7_v2_table
from caredomain.core.errors import Problem, ValidationError
from caredomain.core.identity import REFERENCE_TARGETS, Identifier
from caredomain.core.parties import LineOfBusiness
from caredomain.core.time import Interval
from caredomain.referrals.directory import (
    SDOHCC_TEMPORARY_CODES,
    CapacityStatus,
    CommunityService,
    Delivery,
    Eligibility,
    OpeningHours,
    OpeningPeriod,
    Place,
    ServiceArea,
)
from caredomain.referrals.mappings import BUSINESS_STATUS_SYSTEM, FHIR_STATUS
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
from caredomain.scheduling.reminders import (
    _COMMUNICATION_CATEGORY,
    _MEDIUM,
    _PARTICIPATION_MODE,
    PlannedReminder,
    ReminderKind,
)
from caredomain.scheduling.slots import SCHEDULE_ACTORS, Schedule, Slot, SlotStatus

__all__ = [
    "ADDITIONAL_SERVICE",
    "ELIGIBILITY_VALUE",
    "OPEN_SLOTS",
    "REFERRAL_CATEGORY",
    "REFERRAL_DOCUMENT",
    "REFERRAL_STATUS",
    "REFERRAL_TASK",
    "SERVICE_CHARACTERISTIC",
    "SERVICE_ELIGIBILITY",
    "SLOT_CAPACITY",
    "SLOT_OVERBOOK",
    "VISIT_START",
    "referral_from_fhir",
    "referral_to_fhir",
]

_CODE_SYSTEM: Final = f"{CANONICAL_BASE}/CodeSystem"
_EXTENSION: Final = f"{CANONICAL_BASE}/StructureDefinition"

REFERRAL_STATUS: Final = f"{_CODE_SYSTEM}/referral-status"
"""caredomain's `ReferralStatus` codes, the second coding of ``Task.businessStatus``."""

REFERRAL_TASK: Final = f"{_CODE_SYSTEM}/referral-task"
"""Types of the referral Task's ``input`` and ``output`` (``document-required``, ...)."""

REFERRAL_DOCUMENT: Final = f"{_CODE_SYSTEM}/referral-document"
"""caredomain's `DocumentKind` codes (the values of the document inputs)."""

REFERRAL_CATEGORY: Final = f"{_CODE_SYSTEM}/referral-category"
"""caredomain's `ReferralCategory` codes, next to SNOMED CT in ``ServiceRequest.category``."""

SERVICE_CHARACTERISTIC: Final = f"{_CODE_SYSTEM}/service-characteristic"
"""``HealthcareService.characteristic`` codes: the `Delivery` values and ``self-referral``."""

SERVICE_ELIGIBILITY: Final = f"{_CODE_SYSTEM}/service-eligibility"
"""``HealthcareService.eligibility.code`` codes: ``age``, ``income-fpl``, ``condition``,
``coverage``."""

SLOT_CAPACITY: Final = f"{_EXTENSION}/slot-capacity"
"""Extension on Slot: how many appointments it holds (``valuePositiveInt``; default 1)."""

SLOT_OVERBOOK: Final = f"{_EXTENSION}/slot-overbook"
"""Extension on Slot: how many more it may hold when allowed (``valueUnsignedInt``)."""

ADDITIONAL_SERVICE: Final = f"{_EXTENSION}/additional-service"
"""Extension on ServiceRequest: a requested service after the first, which is ``code``
(``valueCodeableConcept``, one per service, in order)."""

VISIT_START: Final = f"{_EXTENSION}/visit-start"
"""Extension on CommunicationRequest: the appointment start the reminder was planned for
(``valueDateTime``)."""

ELIGIBILITY_VALUE: Final = f"{_EXTENSION}/eligibility-value"
"""Extension on ``HealthcareService.eligibility``: the criterion's value (``valueRange`` in
UCUM ``a`` or ``%`` of the Federal Poverty Level, ``valueString`` an ICD-10-CM prefix,
``valueCoding`` a line of business)."""

OPEN_SLOTS: Final = f"{_EXTENSION}/open-slots"
"""Extension on HealthcareService: the openings last reported (``valueUnsignedInt``)."""

_SNOMED: Final = "http://snomed.info/sct"
# THO service-referral-method (HealthcareService.referralMethod, R4 and R5): "elec" is
# "Secure Messaging", the closed-loop electronic referral of CommunityService.
_REFERRAL_METHOD: Final = "http://terminology.hl7.org/CodeSystem/service-referral-method"
_PLACER: Final = CodeableConcept.of(hl7_v2_table(203), "PLAC")  # v2 table 0203
_TIME: Final = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?$")
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # FHIR days-of-week


def _extension(url: str, key: str, value: Any) -> dict[str, Any]:
    return {"url": url, key: value}


def _find_extension(
    data: Mapping[str, Any], url: str, path: str, problems: Problems
) -> list[tuple[str, Mapping[str, Any]]]:
    """``(path, extension)`` of each extension of ``data`` with ``url``."""
    return [
        (where, e)
        for where, e in items(data, "extension", path, problems)
        if isinstance(e, Mapping) and e.get("url") == url
    ]


def _whole(value: object, path: str, problems: Problems, low: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        problems.add(path, f"expected an integer of at least {low}")
        return None
    return value


def _write_concepts(values: Iterable[CodeableConcept], r4: bool) -> list[dict[str, Any]]:
    """R4 CodeableConcept list, or R5 CodeableReference list holding the concepts."""
    return [write_concept(c) if r4 else {"concept": write_concept(c)} for c in values]


def _read_concepts(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, r4: bool
) -> tuple[CodeableConcept, ...]:
    """The concepts of an R4 CodeableConcept list, or of an R5 CodeableReference list.

    An R5 item that holds only a reference is not read (caredomain keeps codes there).
    """
    if r4:
        return each(data, key, path, problems, read_concept)
    found = []
    for where, item in items(data, key, path, problems):
        if mapping(item, where, problems, "a CodeableReference") is not None:
            concept = optional(item, "concept", where, problems, read_concept)
            if concept is not None:
                found.append(concept)
    return tuple(found)


def _write_concept_element(value: CodeableConcept, r4: bool) -> dict[str, Any]:
    return write_concept(value) if r4 else {"concept": write_concept(value)}


def _read_concept_element(
    data: Mapping[str, Any], key: str, path: str, problems: Problems, r4: bool
) -> CodeableConcept | None:
    if key not in data:
        return None
    if r4:
        return read_concept(data[key], f"{path}.{key}", problems)
    item = mapping(data[key], f"{path}.{key}", problems, "a CodeableReference")
    return optional(item, "concept", f"{path}.{key}", problems, read_concept) if item else None


def _literal_id(data: object, path: str, problems: Problems, target: str) -> str | None:
    """The id of a literal reference ``target/id`` (a logical reference is a problem)."""
    reference = read_reference(data, path, problems, (target,))
    if reference is None:
        return None
    if reference.id is None:
        problems.add(f"{path}.reference", f"expected a literal reference {target}/id")
        return None
    return reference.id


# --- Schedule and Slot ---------------------------------------------------------------------


def _write_schedule(value: Schedule, version: FhirVersion) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": value.id,
        "extension": [write_timezone(value.timezone)],
        "active": value.active,
    }
    put(resource, "serviceType", _write_concepts(value.service_types, version is FhirVersion.R4))
    resource["actor"] = [write_reference(value.actor)]
    if value.horizon is not None:
        resource["planningHorizon"] = write_interval(value.horizon)
    return resource


def _schedule_fields(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Schedule"
    timezone = require_timezone(data, path, problems)
    where, actor = first_item(data, "actor", path, problems)
    if actor is None:
        problems.add(f"{path}.actor", "expected a reference to the resource scheduled")
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "timezone": timezone,
        "actor": read_reference(actor, where, problems, tuple(sorted(SCHEDULE_ACTORS)))
        if actor is not None
        else None,
        "service_types": _read_concepts(
            data, "serviceType", path, problems, version is FhirVersion.R4
        ),
        "horizon": optional(data, "planningHorizon", path, problems, read_interval),
    }
    active = data.get("active")
    if active is not None and not isinstance(active, bool):
        problems.add(f"{path}.active", "expected true or false")
    set_if_read(kwargs, "active", active if isinstance(active, bool) else None)
    return kwargs


def _write_slot(value: Slot, version: FhirVersion) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Slot", "id": value.id}
    extensions = []
    if value.capacity != 1:
        extensions.append(_extension(SLOT_CAPACITY, "valuePositiveInt", value.capacity))
    if value.overbook != 0:
        extensions.append(_extension(SLOT_OVERBOOK, "valueUnsignedInt", value.overbook))
    put(resource, "extension", extensions)
    put(resource, "serviceType", _write_concepts(value.service_types, version is FhirVersion.R4))
    resource["schedule"] = {"reference": f"Schedule/{value.schedule}"}
    resource["status"] = value.status.value
    resource["start"] = write_datetime(value.interval.start)
    resource["end"] = write_datetime(value.interval.end)
    return resource


def _slot_fields(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Slot"
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "schedule": _literal_id(data["schedule"], f"{path}.schedule", problems, "Schedule")
        if "schedule" in data
        else None,
        "interval": _start_end(data, path, problems, required=True),
        "service_types": _read_concepts(
            data, "serviceType", path, problems, version is FhirVersion.R4
        ),
    }
    if "schedule" not in data:
        problems.add(f"{path}.schedule", "expected a reference to the Schedule (required)")
    set_if_read(
        kwargs, "status", enum_member(data, "status", path, problems, SlotStatus, "slotstatus")
    )
    for url, key, field, low in (
        (SLOT_CAPACITY, "valuePositiveInt", "capacity", 1),
        (SLOT_OVERBOOK, "valueUnsignedInt", "overbook", 0),
    ):
        for where, extension in _find_extension(data, url, path, problems)[:1]:
            set_if_read(kwargs, field, _whole(extension.get(key), f"{where}.{key}", problems, low))
    return kwargs


def _start_end(
    data: Mapping[str, Any], path: str, problems: Problems, *, required: bool
) -> Interval | None:
    """``start`` and ``end`` as an `Interval`: both or neither (FHIR app-2)."""
    if "start" not in data and "end" not in data:
        if required:
            problems.add(f"{path}.start", "expected a start and an end (required)")
        return None
    if "start" not in data or "end" not in data:
        problems.add(path, "expected both a start and an end, or neither (FHIR app-2)")
        return None
    return read_interval({"start": data["start"], "end": data["end"]}, path, problems)


# --- Appointment ---------------------------------------------------------------------------

# What an Appointment.participant.actor may reference (FHIR R4; R5 adds CareTeam and Group,
# which caredomain's participants do not use).
_PARTICIPANT_ACTORS: Final = (
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "RelatedPerson",
    "Device",
    "HealthcareService",
    "Location",
    "CareTeam",
)
# FHIR R4 participantrequired: required | optional | information-only ("the participant is
# not required to attend the appointment (appointment is about them, not for them)").
_R4_REQUIRED: Final = {"required": True, "optional": False, "information-only": False}


def _write_appointment(value: Appointment, version: FhirVersion) -> dict[str, Any]:
    r4 = version is FhirVersion.R4
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": value.id,
        "status": value.state.value,
    }
    if value.cancellation_reason is not None:
        key = "cancelationReason" if r4 else "cancellationReason"
        resource[key] = write_concept(value.cancellation_reason)
    if value.service_type is not None:
        resource["serviceType"] = _write_concepts([value.service_type], r4)
    if r4:
        put(resource, "reasonCode", [write_concept(c) for c in value.reasons])
    else:
        put(resource, "reason", [{"concept": write_concept(c)} for c in value.reasons])
        if value.patient is not None:
            resource["subject"] = write_reference(value.patient)
    if value.interval is not None:
        resource["start"] = write_datetime(value.interval.start)
        resource["end"] = write_datetime(value.interval.end)
    put(resource, "slot", [{"reference": f"Slot/{slot}"} for slot in value.slots])
    participants = []
    for participant in value.participants:
        entry: dict[str, Any] = {}
        if participant.role is not None:
            entry["type"] = [write_concept(participant.role)]
        entry["actor"] = write_reference(participant.actor)
        if r4:
            entry["required"] = "required" if participant.required else "optional"
        else:
            entry["required"] = participant.required
        entry["status"] = participant.status.value
        participants.append(entry)
    put(resource, "participant", participants)
    return resource


def _appointment_fields(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "Appointment"
    r4 = version is FhirVersion.R4
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "participants": _appointment_participants(data, r4, path, problems),
        "interval": _start_end(data, path, problems, required=False),
        "slots": tuple(
            s
            for s in (
                _literal_id(item, where, problems, "Slot")
                for where, item in items(data, "slot", path, problems)
            )
            if s is not None
        ),
    }
    set_if_read(
        kwargs,
        "state",
        enum_member(data, "status", path, problems, AppointmentStatus, "appointmentstatus"),
    )
    services = _read_concepts(data, "serviceType", path, problems, r4)
    kwargs["service_type"] = services[0] if services else None
    kwargs["reasons"] = _read_concepts(data, "reasonCode" if r4 else "reason", path, problems, r4)
    kwargs["cancellation_reason"] = optional(
        data, "cancelationReason" if r4 else "cancellationReason", path, problems, read_concept
    )
    return kwargs


def _appointment_participants(
    data: Mapping[str, Any], r4: bool, path: str, problems: Problems
) -> tuple[Participant, ...]:
    found = []
    for where, item in items(data, "participant", path, problems):
        entry = mapping(item, where, problems, "a participant")
        if entry is None:
            continue
        actor = required_reference(entry, "actor", where, problems, _PARTICIPANT_ACTORS)
        role_path, role = first_item(entry, "type", where, problems)
        concept = read_concept(role, role_path, problems) if role is not None else None
        status = enum_member(
            entry, "status", where, problems, ParticipationStatus, "participationstatus"
        )
        required = entry.get("required", "required" if r4 else True)
        if r4 and required not in _R4_REQUIRED:
            problems.add(f"{where}.required", "expected required, optional or information-only")
        elif not r4 and not isinstance(required, bool):
            problems.add(f"{where}.required", "expected true or false (R5)")
        if actor is not None and status is not None:
            flag = _R4_REQUIRED.get(required, True) if r4 else required is True
            found.append(Participant(actor, flag, status, concept))
    return tuple(found)


# --- Referral: ServiceRequest + Task -------------------------------------------------------

# ServiceRequest.category: SNOMED CT 3457005 |Patient referral| for a clinical referral,
# 410606002 |Social service procedure| for a social-care one (the code US Core's
# ServiceRequest category value set and the SDOH Clinical Care IG use for social care), each
# with caredomain's own code next to it.
_CATEGORY: Final[dict[ReferralCategory, Coding]] = {
    ReferralCategory.CLINICAL: Coding(_SNOMED, "3457005", "Patient referral"),
    ReferralCategory.SOCIAL_CARE: Coding(_SNOMED, "410606002", "Social service procedure"),
}
_REQUESTERS: Final = ("Practitioner", "PractitionerRole", "Organization")
_PERFORMERS: Final = ("Practitioner", "PractitionerRole", "Organization", "HealthcareService")
_ANY_TARGET: Final = tuple(sorted(REFERENCE_TARGETS))
# The inverse of FHIR_STATUS, for a Task without caredomain's coding: the first state (in
# ReferralStatus order) of each (Task.status, business code, ServiceRequest.status). Two
# pairs read alike: accepted / awaiting-authorization (read as accepted) and cancelled /
# expired (read as cancelled).
_FROM_FHIR_STATUS: Final[dict[tuple[str, str | None, str], ReferralStatus]] = {}
for _state in ReferralStatus:
    _fhir = FHIR_STATUS[_state]
    _key = (_fhir.task, _fhir.business.code if _fhir.business else None, _fhir.service_request)
    _FROM_FHIR_STATUS.setdefault(_key, _state)
del _state, _fhir, _key


def _task_type(code: str) -> dict[str, Any]:
    return {"coding": [{"system": REFERRAL_TASK, "code": code}]}


def _document(kind: DocumentKind) -> dict[str, Any]:
    return {"system": REFERRAL_DOCUMENT, "code": kind.value}


def referral_to_fhir(
    referral: Referral, version: FhirVersion | str = FhirVersion.R4, *, validate: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Write a referral as its ServiceRequest and its Task (plain JSON-ready dicts).

    Both take the referral's id. The ServiceRequest holds the request: ``status`` (from
    ``FHIR_STATUS``), ``intent`` ``order``, ``category`` (SNOMED CT and `REFERRAL_CATEGORY`),
    ``priority``, ``code`` (the first service; the others in `ADDITIONAL_SERVICE`),
    ``subject``, ``requester``, ``performerType`` (the specialty), ``performer``, reasons
    (R4 ``reasonCode``, R5 ``reason[].concept``), ``occurrencePeriod`` (the validity),
    ``identifier`` (the placer id) and ``insurance`` (the authorization: a ``ClaimResponse``,
    which FHIR names for "pre-authorizations" there and which caredomain's authorization
    case answers with).

    The Task tracks the loop, as BSeR and 360X do: ``focus`` and ``basedOn`` the
    ServiceRequest, ``for`` the patient, ``requester``, ``owner`` the performer,
    ``identifier`` the filler id, ``status`` and ``businessStatus`` (BSeR) from
    ``FHIR_STATUS`` with caredomain's state as a second coding (`REFERRAL_STATUS`),
    ``statusReason`` the decline reason (R4 CodeableConcept, R5 CodeableReference). Inputs
    (`REFERRAL_TASK`): ``document-required`` and ``document-sent`` (one per document kind,
    ``valueCoding`` in `REFERRAL_DOCUMENT`), ``authorization-required``,
    ``authorization-status``, ``in-network``, ``held-from``. Outputs: ``appointment``,
    ``visit-start``, ``seen``, ``outcome-document`` (in order) and ``closure-reason``.
    The audit trail is not written.

    Args:
        referral: The referral.
        version: ``"R4"`` or ``"R5"``.
        validate: Also validate both with fhir.resources.

    Raises:
        ValidationError: Unknown version, or (with ``validate``) an invalid resource.
    """
    release = FhirVersion.of(version)
    request = _write_service_request(referral, release)
    task = _write_task(referral, release)
    if validate:
        _validate(request, release)
        _validate(task, release)
    return request, task


def _write_service_request(value: Referral, version: FhirVersion) -> dict[str, Any]:
    r4 = version is FhirVersion.R4
    resource: dict[str, Any] = {"resourceType": "ServiceRequest", "id": value.id}
    put(
        resource,
        "extension",
        [
            _extension(ADDITIONAL_SERVICE, "valueCodeableConcept", write_concept(c))
            for c in value.services[1:]
        ],
    )
    if value.placer_id is not None:
        resource["identifier"] = [write_identifier(value.placer_id)]
    resource["status"] = FHIR_STATUS[value.state].service_request
    resource["intent"] = "order"
    category = [write_coding(_CATEGORY[value.category])]
    category.append({"system": REFERRAL_CATEGORY, "code": value.category.value})
    resource["category"] = [{"coding": category}]
    resource["priority"] = value.priority.value
    if value.services:
        resource["code"] = _write_concept_element(value.services[0], r4)
    resource["subject"] = write_reference(value.patient)
    if value.validity is not None:
        resource["occurrencePeriod"] = write_interval(value.validity)
    resource["requester"] = write_reference(value.requester)
    if value.target.specialty is not None:
        resource["performerType"] = write_concept(value.target.specialty)
    if value.target.performer is not None:
        resource["performer"] = [write_reference(value.target.performer)]
    if r4:
        put(resource, "reasonCode", [write_concept(c) for c in value.reasons])
    else:
        put(resource, "reason", [{"concept": write_concept(c)} for c in value.reasons])
    if value.authorization is not None:
        resource["insurance"] = [{"reference": f"ClaimResponse/{value.authorization.case}"}]
    return resource


def _write_task(value: Referral, version: FhirVersion) -> dict[str, Any]:
    status = FHIR_STATUS[value.state]
    request = {"reference": f"ServiceRequest/{value.id}"}
    resource: dict[str, Any] = {"resourceType": "Task", "id": value.id}
    if value.filler_id is not None:
        resource["identifier"] = [write_identifier(value.filler_id)]
    resource["basedOn"] = [dict(request)]
    resource["status"] = status.task
    if value.decline_reason is not None:
        resource["statusReason"] = _write_concept_element(
            value.decline_reason, version is FhirVersion.R4
        )
    codings = [write_coding(status.business)] if status.business is not None else []
    codings.append({"system": REFERRAL_STATUS, "code": value.state.value})
    resource["businessStatus"] = {"coding": codings}
    resource["intent"] = "order"
    resource["priority"] = value.priority.value
    resource["focus"] = request
    resource["for"] = write_reference(value.patient)
    resource["requester"] = write_reference(value.requester)
    if value.target.performer is not None:
        resource["owner"] = write_reference(value.target.performer)
    inputs: list[dict[str, Any]] = [
        {"type": _task_type("document-required"), "valueCoding": _document(kind)}
        for kind in sorted(value.documents_required)
    ]
    inputs += [
        {"type": _task_type("document-sent"), "valueCoding": _document(kind)}
        for kind in sorted(value.documents_sent)
    ]
    if value.authorization_required:
        inputs.append({"type": _task_type("authorization-required"), "valueBoolean": True})
    if value.authorization is not None:
        inputs.append(
            {"type": _task_type("authorization-status"), "valueCode": value.authorization.status}
        )
    if value.target.in_network is not None:
        inputs.append({"type": _task_type("in-network"), "valueBoolean": value.target.in_network})
    if value.held_from is not None:
        inputs.append({"type": _task_type("held-from"), "valueCode": value.held_from.value})
    put(resource, "input", inputs)
    outputs: list[dict[str, Any]] = []
    if value.appointment is not None:
        outputs.append(
            {
                "type": _task_type("appointment"),
                "valueReference": {"reference": f"Appointment/{value.appointment}"},
            }
        )
    if value.visit_at is not None:
        outputs.append(
            {"type": _task_type("visit-start"), "valueDateTime": write_datetime(value.visit_at)}
        )
    if value.seen_at is not None:
        outputs.append({"type": _task_type("seen"), "valueDateTime": write_datetime(value.seen_at)})
    outputs += [
        {"type": _task_type("outcome-document"), "valueReference": write_reference(document)}
        for document in value.outcome_documents
    ]
    if value.closure_reason is not None:
        outputs.append(
            {
                "type": _task_type("closure-reason"),
                "valueCodeableConcept": write_concept(value.closure_reason),
            }
        )
    put(resource, "output", outputs)
    return resource


def referral_from_fhir(
    service_request: Any, task: Any, version: FhirVersion | str = FhirVersion.R4
) -> Referral:
    """Read a referral from its ServiceRequest and its Task.

    Args:
        service_request: The ServiceRequest (parsed JSON or a fhir.resources model).
        task: The Task whose ``focus`` (or ``basedOn``) is that ServiceRequest.
        version: ``"R4"`` or ``"R5"``.

    The state is caredomain's coding in ``Task.businessStatus`` when present (it must agree
    with ``Task.status``); otherwise it is read back through ``FHIR_STATUS`` from
    ``Task.status``, the BSeR business status and ``ServiceRequest.status``, taking
    ``accepted`` for ``awaiting-authorization`` and ``cancelled`` for ``expired``, which
    FHIR does not tell apart. The placer id is the ServiceRequest identifier typed ``PLAC``
    (else its first); the filler id is the Task's first identifier, else a ServiceRequest
    identifier typed ``FILL`` (the v2-to-FHIR ORC map puts it there).

    Raises:
        ValidationError: Every problem in either resource, each located
            (``ServiceRequest.performer[0]``, ``Task.input[2].valueCoding``).
    """
    release = FhirVersion.of(version)
    request = as_json(service_request, release)
    tracker = as_json(task, release)
    for data, kind in ((request, "ServiceRequest"), (tracker, "Task")):
        if data.get("resourceType") != kind:
            raise ValidationError.at("resourceType", f"expected {kind}", subject=kind)
    problems = Problems()
    kwargs = _service_request_fields(request, release, problems)
    _task_fields(tracker, request, release, problems, kwargs)
    problems.raise_if_any("Referral")
    try:
        return Referral(**kwargs)
    except ValidationError as exc:
        raise ValidationError(
            [Problem(_referral_element(p.path), p.message) for p in exc.problems],
            subject="Referral",
        ) from None


def _referral_element(path: str) -> str:
    field = path.rpartition(".")[2]
    return {
        "patient": "ServiceRequest.subject",
        "requester": "ServiceRequest.requester",
    }.get(field, "ServiceRequest")


def _service_request_fields(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "ServiceRequest"
    r4 = version is FhirVersion.R4
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "patient": required_reference(data, "subject", path, problems, ("Patient",)),
        "requester": required_reference(data, "requester", path, problems, _REQUESTERS),
        "reasons": _read_concepts(data, "reasonCode" if r4 else "reason", path, problems, r4),
        "validity": optional(data, "occurrencePeriod", path, problems, read_interval),
    }
    set_if_read(
        kwargs,
        "priority",
        enum_member(data, "priority", path, problems, ReferralPriority, "request-priority")
        if "priority" in data
        else None,
    )
    kwargs["category"] = _referral_category(data, path, problems)
    first = _read_concept_element(data, "code", path, problems, r4)
    more = [
        read_concept(e.get("valueCodeableConcept"), f"{where}.valueCodeableConcept", problems)
        for where, e in _find_extension(data, ADDITIONAL_SERVICE, path, problems)
    ]
    services = ([first] if first is not None else []) + more
    if more and first is None:
        problems.add(f"{path}.code", "expected the first service where others are listed")
    kwargs["services"] = tuple(s for s in services if s is not None)
    identifiers = [
        (where, read_identifier(item, where, problems))
        for where, item in items(data, "identifier", path, problems)
    ]
    typed = [i for _, i in identifiers if i is not None and i.type == _PLACER]
    kwargs["placer_id"] = typed[0] if typed else (identifiers[0][1] if identifiers else None)
    kwargs["_identifiers"] = [i for _, i in identifiers if i is not None]
    specialty = optional(data, "performerType", path, problems, read_concept)
    where, performer = first_item(data, "performer", path, problems)
    target = read_reference(performer, where, problems, _PERFORMERS) if performer else None
    if specialty is None and target is None:
        if "performerType" not in data and performer is None:
            problems.add(f"{path}.performer", "expected a performer, a performerType, or both")
    else:
        kwargs["target"] = ReferralTarget(specialty, target)
    for where, item in items(data, "insurance", path, problems):
        reference = read_reference(item, where, problems, ("ClaimResponse", "Coverage"))
        if reference is not None and reference.target == "ClaimResponse":
            if reference.id is None:
                problems.add(f"{where}.reference", "expected a literal reference ClaimResponse/id")
            elif "authorization" not in kwargs:
                kwargs["authorization"] = AuthorizationLink(reference.id)
    return kwargs


def _referral_category(data: Mapping[str, Any], path: str, problems: Problems) -> ReferralCategory:
    by_snomed = {c.code: k for k, c in _CATEGORY.items()}
    found = None
    for where, item in items(data, "category", path, problems):
        concept = read_concept(item, where, problems)
        if concept is None:
            continue
        code = concept.code_in(REFERRAL_CATEGORY)
        if code is not None:
            if code not in {c.value for c in ReferralCategory}:
                problems.add(where, f"expected a code of {REFERRAL_CATEGORY}")
            else:
                return ReferralCategory(code)
        snomed = concept.code_in(_SNOMED)
        if found is None and snomed in by_snomed:
            found = by_snomed[snomed]
    return found or ReferralCategory.CLINICAL


_STATUSES: Final = ", ".join(ReferralStatus)


def _task_fields(
    data: Mapping[str, Any],
    request: Mapping[str, Any],
    version: FhirVersion,
    problems: Problems,
    kwargs: dict[str, Any],
) -> None:
    path = "Task"
    r4 = version is FhirVersion.R4
    request_id = request.get("id")
    links = [(f"{path}.focus", data["focus"])] if "focus" in data else []
    links += list(items(data, "basedOn", path, problems))
    if not links:
        problems.add(f"{path}.focus", "expected a reference to the ServiceRequest")
    for where, link in links:
        reference = read_reference(link, where, problems, ("ServiceRequest",))
        if reference is not None and reference.id != request_id:
            problems.add(where, "expected a reference to the ServiceRequest given with it")
    identifiers: list[Identifier] = kwargs.pop("_identifiers")
    where, filler = first_item(data, "identifier", path, problems)
    if filler is not None:
        kwargs["filler_id"] = read_identifier(filler, where, problems)
    else:
        fill = CodeableConcept.of(hl7_v2_table(203), "FILL")
        kwargs["filler_id"] = next(
            (i for i in identifiers if i.type == fill and i is not kwargs.get("placer_id")), None
        )
    kwargs["decline_reason"] = _read_concept_element(data, "statusReason", path, problems, r4)
    set_if_read(kwargs, "state", _referral_state(data, request, path, problems))
    required: list[DocumentKind] = []
    sent: list[DocumentKind] = []
    target = kwargs.get("target")
    authorization: AuthorizationLink | None = kwargs.pop("authorization", None)
    for where, item, code in _parameters(data, "input", path, problems):
        if code in ("document-required", "document-sent"):
            kind = _document_kind(item, where, problems)
            if kind is not None:
                (required if code == "document-required" else sent).append(kind)
        elif code == "authorization-required":
            kwargs["authorization_required"] = _boolean(item, where, problems)
        elif code == "authorization-status":
            status = string(item, "valueCode", where, problems, required=True)
            if status is not None and authorization is not None:
                authorization = AuthorizationLink(authorization.case, status)
            elif status is not None:
                problems.add(where, "expected ServiceRequest.insurance to name the ClaimResponse")
        elif code == "in-network":
            flag = _boolean(item, where, problems)
            if target is not None and flag is not None:
                target = ReferralTarget(target.specialty, target.performer, flag)
        elif code == "held-from":
            kwargs["held_from"] = enum_member(
                item, "valueCode", where, problems, ReferralStatus, "referral-status"
            )
    kwargs["documents_required"] = frozenset(required)
    kwargs["documents_sent"] = frozenset(sent)
    kwargs["authorization"] = authorization
    if target is not None:
        kwargs["target"] = target
    documents = []
    for where, item, code in _parameters(data, "output", path, problems):
        if code == "appointment":
            kwargs["appointment"] = _literal_id(
                item.get("valueReference"), f"{where}.valueReference", problems, "Appointment"
            )
        elif code in ("visit-start", "seen"):
            moment = read_datetime(item.get("valueDateTime"), f"{where}.valueDateTime", problems)
            kwargs["visit_at" if code == "visit-start" else "seen_at"] = moment
        elif code == "outcome-document":
            document = read_reference(
                item.get("valueReference"), f"{where}.valueReference", problems, _ANY_TARGET
            )
            if document is not None:
                documents.append(document)
        elif code == "closure-reason":
            kwargs["closure_reason"] = read_concept(
                item.get("valueCodeableConcept"), f"{where}.valueCodeableConcept", problems
            )
    kwargs["outcome_documents"] = tuple(documents)


def _parameters(
    data: Mapping[str, Any], key: str, path: str, problems: Problems
) -> list[tuple[str, Mapping[str, Any], str]]:
    """``(path, item, code)`` of each ``input``/``output`` typed with a `REFERRAL_TASK` code.

    Items typed otherwise are someone else's and are left alone.
    """
    found = []
    for where, item in items(data, key, path, problems):
        entry = mapping(item, where, problems, f"a Task {key}")
        if entry is None:
            continue
        concept = optional(entry, "type", where, problems, read_concept)
        code = concept.code_in(REFERRAL_TASK) if concept is not None else None
        if code is not None:
            found.append((where, entry, code))
    return found


def _boolean(item: Mapping[str, Any], path: str, problems: Problems) -> bool | None:
    value = item.get("valueBoolean")
    if not isinstance(value, bool):
        problems.add(f"{path}.valueBoolean", "expected true or false")
        return None
    return value


def _document_kind(item: Mapping[str, Any], path: str, problems: Problems) -> DocumentKind | None:
    where = f"{path}.valueCoding"
    coding = read_coding(item.get("valueCoding"), where, problems)
    if coding is None:
        return None
    if coding.system != REFERRAL_DOCUMENT or coding.code not in {d.value for d in DocumentKind}:
        problems.add(where, f"expected a code of {REFERRAL_DOCUMENT}")
        return None
    return DocumentKind(coding.code)


def _referral_state(
    data: Mapping[str, Any], request: Mapping[str, Any], path: str, problems: Problems
) -> ReferralStatus | None:
    task_status = string(data, "status", path, problems, required=True)
    concept = optional(data, "businessStatus", path, problems, read_concept)
    own = concept.code_in(REFERRAL_STATUS) if concept is not None else None
    if own is not None:
        if own not in {s.value for s in ReferralStatus}:
            problems.add(f"{path}.businessStatus", f"expected one of: {_STATUSES}")
            return None
        state = ReferralStatus(own)
        if task_status is not None and task_status != FHIR_STATUS[state].task:
            problems.add(
                f"{path}.status", "expected the task-status FHIR_STATUS gives the business status"
            )
        return state
    request_status = request.get("status")
    business = concept.code_in(BUSINESS_STATUS_SYSTEM) if concept is not None else None
    if task_status is None or not isinstance(request_status, str):
        if not isinstance(request_status, str):
            problems.add("ServiceRequest.status", "expected a request-status code (required)")
        return None
    found = _FROM_FHIR_STATUS.get((task_status, business, request_status))
    if found is None:
        problems.add(
            f"{path}.businessStatus",
            "expected Task.status, businessStatus and ServiceRequest.status to be a "
            "combination of the referral mapping (FHIR_STATUS)",
        )
    return found


def _service_request_alone(resource: Mapping[str, Any], version: FhirVersion) -> Referral:
    raise ValidationError.at(
        "ServiceRequest",
        "expected the referral's Task as well: read the pair with referral_from_fhir",
        subject="ServiceRequest",
    )


# --- CommunicationRequest (reminders) ------------------------------------------------------

_MEDIUM_CODES: Final = {code: system for system, (code, _display) in _MEDIUM.items()}


def _write_reminder(value: PlannedReminder, version: FhirVersion) -> dict[str, Any]:
    patient = {"reference": f"Patient/{value.patient_id}"}
    appointment = {"reference": f"Appointment/{value.appointment_id}"}
    resource: dict[str, Any] = {
        "resourceType": "CommunicationRequest",
        "id": value.id,
        "extension": [_extension(VISIT_START, "valueDateTime", write_datetime(value.visit_start))],
        "status": "active",
    }
    if version is FhirVersion.R5:
        resource["intent"] = "order"  # R5 CommunicationRequest.intent, 1..1
    # FHIR communication-category "reminder", the kind as its text (as
    # PlannedReminder.to_communication_request writes it).
    resource["category"] = [
        {
            "coding": [
                {"system": _COMMUNICATION_CATEGORY, "code": "reminder", "display": "Reminder"}
            ],
            "text": value.kind.value,
        }
    ]
    if value.channel is not None:
        code, display = _MEDIUM[value.channel]
        resource["medium"] = [
            {"coding": [{"system": _PARTICIPATION_MODE, "code": code, "display": display}]}
        ]
    resource["subject"] = patient
    resource["about"] = [appointment]
    resource["payload"] = [{"contentReference": dict(appointment)}]
    resource["occurrenceDateTime"] = write_datetime(value.send_at)
    resource["recipient"] = [dict(patient)]
    if value.reason is not None:
        resource["note"] = [{"text": value.reason}]
    return resource


def _reminder_fields(
    data: Mapping[str, Any], _version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "CommunicationRequest"
    kwargs: dict[str, Any] = {"id": resource_id(data, path, problems)}
    if "subject" in data:
        kwargs["patient_id"] = _literal_id(data["subject"], f"{path}.subject", problems, "Patient")
    else:
        where, recipient = first_item(data, "recipient", path, problems)
        if recipient is None:
            problems.add(f"{path}.subject", "expected a reference to the Patient")
        else:
            kwargs["patient_id"] = _literal_id(recipient, where, problems, "Patient")
    where, about = first_item(data, "about", path, problems)
    if about is None:
        problems.add(f"{path}.about", "expected a reference to the Appointment")
    else:
        kwargs["appointment_id"] = _literal_id(about, where, problems, "Appointment")
    if "occurrenceDateTime" in data:
        kwargs["send_at"] = read_datetime(
            data["occurrenceDateTime"], f"{path}.occurrenceDateTime", problems
        )
    else:
        problems.add(f"{path}.occurrenceDateTime", "expected the send time")
    starts = _find_extension(data, VISIT_START, path, problems)
    if not starts:
        problems.add(f"{path}.extension", f"expected the {VISIT_START} extension")
    for where, extension in starts[:1]:
        kwargs["visit_start"] = read_datetime(
            extension.get("valueDateTime"), f"{where}.valueDateTime", problems
        )
    kwargs["kind"] = _reminder_kind(data, path, problems)
    where, medium = first_item(data, "medium", path, problems)
    if medium is not None:
        concept = read_concept(medium, where, problems)
        code = concept.code_in(_PARTICIPATION_MODE) if concept is not None else None
        if concept is not None and code not in _MEDIUM_CODES:
            problems.add(where, "expected v3-ParticipationMode SMSWRIT, EMAILWRIT or PHONE")
        kwargs["channel"] = _MEDIUM_CODES.get(code or "")
    where, note = first_item(data, "note", path, problems)
    if note is not None and mapping(note, where, problems, "an Annotation") is not None:
        kwargs["reason"] = string(note, "text", where, problems, required=True)
    return kwargs


def _reminder_kind(data: Mapping[str, Any], path: str, problems: Problems) -> ReminderKind:
    """The kind from the category's text; else ``notification`` is a confirmation."""
    for where, item in items(data, "category", path, problems):
        concept = read_concept(item, where, problems)
        if concept is None:
            continue
        if concept.text in {k.value for k in ReminderKind}:
            return ReminderKind(concept.text)
        if concept.code_in(_COMMUNICATION_CATEGORY) == "notification":
            return ReminderKind.CONFIRMATION
    return ReminderKind.REMINDER


# --- HealthcareService (community services) ------------------------------------------------


_AREA_FIELDS: Final = (("zip", "postalCode"), ("county", "district"), ("state", "state"))


def _coding_concepts(values: Iterable[Coding]) -> list[dict[str, Any]]:
    ordered = sorted(values, key=lambda c: (c.system, c.code, c.display or "", c.version or ""))
    return [{"coding": [write_coding(c)]} for c in ordered]


def _place_location(id_: str, address: dict[str, str]) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Location", "id": id_}
    if address:
        resource["address"] = address
    return resource


def _write_service(value: CommunityService, version: FhirVersion) -> dict[str, Any]:
    r4 = version is FhirVersion.R4
    contained: list[dict[str, Any]] = []
    if value.site is not None:
        site = {
            key: field
            for key, field in (
                ("postalCode", value.site.zip_code),
                ("district", value.site.county),
                ("state", value.site.state),
            )
            if field is not None
        }
        contained.append(_place_location("site", site))
    area = value.area
    for kind, key, values in (
        ("zip", "postalCode", area.zip_codes),
        ("county", "district", area.counties),
        ("state", "state", area.states),
    ):
        contained.extend(
            _place_location(f"area-{kind}-{code}", {key: code}) for code in sorted(values)
        )
    resource: dict[str, Any] = {"resourceType": "HealthcareService", "id": value.id}
    put(resource, "contained", contained)
    extensions = []
    if value.hours is not None:
        extensions.append(write_timezone(value.hours.timezone))
    if value.open_slots is not None:
        extensions.append(_extension(OPEN_SLOTS, "valueUnsignedInt", value.open_slots))
    put(resource, "extension", extensions)
    resource["active"] = True
    resource["providedBy"] = write_reference(value.organization)
    resource["category"] = _coding_concepts(value.categories)
    put(resource, "type", _coding_concepts(value.service_types))
    if value.site is not None:
        resource["location"] = [{"reference": "#site"}]
    resource["name"] = value.name
    if value.description is not None:
        resource["comment"] = value.description
    telecom = [write_contact_point(c) for c in value.telecom]
    if r4:
        put(resource, "telecom", telecom)
    elif telecom:
        resource["contact"] = [{"telecom": telecom}]
    put(
        resource,
        "coverageArea",
        [{"reference": f"#{c['id']}"} for c in contained if c["id"] != "site"],
    )
    put(resource, "eligibility", _write_eligibility(value.eligibility))
    characteristics = [{"coding": [{"system": SERVICE_CHARACTERISTIC, "code": value.delivery}]}]
    if value.self_referral:
        characteristics.append(
            {"coding": [{"system": SERVICE_CHARACTERISTIC, "code": "self-referral"}]}
        )
    if value.capacity is not None:
        capacity = {"system": SDOHCC_TEMPORARY_CODES, "code": value.capacity.sdohcc_code}
        characteristics.append({"coding": [capacity]})
    resource["characteristic"] = characteristics
    put(
        resource,
        "communication",
        [{"coding": [{"system": BCP_47, "code": tag}]} for tag in sorted(value.languages)],
    )
    if value.electronic_referral:
        resource["referralMethod"] = [{"coding": [{"system": _REFERRAL_METHOD, "code": "elec"}]}]
    if value.hours is not None:
        times = _write_hours(value.hours)
        if r4:
            put(resource, "availableTime", times)
        elif times:
            resource["availability"] = [{"availableTime": times}]
    return resource


def _write_hours(hours: OpeningHours) -> list[dict[str, Any]]:
    """One availableTime per opening span, listing the weekdays it applies to."""
    spans: dict[tuple[_dt.time, _dt.time], list[str]] = {}
    for period in hours.periods:
        spans.setdefault((period.opens, period.closes), []).append(_DAYS[period.weekday])
    return [
        {
            "daysOfWeek": days,
            "availableStartTime": opens.isoformat(),
            "availableEndTime": closes.isoformat(),
        }
        for (opens, closes), days in spans.items()
    ]


def _criterion(code: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "extension": values,
        "code": {"coding": [{"system": SERVICE_ELIGIBILITY, "code": code}]},
    }


def _bound(value: int, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _range(low: int | None, high: int | None, unit: str) -> dict[str, Any]:
    bounds = {}
    if low is not None:
        bounds["low"] = _bound(low, unit)
    if high is not None:
        bounds["high"] = _bound(high, unit)
    return _extension(ELIGIBILITY_VALUE, "valueRange", bounds)


def _write_eligibility(rules: Eligibility) -> list[dict[str, Any]]:
    entries = []
    if rules.min_age is not None or rules.max_age is not None:
        entries.append(_criterion("age", [_range(rules.min_age, rules.max_age, "a")]))
    if rules.min_income_fpl is not None or rules.max_income_fpl is not None:
        entries.append(
            _criterion("income-fpl", [_range(rules.min_income_fpl, rules.max_income_fpl, "%")])
        )
    if rules.conditions:
        entries.append(
            _criterion(
                "condition",
                [_extension(ELIGIBILITY_VALUE, "valueString", p) for p in sorted(rules.conditions)],
            )
        )
    if rules.coverage:
        lines = sorted(line.value for line in rules.coverage)
        entries.append(
            _criterion(
                "coverage",
                [
                    _extension(
                        ELIGIBILITY_VALUE, "valueCoding", {"system": LINE_OF_BUSINESS, "code": line}
                    )
                    for line in lines
                ],
            )
        )
    return entries


def _service_fields(
    data: Mapping[str, Any], version: FhirVersion, problems: Problems
) -> dict[str, Any]:
    path = "HealthcareService"
    r4 = version is FhirVersion.R4
    contained = {
        item.get("id"): (where, item)
        for where, item in items(data, "contained", path, problems)
        if isinstance(item, Mapping) and item.get("resourceType") == "Location"
    }
    kwargs: dict[str, Any] = {
        "id": resource_id(data, path, problems),
        "name": string(data, "name", path, problems, required=True),
        "organization": required_reference(data, "providedBy", path, problems, ("Organization",)),
        "categories": _codings(data, "category", path, problems),
        "service_types": _codings(data, "type", path, problems),
        "description": string(data, "comment", path, problems),
        "languages": frozenset(_languages(data, path, problems)),
        "eligibility": _read_eligibility(data, path, problems),
    }
    if r4:
        kwargs["telecom"] = each(data, "telecom", path, problems, read_contact_point)
    else:
        telecom: tuple[Any, ...] = ()
        for where, item in items(data, "contact", path, problems):
            if mapping(item, where, problems, "an ExtendedContactDetail") is not None:
                telecom += each(item, "telecom", where, problems, read_contact_point)
        kwargs["telecom"] = telecom
    where, site = first_item(data, "location", path, problems)
    if site is not None:
        found = _contained_place(site, where, contained, problems)
        if found is not None:
            kwargs["site"] = Place(found.get("zip"), found.get("county"), found.get("state"))
    area: dict[str, list[str]] = {"zip": [], "county": [], "state": []}
    for where, item in items(data, "coverageArea", path, problems):
        found = _contained_place(item, where, contained, problems)
        for kind, code in (found or {}).items():
            area[kind].append(code)
    kwargs["area"] = _service_area(area, path, problems)
    for where, extension in _find_extension(data, OPEN_SLOTS, path, problems)[:1]:
        kwargs["open_slots"] = _whole(
            extension.get("valueUnsignedInt"), f"{where}.valueUnsignedInt", problems, 0
        )
    _characteristics(data, path, problems, kwargs)
    kwargs["electronic_referral"] = any(
        concept is not None and concept.code_in(_REFERRAL_METHOD) == "elec"
        for concept in each(data, "referralMethod", path, problems, read_concept)
    )
    kwargs["hours"] = _read_hours(data, r4, path, problems)
    return kwargs


def _codings(data: Mapping[str, Any], key: str, path: str, problems: Problems) -> frozenset[Coding]:
    """Every coding of the concepts ``data[key]`` (one coding per concept as written)."""
    concepts = each(data, key, path, problems, read_concept)
    return frozenset(coding for concept in concepts for coding in concept.codings)


def _languages(data: Mapping[str, Any], path: str, problems: Problems) -> list[str]:
    tags = []
    for where, item in items(data, "communication", path, problems):
        concept = read_concept(item, where, problems)
        tag = concept.code_in(BCP_47) if concept is not None else None
        if tag is not None:
            tags.append(tag)
    return tags


def _contained_place(
    data: object,
    path: str,
    contained: Mapping[Any, tuple[str, Mapping[str, Any]]],
    problems: Problems,
) -> dict[str, str] | None:
    """The ZIP code, county and state of the contained Location ``data`` references."""
    reference = mapping(data, path, problems, "a Reference")
    target = reference.get("reference") if reference is not None else None
    if not isinstance(target, str) or not target.startswith("#") or target[1:] not in contained:
        if reference is not None:
            problems.add(f"{path}.reference", "expected a contained Location (#id)")
        return None
    where, location = contained[target[1:]]
    address = location.get("address")
    if address is None:
        return {}
    if mapping(address, f"{where}.address", problems, "an Address") is None:
        return None
    found = {}
    for kind, key in _AREA_FIELDS:
        code = string(address, key, f"{where}.address", problems)
        if code is not None:
            found[kind] = code
    return found


def _service_area(area: dict[str, list[str]], path: str, problems: Problems) -> ServiceArea | None:
    try:
        return ServiceArea(area["zip"], area["county"], area["state"])
    except ValidationError:
        problems.add(
            f"{path}.coverageArea",
            "expected ZIP codes, 5-digit county FIPS codes and USPS state codes",
        )
        return None


def _characteristics(
    data: Mapping[str, Any], path: str, problems: Problems, kwargs: dict[str, Any]
) -> None:
    capacities = {c.sdohcc_code: c for c in CapacityStatus}
    for where, item in items(data, "characteristic", path, problems):
        concept = read_concept(item, where, problems)
        if concept is None:
            continue
        own = concept.code_in(SERVICE_CHARACTERISTIC)
        if own == "self-referral":
            kwargs["self_referral"] = True
        elif own in {d.value for d in Delivery}:
            kwargs["delivery"] = Delivery(own)
        elif own is not None:
            problems.add(where, f"expected a code of {SERVICE_CHARACTERISTIC}")
        capacity = concept.code_in(SDOHCC_TEMPORARY_CODES)
        if capacity in capacities:
            kwargs["capacity"] = capacities[capacity]


def _read_eligibility(data: Mapping[str, Any], path: str, problems: Problems) -> Eligibility | None:
    rules: dict[str, Any] = {}
    for where, item in items(data, "eligibility", path, problems):
        entry = mapping(item, where, problems, "an eligibility")
        concept = optional(entry, "code", where, problems, read_concept) if entry else None
        code = concept.code_in(SERVICE_ELIGIBILITY) if concept is not None else None
        if entry is None or code is None:
            continue  # eligibility in words only: caredomain has no field for it
        values = _find_extension(entry, ELIGIBILITY_VALUE, where, problems)
        if code in ("age", "income-fpl"):
            unit = "a" if code == "age" else "%"
            names = (
                ("min_age", "max_age") if code == "age" else ("min_income_fpl", "max_income_fpl")
            )
            for value_path, extension in values[:1]:
                bounds = mapping(
                    extension.get("valueRange"), f"{value_path}.valueRange", problems, "a Range"
                )
                for side, name in zip(("low", "high"), names, strict=True):
                    if bounds is not None and side in bounds:
                        rules[name] = _bound_value(
                            bounds[side], f"{value_path}.valueRange.{side}", unit, problems
                        )
        elif code == "condition":
            rules["conditions"] = [
                p
                for value_path, e in values
                if (p := string(e, "valueString", value_path, problems, required=True))
            ]
        elif code == "coverage":
            rules["coverage"] = _coverage_lines(values, problems)
        else:
            problems.add(f"{where}.code", f"expected a code of {SERVICE_ELIGIBILITY}")
    try:
        return Eligibility(**rules)
    except ValidationError:
        problems.add(
            f"{path}.eligibility",
            "expected whole-number bounds, low at or below high, and ICD-10-CM prefixes",
        )
        return None


def _bound_value(data: object, path: str, unit: str, problems: Problems) -> int | None:
    bound = mapping(data, path, problems, "a Quantity")
    if bound is None:
        return None
    amount = read_number(bound.get("value"), f"{path}.value", problems)
    if bound.get("system") != UCUM or bound.get("code") != unit:
        problems.add(f"{path}.code", f"expected the UCUM unit {unit}")
        return None
    if amount is None or amount != amount.to_integral_value() or amount < 0:
        problems.add(f"{path}.value", "expected a non-negative whole number")
        return None
    return int(amount)


def _coverage_lines(
    values: list[tuple[str, Mapping[str, Any]]], problems: Problems
) -> list[LineOfBusiness]:
    lines = []
    known = {line.value for line in LineOfBusiness}
    for where, extension in values:
        coding = read_coding(extension.get("valueCoding"), f"{where}.valueCoding", problems)
        if coding is None:
            continue
        if coding.system != LINE_OF_BUSINESS or coding.code not in known:
            problems.add(f"{where}.valueCoding", f"expected a code of {LINE_OF_BUSINESS}")
            continue
        lines.append(LineOfBusiness(coding.code))
    return lines


def _read_hours(
    data: Mapping[str, Any], r4: bool, path: str, problems: Problems
) -> OpeningHours | None:
    zone = read_timezone(data, path, problems)
    if r4:
        times = list(items(data, "availableTime", path, problems))
    else:
        times = []
        for where, item in items(data, "availability", path, problems):
            if mapping(item, where, problems, "an Availability") is not None:
                times += list(items(item, "availableTime", where, problems))
    if zone is None:
        if times:
            problems.add(f"{path}.extension", "expected the timezone extension of the hours")
        return None
    periods = []
    for where, item in times:
        entry = mapping(item, where, problems, "an availableTime")
        if entry is None:
            continue
        if entry.get("allDay") is True:
            problems.add(f"{where}.allDay", "expected opening and closing times, not all day")
            continue
        opens = _time(entry, "availableStartTime", where, problems)
        closes = _time(entry, "availableEndTime", where, problems)
        days = []
        for day_path, day in items(entry, "daysOfWeek", where, problems):
            if day in _DAYS:
                days.append(_DAYS.index(day))
            else:
                problems.add(day_path, "expected a days-of-week code (mon ... sun)")
        if opens is None or closes is None:
            continue
        if closes <= opens:
            problems.add(f"{where}.availableEndTime", "expected closing after opening")
            continue
        periods += [OpeningPeriod(day, opens, closes) for day in days]
    return OpeningHours(zone, periods)


def _time(data: Mapping[str, Any], key: str, path: str, problems: Problems) -> _dt.time | None:
    value = string(data, key, path, problems, required=True)
    if value is None:
        return None
    if not _TIME.match(value) or value.startswith("24"):
        problems.add(f"{path}.{key}", "expected a time such as 08:00:00")
        return None
    try:
        return _dt.time.fromisoformat(value)
    except ValueError:  # a leap second
        problems.add(f"{path}.{key}", "expected a time such as 08:00:00")
        return None


# --- the registry --------------------------------------------------------------------------

_MAPPINGS: Final[tuple[tuple[ResourceMapping, bool], ...]] = (
    (
        ResourceMapping(
            Schedule,
            "Schedule",
            _write_schedule,
            resource_reader(
                Schedule, "Schedule", _schedule_fields, {"actor": "actor", "timezone": "extension"}
            ),
        ),
        True,
    ),
    (
        ResourceMapping(
            Slot,
            "Slot",
            _write_slot,
            resource_reader(
                Slot,
                "Slot",
                _slot_fields,
                {"interval": "start", "capacity": "extension", "overbook": "extension"},
            ),
        ),
        True,
    ),
    (
        ResourceMapping(
            Appointment,
            "Appointment",
            _write_appointment,
            resource_reader(Appointment, "Appointment", _appointment_fields),
        ),
        True,
    ),
    (
        ResourceMapping(
            PlannedReminder,
            "CommunicationRequest",
            _write_reminder,
            resource_reader(PlannedReminder, "CommunicationRequest", _reminder_fields),
        ),
        True,
    ),
    (
        ResourceMapping(
            CommunityService,
            "HealthcareService",
            _write_service,
            resource_reader(
                CommunityService,
                "HealthcareService",
                _service_fields,
                {
                    "id": "id",
                    "name": "name",
                    "categories": "category",
                    "organization": "providedBy",
                    "open_slots": "extension",
                },
            ),
        ),
        True,
    ),
    # A Referral writes as its ServiceRequest; reading needs the Task too (the state lives
    # there), so from_fhir refuses a ServiceRequest alone and points at referral_from_fhir.
    (
        ResourceMapping(Referral, "ServiceRequest", _write_service_request, _service_request_alone),
        False,
    ),
)


def _register() -> None:
    for mapping_, default in _MAPPINGS:
        register(mapping_, default=default)


_register()
