import contextlib
from decimal import Decimal

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.adapters.hl7v2 import Delimiters, Hl7ParseError, parse
from caredomain.adapters.hl7v2._message import Item
from caredomain.adapters.hl7v2.datatypes import (
    Hl7Location,
    Hl7Person,
    Hl7Time,
    Precision,
    StructuredNumeric,
    parse_nm,
    parse_ts,
    read_cq,
    read_cwe,
    read_cx,
    read_ei,
    read_nm,
    read_pl,
    read_sn,
    read_ts,
    read_xad,
    read_xcn,
    read_xpn,
    read_xtn,
    write_ce,
    write_cq,
    write_cwe,
    write_cx,
    write_ei,
    write_nm,
    write_pl,
    write_sn,
    write_ts,
    write_xad,
    write_xcn,
    write_xpn,
    write_xtn,
)
from caredomain.core import CareDomainError, ValidationError
from caredomain.core.codes import (
    CPT,
    ICD_10_CM,
    LOINC,
    NPI,
    SNOMED_CT,
    UCUM,
    CodeableConcept,
    Coding,
    hl7_v2_table,
    resolve_system,
)
from caredomain.core.identity import Identifier
from caredomain.core.parties import Address, ContactPoint, ContactPointSystem, HumanName
from caredomain.core.quantities import Quantity, known_units
from tests import phi

ADT = (
    "MSH|^~\\&|EPIC|NORTH|CD|CD|20261201083000-0600||ADT^A08|MSG1|P|2.5.1\r"
    f"PID|1||{phi.PATIENT_MRN}^^^NORTH^MR~1234567893^^^NPI^NPI~99^^^&1.2.840.1&ISO^PI"
    f"||{phi.PATIENT_FAMILY}&van^{phi.PATIENT_GIVEN}^Q^Jr^Dr^PhD^L||19610719|F"
    "|||1 Main St&Main St&1^Apt 2^Chicago^IL^60601^USA^H"
    "||(312)555-0142^PRN^PH~^NET^Internet^zq@example.org~^PRS^CP^^1^312^5550142^12^^^^^^^^^^2\r"
    "PV1|1|O|CLIN^201^B^NORTH&1.2.3&ISO^^C^BLDG^3\r"
    "OBX|1|NM|29463-7^Body weight^LN^BW^Weight^99LOC^2.7^^Weight as typed||82.5|kg^^UCUM\r"
    "OBX|2|SN|5778-6^Color^LN||>=^5\r"
    "OBX|3|CQ|x^y^LN||5^mg&&UCUM\r"
    "ORC|NW|P1^EPIC||||||||||1234^Chen^Li^^^Dr^MD^^NPI^L^^^NPI\r"
)
CHICAGO = "America/Chicago"
STANDARD = Delimiters()
CUSTOM = Delimiters("#", "*", "!", "/", "$")


def item(text, delimiters=STANDARD):
    return Item(3, "OBX", 5, 1, text, delimiters)


# ---------------------------------------------------------------------------- Item


def test_item_positions_components_and_subcomponents():
    msg = parse(ADT)
    pid3 = msg.item("PID-3")
    assert (pid3.segment_index, pid3.segment_id, pid3.field, pid3.repetition) == (2, "PID", 3, 1)
    assert pid3.component(1) == phi.PATIENT_MRN
    assert pid3.component(99) == ""
    assert msg.item("PID-3[3]").subcomponent(4, 2) == "1.2.840.1"
    assert msg.item("PID-3[3]").subcomponent(4, 9) == ""
    assert msg.item("PID-3[2]").components() == ("1234567893", "", "", "NPI", "NPI")
    assert msg.item("OBX[2]-5").component(1) == ">="
    assert [i.repetition for i in msg.segments("PID").__next__().items(13)] == [1, 2, 3]
    assert msg.item("MSH-2").component(1) == "^~\\&"
    assert msg.item("MSH-2").components() == ("^~\\&",)


def test_item_emptiness_and_absence():
    msg = parse(ADT)
    assert not msg.item("PID-99")
    assert not msg.item("ZZZ-1")
    assert msg.item("ZZZ-1").segment_index is None
    assert not msg.item("PID-3[9]")
    assert not item("^^&^")
    assert not item('""')  # the HL7 null
    assert not item(" ^ ")
    assert item("a")
    assert msg.item("PID-99").components() == ()
    assert next(msg.segments("PID")).items(99) == []


