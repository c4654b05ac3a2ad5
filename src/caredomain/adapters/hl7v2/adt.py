"""ADT admissions and discharges (HL7 v2 chapter 3) read as domain values.

`read_adt` maps one ADT message (A01 admit, A03 discharge, A04 register, A08 update, A11
cancel admit, A13 cancel discharge) to an `AdtMessage`: the `Patient` from PID, the
`Encounter` from PV1/PV2/DG1, the practitioners PV1 names, the assigned location as
sent and the OBX observations (vital signs at admission...) as `ObservationResult` values.
`read_patient` reads a PID segment on its own (ORU, SIU and REF messages carry one too).

Rules of this module:

1. Mappings follow the HL7 Version 2 to FHIR IG (HL7 International, STU 1): segment maps
   "PID[Patient]", "PV1[Encounter]", "PV2[Encounter]", "DG1[Encounter]", "MSH[Encounter]",
   "OBX[Observation]" (read by `caredomain.adapters.hl7v2._obx`, shared with ORU^R01)
   and the vocabulary maps named next to each table below. Every departure from the IG is
   written next to the code that makes it.
2. One pass over the segments; only the fields mapped are split; tables are module-level
   dicts. No hl7apy object is built.
3. Ids are derived with `stable_id` from business identifiers, so the same message always
   maps to the same values (see `read_patient` and `read_adt`).
4. Errors are `Hl7ParseError` at a segment/field position saying what was expected, never
   with field content; a value that a domain type refuses is reported at the field it came
   from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs
import pendulum
from pendulum import Date, DateTime

from caredomain.adapters.hl7v2._message import Hl7ParseError, Item, Message, Segment, escape
from caredomain.adapters.hl7v2._obx import ReadContext, local_id, read_note, read_obx
from caredomain.adapters.hl7v2.datatypes import (
    Hl7Location,
    Hl7Person,
    Precision,
    read_cwe,
    read_cx,
    read_pl,
    read_ts,
    read_xad,
    read_xcn,
    read_xpn,
    read_xtn,
    write_cx,
    write_ts,
    write_xad,
    write_xpn,
    write_xtn,
)
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.core.codes import CodeableConcept, Coding, hl7_v2_table
from caredomain.core.encounters import (
    ACT_CODE,
    ENCOUNTER_CLASSES,
    Encounter,
    EncounterParticipant,
    EncounterStatus,
)
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.parties import (
    AdministrativeGender,
    ContactPoint,
    Patient,
    Practitioner,
)
from caredomain.core.results import ObservationResult

__all__ = [
    "ADT_TRIGGERS",
    "PARTICIPATION_TYPE",
    "AdtMessage",
    "read_adt",
    "read_patient",
    "write_pid",
]

ADT_TRIGGERS: Final = frozenset({"A01", "A03", "A04", "A08", "A11", "A13"})
"""The ADT trigger events `read_adt` reads (HL7 v2.5.1 table 0003)."""

PARTICIPATION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
"""HL7 v3 ParticipationType, the system of the encounter participant roles PV1 gives."""

_EXPECTED_TYPE: Final = "ADT^A01, A03, A04, A08, A11 or A13"

# ConceptMap "Table HL70001 to Administrative Gender" (table-hl70001-to-administrative-gender):
# A (ambiguous) and N (not applicable) map to "other". Codes outside table 0001 give no sex.
_SEX: Final[dict[str, AdministrativeGender]] = {
    "F": AdministrativeGender.FEMALE,
    "M": AdministrativeGender.MALE,
    "O": AdministrativeGender.OTHER,
    "U": AdministrativeGender.UNKNOWN,
    "A": AdministrativeGender.OTHER,
    "N": AdministrativeGender.OTHER,
}

# ConceptMap "Table HL70004 to V3 ActCode" (table-hl70004-to-v3-actcode): E, I, O, P map to
# v3 ActCode; its second group keeps R, B, C, N, U as HL7 table 0004 codes (no ActCode).
_CLASS: Final[dict[str, Coding]] = {
    "E": Coding(ACT_CODE, "EMER", ENCOUNTER_CLASSES["EMER"]),
    "I": Coding(ACT_CODE, "IMP", ENCOUNTER_CLASSES["IMP"]),
    "O": Coding(ACT_CODE, "AMB", ENCOUNTER_CLASSES["AMB"]),
    "P": Coding(ACT_CODE, "PRENC", ENCOUNTER_CLASSES["PRENC"]),
    "R": Coding(hl7_v2_table(4), "R", "Recurring patient"),
    "B": Coding(hl7_v2_table(4), "B", "Obstetrics"),
    "C": Coding(hl7_v2_table(4), "C", "Commercial Account"),
    "N": Coding(hl7_v2_table(4), "N", "Not Applicable"),
    "U": Coding(hl7_v2_table(4), "U", "Unknown"),
}
_UNKNOWN_CLASS: Final = _CLASS["U"]

_S = EncounterStatus
# ConceptMap "Event[EncounterStatus]" (the IG's segment map "MSH[Encounter]" maps MSH-9 through
# it): A01 in-progress, A03 finished, A04 planned, A11 cancelled, A13 in-progress. A08 maps to
# "unknown" there ("the transaction does not convey the status"): for A08 the status comes
# from PV1 instead, as "PV1[Encounter]" gives it (see _PATIENT_CLASS_STATUS).
_TRIGGER_STATUS: Final[dict[str, EncounterStatus]] = {
    "A01": _S.IN_PROGRESS,
    "A03": _S.FINISHED,
    "A04": _S.PLANNED,
    "A11": _S.CANCELLED,
    "A13": _S.IN_PROGRESS,
}

# ConceptMap "Table HL70004 to Encounter Status" (table-hl70004-to-encounter-status), used by
# "PV1[Encounter]" when PV1-45 is not valued (PV1-45 valued: "finished").
_PATIENT_CLASS_STATUS: Final[dict[str, EncounterStatus]] = {
    "E": _S.IN_PROGRESS,
    "I": _S.IN_PROGRESS,
    "O": _S.IN_PROGRESS,
    "P": _S.PLANNED,
    "R": _S.IN_PROGRESS,
    "B": _S.IN_PROGRESS,
    "C": _S.IN_PROGRESS,
    "N": _S.IN_PROGRESS,
    "U": _S.UNKNOWN,
}

# "PV1[Encounter]": PV1-7 attending ATND "attender", PV1-8 referring REF "referrer", PV1-9
# consulting CON "consultant", PV1-17 admitting ADM "admitter" (v3 ParticipationType).
_ROLES: Final = (
    (7, CodeableConcept((Coding(PARTICIPATION_TYPE, "ATND", "attender"),))),
    (8, CodeableConcept((Coding(PARTICIPATION_TYPE, "REF", "referrer"),))),
    (9, CodeableConcept((Coding(PARTICIPATION_TYPE, "CON", "consultant"),))),
    (17, CodeableConcept((Coding(PARTICIPATION_TYPE, "ADM", "admitter"),))),
)

# "PV1[Encounter]": PV1-19 visit number -> Encounter.identifier with type VN (table 0203).
_VISIT_NUMBER_TYPE: Final = CodeableConcept((Coding(hl7_v2_table(203), "VN", "Visit number"),))

# ISO 639-2 (bibliographic and terminology codes, Library of Congress code list) -> ISO 639-1,
# for PID-15: BCP 47 (RFC 5646 section 2.2.1) takes the shortest ISO 639 code of a language,
# and the bibliographic codes (fre, ger, chi...) are not BCP 47 subtags at all. A three-letter
# code with no two-letter equivalent (hmn, yue) is already a valid BCP 47 tag.
_ISO_639_1: Final[dict[str, str]] = {
    "amh": "am",
    "ara": "ar",
    "ben": "bn",
    "chi": "zh",
    "zho": "zh",
    "deu": "de",
    "ger": "de",
    "ell": "el",
    "gre": "el",
    "eng": "en",
    "fas": "fa",
    "per": "fa",
    "fra": "fr",
    "fre": "fr",
    "guj": "gu",
    "hat": "ht",
    "hau": "ha",
    "heb": "he",
    "hin": "hi",
    "ibo": "ig",
    "ita": "it",
    "jpn": "ja",
    "kor": "ko",
    "nep": "ne",
    "pan": "pa",
    "pol": "pl",
    "por": "pt",
    "rus": "ru",
    "som": "so",
    "spa": "es",
    "swa": "sw",
    "tam": "ta",
    "tel": "te",
    "tgl": "tl",
    "tha": "th",
    "tur": "tr",
    "ukr": "uk",
    "urd": "ur",
    "vie": "vi",
    "yid": "yi",
    "yor": "yo",
}


@attrs.frozen
class AdtMessage:
    """One ADT message read as domain values.

    Attributes:
        trigger: The trigger event (``"A01"``, ``"A03"``...), MSH-9.2.
        control_id: MSH-10, the message control id (for the ACK).
        recorded_at: EVN-2, when the event was recorded, aware; None when not sent.
        patient: The patient (PID), see `read_patient`.
        encounter: The visit (PV1, PV2, DG1), or None for a message without a PV1.
        location: PV1-3, the assigned location as sent (the `Encounter` holds only a
            reference to it).
        practitioners: The practitioners PV1-7, 8, 9 and 17 name, each once, in that order;
            the encounter's participants refer to them by id.
        diagnoses: DG1-3 of every DG1, in order (admitting, working and final alike).
        observations: The OBX segments (vital signs at admission or discharge: weight,
            height, blood pressure...), in order, each with the NTE notes that follow it;
            see `read_adt`.
    """

    trigger: str
    control_id: str
    recorded_at: DateTime | None
    patient: Patient = attrs.field(repr=False)
    encounter: Encounter | None
    location: Hl7Location | None = None
    practitioners: tuple[Practitioner, ...] = ()
    diagnoses: tuple[CodeableConcept, ...] = attrs.field(default=(), repr=False)
    observations: tuple[ObservationResult, ...] = attrs.field(default=(), repr=False)

    @property
    def is_discharge(self) -> bool:
        """Whether this is a discharge (A03): a discharge is the trigger for transitional care."""
        return self.trigger == "A03"


# --------------------------------------------------------------------------------------
# Small readers
# --------------------------------------------------------------------------------------


def _identifier(item: Item, profile: SenderProfile) -> Identifier | None:
    """A CX; a namespace the profile names gives its system first (SenderProfile.systems)."""
    return profile.resolve(read_cx(item), item.subcomponent(4, 1))


def _instant(item: Item, profile: SenderProfile) -> DateTime | None:
    """A TS/DTM as an aware DateTime; a date alone is the start of that day locally.

    Raises:
        Hl7ParseError: Not a TS, or a time (or date) without an offset and no sender
            timezone in the profile.
    """
    time = read_ts(item, timezone=profile.timezone)
    if time is None:
        return None
    value = time.value
    if isinstance(value, DateTime):
        return value
    if profile.timezone is None:
        raise item.error("a date/time with a UTC offset or a configured sender timezone")
    return pendulum.datetime(value.year, value.month, value.day, tz=profile.timezone)


def _code(segment: Segment, field: int) -> str:
    """Component 1 of an IS/ID field (a CWE in v2.7+), stripped."""
    return segment.value(field, 1, 1).strip()


def _concept(item: Item, table: int | None = None) -> CodeableConcept | None:
    """A CE/CWE; codes sent without a coding system belong to HL7 table ``table``."""
    return read_cwe(item, default_system=hl7_v2_table(table) if table else None)


def _language(item: Item) -> str | None:
    """PID-15 as a BCP 47 tag: ISO 639 codes as the shortest code, lower case."""
    code = item.component(1).strip()
    if not code:
        return None
    primary, _, rest = code.replace("_", "-").partition("-")
    primary = primary.lower()
    if not (2 <= len(primary) <= 3 and primary.isascii() and primary.isalpha()):
        return None  # not an ISO 639 code (a local code or a word): no language
    primary = _ISO_639_1.get(primary, primary)
    if rest and all(p.isascii() and p.isalnum() and 1 <= len(p) <= 8 for p in rest.split("-")):
        return f"{primary}-{rest}"
    return primary


def _telecom(items: Iterable[Item], default_use: str | None) -> list[ContactPoint]:
    found = []
    for item in items:
        contact = read_xtn(item)
        if contact is None:
            continue
        # "PID[Patient]": PID-13 without XTN-2 has use "home", PID-14 without XTN-2 "work".
        if default_use and contact.use is None and not item.component(2).strip():
            contact = ContactPoint(contact.system, contact.value, default_use, contact.rank)
        found.append(contact)
    return found


def _birth_date(item: Item) -> Date | None:
    """PID-7 as the calendar date written (time and offset, if any, are not needed).

    A birth date sent to the year or month only gives no date (`Patient.birth_date` is a
    full date and 1 January would be a guess).
    """
    # The date part of a TS does not depend on a zone: read a time without an offset in
    # UTC, and take the date in the value's own offset, which is the date as written.
    time = read_ts(item, timezone="UTC")
    if time is None or time.precision < Precision.DAY:
        return None
    value = time.value
    return Date(value.year, value.month, value.day)


def read_patient(segment: Segment, *, profile: SenderProfile) -> Patient:
    """Read a PID segment as a `Patient` (IG segment map "PID[Patient]").

    * identifiers: every PID-3 repetition (CX; the system of CX-4 from the profile first);
    * names: every PID-5 repetition (XPN);
    * birth date: PID-7, the date as written (no timezone needed); to the year or month
      only, none;
    * sex: PID-8 by the IG's "Table HL70001 to Administrative Gender" (F, M, O, U; A and N
      other); another code gives none;
    * addresses: PID-11 (XAD); telecom: PID-13 (use ``home`` when XTN-2 is empty), PID-14
      (``work`` likewise), then PID-40 (v2.7+);
    * language: PID-15.1 as a BCP 47 tag (ISO 639-2 codes such as ``eng`` become ``en``).

    The id is ``stable_id("Patient", system, value)`` of the first PID-3 identifier
    (an empty system when none is known).

    Raises:
        Hl7ParseError: No identifier in PID-3, or a field that is not of its datatype.
    """
    identifiers = [i for i in (_identifier(x, profile) for x in segment.items(3)) if i]
    if not identifiers:
        raise Hl7ParseError(
            "a patient identifier (CX with an ID number)",
            segment_index=segment.index,
            segment_id=segment.id,
            field=3,
        )
    first = identifiers[0]
    names = [n for n in (read_xpn(x) for x in segment.items(5)) if n]
    addresses = [a for a in (read_xad(x) for x in segment.items(11)) if a]
    telecom = _telecom(segment.items(13), "home")
    telecom += _telecom(segment.items(14), "work")
    telecom += _telecom(segment.items(40), None)
    return Patient(
        id=stable_id("Patient", first.system or "", first.value),
        identifiers=identifiers,
        names=names,
        birth_date=_birth_date(segment.item(7)),
        sex=_SEX.get(_code(segment, 8).upper()),
        telecom=telecom,
        addresses=addresses,
        language=_language(segment.item(15)),
    )


_SEX_CODE: Final[dict[AdministrativeGender, str]] = {
    AdministrativeGender.FEMALE: "F",
    AdministrativeGender.MALE: "M",
    AdministrativeGender.OTHER: "O",
    AdministrativeGender.UNKNOWN: "U",
}


def write_pid(patient: Patient, *, set_id: str = "1") -> list[str | list[str] | None]:
    """The fields of a PID segment (PID-1 to PID-15) for ``patient``: `read_patient`'s inverse.

    Every identifier goes to PID-3, names to PID-5, the birth date to PID-7, sex to PID-8,
    addresses to PID-11, every contact point to PID-13 (its use in XTN-2) and the language
    to PID-15. Pass the result to ``Writer.segment("PID", *fields)``.

    Raises:
        ValidationError: The patient has no identifier (PID-3 is required).
    """
    if not patient.identifiers:
        raise ValidationError.at("Patient.identifiers", "expected at least one (PID-3)")
    return [
        set_id,
        None,
        [write_cx(i) for i in patient.identifiers],
        None,
        [write_xpn(n) for n in patient.names],
        None,
        write_ts(patient.birth_date) if patient.birth_date is not None else None,
        _SEX_CODE.get(patient.sex) if patient.sex is not None else None,
        None,
        None,
        [write_xad(a) for a in patient.addresses],
        None,
        [write_xtn(t) for t in patient.telecom],
        None,
        escape(patient.language) if patient.language else None,
    ]


# --------------------------------------------------------------------------------------
# PV1 / PV2 / DG1 -> Encounter
# --------------------------------------------------------------------------------------


def _practitioner(person: Hl7Person, item: Item, profile: SenderProfile) -> Practitioner:
    identifier = profile.resolve(person.identifier, item.subcomponent(9, 1))
    if identifier is not None:
        key: tuple[str, ...] = ("Practitioner", identifier.system or "", identifier.value)
    else:
        # A practitioner named but not identified: the id comes from the name as sent.
        name = person.name
        assert name is not None  # read_xcn returns a person with an id or a name
        key = ("Practitioner", "name", name.family or "", *name.given, *name.prefix)
    return Practitioner(
        id=stable_id(*key),
        identifiers=(identifier,) if identifier is not None else (),
        names=(person.name,) if person.name is not None else (),
    )


def _location_reference(location: Hl7Location) -> Reference:
    return Reference("Location", id=location.id)


def _status(trigger: str, pv1: Segment, patient_class: str) -> EncounterStatus:
    status = _TRIGGER_STATUS.get(trigger)
    if status is not None:
        return status
    # A08 ("Event[EncounterStatus]": unknown): "PV1[Encounter]" gives "finished" when PV1-45
    # is valued, else the status of the patient class.
    if pv1.item(45):
        return EncounterStatus.FINISHED
    return _PATIENT_CLASS_STATUS.get(patient_class, EncounterStatus.UNKNOWN)


def _field_error(segment: Segment, field: int, expected: str) -> Hl7ParseError:
    return Hl7ParseError(expected, segment_index=segment.index, segment_id=segment.id, field=field)


def _encounter(
    trigger: str,
    pv1: Segment,
    pv2: Segment | None,
    diagnoses: list[tuple[CodeableConcept, bool]],
    patient: Patient,
    recorded: Segment | None,
    profile: SenderProfile,
) -> tuple[Encounter, Hl7Location | None, tuple[Practitioner, ...]]:
    patient_class = _code(pv1, 2).upper()
    encounter_class = _CLASS.get(patient_class)
    if encounter_class is None:
        # A code outside table 0004 is kept in its table; no class at all is "U" (unknown).
        encounter_class = (
            Coding(hl7_v2_table(4), _code(pv1, 2)) if patient_class else _UNKNOWN_CLASS
        )

    location = read_pl(pv1.item(3))

    practitioners: dict[str, Practitioner] = {}
    participants = []
    for field, role in _ROLES:
        for item in pv1.items(field):
            person = read_xcn(item)
            if person is None:
                continue
            practitioner = _practitioner(person, item, profile)
            practitioners.setdefault(practitioner.id, practitioner)
            display = str(person.name) if person.name is not None else None
            actor = Reference("Practitioner", id=practitioner.id, display=display or None)
            participants.append(EncounterParticipant(actor, role))

    visit = _identifier(pv1.item(19), profile)
    admitted_at = _instant(pv1.item(44), profile)
    discharged_at = _instant(pv1.item(45), profile)
    if trigger == "A03" and discharged_at is None and recorded is not None:
        # Departure: the IG reads the discharge time from PV1-45 only; an A03 without it
        # takes EVN-6 (event occurred), the time the discharge happened (HL7 v2.5.1 3.4.1.6).
        discharged_at = _instant(recorded.item(6), profile)
    if trigger == "A13":
        # A13 cancels the discharge: a discharge time still sent is the one being cancelled.
        discharged_at = None
    if admitted_at is not None and discharged_at is not None and discharged_at < admitted_at:
        raise _field_error(pv1, 45, "a discharge date/time at or after the admission (PV1-44)")

    if visit is not None:
        visit = Identifier(visit.value, visit.system, visit.type or _VISIT_NUMBER_TYPE)
        encounter_id = stable_id("Encounter", visit.system or "", visit.value)
    elif admitted_at is not None:
        encounter_id = stable_id(
            "Encounter", patient.id, admitted_at.in_timezone("UTC").isoformat()
        )
    else:
        # Neither a visit number nor an admission time: only the patient identifies it.
        encounter_id = stable_id("Encounter", patient.id)

    reasons: list[CodeableConcept] = []
    if pv2 is not None:
        # "PV2[Encounter]": PV2-3 admit reason -> Encounter.reasonCode.
        admit_reason = _concept(pv2.item(3))
        if admit_reason is not None:
            reasons.append(admit_reason)
    for diagnosis, admitting in diagnoses:
        if admitting and diagnosis not in reasons:
            reasons.append(diagnosis)

    encounter = Encounter(
        id=encounter_id,
        patient=Reference("Patient", id=patient.id),
        status=_status(trigger, pv1, patient_class),
        encounter_class=encounter_class,
        identifiers=(visit,) if visit is not None else (),
        # "PV1[Encounter]": PV1-10 hospital service (table 0069) -> serviceType; PV1-14
        # admit source (table 0023) -> hospitalization.admitSource; PV1-36 discharge
        # disposition (table 0112) -> hospitalization.dischargeDisposition. The codes are
        # kept in their v2 tables (the IG's "DischargeDisposition" map lists no v2 source
        # code; "HospitalService" maps only MED and URO outside table 0069).
        service_type=_concept(pv1.item(10), 69),
        admitted_at=admitted_at,
        discharged_at=discharged_at,
        admit_source=_concept(pv1.item(14), 23),
        discharge_disposition=_concept(pv1.item(36), 112),
        reasons=reasons,
        participants=participants,
        location=_location_reference(location) if location is not None else None,
    )
    return encounter, location, tuple(practitioners.values())


def _diagnoses(dg1s: list[Segment]) -> list[tuple[CodeableConcept, bool]]:
    """Each DG1-3 with whether it is an admitting diagnosis (DG1-6 ``A``, table 0052)."""
    found = []
    for dg1 in dg1s:
        # DG1-3 is bound to HL7 table 0051 (diagnosis code) when no coding system is sent.
        diagnosis = _concept(dg1.item(3), 51)
        if diagnosis is not None:
            # DG1-6 diagnosis type (table 0052): A admitting, W working, F final.
            found.append((diagnosis, _code(dg1, 6).upper() == "A"))
    return found


# --------------------------------------------------------------------------------------
# ADT
# --------------------------------------------------------------------------------------


def read_adt(message: Message, *, profile: SenderProfile) -> AdtMessage:
    """Read an ADT A01, A03, A04, A08, A11 or A13 message as domain values.

    The patient is read by `read_patient`; the encounter by the IG's "PV1[Encounter]",
    "PV2[Encounter]" and "DG1[Encounter]" maps:

    * status: from the trigger by the IG's "Event[EncounterStatus]" map (A01 in-progress,
      A03 finished, A04 planned, A11 cancelled, A13 in-progress); A08, which that map
      leaves unknown, takes it from PV1 (finished when PV1-45 is valued, else by "Table
      HL70004 to Encounter Status");
    * class: PV1-2 by "Table HL70004 to V3 ActCode" (E EMER, I IMP, O AMB, P PRENC; R, B,
      C, N, U stay table 0004 codes; none sent is U);
    * location: PV1-3, as a reference (the PL itself is `AdtMessage.location`);
    * participants: PV1-7 ATND, PV1-8 REF, PV1-9 CON, PV1-17 ADM (v3 ParticipationType);
    * service type PV1-10 (table 0069), admit source PV1-14 (table 0023), discharge
      disposition PV1-36 (table 0112): codes sent without a coding system are in those
      tables;
    * identifiers: PV1-19, the visit number (type VN);
    * admitted/discharged: PV1-44 and PV1-45; an A03 without PV1-45 takes EVN-6; an A13
      (cancel discharge) has no discharge time;
    * reasons: PV2-3 and the admitting (DG1-6 ``A``) DG1-3 diagnoses.

    Every OBX (the ADT_A01 structure's, which A03, A04 and A08 share) is read by the IG's
    "OBX[Observation]" map as `caredomain.adapters.hl7v2.oru.read_oru` reads it (code
    OBX-3, value OBX-5 by OBX-2 in the OBX-6 unit, status OBX-11, category ``vital-signs``
    for a LOINC code of `caredomain.adapters.hl7v2.oru.VITAL_SIGNS`), with the NTE segments
    right after it as notes; its effective time is OBX-14, else EVN-2, else MSH-7. An
    observation's id is ``stable_id("Observation", control id, "OBX", set id)`` (without a
    control id, the visit number's system and value stand for it, else the patient id;
    without an OBX-1, or with a repeated one, ``#`` and the OBX's position).

    The encounter id is ``stable_id("Encounter", system, value)`` of the visit number;
    without one, ``stable_id("Encounter", patient id, admission time in UTC)``; without
    either, ``stable_id("Encounter", patient id)``. Timestamps without a UTC offset are
    read in ``profile.timezone``.

    Raises:
        Hl7ParseError: Not one of these ADT messages (at MSH-9), no PID, no identifier in
            PID-3, a field not of its datatype, a time without an offset and no sender
            timezone, a discharge before the admission, or an OBX without OBX-3.
    """
    segments = iter(message)
    msh = next(segments)
    trigger = msh.value(9, 1, 2).strip().upper()
    if msh.value(9, 1, 1).strip().upper() != "ADT" or trigger not in ADT_TRIGGERS:
        raise Hl7ParseError(_EXPECTED_TYPE, segment_index=msh.index, segment_id="MSH", field=9)

    evn = pid = pv1 = pv2 = None
    dg1s: list[Segment] = []
    # Each OBX with the notes of the NTE segments right after it (HL7 v2.6+ ADT_A01 puts
    # an NTE group under OBX; an NTE elsewhere is not about an observation).
    obxs: list[tuple[Segment, list[str]]] = []
    notes: list[str] | None = None
    for segment in segments:
        sid = segment.id
        if sid == "OBX":
            notes = []
            obxs.append((segment, notes))
            continue
        if sid == "NTE":
            note = read_note(segment)
            if notes is not None and note is not None:
                notes.append(note)
            continue
        notes = None
        # The first of each (a Segment with no fields is falsy: compare with None).
        if sid == "DG1":
            dg1s.append(segment)
        elif sid == "PID":
            pid = segment if pid is None else pid
        elif sid == "PV1":
            pv1 = segment if pv1 is None else pv1
        elif sid == "PV2":
            pv2 = segment if pv2 is None else pv2
        elif sid == "EVN":
            evn = segment if evn is None else evn
    if pid is None:
        raise Hl7ParseError("a PID segment", segment_id="PID")

    patient = read_patient(pid, profile=profile)
    recorded_at = _instant(evn.item(2), profile) if evn is not None else None
    diagnoses = _diagnoses(dg1s)
    encounter = location = None
    practitioners: tuple[Practitioner, ...] = ()
    if pv1 is not None:
        encounter, location, practitioners = _encounter(
            trigger, pv1, pv2, diagnoses, patient, evn, profile
        )
    return AdtMessage(
        trigger=trigger,
        control_id=message.control_id,
        recorded_at=recorded_at,
        patient=patient,
        encounter=encounter,
        location=location,
        practitioners=practitioners,
        diagnoses=tuple(d for d, _ in diagnoses),
        observations=_observations(obxs, message, msh, evn, patient, encounter, profile),
    )


def _observations(
    obxs: list[tuple[Segment, list[str]]],
    message: Message,
    msh: Segment,
    evn: Segment | None,
    patient: Patient,
    encounter: Encounter | None,
    profile: SenderProfile,
) -> tuple[ObservationResult, ...]:
    """The ADT's OBX segments as results (IG "ADT_A01 to Bundle": OBX -> "OBX[Observation]")."""
    if not obxs:
        return ()
    context = ReadContext(profile)
    # Departure: the IG sets effective from OBX-14 only; an OBX without it takes the time
    # the event was recorded (EVN-2), else the message time (MSH-7), when it was known.
    # (Read only when an OBX needs it: a message time the reader cannot place in time
    # does not fail a message whose OBX segments all carry OBX-14.)
    fallback = None
    if not all(obx.item(14) for obx, _ in obxs):
        recorded = context.instant(evn.item(2)) if evn is not None else None
        fallback = recorded or context.instant(msh.item(7))
    key: tuple[str, ...]
    if message.control_id:
        key = (message.control_id,)
    elif encounter is not None and encounter.identifiers:
        visit = encounter.identifiers[0]
        key = (visit.system or "", visit.value)
    else:
        key = (patient.id,)
    subject = Reference("Patient", id=patient.id)
    seen: set[str] = set()
    return tuple(
        read_obx(
            obx,
            result_id=stable_id("Observation", *key, "OBX", local_id(obx, position, seen)),
            patient=subject,
            context=context,
            notes=notes,
            effective=fallback,
        )
        for position, (obx, notes) in enumerate(obxs, start=1)
    )
