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
   Departures are written next to the code that makes them.
2. Segments are walked once, in order, by id: an OBR starts an order, an OBX belongs to the
   last OBR, an NTE to the last OBX (else to the OBR). Lenient: OBX segments before any OBR
   are kept in an order without OBR fields; other segments (ORC, SPM, Z-segments) are
   skipped. No hl7apy object is built.
3. Ids are derived with `stable_id`, so the same message always maps to the same values.
4. Errors are `Hl7ParseError` at a segment/field position saying what was expected, never
   with field content.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Final

import attrs
import pendulum
from pendulum import DateTime

from caredomain.adapters.hl7v2._message import Hl7ParseError, Item, Message, Segment
from caredomain.adapters.hl7v2.adt import read_patient
from caredomain.adapters.hl7v2.datatypes import (
    parse_nm,
    read_cwe,
    read_ei,
    read_nm,
    read_sn,
    read_ts,
)
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.careplans.model import Observation, observation_from_result
from caredomain.core.codes import (
    FHIR_OBSERVATION_CATEGORY,
    LOINC,
    CodeableConcept,
    Coding,
    hl7_v2_table,
)
from caredomain.core.errors import CareDomainError
from caredomain.core.identity import Identifier, Reference, stable_id
from caredomain.core.parties import Patient
from caredomain.core.quantities import Quantity
from caredomain.core.results import (
    COMPARATORS,
    INTERPRETATION,
    ObservationResult,
    Range,
    Ratio,
    ReferenceRange,
    ResultStatus,
)

__all__ = [
    "LAB_SECTIONS",
    "VITAL_SIGNS",
    "ResultMessage",
    "ResultOrder",
    "read_oru",
]

_EXPECTED_TYPE: Final = "ORU^R01"

VITAL_SIGNS: Final = frozenset(
    {
        "85353-1",  # vital signs panel
        "9279-1",  # respiratory rate
        "8867-4",  # heart rate
        "2708-6",  # oxygen saturation in arterial blood
        "59408-5",  # oxygen saturation by pulse oximetry
        "8310-5",  # body temperature
        "8302-2",  # body height
        "9843-4",  # head occipital-frontal circumference
        "29463-7",  # body weight
        "39156-5",  # body mass index
        "85354-9",  # blood pressure panel
        "8480-6",  # systolic blood pressure
        "8462-4",  # diastolic blood pressure
    }
)
"""LOINC codes of the FHIR R4 vital signs profiles (the "Vital Signs" table of
http://hl7.org/fhir/R4/observation-vitalsigns.html): an OBX with one of them is categorized
``vital-signs``."""

LAB_SECTIONS: Final = frozenset(
    {
        "BG",  # blood gases
        "BLB",  # blood bank
        "CH",  # chemistry
        "CP",  # cytopathology
        "HM",  # hematology
        "IMM",  # immunology
        "LAB",  # laboratory
        "MB",  # microbiology
        "MCB",  # mycobacteriology
        "MYC",  # mycology
        "GE",  # genetics (v2.8)
        "OSL",  # outside lab
        "SP",  # surgical pathology
        "SR",  # serology
        "TX",  # toxicology
        "VR",  # virology
    }
)
"""OBR-24 diagnostic service sections (HL7 table 0074, v2.5.1; GE from v2.8) that are
laboratory work: the OBX results of such an order are categorized ``laboratory``."""

_VITAL_SIGNS_CATEGORY: Final = CodeableConcept(
    (Coding(FHIR_OBSERVATION_CATEGORY, "vital-signs", "Vital Signs"),)
)
_LABORATORY_CATEGORY: Final = CodeableConcept(
    (Coding(FHIR_OBSERVATION_CATEGORY, "laboratory", "Laboratory"),)
)

_R = ResultStatus
# ConceptMap "Table HL70085 to Observation Status" (table-hl70085-to-observation-status).
# B, I, N, O, R, S, U and V are "unmatched" in the IG: they read as unknown, as does no status.
_STATUS: Final[dict[str, ResultStatus]] = {
    "A": _R.AMENDED,
    "C": _R.CORRECTED,
    "D": _R.ENTERED_IN_ERROR,
    "F": _R.FINAL,
    "P": _R.PRELIMINARY,
    "X": _R.CANCELLED,
    "W": _R.ENTERED_IN_ERROR,
}

