"""HL7 v2 structure knowledge: message structures, groups, field definitions and validation.

`message_structure` names the abstract message structure of a type and trigger event
(``SIU^S14`` -> ``SIU_S12``), `field_spec` describes a segment's field, `group_tree` and
`groups` walk a parsed `Message` by the groups of its structure
(``groups(msg, "PATIENT_RESULT/ORDER_OBSERVATION")``), and `validate` / `check` report what
does not fit: lenient checks of the tokenized message against hl7apy's tables
(``strict=False``), or those plus hl7apy's own strict validation (the default; validating at
all is opt-in: `parse` never validates).

Rules of this module:

1. Structure knowledge (message structures, groups, segment fields, datatypes, tables) comes
   from hl7apy's tables (``hl7apy.load_library(version)``: ``MESSAGES``, ``GROUPS``,
   ``SEGMENTS``, ``TABLES``) and is never re-typed. The only data typed here is what hl7apy
   lacks, each with its source: the trigger events that share another event's structure
   (`_SHARED_STRUCTURES`, HL7 Table 0354) and the groups renamed since v2.3
   (`_RENAMED_GROUPS`).
2. hl7apy is imported lazily, through `require`, by the first call that needs it; importing
   this module never imports it.
3. The hot path builds no hl7apy object. Each structure is compiled once into a small tree of
   `_Node` (per group: the segment ids that can start it and every id it holds), and a
   message's segment ids are walked once through transitions memoized per structure.
4. Lenient when grouping: Z-segments and unknown segments stay with the current group; a
   wrong declared structure (MSH-9.3) gives way to the one of the type and trigger, then to a
   flat best effort. Strict validation builds hl7apy's objects, only when asked for.
5. Problems and errors name positions and structure (segment index and id, field, group
   path), never content: hl7apy's exception texts, which often quote the value, are never
   copied; each exception class gets its own message here.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Iterator
from typing import Any, Final, TypeAlias

import attrs

from caredomain.adapters._deps import require
from caredomain.adapters.hl7v2._message import Hl7ParseError, Message, Segment
from caredomain.core.errors import Problem, ValidationError

__all__ = [
    "FieldSpec",
    "Group",
    "check",
    "field_spec",
    "group_tree",
    "groups",
    "message_structure",
    "validate",
]

# HL7 v2.5.1 section 2.8 (Z-segments): site-defined segments start with "Z".
_Z: Final = "Z"
# Versions caredomain reads: 2.3 to 2.8.x (hl7apy has tables for 2.1 to 2.8.2).
_MINORS: Final = range(3, 9)
# The version whose tables group a message that declares no usable version (lenient only).
_FALLBACK_VERSION: Final = "2.5.1"
_VERSION: Final = re.compile(r"^\s*2\.(\d{1,2})(?:\.(\d{1,2}))?\s*$")
_ID: Final = re.compile(r"^[A-Z0-9]{3}$")
# A transition table stops growing here (a stream of ever new Z-segment ids cannot grow it).
_MEMO_LIMIT: Final = 20_000

# HL7 Table 0354 (Message structure; v2.5.1 chapter 2, with the event lists of chapters 3,
# 10 and 11): trigger events that share another event's structure, for the message types
# caredomain maps. hl7apy's tables list structures but not these event lists. Candidates are
# tried in order and kept only when hl7apy's tables for the version define them: v2.3.1
# Table 0354 puts A05, A14, A28 and A31 under ADT_A01 (ADT_A05 exists from v2.4 on).
_SHARED_STRUCTURES: Final[dict[tuple[str, ...], str]] = {
    ("ADT_A01",): "ADT A01 A04 A08 A13",
    ("ADT_A05", "ADT_A01"): "ADT A05 A14 A28 A31",
    ("ADT_A06",): "ADT A06 A07",
    ("ADT_A09",): "ADT A09 A10 A11",
    ("ADT_A21",): "ADT A21 A22 A23 A25 A26 A27 A29 A32 A33",
    ("ADT_A39",): "ADT A39 A40 A41 A42",
    ("SIU_S12",): "SIU S12 S13 S14 S15 S16 S17 S18 S19 S20 S21 S22 S23 S24 S26",
    ("REF_I12",): "REF I12 I13 I14 I15",
    ("RRI_I12",): "RRI I12 I13 I14 I15",
}
_EVENT_STRUCTURES: Final[dict[str, tuple[str, ...]]] = {
    f"{kind}_{event}": candidates
    for candidates, events in _SHARED_STRUCTURES.items()
    for kind, *rest in [events.split()]
    for event in rest
}

# Groups hl7apy names differently in v2.3 / v2.3.1 than from v2.4 on (compare hl7apy's
# v2_3, v2_3_1 and v2_4 message tables; HL7 v2.4 chapter 7 ORU^R01 and chapter 11 REF^I12 /
# RRI^I12): (version, structure, hl7apy's name) -> the name used from v2.4 on, so that one
# path works across versions. In v2.3 REF/RRI, "OBSERVATION" is the OBX group that later
# versions call RESULTS_NOTES, and "RESULTS" the OBR group later called OBSERVATION.
_RENAMED_GROUPS: Final[dict[tuple[str, str, str], str]] = {
    ("2.3", "ORU_R01", "RESPONSE"): "PATIENT_RESULT",
    **{
        ("2.3", structure, old): new
        for structure in ("REF_I12", "RRI_I12")
        for old, new in (
            ("AUTHORIZATION", "AUTHORIZATION_CONTACT"),
            ("PROVIDER", "PROVIDER_CONTACT"),
            ("RESULTS", "OBSERVATION"),
            ("OBSERVATION", "RESULTS_NOTES"),
            ("VISIT", "PATIENT_VISIT"),
        )
    },
    ("2.3.1", "REF_I12", "PROVIDER"): "PROVIDER_CONTACT",
    # hl7apy up to v2.5.1 calls the PROCEDURE group's authorization group AUTCTD_SUPPGRP2.
    **{
        ("*", structure, "AUTCTD_SUPPGRP"): "AUTHORIZATION_CONTACT"
        for structure in ("REF_I12", "RRI_I12")
    },
}


# --- hl7apy's tables -------------------------------------------------------------------------


def _hl7apy() -> Any:
    return require("hl7apy")


@functools.lru_cache(maxsize=256)
def _library_version(version: str) -> str | None:
    """hl7apy's name for the tables of ``version`` ("2.7.1" -> "2.7"), or None if unsupported."""
    match = _VERSION.match(version)
    if match is None or int(match[1]) not in _MINORS:
        return None
    supported = _hl7apy().SUPPORTED_LIBRARIES
    base = f"2.{int(match[1])}"
    exact = f"{base}.{int(match[2])}" if match[2] else base
    if exact in supported:
        return exact
    return base if base in supported else None


