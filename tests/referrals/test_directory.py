import datetime as dt
from pathlib import Path

import attrs
import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caredomain.core import (
    Address,
    Coding,
    LineOfBusiness,
    Organization,
    Patient,
    Reference,
    RuleError,
    ValidationError,
    from_json,
    to_json,
)
from caredomain.referrals.directory import (
    FHIR_SERVICE_TYPE,
    SDOH_CATEGORIES,
    SDOHCC_TEMPORARY_CODES,
    CapacityStatus,
    CommunityService,
    Criterion,
    CriterionStatus,
    Delivery,
    Eligibility,
    Match,
    Need,
    OpeningHours,
    OpeningPeriod,
    Place,
    ServiceArea,
    ServiceDirectory,
    assess,
    sdoh_category,
)
from tests import phi

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "community-services.toml"
CHI = "America/Chicago"
ON = dt.date(2026, 11, 17)  # a Tuesday, a treatment day
HOME = Place("60623", "17031", "IL")  # Little Village, Cook County


@pytest.fixture(scope="module")
def chicago():
    return ServiceDirectory.from_toml(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))


def cancer_patient(**kw):
    args = {
        "id": "p-cancer",
        "birth_date": dt.date(1968, 3, 14),  # 58 on ON
        "language": "es",
        "addresses": [Address(postal_code="60623", state="IL", use="home")],
    } | kw
    return Patient(**args)


def cancer_need(category, **kw):
    args = {
        "category": category,
        "location": HOME,
        "income_fpl": 150,
        "diagnoses": {"C50.911"},
        "coverage": {LineOfBusiness.MEDICAID_MANAGED_CARE},
    } | kw
    return Need(**args)


def ids(matches):
    return [m.service.id for m in matches]


def reason(match, criterion):
    return next(r for r in match.reasons if r.criterion is criterion)


# --- codes -------------------------------------------------------------------------------


def test_sdoh_categories_are_the_gravity_domains():
    coding = sdoh_category("transportation-insecurity")
    assert coding == Coding(SDOHCC_TEMPORARY_CODES, "transportation-insecurity")
    assert coding.display == "Transportation Insecurity"
    for code in ("food-insecurity", "financial-insecurity", "social-connection"):
        assert code in SDOH_CATEGORIES
    with pytest.raises(ValidationError):
        sdoh_category("transportation")


def test_capacity_maps_to_the_sdohcc_capacity_codes():
    assert CapacityStatus.OPEN.sdohcc_code == "capacity"
    assert CapacityStatus.WAITLIST.sdohcc_code == "no-capacity-has-waitlist"
    assert CapacityStatus.FULL.sdohcc_code == "no-capacity"


# --- the acceptance scenario -------------------------------------------------------------


def test_example_directory_loads(chicago):
    assert len(chicago) == 9
    assert "rides-to-treatment" in chicago
    assert chicago["cancer-relief-fund"].delivery is Delivery.REMOTE
    rides = chicago["rides-to-treatment"]
    assert rides.organization == Reference.to("Organization", "lakeshore-cancer-rides")
    assert Coding(FHIR_SERVICE_TYPE, "230") in rides.service_types
    assert rides.hours is not None
    assert rides.hours.timezone == CHI
    assert {o.id for o in chicago.organizations} >= {"lakeshore-cancer-rides"}


def test_cancer_patient_matched_to_transport(chicago):
    patient = cancer_patient()
    need = cancer_need("transportation-insecurity", needed_on=ON)
    matches = chicago.match(need, patient, on=ON)

    assert ids(matches) == ["rides-to-treatment", "medicaid-ride-line", "senior-shuttle"]
    rides, medicaid, shuttle = matches
    assert rides.confirmed
    assert rides.preferences_met == 3  # Spanish, comes to the patient, open on Tuesday
    assert reason(rides, Criterion.CONDITION).status is CriterionStatus.MET
    assert reason(rides, Criterion.CAPACITY).status is CriterionStatus.MET
    assert medicaid.confirmed
    assert reason(medicaid, Criterion.COVERAGE).status is CriterionStatus.MET
    assert reason(medicaid, Criterion.CAPACITY).status is CriterionStatus.UNKNOWN
    assert rides.score > medicaid.score  # open capacity before capacity not reported
    assert not shuttle.eligible
    assert [r.criterion for r in shuttle.not_met] == [Criterion.AGE]
    assert reason(shuttle, Criterion.LANGUAGE).status is CriterionStatus.NOT_MET


