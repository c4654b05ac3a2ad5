"""Rule packs as files: TOML packs, the bundled Medicare pack, and the pack linter.

Rules of this module:

1. **Validated on load, with file and line.** `parse_pack` reads a TOML pack; every problem
   (an unknown key, a malformed range, an end before its start, a tie between two rules) is a
   `RuleError` with the file, the 1-based line and the key (``rules[3].codes``). Nothing is
   guessed: a key the format does not know is an error, not ignored.
2. **The bundled ``medicare`` pack is built at load time** from
   ``packs/medicare-pa-lists.csv`` (columns ``list, category, system, code_from, code_to,
   action, effective, source, confidence, note``; ``#`` lines name the sources). Following
   the CSV's own reading rule, a code is on a list on date D when the latest row for it
   (a range row counts for every code in the range) dated on or before D is ``added`` or
   ``reinstated``; ``removed`` and ``suspended`` take it off. Each run of consecutive codes
   with the same dates becomes one rule per period on the list, with ``effective`` and
   ``end``. Rows marked ``uncertain`` are left out unless asked for (the CSV says not to ship
   them as in force).
3. **List conditions come from the CSV header.** ``opd`` rules apply only to hospital
   outpatient department claims (setting ``outpatient-hospital``, which place of service 19
   and 22 imply; 42 CFR 419.83) and use the `Program.MEDICARE_OPD` timeframes; ``dmepos``
   rules use `Program.MEDICARE_DMEPOS` (their date of service is the date of delivery).
   Botulinum toxin needs PA only when CPT 64612/64615 is billed with J0585-J0588, and the
   drug codes only with those CPT codes (the CSV's NOR-JEA-BOTOX, CGS-BOTOX, FCSO-BOTOX).
   A Medicare service on neither list answers ``covered`` / ``no-auth``.
4. **Lint is advice, load is law.** `lint` reports what loads but is probably wrong:
   unreachable rules (``error``), rules shadowed by one that answers alike
   (``warning``), gaps between the dates of rules for the same services (``warning``), and
   overlaps where one rule overrides another (``info``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import itertools
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Final

import attrs
from pendulum import Date

from caredomain.authorization.case import Program
from caredomain.authorization.deadlines import DeadlineRule, DecisionDeadline
from caredomain.authorization.rules import (
    CodePattern,
    Covered,
    DefinedAt,
    DocNeeded,
    InfoNeeded,
    NetworkStatus,
    Outcome,
    PaNeeded,
    PatternKind,
    Rule,
    RulePack,
    Setting,
    normalize_code,
    system_label,
)
from caredomain.core.codes import resolve_system
from caredomain.core.errors import RuleError, ValidationError
from caredomain.core.parties import AdministrativeGender, LineOfBusiness
from caredomain.core.time import parse_duration
from caredomain.core.tomlfile import TomlDocument, load_toml

__all__ = [
    "BUNDLED_PACKS",
    "MEDICARE_CSV_COLUMNS",
    "Finding",
    "LintLevel",
    "bundled_pack",
    "lint",
    "load_pack",
    "medicare_pack",
    "pack_from_csv",
    "parse_pack",
]


# --- TOML packs ------------------------------------------------------------------------

_TOP_KEYS: Final = frozenset({"pack", "default", "rules"})
_PACK_KEYS: Final = frozenset({"name", "version", "source", "payer", "program", "decision_due"})
_OUTCOME_KEYS: Final = frozenset(
    {"covered", "pa_needed", "doc_needed", "info_needed", "documents", "reason"}
)
_RULE_KEYS: Final = _OUTCOME_KEYS | frozenset(
    {
        "id",
        "description",
        "category",
        "source",
        "system",
        "codes",
        "payer",
        "plans",
        "lines_of_business",
        "effective",
        "end",
        "setting",
        "place_of_service",
        "network",
        "sex",
        "age_at_least",
        "age_below",
        "diagnoses",
        "excluded_diagnoses",
        "billed_with",
        "units_over",
        "units_per",
        "exempt_providers",
        "exclusion",
        "priority",
        "program",
    }
)
_TOML_NAMES: Final = {
    "places_of_service": "place_of_service",
    "settings": "setting",
    "sexes": "sex",
}
_HEADER: Final = re.compile(r"^\s*\[\[\s*rules\s*\]\]")


class _Reader:
    """Reads one TOML pack, turning every problem into a located `RuleError`."""

    def __init__(self, doc: TomlDocument) -> None:
        self.doc = doc
        lines = doc.text.splitlines()
        self.lines = lines
        self.headers = [n for n, line in enumerate(lines) if _HEADER.match(line)]

    # -- locating -----------------------------------------------------------------------

    def rule_line(self, index: int, key: str | None) -> int | None:
        if index >= len(self.headers):
            return None
        start = self.headers[index]
        stop = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines)
        for n in range(start + 1, stop):
            if self.lines[n].lstrip().startswith("[") and not self.lines[n].lstrip().startswith(
                '["'
            ):
                stop = n
                break
        if key is not None:
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            for n in range(start, stop):
                if pattern.match(self.lines[n]):
                    return n + 1
        return start + 1

    def rule_error(self, index: int, key: str | None, message: str) -> RuleError:
        where = f"rules[{index}]" + (f".{key}" if key else "")
        return RuleError(
            message, source=self.doc.source, line=self.rule_line(index, key), key=where
        )

    # -- reading ------------------------------------------------------------------------

    def read(self) -> RulePack:
        data = self.doc.data
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise self.doc.error(
                "unknown key; expected [pack], [default] and [[rules]]", sorted(unknown)[0]
            )
        head = data.get("pack", {})
        if not isinstance(head, dict):
            raise self.doc.error("expected a [pack] table", "pack")
        extra = set(head) - _PACK_KEYS
        if extra:
            raise self.doc.error(
                "unknown key; expected " + ", ".join(sorted(_PACK_KEYS)), "pack", sorted(extra)[0]
            )
        name = head.get("name", Path(self.doc.source).stem)
        for key in ("name", "version", "source", "payer"):
            if key in head and not isinstance(head[key], str):
                raise self.doc.error("expected a string", "pack", key)
        if not isinstance(name, str) or not name:
            raise self.doc.error("expected a pack name", "pack", "name")
        payer = head.get("payer")
        program = None
        if "program" in head:
            program = self.enum(
                Program, head["program"], lambda m: self.doc.error(m, "pack", "program")
            )
        deadline = None
        if "decision_due" in head:
            deadline = self.deadline(head["decision_due"])
        pack_source = head.get("source")
        rules: list[Rule] = []
        if "default" in data:
            rules.append(self.default(data["default"], name, payer, pack_source))
        tables = data.get("rules", [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise self.doc.error("expected [[rules]] tables", "rules")
        for index, table in enumerate(tables):
            rules.append(self.rule(index, table, payer, program, deadline, pack_source))
        return RulePack(name, rules, version=head.get("version"), source=pack_source)

    def enum(self, kind: type[Any], value: object, fail: Callable[[str], RuleError]) -> Any:
        try:
            return kind(value)
        except ValueError:
            raise fail("expected one of: " + ", ".join(m.value for m in kind)) from None

    def deadline(self, value: object) -> DecisionDeadline:
        def fail(message: str, key: str | None = None) -> RuleError:
            return self.doc.error(message, "pack", "decision_due", *([key] if key else []))

        if not isinstance(value, dict) or not {"standard", "expedited"} <= set(value):
            raise fail("expected { standard = ..., expedited = ... }")
        extra = set(value) - {"standard", "expedited", "source"}
        if extra:
            raise fail("unknown key; expected standard, expedited, source")
        parts = {}
        for key in ("standard", "expedited"):
            item = value[key]
            try:
                if isinstance(item, str):
                    parts[key] = DeadlineRule(elapsed=parse_duration(item, key))
                elif isinstance(item, dict) and set(item) <= {"business_days", "not_over"}:
                    days = item.get("business_days")
                    if days is not None and (isinstance(days, bool) or not isinstance(days, int)):
                        raise fail("expected business_days as a whole number", key)
                    cap = item.get("not_over")
                    parts[key] = DeadlineRule(
                        business_days=days,
                        elapsed=parse_duration(cap, key) if cap is not None else None,
                    )
                else:
                    raise fail('expected "P7D" or { business_days = 5, not_over = "P7D" }', key)
            except ValidationError as exc:
                raise fail(exc.problems[0].message, key) from None
        source = value.get("source", "pack decision timeframes")
        if not isinstance(source, str):
            raise fail("expected a string", "source")
        return DecisionDeadline(parts["standard"], parts["expedited"], source)

    def outcome(
        self, table: dict[str, Any], fail: Callable[[str | None, str], RuleError]
    ) -> Outcome:
        fields: dict[str, Any] = {}
        if "covered" in table:
            fields["covered"] = self.enum(
                Covered, table["covered"], functools.partial(fail, "covered")
            )
        covered = fields.get("covered", Covered.COVERED)
        if "pa_needed" in table:
            fields["pa_needed"] = self.enum(
                PaNeeded, table["pa_needed"], functools.partial(fail, "pa_needed")
            )
        elif covered is Covered.NOT_COVERED:
            fields["pa_needed"] = None
        else:
            raise fail(None, "missing key 'pa_needed' (no-auth, auth-needed, ...)")
        for key, kind in (("doc_needed", DocNeeded), ("info_needed", InfoNeeded)):
            if key in table:
                items = self.strings(table[key], functools.partial(fail, key))
                fields[key] = tuple(
                    self.enum(kind, item, functools.partial(fail, key)) for item in items
                )
        if "documents" in table:
            fields["documents"] = self.strings(
                table["documents"], functools.partial(fail, "documents")
            )
        if "reason" in table:
            if not isinstance(table["reason"], str):
                raise fail("reason", "expected a string")
            fields["reason"] = table["reason"]
        try:
            return Outcome(**fields)
        except ValidationError as exc:
            problem = exc.problems[0]
            key = problem.path.rpartition(".")[2]
            raise fail(key if key in table else None, problem.message) from None

    def strings(self, value: object, fail: Callable[[str], RuleError]) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise fail("expected a string or a list of strings")

    def default(self, table: object, name: str, payer: str | None, source: str | None) -> Rule:
        if not isinstance(table, dict):
            raise self.doc.error("expected a [default] table", "default")
        extra = set(table) - _OUTCOME_KEYS
        if extra:
            raise self.doc.error(
                "unknown key; expected " + ", ".join(sorted(_OUTCOME_KEYS)),
                "default",
                sorted(extra)[0],
            )

        def fail(key: str | None, message: str) -> RuleError:
            return self.doc.error(message, "default", *([key] if key else []))

        return Rule(
            f"{name}:default",
            self.outcome(table, fail),
            payer=payer,
            fallback=True,
            description="the answer when no other rule of the pack matches",
            source=source,
            defined_at=DefinedAt(self.doc.source, self.doc.line_of("default")),
        )

    def rule(
        self,
        index: int,
        table: dict[str, Any],
        payer: str | None,
        program: Program | None,
        deadline: DecisionDeadline | None,
        pack_source: str | None,
    ) -> Rule:
        def fail(key: str | None, message: str) -> RuleError:
            return self.rule_error(index, key, message)

        extra = set(table) - _RULE_KEYS
        if extra:
            key = sorted(extra)[0]
            hint = " (fallback rules are written as [default])" if key == "fallback" else ""
            raise fail(key, f"unknown key{hint}; see the pack format for the keys a rule takes")
        rule_id = table.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            raise fail("id" if "id" in table else None, 'expected id = "..." (a unique rule id)')
        fields: dict[str, Any] = {"id": rule_id}
        for key in ("description", "category", "source", "payer"):
            if key in table:
                if not isinstance(table[key], str):
                    raise fail(key, "expected a string")
                fields[key] = table[key]
        fields.setdefault("payer", payer)
        fields.setdefault("source", pack_source)
        if "system" in table:
            try:
                fields["system"] = (
                    resolve_system(table["system"]) if isinstance(table["system"], str) else None
                )
            except ValidationError:
                fields["system"] = None
            if fields["system"] is None:
                raise fail("system", 'expected a code system such as "CPT" or "HCPCS"')
        if "codes" in table:
            fields["codes"] = self.patterns(table["codes"], functools.partial(fail, "codes"))
            if "system" not in fields and any(
                p.kind is not PatternKind.ANY for p in fields["codes"]
            ):
                raise fail("system", "missing key 'system' for these codes")
        elif "system" in fields:
            fields["codes"] = (CodePattern.any(),)
        for key in ("plans", "exempt_providers"):
            if key in table:
                fields[key] = self.strings(table[key], functools.partial(fail, key))
        if "place_of_service" in table:
            fields["places_of_service"] = self.strings(
                table["place_of_service"], functools.partial(fail, "place_of_service")
            )
        for key, target, kind in (
            ("lines_of_business", "lines_of_business", LineOfBusiness),
            ("setting", "settings", Setting),
            ("sex", "sexes", AdministrativeGender),
        ):
            if key in table:
                items = self.strings(table[key], functools.partial(fail, key))
                fields[target] = frozenset(
                    self.enum(kind, item, functools.partial(fail, key)) for item in items
                )
        if "network" in table:
            fields["network"] = self.enum(
                NetworkStatus, table["network"], functools.partial(fail, "network")
            )
        for key in ("effective", "end"):
            if key in table:
                fields[key] = self.date(table[key], functools.partial(fail, key))
        if "effective" in fields and "end" in fields and fields["end"] <= fields["effective"]:
            raise fail(
                "end", "expected end after effective (end is the first day it no longer applies)"
            )
        for key in ("age_at_least", "age_below", "units_over", "priority"):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int):
                    raise fail(key, "expected a whole number")
                fields[key] = value
        if "units_per" in table:
            if not isinstance(table["units_per"], str):
                raise fail("units_per", "expected a string")
            fields["units_per"] = table["units_per"]
        for key in ("diagnoses", "excluded_diagnoses"):
            if key in table:
                fields[key] = self.patterns(table[key], functools.partial(fail, key))
        if "billed_with" in table:
            fields["billed_with"] = self.billed_with(
                table["billed_with"], functools.partial(fail, "billed_with")
            )
        if "exclusion" in table:
            if not isinstance(table["exclusion"], bool):
                raise fail("exclusion", "expected true or false")
            fields["exclusion"] = table["exclusion"]
        if "program" in table:
            fields["program"] = self.enum(
                Program, table["program"], functools.partial(fail, "program")
            )
        else:
            fields["program"] = program
        if deadline is not None and "program" not in table:
            fields["deadline"] = deadline
        fields["outcome"] = self.outcome(table, fail)
        fields["defined_at"] = DefinedAt(self.doc.source, self.rule_line(index, "id"))
        try:
            return Rule(**fields)
        except ValidationError as exc:
            problem = exc.problems[0]
            key = problem.path.rpartition(".")[2]
            toml_key = _TOML_NAMES.get(key, key)
            raise fail(toml_key if toml_key in table else None, problem.message) from None
        except ValueError:
            raise fail(None, "expected values of the documented kinds") from None

    def patterns(self, value: object, fail: Callable[[str], RuleError]) -> tuple[CodePattern, ...]:
        items = self.strings(value, fail)
        if not items:
            raise fail("expected at least one code")
        out = []
        for item in items:
            try:
                out.append(CodePattern.parse(item))
            except ValidationError as exc:
                raise fail(f"malformed code pattern: {exc.problems[0].message}") from None
        return tuple(out)

    def billed_with(
        self, value: object, fail: Callable[[str], RuleError]
    ) -> tuple[tuple[str, CodePattern], ...]:
        out = []
        for item in self.strings(value, fail):
            system, sep, pattern = item.partition(":")
            if not sep:
                raise fail('expected "SYSTEM:CODES" such as "HCPCS:J0585-J0588"')
            try:
                out.append((resolve_system(system), CodePattern.parse(pattern)))
            except ValidationError as exc:
                raise fail(exc.problems[0].message) from None
        return tuple(out)

    def date(self, value: object, fail: Callable[[str], RuleError]) -> Date:
        if isinstance(value, _dt.datetime):
            raise fail("expected a date (YYYY-MM-DD), not a date-time")
        if isinstance(value, _dt.date):
            return Date(value.year, value.month, value.day)
        if isinstance(value, str):
            try:
                day = _dt.date.fromisoformat(value)
            except ValueError:
                raise fail("expected a date as YYYY-MM-DD") from None
            return Date(day.year, day.month, day.day)
        raise fail("expected a date as YYYY-MM-DD")


def parse_pack(text: str, source: str = "<string>") -> RulePack:
    """Read a rule pack from TOML text.

    The format (every key but ``id``, the outcome's ``pa_needed`` and a ``system`` for
    codes is optional; see the module docstring of `caredomain.authorization.rules` for
    what each matcher means):

    ```toml
    [pack]
    name = "acme-commercial"
    payer = "acme"                    # default payer of every rule
    program = "other"                 # whose decision timeframes apply
    decision_due = { standard = "P15D", expedited = "PT72H", source = "Acme manual 4.2" }
    source = "Acme Health prior-authorization list, 2026-01-01"

    [default]                         # the answer when no rule matches
    covered = "covered"
    pa_needed = "no-auth"

    [[rules]]
    id = "ACME-CARDIO-CONSULT"
    system = "CPT"
    codes = ["99242-99245"]
    setting = ["office", "outpatient-hospital"]
    effective = 2026-01-01
    pa_needed = "auth-needed"
    doc_needed = ["clinical"]
    documents = ["Office notes from the last 60 days", "12-lead ECG"]
    ```

    Raises:
        RuleError: Invalid TOML, an unknown key, a malformed value, an end before its
            start, a duplicate id or a tie; with the file, line and key.
    """
    return _Reader(load_toml(text, source)).read()


# --- the Medicare pack from its CSV -------------------------------------------------------

MEDICARE_CSV_COLUMNS: Final = (
    "list",
    "category",
    "system",
    "code_from",
    "code_to",
    "action",
    "effective",
    "source",
    "confidence",
    "note",
)
"""The columns of ``medicare-pa-lists.csv``, in order."""

_LISTS: Final[dict[str, tuple[str, Program]]] = {
    "opd": ("hospital outpatient department (OPD) prior-authorization list", Program.MEDICARE_OPD),
    "dmepos": ("DMEPOS Required Prior Authorization List", Program.MEDICARE_DMEPOS),
}
_ON: Final = frozenset({"added", "reinstated"})
_OFF: Final = frozenset({"removed", "suspended"})
_CONFIDENCE: Final = frozenset({"confirmed", "secondary", "uncertain"})
_PAIRED: Final = frozenset({"botulinum-toxin"})
"""Categories whose codes need PA only when billed with the category's codes of the other
system (Medicare OPD botulinum toxin: CPT 64612/64615 with J0585-J0588; the CSV header's
NOR-JEA-BOTOX, CGS-BOTOX, FCSO-BOTOX)."""
_DOCUMENTS: Final = ("Medical records documenting the medical necessity of the service",)
"""CMS asks for documentation supporting medical necessity with each PA request (CMS OPD and
DMEPOS prior-authorization program pages); packs may list more specific documents."""


@attrs.frozen
class _Row:
    line: int
    list: str
    category: str
    system: str
    code_from: str
    code_to: str
    action: str
    effective: Date
    source: str
    confidence: str


def _expand(low: str, high: str) -> list[str] | None:
    """Every code from ``low`` to ``high`` when they differ only in a run of digits."""
    if len(low) != len(high):
        return None
    head = 0
    while head < len(low) and low[head] == high[head]:
        head += 1
    tail = 0
    while tail < len(low) - head and low[-1 - tail] == high[-1 - tail]:
        tail += 1
    if head == len(low):
        return [low]
    mid_low, mid_high = low[head : len(low) - tail], high[head : len(high) - tail]
    # widen the differing part to the whole digit run it sits in
    while head > 0 and low[head - 1].isdigit():
        head -= 1
    while tail > 0 and low[len(low) - tail].isdigit():
        tail -= 1
    mid_low, mid_high = low[head : len(low) - tail], high[head : len(high) - tail]
    if not (mid_low.isdigit() and mid_high.isdigit()) or int(mid_high) < int(mid_low):
        return None
    if int(mid_high) - int(mid_low) > 10_000:
        return None
    width = len(mid_low)
    prefix, suffix = low[:head], low[len(low) - tail :]
    return [f"{prefix}{n:0{width}d}{suffix}" for n in range(int(mid_low), int(mid_high) + 1)]


def _successor(code: str) -> str | None:
    found = None
    for match in re.finditer(r"\d+", code):
        found = match
    if found is None:
        return None
    digits = found.group()
    value = int(digits) + 1
    if len(str(value)) > len(digits):
        return None
    return f"{code[: found.start()]}{value:0{len(digits)}d}{code[found.end() :]}"


def _read_rows(text: str, source: str) -> tuple[list[_Row], list[str]]:
    comments: list[str] = []
    body: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            comments.append(line[1:].strip())
        elif line.strip():
            body.append((number, line))
    if not body:
        raise RuleError("expected a header row and data rows", source=source)
    header_line, header = body[0]
    columns = next(csv.reader([header]))
    if tuple(c.strip() for c in columns) != MEDICARE_CSV_COLUMNS:
        raise RuleError(
            "expected the columns " + ",".join(MEDICARE_CSV_COLUMNS),
            source=source,
            line=header_line,
        )
    rows = []
    for number, line in body[1:]:
        values = next(csv.reader(io.StringIO(line)))

        def fail(column: str, message: str, number: int = number) -> RuleError:
            return RuleError(message, source=source, line=number, key=column)

        if len(values) != len(MEDICARE_CSV_COLUMNS):
            raise fail("row", f"expected {len(MEDICARE_CSV_COLUMNS)} columns")
        cells = dict(zip(MEDICARE_CSV_COLUMNS, (v.strip() for v in values), strict=True))
        if cells["list"] not in _LISTS:
            raise fail("list", "expected opd or dmepos")
        try:
            system = resolve_system(cells["system"])
        except ValidationError:
            raise fail("system", "expected CPT or HCPCS") from None
        if cells["action"] not in _ON | _OFF:
            raise fail("action", "expected added, removed, suspended or reinstated")
        if cells["confidence"] not in _CONFIDENCE:
            raise fail("confidence", "expected confirmed, secondary or uncertain")
        try:
            day = _dt.date.fromisoformat(cells["effective"])
        except ValueError:
            raise fail("effective", "expected a date as YYYY-MM-DD") from None
        low, high = normalize_code(cells["code_from"]), normalize_code(cells["code_to"])
        if not low or not low.isalnum() or (high and not high.isalnum()):
            raise fail("code_from", "expected a code")
        if high and _expand(low, high) is None:
            raise fail("code_to", "malformed range: expected codes differing in one digit run")
        if not cells["category"]:
            raise fail("category", "expected a category")
        rows.append(
            _Row(
                number,
                cells["list"],
                cells["category"],
                system,
                low,
                high,
                cells["action"],
                Date(day.year, day.month, day.day),
                cells["source"],
                cells["confidence"],
            )
        )
    return rows, comments


@attrs.frozen
class _Period:
    start: Date
    end: Date | None
    opened: _Row
    closed: _Row | None


def pack_from_csv(
    text: str,
    source: str = "medicare-pa-lists.csv",
    *,
    name: str = "medicare",
    payer: str = "medicare",
    include_uncertain: bool = False,
) -> RulePack:
    """Build the Medicare pack from the dated code-list CSV (module rules 2 and 3).

    Args:
        text: The CSV text.
        source: Its file name, for errors.
        name: The pack's name.
        payer: The payer id the rules answer for.
        include_uncertain: Also encode rows marked ``uncertain``.

    Raises:
        RuleError: A malformed row (with the CSV line and column), or a tie.
    """
    rows, comments = _read_rows(text, source)
    used = [r for r in rows if include_uncertain or r.confidence != "uncertain"]
    events: dict[tuple[str, str, str], list[_Row]] = defaultdict(list)
    order: dict[tuple[str, str, str], int] = {}
    for row in used:
        codes = _expand(row.code_from, row.code_to) if row.code_to else [row.code_from]
        for code in codes or ():
            key = (row.list, row.system, code)
            events[key].append(row)
            order.setdefault(key, len(order))
    pairs: dict[tuple[str, str], set[tuple[str, str, str]]] = defaultdict(set)
    for row in used:
        if row.category in _PAIRED:
            pairs[(row.list, row.category)].add((row.system, row.code_from, row.code_to))
    # periods on the list, per code
    periods: dict[tuple[str, str, str], list[_Period]] = {}
    for key, items in events.items():
        items.sort(key=lambda r: (r.effective, r.line))
        found: list[_Period] = []
        opened: _Row | None = None
        for row in items:
            if row.action in _ON and opened is None:
                opened = row
            elif row.action in _OFF and opened is not None:
                if row.effective > opened.effective:
                    found.append(_Period(opened.effective, row.effective, opened, row))
                opened = None
        if opened is not None:
            found.append(_Period(opened.effective, None, opened, None))
        periods[key] = found
    # runs of consecutive codes with the same periods become one rule per period
    groups: dict[tuple[object, ...], list[str]] = defaultdict(list)
    for key in sorted(periods, key=order.__getitem__):
        spans = periods[key]
        if not spans:
            continue
        group_key: tuple[object, ...] = (
            key[0],
            key[1],
            tuple((p.start, p.end, p.opened.category) for p in spans),
        )
        groups[group_key].append(key[2])
    rules = []
    for signature, codes in groups.items():
        list_name, system = str(signature[0]), str(signature[1])
        key0 = (list_name, system, codes[0])
        for run in _runs(codes):
            pattern = CodePattern.parse(run[0] if len(run) == 1 else f"{run[0]}-{run[-1]}")
            for period in periods[key0]:
                rules.append(_medicare_rule(list_name, system, pattern, period, payer, pairs))
    rules.append(
        Rule(
            f"{name}:default",
            Outcome(
                Covered.COVERED,
                PaNeeded.NO_AUTH,
                reason=(
                    "not on the Medicare OPD or DMEPOS prior-authorization lists on the date "
                    "of service (Medicare's other conditions of payment still apply)"
                ),
            ),
            payer=payer,
            fallback=True,
            description="Medicare services on neither prior-authorization list",
            source=source,
            defined_at=DefinedAt(source),
        )
    )
    latest = max((r.effective for r in used), default=None)
    header = [c for c in comments[:2] if c]
    return RulePack(
        name,
        rules,
        version=f"as of {latest.isoformat()}" if latest else None,
        source=" ".join(header) or source,
    )


def _runs(codes: list[str]) -> Iterator[list[str]]:
    run: list[str] = []
    for code in sorted(codes):
        if run and _successor(run[-1]) == code:
            run.append(code)
        else:
            if run:
                yield run
            run = [code]
    if run:
        yield run


def _medicare_rule(
    list_name: str,
    system: str,
    pattern: CodePattern,
    period: _Period,
    payer: str,
    pairs: Mapping[tuple[str, str], set[tuple[str, str, str]]],
) -> Rule:
    label, program = _LISTS[list_name]
    row = period.opened
    category = row.category
    sources = row.source
    ended = ""
    if period.closed is not None:
        sources = f"{sources}; {period.closed.source}"
        ended = f"; {period.closed.action} from {period.closed.effective.isoformat()}"
    billed_with: list[tuple[str, CodePattern]] = []
    if category in _PAIRED:
        for other_system, low, high in sorted(pairs[(list_name, category)]):
            if other_system != system:
                billed_with.append(
                    (other_system, CodePattern.parse(f"{low}-{high}" if high else low))
                )
    confidence = {row.confidence}
    if period.closed is not None:
        confidence.add(period.closed.confidence)
    weaker = "/".join(sorted(confidence - {"confirmed"}))
    note = f" (dates partly from a {weaker} source)" if weaker else ""
    return Rule(
        f"{list_name.upper()}-{pattern}-{period.start.isoformat()}",
        Outcome(
            Covered.COVERED,
            PaNeeded.AUTH_NEEDED,
            doc_needed=(DocNeeded.CLINICAL,),
            documents=_DOCUMENTS,
            reason=f"on the Medicare {label}: {category.replace('-', ' ')}",
        ),
        system=system,
        codes=(pattern,),
        payer=payer,
        effective=period.start,
        end=period.end,
        settings=(frozenset({Setting.OUTPATIENT_HOSPITAL}) if list_name == "opd" else frozenset()),
        billed_with=billed_with,
        program=program,
        category=category,
        description=(
            f"{system_label(system)} {pattern} on the Medicare {label} ({category}){ended}"
        ),
        source=f"{sources}{note}",
        defined_at=DefinedAt("medicare-pa-lists.csv", row.line),
    )


@functools.lru_cache(maxsize=2)
def medicare_pack(*, include_uncertain: bool = False) -> RulePack:
    """The bundled Medicare pack, built from ``packs/medicare-pa-lists.csv`` (once).

    Raises:
        RuleError: The bundled CSV is malformed (a packaging bug).
    """
    text = (
        resources.files("caredomain.authorization")
        .joinpath("packs/medicare-pa-lists.csv")
        .read_text(encoding="utf-8")
    )
    return pack_from_csv(text, include_uncertain=include_uncertain)


# --- the registry ------------------------------------------------------------------------

BUNDLED_PACKS: Final[Mapping[str, str]] = {
    "medicare": (
        "Medicare fee-for-service: the hospital OPD prior-authorization list (42 CFR 419.83) "
        "and the DMEPOS Required Prior Authorization List, dated, from packs/medicare-pa-lists.csv"
    ),
}
"""Packs shipped with caredomain, by name (``--pack medicare``), with what each holds.
TOML files in ``caredomain/authorization/packs/`` are bundled packs too, by file stem."""


def bundled_pack(name: str) -> RulePack:
    """A pack shipped with caredomain, by name.

    Raises:
        KeyError: No bundled pack has that name.
        RuleError: The bundled data is malformed.
    """
    if name == "medicare":
        return medicare_pack()
    folder = resources.files("caredomain.authorization").joinpath("packs")
    candidate = folder.joinpath(f"{name}.toml")
    if re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) and candidate.is_file():
        return parse_pack(candidate.read_text(encoding="utf-8"), f"{name}.toml")
    raise KeyError(name)


def load_pack(spec: str) -> RulePack:
    """A bundled pack by name, or a pack file (``.toml``, or a ``.csv`` in the Medicare format).

    Raises:
        RuleError: The file is missing, unreadable, or malformed (with file and line).
    """
    try:
        return bundled_pack(spec)
    except KeyError:
        pass
    path = Path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        known = ", ".join(sorted(BUNDLED_PACKS))
        raise RuleError(
            f"no such pack file, and not a bundled pack name ({known})", source=spec
        ) from None
    except UnicodeDecodeError:
        raise RuleError("expected UTF-8 text", source=spec) from None
    if path.suffix.lower() == ".csv":
        return pack_from_csv(text, spec, name=path.stem)
    return parse_pack(text, spec)


# --- lint ----------------------------------------------------------------------------------


class LintLevel(StrEnum):
    """How bad a lint finding is: ``error`` fails ``caredomain authorization lint``."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@attrs.frozen