def _grouping_version(version: str) -> str:
    """The tables to group a message by: its own, else the nearest supported ones (lenient)."""
    found = _library_version(version)
    if found is not None:
        return found
    match = _VERSION.match(version)
    if match is not None:
        return "2.3" if int(match[1]) < _MINORS.start else "2.8.2"
    return _FALLBACK_VERSION


@functools.cache
def _library(lib_version: str) -> Any:
    return _hl7apy().load_library(lib_version)


@functools.cache
def _listed_structures(lib_version: str) -> frozenset[str] | None:
    """HL7 Table 0354 (Message structure) as hl7apy has it; None where it has no tables (2.3)."""
    tables = getattr(_library(lib_version), "TABLES", None)
    if not tables or "HL70354" not in tables:
        return None
    return frozenset(tables["HL70354"][1])


def _shape(ref: Any, prefix: str) -> tuple[Any, ...]:
    out: list[tuple[Any, ...]] = []
    for name, child, cardinality, kind in ref[1]:
        if kind == "GRP":
            short = name.removeprefix(prefix)
            out.append((short, tuple(cardinality), ref[0], _shape(child, prefix)))
        else:
            out.append((name, tuple(cardinality)))
    return tuple(out)


@functools.cache
def _shapes(lib_version: str) -> dict[tuple[Any, ...], str]:
    """Each structure of Table 0354 by its shape (group names without the structure prefix)."""
    messages = _library(lib_version).MESSAGES
    listed = _listed_structures(lib_version) or frozenset()
    return {_shape(messages[name], f"{name}_"): name for name in sorted(listed) if name in messages}


@functools.lru_cache(maxsize=4096)
def _structure_id(message_type: str, trigger: str, lib_version: str) -> str | None:
    messages = _library(lib_version).MESSAGES
    if message_type == "ACK":
        # HL7 Table 0354: the general acknowledgment ACK serves every trigger event.
        return "ACK" if "ACK" in messages else None
    if not (_ID.match(message_type) and _ID.match(trigger)):
        return None
    candidate = f"{message_type}_{trigger}"
    listed = _listed_structures(lib_version)
    if candidate in messages and (listed is None or candidate in listed):
        return candidate
    for structure in _EVENT_STRUCTURES.get(candidate, ()):
        if structure in messages:
            return structure
    if candidate in messages:
        # hl7apy repeats some structures once per event (SIU_S14 ...): name the one
        # Table 0354 lists with the same shape.
        return _shapes(lib_version).get(_shape(messages[candidate], f"{candidate}_"), candidate)
    return None


@functools.lru_cache(maxsize=4096)
def message_structure(message_type: str, trigger: str, version: str) -> str | None:
    """The abstract message structure (HL7 Table 0354) of a message type and trigger event.

    ``message_structure("SIU", "S14", "2.5.1")`` is ``"SIU_S12"``; ``("ADT", "A04", "2.3")``
    is ``"ADT_A01"``; ``("ACK", "A01", "2.8")`` is ``"ACK"``. Versions 2.3 to 2.8.x are read
    from hl7apy's tables (a version hl7apy lacks, such as 2.7.1, uses its 2.7 tables).
    Cached: after the first call for a combination it costs a dictionary lookup.

    Args:
        message_type: MSH-9.1 (``"ADT"``).
        trigger: MSH-9.2 (``"A04"``); may be empty for ``ACK``.
        version: MSH-12 (``"2.5.1"``).

    Returns:
        The structure id, or None when the version is unsupported or the type and trigger
        have no structure in it.
    """
    lib_version = _library_version(version)
    if lib_version is None:
        return None
    return _structure_id(message_type.strip().upper(), trigger.strip().upper(), lib_version)


@attrs.frozen
class FieldSpec:
    """A segment field as HL7 defines it in one version, from hl7apy's tables.

    Attributes:
        segment: The segment id (``"PID"``).
        number: The field number (``3``); MSH-1 is the field separator, as in HL7.
        name: HL7's long name as hl7apy spells it (``"PATIENT_IDENTIFIER_LIST"``).
        datatype: The datatype (``"CX"``); ``"varies"`` for OBX-5 and the like.
        min_repetitions: 1 when the field is required, else 0.
        max_repetitions: The most repetitions allowed, or None when unbounded.
        table: The HL7 table of its values (``"HL70001"``), if any.
        version: The hl7apy tables used (``"2.5.1"``).
    """

    segment: str
    number: int
    name: str
    datatype: str
    min_repetitions: int
    max_repetitions: int | None
    table: str | None
    version: str

    @property
    def required(self) -> bool:
        """Whether HL7 requires the field (usage R: at least one repetition)."""
        return self.min_repetitions > 0


@functools.lru_cache(maxsize=1024)
def _segment_specs(segment_id: str, lib_version: str) -> tuple[FieldSpec | None, ...] | None:
    """The segment's fields by number (index 0 is field 1); None where hl7apy has no field.

    From v2.7 on, hl7apy leaves withdrawn fields out of its segment tables (v2.8 EVN starts
    at EVN_2): the number comes from the field's name, never from its position.
    """
    ref = _library(lib_version).SEGMENTS.get(segment_id)
    if ref is None:
        return None
    found: dict[int, FieldSpec] = {}
    for name, field_ref, (low, high), _kind in ref[1]:
        number = int(str(name).rpartition("_")[2])
        datatype = field_ref[2] if field_ref is not None and len(field_ref) > 2 else None
        long_name = field_ref[3] if field_ref is not None and len(field_ref) > 3 else None
        table = field_ref[4] if field_ref is not None and len(field_ref) > 4 else None
        found[number] = FieldSpec(
            segment=segment_id,
            number=number,
            name=str(long_name or name),
            datatype=str(datatype or "varies"),
            min_repetitions=int(low),
            max_repetitions=None if high == -1 else int(high),
            table=str(table) if table else None,
            version=lib_version,
        )
    return tuple(found.get(n) for n in range(1, max(found, default=0) + 1))