# ConceptMap "Table HL70078 to V3 ObservationInterpretation": each code maps to the same code
# in v3 ObservationInterpretation (displays as the IG gives them). AC, HM, OBX, QCF and TOX
# are "unmatched": they are kept as HL7 table 0078 codings, so that no flag is lost.
_INTERPRETATION_DISPLAY: Final[dict[str, str]] = {
    "<": "Off scale low",
    ">": "Off scale high",
    "A": "Abnormal",
    "AA": "Critical abnormal",
    "B": "Better",
    "CAR": "Carrier",
    "D": "Significant change down",
    "DET": "Detected",
    "E": "Equivocal",
    "EX": "outside threshold",
    "EXP": "Expected",
    "H": "High",
    "HH": "Critical high",
    "HU": "Significantly high",
    "I": "Intermediate",
    "IE": "Insufficient evidence",
    "IND": "Indeterminate",
    "L": "Low",
    "LL": "Critical low",
    "LU": "Significantly low",
    "MS": "moderately susceptible",
    "N": "Normal",
    "NCL": "No CLSI defined breakpoint",
    "ND": "Not detected",
    "NEG": "Negative",
    "NR": "Non-reactive",
    "NS": "Non-susceptible",
    "POS": "Positive",
    "R": "Resistant",
    "RR": "Reactive",
    "S": "Susceptible",
    "SDD": "Susceptible-dose dependent",
    "SYN-R": "Synergy - resistant",
    "SYN-S": "Synergy - susceptible",
    "U": "Significant change up",
    "UNE": "Unexpected",
    "VS": "very susceptible",
    "W": "Worse",
    "WR": "Weakly reactive",
}
_INTERPRETATION: Final[dict[str, CodeableConcept]] = {
    code: CodeableConcept((Coding(INTERPRETATION, code, display),))
    for code, display in _INTERPRETATION_DISPLAY.items()
}

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

# OBX-6 coding systems whose codes are UCUM units (HL7 table 0396: UCUM; ISO+ and ANSI+ are
# the older unit systems whose codes UCUM took over), as datatypes.read_cq reads CQ-2.
_UNIT_SYSTEMS: Final = frozenset({"UCUM", "ISO+", "ANSI+", "HTTP://UNITSOFMEASURE.ORG"})
_TEXT_TYPES: Final = frozenset({"ST", "TX", "FT"})
_CODED_TYPES: Final = frozenset({"CE", "CWE", "CNE", "CF"})
# Attachments, waveforms and references (ED, RP, NA, MA, EI) are documents or device data,
# not results a value can hold: their OBX-5 is not read (the result has no value).
_SKIPPED_TYPES: Final = frozenset({"ED", "RP", "NA", "MA", "EI"})
# OBX-7: "low-high", "<high", "<=high", ">low", ">=low" (numbers as NM, spaces allowed).
_NUMBER: Final = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_RANGE: Final = re.compile(rf"\s*({_NUMBER})\s*-\s*({_NUMBER})\s*", re.ASCII)
_BOUND: Final = re.compile(rf"\s*([<>]=?)\s*({_NUMBER})\s*", re.ASCII)


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
# Field readers
# --------------------------------------------------------------------------------------


class _Context:
    """One read's configuration and caches: the same TS or CWE text read once per message.

    Only successful reads are cached, so an error is always raised at its own position.
    """

    __slots__ = ("concepts", "profile", "times")

    def __init__(self, profile: SenderProfile) -> None:
        self.profile = profile
        self.times: dict[str, DateTime | None] = {}
        self.concepts: dict[str, CodeableConcept | None] = {}

    def instant(self, item: Item) -> DateTime | None:
        """A TS/DTM as an aware DateTime; a date alone is the start of that day locally.

        Raises:
            Hl7ParseError: Not a TS, or a time (or date) without an offset and no sender
                timezone in the profile.
        """
        text = item.text
        if text in self.times:
            return self.times[text]
        timezone = self.profile.timezone
        time = read_ts(item, timezone=timezone)
        value: DateTime | None = None
        if time is not None:
            if isinstance(time.value, DateTime):
                value = time.value
            elif timezone is None:
                raise item.error("a date/time with a UTC offset or a configured sender timezone")
            else:
                day = time.value
                value = pendulum.datetime(day.year, day.month, day.day, tz=timezone)
        self.times[text] = value
        return value

    def concept(self, item: Item) -> CodeableConcept | None:
        """A CE/CWE/CNE (see `datatypes.read_cwe`)."""
        text = item.text
        if text in self.concepts:
            return self.concepts[text]
        value = self.concepts[text] = read_cwe(item)
        return value


