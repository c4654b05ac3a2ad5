import datetime as dt
import json
from pathlib import Path

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.authorization.case import Program
from caredomain.authorization.check import (
    Approval,
    CheckRequest,
    CheckResult,
    DecisionWindow,
    Demographics,
    PayerPlan,
    PlannedService,
    Requirement,
    ServiceContext,
    check,
    check_request,
)
from caredomain.authorization.deadlines import DEADLINES
from caredomain.authorization.packs import load_pack, medicare_pack
from caredomain.authorization.rules import (
    Covered,
    DocNeeded,
    InfoNeeded,
    Outcome,
    PaNeeded,
    PriorService,
    Rule,
    RulePack,
    Setting,
)
from caredomain.core.codes import Coding
from caredomain.core.errors import ValidationError
from caredomain.core.identity import Identifier, Reference
from caredomain.core.parties import AdministrativeGender, Coverage, LineOfBusiness, Patient
from caredomain.core.serialization import from_dict, from_json, to_dict
from tests.phi import PATIENT_BIRTH_DATE, PATIENT_FAMILY, assert_no_phi

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MEDICARE = medicare_pack()
ACME = load_pack(str(EXAMPLES / "payer-pack.toml"))


def example(name):
    return json.loads((EXAMPLES / f"auth-request-{name}.json").read_text(encoding="utf-8"))


def answer(pack, data):
    return check_request(pack, from_dict(data, CheckRequest))


def only(pack, data):
    (line,) = answer(pack, data).lines
    return line


# --- scenarios ---------------------------------------------------------------------------


def test_cardiology_consult_needs_auth_with_documents():
    result = answer(ACME, example("cardiology"))
    consult, echo, ecg = result.lines
    assert (consult.covered, consult.pa_needed) == (Covered.COVERED, PaNeeded.AUTH_NEEDED)
    assert consult.doc_needed == (DocNeeded.CLINICAL,)
    assert "12-lead ECG report" in consult.documents
    assert consult.rules == ("ACME-CARDIO-CONSULT",)
    assert "a diagnosis in I20-I25" in consult.explanation
    assert consult.decision_due == DecisionWindow("P15D", "PT72H")
    assert echo.pa_needed is PaNeeded.AUTH_NEEDED
    assert echo.rules == ("ACME-CARDIOVASCULAR",)
    # the ECG is carved out of the cardiovascular rule by an exclusion
    assert ecg.pa_needed is PaNeeded.NO_AUTH
    assert ecg.rules == ("ACME-ECG-EXEMPT", "ACME-CARDIOVASCULAR")
    assert "takes precedence" in ecg.explanation
    assert ecg.decision_due is None


def test_gold_carded_ordering_provider_needs_no_auth():
    data = {**example("cardiology"), "ordering_provider": "1234567893"}
    consult = answer(ACME, data).lines[0]
    assert consult.pa_needed is PaNeeded.NO_AUTH
    assert consult.documents == ()
    assert "gold card" in consult.explanation
    data.pop("ordering_provider")
    unknown = answer(ACME, data).lines[0]
    assert unknown.pa_needed is PaNeeded.CONDITIONAL
    assert unknown.info_needed == (InfoNeeded.OTH,)
    assert "NPI" in unknown.reason


def test_consult_without_a_cardiac_diagnosis_needs_no_auth():
    data = {**example("cardiology"), "diagnoses": [{"system": "ICD-10-CM", "code": "R07.9"}]}
    assert answer(ACME, data).lines[0].pa_needed is PaNeeded.NO_AUTH
    data.pop("diagnoses")
    unknown = answer(ACME, data).lines[0]
    assert unknown.pa_needed is PaNeeded.CONDITIONAL
    assert "diagnoses" in unknown.reason


