"""``caredomain diagram MACHINE``: print a state machine as Mermaid ``stateDiagram-v2``.

Diagrams are generated from the machines' transition tables, never drawn by hand; the docs
embed this command's output.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

__all__ = ["MACHINES", "register"]

MACHINES: dict[str, tuple[str, str]] = {
    "appointment": ("caredomain.scheduling.appointments", "APPOINTMENT_MACHINE"),
    "authorization": ("caredomain.authorization.case", "AUTHORIZATION_MACHINE"),
    "referral": ("caredomain.referrals.machine", "REFERRAL_MACHINE"),
}
"""Machine name -> (module, attribute). Areas add theirs as they land."""


def _handle(args: argparse.Namespace) -> int:
    module, attribute = MACHINES[args.machine]
    machine = getattr(importlib.import_module(module), attribute)
    sys.stdout.write(machine.to_mermaid())
    return 0


def register(commands: Any) -> None:
    """Add the ``diagram`` subcommand to the CLI's subparsers."""
    parser = commands.add_parser(
        "diagram",
        help="print a state machine as a Mermaid diagram",
        description="Print a state machine's transition table as Mermaid stateDiagram-v2.",
    )
    parser.add_argument("machine", choices=sorted(MACHINES), help="which state machine")
    parser.set_defaults(handler=_handle)
