"""Adapters between caredomain's domain values and the formats hospitals exchange.

This package is the only one in caredomain that imports hl7apy and fhir.resources (and so
pydantic), and it imports them lazily: ``import caredomain.adapters.fhir`` costs nothing
until a FHIR model is actually needed. Apps that embed only an area never pay for them.
"""

from caredomain.adapters._deps import require

__all__ = ["require"]