def _unit(obx: Segment) -> str:
    """OBX-6 as a UCUM code: CWE-1 (or the alternate CWE-4 when only that one is UCUM).

    A code in another system is kept as written (common spellings such as ``mmHg`` are
    normalized by `Quantity`); a text without a code is taken as the unit; no unit at all
    is UCUM ``1`` (IG "CWE[Quantity]" and "CQ[Quantity]").
    """
    item = obx.item(6)
    if not item:
        return "1"
    code = item.component(1).strip()
    alternate = item.component(4).strip()
    alternate_is_ucum = alternate and item.component(6).strip().upper() in _UNIT_SYSTEMS
    if alternate_is_ucum and (not code or item.component(3).strip().upper() not in _UNIT_SYSTEMS):
        return alternate
    return code or item.component(2).strip() or alternate or "1"


def _quantity(value: Decimal, unit: str) -> Quantity:
    return Quantity(value, unit)


def _sn_text(obx: Segment, item: Item) -> str:
    # IG "OBX[Observation]": an SN that is no Quantity, Range or Ratio is the string
    # OBX-5.1 + " " + OBX-5.2 + " " + OBX-5.3 + " " + OBX-5.4 + " " + OBX-6 (empties dropped).
    parts = [item.component(i).strip() for i in (1, 2, 3, 4)]
    parts.append(obx.item(6).component(1).strip())
    return " ".join(p for p in parts if p)


_Value = Quantity | CodeableConcept | str | Range | Ratio


def _structured(obx: Segment, item: Item, unit: str) -> tuple[_Value | None, str | None]:
    """An SN value by the IG's "OBX[Observation]" conditions and "SN[...]" datatype maps."""
    sn = read_sn(item)
    if sn is None:
        return None, None
    comparator = None if sn.comparator in (None, "=") else sn.comparator
    if comparator == "<>":
        return _sn_text(obx, item), None
    if sn.separator in (":", "/"):
        # "SN[Ratio]": the comparator would go on the numerator, which Ratio does not hold:
        # a compared ratio is kept as text.
        if comparator is None and sn.value1 is not None and sn.value2 is not None:
            ratio = Ratio(_quantity(sn.value1, unit), _quantity(sn.value2, unit))
            return ratio, None
        return _sn_text(obx, item), None
    if sn.separator == "-":
        # "SN[Range]": num1 the low, num2 the high; a comparator other than "=" keeps text.
        if comparator is None:
            low = None if sn.value1 is None else _quantity(sn.value1, unit)
            high = None if sn.value2 is None else _quantity(sn.value2, unit)
            return Range(low, high), None
        return _sn_text(obx, item), None
    # "SN[Quantity]": SN-1 the comparator (FHIR quantity-comparator), SN-2 the value.
    plain = sn.separator is None and sn.value1 is not None
    if plain and sn.value1 is not None and (comparator is None or comparator in COMPARATORS):
        return _quantity(sn.value1, unit), comparator
    # "+" (and "."): a suffix or sum, kept as text as the IG does.
    return _sn_text(obx, item), None


def _value(obx: Segment, value_type: str, unit: str) -> tuple[_Value | None, str | None]:
    """OBX-5 by OBX-2 (HL7 table 0125), as the IG's "OBX[Observation]" map reads it.

    NM: a Quantity in the OBX-6 unit. SN: Quantity (with comparator), Range or Ratio, else
    text. CE/CWE/CNE/CF: a CodeableConcept. ST/TX/FT: text, repetitions joined by line
    breaks. NR: a Range. ED, RP, NA, MA, EI: not read. Any other type (DT, DTM, TS, TM, ID,
    IS, DR, VR, or none): the text as sent, repetitions joined by line breaks. Only the first
    repetition of a non-text value is read (the IG maps repeating values to components).
    """
    items = obx.items(5)
    if not items or not any(items):
        return None, None
    first = items[0]
    if value_type == "NM":
        number = read_nm(first)
        return (None if number is None else _quantity(number, unit)), None
    if value_type == "SN":
        return _structured(obx, first, unit)
    if value_type in _CODED_TYPES:
        return read_cwe(first), None
    if value_type == "NR":
        # NR (HL7 v2.5.1 2.A.49): NR-1 low, NR-2 high, each an NM; IG "NR[Range]".
        low, high = first.component(1), first.component(2)
        return (
            Range(
                _quantity(parse_nm(low, at=first, component=1), unit) if low.strip() else None,
                _quantity(parse_nm(high, at=first, component=2), unit) if high.strip() else None,
            ),
            None,
        )
    if value_type in _SKIPPED_TYPES:
        return None, None
    texts = [obx.value(5, n) for n in range(1, len(items) + 1)]
    text = "\n".join(texts).strip("\n")
    if value_type not in _TEXT_TYPES:
        text = text.strip()
    return (text or None), None