@functools.lru_cache(maxsize=8192)
def field_spec(segment_id: str, field: int, version: str) -> FieldSpec | None:
    """How HL7 ``version`` defines field ``field`` of segment ``segment_id``, from hl7apy.

    ``field_spec("PID", 3, "2.5.1")`` is the patient identifier list: datatype ``CX``,
    required, repeating. Cached.

    Returns:
        The definition, or None for an unsupported version, a Z-segment, an unknown segment,
        a field number beyond the segment's definition, or a field withdrawn from the
        standard that hl7apy leaves out of its v2.7+ tables (v2.8 EVN-1).
    """
    lib_version = _library_version(version)
    if lib_version is None:
        return None
    specs = _segment_specs(segment_id.strip().upper(), lib_version)
    if specs is None or not 0 < field <= len(specs):
        return None
    return specs[field - 1]


# --- Compiled structures ---------------------------------------------------------------------


class _Node:
    """One segment or group of a compiled structure (a tree built once per structure)."""

    __slots__ = (
        "children",
        "choice",
        "firsts",
        "full",
        "group",
        "key",
        "max",
        "members",
        "min",
        "name",
    )

    def __init__(
        self,
        name: str,
        full: str,
        key: str,
        cardinality: tuple[int, int],
        children: tuple[_Node, ...] | None,
        choice: bool = False,
    ) -> None:
        self.name = name  # "ORDER_OBSERVATION" or a segment id
        self.full = full  # hl7apy's name: "ORU_R01_ORDER_OBSERVATION"
        self.key = key  # the name paths match: digits dropped, renames applied
        self.min, self.max = cardinality  # max -1: unbounded
        self.group = children is not None
        self.children: tuple[_Node, ...] = children or ()
        self.choice = choice
        if children is None:
            self.firsts: frozenset[str] = frozenset((name,))
            self.members: frozenset[str] = self.firsts
            return
        firsts: set[str] = set()
        for child in children:
            firsts |= child.firsts
            if child.min > 0 and not choice:
                break
        self.firsts = frozenset(firsts)
        self.members = frozenset().union(*(c.members for c in children))

    def __repr__(self) -> str:
        return f"<_Node {self.full}>"


# One frame per open group: the group's node and the index of its child matched last.
_State: TypeAlias = tuple[tuple[_Node, int], ...]
# A missing required child: (level of the group instance on the stack, the child).
_Missing: TypeAlias = tuple[tuple[int, _Node], ...]
_OK, _EXCESS, _UNEXPECTED, _UNKNOWN, _SITE = range(5)


class _Move:
    """What one segment id does in one state: frames closed and opened, and what it broke."""

    __slots__ = ("closing", "note", "opening", "pops", "pushes", "state")

    def __init__(
        self,
        state: int,
        pops: int,
        pushes: tuple[_Node, ...],
        closing: _Missing,
        opening: _Missing,
        note: int,
    ) -> None:
        self.state = state  # the id of the state after the segment
        self.pops = pops
        self.pushes = pushes
        self.closing = closing  # missing children of the frames closed (old stack levels)
        self.opening = opening  # missing children skipped in the frames kept or opened
        self.note = note


def _required_between(node: _Node, after: int, before: int) -> list[_Node]:
    if node.choice:
        return []
    return [c for c in node.children[after + 1 : before] if c.min > 0]


def _strict_index(node: _Node, pos: int, sid: str) -> int | None:
    """The child that ``sid`` continues in order: a repeat of the current one, or a later one."""
    children = node.children
    if pos >= 0:
        current = children[pos]
        if current.max != 1 and sid in current.firsts:
            return pos
        if node.choice:
            return None
    for i in range(pos + 1, len(children)):
        if sid in children[i].firsts:
            return i
    return None


def _lenient_index(node: _Node, pos: int, sid: str) -> int | None:
    """Like `_strict_index`, but a group may be entered at any segment it holds."""
    children = node.children
    candidates = [pos] if node.choice and pos >= 0 else range(max(pos, 0), len(children))
    for i in candidates:
        if sid in children[i].members:
            return i
    return None


class _Structure:
    """A compiled message structure and its memoized transitions."""

    __slots__ = (
        "_closings",
        "_frames",
        "_ids",
        "_paths",
        "_size",
        "id",
        "root",
        "table",
        "version",
    )

    def __init__(self, structure_id: str, root: _Node, lib_version: str) -> None:
        self.id = structure_id
        self.root = root
        self.version = lib_version
        # States are numbered as they are met; state 0 is the start (nothing matched yet).
        self._frames: list[_State] = [((root, -1),)]
        self._ids: dict[_State, int] = {self._frames[0]: 0}
        self.table: list[dict[str, _Move]] = [{}]  # per state: segment id -> move
        self._size = 0
        self._closings: dict[int, _Missing] = {}
        self._paths: dict[tuple[_Node, str], tuple[frozenset[_Node], frozenset[_Node]]] = {}

    def move(self, state: int, sid: str) -> _Move:
        found = self.table[state].get(sid)
        if found is None:
            found = self._compute(self._frames[state], sid)
            if self._size < _MEMO_LIMIT:
                self.table[state][sid] = found
                self._size += 1
        return found

    def _state(self, frames: _State) -> int:
        found = self._ids.get(frames)
        if found is None:
            found = self._ids[frames] = len(self._frames)
            self._frames.append(frames)
            self.table.append({})
        return found

    def closing(self, state: int) -> _Missing:
        found = self._closings.get(state)
        if found is None:
            found = tuple(
                (level, child)
                for level, (node, pos) in enumerate(self._frames[state])
                for child in _required_between(node, pos, len(node.children))
            )
            self._closings[state] = found
        return found

    def _compute(self, state: _State, sid: str) -> _Move:
        # In order first, at the deepest open group and then outwards; else leniently, into a
        # group that holds sid anywhere; else sid stays with the deepest open group.
        for finder in (_strict_index, _lenient_index):
            for level in range(len(state) - 1, -1, -1):
                node, pos = state[level]
                index = finder(node, pos, sid)
                if index is not None:
                    return self._enter(state, level, index, sid)
        if sid[:1] == _Z:
            note = _SITE
        elif sid in self.root.members or sid in _library(self.version).SEGMENTS:
            note = _UNEXPECTED
        else:
            note = _UNKNOWN
        return _Move(self._state(state), 0, (), (), (), note)

    def _enter(self, state: _State, level: int, index: int, sid: str) -> _Move:
        closing = [
            (lv, child)
            for lv in range(len(state) - 1, level, -1)
            for child in _required_between(state[lv][0], state[lv][1], len(state[lv][0].children))
        ]
        node, pos = state[level]
        note = _OK
        opening: list[tuple[int, _Node]] = []
        if index == pos:
            note = _OK if node.children[index].max != 1 else _EXCESS
        else:
            opening += [(level, c) for c in _required_between(node, pos, index)]
        frames = [*state[:level], (node, index)]
        pushes: list[_Node] = []
        child = node.children[index]
        while child.group:
            pushes.append(child)
            # In order if possible (even past required children), else the first holding sid.
            inner = _strict_index(child, -1, sid)
            if inner is None:
                inner = _lenient_index(child, -1, sid)
            assert inner is not None  # sid is in child.members
            opening += [(len(frames), c) for c in _required_between(child, -1, inner)]
            frames.append((child, inner))
            child = child.children[inner]
        return _Move(
            self._state(tuple(frames)),
            len(state) - 1 - level,
            tuple(pushes),
            tuple(closing),
            tuple(opening),
            note,
        )

    def targets(self, node: _Node, step: str) -> tuple[frozenset[_Node], frozenset[_Node]]:
        """The groups a path step names under ``node``, and the groups leading to them."""
        key = (node, step)
        found = self._paths.get(key)
        if found is None:
            wanted = _canonical(step.removeprefix(f"{self.id}_"))
            direct = [c for c in node.children if c.group and _names(c, step, wanted)]
            if direct:
                found = (frozenset(direct), frozenset())
            else:
                hits: set[_Node] = set()
                via: set[_Node] = set()

                def visit(parent: _Node) -> bool:
                    seen = False
                    for c in parent.children:
                        if not c.group:
                            continue
                        if _names(c, step, wanted):
                            hits.add(c)
                            seen = True
                        elif visit(c):
                            via.add(c)
                            seen = True
                    return seen

                visit(node)
                found = (frozenset(hits), frozenset(via))
            self._paths[key] = found
        return found


