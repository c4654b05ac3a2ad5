import datetime as dt
from pathlib import Path

import pendulum
import pytest

from caredomain.authorization.case import Program
from caredomain.authorization.deadlines import DEADLINES
from caredomain.authorization.packs import (
    BUNDLED_PACKS,
    MEDICARE_CSV_COLUMNS,
    LintLevel,
    bundled_pack,
    lint,
    load_pack,
    medicare_pack,
    pack_from_csv,
    parse_pack,
)
from caredomain.authorization.rules import (
    Covered,
    LineFacts,
    PaNeeded,
    Rule,
    RulePack,
    Setting,
)
from caredomain.core.codes import CPT, HCPCS
from caredomain.core.errors import RuleError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GOOD = """\
[pack]
name = "test"
payer = "acme"
program = "cms-0057-f"

[default]
pa_needed = "no-auth"

[[rules]]
id = "CARDIO"
system = "CPT"
codes = ["99242-99245"]
pa_needed = "auth-needed"
doc_needed = ["clinical"]
documents = ["Office notes"]

[[rules]]
id = "BLEPH"
system = "CPT"
codes = ["15823"]
setting = "outpatient-hospital"
effective = 2020-07-01
end = "2030-01-01"
pa_needed = "auth-needed"
"""


def decide(pack, code, day="2026-03-02", system=CPT, payer="acme", **kw):
    line = LineFacts(payer, pendulum.parse(day).date(), system, code, **kw)
    sure = [m for m in pack.matches(line) if m.sure]
    return sure[0].rule if sure else None


# --- TOML packs ----------------------------------------------------------------------------


def test_a_good_pack_loads():
    pack = parse_pack(GOOD, "good.toml")
    assert pack.name == "test"
    assert [r.id for r in pack.rules] == ["test:default", "CARDIO", "BLEPH"]
    cardio = pack.rule("CARDIO")
    assert cardio.payer == "acme"
    assert cardio.deadline == DEADLINES[Program.CMS_0057_F]
    assert cardio.outcome.documents == ("Office notes",)
    assert cardio.defined_at.line == 10
    bleph = pack.rule("BLEPH")
    assert bleph.settings == {Setting.OUTPATIENT_HOSPITAL}
    assert bleph.effective == dt.date(2020, 7, 1)
    assert bleph.end == dt.date(2030, 1, 1)
    assert decide(pack, "99244").id == "CARDIO"
    assert decide(pack, "99213").id == "test:default"


def test_the_example_pack_loads_and_lints_clean():
    pack = load_pack(str(EXAMPLES / "payer-pack.toml"))
    assert pack.name == "acme-commercial"
    assert not [f for f in lint(pack) if f.level is LintLevel.ERROR]
    consult = pack.rule("ACME-CARDIO-CONSULT")
    assert consult.deadline.standard.elapsed == dt.timedelta(days=15)
    assert consult.exempt_providers == {"1234567893"}


def bad(text):
    with pytest.raises(RuleError) as info:
        parse_pack(text, "bad.toml")
    return info.value


@pytest.mark.parametrize(
    ("edit", "line", "key"),
    [
        # unknown keys, at each level
        (("[pack]", "colour = 1\n[pack]"), 1, "colour"),
        (('name = "test"', 'name = "test"\nflavour = "x"'), 3, "pack.flavour"),
        (('pa_needed = "no-auth"\n', 'pa_needed = "no-auth"\nmaybe = 1\n'), 8, "default.maybe"),
        (('id = "BLEPH"', 'id = "BLEPH"\ncodez = ["1"]'), 19, "rules[1].codez"),
        # a malformed range
        (('codes = ["15823"]', 'codes = ["15829-15823"]'), 20, "rules[1].codes"),
        (('codes = ["15823"]', 'codes = ["1582-15823"]'), 20, "rules[1].codes"),
        # an end before the start
        (('end = "2030-01-01"', 'end = "2019-01-01"'), 23, "rules[1].end"),
        # values of the wrong kind
        (('setting = "outpatient-hospital"', 'setting = "garage"'), 21, "rules[1].setting"),
        (('program = "cms-0057-f"', 'program = "nope"'), 4, "pack.program"),
        (('id = "BLEPH"', 'id = "CARDIO"'), 18, "CARDIO"),  # duplicate id
    ],
)
def test_bad_packs_fail_with_file_line_and_key(edit, line, key):
    old, new = edit
    assert old in GOOD
    error = bad(GOOD.replace(old, new, 1))
    assert error.source == "bad.toml"
    assert error.line == line, str(error)
    assert error.key == key
    assert f"bad.toml:{line}" in str(error)