class Finding:
    """Something `lint` found.

    Attributes:
        level: Error, warning or info.
        kind: ``unreachable``, ``redundant``, ``gap``, ``overlap`` or ``no-fallback``.
        rules: The rule ids involved, the one at fault first.
        message: What, and what to do.
        source: The file of the first rule, when known.
        line: Its line, when known.
    """

    level: LintLevel
    kind: str
    rules: tuple[str, ...]
    message: str
    source: str | None = None
    line: int | None = None


def _finding(level: LintLevel, kind: str, rules: tuple[Rule, ...], message: str) -> Finding:
    where = rules[0].defined_at
    return Finding(
        level,
        kind,
        tuple(r.id for r in rules),
        message,
        where.source if where else None,
        where.line if where else None,
    )


def _subject(rule: Rule) -> tuple[object, ...]:
    return (
        rule.system,
        rule.codes,
        rule.payer,
        rule.plans,
        rule.lines_of_business,
        rule.settings,
        rule.places_of_service,
        rule.network,
        rule.sexes,
        rule.age_at_least,
        rule.age_below,
        rule.diagnoses,
        rule.excluded_diagnoses,
        rule.billed_with,
        rule.units_over,
        rule.units_per,
        rule.tier,
    )


def lint(pack: RulePack) -> list[Finding]:
    """What in ``pack`` loads but is probably wrong (module rule 4), errors first.

    * ``unreachable`` (error): a rule that can never decide, because a rule of higher
      precedence matches everything it matches and answers differently.
    * ``redundant`` (warning): the same, where the other rule answers alike.
    * ``gap`` (warning): rules for the same services whose dates leave days between them
      (intended when a code was suspended or removed and later re-added).
    * ``overlap`` (info): rules that can match the same line with different answers; the
      one of higher precedence wins there.
    * ``no-fallback`` (info): lines no rule matches will answer ``indeterminate``.
    """
    findings: list[Finding] = []
    by_system: dict[str | None, list[tuple[Rule, CodePattern]]] = defaultdict(list)
    for rule in pack.rules:
        for pattern in rule.codes:
            by_system[rule.system].append((rule, pattern))
    # unreachable and redundant
    for rule in pack.rules:
        shadows: list[Rule] = []
        for pattern in rule.codes:
            key = rule.precedence(pattern)
            probe = pattern.low if pattern.kind is not PatternKind.ANY else None
            found = None
            for other, theirs, _key in pack.entries(rule.system, probe):
                if (
                    other is not rule
                    and other.precedence(theirs) > key
                    and theirs.covers(pattern)
                    and other.covers_rule(rule)
                ):
                    found = other
                    break
            if found is None:
                break
            shadows.append(found)
        else:
            other = shadows[0]
            if other.answer != rule.answer:
                findings.append(
                    _finding(
                        LintLevel.ERROR,
                        "unreachable",
                        (rule, other),
                        f"rule {rule.id} never decides: rule {other.id} matches everything "
                        "it matches, with higher precedence; narrow it or raise this one",
                    )
                )
            else:
                findings.append(
                    _finding(
                        LintLevel.WARNING,
                        "redundant",
                        (rule, other),
                        f"rule {rule.id} never decides: rule {other.id} matches everything "
                        "it matches, with higher precedence, and answers alike",
                    )
                )
    # gaps between dated rules for the same services
    subjects: dict[tuple[object, ...], list[Rule]] = defaultdict(list)
    for rule in pack.rules:
        if not rule.fallback:
            subjects[_subject(rule)].append(rule)
    for group in subjects.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda r: (r.effective or Date(1, 1, 1), r.id))
        for before, after in itertools.pairwise(group):
            if (
                before.end is not None
                and after.effective is not None
                and after.effective > before.end
            ):
                codes = ", ".join(str(p) for p in after.codes)
                findings.append(
                    _finding(
                        LintLevel.WARNING,
                        "gap",
                        (after, before),
                        f"no rule for {system_label(after.system)} {codes} from "
                        f"{before.end.isoformat()} to {after.effective.isoformat()} (between "
                        f"{before.id} and {after.id}); intended if it was suspended or removed",
                    )
                )
    # overlaps with different answers
    for system, entries in by_system.items():
        ordered = sorted((e for e in entries if not e[0].fallback), key=lambda e: e[1].bounds()[0])
        active: list[tuple[Rule, CodePattern]] = []
        seen: set[tuple[str, str]] = set()
        for rule, pattern in ordered:
            low = pattern.bounds()[0]
            active = [a for a in active if a[1].bounds()[1] >= low]
            for other, theirs in active:
                pair = tuple(sorted((rule.id, other.id)))
                if (
                    other is rule
                    or pair in seen
                    or other.answer == rule.answer
                    or not theirs.overlaps(pattern)
                    or not rule.could_coexist(other)
                ):
                    continue
                seen.add(pair)  # type: ignore[arg-type]
                a, b = (
                    (rule, other)
                    if rule.precedence(pattern) > other.precedence(theirs)
                    else (other, rule)
                )
                findings.append(
                    _finding(
                        LintLevel.INFO,
                        "overlap",
                        (b, a),
                        f"rules {b.id} and {a.id} can match the same {system_label(system)} "
                        f"lines with different answers; {a.id} wins there (higher precedence)",
                    )
                )
            active.append((rule, pattern))
    if not any(rule.fallback or rule.system is None for rule in pack.rules):
        findings.append(
            Finding(
                LintLevel.INFO,
                "no-fallback",
                (),
                "no [default]: lines no rule matches answer indeterminate",
            )
        )
    rank = {LintLevel.ERROR: 0, LintLevel.WARNING: 1, LintLevel.INFO: 2}
    findings.sort(key=lambda f: (rank[f.level], f.kind, f.rules))
    return findings