def _canonical(name: str) -> str:
    # hl7apy numbers groups whose names would collide (AUTHORIZATION_CONTACT2): drop the digits.
    return name.rstrip("0123456789")


def _names(node: _Node, step: str, wanted: str) -> bool:
    return step in (node.name, node.full) or wanted == node.key


def _node(
    name: str, ref: Any, cardinality: Any, kind: str, structure: str, lib_version: str
) -> _Node:
    if kind != "GRP":
        return _Node(name, name, name, (int(cardinality[0]), int(cardinality[1])), None)
    short = name.removeprefix(f"{structure}_")
    plain = _canonical(short)
    key = _RENAMED_GROUPS.get(
        (lib_version, structure, plain), _RENAMED_GROUPS.get(("*", structure, plain), plain)
    )
    children = tuple(
        _node(cname, cref, ccard, ckind, structure, lib_version)
        for cname, cref, ccard, ckind in ref[1]
    )
    return _Node(
        short, name, key, (int(cardinality[0]), int(cardinality[1])), children, ref[0] == "choice"
    )


@functools.lru_cache(maxsize=512)
def _compiled(structure_id: str, lib_version: str) -> _Structure | None:
    ref = _library(lib_version).MESSAGES.get(structure_id)
    if ref is None:
        return None
    children = tuple(
        _node(name, cref, card, kind, structure_id, lib_version)
        for name, cref, card, kind in ref[1]
    )
    root = _Node(structure_id, structure_id, structure_id, (1, 1), children, ref[0] == "choice")
    return _Structure(structure_id, root, lib_version)


@functools.cache
def _flat(lib_version: str) -> _Structure:
    """The best effort for a message whose structure is unknown: one group holding it all."""
    return _Structure("", _Node("", "", "", (1, 1), ()), lib_version)


@functools.lru_cache(maxsize=64)
def _known_names(structure_id: str) -> frozenset[str]:
    """Every group name a path may use for ``structure_id`` in some supported version."""
    names: set[str] = set()
    for lib_version in sorted(_hl7apy().SUPPORTED_LIBRARIES):
        if _library_version(lib_version) != lib_version:
            continue
        compiled = _compiled(structure_id, lib_version)
        stack = [compiled.root] if compiled else []
        while stack:
            node = stack.pop()
            for child in node.children:
                if child.group:
                    names.update((child.name, child.full, child.key, _canonical(child.name)))
                    stack.append(child)
    return frozenset(names)


# --- Groups ----------------------------------------------------------------------------------


class Group:
    """One occurrence of a group of the message's structure; at the root, the whole message.

    Built by `group_tree` in one pass over the message's segment ids; holds the message's own
    `Segment` objects (nothing is copied or re-parsed). Z-segments and segments the structure
    does not expect at their position belong to the group open where they occur.

    Attributes:
        name: The group's name without the structure prefix, as hl7apy's tables spell it
            (``"ORDER_OBSERVATION"``); at the root, the structure id (``"ORU_R01"``), or
            ``""`` when the message's structure is unknown.
    """

    __slots__ = ("_items", "_node", "_parent", "_structure", "name")

    def __init__(self, node: _Node, parent: Group | None, structure: _Structure) -> None:
        self.name = node.name
        self._node = node
        self._parent = parent
        self._structure = structure
        self._items: list[Segment | Group] = []

    def __repr__(self) -> str:
        return f"<Group {self.path}: {len(self._items)} items>"

    def __iter__(self) -> Iterator[Segment | Group]:
        """The group's direct members, segments and groups, in message order."""
        return iter(self._items)

    @property
    def path(self) -> str:
        """Where the group is: ``"ORU_R01/PATIENT_RESULT[1]/ORDER_OBSERVATION[2]"``."""
        parent = self._parent
        if parent is None:
            return self.name
        same = [g for g in parent._items if isinstance(g, Group) and g._node is self._node]
        return f"{parent.path}/{self.name}[{same.index(self) + 1}]"

    def segments(self, segment_id: str | None = None, *, nested: bool = False) -> Iterator[Segment]:
        """The group's segments with this id (all when None), in message order.

        Args:
            segment_id: A segment id (``"NTE"``), or None for every segment.
            nested: Also look inside the groups nested in this one (an ORDER_OBSERVATION's
                ``segments("OBX", nested=True)`` is every OBX of the order).
        """
        for item in self._items:
            if isinstance(item, Group):
                if nested:
                    yield from item.segments(segment_id, nested=True)
            elif segment_id is None or item.id == segment_id:
                yield item

    def segment(self, segment_id: str, *, nested: bool = False) -> Segment | None:
        """The group's first segment with this id, or None (see `segments`)."""
        return next(self.segments(segment_id, nested=nested), None)

    def groups(self, path: str) -> Iterator[Group]:
        """The groups at ``path`` below this one, in message order.

        ``path`` names groups separated by ``/`` (``"ORDER_OBSERVATION/OBSERVATION"``). A name
        is a child group's name, or, when no child has it, the nearest groups below with it,
        so ``"ORDER_OBSERVATION"`` alone works from the root of an ORU_R01. Names are hl7apy's
        with or without the structure prefix; the v2.4+ names also work on v2.3 messages
        (``PATIENT_RESULT`` for v2.3's ``RESPONSE``). A name the structure has in another
        version only yields nothing.

        Raises:
            ValidationError: A name is not a group of this structure in any version 2.3-2.8.
        """
        steps = [s for s in path.strip().strip("/").split("/") if s]
        current: list[Group] = [self] if steps else []
        for step in steps:
            found: list[Group] = []
            for group in current:
                targets, via = self._structure.targets(group._node, step)
                if not targets and self._structure.id:
                    known = _known_names(self._structure.id)
                    short = _canonical(step.removeprefix(f"{self._structure.id}_"))
                    if step not in known and short not in known:
                        names = sorted(n for n in known if "_" not in n or n.count("_") < 2)
                        raise ValidationError.at(
                            "path",
                            f"a group of {self._structure.id} in some HL7 version, such as "
                            + ", ".join(names[:8]),
                            subject="group path",
                        )
                found.extend(_descend(group, targets, via))
            current = found
        return iter(current)


