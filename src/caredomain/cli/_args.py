"""Argument types the commands share (argparse ``type=`` callables).

A bad value becomes argparse's usage error (exit 2) with what was expected, never a
traceback.
"""

from __future__ import annotations

import argparse

from caredomain.core.errors import ValidationError
from caredomain.core.time import validate_timezone

__all__ = ["sender_timezone"]


def sender_timezone(text: str) -> str:
    """``--sender-tz``: an IANA timezone name this machine's tz database knows."""
    try:
        return validate_timezone(text, "zone")
    except ValidationError as exc:
        # argparse names the option itself: pass on only what was expected.
        raise argparse.ArgumentTypeError(exc.problems[0].message) from None