def test_item_escapes_and_errors_carry_positions_only():
    it = item("a\\S\\b^c\\T\\d&e")
    assert it.component(1) == "a^b"
    assert it.subcomponent(2, 1) == "c&d"
    assert it.subcomponent(2, 2) == "e"
    error = item(phi.PATIENT_FAMILY).error("something", component=2)
    assert isinstance(error, Hl7ParseError)
    assert error.location == "segment 3 (OBX), field 5, repetition 1, component 2"
    assert phi.PATIENT_FAMILY not in repr(item(phi.PATIENT_FAMILY))


@pytest.mark.parametrize("path", ["PID-3.1", "PID-3[2].1.2", "PID", "3", "pid-3"])
def test_message_item_rejects_paths_below_a_repetition(path):
    with pytest.raises(Hl7ParseError):
        parse(ADT).item(path)


# ---------------------------------------------------------------------------- examples


def test_cx_assigning_authorities_and_types():
    msg = parse(ADT)
    mrn = read_cx(msg.item("PID-3"))
    assert mrn == Identifier(
        phi.PATIENT_MRN, "NORTH", CodeableConcept((Coding(hl7_v2_table(203), "MR"),))
    )
    assert read_cx(msg.item("PID-3[2]")).system == NPI  # a namespace caredomain knows
    assert read_cx(msg.item("PID-3[3]")).system == "urn:oid:1.2.840.1"
    assert read_cx(item("1^^^&550e8400-e29b-41d4-a716-446655440000&UUID")).system == (
        "urn:uuid:550e8400-e29b-41d4-a716-446655440000"
    )
    assert read_cx(item("1^^^&http://x.org/ids&URI")).system == "http://x.org/ids"
    assert read_cx(item("")) is None
    assert write_cx(mrn) == f"{phi.PATIENT_MRN}^^^NORTH^MR"
    assert write_cx(Identifier("1", NPI)) == "1^^^NPI"
    assert write_cx(Identifier("1", "urn:oid:1.2")) == "1^^^&1.2&ISO"


def test_ei():
    assert read_ei(item("P1^EPIC")) == Identifier("P1", "EPIC")
    assert read_ei(item("P1^^1.2.3^ISO")) == Identifier("P1", "urn:oid:1.2.3")
    assert write_ei(Identifier("P1", "urn:oid:1.2.3")) == "P1^^1.2.3^ISO"


def test_xpn_follows_the_ig_name_map():
    name = read_xpn(parse(ADT).item("PID-5"))
    assert name.family == phi.PATIENT_FAMILY  # XPN-1.1 only: the surname of the FN
    assert name.given == (phi.PATIENT_GIVEN, "Q")
    assert name.prefix == ("Dr",)
    assert name.suffix == ("Jr", "PhD")
    assert name.use == "official"
    assert read_xpn(item("A^B^^^^^D")).use == "usual"
    assert read_xpn(item("A^B^^^^^M")).use == "maiden"
    assert read_xpn(item("A^B^^^^^A")).use is None  # alias: unmatched in the IG
    assert read_xpn(item("A^B^^^^^C")).use is None  # adopted: unmatched in the IG
    assert read_xpn(item("^^^^^^^^X")) is None  # carries no name part
    assert write_xpn(HumanName("A", ("B", "C", "D"), ("Dr",), ("Jr",), "official")) == (
        "A^B^C D^Jr^Dr^^L"
    )


def test_xcn_person():
    person = read_xcn(parse(ADT).item("ORC-12"))
    assert person.identifier.value == "1234"
    assert person.identifier.system == NPI
    assert person.identifier.type.codings[0].code == "NPI"
    assert person.name.family == "Chen"
    assert person.name.given == ("Li",)
    assert person.name.prefix == ("Dr",)
    assert person.name.suffix == ("MD",)
    assert person.name.use == "official"
    assert read_xcn(item("^^^^^^^^NORTH")) is None
    assert write_xcn(Hl7Person(None, HumanName("Chen"))) == "^Chen"