def _descend(group: Group, targets: frozenset[_Node], via: frozenset[_Node]) -> Iterator[Group]:
    for item in group._items:
        if isinstance(item, Group):
            if item._node in targets:
                yield item
            elif item._node in via:
                yield from _descend(item, targets, via)


# --- Walking a message ---------------------------------------------------------------------


@attrs.frozen
class _Finding:
    """A problem with the structured location an `Hl7ParseError` needs."""

    path: str
    message: str
    segment_index: int | None = None
    segment_id: str | None = None
    field: int | None = None


def _walk(message: Message, structure: _Structure, findings: list[_Finding] | None) -> Group:
    root = Group(structure.root, None, structure)
    if findings is not None:
        return _walk_reporting(message, structure, root, findings)
    stack = [root]
    items = root._items
    state = 0
    table = structure.table
    for segment in message:
        move = table[state].get(segment.id) or structure.move(state, segment.id)
        if move.pops:
            del stack[-move.pops :]
            items = stack[-1]._items
        for node in move.pushes:
            group = Group(node, stack[-1], structure)
            items.append(group)
            stack.append(group)
            items = group._items
        items.append(segment)
        state = move.state
    return root


def _walk_reporting(
    message: Message, structure: _Structure, root: Group, findings: list[_Finding]
) -> Group:
    """`_walk`, also reporting what is missing, misplaced or repeated too often."""
    stack = [root]
    state = 0
    for segment in message:
        move = structure.move(state, segment.id)
        _report_missing(findings, stack, move.closing, structure)
        if move.pops:
            del stack[-move.pops :]
        for node in move.pushes:
            group = Group(node, stack[-1], structure)
            stack[-1]._items.append(group)
            stack.append(group)
        stack[-1]._items.append(segment)
        _report_missing(findings, stack, move.opening, structure)
        if move.note not in (_OK, _SITE):
            findings.append(_misplaced(segment, move.note, structure))
        state = move.state
    _report_missing(findings, stack, structure.closing(state), structure)
    return root


def _report_missing(
    findings: list[_Finding], stack: list[Group], missing: _Missing, structure: _Structure
) -> None:
    for level, child in missing:
        kind = "group" if child.group else "segment"
        findings.append(
            _Finding(
                f"{stack[level].path}/{child.name}",
                f"the required {kind} {child.name} (HL7 {structure.version} {structure.id})",
            )
        )


def _misplaced(segment: Segment, note: int, structure: _Structure) -> _Finding:
    where = f"HL7 {structure.version} {structure.id}"
    if note == _EXCESS:
        expected = f"no further {segment.id} at this position ({where} allows one)"
    elif note == _UNKNOWN:
        expected = f"a segment id defined by HL7 {structure.version}, or a Z-segment"
    elif segment.id in structure.root.members:
        expected = f"a segment allowed at this position by {where} ({segment.id} is out of order)"
    else:
        expected = f"a segment of {where} ({segment.id} is not part of it)"
    return _Finding(
        f"segment {segment.index} ({segment.id})",
        expected,
        segment_index=segment.index,
        segment_id=segment.id,
    )


@attrs.frozen
class _Header:
    message_type: str
    trigger: str
    declared: str
    version: str


def _header(message: Message) -> _Header:
    msh = next(iter(message))
    return _Header(
        msh.value(9, 1, 1).strip().upper(),
        msh.value(9, 1, 2).strip().upper(),
        msh.value(9, 1, 3).strip().upper(),
        msh.value(12, 1, 1).strip(),
    )


def _count_problems(message: Message, structure: _Structure) -> int:
    findings: list[_Finding] = []
    _walk(message, structure, findings)
    return len(findings)


@functools.lru_cache(maxsize=4096)
def _candidates(head: _Header) -> tuple[_Structure, ...]:
    """The structures MSH-9.3 and MSH-9.1/9.2 name (once each, MSH-9.3 first), or flat."""
    lib_version = _grouping_version(head.version)
    declared = None
    if head.declared in _library(lib_version).MESSAGES:
        declared = _canonical_declared(head.declared, lib_version)
    from_event = _structure_id(head.message_type, head.trigger, lib_version)
    found = [_compiled(s, lib_version) for s in dict.fromkeys((declared, from_event)) if s]
    return tuple(s for s in found if s is not None) or (_flat(lib_version),)


def _structure_of(message: Message) -> _Structure:
    """The structure to read ``message`` by: MSH-9.3, else MSH-9.1/9.2, else flat."""
    options = _candidates(_header(message))
    if len(options) == 1:
        return options[0]
    # MSH-9.3 disagrees with Table 0354: take the one the segments fit better (ties: MSH-9.3).
    return min(options, key=lambda s: _count_problems(message, s))


_TREES: weakref.WeakKeyDictionary[Message, Group] = weakref.WeakKeyDictionary()


