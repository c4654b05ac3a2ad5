import pytest

from caredomain.adapters import require
from caredomain.adapters.fhir import FhirVersion, model_class, validate
from caredomain.core import MissingDependencyError, ValidationError
from tests import phi


def test_r4_uses_r4b_models_and_r5_the_top_level_package():
    assert model_class("Patient", "R4").__module__ == "fhir.resources.R4B.patient"
    assert model_class("Patient", FhirVersion.R5).__module__ == "fhir.resources.patient"


def test_unknown_version_or_type():
    with pytest.raises(ValidationError):
        model_class("Patient", "STU3")
    with pytest.raises(ValidationError):
        model_class("NotAResource", "R4")
    with pytest.raises(ValidationError):
        model_class("../etc", "R4")


def test_validate_returns_the_model():
    model = validate({"resourceType": "Patient", "id": "p1", "gender": "female"}, "R4")
    assert model.id == "p1"


def test_validate_reports_paths_without_values():
    resource = {
        "resourceType": "Patient",
        "id": "p1",
        "active": phi.PATIENT_FAMILY,
        "name": [{"family": phi.PATIENT_FAMILY, "given": phi.PATIENT_GIVEN}],
        "birthDate": phi.PATIENT_PHONE,
    }
    with pytest.raises(ValidationError) as info:
        validate(resource, "R5")
    paths = [p.path for p in info.value.problems]
    assert "Patient.active" in paths
    assert "Patient.birthDate" in paths
    phi.assert_no_phi(str(info.value))


def test_require_names_the_missing_package():
    with pytest.raises(MissingDependencyError, match="pip install 'caredomain\\[x\\]'"):
        require("surely_not_installed_pkg", extra="x")
    with pytest.raises(ModuleNotFoundError):
        require("fhir.resources.R4B.nosuchmodule")
