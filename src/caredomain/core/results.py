"""Observation results: what a lab or a device reports, whatever its value type.

`ObservationResult` is the general shape of one result (an HL7 v2 OBX; a FHIR Observation):
a code, a status, a value that may be a quantity, a coded answer, text, a range or a ratio,
a reference range and interpretation flags. The care-plan monitor reads only the numeric
vital signs and labs it has rules for (`caredomain.careplans.Observation`); everything else a
result feed carries still has a faithful home here.

Vocabularies:

- ``status``: FHIR ``observation-status`` (http://hl7.org/fhir/observation-status), which
  the v2-to-FHIR IG maps from HL7 v2 table 0085 (OBX-11).
- ``interpretation``: HL7 v3 ObservationInterpretation
  (http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation), whose codes (``H``,
  ``L``, ``HH``, ``LL``, ``N``, ``A``, ``AA``...) are those of HL7 v2 table 0078 (OBX-8).
- ``comparator``: FHIR ``quantity-comparator`` (``<``, ``<=``, ``>=``, ``>``), what an
  HL7 v2 SN value such as ``>^200`` carries.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final

import attrs
from pendulum import DateTime

from caredomain.core.codes import CodeableConcept
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier, Reference
from caredomain.core.parties import _check_id, _tuple
from caredomain.core.quantities import Quantity, can_convert
from caredomain.core.time import check_aware, instant_key, to_datetime

__all__ = [
    "COMPARATORS",
    "INTERPRETATION",
    "ObservationResult",
    "Range",
    "Ratio",
    "ReferenceRange",
    "ResultStatus",
]

INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
"""The HL7 v3 ObservationInterpretation code system (FHIR ``Observation.interpretation``)."""

COMPARATORS: Final = frozenset({"<", "<=", ">=", ">"})
"""FHIR ``quantity-comparator`` codes."""


class ResultStatus(StrEnum):
    """FHIR ``observation-status``."""

    REGISTERED = "registered"
    PRELIMINARY = "preliminary"
    FINAL = "final"
    AMENDED = "amended"
    CORRECTED = "corrected"
    CANCELLED = "cancelled"
    ENTERED_IN_ERROR = "entered-in-error"
    UNKNOWN = "unknown"


@attrs.frozen
class Range:
    """A value given as a range (``10-20``), either end open.

    Attributes:
        low: The low end, if any.
        high: The high end, if any.
    """

    low: Quantity | None = None
    high: Quantity | None = None

    def __attrs_post_init__(self) -> None:
        _check_order(self.low, self.high, "Range")


def _check_order(low: Quantity | None, high: Quantity | None, where: str) -> None:
    # FHIR rng-2 (and the reference range's low <= high): a range never runs backwards.
    if low is None or high is None:
        return
    if low.unit == high.unit:
        backwards = low.value > high.value
    else:
        backwards = can_convert(high.unit, low.unit) and low.value > high.to(low.unit).value
    if backwards:
        raise ValidationError.at(f"{where}.low", "expected low at or below high")


@attrs.frozen
class Ratio:
    """A value given as a ratio (a titer ``1:128``).

    Attributes:
        numerator: The numerator.
        denominator: The denominator.
    """

    numerator: Quantity
    denominator: Quantity


@attrs.frozen
class ReferenceRange:
    """The normal range a result is read against (OBX-7; FHIR ``referenceRange``).

    Attributes:
        low: The low limit, if numeric.
        high: The high limit, if numeric.
        text: The range as the sender wrote it, when it is not two numbers.
    """

    low: Quantity | None = None
    high: Quantity | None = None
    text: str | None = None

    def __attrs_post_init__(self) -> None:
        # FHIR obs-3: a reference range has a low, a high or a text.
        if self.low is None and self.high is None and not self.text:
            raise ValidationError.at("ReferenceRange", "expected a low, a high or a text")
        _check_order(self.low, self.high, "ReferenceRange")


Value = Quantity | CodeableConcept | str | Range | Ratio


def _concepts(value: Iterable[CodeableConcept]) -> tuple[CodeableConcept, ...]:
    return _tuple(value)  # type: ignore[return-value]


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return _tuple(value)  # type: ignore[return-value]


def _identifiers(value: Iterable[Identifier]) -> tuple[Identifier, ...]:
    return _tuple(value)  # type: ignore[return-value]


def _check_value(_inst: object, _attribute: attrs.Attribute[Value | None], value: object) -> None:
    if value is not None and not isinstance(
        value, Quantity | CodeableConcept | str | Range | Ratio
    ):
        raise ValidationError.at(
            "ObservationResult.value",
            "expected a Quantity, CodeableConcept, text, Range or Ratio (a number needs a unit)",
        )


def _check_comparator(
    instance: ObservationResult, _attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is None:
        return
    if value not in COMPARATORS:
        raise ValidationError.at(
            "ObservationResult.comparator", "expected one of <, <=, >=, > (quantity-comparator)"
        )
    if not isinstance(instance.value, Quantity):
        raise ValidationError.at(
            "ObservationResult.comparator", "expected a comparator only on a Quantity value"
        )


@attrs.frozen
class ObservationResult:
    """One reported result (HL7 v2 OBX; FHIR ``Observation``), of any value type.

    Attributes:
        id: Its id (FHIR id syntax).
        patient: Whose result it is.
        code: What was observed, usually LOINC.
        status: FHIR observation status.
        value: A `Quantity` (NM, CQ), a `CodeableConcept` (CE, CWE), text (ST, TX, FT), a
            `Range` or a `Ratio` (SN); None when the result carries no value (cancelled).
        comparator: For a quantity reported as ``>200`` or ``<=5``.
        effective: When the observation applies (OBX-14, else the order's OBR-7), aware.
        issued: When it was reported (OBX-19 or OBR-22), aware.
        reference_range: The normal range (OBX-7).
        interpretation: Abnormal flags (OBX-8) as v3 ObservationInterpretation codes.
        category: FHIR observation category (``vital-signs``, ``laboratory``), if known.
        identifiers: Business identifiers (the filler's order number and OBX set id).
        performer: Who produced it, when known.
        notes: Comments sent with it (NTE), in order.
    """

    id: str = attrs.field(validator=_check_id)
    patient: Reference
    code: CodeableConcept
    status: ResultStatus = ResultStatus.FINAL
    value: Value | None = attrs.field(default=None, validator=_check_value)
    comparator: str | None = attrs.field(default=None, validator=_check_comparator)
    effective: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    issued: DateTime | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(to_datetime),
        validator=check_aware,
        eq=instant_key,
    )
    reference_range: ReferenceRange | None = None
    interpretation: tuple[CodeableConcept, ...] = attrs.field(default=(), converter=_concepts)
    category: CodeableConcept | None = None
    identifiers: tuple[Identifier, ...] = attrs.field(
        default=(), converter=_identifiers, repr=False
    )
    performer: Reference | None = None
    notes: tuple[str, ...] = attrs.field(default=(), converter=_strings, repr=False)

    @property
    def quantity(self) -> Quantity | None:
        """The value when it is a plain quantity (no comparator), else None."""
        if isinstance(self.value, Quantity) and self.comparator is None:
            return self.value
        return None
