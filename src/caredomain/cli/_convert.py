"""``caredomain convert`` and ``caredomain validate``: HL7 v2 to FHIR Bundles, and checks.

``convert [FILE|DIR|-]... --to r4|r5 [--out DIR] [--bundle transaction|message]
[--sender-tz ZONE]`` cuts every input into messages (`split_stream`: a file may hold one
message or a batch; a directory gives its ``.hl7``, ``.er7``, ``.txt`` and ``.msg`` files in
name order; ``-`` or nothing is stdin), converts each (`convert_stream`) and writes, on
stdout, one Bundle as JSON when exactly one message came in, else NDJSON, one Bundle per
line, in input order. With ``--out DIR`` each input gets its own file instead:
``DIR/<name>.json`` for one message, ``DIR/<name>.ndjson`` for several. A message that
cannot be converted is a line on stderr naming its file, its index in the file (1-based),
the reason code and the error (positions, never content); nothing is written for it and the
run goes on. On a terminal, stderr shows a progress bar. The last stderr line is the
summary: ``converted N, failed M (reason count, ...)``.

``convert --from fhir --to hl7v2 [FILE|DIR|-]...`` reads FHIR Bundles (a JSON document or
NDJSON, ``--fhir-version r4|r5``) and writes each as an ER7 message (`to_hl7v2`: an
Appointment Bundle as SIU, a ServiceRequest and Task Bundle as REF), segments ended by CR,
each message followed by a line feed; failures and the summary as above.

``validate FILE... [--strict] [--to r4|r5]`` reads HL7 v2 (a file of messages) or FHIR JSON
(a resource, a Bundle, or NDJSON of resources) and writes every problem as an NDJSON line
``{"file", "index", "location", "problem"}`` on stdout: for HL7 v2 the parse and the
lenient structure checks (``--strict``: hl7apy's strict validation too), for FHIR
fhir.resources' validation of each resource in the version of ``--to`` and, in a Bundle,
references that do not resolve.

Exit codes: 0 on success; 1 when any message failed (convert) or any problem was found
(validate); 2 on usage errors (a missing input, a bad option or zone, an unwritable
``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Final

import pendulum

from caredomain.adapters.convert import (
    ConversionFailure,
    Converted,
    convert_stream,
    split_stream,
    to_hl7v2,
)
from caredomain.adapters.fhir._models import FhirVersion
from caredomain.adapters.fhir._models import validate as validate_resource
from caredomain.adapters.fhir.bundles import unresolved_references
from caredomain.adapters.hl7v2._message import Hl7ParseError, parse
from caredomain.adapters.hl7v2.profile import SenderProfile
from caredomain.adapters.hl7v2.structure import validate as validate_structure
from caredomain.cli._args import sender_timezone
from caredomain.core.errors import CareDomainError, ValidationError

__all__ = ["register"]

_CONVERT: Final = "caredomain convert"
_VALIDATE: Final = "caredomain validate"
_CHUNK: Final = 1 << 20
# The files a directory input gives: HL7 v2 (.hl7 is the usual extension; .er7, .txt and
# .msg are common exports), and for validate FHIR JSON and NDJSON too.
_HL7_SUFFIXES: Final = frozenset({".hl7", ".er7", ".txt", ".msg"})
_JSON_SUFFIXES: Final = frozenset({".json", ".ndjson"})
_BAR_WIDTH: Final = 30
_BAR_EVERY: Final = 0.2  # seconds between progress bar redraws


class _Input:
    """One input: a path, or stdin (``-``)."""

    def __init__(self, name: str, path: Path | None) -> None:
        self.name = name
        self.path = path

    @property
    def size(self) -> int | None:
        return self.path.stat().st_size if self.path is not None else None

    def chunks(self, progress: _Progress | None) -> Iterator[bytes]:
        handle: IO[bytes]
        if self.path is None:
            handle = sys.stdin.buffer
            close = False
        else:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed below, after streaming
            close = True
        try:
            while chunk := handle.read(_CHUNK):
                if progress is not None:
                    progress.read(len(chunk))
                yield chunk
        finally:
            if close:
                handle.close()


def _inputs(specs: list[str], command: str, suffixes: frozenset[str]) -> list[_Input] | None:
    """The inputs in order (a directory: its files with one of ``suffixes``, by name).

    None (after a usage message) when one does not exist.
    """
    found = []
    for spec in specs or ["-"]:
        if spec == "-":
            found.append(_Input("-", None))
            continue
        path = Path(spec)
        if path.is_dir():
            files = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
            )
            found += [_Input(str(p), p) for p in files]
        elif path.is_file():
            found.append(_Input(spec, path))
        else:
            print(f"{command}: error: no such file or directory: {spec}", file=sys.stderr)
            return None
    return found


class _Progress:
    """A progress bar on stderr (only made when stderr is a terminal)."""

    def __init__(self, total: int | None, stream: IO[str]) -> None:
        self.total = total
        self.stream = stream
        self.done_bytes = 0
        self.messages = 0
        self.failed = 0
        self.last = 0.0

    def read(self, count: int) -> None:
        self.done_bytes += count

    def tick(self, failed: bool) -> None:
        self.messages += 1
        self.failed += failed
        now = time.monotonic()
        if now - self.last >= _BAR_EVERY:
            self.last = now
            self.draw()

    def draw(self) -> None:
        counts = f"{self.messages:,} messages, {self.failed:,} failed"
        if self.total:
            share = min(1.0, self.done_bytes / self.total)
            filled = int(share * _BAR_WIDTH)
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            line = f"\r{share:4.0%} [{bar}] {counts}"
        else:
            line = f"\r{counts}"
        self.stream.write(line)
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()


class _Stdout:
    """One Bundle as JSON for a single message in; NDJSON as soon as a second one comes."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.seen = 0
        self.held: dict[str, Any] | None = None

    def message(self, bundle: dict[str, Any] | None) -> None:
        self.seen += 1
        if self.held is not None and self.seen >= 2:
            self._line(self.held)
            self.held = None
        if bundle is None:
            return
        if self.seen == 1:
            self.held = bundle
        else:
            self._line(bundle)

    def _line(self, bundle: dict[str, Any]) -> None:
        self.stream.write(json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n")

    def close(self) -> None:
        if self.held is not None:
            self.stream.write(json.dumps(self.held, ensure_ascii=False, indent=2) + "\n")
            self.held = None
        self.stream.flush()


class _OutFile:
    """``--out DIR``: one file per input, ``.json`` for one message, ``.ndjson`` else."""

    def __init__(self, directory: Path, name: str, used: set[str]) -> None:
        stem = Path(name).name if name != "-" else "stdin"
        stem, n = stem.rsplit(".", 1)[0] if "." in stem else stem, 1
        base = stem
        while base in used:
            n += 1
            base = f"{stem}-{n}"
        used.add(base)
        self.directory = directory
        self.base = base
        self.path = directory / f"{base}.ndjson"
        self.handle = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - see close
        self.messages = 0
        self.written = 0

    def message(self, bundle: dict[str, Any] | None) -> None:
        self.messages += 1
        if bundle is not None:
            self.written += 1
            line = json.dumps(bundle, ensure_ascii=False, separators=(",", ":"))
            self.handle.write(line + "\n")

    def close(self) -> None:
        self.handle.close()
        if self.written == 0:
            self.path.unlink()
        elif self.messages == 1:
            self.path.replace(self.directory / f"{self.base}.json")


def _convert(args: argparse.Namespace) -> int:
    if args.source == "fhir":
        return _from_fhir(args)
    if args.to not in ("r4", "r5"):
        print(f"{_CONVERT}: error: --to must be r4 or r5 for HL7 v2 input", file=sys.stderr)
        return 2
    inputs = _inputs(args.inputs, _CONVERT, _HL7_SUFFIXES)
    if inputs is None:
        return 2
    out_dir: Path | None = None
    if args.out is not None:
        out_dir = Path(args.out)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            # Probe that files can be written there, before any input is read (a usage
            # error, exit 2, not a failure halfway through).
            with tempfile.TemporaryFile(dir=out_dir):
                pass
        except OSError as exc:
            print(
                f"{_CONVERT}: error: cannot write into {args.out}: {exc.strerror}",
                file=sys.stderr,
            )
            return 2
    profile = SenderProfile(timezone=args.sender_tz)
    progress = None
    if sys.stderr.isatty():
        sizes = [i.size for i in inputs]
        total = None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)
        progress = _Progress(total, sys.stderr)
    stdout = _Stdout(sys.stdout) if out_dir is None else None
    reasons: Counter[str] = Counter()
    converted = 0
    used: set[str] = set()
    try:
        for source in inputs:
            sink = _OutFile(out_dir, source.name, used) if out_dir is not None else stdout
            assert sink is not None
            try:
                results = convert_stream(
                    split_stream(source.chunks(progress)),
                    fhir_version=args.to.upper(),
                    bundle=args.bundle,
                    profile=profile,
                    validate=args.validate,
                    embed_source=args.embed_source,
                )
                for result in results:
                    if isinstance(result, Converted):
                        converted += 1
                        sink.message(result.bundle)
                    else:
                        reasons[result.reason.value] += 1
                        sink.message(None)
                        _report_failure(source.name, result, progress)
                    if progress is not None:
                        progress.tick(not result.ok)
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                if progress is not None:
                    progress.clear()
                print(f"{_CONVERT}: {source.name}: cannot read: {reason}", file=sys.stderr)
                reasons["unreadable-file"] += 1
            finally:
                if isinstance(sink, _OutFile):
                    sink.close()
    finally:
        if stdout is not None:
            stdout.close()
        if progress is not None:
            progress.clear()
    failed = sum(reasons.values())
    summary = f"converted {converted}, failed {failed}"
    if failed:
        summary += " (" + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())) + ")"
    print(summary, file=sys.stderr)
    return 1 if failed else 0


