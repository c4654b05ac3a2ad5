"""caredomain: a patient care coordinator's daily work as an embeddable Python library.

The most used core names are re-exported here; each area has its own package:

* `caredomain.core` — codes, identity, time, quantities, parties, events, the
  state-machine kernel, JSON, errors.
* `caredomain.scheduling`, `caredomain.referrals`,
  `caredomain.authorization`, `caredomain.careplans` — the areas.
* `caredomain.adapters` — HL7 v2 and FHIR (the only place that imports hl7apy and
  fhir.resources, lazily).
* `caredomain.testing` — Hypothesis strategies and test clocks for your own tests.

Importing `caredomain` or any area never imports hl7apy, fhir.resources or pydantic.
"""

from caredomain._version import __version__
from caredomain.core import (
    Address,
    AdministrativeGender,
    AuditEntry,
    AuditTrail,
    BusinessCalendar,
    CareDomainError,
    Clock,
    CodeableConcept,
    Coding,
    ConflictError,
    ContactPoint,
    Coverage,
    DomainEvent,
    FixedClock,
    GuardRejected,
    HumanName,
    Identifier,
    Interval,
    InvalidTransition,
    LineOfBusiness,
    Location,
    Machine,
    ManualClock,
    NaiveDatetimeError,
    Organization,
    OutOfOrderEvent,
    ParseError,
    Patient,
    Practitioner,
    Quantity,
    Reference,
    RuleError,
    SystemClock,
    Transition,
    UnitError,
    ValidationError,
    from_dict,
    from_json,
    to_dict,
    to_json,
)

__all__ = [
    "Address",
    "AdministrativeGender",
    "AuditEntry",
    "AuditTrail",
    "BusinessCalendar",
    "CareDomainError",
    "Clock",
    "CodeableConcept",
    "Coding",
    "ConflictError",
    "ContactPoint",
    "Coverage",
    "DomainEvent",
    "FixedClock",
    "GuardRejected",
    "HumanName",
    "Identifier",
    "Interval",
    "InvalidTransition",
    "LineOfBusiness",
    "Location",
    "Machine",
    "ManualClock",
    "NaiveDatetimeError",
    "Organization",
    "OutOfOrderEvent",
    "ParseError",
    "Patient",
    "Practitioner",
    "Quantity",
    "Reference",
    "RuleError",
    "SystemClock",
    "Transition",
    "UnitError",
    "ValidationError",
    "__version__",
    "from_dict",
    "from_json",
    "to_dict",
    "to_json",
]