def test_blepharoplasty_under_medicare_opd_from_2020_07_01():
    line = only(MEDICARE, example("blepharoplasty"))
    assert (line.covered, line.pa_needed) == (Covered.COVERED, PaNeeded.AUTH_NEEDED)
    assert line.doc_needed == (DocNeeded.CLINICAL,)
    assert line.rules == ("OPD-15820-15823-2020-07-01",)
    assert "blepharoplasty" in line.explanation
    assert "from 2020-07-01" in line.explanation
    assert line.decision_due == DecisionWindow.of(DEADLINES[Program.MEDICARE_OPD])
    first_day = only(MEDICARE, {**example("blepharoplasty"), "date_of_service": "2020-07-01"})
    assert first_day.pa_needed is PaNeeded.AUTH_NEEDED


def test_the_same_blepharoplasty_code_in_2019_needs_no_auth():
    line = only(MEDICARE, {**example("blepharoplasty"), "date_of_service": "2019-11-04"})
    assert (line.covered, line.pa_needed) == (Covered.COVERED, PaNeeded.NO_AUTH)
    assert line.rules == ("medicare:default",)
    assert line.decision_due is None


def test_blepharoplasty_without_a_setting_is_conditional_on_the_location():
    data = {**example("blepharoplasty")}
    del data["setting"], data["place_of_service"]
    line = only(MEDICARE, data)
    assert line.pa_needed is PaNeeded.CONDITIONAL
    assert line.doc_needed == (DocNeeded.CONDITIONAL,)
    assert line.info_needed == (InfoNeeded.LOCATION,)
    assert line.rules == ("medicare:default", "OPD-15820-15823-2020-07-01")
    assert "setting or place of service" in line.reason
    # the place of service alone says outpatient hospital
    data["place_of_service"] = "19"
    assert only(MEDICARE, data).pa_needed is PaNeeded.AUTH_NEEDED
    data["place_of_service"] = "11"
    assert only(MEDICARE, data).pa_needed is PaNeeded.NO_AUTH


def test_dmepos_power_wheelchair():
    line = only(MEDICARE, example("wheelchair"))
    assert line.pa_needed is PaNeeded.AUTH_NEEDED
    assert line.rules == ("DMEPOS-K0856-2020-08-03",)
    assert to_dict(line.decision_due) == {
        "standard": "P5D",
        "expedited": "P2D",
        "business_days": {"standard": 5, "expedited": 2},
        "not_over": {"standard": "P7D"},
    }
    suspended = only(MEDICARE, {**example("wheelchair"), "date_of_service": "2020-05-01"})
    assert suspended.pa_needed is PaNeeded.NO_AUTH


def test_pt_visits_beyond_twelve_a_year():
    exercise, activities = answer(ACME, example("pt")).lines
    assert activities.pa_needed is PaNeeded.AUTH_NEEDED
    assert "12 unit(s) used earlier in the period + 1 asked = 13" in activities.explanation
    assert "Plan of care signed by the treating therapist" in activities.documents
    # an approval with two units left satisfies the two units of exercise
    assert exercise.pa_needed is PaNeeded.SATISFIED
    assert exercise.satisfied_pa_id == "ACME-PA-2026-0417"
    assert exercise.documents == ()
    assert exercise.decision_due is None
    assert any("before a scheduled visit" in w for w in exercise.warnings)
    assert not any("2026-10-05" in w for w in exercise.warnings)  # no service dates in text
    assert any("last 2 unit(s)" in w for w in exercise.warnings)


def test_pt_visits_within_the_year_need_no_auth():
    data = example("pt")
    data["history"] = data["history"][:6]
    assert [r.pa_needed for r in answer(ACME, data).lines] == [PaNeeded.NO_AUTH] * 2
    data["history"] = []
    assert answer(ACME, data).lines[1].pa_needed is PaNeeded.NO_AUTH
    del data["history"]
    unknown = answer(ACME, data).lines[1]
    assert unknown.pa_needed is PaNeeded.CONDITIONAL
    assert "units used earlier in the period" in unknown.reason
    data["lines"][1]["prior_units"] = 12
    assert answer(ACME, data).lines[1].pa_needed is PaNeeded.AUTH_NEEDED


