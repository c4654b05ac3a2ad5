"""Patient data that must never appear in an error message (see test_errors.py)."""

PATIENT_FAMILY = "Quillfeather"
PATIENT_GIVEN = "Zyxandra"
PATIENT_MRN = "MRN-77234190"
PATIENT_BIRTH_DATE = "1961-07-19"
PATIENT_PHONE = "+1-312-555-0142"

ALL = (PATIENT_FAMILY, PATIENT_GIVEN, PATIENT_MRN, PATIENT_BIRTH_DATE, PATIENT_PHONE)


def assert_no_phi(text: str) -> None:
    for secret in ALL:
        assert secret not in text, f"patient data leaked into: {text!r}"