def test_a_missing_outcome_is_an_error_at_the_rule():
    error = bad(GOOD.replace('pa_needed = "auth-needed"\ndoc_needed', "doc_needed"))
    assert (error.line, error.key) == (9, "rules[0]")


def test_overlapping_ties_fail_with_the_line_of_the_second_rule():
    text = GOOD + (
        '\n[[rules]]\nid = "BLEPH-2"\nsystem = "CPT"\ncodes = ["15823"]\n'
        'network = "in"\npa_needed = "no-auth"\n'
    )
    error = bad(text)
    assert "BLEPH" in str(error)
    assert "BLEPH-2" in str(error)
    assert "tie" in str(error)
    assert error.line == 27
    assert error.key == "BLEPH-2"


def test_invalid_toml_has_its_line():
    error = bad(GOOD + "\n[[rules]\n")
    assert error.line == 26
    assert "invalid TOML" in str(error)


def test_custom_decision_timeframes():
    pack = parse_pack(
        GOOD.replace(
            'program = "cms-0057-f"',
            'decision_due = { standard = { business_days = 5, not_over = "P7D" }, '
            'expedited = "PT24H", source = "contract" }',
        )
    )
    deadline = pack.rule("CARDIO").deadline
    assert deadline.standard.business_days == 5
    assert deadline.standard.elapsed == dt.timedelta(days=7)
    assert deadline.expedited.elapsed == dt.timedelta(hours=24)
    assert deadline.source == "contract"


def test_every_rule_key_reads():
    pack = parse_pack(
        """
[[rules]]
id = "ALL"
description = "d"
category = "c"
source = "s"
system = "HCPCS"
codes = ["J0585-J0588", "L58*"]
payer = "acme"
plans = ["gold"]
lines_of_business = ["commercial"]
effective = 2024-01-01
end = 2025-01-01
setting = ["office", "home"]
place_of_service = ["11", "12"]
network = "in"
sex = "female"
age_at_least = 18
age_below = 65
diagnoses = ["I20-I25"]
excluded_diagnoses = ["I25.2"]
billed_with = ["CPT:64612"]
units_over = 4
units_per = "P90D"
exempt_providers = ["1234567893"]
exclusion = true
priority = 3
program = "medicare-dmepos"
covered = "conditional"
pa_needed = "auth-needed"
doc_needed = ["clinical", "admin"]
info_needed = ["performer"]
documents = ["notes"]
reason = "r"
"""
    )
    rule = pack.rule("ALL")
    assert rule.system == HCPCS
    assert rule.constraints == 11
    assert rule.outcome.covered is Covered.CONDITIONAL
    assert rule.billed_with[0][0] == CPT
    assert rule.tier == 2
    assert rule.priority == 3


# --- the Medicare CSV ---------------------------------------------------------------------

HEADER = "# test list\n# compiled for tests\n" + ",".join(MEDICARE_CSV_COLUMNS) + "\n"
SMALL = HEADER + (
    "opd,facet-joint,CPT,64490,64495,added,2023-07-01,S1,confirmed,\n"
    "opd,facet-joint,CPT,64492,,removed,2024-08-16,S2,secondary,\n"
    "opd,botulinum-toxin,CPT,64612,,added,2020-07-01,S1,confirmed,\n"
    "opd,botulinum-toxin,HCPCS,J0585,J0588,added,2020-07-01,S1,confirmed,\n"
    "dmepos,power-mobility,HCPCS,K0856,,added,2017-07-17,S3,confirmed,\n"
    "dmepos,power-mobility,HCPCS,K0856,,suspended,2020-03-01,S4,confirmed,\n"
    "dmepos,power-mobility,HCPCS,K0856,,reinstated,2020-08-03,S5,confirmed,\n"
    'dmepos,orthoses,HCPCS,L0456,,added,2026-10-28,S6,uncertain,"only one source"\n'
)


