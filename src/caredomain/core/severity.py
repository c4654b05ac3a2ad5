"""Severity: how urgently someone should act on an alert or a worklist item.

One scale for every area, so that a worklist can mix a care-plan alert, an overdue
referral and a prior-authorization deadline and sort them the same way.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["SEVERITY_ORDER", "Severity"]


class Severity(StrEnum):
    """How urgently someone should act, least urgent first."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical."""
        return SEVERITY_ORDER[self]


SEVERITY_ORDER: Final[dict[Severity, int]] = {
    Severity.INFO: 0,
    Severity.WARNING: 1,
    Severity.CRITICAL: 2,
}
"""Severities from least to most urgent, for sorting worklists."""
