import datetime as dt
import random

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.authorization.case import Program
from caredomain.authorization.deadlines import DEADLINES
from caredomain.authorization.rules import (
    CodePattern,
    Covered,
    InfoNeeded,
    LineFacts,
    NetworkStatus,
    Outcome,
    PaNeeded,
    PatternKind,
    PriorService,
    Rule,
    RulePack,
    Setting,
    normalize_code,
)
from caredomain.core.codes import CPT, HCPCS
from caredomain.core.errors import RuleError, ValidationError
from caredomain.core.parties import AdministrativeGender

AUTH = Outcome(Covered.COVERED, PaNeeded.AUTH_NEEDED, doc_needed=["clinical"])
NO_AUTH = Outcome(Covered.COVERED, PaNeeded.NO_AUTH)
NOT_COVERED = Outcome(Covered.NOT_COVERED, None, reason="cosmetic")
DAY = pendulum.Date(2026, 3, 2)


def facts(code="15823", system=CPT, payer="acme", day=DAY, **kw):
    return LineFacts(payer, day, system, code, **kw)


# --- code patterns -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "low", "high"),
    [
        ("15823", PatternKind.EXACT, "15823", ""),
        (" 64490-64495 ", PatternKind.RANGE, "64490", "64495"),
        ("L58*", PatternKind.PREFIX, "L58", ""),
        ("l58*", PatternKind.PREFIX, "L58", ""),
        ("H02.831", PatternKind.EXACT, "H02831", ""),
        ("*", PatternKind.ANY, "", ""),
    ],
)
def test_patterns_parse(text, kind, low, high):
    pattern = CodePattern.parse(text)
    assert (pattern.kind, pattern.low, pattern.high) == (kind, low, high)
    assert str(pattern) == text.strip()


@pytest.mark.parametrize(
    "text", ["", "  ", "64495-64490", "6449-64495", "1-2-3", "L5*8", "15 823", "-64495", "*L5"]
)
def test_malformed_patterns_are_refused(text):
    with pytest.raises(ValidationError):
        CodePattern.parse(text)


def test_pattern_matching():
    assert CodePattern.parse("64490-64495").matches("64493")
    assert not CodePattern.parse("64490-64495").matches("64496")
    assert CodePattern.parse("L58*").matches("L5856")
    assert not CodePattern.parse("L58*").matches("L5956")
    # ICD-10-CM category ranges match every code under the categories
    assert CodePattern.parse("I20-I25").matches(normalize_code("I25.10"))
    assert not CodePattern.parse("I20-I25").matches("I26")


def test_specificity_orders_kinds_and_widths():
    order = ["*", "1*", "15*", "10000-19999", "15820-15829", "15820-15823", "15823"]
    keys = [CodePattern.parse(t).specificity for t in order]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


codes = st.text("0123", min_size=3, max_size=3)


@st.composite
def patterns(draw):
    kind = draw(st.sampled_from(["exact", "range", "prefix", "any"]))
    if kind == "exact":
        return CodePattern.parse(draw(codes))
    if kind == "range":
        a, b = sorted([draw(codes), draw(codes)])
        return CodePattern.parse(f"{a}-{b}")
    if kind == "prefix":
        return CodePattern.parse(draw(st.text("0123", min_size=1, max_size=3)) + "*")
    return CodePattern.any()


@given(patterns(), patterns(), codes)
def test_covers_and_overlaps_agree_with_matches(a, b, code):
    if a.covers(b) and b.matches(code):
        assert a.matches(code)
    if a.matches(code) and b.matches(code):
        assert a.overlaps(b)
        assert b.overlaps(a)


# --- outcomes and rules: CRD invariants and validation ---------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"covered": Covered.NOT_COVERED, "pa_needed": PaNeeded.AUTH_NEEDED},  # crd-ci-q2
        {"covered": Covered.COVERED, "pa_needed": None},
        {"pa_needed": PaNeeded.SATISFIED},  # crd-ci-q5: needs an approval id
        {"pa_needed": PaNeeded.CONDITIONAL},  # crd-ci-q3: no info_needed
        {"pa_needed": PaNeeded.AUTH_NEEDED, "info_needed": ["location"]},  # info, no conditional
        {"pa_needed": PaNeeded.CONDITIONAL, "info_needed": ["OTH"]},  # crd-ci-q6: no reason
        {"pa_needed": PaNeeded.AUTH_NEEDED, "documents": ["notes"]},  # documents, no doc_needed
    ],
)
def test_outcomes_keep_crd_invariants(fields):
    with pytest.raises(ValidationError):
        Outcome(**fields)


