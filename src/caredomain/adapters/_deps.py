"""Lazy imports of the adapters' heavy dependencies, with a clear error when one is missing."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from caredomain.core.errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, *, package: str | None = None, extra: str | None = None) -> ModuleType:
    """Import ``module`` now, or raise `MissingDependencyError` naming what to install.

    When the distribution is installed but ``module`` is not part of it,
    ``ModuleNotFoundError`` propagates unchanged.

    Args:
        module: The dotted module name (``"fhir.resources.R4B.patient"``).
        package: The distribution that provides it, for the message (default: first part
            of ``module``).
        extra: The caredomain extra that installs it, if any.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        top = module.split(".")[0]
        if importlib.util.find_spec(top) is not None:
            raise  # the package is there; the module is not: the caller decides
        raise MissingDependencyError(package or top, extra) from None
