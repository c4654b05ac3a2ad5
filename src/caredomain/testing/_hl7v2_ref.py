"""Hypothesis strategies for HL7 v2 REF/RRI messages and the values they carry.

`ref_messages` draws a `ReferralMessage` of the shape `read_ref` produces (ids derived as
it derives them, codes, names, addresses and times that ER7 can carry), builds it with
`build_ref` or `build_rri`, and returns both: the ER7 text and the value that reading the
text must give back. Use it for round trips and to feed parsers valid REF/RRI text:

```python
from hypothesis import given
from caredomain.adapters.hl7v2 import parse
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.adapters.hl7v2.ref import read_ref
from caredomain.testing._hl7v2_ref import ref_messages

@given(ref_messages())
def test_round_trip(pair):
    text, expected = pair
    assert read_ref(parse(text), profile=SenderProfile()) == expected
```
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import pendulum
from hypothesis import strategies as st
from pendulum import Date, DateTime

from caredomain.adapters.hl7v2.datatypes import Hl7Location
from caredomain.adapters.hl7v2.ref import (
    REFERRED_TO,
    REFERRING,
    ReferralAuthorization,
    ReferralMessage,
    ReferralProvider,
    build_ref,
    build_rri,
)
from caredomain.core.codes import CPT, ICD_10_CM, LOINC, NPI, SNOMED_CT, CodeableConcept, Coding
from caredomain.core.codes import hl7_v2_table as _table
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.parties import (
    Address,
    AdministrativeGender,
    ContactPoint,
    ContactPointSystem,
    HumanName,
    Patient,
    Practitioner,
)
from caredomain.core.time import Interval
from caredomain.referrals.model import (
    AuthorizationLink,
    Referral,
    ReferralPriority,
    ReferralStatus,
    ReferralTarget,
)
from caredomain.testing.strategies import TIMEZONES

__all__ = [
    "ref_concepts",
    "ref_messages",
    "ref_names",
    "ref_providers",
]

# Letters, digits, spaces and every HL7 delimiter, so that escaping is exercised.
_TEXT_ALPHABET = st.characters(
    codec="utf-8", categories=("L", "N", "Zs"), include_characters="|^~\\&#.,'-/"
)
_ID_ALPHABET = "ABCDEFGHJKMNPQRTUVWXY0123456789-"
_S = ReferralStatus


def _text(max_size: int = 20) -> st.SearchStrategy[str]:
    return st.text(_TEXT_ALPHABET, min_size=1, max_size=max_size).filter(
        lambda s: s.strip() == s and s != "" and "  " not in s
    )


def _id_value() -> st.SearchStrategy[str]:
    return st.text(_ID_ALPHABET, min_size=1, max_size=16).filter(lambda s: s.strip("-") == s)


def _systems() -> st.SearchStrategy[str | None]:
    """Identifier systems an EI/CX carries: none, a local namespace, an OID, a URI."""
    return st.sampled_from((None, "LPC", "urn:oid:2.16.840.1.113883.3.999.1", "http://ids.test/r"))


def _entity_ids() -> st.SearchStrategy[Identifier]:
    """EI identifiers (EI has no identifier type)."""
    return st.builds(Identifier, value=_id_value(), system=_systems())


def _patient_ids() -> st.SearchStrategy[Identifier]:
    """CX identifiers, with a table 0203 type sometimes."""
    return st.builds(
        Identifier,
        value=_id_value(),
        system=_systems(),
        type=st.none() | st.sampled_from(("MR", "MB", "SS")).map(lambda c: _concept(203, c)),
    )


def _concept(table: int, code: str) -> CodeableConcept:
    return CodeableConcept((Coding(_table(table), code),))


def ref_concepts(
    systems: tuple[str, ...] = (CPT, ICD_10_CM, SNOMED_CT, LOINC),
) -> st.SearchStrategy[CodeableConcept]:
    """Concepts a CE carries: one or two codings with displays, or only a text."""
    coding = st.builds(
        Coding,
        system=st.sampled_from(systems),
        code=st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789.", min_size=1, max_size=8).filter(
            lambda s: s.strip(".") == s
        ),
        display=st.none() | _text(),
    )
    coded = st.lists(coding, min_size=1, max_size=2).map(lambda cs: CodeableConcept(tuple(cs)))
    return coded | st.builds(CodeableConcept, text=_text())


def ref_names() -> st.SearchStrategy[HumanName]:
    """Names an XPN carries (two given names at most, one prefix, three suffixes)."""
    return st.builds(
        HumanName,
        family=_text(),
        given=st.lists(_text(), max_size=2).map(tuple),
        prefix=st.lists(st.sampled_from(("Dr", "Ms")), max_size=1).map(tuple),
        suffix=st.lists(st.sampled_from(("Jr", "MD", "PhD")), max_size=3).map(tuple),
        use=st.none() | st.sampled_from(("official", "usual", "maiden", "nickname")),
    )


def _addresses() -> st.SearchStrategy[Address]:
    return st.builds(
        Address,
        lines=st.lists(_text(), min_size=1, max_size=2).map(tuple),
        city=st.none() | _text(),
        state=st.none() | st.sampled_from(("IL", "TX")),
        postal_code=st.none() | st.sampled_from(("60610", "73301-0001")),
        country=st.none() | st.just("USA"),
        use=st.none() | st.sampled_from(("home", "work", "temp")),
    )


def _telecom(*, patient: bool = False) -> st.SearchStrategy[ContactPoint]:
    # A patient's PID-13 number sent without a use reads as "home" (IG "PID[Patient]"), so
    # a patient's numbers always carry one.
    uses = st.sampled_from(("home", "work", "mobile"))
    return st.builds(
        ContactPoint,
        system=st.sampled_from(
            (ContactPointSystem.PHONE, ContactPointSystem.FAX, ContactPointSystem.EMAIL)
        ),
        value=st.sampled_from(("+1 312 5550160", "3125550161", "office@clinic.test")),
        use=uses if patient else st.none() | uses,
        rank=st.none() | st.integers(1, 3),
    )


def _pln_ids() -> st.SearchStrategy[Identifier]:
    """PLN identifiers: a type of table 0338 (or NPI, which gives the NPI system) or none."""

    def build(value: str, kind: str | None) -> Identifier:
        if kind is None:
            return Identifier(value)
        return Identifier(value, NPI if kind == "NPI" else None, _concept(338, kind))

    return st.builds(build, _id_value(), st.none() | st.sampled_from(("NPI", "UPIN", "SL", "PRN")))


def _pln_type(ident: Identifier) -> str:
    if ident.type is None:
        return ""
    return ident.type.codings[0].code


def ref_providers(role: str, *, scope: str, n: int) -> st.SearchStrategy[ReferralProvider]:
    """A PRD's provider in ``role``, with the id `read_ref` derives for it.

    Args:
        role: PRD-1 (table 0286).
        scope: The referral id (practitioners without an identifier are scoped to it).
        n: The PRD's 1-based position among the message's PRDs.
    """

    @st.composite
    def build(draw: st.DrawFn) -> ReferralProvider:
        identifiers = tuple(draw(st.lists(_pln_ids(), max_size=2)))
        if identifiers:
            first = identifiers[0]
            pid = stable_id("Practitioner", first.system or "", _pln_type(first), first.value)
        else:
            pid = stable_id("Practitioner", "referral", scope, role, str(n))
        practitioner = Practitioner(
            id=pid,
            identifiers=identifiers,
            names=tuple(draw(st.lists(ref_names(), max_size=2))),
            telecom=tuple(draw(st.lists(_telecom(), max_size=2))),
        )
        location = draw(
            st.none()
            | st.builds(
                Hl7Location,
                point_of_care=st.sampled_from(("LPC", "CARD")),
                facility=st.none() | st.just("LMH"),
            )
        )
        addresses = tuple(draw(st.lists(_addresses(), max_size=1)))
        return ReferralProvider(role, practitioner, addresses, location)

    return build()


def _instants() -> st.SearchStrategy[DateTime]:
    """Aware times to the second (TS carries no more in caredomain's writer)."""

    @st.composite
    def build(draw: st.DrawFn) -> DateTime:
        naive = draw(
            st.datetimes(
                min_value=_dt.datetime(1990, 1, 1), max_value=_dt.datetime(2090, 1, 1)
            ).map(lambda d: d.replace(microsecond=0))
        )
        zone = draw(st.sampled_from(TIMEZONES))
        return pendulum.instance(naive.replace(tzinfo=_dt.UTC)).in_tz(zone)

    return build()


def _dates() -> st.SearchStrategy[Date]:
    return st.dates(_dt.date(1990, 1, 1), _dt.date(2090, 1, 1)).map(
        lambda d: Date(d.year, d.month, d.day)
    )


def _authorizations() -> st.SearchStrategy[ReferralAuthorization]:
    @st.composite
    def build(draw: st.DrawFn) -> ReferralAuthorization:
        effective = draw(st.none() | _dates())
        expires = None
        if effective is not None and draw(st.booleans()):
            expires = effective.add(days=draw(st.integers(0, 400)))
        return ReferralAuthorization(
            payer=draw(st.none() | ref_concepts((_table(285),))),
            plan=draw(st.none() | ref_concepts((_table(72),))),
            payer_name=draw(st.none() | _text()),
            effective=effective,
            expires=expires,
            identifier=draw(st.none() | _entity_ids()),
            requested=draw(st.none() | st.integers(0, 30)),
            authorized=draw(st.none() | st.integers(0, 30)),
            processed_at=draw(st.none() | _instants()),
        )

    return build()


def _states(message_type: str, trigger: str) -> st.SearchStrategy[ReferralStatus]:
    if trigger == "I14":
        return st.just(_S.CANCEL_REQUESTED if message_type == "REF" else _S.CANCELLED)
    pending = _S.SENT if message_type == "REF" else _S.RECEIVED
    return st.sampled_from((pending, _S.ACCEPTED, _S.DECLINED, _S.EXPIRED))


def _reference(practitioner: Practitioner) -> Reference:
    first = practitioner.identifiers[0] if practitioner.identifiers else None
    return Reference("Practitioner", id=practitioner.id, identifier=first)


def ref_messages(
    message_types: tuple[str, ...] = ("REF", "RRI"),
) -> st.SearchStrategy[tuple[str, ReferralMessage]]:
    """Valid REF or RRI (I12-I15) messages as ER7 text, each with the value it reads as.

    The text is read with an empty ``SenderProfile()``: every time carries its offset.

    Args:
        message_types: Which of ``REF`` and ``RRI`` to draw.
    """
    return _ref_messages(message_types)


@st.composite
def _ref_messages(draw: st.DrawFn, message_types: tuple[str, ...]) -> tuple[str, ReferralMessage]:
    message_type = draw(st.sampled_from(message_types))
    trigger = draw(st.sampled_from(("I12", "I13", "I14", "I15")))
    placer = draw(st.none() | _entity_ids())
    filler = draw(_entity_ids() if placer is None else st.none() | _entity_ids())
    key = placer or filler
    assert key is not None
    referral_id = stable_id("Referral", key.system or "", key.value)

    patient_ids = tuple(draw(st.lists(_patient_ids(), min_size=1, max_size=2)))
    first = patient_ids[0]
    patient = Patient(
        id=stable_id("Patient", first.system or "", first.value),
        identifiers=patient_ids,
        names=tuple(draw(st.lists(ref_names(), max_size=2))),
        birth_date=draw(st.none() | _dates()),
        sex=draw(st.none() | st.sampled_from(AdministrativeGender)),
        telecom=tuple(draw(st.lists(_telecom(patient=True), max_size=1))),
        addresses=tuple(draw(st.lists(_addresses(), max_size=1))),
    )

    roles = [REFERRING, *draw(st.lists(st.sampled_from((REFERRED_TO, "CP", "PP")), max_size=2))]
    roles = draw(st.permutations(roles))
    providers = tuple(
        draw(ref_providers(role, scope=referral_id, n=n)) for n, role in enumerate(roles, start=1)
    )
    requester = next(p for p in providers if p.role == REFERRING)
    performer = next((p for p in providers if p.role == REFERRED_TO), None)
    specialty = draw(
        ref_concepts((_table(281),)) if performer is None else st.none() | ref_concepts()
    )

    authorization = draw(st.none() | _authorizations())
    validity = None
    if draw(st.booleans()):
        start = draw(_instants())
        length = draw(st.integers(0, 400 * 86400))
        validity = Interval(start, start.add(seconds=length))
    referral = Referral(
        id=referral_id,
        patient=Reference("Patient", id=patient.id, identifier=first),
        requester=_reference(requester.practitioner),
        target=ReferralTarget(
            specialty=specialty,
            performer=_reference(performer.practitioner) if performer is not None else None,
        ),
        priority=draw(
            st.sampled_from(
                (ReferralPriority.ROUTINE, ReferralPriority.ASAP, ReferralPriority.STAT)
            )
        ),
        reasons=tuple(draw(st.lists(ref_concepts((_table(336),)), max_size=2))),
        services=tuple(draw(st.lists(ref_concepts(), max_size=3))),
        placer_id=placer,
        filler_id=filler,
        authorization_required=authorization is not None,
        authorization=(
            AuthorizationLink(authorization.case_id(referral_id), authorization.status)
            if authorization is not None
            else None
        ),
        validity=validity,
        state=draw(_states(message_type, trigger)),
    )
    control_id = draw(st.text("ABCDEFGHJKMNPQRTUVWXY0123456789", min_size=1, max_size=20))
    ack = draw(st.none() | st.tuples(st.sampled_from(("AA", "AE", "AR")), _id_value()))
    if message_type == "REF":
        ack = None
    expected = ReferralMessage(
        message_type=message_type,
        trigger=trigger,
        control_id=control_id,
        referral=referral,
        patient=patient,
        providers=providers,
        diagnoses=tuple(draw(st.lists(ref_concepts((ICD_10_CM,)), max_size=2))),
        authorization=authorization,
        dispositions=tuple(draw(st.lists(ref_concepts((_table(282),)), max_size=2))),
        setting=draw(st.none() | ref_concepts((_table(284),))),
        processed_at=draw(st.none() | _instants()),
        notes=tuple(draw(st.lists(_text(60), max_size=2))),
        ack_code=ack[0] if ack else None,
        acknowledged_id=ack[1] if ack else None,
    )
    now = draw(_instants())
    version = draw(st.sampled_from(("2.5.1", "2.6", "2.8")))
    shared: dict[str, Any] = {
        "patient": patient,
        "providers": providers,
        "diagnoses": expected.diagnoses,
        "authorization": authorization,
        "dispositions": expected.dispositions,
        "setting": expected.setting,
        "processed_at": expected.processed_at,
        "notes": expected.notes,
        "control_id": control_id,
        "now": now,
        "version": version,
    }
    if message_type == "REF":
        text = build_ref(referral, trigger, **shared)
    else:
        text = build_rri(
            referral,
            trigger,
            acknowledges=ack[1] if ack else None,
            ack_code=ack[0] if ack else "AA",
            **shared,
        )
    return text, expected
