"""HL7 v2 referral messages: REF and RRI (chapter 11, I12-I15) read into domain values and back.

`read_ref` turns a parsed REF^I12/I13/I14/I15 (a referral, a modification, a cancellation, a
status request from the referring side) or RRI^I12..I15 (the receiving side's answer) into a
`ReferralMessage`: the `Referral`, the `Patient`, the providers of the PRD segments, the
diagnoses (DG1), the authorization (AUT) and the notes. `build_ref` and `build_rri` write
the same values as ER7 text; for every value the messages can carry,
``read_ref(parse(build_ref(...)))`` gives back what went in (property-tested).

Rules of this module:

1. Field layouts follow HL7 v2.5.1 chapter 11 (REF_I12 and RRI_I12 message structures,
   segments RF1 11.6.1, AUT 11.6.2, PRD 11.6.3) and are read the same in v2.3 to v2.8 (later
   versions only add fields, and change CE to CWE and AUT-8/9 from NM to CQ, whose first
   component is the number). Where a FHIR mapping exists it is FHIR's "Mappings for HL7 v2"
   of ReferralRequest (DSTU2/STU3) and ServiceRequest (R4); the v2-to-FHIR IG has no RF1,
   PRD or AUT map.
2. Code tables come from `caredomain.referrals.mappings` (`RF1_STATUS`, `RF1_PRIORITY`); this
   module only holds their inverses, which a test keeps consistent with them.
3. A message is a snapshot of the sender's view, not its history: the referral is built
   directly in the state RF1-1 says (see `read_ref`), with an empty audit trail, rather
   than by replaying invented events with invented times through `REFERRAL_MACHINE`.
4. Errors are `Hl7ParseError` with the segment, field, repetition and component, and what
   was expected; never the content.
5. One pass over the segments; module-level tables; no regex per call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

import attrs
import pendulum
from pendulum import Date, DateTime

from caredomain.adapters.hl7v2._message import Hl7ParseError, Item, Message, Segment, escape
from caredomain.adapters.hl7v2._writer import DEFAULT_VERSION, Writer, components
from caredomain.adapters.hl7v2.adt import read_patient, write_pid
from caredomain.adapters.hl7v2.datatypes import (
    Hl7Location,
    Hl7Time,
    parse_nm,
    read_cwe,
    read_cx,
    read_ei,
    read_pl,
    read_ts,
    read_xad,
    read_xpn,
    read_xtn,
    write_ce,
    write_cwe,
    write_ei,
    write_nm,
    write_pl,
    write_ts,
    write_xad,
    write_xpn,
    write_xtn,
)
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.authorization.check import Approval
from caredomain.core.codes import NPI, CodeableConcept, Coding, hl7_v2_table
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.parties import Address, Patient, Practitioner
from caredomain.core.time import Interval, ensure_aware, instant_key
from caredomain.referrals.mappings import RF1_PRIORITY, RF1_STATUS
from caredomain.referrals.model import (
    AuthorizationLink,
    Referral,
    ReferralCategory,
    ReferralPriority,
    ReferralStatus,
    ReferralTarget,
)

__all__ = [
    "REFERRED_TO",
    "REFERRING",
    "ReferralAuthorization",
    "ReferralMessage",
    "ReferralProvider",
    "build_ref",
    "build_rri",
    "read_ref",
]

REFERRING: Final = "RP"
"""PRD-1 provider role of the referring provider (HL7 table 0286)."""

REFERRED_TO: Final = "RT"
"""PRD-1 provider role of the provider referred to (HL7 table 0286)."""

_TRIGGERS: Final = frozenset({"I12", "I13", "I14", "I15"})
_EXPECTED_TYPE: Final = "a message of type REF^I12/I13/I14/I15 or RRI^I12/I13/I14/I15"
_STRUCTURE: Final = {"REF": "REF_I12", "RRI": "RRI_I12"}  # HL7 v2.5.1 chapter 11, 11.3/11.4

S = ReferralStatus
# Inverses of RF1_STATUS (table 0283: A accepted, E expired, P pending, R rejected), one
# state per code. From the referring side (REF) "pending" is a referral sent; from the
# receiving side (RRI) it is one received and not decided yet. A test checks that
# RF1_STATUS maps each state back to its code.
_REF_STATE: Final[Mapping[str, ReferralStatus]] = {
    "P": S.SENT,
    "A": S.ACCEPTED,
    "R": S.DECLINED,
    "E": S.EXPIRED,
}
_RRI_STATE: Final[Mapping[str, ReferralStatus]] = {**_REF_STATE, "P": S.RECEIVED}
# I14 is the cancellation (HL7 v2.5.1 11.3.3): a REF^I14 asks to cancel, an RRI^I14
# confirms it (`caredomain.referrals.mappings.HL7V2_MESSAGES`); the trigger decides.
_CANCEL_STATE: Final[Mapping[str, ReferralStatus]] = {
    "REF": S.CANCEL_REQUESTED,
    "RRI": S.CANCELLED,
}
# Inverse of RF1_PRIORITY (table 0280: A ASAP, R routine, S STAT). FHIR "urgent" has no
# code and is sent as A, which reads back as ASAP.
_PRIORITY: Final[Mapping[str, ReferralPriority]] = {
    "A": ReferralPriority.ASAP,
    "R": ReferralPriority.ROUTINE,
    "S": ReferralPriority.STAT,
}
_T_TYPE: Final = hl7_v2_table(281)
_T_DISPOSITION: Final = hl7_v2_table(282)
_T_CATEGORY: Final = hl7_v2_table(284)
_T_REASON: Final = hl7_v2_table(336)
_T_PLAN: Final = hl7_v2_table(72)
_T_PAYER: Final = hl7_v2_table(285)
_T_PRACTITIONER_ID: Final = hl7_v2_table(338)

APPROVED: Final = "approved"
_COUNTED: Final = frozenset({"approved", "partial"})


# --------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------


def _tuple(value: Iterable[object]) -> tuple[object, ...]:
    return tuple(value)


@attrs.frozen
class ReferralProvider:
    """A provider of a PRD segment, in the role the message gives it.

    Attributes:
        role: PRD-1, the provider role code (HL7 table 0286: ``RP`` referring, ``RT``
            referred to, ``CP`` consulting, ``PP`` primary care).
        practitioner: The practitioner: identifiers from PRD-7, names PRD-2, telecom PRD-5.
        addresses: PRD-3, the provider's addresses.
        location: PRD-4, the provider's location.
    """

    role: str
    practitioner: Practitioner
    addresses: tuple[Address, ...] = attrs.field(default=(), converter=_tuple)
    location: Hl7Location | None = None


@attrs.frozen
class ReferralAuthorization:
    """The payer's authorization for the referral, from the AUT segment (HL7 v2.5.1 11.6.2).

    Attributes:
        payer: AUT-2, the authorizing payer's company id (table 0285).
        plan: AUT-1, the payer's plan id (table 0072).
        payer_name: AUT-3, the payer's name.
        effective: AUT-4, the first day the authorization covers.
        expires: AUT-5, the last day it covers (inclusive, as on an authorization letter).
        identifier: AUT-6, the payer's authorization number.
        requested: AUT-8, treatments requested.
        authorized: AUT-9, treatments authorized.
        processed_at: AUT-10, when the payer processed it.
    """

    payer: CodeableConcept | None = None
    plan: CodeableConcept | None = None
    payer_name: str | None = None
    effective: Date | None = None
    expires: Date | None = None
    identifier: Identifier | None = None
    requested: int | None = None
    authorized: int | None = None
    processed_at: DateTime | None = attrs.field(default=None, eq=instant_key)

    @property
    def status(self) -> str:
        """The decision as `AuthorizationLink` names it, read from the treatment counts.

        HL7 v2.5.1 AUT has no decision field (v2.8 AUT-14 approval status is bound to a
        user-defined table), so: no authorized count (AUT-9) is ``requested``; zero is
        ``denied``; fewer than requested (AUT-8) is ``partial``; otherwise ``approved``.
        """
        if self.authorized is None:
            return "requested"
        if self.authorized == 0:
            return "denied"
        if self.requested is not None and self.authorized < self.requested:
            return "partial"
        return APPROVED

    def case_id(self, referral_id: str) -> str:
        """The authorization case id: stable over AUT-6, else over the referral's id."""
        if self.identifier is not None:
            ident = self.identifier
            return stable_id("AuthorizationCase", ident.system or "", ident.value)
        return stable_id("AuthorizationCase", "referral", referral_id)

    def approval(self, services: Sequence[CodeableConcept]) -> Approval | None:
        """The authorization as an `Approval` for ``check``, covering ``services``' codes.

        The codes are those of ``services`` (the PR1 procedures) in the code system of the
        first coding of the first service. The period runs from ``effective`` to the day
        after ``expires`` (`Approval` ends are exclusive); the units are the authorized
        treatments.

        Returns:
            ``None`` unless the status is ``approved`` or ``partial`` and the authorization
            number, both dates and at least one code are known.

        Raises:
            ValidationError: A code `Approval` cannot read as a code pattern.
        """
        if (
            self.status not in _COUNTED
            or self.identifier is None
            or self.effective is None
            or self.expires is None
        ):
            return None
        first = next((c for s in services for c in s.codings), None)
        if first is None:
            return None
        codes: list[str] = []
        for service in services:
            for coding in service.codings:
                if coding.system == first.system and coding.code not in codes:
                    codes.append(coding.code)
        return Approval(
            id=self.identifier.value,
            system=first.system,
            codes=tuple(codes),
            start=self.effective,
            end=self.expires.add(days=1),
            units=self.authorized,
        )


