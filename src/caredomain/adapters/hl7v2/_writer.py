"""Writing ER7: segments of fields of already-encoded text, and the MSH every message needs.

The datatype writers in `caredomain.adapters.hl7v2.datatypes` encode (and escape) one value
into the text of one field repetition; this module only joins: components with ``^``,
repetitions with ``~``, fields with ``|``, segments with CR (HL7 v2.5.1 section 2.5.3: the
segment terminator is always a carriage return). Trailing empty components and fields are
dropped, as HL7 allows and as senders do.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Final

from caredomain.adapters.hl7v2._message import Delimiters, escape
from caredomain.core.time import ensure_aware

__all__ = ["DEFAULT_VERSION", "Writer", "components"]

DEFAULT_VERSION: Final = "2.5.1"
"""The version caredomain writes (messages, and ACKs for inbound messages without one)."""

_STANDARD: Final = Delimiters()

Field = str | Sequence[str] | None
"""One field: encoded text, a sequence of encoded repetitions, or None (empty)."""


def components(*parts: str | None, d: Delimiters = _STANDARD) -> str:
    """Encoded components joined with the component separator, trailing empties dropped."""
    values = ["" if p is None else p for p in parts]
    while values and not values[-1]:
        values.pop()
    return d.component.join(values)


class Writer:
    """Builds one message, segment by segment."""

    __slots__ = ("_d", "_segments")

    def __init__(self, d: Delimiters = _STANDARD) -> None:
        self._d = d
        self._segments: list[str] = []

    @property
    def delimiters(self) -> Delimiters:
        """The encoding characters this message uses."""
        return self._d

    def segment(self, segment_id: str, *fields: Field) -> None:
        """Append a segment; ``fields[0]`` is field 1 (for MSH, use `msh`)."""
        encoded = [self._field(f) for f in fields]
        while encoded and not encoded[-1]:
            encoded.pop()
        self._segments.append(self._d.field.join([segment_id, *encoded]))

    def msh(
        self,
        *,
        message_type: str,
        trigger: str,
        structure: str,
        control_id: str,
        at: _dt.datetime,
        sending_application: str = "CAREDOMAIN",
        sending_facility: str = "",
        receiving_application: str = "",
        receiving_facility: str = "",
        processing_id: str = "P",
        version: str = DEFAULT_VERSION,
    ) -> None:
        """Append the MSH (HL7 v2.5.1 section 2.15.9), declaring UTF-8 in MSH-18."""
        d = self._d
        moment = ensure_aware(at, "MSH-7")
        offset = moment.strftime("%z")
        encoding = d.component + d.repetition + d.escape + d.subcomponent
        fields = [
            encoding,
            escape(sending_application, d),
            escape(sending_facility, d),
            escape(receiving_application, d),
            escape(receiving_facility, d),
            moment.strftime("%Y%m%d%H%M%S") + offset,
            "",
            components(escape(message_type, d), escape(trigger, d), escape(structure, d), d=d),
            escape(control_id, d),
            escape(processing_id, d),
            escape(version, d),
            "",
            "",
            "",
            "",
            "",
            "UNICODE UTF-8",
        ]
        self._segments.append("MSH" + d.field + d.field.join(fields))

    def text(self) -> str:
        """The message: segments joined and terminated with CR."""
        return "".join(s + "\r" for s in self._segments)

    def _field(self, value: Field) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        reps = list(value)
        while reps and not reps[-1]:
            reps.pop()
        return self._d.repetition.join(reps)
