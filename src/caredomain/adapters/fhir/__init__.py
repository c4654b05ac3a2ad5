"""FHIR R4 and R5: version selection and validation through fhir.resources.

FHIR R4 (4.0.1) is served through fhir.resources' ``R4B`` models, which are
wire-compatible with R4 for every resource caredomain maps (Patient, Practitioner,
Organization, Location, Coverage, Schedule, Slot, Appointment, ServiceRequest, Task, Claim,
ClaimResponse, CarePlan, Goal, Observation, CommunicationRequest, HealthcareService,
Encounter); R5 through the package's top-level models. fhir.resources is imported on first
use, never at import time.

`to_fhir` / `from_fhir` map every registered domain type; a referral (ServiceRequest + Task)
and an authorization case (Claim + ClaimResponse) have their own pair functions.
"""

from caredomain.adapters.fhir._models import FhirVersion, model_class, validate
from caredomain.adapters.fhir.authorization import (
    authorization_from_fhir,
    authorization_to_fhir,
    carried_state,
    coverage_information,
    coverage_information_from_fhir,
)
from caredomain.adapters.fhir.careplans import (
    CANONICAL_BASE,
    RESOURCE_KINDS,
    activity_definitions,
    care_plan_from_fhir,
    care_plan_to_fhir,
    goal_from_fhir,
    goal_to_fhir,
    template_to_plan_definition,
)
from caredomain.adapters.fhir.observations import (
    ACCEPTED_STATUSES,
    observation_from_fhir,
    observation_from_json,
    observation_to_fhir,
)
from caredomain.adapters.fhir.resources import (
    COVERAGE_CLASS,
    ENCOUNTER_SUBJECT_STATUS,
    LINE_OF_BUSINESS,
    MAPPINGS,
    ResourceMapping,
    from_fhir,
    register,
    to_fhir,
)
from caredomain.adapters.fhir.workflow import referral_from_fhir, referral_to_fhir

__all__ = [
    "ACCEPTED_STATUSES",
    "CANONICAL_BASE",
    "COVERAGE_CLASS",
    "ENCOUNTER_SUBJECT_STATUS",
    "LINE_OF_BUSINESS",
    "MAPPINGS",
    "RESOURCE_KINDS",
    "FhirVersion",
    "ResourceMapping",
    "activity_definitions",
    "authorization_from_fhir",
    "authorization_to_fhir",
    "care_plan_from_fhir",
    "care_plan_to_fhir",
    "carried_state",
    "coverage_information",
    "coverage_information_from_fhir",
    "from_fhir",
    "goal_from_fhir",
    "goal_to_fhir",
    "model_class",
    "observation_from_fhir",
    "observation_from_json",
    "observation_to_fhir",
    "referral_from_fhir",
    "referral_to_fhir",
    "register",
    "template_to_plan_definition",
    "to_fhir",
    "validate",
]