@attrs.frozen
class ReferralMessage:
    """A REF or RRI message read into domain values.

    Attributes:
        message_type: ``REF`` (from the referring side) or ``RRI`` (the response).
        trigger: ``I12`` referral, ``I13`` modification, ``I14`` cancellation, ``I15``
            status request.
        control_id: MSH-10.
        referral: The referral (see `read_ref` for each field's source).
        patient: The patient, from PID. Kept out of ``repr``.
        providers: The providers of the PRD segments, in order, with their roles.
        diagnoses: DG1-3 of each DG1.
        authorization: The AUT segment, if any.
        dispositions: RF1-4, what the referring provider asks the other to do (table 0282:
            AM assume management, RP return patient after evaluation, SO second opinion, WR
            send written report).
        setting: RF1-5, the referral category (table 0284: A ambulatory, E emergency, I
            inpatient, O outpatient): a care setting, not `ReferralCategory`.
        processed_at: RF1-9, when the referral was processed.
        notes: NTE-3 of the message-level NTE segments.
        ack_code: MSA-1 of an RRI (table 0008), if it carries one.
        acknowledged_id: MSA-2, the control id of the message answered.
    """

    message_type: str
    trigger: str
    control_id: str
    referral: Referral
    patient: Patient = attrs.field(repr=False)
    providers: tuple[ReferralProvider, ...] = attrs.field(default=(), converter=_tuple)
    diagnoses: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_tuple)
    authorization: ReferralAuthorization | None = None
    dispositions: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_tuple)
    setting: CodeableConcept | None = None
    processed_at: DateTime | None = attrs.field(default=None, eq=instant_key)
    notes: tuple[str, ...] = attrs.field(default=(), converter=_tuple, repr=False)
    ack_code: str | None = None
    acknowledged_id: str | None = None

    @property
    def practitioners(self) -> tuple[Practitioner, ...]:
        """The practitioners of `providers`, in order."""
        return tuple(p.practitioner for p in self.providers)

    @property
    def roles(self) -> dict[str, str]:
        """Practitioner id -> PRD-1 role code, for every provider."""
        return {p.practitioner.id: p.role for p in self.providers}

    @property
    def procedures(self) -> tuple[CodeableConcept, ...]:
        """PR1-3 of each PR1: the referral's requested services."""
        return self.referral.services

    def approval(self) -> Approval | None:
        """The authorization as an `Approval` for the procedures, or ``None`` without an AUT.

        See `ReferralAuthorization.approval`.
        """
        if self.authorization is None:
            return None
        return self.authorization.approval(self.referral.services)


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def _code(item: Item) -> str:
    return item.component(1).strip()