def test_cancer_patient_matched_to_financial_aid(chicago):
    matches = chicago.match(cancer_need("financial-insecurity"), cancer_patient(), on=ON)

    assert ids(matches) == ["cancer-relief-fund", "emergency-bill-help", "copay-bridge-medicare"]
    fund, bills, copay = matches
    assert fund.confirmed
    assert fund.questions == ()
    assert reason(fund, Criterion.INCOME).status is CriterionStatus.MET
    assert reason(fund, Criterion.SERVICE_AREA).explanation == "state in the service area"
    assert bills.confirmed
    assert reason(bills, Criterion.PROXIMITY).explanation == "site in the patient's ZIP code"
    assert reason(bills, Criterion.CAPACITY).status is CriterionStatus.NOT_MET  # waitlist
    assert not copay.eligible
    assert [r.criterion for r in copay.not_met] == [Criterion.COVERAGE]


def test_unknown_income_does_not_exclude_but_ranks_below_confirmed(chicago):
    need = cancer_need("financial-insecurity", income_fpl=None)
    matches = chicago.match(need, cancer_patient(), on=ON)

    assert ids(matches) == ["cancer-relief-fund", "emergency-bill-help", "copay-bridge-medicare"]
    fund = matches[0]
    assert fund.eligible
    assert not fund.confirmed
    assert reason(fund, Criterion.INCOME).explanation == (
        "income band unknown: the service requires household income at or below 300% FPL"
    )
    assert fund.questions == (
        "ask the patient's household income and household size (for the percent of FPL)",
    )
    # With a confirmed match in the list, the unconfirmed ones follow it.
    need = cancer_need("financial-insecurity", income_fpl=None, coverage=None)
    assert ids(chicago.match(need, cancer_patient(), on=ON))[:2] == [
        "cancer-relief-fund",
        "emergency-bill-help",
    ]


def test_confirmed_matches_precede_unconfirmed_ones():
    open_fund = service("open-fund", eligibility=Eligibility(max_income_fpl=300))
    other = service("other", name="Another fund")
    directory = ServiceDirectory([open_fund, other])
    need = cancer_need("financial-insecurity", income_fpl=None)
    matches = directory.match(need, cancer_patient(), on=ON)
    assert ids(matches) == ["other", "open-fund"]
    assert matches[0].confirmed
    assert not matches[1].confirmed


def test_location_and_language_default_to_the_patient(chicago):
    need = cancer_need("social-connection", location=None)
    (group,) = chicago.match(need, cancer_patient(), on=ON)
    assert group.service.id == "juntos-support-group"
    # The home address has no county, and the group serves Cook County: ask.
    assert reason(group, Criterion.SERVICE_AREA).status is CriterionStatus.UNKNOWN
    assert group.questions == ("ask the patient's home ZIP code and county",)
    assert reason(group, Criterion.LANGUAGE).status is CriterionStatus.MET
    assert reason(group, Criterion.PROXIMITY).status is CriterionStatus.MET  # same ZIP


def test_services_are_also_found_by_service_type(chicago):
    need = cancer_need(Coding(FHIR_SERVICE_TYPE, "8"))
    (home_care,) = chicago.match(need, cancer_patient(), on=ON)
    assert home_care.service.id == "home-care-aides"
    assert home_care.confirmed
    assert [s.id for s in chicago.in_category("food-insecurity")] == ["community-pantry"]


def test_out_of_area_services_are_left_out_unless_asked_for(chicago):
    far = Place("62701", "17167", "IL")  # Springfield, Sangamon County
    need = cancer_need("transportation-insecurity", location=far)
    assert chicago.match(need, cancer_patient(), on=ON) == []
    matches = chicago.match(need, cancer_patient(), on=ON, include_out_of_area=True)
    assert len(matches) == 3
    assert all(not m.eligible for m in matches)
    assert all(reason(m, Criterion.SERVICE_AREA).status is CriterionStatus.NOT_MET for m in matches)