def test_xad_follows_the_ig_address_map():
    address = read_xad(parse(ADT).item("PID-11"))
    assert address == Address(("1 Main St", "Apt 2"), "Chicago", "IL", "60601", "USA", "home")
    assert read_xad(item("^^X^^^^O")).use == "work"
    assert read_xad(item("^^X^^^^M")).use is None  # postal: Address has no type
    assert write_xad(address) == "1 Main St^Apt 2^Chicago^IL^60601^USA^H"


def test_xtn_follows_the_ig_contact_point_map():
    phone, email, mobile = (read_xtn(i) for i in next(parse(ADT).segments("PID")).items(13))
    assert phone == ContactPoint(ContactPointSystem.PHONE, "(312)555-0142", "home")
    assert email == ContactPoint(ContactPointSystem.EMAIL, "zq@example.org")
    assert mobile == ContactPoint(ContactPointSystem.PHONE, "+1 312 5550142 X12", "mobile", 2)
    assert read_xtn(item("^^FX^^^312^5550142")).value == "312 5550142"
    assert read_xtn(item("^^^a@b.org")).system is ContactPointSystem.EMAIL
    assert read_xtn(item("555")).system is ContactPointSystem.PHONE
    assert read_xtn(item("555^^BP")).system is ContactPointSystem.PAGER
    assert read_xtn(item("555^^TTY")).system is ContactPointSystem.OTHER
    assert read_xtn(item("^^PH^^^^^^^^^3125550142")).value == "3125550142"
    assert write_xtn(mobile) == "+1 312 5550142 X12^PRS^CP^^^^^^^^^^^^^^^2"
    assert write_xtn(email) == "^^Internet^zq@example.org"


def test_pl():
    location = read_pl(parse(ADT).item("PV1-3"))
    assert location == Hl7Location("CLIN", "201", "B", "NORTH", "3", "BLDG", "C")
    assert read_pl(item("^^^&1.2.3")).facility == "1.2.3"
    assert write_pl(location) == "CLIN^201^B^NORTH^^C^BLDG^3"


def test_cwe_codings_systems_and_text():
    concept = read_cwe(parse(ADT).item("OBX-3"))
    assert [(c.system, c.code, c.display, c.version) for c in concept.codings] == [
        (LOINC, "29463-7", "Body weight", "2.7"),
        ("99LOC", "BW", "Weight", None),  # a local system is kept as written
    ]
    assert concept.text == "Weight as typed"
    assert read_cwe(item("A^^HL70276")).codings[0].system == hl7_v2_table(276)
    assert read_cwe(item("E11.9^^I10C")).codings[0].system == ICD_10_CM
    assert read_cwe(item("1^^SCT^2^^C4")).codings == (Coding(SNOMED_CT, "1"), Coding(CPT, "2"))
    assert read_cwe(item("^Follow up")) == CodeableConcept((), "Follow up")
    assert read_cwe(item("X1"), default_system=hl7_v2_table(276)).codings[0].code == "X1"
    with pytest.raises(Hl7ParseError) as info:
        read_cwe(item("X1"))
    assert info.value.component == 3
    with pytest.raises(Hl7ParseError):
        read_cwe(item("^^LN"))
    assert write_cwe(concept) == "29463-7^Body weight^LN^BW^Weight^99LOC^2.7^^Weight as typed"
    assert write_ce(concept) == "29463-7^Body weight^LN^BW^Weight^99LOC"


def test_numbers():
    msg = parse(ADT)
    assert read_nm(msg.item("OBX-5")) == Decimal("82.5")
    assert read_nm(item(" -1.50 ")) == Decimal("-1.50")
    assert read_nm(item("+.5")) == Decimal("0.5")
    assert read_nm(item("")) is None
    for bad in ("1e5", "NaN", "1,5", "--1", "1.2.3", "٣", "1^2"):
        with pytest.raises(Hl7ParseError):
            read_nm(item(bad))
    assert write_nm(Decimal("1E+2")) == "100"
    with pytest.raises(ValidationError):
        write_nm(Decimal("NaN"))
    assert parse_nm("7") == 7
    assert read_sn(msg.item("OBX[2]-5")) == StructuredNumeric(">=", Decimal(5))
    assert read_sn(msg.item("OBX[2]-5")).number == 5
    assert read_sn(item("^1^:^128")).number is None
    assert read_sn(item("^2^+")) == StructuredNumeric(None, Decimal(2), "+")
    for bad in ("=>^5", "^1^x^2", "^1^^2", ">", "^a"):
        with pytest.raises(Hl7ParseError):
            read_sn(item(bad))
    assert read_cq(msg.item("OBX[3]-5")) == Quantity(5, "mg")
    assert read_cq(item("5")) == Quantity(5, "1")
    assert read_cq(item("180^[lb_us]&&ISO+")) == Quantity(180, "[lb_av]")
    with pytest.raises(Hl7ParseError):
        read_cq(item("^kg"))
    assert write_cq(Quantity("82.5", "kg")) == "82.5^kg&&UCUM"