def test_a_conditional_outcome_with_info_needed_is_fine():
    outcome = Outcome(
        pa_needed=PaNeeded.CONDITIONAL, info_needed=["performer"], reason="depends on the site"
    )
    assert outcome.info_needed == (InfoNeeded.PERFORMER,)


@pytest.mark.parametrize(
    "fields",
    [
        {"effective": dt.date(2024, 1, 1), "end": dt.date(2023, 1, 1)},
        {"effective": dt.date(2024, 1, 1), "end": dt.date(2024, 1, 1)},
        {"exempt_providers": ["12345"]},
        {"places_of_service": ["2"]},
        {"age_at_least": 65, "age_below": 18},
        {"units_per": "fortnight"},
        {"exclusion": True, "fallback": True},
        {"system": None},
    ],
)
def test_rules_refuse_bad_fields(fields):
    base = {"id": "R", "outcome": AUTH, "system": "CPT", "codes": ["15823"]}
    with pytest.raises(ValidationError):
        Rule(**{**base, **fields})


def test_rule_system_short_names_resolve():
    rule = Rule("R", AUTH, system="HCPCS", codes="K0856")
    assert rule.system == HCPCS
    assert rule.codes == (CodePattern.parse("K0856"),)


# --- matching ---------------------------------------------------------------------------


def test_dates_are_half_open():
    rule = Rule("R", AUTH, system="CPT", effective=dt.date(2020, 7, 1), end=dt.date(2022, 1, 7))
    assert rule.assess(facts(day=pendulum.Date(2020, 6, 30))) is None
    assert rule.assess(facts(day=pendulum.Date(2020, 7, 1))) == ()
    assert rule.assess(facts(day=pendulum.Date(2022, 1, 6))) == ()
    assert rule.assess(facts(day=pendulum.Date(2022, 1, 7))) is None


def test_each_matcher_fails_succeeds_or_asks():
    rule = Rule(
        "R",
        AUTH,
        system="CPT",
        payer="Acme",
        plans=["gold"],
        settings=["outpatient-hospital"],
        network=NetworkStatus.IN,
        sexes=["female"],
        age_at_least=18,
        age_below=65,
        diagnoses=["H02.83*"],
        excluded_diagnoses=["H02.831"],
    )
    full = {
        "plan": "Gold",
        "setting": Setting.OUTPATIENT_HOSPITAL,
        "network": NetworkStatus.IN,
        "sex": AdministrativeGender.FEMALE,
        "age": 40,
        "diagnoses": frozenset({"H02834"}),
    }
    assert rule.assess(facts(**full)) == ()
    assert rule.assess(facts(payer="other", **full)) is None
    for key, value in [
        ("plan", "silver"),
        ("setting", Setting.OFFICE),
        ("network", NetworkStatus.OUT),
        ("sex", AdministrativeGender.MALE),
        ("age", 17),
        ("age", 65),
        ("diagnoses", frozenset({"E119"})),
        ("diagnoses", frozenset({"H02834", "H02831"})),  # an excluded diagnosis
    ]:
        assert rule.assess(facts(**{**full, key: value})) is None, key
    asked = rule.assess(facts())
    assert {m.info for m in asked} == {InfoNeeded.OTH, InfoNeeded.LOCATION, InfoNeeded.PERFORMER}
    assert {m.what for m in asked} >= {"plan", "setting or place of service", "diagnoses"}


def test_billed_with_needs_a_paired_code_in_the_request():
    rule = Rule(
        "BOTOX", AUTH, system="CPT", codes=["64612"], billed_with=[("HCPCS", "J0585-J0588")]
    )
    assert rule.assess(facts("64612")) is None
    paired = frozenset({(HCPCS, "J0586"), (CPT, "64612")})
    assert rule.assess(facts("64612", billed_with=paired)) == ()


def history(*items):
    return tuple(PriorService("CPT", code, day, units) for code, day, units in items)


