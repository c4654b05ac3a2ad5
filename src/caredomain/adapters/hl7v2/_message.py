r"""A fast, lazy HL7 v2 (ER7) tokenizer and the `Message` it yields.

Rules of this module:

1. Tokenize once, lazily: `parse` only splits segments; a segment's fields, repetitions,
   components and subcomponents are split when first asked for, and cached.
2. Be lenient with framing: CR, LF or CRLF segment terminators, an MLLP frame
   (``0x0B`` ... ``0x1C 0x0D``), a leading byte-order mark and trailing whitespace are
   accepted. Encoding characters come from MSH-1 and MSH-2, not from defaults.
3. Errors are `Hl7ParseError` with the segment index and id, field, repetition and
   component, and what was expected, and never the content of the message.
4. Escape sequences (HL7 v2.x section 2.7): ``\F\ \S\ \T\ \R\ \E\`` become the
   delimiters, ``\Xhh..\`` the bytes it encodes (as Latin-1), ``\.br\`` a line break;
   ``\H\`` and ``\N\`` (highlighting) are dropped; any other sequence is kept as written.
5. An `Item` is a view of one field repetition with its position, for the typed datatype
   readers (``caredomain.adapters.hl7v2.datatypes``); it splits its components on first use.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

import attrs

from caredomain.core.errors import ParseError

if TYPE_CHECKING:
    from caredomain.adapters.hl7v2.structure import Group

__all__ = ["Delimiters", "Hl7ParseError", "Item", "Message", "Segment", "escape", "parse"]

_MLLP_START: Final = "\x0b"
_MLLP_END: Final = "\x1c"
_TERMINATORS: Final = re.compile(r"\r\n|\r|\n")
_PATH: Final = re.compile(
    r"^(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<occ>\d+)\])?"
    r"(?:-(?P<field>\d+)(?:\[(?P<rep>\d+)\])?(?:\.(?P<comp>\d+)(?:\.(?P<sub>\d+))?)?)?$"
)


class Hl7ParseError(ParseError):
    """An HL7 v2 message could not be read.

    Attributes:
        segment_index: 1-based position of the segment in the message, if known.
        segment_id: The segment's id (``"PID"``), if known.
        field: The field number, if known.
        repetition: The 1-based repetition, if known.
        component: The component number, if known.
    """

    def __init__(
        self,
        expected: str,
        *,
        segment_index: int | None = None,
        segment_id: str | None = None,
        field: int | None = None,
        repetition: int | None = None,
        component: int | None = None,
    ) -> None:
        self.segment_index = segment_index
        self.segment_id = segment_id
        self.field = field
        self.repetition = repetition
        self.component = component
        parts = []
        if segment_index is not None:
            parts.append(f"segment {segment_index}" + (f" ({segment_id})" if segment_id else ""))
        if field is not None:
            parts.append(f"field {field}")
        if repetition is not None:
            parts.append(f"repetition {repetition}")
        if component is not None:
            parts.append(f"component {component}")
        super().__init__(", ".join(parts) or "message", expected)


@attrs.frozen
class Delimiters:
    r"""The message's encoding characters, from MSH-1 and MSH-2.

    Attributes:
        field: Field separator (``|``).
        component: Component separator (``^``).
        repetition: Repetition separator (``~``).
        escape: Escape character (``\``).
        subcomponent: Subcomponent separator (``&``).
    """

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"


_DEFAULT: Final = Delimiters()


def escape(text: str, d: Delimiters | None = None) -> str:
    r"""``text`` escaped for one HL7 v2 component (HL7 v2.5.1 section 2.7.1).

    The escape character goes first (``\E\``), then the field, component, subcomponent and
    repetition separators (``\F\ \S\ \T\ \R\``); a line break becomes ``\.br\``
    (as does a carriage return), so no value can end a segment early.
    The inverse of what `Segment.value` does on reading.
    """
    d = d or _DEFAULT
    if not any(
        c in text
        for c in (d.escape, d.field, d.component, d.subcomponent, d.repetition, "\n", "\r")
    ):
        return text
    e = d.escape
    out = text.replace(e, f"{e}E{e}")
    for char, code in (
        (d.field, "F"),
        (d.component, "S"),
        (d.subcomponent, "T"),
        (d.repetition, "R"),
    ):
        out = out.replace(char, f"{e}{code}{e}")
    return out.replace("\r\n", "\n").replace("\r", "\n").replace("\n", f"{e}.br{e}")


def _unescape(text: str, d: Delimiters) -> str:
    if d.escape not in text:
        return text
    out = []
    i = 0
    esc = d.escape
    while i < len(text):
        ch = text[i]
        if ch != esc:
            out.append(ch)
            i += 1
            continue
        end = text.find(esc, i + 1)
        if end < 0:
            out.append(text[i:])  # a lone escape character: kept as written (lenient)
            break
        code = text[i + 1 : end]
        replacement = {
            "F": d.field,
            "S": d.component,
            "T": d.subcomponent,
            "R": d.repetition,
            "E": d.escape,
            ".br": "\n",
            "H": "",
            "N": "",
        }.get(code)
        if (
            replacement is None
            and code[:1] == "X"
            and re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", code[1:])
        ):
            replacement = bytes.fromhex(code[1:]).decode("latin-1")
        out.append(replacement if replacement is not None else text[i : end + 1])
        i = end + 1
    return "".join(out)


class Item:
    """One repetition of one field of one segment, with its position (a datatype's input).

    Components and subcomponents are split on first use and unescaped on read. Positions
    are 1-based, as in HL7. An absent field is an empty item (``bool(item)`` is false), as
    are one of only separators and spaces, and the HL7 null ``""`` (HL7 v2.5.1 section
    2.5.3: the receiver is to delete the value; readers return ``None`` for it).

    Attributes:
        segment_index: 1-based position of the segment in the message (``None`` when the
            segment itself is absent).
        segment_id: The segment's id (``"PID"``).
        field: The field number.
        repetition: The 1-based repetition.
        text: The repetition as written (escaped); never formatted into errors or ``repr``.
        delimiters: The message's encoding characters.
    """

    __slots__ = (
        "_components",
        "delimiters",
        "field",
        "repetition",
        "segment_id",
        "segment_index",
        "text",
    )

    def __init__(
        self,
        segment_index: int | None,
        segment_id: str,
        field: int,
        repetition: int,
        text: str,
        delimiters: Delimiters = _DEFAULT,
    ) -> None:
        self.segment_index = segment_index
        self.segment_id = segment_id
        self.field = field
        self.repetition = repetition
        self.text = text
        self.delimiters = delimiters
        self._components: list[str] | None = None

    def _split(self) -> list[str]:
        if self._components is None:
            if self.segment_id == "MSH" and self.field in (1, 2):
                # MSH-1 is the field separator and MSH-2 the encoding characters: never split.
                self._components = [self.text]
            else:
                self._components = self.text.split(self.delimiters.component)
        return self._components

    def __bool__(self) -> bool:
        text = self.text
        if not text or text == '""':
            return False
        d = self.delimiters
        return bool(text.replace(d.component, "").replace(d.subcomponent, "").strip())

    def __repr__(self) -> str:
        return (
            f"Item(segment_index={self.segment_index!r}, segment_id={self.segment_id!r}, "
            f"field={self.field!r}, repetition={self.repetition!r})"
        )

    def component(self, number: int) -> str:
        """Component ``number``, unescaped; ``""`` when absent.

        Subcomponent separators inside it are kept as written (see `subcomponent`).
        """
        components = self._components
        if components is None:
            components = self._split()
        if not 0 < number <= len(components):
            return ""
        text = components[number - 1]
        if self.delimiters.escape not in text:
            return text
        if self.segment_id == "MSH" and self.field in (1, 2):
            return text  # the encoding characters, never unescaped
        return _unescape(text, self.delimiters)

    def subcomponent(self, number: int, sub: int) -> str:
        """Subcomponent ``sub`` of component ``number``, unescaped; ``""`` when absent."""
        components = self._split()
        if not 0 < number <= len(components):
            return ""
        d = self.delimiters
        subs = components[number - 1].split(d.subcomponent)
        return _unescape(subs[sub - 1], d) if 0 < sub <= len(subs) else ""

    def components(self) -> tuple[str, ...]:
        """Every component, unescaped, in order (``()`` for an absent field)."""
        if not self.text:
            return ()
        return tuple(self.component(i) for i in range(1, len(self._split()) + 1))

    def error(self, expected: str, *, component: int | None = None) -> Hl7ParseError:
        """An `Hl7ParseError` at this item's position (never its content).

        Args:
            expected: What the reader expected, in words (``"a date such as YYYYMMDD"``).
            component: The component at fault, if one is.
        """
        return Hl7ParseError(
            expected,
            segment_index=self.segment_index,
            segment_id=self.segment_id,
            field=self.field,
            repetition=self.repetition,
            component=component,
        )


class Segment:
    """One segment, split on first access. Field numbers are HL7's (MSH-1 is the separator)."""

    __slots__ = ("_fields", "_raw", "_reps", "d", "id", "index")

    def __init__(self, raw: str, index: int, d: Delimiters) -> None:
        self._raw = raw
        self.index = index
        self.d = d
        self.id = raw[:3]
        self._fields: list[str] | None = None
        self._reps: dict[int, list[str]] = {}

    def _split(self) -> list[str]:
        if self._fields is None:
            parts = self._raw.split(self.d.field)
            if self.id == "MSH":
                # MSH-1 is the separator itself and MSH-2 the encoding characters.
                parts = [parts[0], self.d.field, *parts[1:]]
            self._fields = parts
        return self._fields

    def __len__(self) -> int:
        """The number of fields present (the highest field number)."""
        return len(self._split()) - 1

    def raw_field(self, number: int) -> str:
        """Field ``number`` as written (escaped), or ``""`` when absent."""
        fields = self._split()
        return fields[number] if 0 < number < len(fields) else ""

    def repetitions(self, number: int) -> list[str]:
        """Field ``number``'s repetitions, as written (MSH-1 and MSH-2 are never split).

        Split once per field and cached, so reading every repetition of a long field is
        linear. The list is shared: do not change it.
        """
        reps = self._reps.get(number)
        if reps is None:
            fields = self._fields if self._fields is not None else self._split()
            raw = fields[number] if 0 < number < len(fields) else ""
            if not raw:
                reps = []
            elif self.id == "MSH" and number in (1, 2):
                reps = [raw]
            else:
                reps = raw.split(self.d.repetition)
            self._reps[number] = reps
        return reps

    def value(
        self, field: int, repetition: int = 1, component: int | None = None, sub: int | None = None
    ) -> str:
        """The unescaped text at a position; ``""`` when absent (HL7's empty)."""
        reps = self.repetitions(field)
        if not 0 < repetition <= len(reps):
            return ""
        text = reps[repetition - 1]
        if self.id == "MSH" and field in (1, 2):
            return text
        if component is not None:
            comps = text.split(self.d.component)
            text = comps[component - 1] if 0 < component <= len(comps) else ""
            if sub is not None:
                subs = text.split(self.d.subcomponent)
                text = subs[sub - 1] if 0 < sub <= len(subs) else ""
        elif sub is not None:
            raise Hl7ParseError(
                "a component before a subcomponent",
                segment_index=self.index,
                segment_id=self.id,
                field=field,
            )
        return _unescape(text, self.d)

    def item(self, field: int, repetition: int = 1) -> Item:
        """Repetition ``repetition`` of field ``field`` as an `Item` (empty when absent)."""
        reps = self.repetitions(field)
        text = reps[repetition - 1] if 0 < repetition <= len(reps) else ""
        return Item(self.index, self.id, field, repetition, text, self.d)

    def items(self, field: int) -> list[Item]:
        """Every repetition of field ``field`` as an `Item` (``[]`` when absent)."""
        return [
            Item(self.index, self.id, field, number, text, self.d)
            for number, text in enumerate(self.repetitions(field), start=1)
        ]


@attrs.frozen(eq=False)
class Message:
    """A parsed HL7 v2 message: segments in order, fields split on demand.

    ``msg["PID-3[2].1"]`` reads segment PID (the first), field 3, repetition 2, component 1;
    ``msg["OBX[2]-5"]`` the second OBX's field 5; ``msg.segments("OBX")`` iterates them.
    """

    delimiters: Delimiters
    _segments: tuple[Segment, ...] = attrs.field(alias="segments_", repr=False)
    _by_id: dict[str, list[Segment]] | None = attrs.field(init=False, default=None, repr=False)

    def _index(self) -> dict[str, list[Segment]]:
        # Built on first lookup: segment id -> its segments in order, so that reading
        # "OBX[n]-5" for every n is linear, not quadratic.
        index = self._by_id
        if index is None:
            index = {}
            for segment in self._segments:
                index.setdefault(segment.id, []).append(segment)
            object.__setattr__(self, "_by_id", index)
        return index

    @property
    def type(self) -> str:
        """MSH-9 as ``TYPE^TRIGGER`` (``"SIU^S12"``); ``""`` when MSH-9 is empty."""
        msh = self._segments[0]
        kind, trigger = msh.value(9, 1, 1), msh.value(9, 1, 2)
        return f"{kind}^{trigger}" if kind or trigger else ""

    @property
    def version(self) -> str:
        """MSH-12, the declared HL7 version (``"2.5.1"``)."""
        return self._segments[0].value(12, 1, 1)

    @property
    def control_id(self) -> str:
        """MSH-10, the message control id."""
        return self._segments[0].value(10)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self._segments)

    def __len__(self) -> int:
        return len(self._segments)

    def segments(self, segment_id: str) -> Iterator[Segment]:
        """Every segment with this id, in order (Z-segments included)."""
        return iter(self._index().get(segment_id, ()))

    def groups(self, path: str) -> Iterator[Group]:
        """Each occurrence of a group of the message's structure, in order.

        ``msg.groups("PATIENT_RESULT/ORDER_OBSERVATION")`` yields each order of an ORU^R01,
        and ``order.groups("OBSERVATION")`` its OBX groups; see
        `caredomain.adapters.hl7v2.structure.groups` (structures come from hl7apy's tables,
        imported on first use).
        """
        from caredomain.adapters.hl7v2.structure import groups  # structure imports this module

        return groups(self, path)

    def __getitem__(self, path: str) -> str:
        """The unescaped text at an HL7 path such as ``"PID-3[2].1"``; ``""`` when absent.

        Raises:
            Hl7ParseError: The path is not of the form ``SEG[n]-field[rep].comp.sub``.
        """
        match = _PATH.match(path)
        if match is None or match["field"] is None:
            raise Hl7ParseError("a path such as PID-3[2].1")
        wanted = int(match["occ"] or 1)
        found = self._index().get(match["seg"], [])
        if len(found) < wanted:
            return ""
        segment = found[wanted - 1]
        return segment.value(
            int(match["field"]),
            int(match["rep"] or 1),
            int(match["comp"]) if match["comp"] else None,
            int(match["sub"]) if match["sub"] else None,
        )

    def item(self, path: str) -> Item:
        """The field repetition at a path such as ``"PID-5"``, ``"PID-3[2]"``, ``"OBX[2]-5"``.

        An absent segment or field gives an empty `Item`.

        Raises:
            Hl7ParseError: The path is not of the form ``SEG[n]-field[rep]`` (a component
                or subcomponent in the path is an error: read those from the item).
        """
        match = _PATH.match(path)
        if match is None or match["field"] is None or match["comp"] is not None:
            raise Hl7ParseError("a path to a field repetition such as PID-3[2]")
        wanted = int(match["occ"] or 1)
        field = int(match["field"])
        repetition = int(match["rep"] or 1)
        found = self._index().get(match["seg"], [])
        if 0 < wanted <= len(found):
            return found[wanted - 1].item(field, repetition)
        return Item(None, match["seg"], field, repetition, "", self.delimiters)


