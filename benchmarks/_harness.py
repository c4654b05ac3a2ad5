"""Timing: a warm-up, then the best of N repeats of a fixed batch, timed with perf_counter.

Rules of this module:

1. A callable under test takes no argument and does one *batch*: ``Case.batch`` operations.
   Its result is ignored (and kept alive until after the clock stops).
2. Each side is timed the same way: warm up (which also finds how many batches make one
   repeat last at least ``min_time``, like ``timeit.autorange``), then ``repeat`` repeats,
   ours and the peer's interleaved so that a slow patch of the machine hits both alike.
   The best repeat is reported: it is the one least disturbed by the rest of the machine.
3. The garbage collector stays on (allocation-heavy code pays for it in real use); a
   ``gc.collect()`` before each repeat keeps one side's garbage off the other's clock.
"""

from __future__ import annotations

import gc
import os
import platform
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import attrs

__all__ = ["Case", "Result", "environment", "package_label", "run_case"]


def package_label(distribution: str, name: str | None = None) -> str:
    """A peer's display name with its installed version: ``pydantic 2.14.4``."""
    try:
        return f"{name or distribution} {version(distribution)}"
    except PackageNotFoundError:
        return name or distribution


@attrs.frozen
class Case:
    """One comparison: the same batch of work done by caredomain and by a peer.

    Attributes:
        name: Kebab-case case name, unique across areas (``json-roundtrip-patient``).
        ours: Does ``batch`` operations with caredomain.
        peer_name: The peer and its version, or ``"dict-baseline"`` for plain Python.
        peer: Does the same ``batch`` operations with the peer.
        batch: How many operations one call of ``ours`` (or ``peer``) does.
        check: Asserts both sides agree on the batch; run once before timing.
    """

    name: str
    ours: Callable[[], object] = attrs.field(repr=False)
    peer_name: str
    peer: Callable[[], object] = attrs.field(repr=False)
    batch: int
    check: Callable[[], None] | None = attrs.field(default=None, repr=False)


@attrs.frozen
class Result:
    """The measured throughput of one case (operations per second, best repeat)."""

    area: str
    name: str
    ours_ops: float
    peer: str
    peer_ops: float
    batch: int

    @property
    def ratio(self) -> float:
        """ours / peer: above 1 means caredomain is faster."""
        return self.ours_ops / self.peer_ops

    def line(self, width: int = 0) -> str:
        """The one-line human report."""
        return (
            f"{self.name:<{width}}  caredomain {_ops(self.ours_ops)} ops/s  "
            f"{self.peer} {_ops(self.peer_ops)} ops/s  ratio {self.ratio:.3g}"
        )

    def record(self, env: dict[str, str]) -> dict[str, Any]:
        """The JSON record: the result plus where it was measured."""
        return {
            "area": self.area,
            "name": self.name,
            "ours_ops": round(self.ours_ops, 1),
            "peer": self.peer,
            "peer_ops": round(self.peer_ops, 1),
            "ratio": round(self.ratio, 4),
            "batch": self.batch,
            **env,
        }


def _ops(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def environment() -> dict[str, str]:
    """Where the numbers come from: Python, machine, caredomain version."""
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cpu",
        "caredomain": package_label("caredomain").rpartition(" ")[2],
    }


def _time_once(func: Callable[[], object], loops: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(loops):
        result = func()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def _calibrate(func: Callable[[], object], min_time: float) -> int:
    """The number of batches per repeat so that one repeat lasts ``min_time`` or more."""
    loops = 1
    while True:
        for factor in (1, 2, 5):
            n = loops * factor
            if _time_once(func, n) >= min_time:
                return n
        loops *= 10


def run_case(area: str, case: Case, *, repeat: int = 5, min_time: float = 0.2) -> Result:
    """Check, warm up, and time both sides of ``case``; return the best throughputs."""
    if case.check is not None:
        case.check()
    loops_ours = _calibrate(case.ours, min_time)  # calibration is also the warm-up
    loops_peer = _calibrate(case.peer, min_time)
    best_ours = best_peer = float("inf")
    for _ in range(repeat):
        best_ours = min(best_ours, _time_once(case.ours, loops_ours) / loops_ours)
        best_peer = min(best_peer, _time_once(case.peer, loops_peer) / loops_peer)
    return Result(
        area=area,
        name=case.name,
        ours_ops=case.batch / best_ours,
        peer=case.peer_name,
        peer_ops=case.batch / best_peer,
        batch=case.batch,
    )