def test_units_thresholds_count_the_rules_own_codes_in_its_period():
    rule = Rule("PT", AUTH, system="CPT", codes=["97110", "97530"], units_over=12)
    d = pendulum.Date
    last_year = history(("97110", d(2025, 12, 30), 20))
    this_year = history(*[("97110", d(2026, 1, 5 + i), 1) for i in range(11)], ("97161", DAY, 5))
    assert rule.assess(facts("97110")) is not None  # no history: unknown
    assert rule.assess(facts("97110")) == (rule.assess(facts("97110"))[0],)
    assert rule.assess(facts("97110", history=())) is None  # 0 + 1 <= 12
    assert rule.assess(facts("97110", units=13, history=None)) == ()  # alone over 12
    assert rule.assess(facts("97110", history=last_year)) is None  # another year
    assert rule.assess(facts("97110", history=this_year)) is None  # 11 + 1 = 12
    assert rule.assess(facts("97110", units=2, history=this_year)) == ()  # 11 + 2 > 12
    assert rule.assess(facts("97110", prior_units=12)) == ()  # the caller's count wins


@pytest.mark.parametrize(
    ("per", "day", "counted"),
    [
        ("calendar-month", pendulum.Date(2026, 3, 1), True),
        ("calendar-month", pendulum.Date(2026, 2, 28), False),
        ("P30D", pendulum.Date(2026, 2, 1), True),
        ("P30D", pendulum.Date(2026, 1, 31), False),
        ("lifetime", pendulum.Date(1990, 1, 1), True),
        ("service", DAY, False),
    ],
)
def test_units_periods(per, day, counted):
    rule = Rule("PT", AUTH, system="CPT", codes=["97110"], units_over=1, units_per=per)
    found = rule.assess(facts("97110", history=history(("97110", day, 1))))
    assert (found == ()) is counted


# --- precedence and ties -------------------------------------------------------------------


def winner(pack, **kw):
    return next(m.rule.id for m in pack.matches(facts(**kw)) if m.sure)


def test_precedence_exclusion_then_code_then_conditions_then_priority():
    pack = RulePack(
        "p",
        [
            Rule("any", AUTH, system="CPT"),
            Rule("prefix", NO_AUTH, system="CPT", codes=["158*"]),
            Rule("range", AUTH, system="CPT", codes=["15820-15823"]),
            Rule("exact", NO_AUTH, system="CPT", codes=["15823"]),
            Rule("exact-office", AUTH, system="CPT", codes=["15823"], settings=["office"]),
            Rule("carve-out", NO_AUTH, system="CPT", codes=["1*"], exclusion=True, sexes=["male"]),
            Rule("fallback", NO_AUTH, fallback=True),
        ],
    )
    assert winner(pack, sex=AdministrativeGender.MALE, setting=Setting.OFFICE) == "carve-out"
    assert winner(pack, setting=Setting.OFFICE) == "exact-office"
    assert winner(pack, setting=Setting.HOME) == "exact"
    assert winner(pack, code="15821") == "range"
    assert winner(pack, code="15850") == "prefix"
    assert winner(pack, code="99213") == "any"
    assert winner(pack, code="K0856", system=HCPCS) == "fallback"


def test_equal_precedence_with_different_answers_is_a_tie():
    with pytest.raises(RuleError) as info:
        RulePack(
            "p",
            [
                Rule("A", AUTH, system="CPT", codes=["15823"], settings=["office"]),
                Rule("B", NO_AUTH, system="CPT", codes=["15823"], network=NetworkStatus.IN),
            ],
        )
    assert "A" in str(info.value)
    assert "B" in str(info.value)
    assert "tie" in str(info.value)


@pytest.mark.parametrize(
    "other",
    [
        Rule("B", AUTH, system="CPT", codes=["15823"]),  # answers alike
        Rule("B", NO_AUTH, system="CPT", codes=["15823"], effective=dt.date(2027, 1, 1)),
        Rule("B", NO_AUTH, system="CPT", codes=["15823"], payer="other"),
        Rule("B", NO_AUTH, system="CPT", codes=["15823"], priority=1),
        Rule("B", NO_AUTH, system="HCPCS", codes=["15823"]),
    ],
)
def test_no_tie_when_rules_cannot_collide(other):
    first = Rule("A", AUTH, system="CPT", codes=["15823"], payer="acme", end=dt.date(2027, 1, 1))
    RulePack("p", [first, other])


def test_overlapping_ranges_of_equal_width_tie():
    with pytest.raises(RuleError):
        RulePack(
            "p",
            [
                Rule("A", AUTH, system="CPT", codes=["64490-64495"]),
                Rule("B", NO_AUTH, system="CPT", codes=["64493-64498"]),
            ],
        )


def test_duplicate_ids_are_refused():
    with pytest.raises(RuleError, match="duplicate"):
        RulePack("p", [Rule("A", AUTH, system="CPT"), Rule("A", AUTH, system="HCPCS")])