def test_approvals_that_do_not_satisfy_say_why():
    data = example("pt")
    data["approvals"][0]["units_used"] = 5
    exercise = answer(ACME, data).lines[0]
    assert exercise.pa_needed is PaNeeded.AUTH_NEEDED
    assert exercise.satisfied_pa_id is None
    assert any("1 unit(s) left; the line asks for 2" in w for w in exercise.warnings)
    data["approvals"][0].update(units_used=0, end="2026-09-14")
    exercise = answer(ACME, data).lines[0]
    assert exercise.pa_needed is PaNeeded.AUTH_NEEDED
    assert any("not on the date of service" in w for w in exercise.warnings)


def test_not_covered_has_no_pa_needed():
    pack = RulePack(
        "p",
        [Rule("COSMETIC", Outcome(Covered.NOT_COVERED, None, reason="cosmetic"), system="CPT")],
    )
    (line,) = check(
        pack,
        [PlannedService("1", "CPT", "15823")],
        None,
        PayerPlan("acme"),
        dt.date(2026, 1, 5),
    )
    assert (line.covered, line.pa_needed, line.decision_due) == (Covered.NOT_COVERED, None, None)
    assert to_dict(line)["pa_needed"] is None


def test_no_rule_for_the_payer_is_indeterminate():
    line = only(MEDICARE, {**example("blepharoplasty"), "payer": "unknown-payer"})
    assert (line.covered, line.pa_needed) == (Covered.INDETERMINATE, PaNeeded.INDETERMINATE)
    assert line.rules == ()
    assert "no rule" in line.explanation


def test_check_reads_core_patient_and_coverage():
    patient = Patient("p1", birth_date=dt.date(1950, 4, 1), sex=AdministrativeGender.FEMALE)
    coverage = Coverage(
        "c1",
        Reference.to("Patient", "p1"),
        Reference.to("Organization", "medicare"),
        "original-medicare",
        Identifier("1EG4-TE5-MK73"),
        LineOfBusiness.MEDICARE_FFS,
    )
    (line,) = check(
        MEDICARE,
        [PlannedService("1", "CPT", "15823")],
        patient,
        coverage,
        dt.date(2026, 3, 2),
        context=ServiceContext(setting=Setting.OUTPATIENT_HOSPITAL),
    )
    assert line.pa_needed is PaNeeded.AUTH_NEEDED


def test_lines_may_carry_their_own_dates():
    data = example("blepharoplasty")
    data["lines"].append(
        {"id": "2", "system": "CPT", "code": "15823", "date_of_service": "2019-01-07"}
    )
    assert [r.pa_needed for r in answer(MEDICARE, data).lines] == [
        PaNeeded.AUTH_NEEDED,
        PaNeeded.NO_AUTH,
    ]


def test_age_and_sex_matchers_use_the_date_of_service():
    pack = RulePack(
        "p",
        [
            Rule(
                "SENIOR",
                Outcome(pa_needed=PaNeeded.AUTH_NEEDED),
                system="CPT",
                age_at_least=65,
                sexes=["female"],
            ),
            Rule("DEFAULT", Outcome(), fallback=True),
        ],
    )
    born = Demographics(dt.date(1961, 3, 3), AdministrativeGender.FEMALE)
    line = [PlannedService("1", "CPT", "99213")]
    before = check(pack, line, born, PayerPlan("x"), dt.date(2026, 3, 2))[0]
    on = check(pack, line, born, PayerPlan("x"), dt.date(2026, 3, 3))[0]
    assert (before.pa_needed, on.pa_needed) == (PaNeeded.NO_AUTH, PaNeeded.AUTH_NEEDED)
    assert "age 65 or over" in on.explanation
    assert PATIENT_BIRTH_DATE not in on.explanation
    assert "1961" not in on.explanation


