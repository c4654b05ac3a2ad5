"""``python -m benchmarks [AREA ...|all] [--json]``: run area benchmarks, or list them."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks._harness import Case, Result, environment, run_case


def discover() -> list[str]:
    """Area names: the modules ``benchmarks/<area>.py`` not starting with ``_``."""
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if not m.name.startswith("_"))


def load(area: str) -> Sequence[Case]:
    """The ``CASES`` of ``benchmarks/<area>.py``."""
    module = importlib.import_module(f"benchmarks.{area}")
    cases: Sequence[Case] = module.CASES
    return cases


def report_of(area: str) -> Callable[..., list[dict[str, Any]]] | None:
    """The area's own report, for areas that measure more than throughput (``run``)."""
    run: Callable[..., list[dict[str, Any]]] | None = getattr(
        importlib.import_module(f"benchmarks.{area}"), "run", None
    )
    return run


def list_areas(areas: list[str]) -> None:
    print("areas (python -m benchmarks AREA|all [--json]):")
    for area in areas:
        try:
            names = ", ".join(case.name for case in load(area))
            if report_of(area) is not None:
                names = ", ".join(filter(None, [names, "its own report (quality and time)"]))
        except ImportError as exc:
            names = f"cannot import: {exc} (pip install -e '.[bench]')"
        print(f"  {area:<12} {names}")


def main(argv: Sequence[str] | None = None) -> int:
    areas = discover()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure caredomain beside peer libraries, in the same run.",
    )
    parser.add_argument("areas", nargs="*", metavar="AREA", help=f"all, or: {', '.join(areas)}")
    parser.add_argument("--json", action="store_true", help="print a JSON list of results")
    parser.add_argument("-k", dest="match", default="", help="only cases whose name contains K")
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats (best is kept)")
    parser.add_argument(
        "--min-time", type=float, default=0.2, help="seconds one repeat lasts at least"
    )
    args = parser.parse_args(argv)

    if not args.areas:
        list_areas(areas)
        return 0
    chosen = areas if "all" in args.areas else args.areas
    unknown = sorted(set(chosen) - set(areas))
    if unknown:
        parser.error(f"unknown area(s): {', '.join(unknown)}; choose from {', '.join(areas)}")

    selected = [(area, case) for area in chosen for case in load(area) if args.match in case.name]
    width = max((len(case.name) for _, case in selected), default=0)
    results: list[Result] = []
    for area, case in selected:
        result = run_case(area, case, repeat=args.repeat, min_time=args.min_time)
        results.append(result)
        if not args.json:
            print(result.line(width), flush=True)
    reports: list[dict[str, Any]] = []
    for area in chosen:
        run = report_of(area)
        if run is not None:
            reports.extend(run(as_json=args.json, match=args.match))
    if args.json:
        env = environment()
        json.dump(
            [r.record(env) for r in results] + [{**r, **env} for r in reports],
            sys.stdout,
            indent=2,
        )
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