def test_program_gives_the_deadline():
    rule = Rule("A", AUTH, system="CPT", program=Program.MEDICARE_OPD)
    assert rule.deadline == DEADLINES[Program.MEDICARE_OPD]


# --- the index against a linear scan, order independence ---------------------------------------

OUTCOMES = [AUTH, NO_AUTH, NOT_COVERED]


@st.composite
def rules(draw, index):
    pattern = draw(patterns())
    start = draw(st.integers(2019, 2027))
    fields = {
        "id": f"R{index}",
        "outcome": draw(st.sampled_from(OUTCOMES)),
        "system": CPT,
        "codes": (pattern,),
        "priority": index,  # unique: no ties, whatever else is drawn
    }
    if draw(st.booleans()):
        fields["effective"] = dt.date(start, 1, 1)
        if draw(st.booleans()):
            fields["end"] = dt.date(start + draw(st.integers(1, 3)), 1, 1)
    if draw(st.booleans()):
        fields["settings"] = draw(st.sets(st.sampled_from(list(Setting)), min_size=1, max_size=2))
    if draw(st.booleans()):
        fields["age_at_least"] = draw(st.integers(0, 80))
    if draw(st.booleans()):
        fields["payer"] = draw(st.sampled_from(["acme", "other"]))
    fields["exclusion"] = draw(st.booleans())
    return Rule(**fields)


@st.composite
def packs(draw):
    n = draw(st.integers(0, 10))
    return [draw(rules(i)) for i in range(n)]


@st.composite
def line_facts(draw):
    return facts(
        code=draw(codes),
        day=pendulum.Date(draw(st.integers(2018, 2029)), 6, 1),
        setting=draw(st.none() | st.sampled_from(list(Setting))),
        age=draw(st.none() | st.integers(0, 99)),
    )


def scan(rules_, line):
    found = set()
    for rule in rules_:
        pattern = rule.pattern_for(line.code)
        if pattern is None:
            continue
        missing = rule.assess(line)
        if missing is not None:
            found.add((rule.id, str(pattern), missing))
    return found


@given(packs(), line_facts())
def test_the_index_finds_exactly_what_a_scan_finds(rules_, line):
    pack = RulePack("p", rules_)
    assert {(m.rule.id, str(m.pattern), m.missing) for m in pack.matches(line)} == scan(
        rules_, line
    )


@given(packs(), line_facts(), st.randoms(use_true_random=False))
def test_matches_do_not_depend_on_rule_order(rules_, line, rnd):
    shuffled = list(rules_)
    rnd.shuffle(shuffled)
    assert RulePack("a", rules_).matches(line) == RulePack("b", shuffled).matches(line)


@given(st.lists(st.tuples(patterns(), st.sampled_from(OUTCOMES)), max_size=6), st.randoms())
def test_ties_are_found_whatever_the_order(drawn, rnd):
    rules_ = [Rule(f"R{i}", o, system=CPT, codes=(p,)) for i, (p, o) in enumerate(drawn)]
    shuffled = list(rules_)
    rnd.shuffle(shuffled)
    outcomes = []
    for order in (rules_, shuffled):
        try:
            RulePack("p", order)
        except RuleError:
            outcomes.append("tie")
        else:
            outcomes.append("ok")
    assert outcomes[0] == outcomes[1]


def test_large_packs_index_ranges_of_several_lengths():
    rng = random.Random(7)
    rules_ = [
        Rule(f"R{i}", AUTH, system=CPT, codes=[f"{10000 + 10 * i}-{10000 + 10 * i + 4}"])
        for i in range(500)
    ]
    rules_.append(Rule("icd", AUTH, system=CPT, codes=["A10-A20"]))
    pack = RulePack("p", rules_)
    for _ in range(200):
        code = str(rng.randint(9990, 15100))
        line = facts(code=code)
        assert {m.rule.id for m in pack.matches(line)} == {r for r, _p, _m in scan(rules_, line)}
    assert [m.rule.id for m in pack.matches(facts(code="A15X"))] == ["icd"]


def test_fallbacks_for_one_payer_tie_across_systems():
    with pytest.raises(RuleError, match="tie"):
        RulePack(
            "p",
            [Rule("F1", NO_AUTH, fallback=True), Rule("F2", AUTH, system="CPT", fallback=True)],
        )
    RulePack(
        "p",
        [Rule("F1", NO_AUTH, fallback=True, payer="a"), Rule("F2", AUTH, fallback=True, payer="b")],
    )
