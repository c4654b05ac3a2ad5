"""The ``caredomain`` command: a thin shell over the public API.

Contract (``docs/cli.md``): ``--help`` everywhere; machine output (JSON/NDJSON) on stdout,
human messages on stderr; exit 0 on success, 1 when any item failed (after processing the
rest), 2 on usage errors. Error messages carry no patient data because the errors they
print carry none.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from caredomain._version import __version__
from caredomain.cli import _authorization, _careplan, _convert, _demo, _diagram, _mllp, _schedule
from caredomain.core.errors import CareDomainError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``caredomain`` command, with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="caredomain",
        description=(
            "Care coordination in code: scheduling, closed-loop referrals, prior "
            "authorization and care-plan monitoring, with HL7 v2 and FHIR adapters."
        ),
    )
    parser.add_argument("--version", action="version", version=f"caredomain {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _authorization.register(commands)
    _careplan.register(commands)
    _convert.register(commands)
    _demo.register(commands)
    _diagram.register(commands)
    _mllp.register(commands)
    _schedule.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = handler(args)
    except CareDomainError as exc:
        print(f"caredomain: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `caredomain demo | head`
        return 0
    return code