def group_tree(message: Message) -> Group:
    """The message as a tree of `Group` occurrences, by its structure's groups.

    The structure is MSH-9.3 when hl7apy's tables know it for MSH-12's version (or the
    nearest supported one), else the one of MSH-9.1 and MSH-9.2 (HL7 Table 0354); when the
    two disagree, the one the segments fit better. When neither is known, the root holds every
    segment and has no groups. Built once per message (kept while the message lives).
    """
    tree = _TREES.get(message)
    if tree is None:
        tree = _walk(message, _structure_of(message), None)
        _TREES[message] = tree
    return tree


def groups(message: Message, path: str) -> Iterator[Group]:
    """Each occurrence of the group at ``path`` in ``message``, in message order.

    ``groups(msg, "PATIENT_RESULT/ORDER_OBSERVATION")`` yields every order of an ORU^R01;
    each one's ``.segment("OBR")``, ``.segments("NTE")`` and ``.groups("OBSERVATION")``
    reach into it. See `Group.groups` for how names are matched across versions.

    Raises:
        ValidationError: A name in ``path`` is not a group of the message's structure in any
            supported version.
    """
    return group_tree(message).groups(path)


# --- Validation ------------------------------------------------------------------------------


def _field_path(segment_id: str, occurrence: int, field: int, repetition: int = 1) -> str:
    seg = segment_id if occurrence == 1 else f"{segment_id}[{occurrence}]"
    rep = "" if repetition == 1 else f"[{repetition}]"
    return f"{seg}-{field}{rep}"


def _occurrences(message: Message) -> Iterator[tuple[Segment, int]]:
    seen: dict[str, int] = {}
    for segment in message:
        seen[segment.id] = seen.get(segment.id, 0) + 1
        yield segment, seen[segment.id]


def _last_valued(segment: Segment) -> int:
    for number in range(len(segment), 0, -1):
        if segment.raw_field(number):
            return number
    return 0


def _header_findings(message: Message) -> tuple[list[_Finding], str | None]:
    """MSH-9, MSH-10 and MSH-12 (HL7 v2.5.1 section 2.14.9: all three are required)."""
    head = _header(message)
    msh = next(iter(message))
    out: list[_Finding] = []

    def at(field: int, expected: str, path: str | None = None) -> None:
        out.append(_Finding(path or f"MSH-{field}", expected, 1, "MSH", field))

    if not head.message_type:
        at(9, "a message type (HL7 Table 0076)", "MSH-9.1")
    elif not head.trigger and head.message_type != "ACK":
        at(9, "a trigger event (HL7 Table 0003)", "MSH-9.2")
    if not msh.value(10).strip():
        at(10, "a message control id")
    lib_version = None
    if not head.version:
        at(12, "a version id (HL7 Table 0104)")
    else:
        lib_version = _library_version(head.version)
        if lib_version is None:
            at(12, "an HL7 version from 2.3 to 2.8.x")
    if lib_version is None or not head.message_type:
        return out, lib_version
    from_event = _structure_id(head.message_type, head.trigger, lib_version)
    if head.declared:
        messages = _library(lib_version).MESSAGES
        if head.declared not in messages:
            at(
                9,
                f"a message structure of HL7 {lib_version}"
                + (f" ({from_event} for this type and trigger)" if from_event else ""),
                "MSH-9.3",
            )
        elif from_event and _canonical_declared(head.declared, lib_version) != from_event:
            at(9, f"{from_event} for this type and trigger (HL7 Table 0354)", "MSH-9.3")
    elif from_event is None and head.trigger:
        at(9, f"a type and trigger event with a structure in HL7 {lib_version}", "MSH-9")
    return out, lib_version


def _canonical_declared(declared: str, lib_version: str) -> str:
    if "_" not in declared:
        return declared
    kind, event = declared.split("_", 1)
    return _structure_id(kind, event, lib_version) or declared


def _field_count_findings(message: Message, lib_version: str) -> list[_Finding]:
    out = []
    for segment, occurrence in _occurrences(message):
        specs = _segment_specs(segment.id, lib_version)
        if specs is None:
            continue
        last = _last_valued(segment)
        if last > len(specs):
            first_extra = next(n for n in range(len(specs) + 1, last + 1) if segment.raw_field(n))
            out.append(
                _Finding(
                    _field_path(segment.id, occurrence, first_extra),
                    f"at most {len(specs)} fields in {segment.id} (HL7 {lib_version})",
                    segment.index,
                    segment.id,
                    first_extra,
                )
            )
    return out


def _required_field_findings(message: Message, lib_version: str) -> list[_Finding]:
    out = []
    for segment, occurrence in _occurrences(message):
        for spec in _segment_specs(segment.id, lib_version) or ():
            if spec is None or (segment.id == "MSH" and spec.number <= 2):
                continue  # the encoding characters, present since the message parsed
            if spec.required and not segment.raw_field(spec.number):
                out.append(_required_field(segment, occurrence, spec))
    return out


def _required_field(segment: Segment, occurrence: int, spec: FieldSpec) -> _Finding:
    return _Finding(
        _field_path(segment.id, occurrence, spec.number),
        f"a value: HL7 {spec.version} requires {spec.segment}-{spec.number} ({spec.name})",
        segment.index,
        segment.id,
        spec.number,
    )


def _findings(message: Message, strict: bool) -> list[_Finding]:
    findings, lib_version = _header_findings(message)
    if lib_version is None:
        return findings
    structure = _structure_of(message)
    if structure.id:
        _walk(message, structure, findings)
    else:
        for segment in message:
            if segment.id[:1] != _Z and segment.id not in _library(lib_version).SEGMENTS:
                findings.append(_misplaced(segment, _UNKNOWN, structure))
    findings += _field_count_findings(message, lib_version)
    if strict:
        findings += _required_field_findings(message, lib_version)
        findings += _hl7apy_findings(message, structure, lib_version, clean=not findings)
    return list(dict.fromkeys(findings))


def validate(message: Message, *, strict: bool = True) -> list[Problem]:
    """Every problem found in ``message``, each with where it is and what was expected.

    Lenient checks (``strict=False``) read only the tokenized message and hl7apy's tables:
    MSH-9, MSH-10 and MSH-12 present; the version supported (2.3 to 2.8.x); MSH-9.3 agreeing
    with the type and trigger (HL7 Table 0354); the structure's required segments and groups
    present, in order, and none repeated beyond its limit; no non-Z segment the version does
    not define; no valued field beyond the segment's definition. Z-segments are allowed
    anywhere (HL7 v2.5.1 section 2.8).

    Strict checks (the default) add every required field (hl7apy's segment tables) and
    hl7apy's own validation at ``VALIDATION_LEVEL.STRICT``: each segment is built as an hl7apy
    object and validated (datatypes and their formats, components), a failing segment field by
    field; when nothing else was found, the whole message too. hl7apy's exceptions become
    problems located at the field or segment, with messages written here (never hl7apy's
    text, which may quote the value).

    Returns:
        The problems, in message order by kind; empty when the message is valid.
    """
    return [Problem(f.path, f.message) for f in _findings(message, strict)]