# ---------------------------------------------------------------------------- TS / DTM


@pytest.mark.parametrize(
    ("text", "precision", "iso"),
    [
        ("2026", Precision.YEAR, "2026"),
        ("202611", Precision.MONTH, "2026-11"),
        ("20261125", Precision.DAY, "2026-11-25"),
        ("20261125-0600", Precision.DAY, "2026-11-25"),  # a date's offset is dropped
        ("2026112515", Precision.HOUR, "2026-11-25T15:00:00-06:00"),
        ("202611251530", Precision.MINUTE, "2026-11-25T15:30:00-06:00"),
        ("20261125153045", Precision.SECOND, "2026-11-25T15:30:45-06:00"),
        ("20261125153045.1", Precision.FRACTION_1, "2026-11-25T15:30:45.1-06:00"),
        ("20261125153045.1200", Precision.FRACTION_4, "2026-11-25T15:30:45.1200-06:00"),
        ("20260704153045+0530", Precision.SECOND, "2026-07-04T15:30:45+05:30"),
        ("20260704153045-0000", Precision.SECOND, "2026-07-04T15:30:45+00:00"),
    ],
)
def test_ts_precisions(text, precision, iso):
    time = read_ts(item(text + "^S"), timezone=CHICAGO)  # TS-2 (degree of precision) ignored
    assert time.precision is precision
    assert time.isoformat() == iso
    assert write_ts(time) == text.replace("-0600", "").replace("-0000", "+0000")


def test_ts_keeps_the_senders_offset_and_needs_a_zone_without_one():
    time = read_ts(item("20260704153045+0530"), timezone=CHICAGO)
    assert time.offset_given
    assert time.value.utcoffset() == pendulum.duration(hours=5, minutes=30)
    local = read_ts(item("20260704153045"), timezone=CHICAGO)
    assert not local.offset_given
    assert local.value.timezone_name == CHICAGO
    assert local.value.utcoffset() == pendulum.duration(hours=-5)  # CDT in July
    assert read_ts(item("19610719"), timezone=None).value == pendulum.date(1961, 7, 19)
    with pytest.raises(Hl7ParseError) as info:
        read_ts(item("20260704153045"), timezone=None)
    assert info.value.expected == "a UTC offset or a configured sender timezone"
    with pytest.raises(ValidationError):
        read_ts(item("20260704153045"), timezone="CST")
    assert read_ts(item(""), timezone=None) is None
    assert read_ts(item("^S"), timezone=None) is None


@pytest.mark.parametrize(
    "text",
    [
        "20261325",
        "20260230",
        "20250229",
        "2026112525",
        "202611252360",
        "20261125235960",
        "garbage",
        "2026112",
        "20261125153",
        "0000",
        "20261125+2500",
        "20261125+0160",
        "202611251530.5",
        "20261125153045.12345",
        "2026-11-25",
        "\uff12\uff10\uff12\uff16",  # fullwidth digits are not HL7 digits
    ],
)
def test_bad_ts_is_a_positioned_parse_error(text):
    with pytest.raises(Hl7ParseError) as info:
        read_ts(item(text), timezone=CHICAGO)
    assert info.value.location == "segment 3 (OBX), field 5, repetition 1"


def test_ts_in_a_dst_gap_and_fold_and_leap_day():
    gap = read_ts(item("202603080230"), timezone=CHICAGO).value
    assert (gap.hour, gap.minute) == (3, 30)  # moved forward by the gap
    fold = read_ts(item("202611010130"), timezone=CHICAGO).value
    assert fold.utcoffset() == pendulum.duration(hours=-6)  # the later, standard-time one
    assert read_ts(item("20240229"), timezone=None).value == pendulum.date(2024, 2, 29)


