"""Quantities with UCUM units and exact (Decimal) conversion between the units care needs.

Units are UCUM case-sensitive codes (https://ucum.org/ucum, "The Unified Code for Units of
Measure"), the codes FHIR ``Quantity.code`` carries with system ``http://unitsofmeasure.org``.
Conversion factors are the exact UCUM definitions: ``[lb_av]`` = 7000 ``[gr]`` = 453.59237 g,
``[in_i]`` = 2.54 cm, ``mm[Hg]`` = 133.3220 Pa (UCUM: 13.5951 g/cm3 x gravity x 1 mm), and
the Celsius/Fahrenheit affine scales.

Mass concentration and substance concentration (``mg/dL`` and ``mmol/L``) convert only for a
named analyte, through its molar mass: glucose 180.156 g/mol, so 1 mmol/L = 18.0156 mg/dL
(the factor used by the ADA Standards of Care and LOINC 2345-7/15074-8 pairs).

Arithmetic is ``Decimal`` with 28 significant digits; no float ever enters a conversion.
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from enum import Enum
from typing import Final

import attrs

from caredomain.core.errors import UnitError, ValidationError

__all__ = [
    "MOLAR_MASS",
    "Quantity",
    "can_convert",
    "convert",
    "known_units",
    "normalize_unit",
    "to_decimal",
]

_CONTEXT: Final = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)


class _Dimension(Enum):
    MASS = "mass"
    LENGTH = "length"
    PRESSURE = "pressure"
    TEMPERATURE = "temperature"
    FRACTION = "fraction"
    FREQUENCY = "frequency"
    TIME = "time"
    VOLUME = "volume"
    MASS_CONCENTRATION = "mass concentration"
    SUBSTANCE_CONCENTRATION = "substance concentration"
    AREA_DENSITY = "mass per area"


@attrs.frozen
class _Unit:
    dimension: _Dimension
    factor: Decimal  # value in the dimension's base unit = value * factor + offset
    offset: Decimal = Decimal(0)


D = Decimal
# Base units: g, m, Pa, K, 1 (ratio), 1/s, s, L, g/L, mol/L, kg/m2.
_UNITS: Final[dict[str, _Unit]] = {
    # mass (UCUM: [lb_av] = 7000 [gr]; [gr] = 64.79891 mg)
    "kg": _Unit(_Dimension.MASS, D(1000)),
    "g": _Unit(_Dimension.MASS, D(1)),
    "mg": _Unit(_Dimension.MASS, D("0.001")),
    "ug": _Unit(_Dimension.MASS, D("0.000001")),
    "[lb_av]": _Unit(_Dimension.MASS, D("453.59237")),
    "[oz_av]": _Unit(_Dimension.MASS, D("28.349523125")),
    # length (UCUM: [in_i] = 2.54 cm; [ft_i] = 12 [in_i])
    "m": _Unit(_Dimension.LENGTH, D(1)),
    "cm": _Unit(_Dimension.LENGTH, D("0.01")),
    "mm": _Unit(_Dimension.LENGTH, D("0.001")),
    "[in_i]": _Unit(_Dimension.LENGTH, D("0.0254")),
    "[ft_i]": _Unit(_Dimension.LENGTH, D("0.3048")),
    # pressure (UCUM: m[Hg] = 133.3220 kPa, so mm[Hg] = 133.3220 Pa)
    "mm[Hg]": _Unit(_Dimension.PRESSURE, D("133.3220")),
    "kPa": _Unit(_Dimension.PRESSURE, D(1000)),
    "Pa": _Unit(_Dimension.PRESSURE, D(1)),
    # temperature, affine (UCUM: Cel = K - 273.15; [degF] = 5/9 K offset 459.67 degF)
    "K": _Unit(_Dimension.TEMPERATURE, D(1)),
    "Cel": _Unit(_Dimension.TEMPERATURE, D(1), D("273.15")),
    "[degF]": _Unit(_Dimension.TEMPERATURE, D(5) / D(9), D("459.67") * D(5) / D(9)),
    # dimensionless fractions
    "%": _Unit(_Dimension.FRACTION, D("0.01")),
    "1": _Unit(_Dimension.FRACTION, D(1)),
    # rates: heart rate and respiratory rate are reported per minute ("/min")
    "/min": _Unit(_Dimension.FREQUENCY, D(1) / D(60)),
    "/s": _Unit(_Dimension.FREQUENCY, D(1)),
    "/h": _Unit(_Dimension.FREQUENCY, D(1) / D(3600)),
    # durations
    "s": _Unit(_Dimension.TIME, D(1)),
    "min": _Unit(_Dimension.TIME, D(60)),
    "h": _Unit(_Dimension.TIME, D(3600)),
    "d": _Unit(_Dimension.TIME, D(86400)),
    "wk": _Unit(_Dimension.TIME, D(604800)),
    # volume
    "L": _Unit(_Dimension.VOLUME, D(1)),
    "dL": _Unit(_Dimension.VOLUME, D("0.1")),
    "mL": _Unit(_Dimension.VOLUME, D("0.001")),
    # mass concentration (base g/L)
    "g/L": _Unit(_Dimension.MASS_CONCENTRATION, D(1)),
    "g/dL": _Unit(_Dimension.MASS_CONCENTRATION, D(10)),
    "mg/dL": _Unit(_Dimension.MASS_CONCENTRATION, D("0.01")),
    "mg/L": _Unit(_Dimension.MASS_CONCENTRATION, D("0.001")),
    # substance concentration (base mol/L)
    "mol/L": _Unit(_Dimension.SUBSTANCE_CONCENTRATION, D(1)),
    "mmol/L": _Unit(_Dimension.SUBSTANCE_CONCENTRATION, D("0.001")),
    "umol/L": _Unit(_Dimension.SUBSTANCE_CONCENTRATION, D("0.000001")),
    # body-mass index
    "kg/m2": _Unit(_Dimension.AREA_DENSITY, D(1)),
}

# Spellings seen in real feeds for the same UCUM units. Only unambiguous ones: "C" and "F"
# are UCUM's coulomb and farad, so they are not taken as temperatures.
_ALIASES: Final[dict[str, str]] = {
    "lb": "[lb_av]",
    "lbs": "[lb_av]",
    "[lb_us]": "[lb_av]",
    "oz": "[oz_av]",
    "in": "[in_i]",
    "[in_us]": "[in_i]",
    "ft": "[ft_i]",
    "mmHg": "mm[Hg]",
    "mm Hg": "mm[Hg]",
    "degC": "Cel",
    "°C": "Cel",
    "degF": "[degF]",
    "°F": "[degF]",
    "bpm": "/min",
    "{beats}/min": "/min",
    "{breaths}/min": "/min",
    "beats/min": "/min",
    "kg/m^2": "kg/m2",
    "µmol/L": "umol/L",
    "μg": "ug",
}

MOLAR_MASS: Final[dict[str, Decimal]] = {
    "glucose": D("180.156"),
    "cholesterol": D("386.65"),
    "triglycerides": D("885.4"),
    "creatinine": D("113.12"),
    "urea-nitrogen": D("28.014"),
}
"""Molar masses (g/mol) of analytes reported in both mg/dL and mmol/L in US and SI labs. Glucose
C6H12O6 180.156; cholesterol C27H46O 386.65; triglycerides as triolein 885.4 (the convention
behind the 0.01129 factor); creatinine 113.12 (to umol/L); urea nitrogen as N2 28.014 (BUN mg/dL
to urea mmol/L). Sources: molecular formulas from PubChem, masses from the IUPAC standard atomic
weights; the triolein convention and factors as in the SI conversion tables of the AMA Manual of
Style (section 18.5).
"""


def normalize_unit(unit: str) -> str:
    """Return the UCUM code for ``unit``, mapping common non-UCUM spellings (``lb``, ``mmHg``).

    Unknown units are returned unchanged: a quantity may carry any unit, but only known
    ones convert.
    """
    stripped = unit.strip()
    return _ALIASES.get(stripped, stripped)


def known_units() -> frozenset[str]:
    """The UCUM codes `convert` understands."""
    return frozenset(_UNITS)


def to_decimal(value: object, location: str = "value") -> Decimal:
    """Coerce ``value`` to a finite ``Decimal``.

    ``int``, ``str`` and ``Decimal`` convert exactly; a ``float`` is read through its
    shortest ``repr`` (``72.1`` becomes ``Decimal("72.1")``, not its binary expansion).
    ``bool``, NaN and infinities are refused.

    Raises:
        ValidationError: Not a finite number.
    """
    if isinstance(value, bool):
        raise ValidationError.at(location, "expected a number, not a boolean")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ValidationError.at(location, "expected a decimal number") from None
    else:
        raise ValidationError.at(location, "expected a decimal number")
    if not result.is_finite():
        raise ValidationError.at(location, "expected a finite number")
    return result


def _unit(code: str, location: str, *, other: str | None = None) -> _Unit:
    try:
        return _UNITS[code]
    except KeyError:
        raise UnitError(
            location,
            "unknown unit: expected a UCUM code among those caredomain converts "
            "(see caredomain.core.known_units())",
            from_unit=code,
            to_unit=other,
        ) from None


def can_convert(from_unit: str, to_unit: str, *, analyte: str | None = None) -> bool:
    """Whether `convert` would succeed for this pair (and analyte)."""
    a, b = _UNITS.get(normalize_unit(from_unit)), _UNITS.get(normalize_unit(to_unit))
    if a is None or b is None:
        return False
    if a.dimension == b.dimension:
        return True
    molar = {a.dimension, b.dimension} == {
        _Dimension.MASS_CONCENTRATION,
        _Dimension.SUBSTANCE_CONCENTRATION,
    }
    return molar and analyte in MOLAR_MASS


def convert(value: Decimal, from_unit: str, to_unit: str, *, analyte: str | None = None) -> Decimal:
    """Convert ``value`` from one UCUM unit to another, exactly in ``Decimal``.

    Args:
        value: The magnitude.
        from_unit: Its UCUM unit (common spellings such as ``lb`` are accepted).
        to_unit: The UCUM unit wanted.
        analyte: For mass <-> substance concentration (``mg/dL`` <-> ``mmol/L``), the
            substance whose molar mass to use: a key of `MOLAR_MASS`.

    Raises:
        UnitError: A unit is unknown, the dimensions differ, or a molar conversion lacks a
            known analyte. The message names the units, never the value.
    """
    src_code, dst_code = normalize_unit(from_unit), normalize_unit(to_unit)
    src = _unit(src_code, "Quantity.unit", other=dst_code)
    dst = _unit(dst_code, "to_unit", other=dst_code)
    with decimal.localcontext(_CONTEXT):
        base = value * src.factor + src.offset
        if src.dimension != dst.dimension:
            base = _molar_bridge(base, src, dst, src_code, dst_code, analyte)
        return (base - dst.offset) / dst.factor


def _molar_bridge(
    base: Decimal, src: _Unit, dst: _Unit, src_code: str, dst_code: str, analyte: str | None
) -> Decimal:
    pair = (src.dimension, dst.dimension)
    if set(pair) != {_Dimension.MASS_CONCENTRATION, _Dimension.SUBSTANCE_CONCENTRATION}:
        raise UnitError(
            "to_unit",
            f"cannot convert {src.dimension.value} ({src_code}) to "
            f"{dst.dimension.value} ({dst_code})",
            from_unit=src_code,
            to_unit=dst_code,
        )
    if analyte not in MOLAR_MASS:
        raise UnitError(
            "analyte",
            f"converting {src_code} to {dst_code} needs an analyte with a molar mass: "
            f"one of {', '.join(sorted(MOLAR_MASS))}",
            from_unit=src_code,
            to_unit=dst_code,
        )
    molar_mass = MOLAR_MASS[analyte]  # g/mol
    if pair[0] is _Dimension.MASS_CONCENTRATION:
        return base / molar_mass  # g/L -> mol/L
    return base * molar_mass  # mol/L -> g/L


def _to_value(value: object) -> Decimal:
    return to_decimal(value, "Quantity.value")


def _check_unit(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not value or value != value.strip():
        raise UnitError("Quantity.unit", "expected a non-empty UCUM code", from_unit="")


@attrs.frozen(order=False)
class Quantity:
    """A measured amount: a ``Decimal`` value and a UCUM unit.

    Construct with any exact number (``Quantity(72.5, "kg")`` reads the float by its repr);
    common unit spellings are normalized (``"lb"`` becomes ``"[lb_av]"``). Equality is
    exact on (value, unit): ``Quantity(1, "kg") != Quantity(1000, "g")``; compare converted
    values with `to` or `same_amount`.

    Attributes:
        value: The magnitude, exact.
        unit: The UCUM code.
    """

    value: Decimal = attrs.field(converter=_to_value)
    unit: str = attrs.field(converter=normalize_unit, validator=_check_unit)

    def to(self, unit: str, *, analyte: str | None = None) -> Quantity:
        """This amount in another unit (see `convert`)."""
        target = normalize_unit(unit)
        return Quantity(convert(self.value, self.unit, target, analyte=analyte), target)

    def quantize(self, places: int) -> Quantity:
        """This quantity rounded half-even to ``places`` decimal places, for display."""
        exponent = Decimal(1).scaleb(-places)
        with decimal.localcontext(_CONTEXT):
            return Quantity(self.value.quantize(exponent), self.unit)

    def same_amount(self, other: Quantity, *, analyte: str | None = None) -> bool:
        """Whether ``other`` is the same amount once converted to this unit."""
        return other.to(self.unit, analyte=analyte).value == self.value

    def __str__(self) -> str:
        return f"{self.value} {self.unit}"