def test_unknown_age_and_diagnoses_are_questions(chicago):
    patient = cancer_patient(birth_date=None)
    need = cancer_need("transportation-insecurity", diagnoses=None)
    rides = next(m for m in chicago.match(need, patient, on=ON) if m.service.id.startswith("rides"))
    assert rides.eligible
    assert [r.criterion for r in rides.unknown] == [Criterion.AGE, Criterion.CONDITION]
    assert rides.questions == (
        "ask the patient's date of birth",
        "ask the patient's diagnosis (ICD-10-CM)",
    )


def test_urgent_needs_put_capacity_before_preferences():
    spanish_waitlist = service(
        "a-spanish", name="A", languages=["es"], capacity=CapacityStatus.WAITLIST
    )
    english_open = service("b-english", name="B", languages=["en"], capacity=CapacityStatus.OPEN)
    directory = ServiceDirectory([spanish_waitlist, english_open])
    routine = cancer_need("financial-insecurity")
    urgent = cancer_need("financial-insecurity", urgency="urgent")
    assert ids(directory.match(routine, cancer_patient(), on=ON)) == ["a-spanish", "b-english"]
    assert ids(directory.match(urgent, cancer_patient(), on=ON)) == ["b-english", "a-spanish"]


def test_explanations_hold_no_patient_data(chicago):
    patient = cancer_patient()
    for category in ("transportation-insecurity", "financial-insecurity", "social-connection"):
        for income in (150, None):
            need = cancer_need(category, income_fpl=income, needed_on=ON)
            for match in chicago.match(need, patient, on=ON, include_out_of_area=True):
                text = " ".join([*map(str, match.reasons), *match.questions])
                for secret in ("60623", "17031", "C50", "C50.911", "58", "150", "1968"):
                    assert secret not in text
    assert "60623" not in repr(cancer_need("food-insecurity"))
    assert "C50" not in repr(cancer_need("food-insecurity"))


def test_errors_hold_no_patient_data():
    for make in (
        lambda: Need("food-insecurity", diagnoses={phi.PATIENT_MRN}),
        lambda: Need("food-insecurity", language=phi.PATIENT_FAMILY + "!"),
        lambda: Need("food-insecurity", income_fpl=-150),
        lambda: Place(phi.PATIENT_PHONE),
        lambda: Place("60623", phi.PATIENT_BIRTH_DATE),
    ):
        with pytest.raises(ValidationError) as info:
            make()
        phi.assert_no_phi(str(info.value))
        assert "-150" not in str(info.value)


def test_assess_one_service(chicago):
    match = assess(
        chicago["senior-shuttle"],
        cancer_need("transportation-insecurity"),
        cancer_patient(),
        on=ON,
    )
    assert not match.eligible
    with pytest.raises(ValidationError):
        assess(
            chicago["senior-shuttle"],
            cancer_need("transportation-insecurity"),
            cancer_patient(),
            on=pendulum.datetime(2026, 11, 17, tz=CHI),
        )


# --- values --------------------------------------------------------------------------------


def service(service_id="svc", **kw):
    args = {
        "id": service_id,
        "name": service_id.title(),
        "organization": Reference.to("Organization", "org"),
        "categories": ["financial-insecurity"],
        "delivery": Delivery.REMOTE,
        "languages": ["en"],
        "capacity": CapacityStatus.OPEN,
    } | kw
    return CommunityService(**args)


def test_value_validation():
    with pytest.raises(ValidationError, match="max_age at or above min_age"):
        Eligibility(min_age=65, max_age=18)
    with pytest.raises(ValidationError, match="ICD-10-CM"):
        Eligibility(conditions=["neoplasm"])
    with pytest.raises(ValidationError, match="lines of business"):
        Eligibility(coverage=["medigap"])
    with pytest.raises(ValidationError, match="Organization"):
        service(organization=Reference.to("Patient", "p1"))
    with pytest.raises(ValidationError, match="category"):
        service(categories=[])
    with pytest.raises(ValidationError, match="urgency"):
        Need("food-insecurity", urgency="soon")
    with pytest.raises(ValidationError, match="unique service ids"):
        ServiceDirectory([service("a"), service("a")])
    assert len(ServiceDirectory([service("a")])) == 1  # organizations are optional
    with pytest.raises(ValidationError, match="organizations"):
        ServiceDirectory([service("a")], [Organization("other", "Other")])
    assert Place("60623-1234").zip_code == "60623"
    assert Eligibility().unrestricted
    assert ServiceArea().everywhere
    assert Need("food-insecurity", coverage=[]).coverage == frozenset()