def test_write_ts_plain_values():
    dt = pendulum.datetime(2026, 11, 25, 15, 30, 45, 999, tz=CHICAGO)
    assert write_ts(dt) == "20261125153045-0600"
    assert write_ts(pendulum.date(2026, 1, 2)) == "20260102"
    with pytest.raises(ValidationError):
        write_ts(pendulum.naive(2026, 1, 2))


def test_hl7time_rejects_inconsistent_values():
    with pytest.raises(ValidationError):
        Hl7Time(pendulum.date(2026, 2, 3), Precision.YEAR)
    with pytest.raises(ValidationError):
        Hl7Time(pendulum.datetime(2026, 2, 3, 4, 5), Precision.HOUR)
    with pytest.raises(ValidationError):
        Hl7Time(pendulum.naive(2026, 2, 3, 4), Precision.HOUR)
    with pytest.raises(ValidationError):
        Hl7Time(pendulum.date(2026, 2, 3), Precision.DAY, offset_given=True)
    assert Precision.FRACTION_3.fraction_digits == 3
    assert Precision.DAY < Precision.MINUTE


# ---------------------------------------------------------------------------- strategies

_texts = (
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r"), max_size=12)
    .map(str.strip)
    .filter(lambda t: t and t != '""')
)
_plain = st.text("abcXYZ019 .-&^~\\|#*!/$", min_size=1, max_size=10).map(str.strip).filter(bool)
_words = _texts | _plain
_delimiters = st.sampled_from([STANDARD, CUSTOM])
_ZONES = ["America/Chicago", "Europe/London", "Asia/Kolkata", "UTC", "America/St_Johns"]


def _is_local_name(name):
    if name.upper().startswith("HL7") or name.startswith(("http://", "https://", "urn:")):
        return False
    try:
        resolve_system(name)
    except ValidationError:
        return True
    return False


_local_names = _words.filter(_is_local_name)
_oids = st.lists(st.integers(0, 99999), min_size=2, max_size=6).map(
    lambda parts: ".".join(map(str, parts))
)
_id_systems = st.one_of(
    st.none(),
    _local_names,
    _oids.map("urn:oid:{}".format),
    st.uuids().map("urn:uuid:{}".format),
    st.sampled_from([NPI, LOINC, "http://example.org/ids", "https://x.example/mrn"]),
)
_coding_systems = st.one_of(
    st.sampled_from([LOINC, SNOMED_CT, ICD_10_CM, CPT, UCUM, NPI, "http://example.org/cs"]),
    st.integers(1, 9999).map(hl7_v2_table),
    _local_names,
    _oids.map("urn:oid:{}".format),
)
_optional = st.none() | _words


@st.composite
def hl7_times(draw):
    precision = draw(st.sampled_from(list(Precision)))
    year = draw(st.integers(1, 9999))
    month = draw(st.integers(1, 12)) if precision >= Precision.MONTH else 1
    day = draw(st.integers(1, 28)) if precision >= Precision.DAY else 1
    if not precision.has_time:
        return Hl7Time(pendulum.date(year, month, day), precision)
    hour = draw(st.integers(0, 23))
    minute = draw(st.integers(0, 59)) if precision >= Precision.MINUTE else 0
    second = draw(st.integers(0, 59)) if precision >= Precision.SECOND else 0
    digits = precision.fraction_digits
    micro = draw(st.integers(0, 10**digits - 1)) * 10 ** (6 - digits) if digits else 0
    if draw(st.booleans()):
        offset = draw(st.integers(-14 * 60, 14 * 60))
        value = pendulum.DateTime(
            year, month, day, hour, minute, second, micro, pendulum.FixedTimezone(offset * 60)
        )
        return Hl7Time(value, precision, offset_given=True)
    zone = draw(st.sampled_from(_ZONES))
    year = min(max(year, 1900), 2200)
    value = pendulum.datetime(year, month, day, hour, minute, second, micro, tz=zone)
    return Hl7Time(value, precision)