def _reference_range(obx: Segment, unit: str) -> ReferenceRange | None:
    """OBX-7: ``low-high``, ``<high``, ``>low`` become limits in the OBX-6 unit, else text.

    The IG maps OBX-7 to referenceRange.text "if sufficiently parseable, then the low,
    high... may be used": a comparator range (``<200``) is read as its bound.
    """
    text = obx.value(7).strip()
    if not text:
        return None
    match = _RANGE.fullmatch(text)
    if match is not None:
        return ReferenceRange(
            low=_quantity(Decimal(match[1]), unit), high=_quantity(Decimal(match[2]), unit)
        )
    match = _BOUND.fullmatch(text)
    if match is not None:
        bound = _quantity(Decimal(match[2]), unit)
        if match[1].startswith("<"):
            return ReferenceRange(high=bound)
        return ReferenceRange(low=bound)
    return ReferenceRange(text=text)


def _interpretation(obx: Segment) -> list[CodeableConcept]:
    found = []
    for item in obx.items(8):
        code = item.component(1).strip()
        if not code:
            continue
        concept = _INTERPRETATION.get(code)
        if concept is None:
            concept = CodeableConcept((Coding(hl7_v2_table(78), code),))
        if concept not in found:
            found.append(concept)
    return found


def _category(code: CodeableConcept, section: str | None) -> CodeableConcept | None:
    # Vital signs by OBX-3 (a LOINC code of the FHIR R4 vital signs profiles); else
    # laboratory when OBR-24 names a laboratory section (table 0074); else unknown. OBX-29
    # (observation type, v2.8) is not read.
    if any(c.system == LOINC and c.code in VITAL_SIGNS for c in code.codings):
        return _VITAL_SIGNS_CATEGORY
    if section in LAB_SECTIONS:
        return _LABORATORY_CATEGORY
    return None


def _note(nte: Segment) -> str | None:
    # NTE-3 (FT, repeating): the comment; repetitions are lines.
    reps = nte.repetitions(3)
    text = "\n".join(nte.value(3, n) for n in range(1, len(reps) + 1)).strip()
    return text or None


# --------------------------------------------------------------------------------------
# The one pass
# --------------------------------------------------------------------------------------


class _Order:
    """An order being read: its OBR fields and the results and notes gathered so far."""

    __slots__ = ("index", "key", "notes", "obr", "order", "results", "seen")

    def __init__(self, obr: Segment | None, index: int, control_id: str, ctx: _Context) -> None:
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
    pending: _Result, order: _Order, patient: Reference, ctx: _Context
) -> ObservationResult:
    obx = pending.obx
    value_type = obx.value(2, 1, 1).strip().upper()
    unit = _unit(obx)
    try:
        code = ctx.concept(obx.item(3))
        if code is None:
            raise Hl7ParseError(
                "an observation identifier (CWE)",
                segment_index=obx.index,
                segment_id="OBX",
                field=3,
            )
        value, comparator = _value(obx, value_type, unit)
        reference_range = _reference_range(obx, unit)
    except Hl7ParseError:
        raise
    except CareDomainError:
        # A value the domain types refuse (a unit with spaces around it...): at OBX-5/6.
        raise Hl7ParseError(
            "an observation value and units that form a valid result",
            segment_index=obx.index,
            segment_id="OBX",
            field=5,
        ) from None
    order_fields = order.order
    effective = ctx.instant(obx.item(14)) or order_fields.observed_at
    issued = ctx.instant(obx.item(19)) or order_fields.reported_at
    instance = read_ei(obx.item(21))
    return ObservationResult(
        id=pending.id,
        patient=patient,
        code=code,
        status=_STATUS.get(obx.value(11, 1, 1).strip().upper(), ResultStatus.UNKNOWN),
        value=value,
        comparator=comparator,
        effective=effective,
        issued=issued,
        reference_range=reference_range,
        interpretation=_interpretation(obx),
        category=_category(code, order_fields.service_section),
        identifiers=(instance,) if instance is not None else (),
        notes=pending.notes,
    )


def _finish(order: _Order, patient: Reference, ctx: _Context) -> ResultOrder:
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
    ctx = _Context(profile)

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
            position = str(len(order.results) + 1)
            set_id = segment.value(1).strip()
            local = set_id if set_id and set_id not in order.seen else f"#{position}"
            order.seen.add(local)
            last = _Result(segment, stable_id("Observation", *order.key, local))
            order.results.append(last)
        elif sid == "NTE":
            note = _note(segment)
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