def test_opening_hours_parse_and_ranges():
    hours = OpeningHours.parse(["Mon-Fri 08:00-17:00", "Sat-Mon 09:00-12:00"], CHI)
    assert str(hours) == (
        "Mon 08:00-17:00; Mon 09:00-12:00; Tue 08:00-17:00; Wed 08:00-17:00; "
        "Thu 08:00-17:00; Fri 08:00-17:00; Sat 09:00-12:00; Sun 09:00-12:00"
    )
    assert hours.open_on(dt.date(2026, 11, 15))  # a Sunday
    for bad in ("Mon 17:00-08:00", "Monday 08:00-17:00", "Mon 8-17", "Mon-Xyz 08:00-09:00"):
        with pytest.raises(ValidationError):
            OpeningHours.parse([bad], CHI)
    with pytest.raises(ValidationError):
        OpeningHours.parse("Mon 08:00-17:00", CHI)  # a string, not a list
    with pytest.raises(ValidationError):
        OpeningPeriod(7, dt.time(8), dt.time(9))


@pytest.mark.parametrize(
    ("day", "open_utc", "closed_utc"),
    [
        # 2026-03-08, DST starts: 08:30 CDT is 13:30Z, 07:30 CDT is 12:30Z.
        (dt.date(2026, 3, 8), (13, 30), (12, 30)),
        # 2026-11-01, DST ends: 08:30 CST is 14:30Z, and 13:30Z is 07:30 CST.
        (dt.date(2026, 11, 1), (14, 30), (13, 30)),
    ],
)
def test_opening_hours_are_local_across_dst(day, open_utc, closed_utc):
    hours = OpeningHours.parse(["Sun 08:00-12:00"], CHI)
    assert hours.is_open(pendulum.datetime(day.year, day.month, day.day, *open_utc, tz="UTC"))
    assert not hours.is_open(pendulum.datetime(day.year, day.month, day.day, *closed_utc, tz="UTC"))
    assert hours.is_open(pendulum.datetime(day.year, day.month, day.day, 11, 59, tz=CHI))
    assert not hours.is_open(pendulum.datetime(day.year, day.month, day.day, 12, tz=CHI))
    with pytest.raises(ValidationError):
        hours.is_open(dt.datetime(2026, 3, 8, 9))  # naive


def test_json_round_trip(chicago):
    for item in chicago:
        assert from_json(to_json(item), CommunityService) == item
    need = cancer_need("transportation-insecurity", needed_on=ON)
    assert from_json(to_json(need), Need) == need
    for match in chicago.match(need, cancer_patient(), on=ON):
        assert from_json(to_json(match), Match) == match


# --- TOML errors -----------------------------------------------------------------------------

SMALL = """\
[directory]
timezone = "America/Chicago"

[organizations.rides]
name = "Rides Co"

[services.rides-to-care]
name = "Rides to Care"
organization = "rides"
categories = ["transportation-insecurity"]
site = { zip_code = "60623", state = "IL" }
hours = ["Mon-Fri 06:00-19:00"]
capacity = "open"

[services.rides-to-care.area]
counties = ["17031"]

[services.rides-to-care.eligibility]
min_age = 18
max_age = 120
"""


def test_small_toml_reads():
    directory = ServiceDirectory.from_toml(SMALL, "small.toml")
    (rides,) = directory
    assert rides.eligibility == Eligibility(min_age=18, max_age=120)
    assert rides.site == Place("60623", None, "IL")
    assert rides.area == ServiceArea(counties=["17031"])


