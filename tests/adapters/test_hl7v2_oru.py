"""ORU^R01 results read as domain values: corpus scenarios, value types, the monitor feed."""

from decimal import Decimal
from pathlib import Path

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caredomain.adapters.hl7v2 import Hl7ParseError, parse
from caredomain.adapters.hl7v2.oru import ResultMessage, read_oru
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.careplans import Observation, ObservationSource
from caredomain.core import CareDomainError, UnitError
from caredomain.core.codes import (
    FHIR_OBSERVATION_CATEGORY,
    LOINC,
    SNOMED_CT,
    CodeableConcept,
    Coding,
    hl7_v2_table,
)
from caredomain.core.identity import Identifier, stable_id
from caredomain.core.quantities import Quantity
from caredomain.core.results import INTERPRETATION, Range, Ratio, ReferenceRange, ResultStatus
from tests import phi

CORPUS = Path(__file__).resolve().parents[2] / "examples" / "hl7v2"
CHICAGO = SenderProfile(timezone="America/Chicago")
CST = pendulum.FixedTimezone(-6 * 3600)
VITAL_SIGNS = CodeableConcept((Coding(FHIR_OBSERVATION_CATEGORY, "vital-signs"),))
LABORATORY = CodeableConcept((Coding(FHIR_OBSERVATION_CATEGORY, "laboratory"),))


def read(name: str, profile: SenderProfile = CHICAGO) -> ResultMessage:
    return read_oru(parse((CORPUS / name).read_bytes()), profile=profile)


def flag(code: str) -> CodeableConcept:
    return CodeableConcept((Coding(INTERPRETATION, code),))


def message(*segments: str, msh: str = "ORU^R01^ORU_R01") -> str:
    head = f"MSH|^~\\&|LAB|LMH|CD|CD|20261129163012-0600||{msh}|CTRL-9|P|2.5.1"
    pid = f"PID|1||{phi.PATIENT_MRN}^^^LMH^MR||{phi.PATIENT_FAMILY}^{phi.PATIENT_GIVEN}||19610719"
    return "\r".join([head, pid, *segments]) + "\r"


OBR = "OBR|1|P-1^LPC|F-1^LAB|24323-8^Metabolic panel^LN|||20261129081500-0600"


def obx(value_type: str, value: str, units: str = "", extra: str = "") -> str:
    return f"OBX|1|{value_type}|2345-7^Glucose^LN||{value}|{units}{extra}"


def only(text: str) -> object:
    return read_oru(parse(text), profile=CHICAGO).results[0]


# -- the heart-failure home-monitoring scenario ----------------------------------------------


def test_home_readings_in_kg_with_blood_pressure():
    oru = read("oru-r01-hf-home-kg.hl7")
    assert (oru.trigger, oru.control_id) == ("R01", "RPM-0091822")
    patient_id = stable_id("Patient", "LMH", "LMH00482913")
    assert oru.patient.id == patient_id
    assert len(oru.orders) == 2

    weight_order, bp_order = oru.orders
    assert weight_order.placer_order == Identifier("RPM-ORD-1", "LMH")
    assert weight_order.filler_order == Identifier("RPM-FIL-5501", "HOMEMON")
    assert weight_order.service == CodeableConcept((Coding(LOINC, "29463-7", "Body weight"),))
    assert weight_order.observed_at == pendulum.datetime(2026, 11, 28, 7, 10, tz=CST)
    assert weight_order.reported_at == pendulum.datetime(2026, 11, 28, 7, 35, tz=CST)
    assert (weight_order.result_status, weight_order.report_status) == ("F", "final")

    (weight,) = weight_order.results
    assert weight.id == stable_id("Observation", "HOMEMON", "RPM-FIL-5501", "1")
    assert weight.patient.id == patient_id
    assert weight.code == CodeableConcept((Coding(LOINC, "29463-7", "Body weight"),))
    assert weight.status is ResultStatus.FINAL
    assert weight.value == Quantity(Decimal("92.3"), "kg")
    assert weight.comparator is None
    assert weight.effective == pendulum.datetime(2026, 11, 28, 7, 10, tz=CST)
    assert weight.issued == pendulum.datetime(2026, 11, 28, 7, 35, tz=CST)  # OBR-22
    assert weight.interpretation == (flag("N"),)
    assert weight.reference_range is None
    assert weight.category == VITAL_SIGNS
    assert weight.notes == ("Up 1.7 kg since discharge weight (90.6 kg on 2026-11-25).",)

    systolic, diastolic, heart_rate = bp_order.results
    assert systolic.value == Quantity(142, "mm[Hg]")
    assert systolic.reference_range == ReferenceRange(
        low=Quantity(90, "mm[Hg]"), high=Quantity(129, "mm[Hg]")
    )
    assert systolic.interpretation == (flag("H"),)
    assert diastolic.value == Quantity(88, "mm[Hg]")
    assert heart_rate.value == Quantity(78, "/min")
    assert heart_rate.category == VITAL_SIGNS
    assert oru.results == (weight, systolic, diastolic, heart_rate)


