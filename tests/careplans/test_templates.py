import datetime as dt
import subprocess
import sys
from decimal import Decimal

import pendulum
import pytest

from caredomain.careplans import (
    GoalAchievement,
    GoalRule,
    MissingRule,
    OverdueRule,
    ThresholdRule,
    TrendRule,
)
from caredomain.careplans.templates import (
    ParameterKind,
    Template,
    Window,
    instantiate,
    load_template,
    template_names,
)
from caredomain.core import (
    CPT,
    NaiveDatetimeError,
    Patient,
    Quantity,
    RuleError,
    SequentialIds,
    ValidationError,
)
from tests import phi

CHICAGO = "America/Chicago"
PATIENT = Patient("pat-1", timezone=CHICAGO)
DISCHARGE = pendulum.datetime(2026, 11, 25, 15, 30, tz=CHICAGO)  # Wednesday before Thanksgiving
BUNDLED = (
    "heart-failure",
    "hip-replacement",
    "hypertension",
    "transitional-care",
    "type-2-diabetes",
)


def rule(rules, suffix):
    return next(r for r in rules if r.id.endswith(f".{suffix}"))


# --- the bundled templates ---------------------------------------------------------------


def test_the_five_templates_are_bundled_and_load():
    assert template_names() == BUNDLED
    for name in BUNDLED:
        template = load_template(name)
        assert template.name == name
        assert template.version == "1.0.0"
        assert template.citation == f"{name}|1.0.0"
        assert load_template(name) is template  # cached: templates are immutable values


@pytest.mark.parametrize("name", BUNDLED)
def test_every_figure_names_a_source_of_the_template(name):
    template = load_template(name)
    ids = {s.id for s in template.sources}
    items = [*template.parameters, *template.goals, *template.activities, *template.rules]
    assert items
    for item in items:
        assert item.source in ids
        assert template.source(item.source).citation
    for rule_template in template.rules:
        assert rule_template.rule.id.startswith(f"{name}.")


def test_unknown_template_name_is_a_typed_error():
    with pytest.raises(ValidationError) as info:
        load_template("heart-transplant")
    assert info.value.location == "template"
    assert "heart-failure" in str(info.value)
    with pytest.raises(ValidationError):
        load_template("../etc/passwd")


def test_templates_ship_in_the_package_data():
    from importlib.resources import files

    folder = files("caredomain.careplans").joinpath("templates")
    assert sorted(e.name for e in folder.iterdir() if e.name.endswith(".toml")) == [
        f"{n}.toml" for n in BUNDLED
    ]