@pytest.mark.parametrize(
    ("old", "new", "line", "key"),
    [
        ('capacity = "open"', 'capacity = "plenty"', 13, "services.rides-to-care.capacity"),
        ('capacity = "open"', "colour = 1", 13, "services.rides-to-care.colour"),
        (
            '["transportation-insecurity"]',
            '["transport"]',
            10,
            "services.rides-to-care.categories",
        ),
        ('["Mon-Fri 06:00-19:00"]', '["weekdays"]', 12, "services.rides-to-care.hours"),
        ('organization = "rides"', 'organization = "buses"', 9, None),
        ("max_age = 120", "max_age = 12", 20, "services.rides-to-care.eligibility.max_age"),
        ("min_age = 18", "min_age = -1", 19, "services.rides-to-care.eligibility.min_age"),
        ('counties = ["17031"]', 'counties = ["Cook"]', 16, None),
        ('counties = ["17031"]', "everywhere = false", 15, "services.rides-to-care.area"),
        ('state = "IL" }', 'state = "Illinois" }', 11, "services.rides-to-care.site"),
        ('timezone = "America/Chicago"', 'timezone = "Chicago"', 2, "directory.timezone"),
        ('name = "Rides Co"', 'name = ""', 5, "organizations.rides.name"),
        ('name = "Rides to Care"', "", 7, "services.rides-to-care"),
        ("[services.rides-to-care.area]", "[services.rides-to-care.areas]", 15, None),
        ("min_age = 18", "min_age = 18 18", 19, None),
    ],
)
def test_toml_errors_have_file_line_and_key(old, new, line, key):
    text = SMALL.replace(old, new, 1)
    assert text != SMALL
    with pytest.raises(RuleError) as info:
        ServiceDirectory.from_toml(text, "services.toml")
    error = info.value
    assert error.source == "services.toml"
    assert error.line == line, str(error)
    if key is not None:
        assert error.key == key
    assert str(error).startswith(f"services.toml:{line}")


def test_toml_needs_services_and_a_timezone_for_hours():
    with pytest.raises(RuleError, match="at least one"):
        ServiceDirectory.from_toml("[directory]\nname = 'x'\n", "empty.toml")
    no_zone = SMALL.replace('timezone = "America/Chicago"', 'name = "x"')
    with pytest.raises(RuleError, match="timezone") as info:
        ServiceDirectory.from_toml(no_zone, "s.toml")
    assert info.value.line == 12


# --- properties ------------------------------------------------------------------------------

CATEGORIES = ["transportation-insecurity", "financial-insecurity", "food-insecurity"]
ZIPS = ["60608", "60623", "60632"]
COUNTIES = ["17031", "17043"]
STATES = ["IL", "IN"]


def maybe(strategy):
    return st.none() | strategy


AGES = maybe(st.integers(0, 110))
LOB_SETS = st.sets(st.sampled_from(list(LineOfBusiness)), max_size=3)
WEEKDAYS = maybe(st.just(OpeningHours.parse(["Mon-Fri 09:00-17:00"], CHI)))


@st.composite
def eligibilities(draw):
    low_age, high_age = sorted(draw(st.tuples(AGES, AGES)), key=lambda a: (a is None, a))
    if draw(st.booleans()):
        low_age, high_age = None, low_age
    return Eligibility(
        min_age=low_age,
        max_age=high_age,
        max_income_fpl=draw(INCOMES),
        conditions=draw(CONDITION_SETS),
        coverage=draw(LOB_SETS),
    )


INCOMES = maybe(st.integers(0, 600))
CONDITION_SETS = st.sets(st.sampled_from(["C", "C50", "D0", "E11"]), max_size=2)
ELIGIBILITIES = eligibilities()

places = st.builds(
    Place,
    zip_code=maybe(st.sampled_from(ZIPS)),
    county=maybe(st.sampled_from(COUNTIES)),
    state=maybe(st.sampled_from(STATES)),
)

areas = st.builds(
    ServiceArea,
    zip_codes=st.sets(st.sampled_from(ZIPS), max_size=2),
    counties=st.sets(st.sampled_from(COUNTIES), max_size=1),
    states=st.sets(st.sampled_from(STATES), max_size=1),
)


CATEGORY_SETS = st.sets(st.sampled_from(CATEGORIES), min_size=1, max_size=2)
NAMES = st.sampled_from(["Alpha", "beta", "Gamma", "Alpha"])
LANGUAGE_SETS = st.sets(st.sampled_from(["en", "es", "pl"]), max_size=2)
DELIVERIES = st.sampled_from(list(Delivery))
CAPACITIES = maybe(st.sampled_from(list(CapacityStatus)))
SITES = maybe(places)


@st.composite
def services(draw, service_id):
    return CommunityService(
        id=service_id,
        name=draw(NAMES),
        organization=Reference.to("Organization", "org"),
        categories=draw(CATEGORY_SETS),
        eligibility=draw(ELIGIBILITIES),
        area=draw(areas),
        delivery=draw(DELIVERIES),
        site=draw(SITES),
        languages=draw(LANGUAGE_SETS),
        hours=draw(WEEKDAYS),
        capacity=draw(CAPACITIES),
    )