def test_home_readings_feed_the_monitor_as_separate_observations():
    observations = read("oru-r01-hf-home-kg.hl7").monitored()
    patient_id = stable_id("Patient", "LMH", "LMH00482913")
    at_7_15 = pendulum.datetime(2026, 11, 28, 7, 15, tz=CST)

    def reading(filler: str, set_id: str, code: str, value: Quantity, at=at_7_15) -> Observation:
        result_id = stable_id("Observation", "HOMEMON", filler, set_id)
        return Observation(result_id, patient_id, code, at, value, source=ObservationSource.DEVICE)

    assert observations == (
        reading(
            "RPM-FIL-5501",
            "1",
            "29463-7",
            Quantity(Decimal("92.3"), "kg"),
            pendulum.datetime(2026, 11, 28, 7, 10, tz=CST),
        ),
        reading("RPM-FIL-5502", "1", "8480-6", Quantity(142, "mm[Hg]")),
        reading("RPM-FIL-5502", "2", "8462-4", Quantity(88, "mm[Hg]")),
        reading("RPM-FIL-5502", "3", "8867-4", Quantity(78, "/min")),
    )


def test_home_readings_in_pounds_without_offsets():
    oru = read("oru-r01-hf-home-lb.hl7")
    first, second = oru.orders[0].results
    assert first.value == Quantity(Decimal("187.4"), "[lb_av]")
    assert second.value == Quantity(Decimal("190.2"), "[lb_av]")
    assert second.effective == pendulum.datetime(2026, 12, 7, 7, 8, tz="America/Chicago")
    assert second.interpretation == (flag("H"),)
    assert second.notes == ("Gain of 2.8 lb in 1 day: heart-failure nurse notified.",)
    # No filler order number (OBR-3): the placer's scopes the ids.
    assert first.id == stable_id("Observation", "NSC", "RPM-ORD-9", "1")
    monitored = oru.monitored()
    assert [(o.code, o.value) for o in monitored] == [
        ("29463-7", Quantity(Decimal("187.4"), "[lb_av]")),
        ("29463-7", Quantity(Decimal("190.2"), "[lb_av]")),
        ("8480-6", Quantity(126, "mm[Hg]")),
        ("8462-4", Quantity(74, "mm[Hg]")),
    ]
    assert monitored[1].canonical("29463-7") == Decimal("190.2") * Decimal("0.45359237")


def test_times_without_offset_need_the_sender_timezone():
    with pytest.raises(Hl7ParseError) as caught:
        read("oru-r01-hf-home-lb.hl7", SenderProfile())
    assert (caught.value.segment_id, caught.value.field) == ("OBR", 7)
    assert "UTC offset" in str(caught.value)


# -- a laboratory panel -------------------------------------------------------------------