def test_decision_windows_render_every_program():
    assert to_dict(DecisionWindow.of(DEADLINES[Program.CMS_0057_F])) == {
        "standard": "P7D",
        "expedited": "PT72H",
        "business_days": {},
        "not_over": {},
    }
    opd = DecisionWindow.of(DEADLINES[Program.MEDICARE_OPD])
    assert opd.business_days["expedited"] == 2


# --- JSON and errors -----------------------------------------------------------------------


def test_requests_and_results_round_trip():
    request = from_dict(example("pt"), CheckRequest)
    assert from_dict(to_dict(request), CheckRequest) == request
    result = check_request(ACME, request)
    assert from_dict(to_dict(result), CheckResult) == result
    assert list(to_dict(result)["lines"][0]) == [
        "id",
        "covered",
        "pa_needed",
        "doc_needed",
        "info_needed",
        "documents",
        "rules",
        "explanation",
        "reason",
        "satisfied_pa_id",
        "warnings",
        "decision_due",
    ]


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        ({"patient": {"birth_date": PATIENT_FAMILY, "sex": "female"}}, "$.patient.birth_date"),
        ({"patient": {"birth_date": PATIENT_BIRTH_DATE, "sex": PATIENT_FAMILY}}, "$.patient.sex"),
        ({"setting": "garage"}, "$.setting"),
        ({"colour": "blue"}, "$"),
        ({"ordering_provider": "12"}, "ordering_provider"),
    ],
)
def test_bad_requests_name_the_path_never_the_value(edit, path):
    with pytest.raises(ValidationError) as info:
        from_dict({**example("blepharoplasty"), **edit}, CheckRequest)
    assert path in str(info.value)
    assert_no_phi(str(info.value))


def test_duplicate_line_ids_are_refused():
    data = example("blepharoplasty")
    data["lines"] = data["lines"] * 2
    with pytest.raises(ValidationError, match="unique line ids"):
        from_dict(data, CheckRequest)


def test_requirements_keep_crd_invariants():
    with pytest.raises(ValidationError):
        Requirement("1", Covered.COVERED, PaNeeded.SATISFIED)  # no approval id (q5)
    with pytest.raises(ValidationError):
        Requirement("1", Covered.COVERED, PaNeeded.NO_AUTH, satisfied_pa_id="PA-1")
    with pytest.raises(ValidationError):
        Requirement("1", Covered.NOT_COVERED, PaNeeded.NO_AUTH)  # q2
    with pytest.raises(ValidationError):
        Requirement("1", Covered.CONDITIONAL, PaNeeded.NO_AUTH)  # q3
    with pytest.raises(ValidationError):
        Approval("A", "CPT", ["97110"], dt.date(2026, 2, 1), dt.date(2026, 1, 1))


# --- properties ------------------------------------------------------------------------------

OUTCOMES = [
    Outcome(pa_needed=PaNeeded.AUTH_NEEDED, doc_needed=["clinical"], documents=["notes"]),
    Outcome(pa_needed=PaNeeded.NO_AUTH),
    Outcome(Covered.NOT_COVERED, None, reason="excluded"),
]
CODES = ["15820", "15823", "15830", "64490", "64495", "97110"]
SETTINGS = [None, Setting.OFFICE, Setting.OUTPATIENT_HOSPITAL]


@st.composite
def rule_sets(draw):
    rules = []
    for i in range(draw(st.integers(0, 8))):
        fields = {
            "id": f"R{i}",
            "outcome": draw(st.sampled_from(OUTCOMES)),
            "system": "CPT",
            "codes": [draw(st.sampled_from([*CODES, "158*", "64490-64495", "*"]))],
            "priority": i,
            "exclusion": draw(st.booleans()),
        }
        if draw(st.booleans()):
            fields["settings"] = [draw(st.sampled_from(SETTINGS[1:]))]
        if draw(st.booleans()):
            fields["effective"] = dt.date(draw(st.integers(2019, 2027)), 1, 1)
        if draw(st.booleans()):
            fields["exempt_providers"] = ["1234567893"]
        rules.append(Rule(**fields))
    if draw(st.booleans()):
        rules.append(Rule("FALLBACK", Outcome(), fallback=True))
    return rules