@st.composite
def directories(draw):
    count = draw(st.integers(0, 8))
    return ServiceDirectory([draw(services(f"svc-{i}")) for i in range(count)])


needs = st.builds(
    Need,
    category=st.sampled_from(CATEGORIES),
    urgency=st.sampled_from(["routine", "urgent"]),
    needed_on=maybe(st.just(ON)),
    language=maybe(st.sampled_from(["en", "es-MX", "pl"])),
    location=maybe(places),
    income_fpl=maybe(st.integers(0, 700)),
    diagnoses=maybe(st.sets(st.sampled_from(["C50.911", "E11.9", "D05.10"]), max_size=2)),
    coverage=maybe(st.sets(st.sampled_from(list(LineOfBusiness)), max_size=2)),
)

patients = st.builds(
    Patient,
    id=st.just("p1"),
    birth_date=maybe(st.dates(dt.date(1920, 1, 1), dt.date(2020, 1, 1))),
    language=maybe(st.sampled_from(["en", "es"])),
    addresses=st.lists(
        st.builds(Address, postal_code=st.sampled_from(ZIPS), state=st.just("IL")), max_size=1
    ),
)


@given(directories(), needs, patients, st.booleans())
def test_match_returns_each_candidate_once_as_a_scan_would(directory, need, patient, wide):
    matches = directory.match(need, patient, on=ON, include_out_of_area=wide)
    found = ids(matches)
    assert len(found) == len(set(found))
    # The reference: scan every service and judge it alone.
    expected = set()
    for item in directory:
        if need.category not in item.categories:
            continue
        alone = assess(item, need, patient, on=ON)
        area = reason(alone, Criterion.SERVICE_AREA).status
        if wide or area is not CriterionStatus.NOT_MET:
            expected.add(item.id)
            assert alone in matches
    assert set(found) == expected


@given(directories(), needs, patients)
def test_matches_are_ranked(directory, need, patient):
    matches = directory.match(need, patient, on=ON, include_out_of_area=True)
    assert matches == sorted(matches, key=Match.rank_key)
    eligible = [m.eligible for m in matches]
    assert eligible == sorted(eligible, reverse=True)  # eligible ones first
    for match in matches:
        assert match.eligible == (not match.not_met)
    confirmed = [m.confirmed for m in matches if m.eligible]
    assert confirmed == sorted(confirmed, reverse=True)  # confirmed ones first


@given(directories(), needs, patients)
def test_unknown_facts_are_never_not_met(directory, need, patient):
    unknown_need = attrs.evolve(need, income_fpl=None, diagnoses=None, coverage=None)
    patient = attrs.evolve(patient, birth_date=None)
    for match in directory.match(unknown_need, patient, on=ON):
        for item in match.reasons:
            if item.criterion in (
                Criterion.AGE,
                Criterion.INCOME,
                Criterion.CONDITION,
                Criterion.COVERAGE,
            ):
                assert item.status is CriterionStatus.UNKNOWN


RELAXATIONS = [
    ("min_age", None),
    ("max_age", None),
    ("max_income_fpl", None),
    ("conditions", frozenset()),
    ("coverage", frozenset()),
]


@given(services("svc"), needs, patients, st.sampled_from(RELAXATIONS))
def test_removing_a_constraint_never_makes_a_service_ineligible(item, need, patient, change):
    field, empty = change
    before = assess(item, need, patient, on=ON)
    relaxed = attrs.evolve(item, eligibility=attrs.evolve(item.eligibility, **{field: empty}))
    after = assess(relaxed, need, patient, on=ON)
    assert {r.criterion for r in after.not_met} <= {r.criterion for r in before.not_met}
    assert not before.eligible or after.eligible
    everywhere = assess(attrs.evolve(item, area=ServiceArea()), need, patient, on=ON)
    assert not before.eligible or everywhere.eligible


@given(services("svc"))
def test_services_round_trip_through_json(item):
    assert from_json(to_json(item), CommunityService) == item


def test_the_from_toml_docstring_example_reads():
    doc = ServiceDirectory.from_toml.__doc__
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    example = "\n".join(line.removeprefix("        ") for line in example.splitlines())
    (rides,) = ServiceDirectory.from_toml(example, "docstring.toml")
    assert rides.eligibility.conditions == {"C", "D0"}
    assert rides.area.counties == {"17031"}