def test_lab_panel_values_ranges_flags_and_statuses():
    oru = read("oru-r01-lab-panel.hl7")
    hba1c_order, cmp_order, ana_order, ua_order = oru.orders

    (hba1c,) = hba1c_order.results
    assert hba1c.value == Quantity(Decimal("8.1"), "%")
    assert hba1c.reference_range == ReferenceRange(
        low=Quantity(Decimal("4.0"), "%"), high=Quantity(Decimal("5.6"), "%")
    )
    assert hba1c.category == LABORATORY  # OBR-24 CH
    assert hba1c.issued == pendulum.datetime(2026, 11, 29, 14, 10, tz=CST)  # OBX-19

    glucose, sodium, potassium, creatinine, egfr = cmp_order.results
    assert cmp_order.report_status == "corrected"
    assert glucose.status is ResultStatus.CORRECTED
    assert glucose.value == Quantity(182, "mg/dL")
    assert glucose.notes == (
        "Corrected result: previously reported as 128 mg/dL (transcription error).",
    )
    assert potassium.interpretation == (flag("L"),)
    assert sodium.status is ResultStatus.FINAL
    assert creatinine.value == Quantity(Decimal("0.92"), "mg/dL")
    unit = "mL/min/{1.73_m2}"
    assert (egfr.value, egfr.comparator) == (Quantity(60, unit), ">")
    assert egfr.quantity is None  # a compared value is no plain quantity
    assert egfr.reference_range == ReferenceRange(low=Quantity(59, unit))

    titer, comment = ana_order.results
    assert titer.value == Ratio(Quantity(1, "1"), Quantity(160, "1"))
    assert titer.status is ResultStatus.PRELIMINARY
    assert titer.reference_range == ReferenceRange(text="<1:80")
    assert titer.interpretation == (flag("A"),)
    assert comment.value == "Speckled pattern. Titer confirmation and reflex ENA panel to follow."
    assert comment.category == LABORATORY  # OBR-24 SR

    nitrite, urine_glucose, color = ua_order.results
    assert nitrite.value == CodeableConcept((Coding(SNOMED_CT, "260385009", "Negative"),))
    assert nitrite.reference_range == ReferenceRange(text="Negative")
    assert urine_glucose.interpretation == (flag("A"),)
    assert color.value == "Yellow"
    assert color.category is None  # OBR-24 "UR" is not in HL7 table 0074
    assert color.notes == ("Specimen received at room temperature within 2 hours of collection.",)

    monitored = oru.monitored()
    assert [(o.code, o.source) for o in monitored] == [
        ("4548-4", ObservationSource.LAB),
        ("2345-7", ObservationSource.LAB),  # corrected results are watched
    ]


def test_microbiology_coded_value_and_escapes():
    culture = read("oru-r01-microbiology-cwe.hl7").results[0]
    assert culture.value == CodeableConcept(
        (Coding(SNOMED_CT, "3092008", "Staphylococcus aureus", "20250901"),)
    )
    assert culture.category == LABORATORY  # MB
    summary, follow_up = read("oru-r01-escapes.hl7").results
    assert isinstance(summary.value, str)
    assert summary.value.startswith("Goals: weight 90 kg & BP ^ 130/80\nSodium \\ fluid")
    assert "Temp 37.1°C; RED FLAGS reviewed" in summary.value
    assert follow_up.value == (
        "Follow-up: HF clinic within 7 days\nPCP within 14 days\nHome health: \\Zcustom\\ kept"
        " as written"
    )
    assert follow_up.notes == ("Escaped separators: | ^ & ~ \\ and hex ABCD end.",)


def test_bnp_critical_high_with_an_upper_limit():
    oru = read("oru-r01-hf-bnp.hl7")
    bnp, potassium = oru.results
    assert bnp.value == Quantity(2140, "pg/mL")
    assert bnp.interpretation == (flag("HH"),)
    assert bnp.reference_range == ReferenceRange(high=Quantity(125, "pg/mL"))
    assert potassium.value == Quantity(Decimal("5.6"), "mmol/L")
    assert oru.monitored() == ()


def test_reading_twice_gives_equal_values():
    assert read("oru-r01-lab-panel.hl7") == read("oru-r01-lab-panel.hl7")


# -- value types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "value", "comparator"),
    [
        (obx("NM", "5.4", "mmol/L^mmol/L^UCUM"), Quantity(Decimal("5.4"), "mmol/L"), None),
        (obx("NM", "12"), Quantity(12, "1"), None),  # no units: UCUM "1"
        (obx("NM", "98", "mmHg"), Quantity(98, "mm[Hg]"), None),  # normalized
        (obx("NM", "7", "LOCALU^units^99L^mg/dL^^UCUM"), Quantity(7, "mg/dL"), None),
        (obx("SN", ">^200", "mg/dL"), Quantity(200, "mg/dL"), ">"),
        (obx("SN", "<=^5"), Quantity(5, "1"), "<="),
        (obx("SN", "=^5"), Quantity(5, "1"), None),
        (obx("SN", "^10^-^20", "mg/dL"), Range(Quantity(10, "mg/dL"), Quantity(20, "mg/dL")), None),
        (obx("SN", "^1^:^128"), Ratio(Quantity(1, "1"), Quantity(128, "1")), None),
        (obx("SN", "^1^/^2"), Ratio(Quantity(1, "1"), Quantity(2, "1")), None),
        (obx("SN", "<^1^:^80"), "< 1 : 80", None),  # a compared ratio is kept as text
        (obx("SN", "^2^+"), "2 +", None),
        (obx("SN", "<>^5", "mg"), "<> 5 mg", None),
        (obx("NR", "3.5^5.1", "mmol/L"), Range(Quantity(Decimal("3.5"), "mmol/L"),
                                                Quantity(Decimal("5.1"), "mmol/L")), None),
        (obx("CWE", "10828004^Positive^SCT"),
         CodeableConcept((Coding(SNOMED_CT, "10828004", "Positive"),)), None),
        (obx("TX", "line one~line two"), "line one\nline two", None),
        (obx("ST", " padded "), " padded ", None),
        (obx("DT", "20261129"), "20261129", None),  # no date value type: kept as text
        (obx("ED", "^TEXT^^Base64^QUJD"), None, None),  # attachments are not read
        (obx("", "free"), "free", None),
        (obx("NM", ""), None, None),
    ],
)  # fmt: skip
def test_value_types(segment, value, comparator):
    result = only(message(OBR, segment))
    assert result.value == value
    assert result.comparator == comparator


