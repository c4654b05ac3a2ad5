"""Shared test settings: a Hypothesis profile per environment."""

import os

from hypothesis import HealthCheck, settings

# Generation speed depends on the machine's load, not on the code: never fail CI on it.
settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else os.environ.get("HYPOTHESIS_PROFILE", "dev"))