def test_small_csv_dates_on_both_sides_of_each_change():
    pack = pack_from_csv(SMALL, "small.csv")
    opd = {"setting": Setting.OUTPATIENT_HOSPITAL}
    assert decide(pack, "64492", "2023-06-30", payer="medicare", **opd).fallback
    assert decide(pack, "64492", "2023-07-01", payer="medicare", **opd).id.startswith("OPD-")
    assert decide(pack, "64492", "2024-08-15", payer="medicare", **opd).id.startswith("OPD-")
    assert decide(pack, "64492", "2024-08-16", payer="medicare", **opd).fallback
    assert (
        decide(pack, "64493", "2025-01-01", payer="medicare", **opd).id
        == "OPD-64493-64495-2023-07-01"
    )
    dme = {"system": HCPCS, "payer": "medicare"}
    assert decide(pack, "K0856", "2017-07-16", **dme).fallback
    assert decide(pack, "K0856", "2017-07-17", **dme).id == "DMEPOS-K0856-2017-07-17"
    assert decide(pack, "K0856", "2020-03-01", **dme).fallback
    assert decide(pack, "K0856", "2020-08-02", **dme).fallback
    assert decide(pack, "K0856", "2020-08-03", **dme).id == "DMEPOS-K0856-2020-08-03"
    # uncertain rows are left out unless asked for
    assert decide(pack, "L0456", "2026-11-01", **dme).fallback
    with_uncertain = pack_from_csv(SMALL, "small.csv", include_uncertain=True)
    assert not decide(with_uncertain, "L0456", "2026-11-01", **dme).fallback


def test_csv_rules_carry_program_setting_and_sources():
    pack = pack_from_csv(SMALL, "small.csv")
    rule = pack.rule("OPD-64490-64491-2023-07-01")
    assert rule.settings == {Setting.OUTPATIENT_HOSPITAL}
    assert rule.program is Program.MEDICARE_OPD
    assert rule.outcome.pa_needed is PaNeeded.AUTH_NEEDED
    assert rule.source == "S1"
    removed = pack.rule("OPD-64492-2023-07-01")
    assert removed.end == dt.date(2024, 8, 16)
    assert "S2" in removed.source
    assert "secondary" in removed.source
    assert pack.rule("DMEPOS-K0856-2017-07-17").program is Program.MEDICARE_DMEPOS
    assert pack.version == "as of 2024-08-16"


def test_botulinum_toxin_needs_the_pair():
    pack = pack_from_csv(SMALL, "small.csv")
    day, opd = "2026-01-05", {"setting": Setting.OUTPATIENT_HOSPITAL, "payer": "medicare"}
    alone = decide(pack, "64612", day, **opd)
    assert alone.fallback
    paired = frozenset({(CPT, "64612"), (HCPCS, "J0586")})
    assert not decide(pack, "64612", day, billed_with=paired, **opd).fallback
    assert not decide(pack, "J0586", day, system=HCPCS, billed_with=paired, **opd).fallback
    assert decide(pack, "J0586", day, system=HCPCS, **opd).fallback


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("opd,x,CPT,15823,,added,2020-13-01,S,confirmed,", "effective"),
        ("mdcr,x,CPT,15823,,added,2020-07-01,S,confirmed,", "list"),
        ("opd,x,LOINC2,15823,,added,2020-07-01,S,confirmed,", "system"),
        ("opd,x,CPT,15823,,retired,2020-07-01,S,confirmed,", "action"),
        ("opd,x,CPT,15823,,added,2020-07-01,S,sure,", "confidence"),
        ("opd,x,CPT,15823,1582X,added,2020-07-01,S,confirmed,", "code_to"),
        ("opd,x,CPT,15823,,added,2020-07-01,S,confirmed", "row"),
    ],
)
def test_malformed_csv_rows_name_line_and_column(row, column):
    with pytest.raises(RuleError) as info:
        pack_from_csv(HEADER + row + "\n", "bad.csv")
    assert (info.value.source, info.value.line, info.value.key) == ("bad.csv", 4, column)


