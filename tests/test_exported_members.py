"""Every public __all__ is complete, sorted, and names things that exist (as httpx does)."""

import importlib
import pkgutil

import pytest

import caredomain

PUBLIC_MODULES = [
    "caredomain",
    "caredomain.core",
    "caredomain.core.codes",
    "caredomain.core.encounters",
    "caredomain.core.errors",
    "caredomain.core.events",
    "caredomain.core.identity",
    "caredomain.core.parties",
    "caredomain.core.quantities",
    "caredomain.core.results",
    "caredomain.core.serialization",
    "caredomain.core.severity",
    "caredomain.core.statemachine",
    "caredomain.core.time",
    "caredomain.core.tomlfile",
    "caredomain.adapters",
    "caredomain.adapters.convert",
    "caredomain.adapters.fhir",
    "caredomain.adapters.fhir.authorization",
    "caredomain.adapters.fhir.bundles",
    "caredomain.adapters.fhir.careplans",
    "caredomain.adapters.fhir.observations",
    "caredomain.adapters.fhir.resources",
    "caredomain.adapters.fhir.workflow",
    "caredomain.adapters.hl7v2",
    "caredomain.adapters.hl7v2.ack",
    "caredomain.adapters.hl7v2.adt",
    "caredomain.adapters.hl7v2.datatypes",
    "caredomain.adapters.hl7v2.inbound",
    "caredomain.adapters.hl7v2.oru",
    "caredomain.adapters.hl7v2.profile",
    "caredomain.adapters.hl7v2.ref",
    "caredomain.adapters.hl7v2.siu",
    "caredomain.adapters.hl7v2.structure",
    "caredomain.adapters.hl7v2.transport",
    "caredomain.cli",
    "caredomain.testing",
    "caredomain.testing.strategies",
    "caredomain.scheduling",
    "caredomain.scheduling.appointments",
    "caredomain.scheduling.availability",
    "caredomain.scheduling.booking",
    "caredomain.scheduling.metrics",
    "caredomain.scheduling.optimizer",
    "caredomain.scheduling.problem",
    "caredomain.scheduling.reminders",
    "caredomain.scheduling.requests",
    "caredomain.scheduling.search",
    "caredomain.scheduling.slots",
    "caredomain.referrals",
    "caredomain.referrals.directory",
    "caredomain.referrals.machine",
    "caredomain.referrals.mappings",
    "caredomain.referrals.metrics",
    "caredomain.referrals.model",
    "caredomain.referrals.sla",
    "caredomain.authorization",
    "caredomain.authorization.case",
    "caredomain.authorization.check",
    "caredomain.authorization.deadlines",
    "caredomain.authorization.packs",
    "caredomain.authorization.rules",
    "caredomain.careplans",
    "caredomain.careplans.model",
    "caredomain.careplans.monitor",
    "caredomain.careplans.rules",
    "caredomain.careplans.templates",
]


def _sort_key(name):
    # isort order: CONSTANTS, then Classes, then functions.
    kind = 0 if name.isupper() else (1 if name[:1].isupper() else 2)
    return (kind, name)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_is_sorted_and_resolves(name):
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_sort_key) or name == "caredomain"
    for member in exported:
        assert hasattr(module, member), f"{name}.{member} is in __all__ but missing"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_has_a_docstring(name):
    module = importlib.import_module(name)
    assert module.__doc__
    for member in module.__all__:
        value = getattr(module, member)
        if callable(value) and not isinstance(value, str):
            assert getattr(value, "__doc__", None), f"{name}.{member} has no docstring"


def test_core_exports_every_public_name_of_its_modules():
    core = importlib.import_module("caredomain.core")
    for info in pkgutil.iter_modules(core.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"caredomain.core.{info.name}")
        missing = set(module.__all__) - set(core.__all__)
        assert not missing, f"caredomain.core does not re-export {sorted(missing)}"


def test_every_module_is_listed_here():
    found = {"caredomain"}
    for info in pkgutil.walk_packages(caredomain.__path__, "caredomain."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.add(info.name)
    assert found == set(PUBLIC_MODULES)


def test_top_level_names_come_from_core():
    core = importlib.import_module("caredomain.core")
    for member in caredomain.__all__:
        if member != "__version__":
            assert getattr(caredomain, member) is getattr(core, member)