def _documents(data: bytes) -> Iterator[tuple[int, Any, tuple[str, str] | None]]:
    """Each JSON document of ``data`` (one document, or NDJSON lines), with its index.

    Yields (index, the parsed JSON or None, (location, expected) when it is not JSON): the
    index counts documents (non-blank lines), the location names the physical line.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        yield 1, None, ("$", "UTF-8 JSON text")
        return
    try:
        yield 1, json.loads(text), None
        return
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            yield 1, None, (f"line {exc.lineno} column {exc.colno}", "valid JSON")
            return
    index = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        index += 1
        try:
            yield index, json.loads(line), None
        except json.JSONDecodeError as exc:
            yield index, None, (f"line {number} column {exc.colno}", "valid JSON")


def _from_fhir(args: argparse.Namespace) -> int:
    """``--from fhir --to hl7v2``: each Bundle to an SIU or REF message (`to_hl7v2`)."""
    if args.to != "hl7v2":
        print(f"{_CONVERT}: error: --from fhir needs --to hl7v2", file=sys.stderr)
        return 2
    inputs = _inputs(args.inputs, _CONVERT, _JSON_SUFFIXES)
    if inputs is None:
        return 2
    now = pendulum.now("UTC")
    converted = 0
    reasons: Counter[str] = Counter()
    for source in inputs:
        try:
            data = b"".join(source.chunks(None))
        except OSError as exc:
            print(f"{_CONVERT}: {source.name}: cannot read: {exc.strerror}", file=sys.stderr)
            reasons["unreadable-file"] += 1
            continue
        for index, bundle, unreadable in _documents(data):
            if unreadable is not None:
                where, expected = unreadable
                reason, detail = "unreadable", f"expected {expected} ({where})"
            else:
                try:
                    message = to_hl7v2(
                        bundle,
                        fhir_version=args.fhir_version.upper(),
                        now=now,
                        timezone=args.sender_tz,
                    )
                except CareDomainError as exc:
                    reason, detail = "invalid-content", str(exc)
                except Exception as exc:  # a reader's own failure: report it, go on
                    reason, detail = "internal-error", type(exc).__name__
                else:
                    sys.stdout.write(message + "\n")
                    converted += 1
                    continue
            reasons[reason] += 1
            print(
                f"{_CONVERT}: {source.name}: message {index}: {reason}: {detail}", file=sys.stderr
            )
    sys.stdout.flush()
    failed = sum(reasons.values())
    summary = f"converted {converted}, failed {failed}"
    if failed:
        summary += " (" + ", ".join(f"{r} {n}" for r, n in sorted(reasons.items())) + ")"
    print(summary, file=sys.stderr)
    return 1 if failed else 0


def _report_failure(name: str, failure: ConversionFailure, progress: _Progress | None) -> None:
    if progress is not None:
        progress.clear()
    print(
        f"{_CONVERT}: {name}: message {failure.index}: {failure.reason.value}: {failure.detail}",
        file=sys.stderr,
    )


# --------------------------------------------------------------------------------------
# validate
# --------------------------------------------------------------------------------------


def _problem(name: str, index: int, location: str, problem: str) -> dict[str, Any]:
    return {"file": name, "index": index, "location": location, "problem": problem}


def _hl7_problems(name: str, chunks: Iterable[bytes], strict: bool) -> Iterator[dict[str, Any]]:
    for index, data in enumerate(split_stream(chunks), start=1):
        try:
            message = parse(data)
        except Hl7ParseError as exc:
            yield _problem(name, index, exc.location, exc.expected)
            continue
        try:
            problems = validate_structure(message, strict=strict)
        except CareDomainError as exc:
            yield _problem(name, index, "message", str(exc))
            continue
        for problem in problems:
            yield _problem(name, index, problem.path, problem.message)


def _resource_problems(
    name: str, index: int, resource: Any, version: FhirVersion
) -> Iterator[dict[str, Any]]:
    if not isinstance(resource, dict):
        yield _problem(name, index, "$", "expected a FHIR resource (a JSON object)")
        return
    if resource.get("resourceType") != "Bundle":
        try:
            validate_resource(resource, version)
        except ValidationError as exc:
            for p in exc.problems:
                yield _problem(name, index, p.path, p.message)
        return
    listed = resource.get("entry")
    entries: list[Any] = listed if isinstance(listed, list) else []
    shell = {**resource, "entry": [_without_resource(e) for e in entries]}
    try:
        validate_resource(shell, version)
    except ValidationError as exc:
        for p in exc.problems:
            yield _problem(name, index, p.path, p.message)
    for n, entry in enumerate(entries):
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if inner is None:
            continue
        for found in _resource_problems(name, index, inner, version):
            found["location"] = f"Bundle.entry[{n}].resource.{found['location']}"
            yield found
    for location in unresolved_references(resource):
        yield _problem(name, index, location, "a reference that resolves inside the Bundle")


def _without_resource(entry: Any) -> Any:
    if isinstance(entry, dict):
        return {k: v for k, v in entry.items() if k != "resource"}
    return entry


def _fhir_problems(name: str, data: bytes, version: FhirVersion) -> Iterator[dict[str, Any]]:
    for index, document, unreadable in _documents(data):
        if unreadable is not None:
            yield _problem(name, index, *unreadable)
        else:
            yield from _resource_problems(name, index, document, version)


def _validate(args: argparse.Namespace) -> int:
    inputs = _inputs(args.files, _VALIDATE, _HL7_SUFFIXES | _JSON_SUFFIXES)
    if inputs is None:
        return 2
    version = FhirVersion(args.to.upper())
    count = 0
    for source in inputs:
        chunks = source.chunks(None)
        first = next(chunks, b"")
        head = first.lstrip(b"\xef\xbb\xbf \t\r\n")
        rest = _prepend(first, chunks)
        if head.startswith((b"{", b"[")):
            problems = _fhir_problems(source.name, b"".join(rest), version)
        else:
            problems = _hl7_problems(source.name, rest, args.strict)
        for problem in problems:
            count += 1
            sys.stdout.write(json.dumps(problem, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    print(f"{count} problem(s) in {len(inputs)} file(s)", file=sys.stderr)
    return 1 if count else 0


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


# --------------------------------------------------------------------------------------
# Parsers
# --------------------------------------------------------------------------------------


def _lower(text: str) -> str:
    return text.lower()


def register(commands: Any) -> None:
    """Add the ``convert`` and ``validate`` subcommands to the CLI's subparsers."""
    convert = commands.add_parser(
        "convert",
        help="convert HL7 v2 messages to FHIR R4/R5 Bundles (JSON or NDJSON)",
        description=(
            "Convert HL7 v2 messages (files, batch files, directories, or stdin) to FHIR "
            "Bundles: one message in gives one Bundle JSON on stdout, several give NDJSON, "
            "one Bundle per line in input order. Failures go to stderr with their file and "
            "message index; the exit status is 1 if any message failed."
        ),
    )
    convert.add_argument(
        "inputs", nargs="*", metavar="FILE|DIR|-", help="inputs (default: - for stdin)"
    )
    convert.add_argument(
        "--to",
        required=True,
        type=_lower,
        choices=("r4", "r5", "hl7v2"),
        help="the FHIR release; hl7v2 with --from fhir",
    )
    convert.add_argument(
        "--from",
        dest="source",
        type=_lower,
        default="hl7v2",
        choices=("hl7v2", "fhir"),
        help="the input format (default hl7v2)",
    )
    convert.add_argument(
        "--fhir-version",
        type=_lower,
        default="r4",
        choices=("r4", "r5"),
        help="with --from fhir: the release the Bundles follow (default r4)",
    )
    convert.add_argument("--out", metavar="DIR", help="write one file per input into DIR")
    convert.add_argument(
        "--bundle",
        type=_lower,
        default="transaction",
        choices=("transaction", "message"),
        help="Bundle type (default transaction; message puts a MessageHeader first)",
    )
    convert.add_argument(
        "--sender-tz",
        type=sender_timezone,
        default=None,
        metavar="ZONE",
        help=(
            "IANA zone for timestamps sent without a UTC offset (default: none, an error); "
            "with --from fhir, the zone of dates to write as times"
        ),
    )
    convert.add_argument(
        "--validate", action="store_true", help="validate each Bundle with fhir.resources (slow)"
    )
    convert.add_argument(
        "--embed-source",
        action="store_true",
        help="put each message in its Bundle as a Binary the Provenance points at",
    )
    convert.set_defaults(handler=_convert)

    validate = commands.add_parser(
        "validate",
        help="check HL7 v2 messages or FHIR JSON; problems as NDJSON",
        description=(
            "Check HL7 v2 messages (parse and structure) or FHIR JSON (fhir.resources "
            "validation of each resource; references in Bundles). Every problem is an NDJSON "
            "line on stdout with its file, index and location; exit 1 if any."
        ),
    )
    validate.add_argument("files", nargs="+", metavar="FILE|DIR|-", help="inputs")
    validate.add_argument(
        "--strict", action="store_true", help="HL7 v2: also hl7apy's strict validation"
    )
    validate.add_argument(
        "--to",
        type=_lower,
        default="r4",
        choices=("r4", "r5"),
        help="FHIR: the release to validate against (default r4)",
    )
    validate.set_defaults(handler=_validate)