def _concepts(segment: Segment, field: int, default: str | None = None) -> list[CodeableConcept]:
    out = []
    for item in segment.items(field):
        concept = read_cwe(item, default_system=default)
        if concept is not None:
            out.append(concept)
    return out


def _identifier(item: Item, profile: SenderProfile, namespace_at: int) -> Identifier | None:
    """An EI/CX with the profile's system for its namespace, when one is configured."""
    ident = read_ei(item) if namespace_at == 2 else read_cx(item)
    if ident is None or not profile.systems:
        return ident
    namespace = item.component(2) if namespace_at == 2 else item.subcomponent(namespace_at, 1)
    return profile.resolve(ident, namespace)


def _instant(item: Item, profile: SenderProfile, *, end: bool = False) -> DateTime | None:
    """A TS as an instant; a date is its first moment in the sender's timezone.

    With ``end``, a date is the first moment of the next day (valid through that date).
    """
    time = read_ts(item, timezone=profile.timezone)
    if time is None:
        return None
    value = time.value
    if isinstance(value, DateTime):
        return value
    if profile.timezone is None:
        raise item.error("a time with a UTC offset, or a configured sender timezone")
    start = pendulum.datetime(value.year, value.month, value.day, tz=profile.timezone)
    return start.add(days=1) if end else start


