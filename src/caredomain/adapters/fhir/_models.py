"""Which fhir.resources model class serves a resource type in a FHIR version."""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import Any

from caredomain.adapters._deps import require
from caredomain.core.errors import Problem, ValidationError

__all__ = ["FhirVersion", "model_class", "validate"]

_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")


class FhirVersion(StrEnum):
    """A FHIR release caredomain reads and writes."""

    R4 = "R4"
    R5 = "R5"

    @classmethod
    def of(cls, value: FhirVersion | str, location: str = "fhir_version") -> FhirVersion:
        """The release named by ``value`` (a `FhirVersion` or its exact name, ``"R4"``/``"R5"``).

        Raises:
            ValidationError: ``value`` names no release; the problem is at ``location``.
        """
        try:
            return cls(value)
        except ValueError:
            raise ValidationError.at(location, "expected R4 or R5") from None


@functools.cache
def model_class(resource_type: str, version: FhirVersion | str = FhirVersion.R4) -> type[Any]:
    """The fhir.resources model class for ``resource_type`` in ``version``.

    R4 resolves to ``fhir.resources.R4B`` (wire-compatible with R4 4.0.1 for the resources
    caredomain uses), R5 to ``fhir.resources``.

    Raises:
        ValidationError: Unknown version or resource type.
        MissingDependencyError: fhir.resources is not installed.
    """
    release = FhirVersion.of(version)
    if not _RESOURCE_TYPE.match(resource_type):
        raise ValidationError.at("resourceType", "expected a FHIR resource type name")
    base = "fhir.resources.R4B" if release is FhirVersion.R4 else "fhir.resources"
    try:
        module = require(f"{base}.{resource_type.lower()}", package="fhir.resources")
    except ModuleNotFoundError:
        raise ValidationError.at(
            "resourceType", f"expected a resource type defined in FHIR {release.value}"
        ) from None
    cls = getattr(module, resource_type, None)
    if not isinstance(cls, type):
        raise ValidationError.at(
            "resourceType", f"expected a resource type defined in FHIR {release.value}"
        )
    return cls


def validate(resource: dict[str, Any], version: FhirVersion | str = FhirVersion.R4) -> Any:
    """Validate a FHIR JSON resource with fhir.resources and return the model.

    Raises:
        ValidationError: The resource is invalid; each problem carries a FHIRPath-like
            location (``Patient.name[0].given``) and pydantic's error type, never the value.
    """
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise ValidationError.at("resourceType", "expected a resourceType string")
    cls = model_class(resource_type, version)
    pydantic = require("pydantic", package="pydantic")
    try:
        return cls.model_validate(resource)
    except pydantic.ValidationError as exc:
        problems = [
            Problem(
                ".".join([resource_type, *(_step(p) for p in err["loc"])]).replace(".[", "["),
                f"{err['type']}: expected a valid value",
            )
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ValidationError(problems, subject=resource_type) from None


def _step(part: object) -> str:
    return f"[{part}]" if isinstance(part, int) else str(part)