def check(message: Message, *, strict: bool = True) -> None:
    """Raise for the first problem `validate` finds; return when there is none.

    Raises:
        Hl7ParseError: The first problem, with its segment index and id and its field when
            the problem has them (so that an ACK's ERR segment can point at it).
    """
    findings = _findings(message, strict)
    if not findings:
        return
    first = findings[0]
    expected = first.message if first.segment_index else f"{first.message} at {first.path}"
    raise Hl7ParseError(
        expected,
        segment_index=first.segment_index,
        segment_id=first.segment_id,
        field=first.field,
    )


# --- Strict validation by hl7apy -------------------------------------------------------------

# hl7apy.exceptions.ValidationError texts name elements only in these forms; the element
# names are read from them, and only when they are structure names (capitals, digits, _).
_HL7APY_MISSING: Final = re.compile(r"^Missing required child ([A-Z0-9_]+)\.([A-Z0-9_]+)$")
_HL7APY_LIMIT: Final = re.compile(r"^Child limit exceeded ([A-Z0-9_]+)\.([A-Z0-9_]+)$")
_HL7APY_DATATYPE: Final = re.compile(r"^Datatype \S+ is not correct for ([A-Z0-9_]+)\.([A-Z0-9_]+)")
_FIELD_NAME: Final = re.compile(r"^([A-Z][A-Z0-9]{2})_(\d+)$")
_COMPONENT_NAME: Final = re.compile(r"^([A-Z][A-Z0-9_]*?)_(\d+)$")


def _encoding(message: Message, lib_version: str) -> dict[str, str]:
    d = message.delimiters
    chars = {
        "FIELD": d.field,
        "COMPONENT": d.component,
        "REPETITION": d.repetition,
        "ESCAPE": d.escape,
        "SUBCOMPONENT": d.subcomponent,
        "SEGMENT": "\r",
        "GROUP": "\r",
    }
    msh2 = next(iter(message)).raw_field(2)
    if len(msh2) > 4 and lib_version >= "2.7":  # HL7 v2.7 section 2.5.5: truncation character
        chars["TRUNCATION"] = msh2[4]
    return chars


def _raw(segment: Segment, replace: dict[int, str] | None = None, last: int | None = None) -> str:
    """The segment's text, with some fields replaced, and cut after field ``last``."""
    sep = segment.d.field
    first = 3 if segment.id == "MSH" else 1
    end = len(segment) if last is None else min(last, len(segment))
    fields = [(replace or {}).get(n, segment.raw_field(n)) for n in range(first, end + 1)]
    if segment.id == "MSH":
        return f"MSH{sep}{segment.raw_field(2)}{sep}{sep.join(fields)}"
    return sep.join([segment.id, *fields])


def _hl7apy_findings(
    message: Message, structure: _Structure, lib_version: str, *, clean: bool
) -> list[_Finding]:
    parser = require("hl7apy.parser")
    strict = require("hl7apy.consts").VALIDATION_LEVEL.STRICT
    validator = require("hl7apy.validation").Validator
    encoding = _encoding(message, lib_version)
    segments_known = _library(lib_version).SEGMENTS
    out: list[_Finding] = []
    for segment, occurrence in _occurrences(message):
        if segment.id[:1] == _Z or segment.id not in segments_known:
            continue
        # Fields beyond the definition were reported already, and hl7apy would refuse them
        # all: leave them out, and the withdrawn ones it has no table for (reported here).
        specs = _segment_specs(segment.id, lib_version) or ()
        withdrawn = [
            n for n, spec in enumerate(specs, start=1) if spec is None and segment.raw_field(n)
        ]
        out += [_withdrawn(segment, occurrence, n, lib_version) for n in withdrawn]
        text = _raw(segment, dict.fromkeys(withdrawn, ""), last=len(specs))
        try:
            built = parser.parse_segment(text, lib_version, encoding, strict)
        except Exception as exc:
            out += _field_findings(segment, occurrence, lib_version, encoding) or [
                _segment_finding(segment, exc, lib_version)
            ]
            continue
        try:
            validator.validate(built)
        except Exception as exc:
            out.append(_validation_finding(exc, segment, occurrence, lib_version))
    if clean and not out and structure.id:
        out += _message_findings(message, structure, lib_version, encoding)
    return out


def _field_findings(
    segment: Segment, occurrence: int, lib_version: str, encoding: dict[str, str]
) -> list[_Finding]:
    """Find which fields of a segment hl7apy rejects, by building each one alone."""
    parser = require("hl7apy.parser")
    strict = require("hl7apy.consts").VALIDATION_LEVEL.STRICT
    out = []
    for spec in _segment_specs(segment.id, lib_version) or ():
        if spec is None or (segment.id == "MSH" and spec.number <= 2):
            continue
        for repetition, text in enumerate(segment.repetitions(spec.number), start=1):
            if not text:
                continue
            name = f"{segment.id}_{spec.number}"
            try:
                parser.parse_field(text, name, lib_version, encoding, strict)
            except Exception as exc:
                out.append(
                    _Finding(
                        _field_path(segment.id, occurrence, spec.number, repetition),
                        _value_expected(exc, spec),
                        segment.index,
                        segment.id,
                        spec.number,
                    )
                )
    return out


def _value_expected(exc: Exception, spec: FieldSpec) -> str:
    """What hl7apy expected of a field value, by exception class (never its text)."""
    exceptions = require("hl7apy.exceptions")
    where = f"HL7 {spec.version} {spec.segment}-{spec.number}, datatype {spec.datatype}"
    if isinstance(exc, exceptions.MaxLengthReached):
        limit = exc.limit if isinstance(exc.limit, int) else None
        return f"at most {limit} characters ({where})" if limit else f"a shorter value ({where})"
    if isinstance(exc, ValueError | TypeError) or _library(spec.version).is_base_datatype(
        spec.datatype
    ):
        return f"a valid {spec.datatype} value ({where})"
    if isinstance(
        exc,
        exceptions.ChildNotValid
        | exceptions.ChildNotFound
        | exceptions.InvalidName
        | exceptions.OperationNotAllowed
        | exceptions.MaxChildLimitReached,
    ):
        return f"only the components and subcomponents {spec.datatype} defines ({where})"
    return f"a value hl7apy accepts ({where}; it raised {type(exc).__name__})"


