"""``caredomain authorization check|lint``: prior-authorization requirements from rule packs.

``check REQUEST.json [--pack NAME|PATH]...`` reads a check request (`CheckRequest`'s JSON,
``specs/cli-contracts.md``), answers every line with the packs given (combined; without
``--pack``, every bundled pack: ``medicare``) and writes ``{"lines": [...]}`` on stdout, one
`Requirement` per line in Da Vinci CRD coverage-information terms. A one-line summary for
people goes to stderr.

``lint PACK`` loads a pack (a bundled name or a file) and writes its findings as JSON on
stdout: ``{"pack", "rules", "errors", "warnings", "findings": [...]}``; a pack that does not
load is itself an error finding with its file and line.

Exit codes: 0 on success; 1 when the request or a pack is invalid (check) or when lint finds
an error; 2 on usage errors (a missing or unreadable file, a bad option). Messages name
files, lines, keys and JSON paths, never a value from the request.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from caredomain.authorization.check import CheckRequest, check_request
from caredomain.authorization.packs import (
    BUNDLED_PACKS,
    Finding,
    LintLevel,
    bundled_pack,
    lint,
    load_pack,
)
from caredomain.authorization.rules import PaNeeded, RulePack
from caredomain.core.errors import CareDomainError, RuleError
from caredomain.core.serialization import from_json, to_dict

__all__ = ["register"]

_PROG = "caredomain authorization"
_ATTENTION = frozenset(
    {PaNeeded.AUTH_NEEDED, PaNeeded.PERFORMPA, PaNeeded.CONDITIONAL, PaNeeded.INDETERMINATE}
)


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _missing(spec: str) -> bool:
    """Whether ``spec`` names neither a bundled pack nor an existing file (a usage error)."""
    try:
        bundled_pack(spec)
    except KeyError:
        return not Path(spec).is_file()
    except RuleError:
        return False
    return False


def _check(args: argparse.Namespace) -> int:
    try:
        text = _read(args.request)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        print(f"{_PROG} check: error: cannot read {args.request}: {reason}", file=sys.stderr)
        return 2
    for spec in args.pack or ():
        if _missing(spec):
            known = ", ".join(sorted(BUNDLED_PACKS))
            print(
                f"{_PROG} check: error: no pack {spec} (a file, or one of: {known})",
                file=sys.stderr,
            )
            return 2
    try:
        request = from_json(text, CheckRequest)
        packs = [load_pack(spec) for spec in (args.pack or sorted(BUNDLED_PACKS))]
        pack = RulePack.combine(packs)
        result = check_request(pack, request)
    except CareDomainError as exc:
        print(f"{_PROG} check: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(to_dict(result), ensure_ascii=False) + "\n")
    sys.stdout.flush()
    needed = sum(1 for r in result.lines if r.pa_needed in _ATTENTION)
    print(
        f"{len(result.lines)} line(s) checked against {pack.name} ({len(pack)} rules) as of "
        f"{request.date_of_service.isoformat()}: {needed} need or may need prior authorization",
        file=sys.stderr,
    )
    return 0


def _lint(args: argparse.Namespace) -> int:
    if _missing(args.pack):
        known = ", ".join(sorted(BUNDLED_PACKS))
        print(
            f"{_PROG} lint: error: no pack {args.pack} (a file, or one of: {known})",
            file=sys.stderr,
        )
        return 2
    try:
        pack = load_pack(args.pack)
    except RuleError as exc:
        finding = Finding(
            LintLevel.ERROR, "load", (exc.key,) if exc.key else (), str(exc), exc.source, exc.line
        )
        _write_lint(args.pack, 0, [finding])
        print(f"{_PROG} lint: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    findings = lint(pack)
    _write_lint(pack.name, len(pack), findings)
    errors = sum(1 for f in findings if f.level is LintLevel.ERROR)
    warnings = sum(1 for f in findings if f.level is LintLevel.WARNING)
    print(
        f"{pack.name}: {len(pack)} rules, {errors} error(s), {warnings} warning(s), "
        f"{len(findings) - errors - warnings} note(s)",
        file=sys.stderr,
    )
    return 1 if errors else 0


def _write_lint(name: str, rules: int, findings: list[Finding]) -> None:
    errors = sum(1 for f in findings if f.level is LintLevel.ERROR)
    warnings = sum(1 for f in findings if f.level is LintLevel.WARNING)
    report: dict[str, Any] = {
        "pack": name,
        "rules": rules,
        "errors": errors,
        "warnings": warnings,
        "findings": [to_dict(f) for f in findings],
    }
    sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def register(commands: Any) -> None:
    """Add the ``authorization`` subcommand (``check``, ``lint``) to the CLI's subparsers."""
    parser = commands.add_parser(
        "authorization",
        help="prior authorization: check requirements, lint rule packs",
        description="Prior-authorization commands.",
    )
    actions = parser.add_subparsers(dest="authorization_command", metavar="ACTION")
    check_parser = actions.add_parser(
        "check",
        help="say which services need prior authorization (CRD coverage information)",
        description=(
            "Read a check request (JSON), answer each line with the rule packs in Da Vinci "
            'CRD coverage-information terms, and write {"lines": [...]} on stdout.'
        ),
    )
    check_parser.add_argument(
        "request", metavar="REQUEST.json", help="the request file, or - for stdin"
    )
    check_parser.add_argument(
        "--pack",
        action="append",
        metavar="NAME|PATH",
        help=(
            "a bundled pack by name ("
            + ", ".join(sorted(BUNDLED_PACKS))
            + ") or a pack file (.toml); repeat to combine; default: every bundled pack"
        ),
    )
    check_parser.set_defaults(handler=_check)
    lint_parser = actions.add_parser(
        "lint",
        help="report unreachable rules, date gaps and overlaps in a rule pack",
        description=(
            "Load a rule pack and write its findings as JSON on stdout; exit 1 when any "
            "finding is an error (or the pack does not load)."
        ),
    )
    lint_parser.add_argument("pack", metavar="PACK", help="a bundled pack name or a pack file")
    lint_parser.set_defaults(handler=_lint)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)