@pytest.mark.parametrize(
    ("status", "expected"),
    [("F", ResultStatus.FINAL), ("W", ResultStatus.ENTERED_IN_ERROR), ("D", "entered-in-error"),
     ("X", ResultStatus.CANCELLED), ("A", ResultStatus.AMENDED), ("R", ResultStatus.UNKNOWN),
     ("I", ResultStatus.UNKNOWN), ("", ResultStatus.UNKNOWN)],
)  # fmt: skip
def test_result_status_table_0085(status, expected):
    assert only(message(OBR, obx("NM", "1", "", f"|||||{status}"))).status == expected


def test_flags_unmatched_in_the_ig_stay_in_table_0078():
    result = only(message(OBR, obx("NM", "1", "", "||H~TOX~H")))
    assert result.interpretation == (flag("H"), CodeableConcept((Coding(hl7_v2_table(78), "TOX"),)))


def test_reference_range_forms():
    def range_of(text: str) -> ReferenceRange | None:
        return only(message(OBR, obx("NM", "1", "mg", f"|{text}"))).reference_range

    assert range_of("3.5-5.0") == ReferenceRange(Quantity(Decimal("3.5"), "mg"), Quantity(5, "mg"))
    assert range_of("<200") == ReferenceRange(high=Quantity(200, "mg"))
    assert range_of(">=60") == ReferenceRange(low=Quantity(60, "mg"))
    assert range_of("-1 - 1") == ReferenceRange(Quantity(-1, "mg"), Quantity(1, "mg"))
    assert range_of("negative") == ReferenceRange(text="negative")
    assert range_of("") is None


def test_effective_and_issued_fall_back_to_the_order():
    segment = obx("NM", "1", "", "||||||||20261129090000-0600|||||20261129100000-0600")
    obr = OBR + "|" * 15 + "20261129160000-0600"
    result = only(message(obr, segment))
    assert result.effective == pendulum.datetime(2026, 11, 29, 9, tz=CST)  # OBX-14
    assert result.issued == pendulum.datetime(2026, 11, 29, 10, tz=CST)  # OBX-19
    fallback = only(message(obr, obx("NM", "1")))
    assert fallback.effective == pendulum.datetime(2026, 11, 29, 8, 15, tz=CST)  # OBR-7
    assert fallback.issued == pendulum.datetime(2026, 11, 29, 16, tz=CST)  # OBR-22


def test_grouping_ids_and_notes():
    text = message(
        "NTE|1||a patient note",  # before any OBR or OBX: not kept
        obx("NM", "1"),  # before any OBR: an order without OBR fields
        OBR,
        "NTE|1||an order note",
        obx("NM", "2"),
        obx("NM", "3"),  # the same set id again
        "NTE|1||first line~second line",
        "NTE|2||",
        "ZXX|1|ignored",
        "OBR|2||||||20261129081500-0600",  # no order numbers
        obx("NM", "4"),
    )
    oru = read_oru(parse(text), profile=CHICAGO)
    loose, panel, anonymous = oru.orders
    assert loose.service is None
    assert loose.filler_order is None
    assert loose.results[0].id == stable_id("Observation", "CTRL-9", "1", "1")
    assert panel.notes == ("an order note",)
    first, second = panel.results
    assert first.id == stable_id("Observation", "LAB", "F-1", "1")
    assert second.id == stable_id("Observation", "LAB", "F-1", "#2")
    assert second.notes == ("first line\nsecond line",)
    assert anonymous.results[0].id == stable_id("Observation", "CTRL-9", "3", "1")
    assert len({r.id for r in oru.results}) == 4