def _withdrawn(segment: Segment, occurrence: int, number: int, lib_version: str) -> _Finding:
    return _Finding(
        _field_path(segment.id, occurrence, number),
        f"no value: {segment.id}-{number} is withdrawn in HL7 {lib_version}",
        segment.index,
        segment.id,
        number,
    )


def _segment_finding(segment: Segment, exc: Exception, lib_version: str) -> _Finding:
    return _Finding(
        f"segment {segment.index} ({segment.id})",
        f"a {segment.id} segment hl7apy can build for HL7 {lib_version} "
        f"(it raised {type(exc).__name__})",
        segment.index,
        segment.id,
    )


def _validation_finding(
    exc: Exception, segment: Segment, occurrence: int, lib_version: str
) -> _Finding:
    """An hl7apy validation error on one segment, located at the field it names."""
    text = str(exc) if isinstance(exc, require("hl7apy.exceptions").ValidationError) else ""
    for pattern, what in (
        (_HL7APY_MISSING, "required"),
        (_HL7APY_LIMIT, "repetitions"),
        (_HL7APY_DATATYPE, "datatype"),
    ):
        match = pattern.match(text)
        if match is None:
            continue
        parent, child = match[1], match[2]
        field = _FIELD_NAME.match(child) if parent == segment.id else _FIELD_NAME.match(parent)
        if field is None or field[1] != segment.id:
            break
        number = int(field[2])
        spec = field_spec(segment.id, number, lib_version)
        path = _field_path(segment.id, occurrence, number)
        component = _COMPONENT_NAME.match(child) if parent != segment.id else None
        if what == "required" and component is None and spec is not None:
            return _required_field(segment, occurrence, spec)
        if what == "required" and component is not None:
            expected = (
                f"component {component[2]} of {segment.id}-{number}: HL7 {lib_version} requires it"
            )
        elif what == "repetitions" and spec is not None and spec.max_repetitions == 0:
            return _withdrawn(segment, occurrence, number, lib_version)  # v2.7: cardinality 0
        elif what == "repetitions":
            limit = spec.max_repetitions if spec else None
            expected = f"at most {limit} repetitions of {segment.id}-{number} (HL7 {lib_version})"
        else:
            datatype = spec.datatype if spec else "its datatype"
            expected = f"{segment.id}-{number} of datatype {datatype} (HL7 {lib_version})"
        return _Finding(path, expected, segment.index, segment.id, number)
    return _Finding(
        f"segment {segment.index} ({segment.id})",
        f"a {segment.id} segment valid in HL7 {lib_version} "
        f"(hl7apy's {type(exc).__name__}{': ' + _hl7apy_kind(text) if text else ''})",
        segment.index,
        segment.id,
    )


def _hl7apy_kind(text: str) -> str:
    """The kind of an hl7apy validation error, from the fixed start of its text only."""
    for start, kind in (
        ("Invalid children detected", "children not allowed here"),
        ("Unknown element found", "an unknown element"),
        ("Invalid element found", "an invalid element"),
        ("Missing required child", "a required child missing"),
        ("Child limit exceeded", "too many repetitions"),
        ("Datatype", "a wrong datatype"),
    ):
        if text.startswith(start):
            return kind
    return "rejected"


def _message_findings(
    message: Message, structure: _Structure, lib_version: str, encoding: dict[str, str]
) -> list[_Finding]:
    """hl7apy's validation of the whole message, built on caredomain's grouping.

    hl7apy's own parser groups segments without regard to order (in v2.8 ORU^R01 it takes
    an OBX after OBR for a second COMMON_ORDER and rejects a valid message), and drops
    Z-segments, ending the group they are in. So the hl7apy message is assembled here from
    `group_tree`'s groups, and its segments parsed one by one; Z-segments are left out.
    """
    core = require("hl7apy.core")
    parser = require("hl7apy.parser")
    strict = require("hl7apy.consts").VALIDATION_LEVEL.STRICT

    def fill(target: Any, group: Group) -> None:
        for item in group:
            if isinstance(item, Group):
                child = core.Group(item._node.full, version=lib_version, validation_level=strict)
                target.add(child)
                fill(child, item)
            elif item.id[:1] != _Z:
                last = len(_segment_specs(item.id, lib_version) or ())
                parsed = parser.parse_segment(_raw(item, last=last), lib_version, encoding, strict)
                if item.id == "MSH" and group is tree:
                    target.msh = parsed  # an hl7apy Message is born with an MSH: replace it
                else:
                    target.add(parsed)

    try:
        built = core.Message(
            structure.id, version=lib_version, validation_level=strict, encoding_chars=encoding
        )
        tree = _walk(message, structure, None)
        fill(built, tree)
        built.validate()
    except Exception as exc:
        return [_structure_finding(exc, structure)]
    return []


def _structure_finding(exc: Exception, structure: _Structure) -> _Finding:
    exceptions = require("hl7apy.exceptions")
    text = str(exc) if isinstance(exc, exceptions.ValidationError) else ""
    where = f"HL7 {structure.version} {structure.id}"
    for pattern, expected in (
        (_HL7APY_MISSING, "the required {child} in {parent} ({where})"),
        (_HL7APY_LIMIT, "fewer {child} in {parent} ({where})"),
    ):
        match = pattern.match(text)
        field = _FIELD_NAME.match(match[1]) if match is not None else None
        if match is not None and field is not None:
            return _Finding(
                f"{field[1]}-{field[2]}",
                expected.format(child=match[2], parent=match[1], where=where),
                segment_id=field[1],
                field=int(field[2]),
            )
        if match is not None:
            parent = match[1].removeprefix(f"{structure.id}_")
            child = match[2].removeprefix(f"{structure.id}_")
            return _Finding(structure.id, expected.format(child=child, parent=parent, where=where))
    if isinstance(exc, exceptions.MaxChildLimitReached):
        expected = f"fewer repetitions of a segment or group ({where})"
    elif isinstance(exc, exceptions.ChildNotValid):
        expected = f"only segments and groups {where} defines, in order"
    else:
        expected = f"a message hl7apy accepts as {where} (it raised {type(exc).__name__})"
    return _Finding(structure.id, expected)