def test_csv_header_must_match():
    with pytest.raises(RuleError) as info:
        pack_from_csv("list,category\n", "bad.csv")
    assert info.value.line == 1


# --- the bundled Medicare pack (the researched CSV) ----------------------------------------

MEDICARE = medicare_pack()
OPD = {"setting": Setting.OUTPATIENT_HOSPITAL, "payer": "medicare"}
DME = {"system": HCPCS, "payer": "medicare"}


def required(code, day, **kw):
    rule = decide(MEDICARE, code, day, **kw)
    return rule is not None and rule.outcome.pa_needed is PaNeeded.AUTH_NEEDED


@pytest.mark.parametrize(
    ("code", "before", "on", "kw"),
    [
        ("15823", "2020-06-30", "2020-07-01", OPD),  # blepharoplasty
        ("30400", "2020-06-30", "2020-07-01", OPD),  # rhinoplasty
        ("22551", "2021-06-30", "2021-07-01", OPD),  # cervical fusion
        ("63650", "2021-06-30", "2021-07-01", OPD),  # neurostimulator
        ("64490", "2023-06-30", "2023-07-01", OPD),  # facet joint
        ("K0856", "2017-07-16", "2017-07-17", DME),  # group 3 power wheelchair
        ("K0823", "2018-08-31", "2018-09-01", DME),  # power wheelchair (2018 list)
        ("L5856", "2020-11-30", "2020-12-01", DME),  # lower-limb prosthesis
        ("L0648", "2022-10-09", "2022-10-10", DME),  # orthosis (2022)
        ("L1951", "2024-08-11", "2024-08-12", DME),  # orthosis (2024)
        ("E0651", "2026-04-12", "2026-04-13", DME),  # pneumatic compression (2026)
    ],
)
def test_medicare_additions(code, before, on, kw):
    assert not required(code, before, **kw)
    assert required(code, on, **kw)


@pytest.mark.parametrize(
    ("code", "last", "off", "kw"),
    [
        ("67911", "2022-01-06", "2022-01-07", OPD),  # removed from blepharoplasty
        ("64492", "2024-08-15", "2024-08-16", OPD),  # facet joint removals
        ("L1833", "2024-08-11", "2024-08-12", DME),  # the knee orthosis removed in 2024
        ("E0748", "2024-08-27", "2024-08-28", DME),  # osteogenesis stimulators suspended
        ("K0856", "2020-02-29", "2020-03-01", DME),  # PHE suspension
    ],
)
def test_medicare_removals_and_suspensions(code, last, off, kw):
    assert required(code, last, **kw)
    assert not required(code, off, **kw)


def test_medicare_reinstatement_and_what_stays():
    assert not required("K0856", "2020-08-02", **DME)
    assert required("K0856", "2020-08-03", **DME)
    assert required("64490", "2026-03-02", **OPD)  # 64492 left, 64490 stayed
    assert not required("L1833", "2026-11-02", **DME)  # re-addition is uncertain: left out


def test_medicare_opd_is_hospital_outpatient_only():
    assert required("15823", "2026-03-02", **OPD)
    office = {"setting": Setting.OFFICE, "payer": "medicare"}
    asc = {"setting": Setting.AMBULATORY_SURGICAL_CENTER, "payer": "medicare"}
    assert not required("15823", "2026-03-02", **office)
    assert not required("15823", "2026-03-02", **asc)


def test_medicare_pack_is_bundled_by_name_and_lints_without_errors():
    assert "medicare" in BUNDLED_PACKS
    assert bundled_pack("medicare") is MEDICARE
    assert load_pack("medicare") is MEDICARE
    findings = lint(MEDICARE)
    assert not [f for f in findings if f.level is LintLevel.ERROR]
    gaps = {f.rules[0] for f in findings if f.kind == "gap"}
    assert "DMEPOS-K0856-2020-08-03" in gaps  # the PHE suspension shows as a gap
    with pytest.raises(KeyError):
        bundled_pack("nope")