# HL7 v2.5.1 table 0211 (Alternate character sets) -> Python codecs. ASCII is read as
# Latin-1: feeds that declare ASCII and send accented names are common, and Latin-1 decodes
# every byte (no text is lost, and ASCII text is the same). "ISO IR6" is ISO 646 (ASCII) and
# "ISO IR100" ISO 8859-1, by the table's own descriptions. The JIS sets (ISO IR14, IR87,
# IR159) switch by ISO 2022 escapes inside the text and "UNICODE" names no encoding form:
# they are refused rather than guessed.
_CHARSETS: Final[dict[str, str]] = {
    "": "utf-8",
    "ASCII": "latin-1",
    "ISO IR6": "latin-1",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
    "UNICODE UTF-16": "utf-16",
    "UNICODE UTF-32": "utf-32",
    "8859/1": "iso8859-1",
    "ISO IR100": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc_kr",
    "BIG-5": "big5",
}
_UTF16_OR_32: Final = (
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
    (b"M\x00S\x00H\x00", "utf-16-le"),
    (b"\x00M\x00S\x00H", "utf-16-be"),
)


def _text(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    if not isinstance(data, bytes | bytearray):
        raise Hl7ParseError("bytes or text")
    data = bytes(data)
    # UTF-16 and UTF-32 text is recognized by its byte-order mark or its first letters.
    for prefix, wide in _UTF16_OR_32:
        framed = data[:1] == b"\x0b" and data[1:].startswith(prefix)
        if data.startswith(prefix) or framed:
            body = data[1:] if framed else data
            if framed:  # MLLP's end block is single bytes after the wide text
                body = body[: body.rfind(b"\x1c")] if b"\x1c\r" in body[-4:] else body
            try:
                return body.decode(wide)
            except UnicodeDecodeError:
                raise Hl7ParseError(f"{wide.upper()} text", segment_index=1) from None
    # MSH-18 names the character set; the sets of HL7 table 0211 that are not UTF-16/32
    # write their MSH in ASCII, so read it first as Latin-1 to find MSH-18. A UTF-8
    # byte-order mark is dropped first, or MSH-18 of such a message would never be read.
    data = data.removeprefix(b"\xef\xbb\xbf")
    if data[:1] == b"\x0b":  # a byte-order mark inside an MLLP frame
        data = b"\x0b" + data[1:].removeprefix(b"\xef\xbb\xbf")
    charset = ""
    if data.startswith((b"MSH", b"\x0bMSH")):
        # Only the MSH line is decoded here: the first CR or LF ends it.
        ends = [i for i in (data.find(b"\r"), data.find(b"\n")) if i >= 0]
        line = data[: min(ends)] if ends else data
        head = line.decode("latin-1").lstrip("\x0b")
        sep, repetition = head[3:4], head[5:6]
        fields = head.split(sep) if sep else []
        if len(fields) > 17:
            # MSH-18 repeats (the first repetition is the default character set, HL7
            # v2.5.1 section 2.15.9.18); it has no components.
            charset = (fields[17].split(repetition)[0] if repetition else fields[17]).strip()
    codec = _CHARSETS.get(charset.upper())
    if codec is None:
        raise Hl7ParseError(
            "a character set of HL7 table 0211 caredomain reads (ASCII, 8859/1 to 8859/9, "
            "8859/15, UNICODE UTF-8, UNICODE UTF-16, UNICODE UTF-32, GB 18030-2000, "
            "KS X 1001, BIG-5)",
            segment_index=1,
            segment_id="MSH",
            field=18,
        )
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        if not charset:
            return data.decode("latin-1")  # undeclared and not UTF-8: lenient
        raise Hl7ParseError(
            f"text in the character set MSH-18 declares ({codec.upper()})",
            segment_index=1,
            segment_id="MSH",
            field=18,
        ) from None


@functools.lru_cache(maxsize=64)
def _delimiters(sep: str, encoding: str) -> Delimiters:
    return Delimiters(sep, encoding[0], encoding[1], encoding[2], encoding[3])


def parse(data: bytes | str, *, strict: bool = False) -> Message:
    """Read one HL7 v2 message (ER7), leniently framed.

    Lenient by default, as real feeds need: extra fields, missing optional segments, Z
    segments and a wrong declared structure are accepted, and fields are only split when
    read. With ``strict=True`` the message is also validated against its version's
    definition through hl7apy (`caredomain.adapters.hl7v2.structure.check`), which is
    about a thousand times slower.

    Raises:
        Hl7ParseError: No MSH segment first, encoding characters missing or repeated, or
            a segment without a valid id; with ``strict``, the first problem found. The
            error names positions, never content.
    """
    text = _text(data).lstrip("\ufeff")
    if text.startswith(_MLLP_START):
        text = text[1:]
        end = text.find(_MLLP_END)
        if end >= 0:
            text = text[:end]
    text = text.strip()
    if not text.startswith("MSH") or len(text) < 8:
        raise Hl7ParseError("an MSH segment first, with its encoding characters", segment_index=1)
    sep = text[3]
    # MSH-2 ends at the next field separator or at the end of the MSH segment, whichever
    # comes first (HL7 v2.5.1 section 2.5.4: the encoding characters belong to the MSH).
    first_end = _TERMINATORS.search(text)
    msh_end = first_end.start() if first_end else len(text)
    end = text.find(sep, 4, msh_end)
    encoding = text[4:end] if end > 0 else ""
    if len(encoding) < 4 or sep in encoding or len(set(encoding[:4] + sep)) != 5 or sep.isalnum():
        raise Hl7ParseError(
            "MSH-1 and MSH-2: five distinct encoding characters such as |^~\\&",
            segment_index=1,
            segment_id="MSH",
            field=2,
        )
    d = _delimiters(sep, encoding[:4])
    segments = []
    for number, raw in enumerate((r for r in _TERMINATORS.split(text) if r.strip()), start=1):
        # A segment id is three capitals or digits, the first a letter, then the field
        # separator or the end of the segment (HL7 v2.5.1 section 2.5.1).
        head = raw[:3]
        if not (
            len(head) == 3
            and head.isascii()
            and head.isalnum()
            and head == head.upper()
            and head[0].isalpha()
            and (len(raw) == 3 or raw[3] == sep)
        ):
            raise Hl7ParseError(
                "a segment id of three capital letters or digits, then the field separator",
                segment_index=number,
            )
        segments.append(Segment(raw, number, d))
    message = Message(d, segments_=tuple(segments))
    if strict:
        from caredomain.adapters.hl7v2.structure import check  # structure imports this module

        check(message, strict=True)
    return message