def _date(item: Item, profile: SenderProfile) -> Date | None:
    time: Hl7Time | None = read_ts(item, timezone=profile.timezone)
    if time is None:
        return None
    value = time.value
    return Date(value.year, value.month, value.day)


def _count(item: Item) -> int | None:
    if not item:
        return None
    # NM in v2.5.1; CQ (number^units) from v2.7: the number is component 1.
    text = item.component(1)
    if not text.strip():
        return None
    number = parse_nm(text, at=item, component=1)
    if number != number.to_integral_value() or number < 0:
        raise item.error("a whole number of treatments, 0 or more", component=1)
    return int(number)


def _read_pln(item: Item) -> Identifier | None:
    """PLN (HL7 v2.5.1 2.A.52): PLN-1 id number, PLN-2 its type (table 0338).

    A type ``NPI`` gives the NPI system. PLN-3 (the state or other qualifier) and PLN-4
    (expiration date) are not kept.
    """
    if not item:
        return None
    value = item.component(1).strip()
    if not value:
        raise item.error("an ID number in component 1", component=1)
    kind = item.component(2).strip()
    concept = CodeableConcept((Coding(_T_PRACTITIONER_ID, kind),)) if kind else None
    return Identifier(value, NPI if kind == "NPI" else None, concept)


def _practitioner_id(ident: Identifier | None, scope: str, role: str, n: int) -> str:
    if ident is not None:
        kind = _pln_type(ident)
        return stable_id("Practitioner", ident.system or "", kind, ident.value)
    # No identifier: the practitioner is known only within this referral.
    return stable_id("Practitioner", "referral", scope, role, str(n))


def _pln_type(ident: Identifier) -> str:
    if ident.type is not None:
        code = next((c.code for c in ident.type.codings if c.system == _T_PRACTITIONER_ID), None)
        if code is not None:
            return code
    return "NPI" if ident.system == NPI else ""


def _read_provider(segment: Segment, scope: str, n: int) -> ReferralProvider:
    role_item = segment.item(1)
    role = _code(role_item)
    if not role:
        raise role_item.error("a provider role (HL7 table 0286) in component 1", component=1)
    identifiers = [i for i in (_read_pln(x) for x in segment.items(7)) if i is not None]
    names = [n for n in (read_xpn(x) for x in segment.items(2)) if n is not None]
    telecom = [t for t in (read_xtn(x) for x in segment.items(5)) if t is not None]
    addresses = [a for a in (read_xad(x) for x in segment.items(3)) if a is not None]
    practitioner = Practitioner(
        id=_practitioner_id(identifiers[0] if identifiers else None, scope, role, n),
        identifiers=identifiers,
        names=names,
        telecom=telecom,
    )
    return ReferralProvider(role, practitioner, addresses, read_pl(segment.item(4)))


def _read_authorization(aut: Segment, profile: SenderProfile) -> ReferralAuthorization:
    payer_name = aut.value(3).strip() or None
    return ReferralAuthorization(
        payer=read_cwe(aut.item(2), default_system=_T_PAYER),
        plan=read_cwe(aut.item(1), default_system=_T_PLAN),
        payer_name=payer_name,
        effective=_date(aut.item(4), profile),
        expires=_date(aut.item(5), profile),
        identifier=_identifier(aut.item(6), profile, 2),
        requested=_count(aut.item(8)),
        authorized=_count(aut.item(9)),
        processed_at=_instant(aut.item(10), profile),
    )


def _state(message_type: str, trigger: str, rf1: Segment) -> ReferralStatus:
    if trigger == "I14":
        return _CANCEL_STATE[message_type]
    item = rf1.item(1)
    code = _code(item) if item else "P"  # no status: as sent / as received
    table = _REF_STATE if message_type == "REF" else _RRI_STATE
    state = table.get(code)
    if state is None:
        raise item.error("a referral status of HL7 table 0283 (A, E, P, R)", component=1)
    return state


