import datetime as dt
from decimal import Decimal

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.careplans import (
    Activity,
    ActivityKind,
    Bound,
    CarePlan,
    Component,
    Goal,
    Observation,
    Target,
    Timing,
)
from caredomain.core import (
    CodeableConcept,
    NaiveDatetimeError,
    Quantity,
    Reference,
    UnitError,
    ValidationError,
    from_json,
    to_json,
)

AT = pendulum.datetime(2026, 12, 1, 7, tz="America/Chicago")
A1C_BELOW_7 = Target("4548-4", high=Bound(Quantity(7, "%"), inclusive=False))
BP_BELOW_130_80 = (
    Target("85354-9", component="8480-6", high=Bound(Quantity(130, "mm[Hg]"), inclusive=False)),
    Target("85354-9", component="8462-4", high=Bound(Quantity(80, "mm[Hg]"), inclusive=False)),
)


def test_thresholds_respect_inclusion():
    assert A1C_BELOW_7.met_by(Quantity("6.9", "%"))
    assert not A1C_BELOW_7.met_by(Quantity("7.0", "%"))
    at_most = Target("4548-4", high=Bound(Quantity(7, "%")))
    assert at_most.met_by(Quantity("7.0", "%"))


def test_targets_compare_across_units():
    weight = Target("29463-7", low=Bound(Quantity(70, "kg")), high=Bound(Quantity(80, "kg")))
    assert weight.met_by(Quantity(165, "[lb_av]"))  # 74.8 kg
    assert not weight.met_by(Quantity(180, "[lb_av]"))  # 81.6 kg
    glucose = Target("2345-7", low=Bound(Quantity(70, "mg/dL")))  # ADA level 1 hypoglycemia
    assert not glucose.met_by(Quantity("3.8", "mmol/L"))
    assert glucose.met_by(Quantity("3.9", "mmol/L"))


def test_target_units_must_fit_the_code():
    with pytest.raises(UnitError):
        Target("29463-7", high=Bound(Quantity(90, "mm[Hg]")))
    with pytest.raises(ValidationError):
        Target("29463-7")
    with pytest.raises(ValidationError):
        Target("0000-0", high=Bound(Quantity(1, "kg")))


def test_observations_are_checked_where_they_enter():
    bp = Observation(
        "o1",
        "p1",
        "85354-9",
        AT,
        components=[
            Component("8480-6", Quantity(128, "mm[Hg]")),
            Component("8462-4", Quantity(82, "mm[Hg]")),
        ],
    )
    assert [t.met_by(bp.quantity(t.measured)) for t in BP_BELOW_130_80] == [True, False]
    assert bp.canonical("8480-6") == Decimal(128)
    with pytest.raises(UnitError):
        Observation("o2", "p1", "29463-7", AT, value=Quantity(80, "mm[Hg]"))
    with pytest.raises(NaiveDatetimeError):
        Observation("o3", "p1", "29463-7", dt.datetime(2026, 12, 1, 7), value=Quantity(80, "kg"))
    with pytest.raises(ValidationError):
        Observation("o4", "p1", "29463-7", AT)
    with pytest.raises(ValidationError):
        Observation("o5", "p1", "29463-7", AT, value=Quantity(80, "kg"), components=bp.components)


def test_timing_and_plan_rules():
    assert Timing.once(dt.timedelta(days=7)).is_once
    with pytest.raises(ValidationError):
        Timing(period_unit="fortnight")
    goal = Goal("g1", "A1C below 7%", [A1C_BELOW_7], source="ADA Standards of Care")
    weigh = Activity(
        "a1", ActivityKind.MEASUREMENT, CodeableConcept.of("LOINC", "29463-7"), Timing()
    )
    plan = CarePlan(
        "cp1", Reference.to("Patient", "p1"), "Diabetes", goals=[goal], activities=[weigh]
    )
    assert from_json(to_json(plan), CarePlan) == plan
    with pytest.raises(ValidationError):
        CarePlan("cp1", Reference.to("Patient", "p1"), "x", goals=[goal], activities=[weigh, weigh])
    with pytest.raises(ValidationError):
        Goal("g2", "nothing", [])


@given(st.decimals(min_value=100, max_value=300, places=1))
def test_unit_of_the_reading_never_changes_the_decision(pounds):
    goal = Target("29463-7", high=Bound(Quantity(90, "kg")))
    in_lb = Quantity(pounds, "[lb_av]")
    assert goal.met_by(in_lb) == goal.met_by(in_lb.to("kg")) == goal.met_by(in_lb.to("g"))
