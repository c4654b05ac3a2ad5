import pytest

from caredomain.core import (
    CPT,
    HCPCS,
    ICD_10_CM,
    LOINC,
    CodeableConcept,
    Coding,
    ValidationError,
    hl7_v2_table,
    resolve_system,
)


def test_coding_equality_is_by_system_and_code():
    a = Coding(LOINC, "29463-7", "Body weight")
    b = Coding(LOINC, "29463-7", "Body Weight Measured", version="2.77")
    assert a == b
    assert hash(a) == hash(b)
    assert a != Coding(LOINC, "29463-8")
    assert a != Coding(CPT, "29463-7")
    assert len({a, b}) == 1


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("CPT", CPT),
        ("cpt", CPT),
        ("ICD-10-CM", ICD_10_CM),
        ("HCPCS", HCPCS),
        ("LN", LOINC),
        ("urn:oid:2.16.840.1.113883.6.96", "urn:oid:2.16.840.1.113883.6.96"),
    ],
)
def test_resolve_system(name, uri):
    assert resolve_system(name) == uri


def test_unknown_short_name_is_refused():
    with pytest.raises(ValidationError):
        resolve_system("MYCODES")


def test_hl7_v2_tables():
    assert hl7_v2_table(203) == "http://terminology.hl7.org/CodeSystem/v2-0203"
    assert hl7_v2_table(1) == "http://terminology.hl7.org/CodeSystem/v2-0001"
    with pytest.raises(ValidationError):
        hl7_v2_table(0)


@pytest.mark.parametrize("code", ["", " 99213", "99213 "])
def test_blank_or_padded_codes_are_refused(code):
    with pytest.raises(ValidationError):
        Coding(CPT, code)


def test_codeable_concept_lookups():
    concept = CodeableConcept(
        (Coding(ICD_10_CM, "E11.9"), Coding("http://snomed.info/sct", "44054006")), "Type 2 DM"
    )
    assert concept.has("ICD-10-CM", "E11.9")
    assert not concept.has("ICD-10-CM", "E11.8")
    assert concept.code_in("SNOMED") == "44054006"
    assert concept.code_in("LOINC") is None
    assert Coding(ICD_10_CM, "E11.9") in concept
    assert concept.matches(CodeableConcept.of("ICD-10-CM", "E11.9"))
    assert not concept.matches(CodeableConcept.of("ICD-10-CM", "I50.9"))
    assert next(iter(concept)).code == "E11.9"


def test_codeable_concept_accepts_any_iterable_of_codings():
    concept = CodeableConcept([Coding(CPT, "99213")])
    assert concept.codings == (Coding(CPT, "99213"),)