def _priority(rf1: Segment) -> ReferralPriority:
    item = rf1.item(2)
    if not item:
        return ReferralPriority.ROUTINE
    priority = _PRIORITY.get(_code(item))
    if priority is None:
        raise item.error("a referral priority of HL7 table 0280 (A, R, S)", component=1)
    return priority


def _validity(rf1: Segment, profile: SenderProfile) -> Interval | None:
    start = _instant(rf1.item(7), profile)
    end = _instant(rf1.item(8), profile, end=True)
    if start is None or end is None:
        return None
    if end < start:
        raise rf1.item(8).error("an expiration date at or after the effective date (RF1-7)")
    return Interval(start, end)


_GROUPED_NTE: Final = frozenset({"OBR", "OBX"})


def read_ref(message: Message, *, profile: SenderProfile) -> ReferralMessage:
    """Read a REF or RRI (I12-I15) message into a `ReferralMessage`.

    The referral (FHIR ReferralRequest/ServiceRequest "Mappings for HL7 v2"):

    * ``id``: stable over RF1-6, the originating referral identifier (the referring
      side's), else the first RF1-11 (external identifier): a REF and the RRI answering it
      give the same id. ``placer_id`` is RF1-6, ``filler_id`` the first RF1-11.
    * ``state`` from RF1-1 (table 0283) by the inverse of `RF1_STATUS`: P is ``sent`` in a
      REF and ``received`` in an RRI, A ``accepted``, R ``declined``, E ``expired``; no
      RF1-1 reads as P. An I14 is a cancellation whatever RF1-1 says: ``cancel-requested``
      in a REF, ``cancelled`` in an RRI.
    * ``priority`` from RF1-2 by the inverse of `RF1_PRIORITY` (A is ``asap``); none is
      ``routine``.
    * ``target``: specialty RF1-3 (referral type, table 0281, or the sender's codes), and
      the performer, the practitioner of the PRD whose PRD-1 is ``RT``.
    * ``requester``: the practitioner of the PRD whose PRD-1 is ``RP``.
    * ``reasons`` RF1-10 (table 0336); ``services`` PR1-3 of each PR1.
    * ``validity`` from RF1-7 (effective) to RF1-8 (expiration) when both are sent; a date
      without a time starts at 00:00 in the sender's timezone, and an expiration date is
      valid through its whole day.
    * ``category`` is always ``clinical``: RF1-5 is a care setting (`ReferralMessage.setting`).
    * With an AUT: ``authorization_required`` and ``authorization`` linking the case (id
      stable over AUT-6) with the status the counts give (`ReferralAuthorization.status`).

    The patient: ``id`` stable over the first PID-3, identifiers PID-3, names PID-5, birth
    date PID-7, sex PID-8 (v2-to-FHIR "Table HL70001 to Administrative Gender"; another code
    gives none), addresses PID-11, telecom PID-13, PID-14 and PID-40, language PID-15: read
    by `caredomain.adapters.hl7v2.adt.read_patient`, as in every message family.

    Args:
        message: The parsed message.
        profile: The sender's timezone (for times without an offset and dates) and
            identifier systems (for assigning authorities).

    Raises:
        Hl7ParseError: Not a REF/RRI I12-I15; no RF1, no referral identifier, no PID or
            PID-3, no referring provider, neither RF1-3 nor a referred-to provider; a code
            outside tables 0283, 0280 or 0001; a field not of its datatype.
    """
    segments = iter(message)
    msh = next(segments)
    message_type = msh.value(9, 1, 1).strip()
    trigger = msh.value(9, 1, 2).strip()
    if message_type not in _STRUCTURE or trigger not in _TRIGGERS:
        raise Hl7ParseError(_EXPECTED_TYPE, segment_index=1, segment_id="MSH", field=9)
    rf1 = pid = aut = msa = None
    prds: list[Segment] = []
    dg1s: list[Segment] = []
    pr1s: list[Segment] = []
    notes: list[str] = []
    previous = "MSH"
    for segment in segments:
        sid = segment.id
        if sid == "RF1":
            rf1 = rf1 or segment
        elif sid == "PRD":
            prds.append(segment)
        elif sid == "PID":
            pid = pid or segment
        elif sid == "AUT":
            # The message-level AUT comes before the PRDs (REF_I12.AUTHORIZATION_CONTACT);
            # without one, the first procedure's (REF_I12.PROCEDURE) is taken.
            aut = aut or segment
        elif sid == "DG1":
            dg1s.append(segment)
        elif sid == "PR1":
            pr1s.append(segment)
        elif sid == "MSA":
            msa = msa or segment
        elif sid == "NTE":
            if previous not in _GROUPED_NTE:
                notes.append(
                    "\n".join(
                        segment.value(3, r) for r in range(1, len(segment.repetitions(3)) + 1)
                    )
                )
            continue  # an NTE belongs to the segment before the NTE run
        previous = sid
    if rf1 is None:
        raise Hl7ParseError(f"an RF1 segment in a {message_type}^{trigger}")
    if pid is None:
        raise Hl7ParseError(f"a PID segment in a {message_type}^{trigger}")

    placer = _identifier(rf1.item(6), profile, 2)
    filler = _identifier(rf1.item(11), profile, 2)
    key = placer or filler
    if key is None:
        raise Hl7ParseError(
            "an originating referral identifier (RF1-6) or an external one (RF1-11)",
            segment_index=rf1.index,
            segment_id="RF1",
            field=6,
        )
    referral_id = stable_id("Referral", key.system or "", key.value)

    providers = [_read_provider(s, referral_id, n) for n, s in enumerate(prds, start=1)]
    requester = next((p for p in providers if p.role == REFERRING), None)
    if requester is None:
        raise Hl7ParseError(
            "a PRD segment whose PRD-1 is RP (the referring provider)",
            segment_index=prds[0].index if prds else None,
            segment_id="PRD",
            field=1,
        )
    performer = next((p for p in providers if p.role == REFERRED_TO), None)
    specialty = read_cwe(rf1.item(3), default_system=_T_TYPE)
    if specialty is None and performer is None:
        raise Hl7ParseError(
            "a referral type (RF1-3) or a PRD whose PRD-1 is RT (the provider referred to)",
            segment_index=rf1.index,
            segment_id="RF1",
            field=3,
        )

    authorization = _read_authorization(aut, profile) if aut is not None else None
    link = None
    if authorization is not None:
        link = AuthorizationLink(authorization.case_id(referral_id), authorization.status)

    patient = read_patient(pid, profile=profile)
    referral = Referral(
        id=referral_id,
        patient=Reference("Patient", id=patient.id, identifier=patient.identifiers[0]),
        requester=_reference(requester.practitioner),
        target=ReferralTarget(
            specialty=specialty,
            performer=_reference(performer.practitioner) if performer is not None else None,
        ),
        category=ReferralCategory.CLINICAL,
        priority=_priority(rf1),
        reasons=_concepts(rf1, 10, _T_REASON),
        services=[c for s in pr1s if (c := read_cwe(s.item(3))) is not None],
        placer_id=placer,
        filler_id=filler,
        authorization_required=authorization is not None,
        authorization=link,
        validity=_validity(rf1, profile),
        state=_state(message_type, trigger, rf1),
    )
    return ReferralMessage(
        message_type=message_type,
        trigger=trigger,
        control_id=msh.value(10),
        referral=referral,
        patient=patient,
        providers=providers,
        diagnoses=[c for s in dg1s if (c := read_cwe(s.item(3))) is not None],
        authorization=authorization,
        dispositions=_concepts(rf1, 4, _T_DISPOSITION),
        setting=read_cwe(rf1.item(5), default_system=_T_CATEGORY),
        processed_at=_instant(rf1.item(9), profile),
        notes=notes,
        ack_code=(msa.value(1).strip() or None) if msa is not None else None,
        acknowledged_id=(msa.value(2).strip() or None) if msa is not None else None,
    )


