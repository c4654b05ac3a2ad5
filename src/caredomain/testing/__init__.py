"""Test helpers that are public API: Hypothesis strategies and controllable clocks.

* `caredomain.testing.strategies` — a strategy for every public core type.
* `FixedClock` and `ManualClock` — clocks for sans-IO engines under test.

``hypothesis`` is needed only when `caredomain.testing.strategies` is imported
(install ``caredomain[test]``).
"""

from caredomain.core.time import FixedClock, ManualClock

__all__ = ["FixedClock", "ManualClock"]
