"""OBX segments (HL7 v2 chapter 7) read as `ObservationResult` values, for every reader.

ORU^R01 (`caredomain.adapters.hl7v2.oru`) reports results under OBR orders; ADT A01, A03,
A04 and A08 (`caredomain.adapters.hl7v2.adt`) carry OBX segments of their own (vital signs
at admission: weight, height, blood pressure). Both read each OBX through `read_obx`, so a
result reads the same whichever message carried it.

Rules of this module:

1. Mappings follow the HL7 Version 2 to FHIR IG (HL7 International, STU 1): segment map
   "OBX[Observation]" (referenced by the message maps "ORU_R01 to Bundle" and "ADT_A01 to
   Bundle", which ADT_A03, A04 and A08 reuse), datatype maps "SN[Quantity]", "SN[Range]",
   "SN[Ratio]", vocabulary maps "Table HL70078 to V3 ObservationInterpretation" and
   "Table HL70085 to Observation Status". Departures are written next to the code.
2. What a message gives an OBX from around it (the fallback effective and issued times, the
   diagnostic service section, the notes, the id) is passed in by its reader: this module
   reads the OBX fields only.
3. Errors are `Hl7ParseError` at a segment/field position saying what was expected, never
   with field content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Final

import pendulum
from pendulum import DateTime

from caredomain.adapters.hl7v2._message import Hl7ParseError, Item, Segment
from caredomain.adapters.hl7v2.datatypes import (
    parse_nm,
    read_cwe,
    read_ei,
    read_nm,
    read_sn,
    read_ts,
)
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.core.codes import (
    FHIR_OBSERVATION_CATEGORY,
    LOINC,
    CodeableConcept,
    Coding,
    hl7_v2_table,
)
from caredomain.core.errors import CareDomainError
from caredomain.core.identity import Reference
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
    "ReadContext",
    "local_id",
    "read_note",
    "read_obx",
]

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


# --------------------------------------------------------------------------------------
# Field readers
# --------------------------------------------------------------------------------------


class ReadContext:
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
            ratio = Ratio(Quantity(sn.value1, unit), Quantity(sn.value2, unit))
            return ratio, None
        return _sn_text(obx, item), None
    if sn.separator == "-":
        # "SN[Range]": num1 the low, num2 the high; a comparator other than "=" keeps text.
        if comparator is None:
            low = None if sn.value1 is None else Quantity(sn.value1, unit)
            high = None if sn.value2 is None else Quantity(sn.value2, unit)
            return Range(low, high), None
        return _sn_text(obx, item), None
    # "SN[Quantity]": SN-1 the comparator (FHIR quantity-comparator), SN-2 the value.
    plain = sn.separator is None and sn.value1 is not None
    if plain and sn.value1 is not None and (comparator is None or comparator in COMPARATORS):
        return Quantity(sn.value1, unit), comparator
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
        return (None if number is None else Quantity(number, unit)), None
    if value_type == "SN":
        return _structured(obx, first, unit)
    if value_type in _CODED_TYPES:
        return read_cwe(first), None
    if value_type == "NR":
        # NR (HL7 v2.5.1 2.A.49): NR-1 low, NR-2 high, each an NM; IG "NR[Range]".
        low, high = first.component(1), first.component(2)
        return (
            Range(
                Quantity(parse_nm(low, at=first, component=1), unit) if low.strip() else None,
                Quantity(parse_nm(high, at=first, component=2), unit) if high.strip() else None,
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
            low=Quantity(Decimal(match[1]), unit), high=Quantity(Decimal(match[2]), unit)
        )
    match = _BOUND.fullmatch(text)
    if match is not None:
        bound = Quantity(Decimal(match[2]), unit)
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


def read_note(nte: Segment) -> str | None:
    """NTE-3 (FT, repeating) as text, repetitions as lines; None when empty."""
    # NTE-3 (FT, repeating): the comment; repetitions are lines.
    reps = nte.repetitions(3)
    text = "\n".join(nte.value(3, n) for n in range(1, len(reps) + 1)).strip()
    return text or None


# --------------------------------------------------------------------------------------
# One OBX
# --------------------------------------------------------------------------------------


def local_id(obx: Segment, position: int, seen: set[str]) -> str:
    """The part of a result's id that tells it from the other OBX of its group.

    OBX-1 (set id); without one, or with one already in ``seen`` (a sender repeating set
    ids), ``#`` and the OBX's 1-based ``position`` in its group. The value is added to
    ``seen``.
    """
    set_id = obx.value(1).strip()
    local = set_id if set_id and set_id not in seen else f"#{position}"
    seen.add(local)
    return local


def read_obx(
    obx: Segment,
    *,
    result_id: str,
    patient: Reference,
    context: ReadContext,
    notes: Iterable[str] = (),
    effective: DateTime | None = None,
    issued: DateTime | None = None,
    section: str | None = None,
) -> ObservationResult:
    """Read one OBX segment as an `ObservationResult` (IG segment map "OBX[Observation]").

    * code: OBX-3 (CWE); value: OBX-5 by its type OBX-2 (table 0125), see `_value`;
    * reference range OBX-7; interpretation OBX-8 ("Table HL70078 to V3
      ObservationInterpretation"); status OBX-11 ("Table HL70085 to Observation Status";
      the codes the IG leaves unmatched, and none, unknown);
    * effective: OBX-14, else ``effective`` (what the message gives: OBR-7 in an ORU);
      issued: OBX-19, else ``issued``;
    * category: ``vital-signs`` when OBX-3 has a LOINC code of `VITAL_SIGNS`, else
      ``laboratory`` when ``section`` (OBR-24) is one of `LAB_SECTIONS`, else none;
    * identifiers: OBX-21; notes: ``notes`` (the NTE-3 of the NTE segments after the OBX).

    Args:
        obx: The OBX segment.
        result_id: The result's id (each reader derives it with `stable_id`).
        patient: Whose result it is.
        context: The message's read context (sender profile and caches).
        notes: The notes of the NTE segments that follow the OBX, in order.
        effective: The effective time when OBX-14 is empty.
        issued: The issued time when OBX-19 is empty.
        section: The diagnostic service section (OBR-24, table 0074), if any.

    Raises:
        Hl7ParseError: No OBX-3, a field not of its datatype, a value and unit the domain
            types refuse, or a time without an offset and no sender timezone.
    """
    value_type = obx.value(2, 1, 1).strip().upper()
    unit = _unit(obx)
    try:
        code = context.concept(obx.item(3))
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
    instance = read_ei(obx.item(21))
    return ObservationResult(
        id=result_id,
        patient=patient,
        code=code,
        status=_STATUS.get(obx.value(11, 1, 1).strip().upper(), ResultStatus.UNKNOWN),
        value=value,
        comparator=comparator,
        effective=context.instant(obx.item(14)) or effective,
        issued=context.instant(obx.item(19)) or issued,
        reference_range=reference_range,
        interpretation=_interpretation(obx),
        category=_category(code, section),
        identifiers=(instance,) if instance is not None else (),
        notes=tuple(notes),
    )