def _reference(practitioner: Practitioner) -> Reference:
    first = practitioner.identifiers[0] if practitioner.identifiers else None
    return Reference("Practitioner", id=practitioner.id, identifier=first)


# --------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------


def _cwe_writer(version: str) -> Callable[[CodeableConcept], str]:
    parts = version.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise ValidationError.at("version", "expected an HL7 version such as 2.5.1") from None
    # CE until v2.5.1; CWE from v2.6 (HL7 v2.6 chapter 2A: CE withdrawn from these fields).
    return write_cwe if (major, minor) >= (2, 6) else write_ce


def _coded(code: str, table: str) -> str:
    return components(escape(code), "", table)


def _write_pln(ident: Identifier) -> str:
    return components(escape(ident.value), escape(_pln_type(ident)))


def _build(
    message_type: str,
    referral: Referral,
    trigger: str,
    *,
    patient: Patient,
    providers: Sequence[ReferralProvider],
    diagnoses: Sequence[CodeableConcept],
    authorization: ReferralAuthorization | None,
    dispositions: Sequence[CodeableConcept],
    setting: CodeableConcept | None,
    processed_at: DateTime | None,
    notes: Sequence[str],
    control_id: str,
    now: DateTime,
    version: str,
    sender: tuple[str, str],
    receiver: tuple[str, str],
    ack: tuple[str, str] | None,
) -> str:
    if trigger not in _TRIGGERS:
        raise ValidationError.at("trigger", "expected I12, I13, I14 or I15")
    if referral.category is not ReferralCategory.CLINICAL:
        raise ValidationError.at(
            "Referral.category",
            "expected a clinical referral: HL7 v2 RF1-5 (table 0284) has no social-care category",
        )
    if not patient.identifiers:
        raise ValidationError.at("Patient.identifiers", "expected at least one, for PID-3")
    if referral.placer_id is None and referral.filler_id is None:
        raise ValidationError.at("Referral.placer_id", "expected a placer or filler id for RF1")
    coded = _cwe_writer(version)
    w = Writer()
    w.msh(
        message_type=message_type,
        trigger=trigger,
        structure=_STRUCTURE[message_type],
        control_id=control_id,
        at=ensure_aware(now, "now"),
        sending_application=sender[0],
        sending_facility=sender[1],
        receiving_application=receiver[0],
        receiving_facility=receiver[1],
        version=version,
    )
    if ack is not None:
        w.segment("MSA", escape(ack[0]), escape(ack[1]))
    status = RF1_STATUS[referral.state]
    validity = referral.validity
    w.segment(
        "RF1",
        _coded(status, "HL70283") if status else None,
        _coded(RF1_PRIORITY[referral.priority], "HL70280"),
        coded(referral.target.specialty) if referral.target.specialty else None,
        [coded(c) for c in dispositions],
        coded(setting) if setting is not None else None,
        write_ei(referral.placer_id) if referral.placer_id else None,
        write_ts(validity.start) if validity else None,
        write_ts(validity.end) if validity else None,
        write_ts(processed_at) if processed_at is not None else None,
        [coded(c) for c in referral.reasons],
        write_ei(referral.filler_id) if referral.filler_id else None,
    )
    if authorization is not None:
        a = authorization
        w.segment(
            "AUT",
            coded(a.plan) if a.plan else None,
            coded(a.payer) if a.payer else None,
            escape(a.payer_name or ""),
            write_ts(a.effective) if a.effective else None,
            write_ts(a.expires) if a.expires else None,
            write_ei(a.identifier) if a.identifier else None,
            None,
            write_nm(a.requested) if a.requested is not None else None,
            write_nm(a.authorized) if a.authorized is not None else None,
            write_ts(a.processed_at) if a.processed_at is not None else None,
        )
    for provider in providers:
        p = provider.practitioner
        w.segment(
            "PRD",
            _coded(provider.role, "HL70286"),
            [write_xpn(n) for n in p.names],
            [write_xad(x) for x in provider.addresses],
            write_pl(provider.location) if provider.location else None,
            [write_xtn(t) for t in p.telecom],
            None,
            [_write_pln(i) for i in p.identifiers],
        )
    w.segment("PID", *write_pid(patient))
    for n, concept in enumerate(diagnoses, start=1):
        # DG1-6 diagnosis type is required in v2.5.1; "W" working (table 0052).
        w.segment("DG1", str(n), None, coded(concept), None, None, "W")
    for n, concept in enumerate(referral.services, start=1):
        w.segment("PR1", str(n), None, coded(concept))
    for n, note in enumerate(notes, start=1):
        w.segment("NTE", str(n), None, escape(note))
    return w.text()


