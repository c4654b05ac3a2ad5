"""``caredomain schedule optimize PROBLEM.json``: place a waitlist into free slots.

Reads the schedule-problem file (`specs/schedule-problem.md`), runs
`caredomain.scheduling.optimizer.optimize` and writes the result JSON on stdout, exactly the
spec's output: ``assignments``, ``unassigned`` (with reasons), ``objective``,
``lower_bound``, ``optimal``, ``seconds``. A summary for people goes to stderr: requests
assigned, unassigned by urgency class, objective, lower bound, gap and time.

Exit codes: 0 on success; 1 when the problem file is invalid (the typed error and the JSON
path go to stderr, never a value from the file); 2 on usage errors (a missing or unreadable
file, a bad option).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from caredomain.core.errors import CareDomainError
from caredomain.scheduling.optimizer import optimize
from caredomain.scheduling.problem import Assignment, SchedulingProblem

__all__ = ["register"]

_PROG = "caredomain schedule optimize"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("expected a non-negative number of seconds")
    return value


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _optimize(args: argparse.Namespace) -> int:
    try:
        text = _read(args.problem)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        print(f"{_PROG}: error: cannot read {args.problem}: {reason}", file=sys.stderr)
        return 2
    try:
        problem = SchedulingProblem.from_json(text)
        result = optimize(problem, time_limit=args.time_limit, seed=args.seed)
    except CareDomainError as exc:
        print(f"{_PROG}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(result.to_json() + "\n")
    sys.stdout.flush()
    _summarize(problem, result, sys.stderr)
    return 0


def _summarize(problem: SchedulingProblem, result: Assignment, out: TextIO) -> None:
    """Write the human summary of a result: counts, objective, bound, gap, time."""
    total = len(problem.requests)
    urgency = {r.id: r.urgency for r in problem.requests}
    left = dict.fromkeys((c.name for c in problem.policy.classes), 0)
    for item in result.unassigned:
        left[urgency[item.request]] += 1
    by_class = ", ".join(f"{name} {count}" for name, count in left.items())
    relative = result.gap / result.objective if result.objective else 0.0
    proof = "optimal" if result.optimal else "not proven optimal"
    out.write(
        f"assigned     {len(result.assigned)} of {total} requests\n"
        f"unassigned   {len(result.unassigned)}: {by_class}\n"
        f"objective    {result.objective:,.4f}\n"
        f"lower bound  {result.lower_bound:,.4f}\n"
        f"gap          {result.gap:,.4f} ({relative:.4%}), {proof}\n"
        f"time         {result.seconds:.3f} s\n"
    )


def register(commands: Any) -> None:
    """Add the ``schedule`` subcommand (with ``optimize``) to the CLI's subparsers."""
    parser = commands.add_parser(
        "schedule",
        help="batch scheduling: optimize a waitlist into slots",
        description="Scheduling commands.",
    )
    actions = parser.add_subparsers(dest="schedule_command", metavar="ACTION")
    optimize_parser = actions.add_parser(
        "optimize",
        help="assign requests to slots at the least cost (schedule-problem JSON)",
        description=(
            "Read a schedule-problem JSON file, assign its requests to its slots at the "
            "least total cost, and write the result JSON on stdout (a summary on stderr)."
        ),
    )
    optimize_parser.add_argument(
        "problem", metavar="PROBLEM.json", help="the problem file, or - for stdin"
    )
    optimize_parser.add_argument(
        "--time-limit",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="stop the improvement search after this long (default: when it stops improving)",
    )
    optimize_parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of the search (default 0)"
    )
    optimize_parser.set_defaults(handler=_optimize)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)