_names = st.builds(
    HumanName,
    _optional,
    st.lists(_words, max_size=2),
    st.lists(_words, max_size=1),
    st.lists(_words, max_size=3),
    st.sampled_from([None, "official", "usual", "maiden", "nickname", "temp", "old", "anonymous"]),
).filter(lambda n: n != HumanName())
_types = st.none() | st.sampled_from(["MR", "NPI", "SS", "PI"]).map(
    lambda code: CodeableConcept((Coding(hl7_v2_table(203), code),))
)
_identifiers = st.builds(Identifier, _words, _id_systems, _types)


@st.composite
def codings(draw, versions=True):
    return Coding(
        draw(_coding_systems),
        draw(_words),
        draw(_optional),
        draw(_optional) if versions else None,
    )


def _detail(concept):
    return concept, [(c.system, c.code, c.display, c.version) for c in concept.codings]


_numbers = st.decimals(allow_nan=False, allow_infinity=False)


def _sn_or_none(comparator, value1, separator, value2):
    if (value1 is None and value2 is None) or (value2 is not None and separator is None):
        return None
    return StructuredNumeric(comparator, value1, separator, value2)


_sns = st.builds(
    _sn_or_none,
    st.none() | st.sampled_from([">", "<", ">=", "<=", "=", "<>"]),
    st.none() | _numbers,
    st.none() | st.sampled_from(["-", "+", "/", ".", ":"]),
    st.none() | _numbers,
).filter(lambda sn: sn is not None)


# ---------------------------------------------------------------------------- round trips


@given(hl7_times(), _delimiters)
def test_ts_round_trip(time, d):
    has_zone = time.precision.has_time and not time.offset_given
    zone = time.value.timezone_name if has_zone else None
    back = read_ts(item(write_ts(time, d), d), timezone=zone)
    assert back == time
    assert back.isoformat() == time.isoformat()


@given(st.datetimes(timezones=st.sampled_from([pendulum.timezone(z) for z in _ZONES])))
def test_ts_round_trip_of_a_plain_datetime(value):
    value = pendulum.instance(value)
    if value.utcoffset().seconds % 60:
        return  # local mean time before ~1900: HL7 offsets are whole minutes
    back = read_ts(item(write_ts(value)), timezone=None)
    assert back == Hl7Time(value.replace(microsecond=0), Precision.SECOND, offset_given=True)


@given(_names, _delimiters)
def test_xpn_round_trip(name, d):
    back = read_xpn(item(write_xpn(name, d), d))
    assert (back.family, back.given, back.prefix, back.suffix, back.use) == (
        name.family,
        name.given,
        name.prefix,
        name.suffix,
        name.use,
    )


@given(
    st.builds(
        Address,
        st.lists(_words, max_size=2),
        _optional,
        _optional,
        _optional,
        _optional,
        st.sampled_from([None, "home", "work", "temp", "old", "billing"]),
    ).filter(lambda a: a != Address()),
    _delimiters,
)
def test_xad_round_trip(address, d):
    assert read_xad(item(write_xad(address, d), d)) == address


@given(
    st.builds(
        ContactPoint,
        st.sampled_from(
            [
                ContactPointSystem.PHONE,
                ContactPointSystem.FAX,
                ContactPointSystem.EMAIL,
                ContactPointSystem.PAGER,
            ]
        ),
        _words,
        st.sampled_from([None, "home", "work", "mobile"]),
        st.none() | st.integers(1, 10_000),
    ),
    _delimiters,
)
def test_xtn_round_trip(contact, d):
    assert read_xtn(item(write_xtn(contact, d), d)) == contact


@given(_identifiers, _delimiters)
def test_cx_round_trip(identifier, d):
    assert read_cx(item(write_cx(identifier, d), d)) == identifier


@given(st.builds(Identifier, _words, _id_systems), _delimiters)
def test_ei_round_trip(identifier, d):
    assert read_ei(item(write_ei(identifier, d), d)) == identifier


@given(
    st.builds(Hl7Person, st.none() | _identifiers, st.none() | _names).filter(
        lambda p: p != Hl7Person()
    ),
    _delimiters,
)
def test_xcn_round_trip(person, d):
    back = read_xcn(item(write_xcn(person, d), d))
    assert back.identifier == person.identifier
    assert back.name == person.name


@given(
    st.builds(CodeableConcept, st.lists(codings(), max_size=3), _optional).filter(
        lambda c: c.codings or c.text
    ),
    _delimiters,
)
def test_cwe_round_trip(concept, d):
    assert _detail(read_cwe(item(write_cwe(concept, d), d))) == _detail(concept)