def build_ref(
    referral: Referral,
    trigger: str,
    *,
    patient: Patient,
    providers: Sequence[ReferralProvider],
    diagnoses: Sequence[CodeableConcept] = (),
    authorization: ReferralAuthorization | None = None,
    dispositions: Sequence[CodeableConcept] = (),
    setting: CodeableConcept | None = None,
    processed_at: DateTime | None = None,
    notes: Sequence[str] = (),
    control_id: str,
    now: DateTime,
    version: str = DEFAULT_VERSION,
    sender: tuple[str, str] = ("CAREDOMAIN", ""),
    receiver: tuple[str, str] = ("", ""),
) -> str:
    """Write a REF (the referring side's message) as ER7 text with CR terminators.

    Segments MSH, RF1, AUT, PRD per provider, PID, DG1 per diagnosis, PR1 per requested
    service (``referral.services``) and NTE per note; each field is the inverse of
    `read_ref`. RF1-1 is `RF1_STATUS` of the referral's state (empty for ``draft``,
    ``cancelled`` and ``entered-in-error``), RF1-2 `RF1_PRIORITY` (``urgent`` is sent as A).
    Codes are CE up to v2.5.1 and CWE from v2.6. Not written: the referral's documents,
    appointment, trail and other tracking state; the practitioners' specialties; the
    patient's language and timezone; PR1-5 (procedure date, required in v2.5.1: caredomain
    has none to send).

    Args:
        referral: The referral (its state gives RF1-1).
        trigger: ``I12``, ``I13``, ``I14`` or ``I15``.
        patient: The patient (PID), with at least one identifier.
        providers: The PRD segments: the referring (``RP``) and referred-to (``RT``)
            providers at least.
        diagnoses: DG1-3 of each DG1.
        authorization: The AUT segment.
        dispositions: RF1-4 (table 0282).
        setting: RF1-5 (table 0284).
        processed_at: RF1-9.
        notes: NTE-3 of each NTE.
        control_id: MSH-10.
        now: MSH-7 (aware).
        version: MSH-12.
        sender: MSH-3 and MSH-4 (application, facility).
        receiver: MSH-5 and MSH-6.

    Raises:
        ValidationError: An unknown trigger, a social-care referral (table 0284 has no such
            category), a patient without identifiers, a referral with neither placer nor
            filler id, a naive ``now``.
    """
    return _build(
        "REF",
        referral,
        trigger,
        patient=patient,
        providers=providers,
        diagnoses=diagnoses,
        authorization=authorization,
        dispositions=dispositions,
        setting=setting,
        processed_at=processed_at,
        notes=notes,
        control_id=control_id,
        now=now,
        version=version,
        sender=sender,
        receiver=receiver,
        ack=None,
    )