def test_load_pack_reads_toml_and_csv_files(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text(GOOD, encoding="utf-8")
    assert load_pack(str(toml)).name == "test"
    csv_file = tmp_path / "lists.csv"
    csv_file.write_text(SMALL, encoding="utf-8")
    assert load_pack(str(csv_file)).name == "lists"
    with pytest.raises(RuleError, match="no such pack"):
        load_pack(str(tmp_path / "missing.toml"))


# --- lint -----------------------------------------------------------------------------------

AUTH = {"outcome": parse_pack(GOOD).rule("CARDIO").outcome}


def kinds(rules):
    return {(f.level, f.kind, f.rules) for f in lint(RulePack("p", rules))}


def test_lint_finds_unreachable_and_redundant_rules():
    broad = Rule("BROAD", system="CPT", codes=["158*"], exclusion=True, **AUTH)
    shadowed = Rule(
        "NARROW",
        system="CPT",
        codes=["15823"],
        outcome=parse_pack(GOOD).rule("test:default").outcome,
    )
    same = Rule("SAME", system="CPT", codes=["15821"], **AUTH)
    found = kinds([broad, shadowed, same])
    assert (LintLevel.ERROR, "unreachable", ("NARROW", "BROAD")) in found
    assert (LintLevel.WARNING, "redundant", ("SAME", "BROAD")) in found


def test_lint_finds_gaps_and_overlaps():
    early = Rule("EARLY", system="CPT", codes=["15823"], end=dt.date(2021, 1, 1), **AUTH)
    late = Rule("LATE", system="CPT", codes=["15823"], effective=dt.date(2022, 1, 1), **AUTH)
    other = Rule(
        "OTHER",
        system="CPT",
        codes=["1582*"],
        outcome=parse_pack(GOOD).rule("test:default").outcome,
    )
    found = kinds([early, late, other])
    assert (LintLevel.WARNING, "gap", ("LATE", "EARLY")) in found
    assert (LintLevel.INFO, "overlap", ("OTHER", "EARLY")) in found
    assert (LintLevel.INFO, "no-fallback", ()) in found
    assert not [f for f in lint(RulePack("p", [early, late])) if f.level is LintLevel.ERROR]


def _timelines():
    """Every confirmed code's timeline from the bundled CSV: {(system, code): [(date, on)]}."""
    import csv
    import importlib.resources

    text = (
        importlib.resources.files("caredomain.authorization")
        .joinpath("packs/medicare-pa-lists.csv")
        .read_text(encoding="utf-8")
    )
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    timelines: dict[tuple[str, str, str], list[tuple[str, bool]]] = {}
    for row in rows:
        if row["confidence"] == "uncertain" or row["category"] == "botulinum-toxin":
            continue  # uncertain rows are off by default; botox needs its pair (tested above)
        on = row["action"] in {"added", "reinstated"}
        for code in _expand(row["code_from"], row["code_to"]):
            key = (row["list"], row["system"], code)
            timelines.setdefault(key, []).append((row["effective"], on))
    return timelines


def _expand(first: str, last: str) -> list[str]:
    if not last:
        return [first]
    head = first.rstrip("0123456789")
    low, high = int(first[len(head) :]), int(last[len(head) :])
    width = len(first) - len(head)
    return [f"{head}{n:0{width}d}" for n in range(low, high + 1)]


CHANGES = [
    (lst, system, code, day, on)
    for (lst, system, code), changes in sorted(_timelines().items())
    for day, on in changes
]


@pytest.mark.parametrize(("lst", "system", "code", "day", "on"), CHANGES)
def test_every_single_code_change_in_the_csv_holds_on_both_sides(lst, system, code, day, on):
    import datetime as dt

    kw = OPD if lst == "opd" else DME
    before = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
    assert required(code, day, **kw) is on
    timeline = dict(_timelines()[(lst, system, code)])
    earlier = [d for d in timeline if d < day]
    expected_before = timeline[max(earlier)] if earlier else False
    assert required(code, before, **kw) is expected_before