def test_monitored_refuses_a_weight_in_the_wrong_unit():
    oru = read_oru(parse(message(OBR, "OBX|1|NM|29463-7^Body weight^LN||80|mm[Hg]|||||F")),
                   profile=CHICAGO)  # fmt: skip
    with pytest.raises(UnitError):
        oru.monitored()


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("msh", ["ORU^R30^ORU_R30", "ADT^A01^ADT_A01", "ORU"])
def test_other_messages_are_refused_at_msh_9(msh):
    with pytest.raises(Hl7ParseError) as caught:
        read_oru(parse(message(OBR, msh=msh)), profile=CHICAGO)
    assert (caught.value.segment_id, caught.value.field) == ("MSH", 9)
    assert "ORU^R01" in str(caught.value)


def test_one_patient_per_message():
    text = message(OBR, f"PID|1||OTHER^^^LMH||{phi.PATIENT_FAMILY}")
    with pytest.raises(Hl7ParseError) as caught:
        read_oru(parse(text), profile=CHICAGO)
    assert caught.value.segment_id == "PID"
    no_pid = "MSH|^~\\&|LAB|LMH|CD|CD|20261129163012-0600||ORU^R01|C|P|2.5.1\r" + OBR
    with pytest.raises(Hl7ParseError, match="PID"):
        read_oru(parse(no_pid), profile=CHICAGO)


@pytest.mark.parametrize(
    "segments",
    [
        (OBR, f"OBX|1|NM|||{phi.PATIENT_MRN}"),  # no OBX-3
        (OBR, f"OBX|1|NM|2345-7^Glucose^LN||{phi.PATIENT_MRN}"),  # not an NM
        (OBR, f"OBX|1|SN|2345-7^Glucose^LN||{phi.PATIENT_FAMILY}^1"),  # not a comparator
        (OBR, f"OBX|1|CWE|2345-7^Glucose^LN||{phi.PATIENT_GIVEN}^x"),  # no coding system
        (f"OBR|1|||x^y^LN|||{phi.PATIENT_PHONE}",),  # OBR-7 not a TS
    ],
)
def test_errors_carry_no_patient_data(segments):
    with pytest.raises(Hl7ParseError) as caught:
        read_oru(parse(message(*segments)), profile=CHICAGO)
    phi.assert_no_phi(str(caught.value))
    phi.assert_no_phi(repr(caught.value))


def test_repr_carries_no_patient_data():
    oru = read_oru(parse(message(OBR, obx("NM", "1"))), profile=CHICAGO)
    phi.assert_no_phi(repr(oru))


# -- properties ----------------------------------------------------------------------------

_PIECE = st.sampled_from(
    [*"0123456789AZaz-.+<>=:/ ^~&\\|é", "20261125153000-0600", '""', "LN", "UCUM", "kg"]
)
_FIELD = st.lists(_PIECE, max_size=10).map("".join)
_TYPES = st.sampled_from(["NM", "SN", "CE", "CWE", "TX", "ST", "FT", "NR", "ED", "DT", "XX", ""])


@settings(max_examples=300, deadline=None)
@given(
    value_type=_TYPES,
    fields=st.lists(_FIELD, min_size=12, max_size=12),
    timezone=st.sampled_from([None, "America/Chicago"]),
)
def test_reading_random_field_contents_raises_only_caredomain_errors(value_type, fields, timezone):
    f = fields
    segments = [
        f"OBR|1|{f[0]}|{f[1]}|{f[2]}|||{f[3]}" + "|" * 15 + f"{f[4]}|||{f[5]}",
        f"OBX|{f[6]}|{value_type}|29463-7^Body weight^LN||{f[7]}|{f[8]}|{f[9]}|{f[10]}|||{f[11]}",
        f"NTE|1||{f[7]}",
        f"OBX|1|{value_type}|{f[2]}||{f[9]}|{f[8]}|||||F|||{f[3]}",
    ]
    try:
        oru = read_oru(parse(message(*segments)), profile=SenderProfile(timezone=timezone))
        oru.monitored()
    except CareDomainError:
        pass