def build_rri(
    referral: Referral,
    trigger: str,
    *,
    patient: Patient,
    providers: Sequence[ReferralProvider],
    diagnoses: Sequence[CodeableConcept] = (),
    authorization: ReferralAuthorization | None = None,
    dispositions: Sequence[CodeableConcept] = (),
    setting: CodeableConcept | None = None,
    processed_at: DateTime | None = None,
    notes: Sequence[str] = (),
    control_id: str,
    now: DateTime,
    acknowledges: str | None = None,
    ack_code: str = "AA",
    version: str = DEFAULT_VERSION,
    sender: tuple[str, str] = ("CAREDOMAIN", ""),
    receiver: tuple[str, str] = ("", ""),
) -> str:
    """Write an RRI (the receiving side's response) as ER7 text with CR terminators.

    As `build_ref`, with an MSA after the MSH when ``acknowledges`` is given (MSA-1
    ``ack_code``, MSA-2 the REF's control id). The referral's state gives RF1-1: an
    ``accepted`` referral answers A, a ``declined`` one R.

    Args:
        referral: The referral as the receiving side sees it.
        trigger: ``I12``, ``I13``, ``I14`` or ``I15`` (the trigger of the REF answered).
        patient: The patient (PID).
        providers: The PRD segments.
        diagnoses: DG1-3 of each DG1.
        authorization: The AUT segment.
        dispositions: RF1-4.
        setting: RF1-5.
        processed_at: RF1-9.
        notes: NTE-3 of each NTE.
        control_id: MSH-10.
        now: MSH-7 (aware).
        acknowledges: MSA-2, the control id of the REF answered; no MSA without it.
        ack_code: MSA-1 (table 0008: AA, AE, AR).
        version: MSH-12.
        sender: MSH-3 and MSH-4.
        receiver: MSH-5 and MSH-6.

    Raises:
        ValidationError: As `build_ref`.
    """
    return _build(
        "RRI",
        referral,
        trigger,
        patient=patient,
        providers=providers,
        diagnoses=diagnoses,
        authorization=authorization,
        dispositions=dispositions,
        setting=setting,
        processed_at=processed_at,
        notes=notes,
        control_id=control_id,
        now=now,
        version=version,
        sender=sender,
        receiver=receiver,
        ack=(ack_code, acknowledges) if acknowledges is not None else None,
    )
