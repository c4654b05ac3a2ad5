"""TOML data files (rule packs, templates, policies) read with file/line errors.

``tomllib`` reports syntax errors with a line but forgets where each value came from. A
:class:`TomlDocument` keeps the text so that a semantic error found later ("weight must be
positive" under ``[urgency.routine]``) can be reported at the line of that key.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import attrs

from caredomain.core.errors import RuleError

__all__ = ["TomlDocument", "load_toml"]

_SYNTAX_LINE = re.compile(r"\(at line (\d+), column \d+\)")


@attrs.frozen
class TomlDocument:
    """A parsed TOML file that can point back at its lines.

    Attributes:
        data: The parsed tables.
        source: The file name (or ``"<string>"``), for errors.
        text: The original text.
    """

    data: dict[str, Any]
    source: str
    text: str = attrs.field(repr=False)

    def line_of(self, *path: str) -> int | None:
        """The 1-based line where the key at ``path`` is defined, if it can be found.

        ``line_of("urgency", "routine", "weight")`` finds ``weight`` inside the
        ``[urgency.routine]`` table (or a dotted ``routine.weight`` key under ``[urgency]``).
        """
        if not path:
            return None
        lines = self.text.splitlines()
        table_start = 0
        table_path: tuple[str, ...] = ()
        # Find the deepest table header that is a prefix of path.
        for depth in range(len(path), 0, -1):
            header = re.compile(
                r"^\s*\[{1,2}\s*"
                + r"\s*\.\s*".join(re.escape(p) for p in path[:depth])
                + r"\s*\]{1,2}"
            )
            for number, line in enumerate(lines):
                if header.match(line):
                    table_start, table_path = number, path[:depth]
                    break
            if table_path:
                break
        rest = path[len(table_path) :]
        if not rest:
            return table_start + 1
        key = re.compile(r"^\s*" + r"\s*\.\s*".join(re.escape(p) for p in rest) + r"\s*=")
        for number in range(table_start, len(lines)):
            if number > table_start and lines[number].lstrip().startswith("[") and table_path:
                break
            if key.match(lines[number]):
                return number + 1
        return table_start + 1 if table_path else None

    def error(self, message: str, *path: str) -> RuleError:
        """A :class:`RuleError` at the line of ``path``, naming the dotted key."""
        return RuleError(
            message, source=self.source, line=self.line_of(*path), key=".".join(path) or None
        )


def load_toml(text: str, source: str = "<string>") -> TomlDocument:
    """Parse TOML text.

    Raises:
        RuleError: The text is not valid TOML; the error has the line and tomllib's reason.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _SYNTAX_LINE.search(str(exc))
        reason = _SYNTAX_LINE.sub("", str(exc)).strip()
        raise RuleError(
            f"invalid TOML: {reason}", source=source, line=int(found.group(1)) if found else None
        ) from None
    return TomlDocument(data, source, text)