def test_importing_templates_loads_no_heavy_dependency():
    code = (
        "import sys, caredomain.careplans.templates as t; t.load_template('heart-failure');"
        "import caredomain.adapters.fhir.careplans, caredomain.adapters.fhir.observations;"
        "print(sorted(m for m in ('fhir', 'fhir_core', 'pydantic', 'hl7apy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --- type 2 diabetes ---------------------------------------------------------------------


def test_diabetes_goal_activities_and_hypoglycemia_rules():
    template = load_template("type-2-diabetes")
    (goal,) = template.goals
    (target,) = goal.targets
    assert target.code == "4548-4"
    assert target.high.value == Quantity(7, "%")  # ADA: < 7%
    assert not target.high.inclusive
    kinds = {a.id: a.kind.value for a in template.activities}
    assert kinds == {
        "glucose-self-monitoring": "measurement",
        "a1c-test": "lab",
        "nutrition-referral": "referral",
        "endocrinology-referral": "referral",
        "education": "education",
        "eye-exam": "appointment",
        "foot-exam": "appointment",
    }
    a1c = next(a for a in template.activities if a.id == "a1c-test")
    assert (a1c.timing.frequency, a1c.timing.period, a1c.timing.period_unit) == (1, 3, "mo")
    for exam in ("eye-exam", "foot-exam"):
        timing = next(a for a in template.activities if a.id == exam).timing
        assert (timing.frequency, timing.period, timing.period_unit) == (1, 1, "a")

    rules = [r.rule for r in template.rules]
    level_1, level_2 = rule(rules, "hypoglycemia-level-1"), rule(rules, "hypoglycemia-level-2")
    assert isinstance(level_1, ThresholdRule)
    # ADA level 1 < 70 mg/dL, level 2 < 54 mg/dL: a reading breaches when it misses the target.
    assert level_1.target.met_by(Quantity(70, "mg/dL"))
    assert not level_1.target.met_by(Quantity("69.9", "mg/dL"))
    assert not level_1.target.met_by(Quantity("3.8", "mmol/L"))  # 68.5 mg/dL, converted
    assert level_2.target.met_by(Quantity(54, "mg/dL"))
    assert not level_2.target.met_by(Quantity(53, "mg/dL"))
    assert level_2.severity.value == "critical"
    poor = rule(rules, "a1c-poor-control")
    assert poor.target.met_by(Quantity(9, "%"))  # HEDIS poor control is > 9%
    assert not poor.target.met_by(Quantity("9.1", "%"))


def test_an_older_adult_gets_an_individualized_a1c_goal():
    template = load_template("type-2-diabetes")
    for override in ("8 %", 8, Quantity(8, "%"), Decimal(8)):
        plan, _ = instantiate(template, PATIENT, DISCHARGE, {"a1c_goal": override})
        (target,) = plan.goals[0].targets
        assert target.met_by(Quantity("7.5", "%"))
        assert not target.met_by(Quantity(8, "%"))
    assert template.values["a1c_goal"] == Quantity(7, "%")  # the template is unchanged


def test_instantiate_is_deterministic_with_an_id_source():
    template = load_template("type-2-diabetes")
    one = instantiate(template, PATIENT, pendulum.date(2026, 12, 1), ids=SequentialIds("s"))
    two = instantiate(template, PATIENT, pendulum.date(2026, 12, 1), ids=SequentialIds("s"))
    assert one == two
    plan, rules = one
    ids = SequentialIds("s")
    assert plan.id == ids.new_id()
    assert plan.goals[0].id == ids.new_id()
    assert [a.id for a in plan.activities] == [ids.new_id() for _ in plan.activities]
    assert plan.template == "type-2-diabetes|1.0.0"
    assert plan.patient.id == "pat-1"
    assert plan.period.start == pendulum.datetime(2026, 12, 1, tz=CHICAGO)
    assert plan.period.end == pendulum.datetime(2027, 12, 1, tz=CHICAGO)
    assert plan.goals[0].start == pendulum.date(2026, 12, 1)
    assert plan.goals[0].source.startswith("American Diabetes Association")
    by_id = {a.id: a for a in plan.activities}
    for item in rules:
        if isinstance(item, OverdueRule):
            assert item.activity in by_id
        if isinstance(item, GoalRule):
            assert item.goal == plan.goals[0].id
            assert item.alert_on == {GoalAchievement.WORSENING, GoalAchievement.NOT_ACHIEVED}
    referral = next(a for a in plan.activities if a.description.startswith("Referral to a"))
    # within 30 days, counted in local dates: through 31 December, ending 1 January 00:00
    assert plan.period.start + referral.timing.within == pendulum.datetime(2027, 1, 1, tz=CHICAGO)
    other = instantiate(template, PATIENT, pendulum.date(2026, 12, 1))[0]
    assert other.id != plan.id  # random ids by default


def test_start_must_be_aware_or_a_date_with_a_timezone():
    template = load_template("hypertension")
    with pytest.raises(NaiveDatetimeError):
        instantiate(template, PATIENT, dt.datetime(2026, 12, 1, 9))
    with pytest.raises(ValidationError) as info:
        instantiate(template, Patient("p2"), pendulum.date(2026, 12, 1))
    assert info.value.location == "start"
    plan, _ = instantiate(template, Patient("p2"), pendulum.datetime(2026, 12, 1, 9, tz="UTC"))
    assert plan.period.start == pendulum.datetime(2026, 12, 1, 9, tz="UTC")


# --- hypertension ------------------------------------------------------------------------


def test_hypertension_goal_and_acc_aha_categories():
    template = load_template("hypertension")
    systolic, diastolic = template.goals[0].targets
    assert (systolic.component, diastolic.component) == ("8480-6", "8462-4")
    assert systolic.met_by(Quantity(129, "mm[Hg]"))
    assert not systolic.met_by(Quantity(130, "mm[Hg]"))  # goal < 130/80
    assert not diastolic.met_by(Quantity(80, "mm[Hg]"))
    rules = [r.rule for r in template.rules]

    def breaches(suffix, value):
        return not rule(rules, suffix).target.met_by(Quantity(value, "mm[Hg]"))

    for suffix, breach, fine in (
        ("stage-1-systolic", 130, 129),
        ("stage-1-diastolic", 80, 79),
        ("stage-2-systolic", 140, 139),
        ("stage-2-diastolic", 90, 89),
        ("severe-systolic", 181, 180),
        ("severe-diastolic", 121, 120),
    ):
        assert breaches(suffix, breach), suffix
        assert not breaches(suffix, fine), suffix
    severities = {r.id.split(".")[1]: r.severity.value for r in rules if hasattr(r, "target")}
    assert severities == {
        "stage-1-systolic": "info",
        "stage-1-diastolic": "info",
        "stage-2-systolic": "warning",
        "stage-2-diastolic": "warning",
        "severe-systolic": "critical",
        "severe-diastolic": "critical",
    }


# --- heart failure -----------------------------------------------------------------------


def test_heart_failure_weight_gain_is_an_override_with_a_default():
    template = load_template("heart-failure")
    parameter = template.parameter("weight_gain_day")
    assert parameter.kind is ParameterKind.QUANTITY
    assert parameter.default == Quantity(2, "[lb_av]")
    assert "2 or 3 lb" in parameter.description
    assert "AHA / HFSA" in template.source(parameter.source).citation
    _, rules = instantiate(template, PATIENT, DISCHARGE, ids=SequentialIds())
    day, week = rule(rules, "weight-gain-day"), rule(rules, "weight-gain-week")
    assert isinstance(day, TrendRule)
    assert (day.change, day.window, day.direction) == (
        Quantity(2, "[lb_av]"),
        dt.timedelta(days=1),
        "rise",
    )
    assert (week.change, week.window) == (Quantity(5, "[lb_av]"), dt.timedelta(days=7))
    assert day.source.startswith("AHA / HFSA")
    missing = rule(rules, "weight-missing")
    assert isinstance(missing, MissingRule)
    assert (missing.code, missing.max_gap) == ("29463-7", dt.timedelta(days=2))
    _, rules = instantiate(template, PATIENT, DISCHARGE, {"weight_gain_day": "3 [lb_av]"})
    assert rule(rules, "weight-gain-day").change == Quantity(3, "[lb_av]")
    _, rules = instantiate(template, PATIENT, DISCHARGE, {"weight_gain_day": 3})
    assert rule(rules, "weight-gain-day").change == Quantity(3, "[lb_av]")
    _, rules = instantiate(template, PATIENT, DISCHARGE, {"weight_gain_day": "1.4 kg"})
    assert rule(rules, "weight-gain-day").change == Quantity("1.4", "kg")
    activities = {a.code.codings[0].code for a in template.activities}
    assert activities == {"29463-7", "85354-9"}


def test_overrides_are_checked_and_never_echoed():
    template = load_template("heart-failure")
    with pytest.raises(ValidationError) as info:
        template.with_overrides({"weight_gain_dy": 3})
    assert info.value.location == "overrides.weight_gain_dy"
    assert "weight_gain_day" in str(info.value)  # says what was expected
    for bad in (phi.PATIENT_MRN, "3 mm[Hg]", "9 [lb_av]", True, [3], "-1 kg"):
        with pytest.raises(ValidationError) as info:
            template.with_overrides({"weight_gain_day": bad})
        assert info.value.location == "overrides.weight_gain_day"
        phi.assert_no_phi(str(info.value))
    with pytest.raises(ValidationError) as info:
        template.with_overrides({"missing_weight_after": "P30D"})
    assert "at most P7D" in str(info.value)


def test_overrides_accumulate():
    template = load_template("heart-failure")
    once = template.with_overrides({"weight_gain_day": 3})
    twice = once.with_overrides({"weight_gain_week": 4})
    assert twice.overrides == {
        "weight_gain_day": Quantity(3, "[lb_av]"),
        "weight_gain_week": Quantity(4, "[lb_av]"),
    }
    assert twice.values["missing_weight_after"] == dt.timedelta(days=2)
    assert once != template


# --- hip replacement ---------------------------------------------------------------------


def test_hip_replacement_series_nursing_walker_and_follow_up():
    template = load_template("hip-replacement")
    plan, rules = instantiate(template, PATIENT, DISCHARGE, ids=SequentialIds())
    assert plan.period.end == DISCHARGE.add(weeks=6)
    by_kind = {a.kind.value: a for a in plan.activities}
    therapy = next(a for a in plan.activities if a.code.has(CPT, "97110"))
    assert (therapy.timing.frequency, therapy.timing.period_unit) == (2, "wk")
    assert by_kind["home-visit"].timing.frequency == 2
    walker = by_kind["equipment-delivery"]
    assert walker.code.has("HCPCS", "E0143")
    assert DISCHARGE + walker.timing.within == pendulum.datetime(2026, 11, 27, tz=CHICAGO)
    follow_up = next(a for a in plan.activities if a.code.text == "Post-operative follow-up visit")
    assert DISCHARGE + follow_up.timing.within == pendulum.datetime(2026, 12, 10, tz=CHICAGO)
    overdue = {r.activity for r in rules if isinstance(r, OverdueRule)}
    assert {walker.id, follow_up.id} <= overdue
    longer, _ = instantiate(template, PATIENT, DISCHARGE, {"pt_series": "P8W", "pt_per_week": 3})
    assert longer.period.end == DISCHARGE.add(weeks=8)


# --- transitional care -------------------------------------------------------------------


def _tcm(overrides=None, start=DISCHARGE):
    plan, rules = instantiate(
        load_template("transitional-care"), PATIENT, start, overrides, SequentialIds()
    )
    contact, visit = plan.activities
    return plan, rules, contact, visit


def test_tcm_contact_within_two_business_days_and_visit_within_14_days_by_default():
    plan, rules, contact, visit = _tcm()
    # Thanksgiving (Thu) is a holiday: Fri 27 and Mon 30 November are the 2 business days.
    assert DISCHARGE + contact.timing.within == pendulum.datetime(2026, 12, 1, tz=CHICAGO)
    assert visit.code.has(CPT, "99495")
    assert DISCHARGE + visit.timing.within == pendulum.datetime(2026, 12, 10, tz=CHICAGO)
    assert plan.period.end == DISCHARGE.add(days=30)
    assert {r.activity for r in rules} == {contact.id, visit.id}


def test_tcm_high_complexity_or_lace_of_10_picks_7_days():
    for overrides in ({"complexity": "high"}, {"lace": 10}, {"lace": 19}):
        _, _, _, visit = _tcm(overrides)
        assert visit.code.has(CPT, "99496")
        # within 7 days: day 8 after discharge (3 December) is overdue
        assert DISCHARGE + visit.timing.within == pendulum.datetime(2026, 12, 3, tz=CHICAGO)
    _, _, _, visit = _tcm({"lace": 9})
    assert visit.code.has(CPT, "99495")
    _, _, _, visit = _tcm({"lace": 12, "complexity": "moderate"})  # the clinician's call wins
    assert visit.code.has(CPT, "99495")
    with pytest.raises(ValidationError) as info:
        _tcm({"lace": 20})
    assert info.value.location == "overrides.lace"
    with pytest.raises(ValidationError, match="expected one of: high, moderate"):
        _tcm({"complexity": "extreme"})


def test_tcm_windows_count_local_days_across_dst():
    start = pendulum.datetime(2026, 10, 29, 22, 0, tz=CHICAGO)  # DST ends on 1 November
    _, _, _, visit = _tcm({"complexity": "high"}, start)
    assert (start + visit.timing.within).in_tz(CHICAGO) == pendulum.datetime(
        2026, 11, 6, tz=CHICAGO
    )


def test_window_deadlines():
    assert Window(1).deadline(DISCHARGE, CHICAGO) == pendulum.datetime(2026, 11, 27, tz=CHICAGO)
    assert Window(2, business=True).deadline(DISCHARGE, CHICAGO) == pendulum.datetime(
        2026, 12, 1, tz=CHICAGO
    )
    assert Window(2, business=True).describe() == "within 2 business days after the start"
    with pytest.raises(ValidationError):
        Window(0)


# --- the file format ---------------------------------------------------------------------

MINIMAL = """\
[template]
schema = 1
name = "weights"
version = "0.1.0"
title = "Weights"
period = "P30D"

[sources.local]
citation = "a local protocol"

[parameters.gain]
kind = "quantity"
unit = "kg"
default = "1 kg"
description = "gain"
source = "local"

[goals.weight]
description = "Weight between 70 and 80 kg"
targets = [{ code = "29463-7", at_least = "70 kg", at_most = "80 kg" }]
due = "P14D"
source = "local"

[activities.weigh]
kind = "measurement"
code = { system = "LOINC", code = "29463-7" }
timing = { frequency = 1, period = 1, unit = "d" }
source = "local"

[rules.gain]
kind = "trend"
code = "29463-7"
change = "${gain}"
window = "P1D"
source = "local"
"""


def test_a_template_from_toml_text_and_from_a_dict():
    import tomllib

    template = Template.from_toml(MINIMAL, "weights.toml")
    assert template.goals[0].due == dt.timedelta(days=14)
    assert Template.from_dict(tomllib.loads(MINIMAL)) == template
    plan, rules = instantiate(template, PATIENT, pendulum.date(2026, 12, 1), ids=SequentialIds())
    assert plan.goals[0].due == pendulum.date(2026, 12, 15)
    assert rules[0].id == "weights.gain"


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ('period = "P30D"', 'period = "P1M"', 6, "template.period", "ISO 8601 duration"),
        ('default = "1 kg"', 'default = "1 mm[Hg]"', 14, "parameters.gain.default", "kg"),
        ('change = "${gain}"', 'change = "${gian}"', 33, "rules.gain.change", "declared"),
        ('change = "${gain}"', 'change = "${gain"', 33, "rules.gain.change", "reference"),
        ('at_most = "80 kg"', 'at_most = "80 %"', 20, "goals.weight.targets.[0]", "kg"),
        ('kind = "trend"', 'kind = "trendy"', 31, "rules.gain.kind", "threshold"),
        (
            "timing = { frequency = 1",
            "timing = { frequencey = 1",
            27,
            "activities.weigh.timing.frequencey",
            "unknown",
        ),
        (
            'source = "local"\n\n[rules',
            'source = "nowhere"\n\n[rules',
            28,
            "activities.weigh.source",
            "sources",
        ),
        ("schema = 1", "schema = 2", 2, "template.schema", "schema = 1"),
        ('title = "Weights"', 'title = "Weights', 5, None, "invalid TOML"),
    ],
)
def test_file_errors_name_the_line_and_key(old, new, line, key, message):
    assert old in MINIMAL
    with pytest.raises(RuleError) as info:
        Template.from_toml(MINIMAL.replace(old, new, 1), "weights.toml")
    error = info.value
    assert (error.source, error.line) == ("weights.toml", line)
    assert error.key == key
    assert message in str(error)


def test_every_figure_must_name_its_source():
    text = MINIMAL.replace('window = "P1D"\nsource = "local"\n', 'window = "P1D"\n')
    with pytest.raises(RuleError, match="every figure names its source") as info:
        Template.from_toml(text, "weights.toml")
    assert info.value.key == "rules.gain"


def test_every_choice_is_proved_when_the_file_loads():
    text = (
        MINIMAL
        + """
[parameters.level]
kind = "choice"
default = "low"
description = "level"
source = "local"
choices.low = { days = 7 }
choices.high = { dayz = 3 }

[activities.visit]
kind = "appointment"
timing = { within_days = "${level.days}" }
source = "local"
"""
    )
    with pytest.raises(RuleError, match="every choice of level to define days") as info:
        Template.from_toml(text, "weights.toml")
    assert "with level set to another of its choices" in str(info.value)
    assert info.value.key == "activities.visit.timing.within_days"
