from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    MOLAR_MASS,
    Quantity,
    UnitError,
    ValidationError,
    can_convert,
    convert,
    known_units,
    normalize_unit,
    to_decimal,
)
from caredomain.testing import strategies as cst

TOLERANCE = Decimal("1e-20")


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        ("1", "[lb_av]", "kg", "0.45359237"),  # UCUM: exact international pound
        ("1", "[lb_av]", "g", "453.59237"),
        ("16", "[oz_av]", "[lb_av]", "1"),
        ("1", "[in_i]", "cm", "2.54"),
        ("12", "[in_i]", "[ft_i]", "1"),
        ("100", "Cel", "[degF]", "212"),
        ("-40", "[degF]", "Cel", "-40"),
        ("37", "Cel", "K", "310.15"),
        ("7.5", "kPa", "mm[Hg]", "56.254782"),
        ("1", "mm[Hg]", "Pa", "133.3220"),
        ("65", "%", "1", "0.65"),
        ("60", "/min", "/s", "1"),
        ("1", "d", "h", "24"),
        ("1", "dL", "mL", "100"),
        ("1", "g/dL", "mg/dL", "1000"),
    ],
)
def test_exact_conversions(value, source, target, expected):
    result = convert(Decimal(value), source, target)
    assert abs(result - Decimal(expected)) < Decimal("0.00001")


def test_pound_to_kilogram_is_exact():
    assert Quantity("182.6", "[lb_av]").to("kg").value == Decimal("82.825966762")


def test_fever_threshold_in_both_scales():
    assert Quantity("100.4", "[degF]").to("Cel").quantize(2).value == Decimal("38.00")


def test_glucose_molar_conversion_uses_its_molar_mass():
    # ADA: 126 mg/dL fasting glucose = 7.0 mmol/L; 70 mg/dL = 3.9 mmol/L.
    assert Quantity(126, "mg/dL").to("mmol/L", analyte="glucose").quantize(1).value == Decimal(
        "7.0"
    )
    assert Quantity(70, "mg/dL").to("mmol/L", analyte="glucose").quantize(1).value == Decimal("3.9")
    assert Quantity("7.0", "mmol/L").to("mg/dL", analyte="glucose").quantize(0).value == Decimal(
        "126"
    )
    assert MOLAR_MASS["glucose"] == Decimal("180.156")


def test_molar_conversion_needs_an_analyte():
    with pytest.raises(UnitError) as info:
        Quantity(126, "mg/dL").to("mmol/L")
    assert "analyte" in str(info.value)
    with pytest.raises(UnitError):
        Quantity(126, "mg/dL").to("mmol/L", analyte="unobtainium")
    assert not can_convert("mg/dL", "mmol/L")
    assert can_convert("mg/dL", "mmol/L", analyte="cholesterol")


def test_unknown_unit_is_a_unit_error_with_location():
    with pytest.raises(UnitError) as info:
        Quantity(5, "stone").to("kg")
    err = info.value
    assert err.location == "Quantity.unit"
    assert err.from_unit == "stone"
    assert isinstance(err, ValidationError)
    with pytest.raises(UnitError) as info:
        Quantity(5, "kg").to("furlong")
    assert info.value.location == "to_unit"


def test_incompatible_dimensions_are_refused():
    with pytest.raises(UnitError) as info:
        Quantity(5, "kg").to("mm[Hg]")
    assert "mass" in str(info.value)
    assert "pressure" in str(info.value)
    assert not can_convert("kg", "mm[Hg]")
    assert not can_convert("kg", "nonsense")


@pytest.mark.parametrize(
    ("alias", "code"),
    [
        ("lb", "[lb_av]"),
        ("lbs", "[lb_av]"),
        ("mmHg", "mm[Hg]"),
        ("degF", "[degF]"),
        ("bpm", "/min"),
    ],
)
def test_common_spellings_normalize_to_ucum(alias, code):
    assert normalize_unit(alias) == code
    assert Quantity(1, alias).unit == code


def test_c_and_f_are_not_temperatures():
    # UCUM "C" is the coulomb and "F" the farad.
    assert normalize_unit("C") == "C"
    assert not can_convert("F", "Cel")


def test_values_are_exact_decimals():
    assert Quantity(72.1, "kg").value == Decimal("72.1")  # float read by its repr
    assert Quantity("0.1", "kg").value + Quantity("0.2", "kg").value == Decimal("0.3")
    for bad in (float("nan"), float("inf"), "abc", True, None, [1]):
        with pytest.raises(ValidationError):
            Quantity(bad, "kg")
    with pytest.raises(ValidationError):
        to_decimal("NaN")


def test_blank_unit_is_refused():
    with pytest.raises(UnitError):
        Quantity(1, "")


def test_equality_is_exact_and_same_amount_converts():
    assert Quantity(1, "kg") != Quantity(1000, "g")
    assert Quantity(1, "kg").same_amount(Quantity(1000, "g"))


CONVERTIBLE_GROUPS = [
    ["kg", "g", "mg", "ug", "[lb_av]", "[oz_av]"],
    ["m", "cm", "mm", "[in_i]", "[ft_i]"],
    ["mm[Hg]", "kPa", "Pa"],
    ["K", "Cel", "[degF]"],
    ["%", "1"],
    ["/min", "/s", "/h"],
    ["s", "min", "h", "d", "wk"],
    ["L", "dL", "mL"],
    ["g/L", "g/dL", "mg/dL", "mg/L"],
    ["mol/L", "mmol/L", "umol/L"],
]


def test_groups_cover_every_known_unit():
    grouped = {u for group in CONVERTIBLE_GROUPS for u in group} | {"kg/m2"}
    assert grouped == known_units()


@given(
    st.sampled_from(CONVERTIBLE_GROUPS).flatmap(
        lambda g: st.tuples(cst.quantities(units=g), st.sampled_from(g))
    )
)
def test_round_trip_conversion_within_decimal_precision(pair):
    quantity, other = pair
    back = quantity.to(other).to(quantity.unit)
    scale = max(abs(quantity.value), Decimal(1))
    assert abs(back.value - quantity.value) <= TOLERANCE * scale


@given(
    cst.quantities(units=["mg/dL", "mg/L", "g/L"]),
    st.sampled_from(["mmol/L", "umol/L", "mol/L"]),
    st.sampled_from(sorted(MOLAR_MASS)),
)
def test_molar_round_trip(quantity, target, analyte):
    back = quantity.to(target, analyte=analyte).to(quantity.unit, analyte=analyte)
    assert abs(back.value - quantity.value) <= TOLERANCE * max(abs(quantity.value), Decimal(1))


@given(cst.quantities(units=["kg", "[lb_av]", "g"]), cst.quantities(units=["kg", "[lb_av]", "g"]))
def test_conversion_preserves_order(a, b):
    assert (a.to("g").value < b.to("g").value) == (a.to("kg").value < b.to("kg").value)