@given(
    st.one_of(
        st.lists(codings(versions=False), min_size=1, max_size=2).map(CodeableConcept),
        _words.map(lambda text: CodeableConcept((), text)),
    ),
    _delimiters,
)
def test_ce_round_trip(concept, d):
    assert _detail(read_cwe(item(write_ce(concept, d), d))) == _detail(concept)


@given(_numbers, _delimiters)
def test_nm_round_trip(number, d):
    assert read_nm(item(write_nm(number, d), d)) == number


@given(_sns, _delimiters)
def test_sn_round_trip(sn, d):
    assert read_sn(item(write_sn(sn, d), d)) == sn


@given(
    st.builds(Quantity, _numbers, st.sampled_from(sorted(known_units())) | _words),
    _delimiters,
)
def test_cq_round_trip(quantity, d):
    assert read_cq(item(write_cq(quantity, d), d)) == quantity


@given(
    st.builds(
        Hl7Location, _optional, _optional, _optional, _optional, _optional, _optional, _optional
    ).filter(lambda loc: loc != Hl7Location()),
    _delimiters,
)
def test_pl_round_trip(location, d):
    assert read_pl(item(write_pl(location, d), d)) == location


# ---------------------------------------------------------------------------- robustness

READERS = {
    "ts": lambda i: read_ts(i, timezone=CHICAGO),
    "ts-no-zone": lambda i: read_ts(i, timezone=None),
    "xpn": read_xpn,
    "xcn": read_xcn,
    "xad": read_xad,
    "xtn": read_xtn,
    "cx": read_cx,
    "ei": read_ei,
    "cwe": read_cwe,
    "cwe-default": lambda i: read_cwe(i, default_system=LOINC),
    "nm": read_nm,
    "sn": read_sn,
    "cq": read_cq,
    "pl": read_pl,
}
_noise = st.text('0123456789+-.: ^&\\~<>=XEFSTR#ABCMLNPHI"', max_size=40) | st.text(max_size=40)


@pytest.mark.parametrize("name", sorted(READERS))
@settings(max_examples=200)
@given(text=_noise)
def test_readers_raise_only_parse_errors(name, text):
    error = None
    try:
        READERS[name](item(text))
    except Hl7ParseError as raised:
        error = raised
    except CareDomainError as raised:  # pragma: no cover - the property under test
        pytest.fail(f"{name} raised {type(raised).__name__}, not Hl7ParseError")
    if error is not None:
        assert error.location.startswith("segment 3 (OBX), field 5, repetition 1")


@given(st.text("0123456789+-. ", max_size=24))
def test_ts_digits_noise(text):
    with contextlib.suppress(Hl7ParseError):
        parse_ts(text, timezone=CHICAGO)


@pytest.mark.parametrize(
    ("reader", "text"),
    [
        (READERS["ts"], phi.PATIENT_BIRTH_DATE),
        (READERS["ts"], phi.PATIENT_MRN),
        (READERS["ts-no-zone"], phi.PATIENT_BIRTH_DATE.replace("-", "") + "1200"),
        (read_nm, phi.PATIENT_MRN),
        (read_nm, phi.PATIENT_PHONE),
        (read_sn, f"{phi.PATIENT_GIVEN}^1"),
        (read_sn, f"^{phi.PATIENT_BIRTH_DATE}"),
        (read_cq, f"{phi.PATIENT_FAMILY}^kg"),
        (read_cx, f"^^^{phi.PATIENT_FAMILY}^MR"),
        (read_ei, f"^{phi.PATIENT_MRN}"),
        (read_cwe, f"{phi.PATIENT_MRN}^{phi.PATIENT_FAMILY}"),
        (read_xtn, f"^{phi.PATIENT_FAMILY}"),
        (read_xtn, f"{phi.PATIENT_PHONE}^PRN^PH" + "^" * 15 + phi.PATIENT_MRN),
    ],
)
def test_errors_never_echo_patient_data(reader, text):
    with pytest.raises(Hl7ParseError) as info:
        reader(item(text))
    phi.assert_no_phi(str(info.value))
    phi.assert_no_phi(repr(info.value))
    phi.assert_no_phi(info.value.expected)
