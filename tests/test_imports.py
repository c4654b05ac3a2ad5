"""Importing caredomain or an area never loads hl7apy, fhir.resources or pydantic."""

import subprocess
import sys

import pytest

HEAVY = ("hl7apy", "fhir", "fhir_core", "pydantic")

PROBE = """
import sys
{imports}
loaded = sorted(m for m in {heavy!r} if m in sys.modules)
print(",".join(loaded))
"""


def _loaded_after(imports: str) -> list[str]:
    code = PROBE.format(imports=imports, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    return [m for m in out.split(",") if m]


@pytest.mark.parametrize(
    "imports",
    [
        "import caredomain",
        "import caredomain.core",
        "import caredomain.scheduling, caredomain.referrals",
        "import caredomain.authorization, caredomain.careplans",
        "import caredomain.testing",
        "import caredomain.adapters, caredomain.adapters.fhir",
        "import caredomain.adapters.hl7v2; caredomain.adapters.hl7v2.parse('MSH|^~\\\\&|A')",
        "import caredomain.cli; caredomain.cli.build_parser()",
    ],
)
def test_heavy_dependencies_are_not_imported(imports):
    assert _loaded_after(imports) == []


def test_the_fhir_adapter_loads_them_on_first_use():
    loaded = _loaded_after(
        "from caredomain.adapters.fhir import model_class; model_class('Patient', 'R4')"
    )
    assert "fhir" in loaded
    assert "pydantic" in loaded