@st.composite
def requests(draw):
    lines = [
        PlannedService(str(i), "CPT", draw(st.sampled_from(CODES)), draw(st.integers(1, 3)))
        for i in range(draw(st.integers(1, 4)))
    ]
    approvals = []
    if draw(st.booleans()):
        approvals.append(
            Approval(
                "PA-1",
                "CPT",
                [draw(st.sampled_from(CODES))],
                dt.date(2023, 1, 1),
                dt.date(2026, 1, 1),
                2,
            )
        )
    return {
        "lines": lines,
        "patient": None,
        "coverage": PayerPlan("acme"),
        "as_of": dt.date(draw(st.integers(2018, 2028)), 6, 1),
        "context": ServiceContext(
            setting=draw(st.sampled_from(SETTINGS)),
            ordering_provider=draw(st.sampled_from([None, "1234567893", "1992735511"])),
        ),
        "approvals": approvals,
    }


def run(rules, request):
    return check(RulePack("p", rules), **request)


@given(rule_sets(), requests())
def test_every_answer_keeps_the_crd_invariants(rules, request):
    for line in run(rules, request):
        if line.covered is Covered.NOT_COVERED:
            assert line.pa_needed is None
        assert (line.pa_needed is PaNeeded.SATISFIED) == (line.satisfied_pa_id is not None)
        if line.pa_needed is PaNeeded.SATISFIED:
            assert not line.documents
        assert (line.decision_due is None) or line.pa_needed in {
            PaNeeded.AUTH_NEEDED,
            PaNeeded.CONDITIONAL,
            PaNeeded.PERFORMPA,
        }


@given(rule_sets(), requests(), st.sampled_from(["code", "dates", "payer", "setting"]))
def test_a_rule_that_cannot_match_never_changes_an_answer(rules, request, how):
    used = {line.code for line in request["lines"]}
    fields = {"id": "INTRUDER", "outcome": OUTCOMES[0], "system": "CPT", "exclusion": True}
    fields["priority"] = 100  # never a tie: a tie is refused at load, not a changed answer
    if how == "code":
        fields["codes"] = [next(c for c in ["99213", "99214"] if c not in used)]
    elif how == "dates":
        fields["effective"] = request["as_of"] + dt.timedelta(days=1)
    elif how == "payer":
        fields["payer"] = "someone-else"
    else:
        setting = request["context"].setting
        if setting is None:
            return  # an unknown setting may match: that is a "may match", not "cannot"
        fields["settings"] = [s for s in SETTINGS[1:] if s is not setting][:1]
    assert run([*rules, Rule(**fields)], request) == run(rules, request)


@given(rule_sets(), requests(), st.randoms(use_true_random=False))
def test_answers_do_not_depend_on_rule_order(rules, request, rnd):
    shuffled = list(rules)
    rnd.shuffle(shuffled)
    assert run(shuffled, request) == run(rules, request)


def test_examples_parse_as_requests():
    for name in ("blepharoplasty", "cardiology", "pt", "wheelchair"):
        text = (EXAMPLES / f"auth-request-{name}.json").read_text(encoding="utf-8")
        request = from_json(text, CheckRequest)
        assert request.lines
    assert (
        Coding("ICD-10-CM", "H02.831")
        in from_json(
            (EXAMPLES / "auth-request-blepharoplasty.json").read_text(encoding="utf-8"),
            CheckRequest,
        ).diagnoses
    )


def test_history_counts_across_requests():
    pack = ACME
    request = from_dict(example("pt"), CheckRequest)
    extra = (PriorService("CPT", "97110", pendulum.Date(2025, 12, 31), 30),)
    assert request.history is not None
    again = check(
        pack,
        request.lines,
        request.patient,
        request.coverage,
        request.date_of_service,
        context=request.context,
        history=request.history + extra,
    )
    assert again[1].pa_needed is PaNeeded.AUTH_NEEDED  # last year's visits do not count
