"""ORU^R01 observation results (HL7 v2 chapter 7) read as domain values.

`read_oru` maps an unsolicited result message to a `ResultMessage`: the `Patient` (PID,
read by `caredomain.adapters.hl7v2.adt.read_patient`), and per OBR a `ResultOrder` holding
its OBX results as `ObservationResult` values. `ResultMessage.monitored` hands the
vital signs and labs the care-plan monitor watches to it as `careplans.Observation` values.

Rules of this module:

1. Mappings follow the HL7 Version 2 to FHIR IG (HL7 International, STU 1): segment maps
   "OBX[Observation]" and "OBR[DiagnosticReport]", datatype maps "SN[Quantity]",
   "SN[Range]", "SN[Ratio]", vocabulary maps "Table HL70078 to V3 ObservationInterpretation",
   "Table HL70085 to Observation Status" and "ResultStatus[Non-Queries]" (table 0123).
   Departures are written next to the code that makes them. Each OBX is read by
   `caredomain.adapters.hl7v2._obx.read_obx`, which ADT messages share.
2. Segments are walked once, in order, by id: an OBR starts an order, an OBX belongs to the
   last OBR, an NTE to the last OBX (else to the OBR). Lenient: OBX segments before any OBR
   are kept in an order without OBR fields; other segments (ORC, SPM, Z-segments) are
   skipped. No hl7apy object is built.
3. Ids are derived with `stable_id`, so the same message always maps to the same values.
4. Errors are `Hl7ParseError` at a segment/field position saying what was expected, never
   with field content.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import attrs
from pendulum import DateTime

from caredomain.adapters.hl7v2._message import Hl7ParseError, Message, Segment
from caredomain.adapters.hl7v2._obx import (
    LAB_SECTIONS,
    VITAL_SIGNS,
    ReadContext,
    local_id,
    read_note,
    read_obx,
)
from caredomain.adapters.hl7v2.adt import read_patient
from caredomain.adapters.hl7v2.datatypes import read_ei
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.careplans.model import Observation, observation_from_result
from caredomain.core.codes import CodeableConcept
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.parties import Patient
from caredomain.core.results import ObservationResult

__all__ = [
    "LAB_SECTIONS",
    "VITAL_SIGNS",
    "ResultMessage",
    "ResultOrder",
    "read_oru",
]

_EXPECTED_TYPE: Final = "ORU^R01"

# "ResultStatus[Non-Queries]" (table 0123 -> FHIR diagnostic-report-status): A, M, N, Y and Z
# have no target in the IG.
_REPORT_STATUS: Final[dict[str, str]] = {
    "O": "registered",
    "I": "registered",
    "S": "registered",
    "P": "preliminary",
    "C": "corrected",
    "R": "partial",
    "F": "final",
    "X": "cancelled",
}


@attrs.frozen
class ResultOrder:
    """One OBR (the IG's "OBR[DiagnosticReport]") with the results reported under it.

    Attributes:
        placer_order: OBR-2, the placer order number (EI), if sent.
        filler_order: OBR-3, the filler order number (EI), if sent.
        service: OBR-4, the universal service identifier (what was ordered).
        observed_at: OBR-7, the observation (specimen collection) time, aware.
        reported_at: OBR-22, when the results were reported or last changed, aware.
        result_status: OBR-25, the HL7 table 0123 code as sent (``F``, ``P``, ``C``...).
        service_section: OBR-24, the diagnostic service section (table 0074: ``CH``...).
        notes: NTE-3 of the NTE segments that follow the OBR before any OBX.
        results: The OBX results of the order, in order.
    """

    placer_order: Identifier | None = None
    filler_order: Identifier | None = None
    service: CodeableConcept | None = None
    observed_at: DateTime | None = None
    reported_at: DateTime | None = None
    result_status: str | None = None
    service_section: str | None = None
    notes: tuple[str, ...] = attrs.field(default=(), repr=False)
    results: tuple[ObservationResult, ...] = ()

    @property
    def report_status(self) -> str | None:
        """OBR-25 as a FHIR ``diagnostic-report-status`` (IG "ResultStatus[Non-Queries]").

        None when not sent or when the IG gives no target (A, M, N, Y, Z).
        """
        return _REPORT_STATUS.get(self.result_status or "")


@attrs.frozen
class ResultMessage:
    """One ORU^R01 message read as domain values.

    Attributes:
        trigger: The trigger event (``"R01"``), MSH-9.2.
        control_id: MSH-10, the message control id (for the ACK).
        patient: The patient (PID).
        orders: The orders (OBR groups), in order.
    """

    trigger: str
    control_id: str
    patient: Patient = attrs.field(repr=False)
    orders: tuple[ResultOrder, ...] = ()

    @property
    def results(self) -> tuple[ObservationResult, ...]:
        """Every result of every order, in message order."""
        return tuple(r for order in self.orders for r in order.results)

    def monitored(self) -> tuple[Observation, ...]:
        """The results the care-plan monitor watches, as its `Observation` values.

        Each result goes through `caredomain.careplans.observation_from_result`: a final,
        amended or corrected plain quantity with an effective time and a LOINC code in
        `caredomain.careplans.MEASURES` (body weight in ``kg`` or ``[lb_av]``; systolic
        8480-6 and diastolic 8462-4 blood pressure as separate single-value observations,
        as their OBX segments are); the others are left out.

        Raises:
            UnitError: A watched code with a unit not of its measure (a weight in mm[Hg]).
        """
        found = (observation_from_result(r) for r in self.results)
        return tuple(o for o in found if o is not None)


# --------------------------------------------------------------------------------------
# The one pass
# --------------------------------------------------------------------------------------


class _Order:
    """An order being read: its OBR fields and the results and notes gathered so far."""

    __slots__ = ("index", "key", "notes", "obr", "order", "results", "seen")

    def __init__(self, obr: Segment | None, index: int, control_id: str, ctx: ReadContext) -> None:
        self.obr = obr
        self.index = index
        self.notes: list[str] = []
        self.results: list[_Result] = []
        self.seen: set[str] = set()
        if obr is None:
            self.order = ResultOrder()
            self.key: tuple[str, ...] = (control_id, str(index))
            return
        placer = read_ei(obr.item(2))
        filler = read_ei(obr.item(3))
        service = ctx.concept(obr.item(4))
        self.order = ResultOrder(
            placer_order=placer,
            filler_order=filler,
            service=service,
            observed_at=ctx.instant(obr.item(7)),
            reported_at=ctx.instant(obr.item(22)),
            result_status=obr.value(25, 1, 1).strip() or None,
            service_section=obr.value(24, 1, 1).strip() or None,
        )
        # The results' ids are scoped by the filler order number, else the placer's, else
        # the message control id and the order's position.
        business = filler or placer
        if business is not None:
            self.key = (business.system or "", business.value)
        else:
            self.key = (control_id, str(index))


class _Result:
    """An OBX being read: the segment, its id, and its notes."""

    __slots__ = ("id", "notes", "obx")

    def __init__(self, obx: Segment, result_id: str) -> None:
        self.obx = obx
        self.id = result_id
        self.notes: list[str] = []


def _result(
    pending: _Result, order: _Order, patient: Reference, ctx: ReadContext
) -> ObservationResult:
    fields = order.order
    return read_obx(
        pending.obx,
        result_id=pending.id,
        patient=patient,
        context=ctx,
        notes=pending.notes,
        effective=fields.observed_at,
        issued=fields.reported_at,
        section=fields.service_section,
    )


def _finish(order: _Order, patient: Reference, ctx: ReadContext) -> ResultOrder:
    results = tuple(_result(r, order, patient, ctx) for r in order.results)
    return attrs.evolve(order.order, notes=tuple(order.notes), results=results)


def read_oru(message: Message, *, profile: SenderProfile) -> ResultMessage:
    """Read an ORU^R01 message as domain values.

    Per OBX (IG "OBX[Observation]"):

    * code: OBX-3 (CWE); value: OBX-5 by its type OBX-2 (table 0125): NM a Quantity in the
      OBX-6 unit (UCUM; none is ``1``), SN a Quantity with comparator (``>^200``), a Range
      (``^10^-^20``) or a Ratio (``^1^:^128``) by the IG's SN maps, else text; CE, CWE,
      CNE, CF a CodeableConcept; ST, TX, FT text (repetitions joined by line breaks); NR a
      Range; ED, RP, NA, MA, EI not read; anything else the text as sent;
    * reference range: OBX-7 (``3.5-5.0``, ``<200``, ``>60`` as limits in the OBX-6 unit,
      else text); interpretation: OBX-8 by "Table HL70078 to V3 ObservationInterpretation";
    * status: OBX-11 by "Table HL70085 to Observation Status" (A amended, C corrected, D
      and W entered-in-error, F final, P preliminary, X cancelled; the codes the IG leaves
      unmatched, and none, unknown);
    * effective: OBX-14, else the order's OBR-7; issued: OBX-19, else OBR-22;
    * category: ``vital-signs`` when OBX-3 has a LOINC code of `VITAL_SIGNS`, else
      ``laboratory`` when OBR-24 is one of `LAB_SECTIONS`, else none;
    * notes: NTE-3 of the NTE segments that follow the OBX; identifiers: OBX-21.

    A result's id is ``stable_id("Observation", system, value, set id)`` of the order's
    filler order number (else placer order number) and OBX-1; without either order
    number, the message control id and the order's position stand for it; without an
    OBX-1 (or with one already used in the order), the OBX's position in the order does.

    Raises:
        Hl7ParseError: Not an ORU^R01 (at MSH-9), no PID or more than one, no identifier
            in PID-3, an OBX without OBX-3, a field not of its datatype, or a time without
            an offset and no sender timezone.
    """
    segments: Iterator[Segment] = iter(message)
    msh = next(segments)
    trigger = msh.value(9, 1, 2).strip().upper()
    if msh.value(9, 1, 1).strip().upper() != "ORU" or trigger != "R01":
        raise Hl7ParseError(_EXPECTED_TYPE, segment_index=msh.index, segment_id="MSH", field=9)
    control_id = message.control_id
    ctx = ReadContext(profile)

    patient: Patient | None = None
    orders: list[_Order] = []
    order: _Order | None = None
    last: _Result | None = None
    for segment in segments:
        sid = segment.id
        if sid == "OBX":
            if order is None:
                order = _Order(None, len(orders) + 1, control_id, ctx)
                orders.append(order)
            local = local_id(segment, len(order.results) + 1, order.seen)
            last = _Result(segment, stable_id("Observation", *order.key, local))
            order.results.append(last)
        elif sid == "NTE":
            note = read_note(segment)
            if note is not None:
                if last is not None:
                    last.notes.append(note)
                elif order is not None:
                    order.notes.append(note)
        elif sid == "OBR":
            order = _Order(segment, len(orders) + 1, control_id, ctx)
            orders.append(order)
            last = None
        elif sid == "PID":
            if patient is not None:
                raise Hl7ParseError(
                    "one patient per ORU^R01 (a single PID segment)",
                    segment_index=segment.index,
                    segment_id="PID",
                )
            patient = read_patient(segment, profile=profile)
    if patient is None:
        raise Hl7ParseError("a PID segment", segment_id="PID")
    subject = Reference("Patient", id=patient.id)
    return ResultMessage(
        trigger=trigger,
        control_id=control_id,
        patient=patient,
        orders=tuple(_finish(o, subject, ctx) for o in orders),
    )
