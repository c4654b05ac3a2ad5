import csv
from pathlib import Path

import pytest

from caredomain.referrals import (
    BUSINESS_STATUS_SYSTEM,
    FHIR_STATUS,
    HL7V2_MESSAGES,
    REFERRAL_MACHINE,
    RF1_PRIORITY,
    RF1_STATUS,
    AppointmentBooked,
    PatientNoShow,
    ReferralPriority,
    ReferralSent,
    ReferralStatus,
    fhir_status,
    hl7v2_messages,
)
from tests.referrals.conftest import T0

TASK_STATUS = {
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
}  # fmt: skip  (FHIR R4 task-status)
REQUEST_STATUS = {
    "draft",
    "active",
    "on-hold",
    "revoked",
    "completed",
    "entered-in-error",
    "unknown",
}
BUSINESS_CODES = {"2.0", "3.0", "4.0", "5.1.1", "5.1.2", "5.1.3", "5.1.4", "5.2", "6.0", "7.0"}


def test_fhir_mapping_is_total_and_uses_the_value_sets():
    assert set(FHIR_STATUS) == set(ReferralStatus)
    for status in FHIR_STATUS.values():
        assert status.task in TASK_STATUS
        assert status.service_request in REQUEST_STATUS
        if status.business is not None:
            assert status.business.system == BUSINESS_STATUS_SYSTEM
            assert status.business.code in BUSINESS_CODES


@pytest.mark.parametrize(
    ("state", "task", "business", "service_request"),
    [
        ("sent", "requested", "2.0", "active"),
        ("accepted", "accepted", "3.0", "active"),
        ("declined", "rejected", "4.0", "active"),
        ("scheduled", "in-progress", "5.1.1", "active"),
        ("no-show", "in-progress", "5.1.2", "active"),
        ("visit-cancelled", "in-progress", "5.1.3", "active"),
        ("seen", "in-progress", "5.1.4", "active"),
        ("cancel-requested", "in-progress", "5.2", "active"),
        ("cancelled", "cancelled", "6.0", "revoked"),
        ("report-received", "completed", "7.0", "active"),
        ("closed", "completed", "7.0", "completed"),
    ],
)
def test_fhir_rows(state, task, business, service_request):
    status = fhir_status(ReferralStatus(state))
    assert (status.task, status.business.code, status.service_request) == (
        task,
        business,
        service_request,
    )


def test_business_displays_match_the_bser_table():
    table = (
        Path(__file__).resolve().parents[3]
        / "shared"
        / "data"
        / "referral-transitions-bser-360x.csv"
    )
    if not table.exists():
        pytest.skip("shared/data is beside the checkout in development and CI")
    lines = [line for line in table.read_text().splitlines() if not line.startswith("#")]
    displays = {}
    for row in csv.DictReader(lines):
        code, _, display = row["business_status"].partition(" ")
        if display:
            displays[code] = display
    for status in FHIR_STATUS.values():
        if status.business is not None and status.business.code in displays:
            assert status.business.display == displays[status.business.code]


def test_v2_tables_are_total():
    assert set(RF1_STATUS) == set(ReferralStatus)
    assert set(RF1_STATUS.values()) <= {None, "A", "E", "P", "R"}  # HL7 table 0283
    assert set(RF1_PRIORITY) == set(ReferralPriority)
    assert set(RF1_PRIORITY.values()) <= {"A", "R", "S"}  # HL7 table 0280
    assert {row.event for row in REFERRAL_MACHINE.transitions} == set(HL7V2_MESSAGES)


def test_v2_messages_for_the_360x_flow():
    sent = ReferralSent(event_id="e1", occurred_at=T0)
    assert hl7v2_messages(sent).classic == "REF^I12"
    assert hl7v2_messages(sent).x360 == "OMG^O19"
    booked = AppointmentBooked(event_id="e2", occurred_at=T0, appointment="a", start=T0)
    assert hl7v2_messages(booked).x360 == "SIU^S12"
    assert hl7v2_messages(booked, rescheduling=True).classic == "SIU^S13"
    assert hl7v2_messages(PatientNoShow(event_id="e3", occurred_at=T0)).x360 == "SIU^S26"
