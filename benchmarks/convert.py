"""The ``convert`` area: HL7 v2 -> FHIR R4 JSON end to end, beside the peers merely parsing.

The workload is the sample corpus of ``benchmarks.hl7v2`` (``examples/hl7v2``: 27 messages
of ADT, SIU, REF/RRI and ORU, v2.3 to v2.8). One batch is the whole corpus once, so ops/s
is messages/second, single core, one process. The ``-large`` cases run on the large corpus of
``benchmarks.hl7v2`` (``examples/hl7v2/large``: 16 HL7 v2.8 messages of ADT, SIU, REF and ORU,
about 22 segments and 4.65 KB each), one batch being that corpus once.

Cases (``python -m benchmarks convert``):

* ``convert-r4-json``: what ``caredomain convert`` does per message: parse, read into domain
  values, write the FHIR R4 resources, assemble the transaction Bundle (fullUrls, resolved
  references, conditional creates, Provenance) and ``json.dumps`` it; against python-hl7's
  ``hl7.parse`` (parse only). The issue's goal: at least 2x.
* ``convert-r4-json-vs-hl7apy``: the same against hl7apy's ``parse_message`` (parse only), on
  the messages hl7apy reads. The goal: at least 50x.
* ``convert-r4-json-large`` and ``convert-r4-json-large-vs-hl7apy``: the same two cases on
  the large v2.8 corpus (hl7apy's failures counted and left out of both sides).

The area's own report (`run`) adds:

* Medplum's ``Hl7Message.parse`` (npm ``@medplum/core``, Node) parse-only rate on the same
  texts, when Node can load that package; otherwise it says why it was skipped.
* Memory of the streaming case: ``convert_stream(split_stream(file))`` over a batch file
  made by repeating the corpus, at several sizes, every Bundle serialized to JSON and
  dropped (as the CLI writes it out), each size in a fresh process: its peak resident
  memory (``getrusage``) after imports and at the end. Equal peaks at 2, 20 and 200 MB
  mean memory does not grow with the input. `traced_peak` gives tracemalloc's view of
  the Python allocations (about ten times slower, so not in the report).

``python -m benchmarks.convert [--stream-mb 200]`` is the full run, with a 200 MB stream by
default (the ``python -m benchmarks`` report streams 20 MB).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks._harness import Case, run_case
from benchmarks.hl7v2 import (
    CORPUS,
    CORPUS_DIR,
    HL7APY,
    LARGE_CORPUS,
    LARGE_CORPUS_DIR,
    PYTHON_HL7,
    SENDER,
    Sample,
    hl7apy_failures,
    hl7apy_parse,
    python_hl7_parse,
)
from caredomain.adapters.convert import Converted, convert, convert_stream, split_stream

_CHUNK = 1 << 20


def ours_convert(texts: Sequence[str]) -> list[str]:
    """Every message to its FHIR R4 transaction Bundle, as JSON text."""
    return [json.dumps(convert(text, profile=SENDER), separators=(",", ":")) for text in texts]


def check(texts: Sequence[str]) -> Any:
    def run() -> None:
        for text, out in zip(texts, ours_convert(texts), strict=True):
            bundle = json.loads(out)
            assert bundle["type"] == "transaction", text[:40]
            assert bundle["entry"][-1]["resource"]["resourceType"] == "Provenance"

    return run


def cases(corpus: Sequence[Sample] = CORPUS, suffix: str = "") -> list[Case]:
    """The end-to-end cases on ``corpus``, beside each peer's parse-only rate.

    ``suffix`` follows ``convert-r4-json`` in the case names (``-large`` for the large corpus).
    """
    texts = [sample.text for sample in corpus]
    failed = hl7apy_failures(corpus)
    readable = [sample.text for sample in corpus if sample.name not in failed]
    apy = f"{HL7APY} ({len(readable)} of {len(texts)} msgs, {len(failed)} failed)"
    return [
        Case(
            f"convert-r4-json{suffix}",
            lambda: ours_convert(texts),
            f"{PYTHON_HL7} (parse only)",
            lambda: python_hl7_parse(texts),
            len(texts),
            check(texts),
        ),
        Case(
            f"convert-r4-json{suffix}-vs-hl7apy",
            lambda: ours_convert(readable),
            f"{apy} (parse only)",
            lambda: hl7apy_parse(readable),
            len(readable),
            check(readable),
        ),
    ]


CASES = cases() + cases(LARGE_CORPUS, "-large")


# --- Medplum (optional) --------------------------------------------------------------------

_MEDPLUM_SCRIPT = r"""
const { Hl7Message } = require('@medplum/core');
const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
for (const t of texts) Hl7Message.parse(t);  // warm up
let best = Infinity;
for (let r = 0; r < 5; r++) {
  let n = 0; const start = process.hrtime.bigint();
  while (true) {
    for (const t of texts) Hl7Message.parse(t);
    n += texts.length;
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    if (s >= 0.5) { best = Math.min(best, s / n); break; }
  }
}
const version = require('@medplum/core/package.json').version;
console.log(JSON.stringify({ ops: 1 / best, version }));
"""


def medplum_rate(texts: Sequence[str]) -> tuple[float | None, str]:
    """Medplum ``Hl7Message.parse`` messages/second, or None and why it was skipped."""
    node = shutil.which("node")
    if node is None:
        return None, "skipped: no Node.js"
    probe = subprocess.run(
        [node, "-e", "require('@medplum/core')"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return None, "skipped: @medplum/core could not be loaded (here: no network to install it)"
    result = subprocess.run(
        [node, "-e", _MEDPLUM_SCRIPT],
        input=json.dumps(list(texts)).encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        return None, "skipped: the Medplum script failed"
    found = json.loads(result.stdout)
    return float(found["ops"]), f"@medplum/core {found['version']}"


# --- memory of the stream ------------------------------------------------------------------


def write_batch(path: Path, megabytes: float, directory: Path = CORPUS_DIR) -> int:
    """Write the corpus (raw bytes, every file but batch.hl7) again and again: ``megabytes``.

    Returns:
        The number of messages written.
    """
    messages = []
    for file in sorted(directory.glob("*.hl7")):
        if file.name == "batch.hl7":
            continue
        data = file.read_bytes().removeprefix(b"\xef\xbb\xbf").strip(b"\x0b\x1c\r\n")
        messages.append(data + b"\r\n")
    block = b"\n".join(messages) + b"\n"
    target = int(megabytes * 1_000_000)
    count = 0
    with open(path, "wb") as handle:
        written = 0
        while written < target:
            handle.write(block)
            written += len(block)
            count += len(messages)
    return count


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


# The child imports caredomain only (not this module, whose import parses the corpus with
# hl7apy), so that its memory after imports is caredomain's own.
_STREAM_CHILD = r"""
import json, resource, sys, time
from caredomain.adapters.convert import Converted, convert_stream, split_stream
from caredomain.adapters.hl7v2 import SenderProfile

def chunks(path):
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            yield chunk

profile = SenderProfile(timezone="America/Chicago")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
converted = failed = size = 0
for result in convert_stream(split_stream(chunks(sys.argv[1])), profile=profile):
    if isinstance(result, Converted):
        converted += 1
        size += len(json.dumps(result.bundle, separators=(",", ":")))
    else:
        failed += 1
elapsed = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open("/proc/self/status") as status:  # Linux: the resident set now
    now = next((int(l.split()[1]) for l in status if l.startswith("VmRSS:")), 0)
print(json.dumps({
    "messages": converted + failed, "failed": failed, "output_mb": round(size / 1e6, 1),
    "rss_before_mb": round(before / 1024, 1), "rss_peak_mb": round(after / 1024, 1),
    "rss_end_mb": round(now / 1024, 1),
    "seconds": round(elapsed, 1), "msgs_per_s": round((converted + failed) / elapsed),
}))
"""


def stream_in_child(path: Path) -> dict[str, Any]:
    """Convert every message of ``path`` as the CLI does, in a fresh process.

    Returns the counts, the time, and the child's peak resident memory after its imports
    and at the end (``resource.getrusage`` ``ru_maxrss``: a high-water mark, so growth at
    any moment would show).
    """
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", _STREAM_CHILD, str(path)], capture_output=True, check=True, cwd=root
    ).stdout
    found: dict[str, Any] = json.loads(out)
    found["input_mb"] = round(path.stat().st_size / 1e6, 1)
    return found


def traced_peak(path: Path) -> float:
    """tracemalloc's peak (MB) over streaming ``path``: Python allocations only (slow)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for result in convert_stream(split_stream(_chunks(path)), profile=SENDER):
        if isinstance(result, Converted):
            json.dumps(result.bundle)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return round(peak / 1e6, 2)


def run(*, as_json: bool = False, match: str = "", sizes: Sequence[float] = (2, 20)) -> list[Any]:
    """The area's report: Medplum's parse rate and the stream's memory at several sizes."""
    records: list[dict[str, Any]] = []
    texts = [sample.text for sample in CORPUS]
    if match in "convert-medplum-parse":
        rate, label = medplum_rate(texts)
        record: dict[str, Any] = {"area": "convert", "name": "convert-medplum-parse", "peer": label}
        if rate is not None:
            record["peer_ops"] = round(rate, 1)
        records.append(record)
        if not as_json:
            shown = f"{rate:,.0f} msgs/s" if rate is not None else ""
            print(f"convert-medplum-parse  {label} {shown}".rstrip(), flush=True)
    if match in "convert-stream-memory":
        with tempfile.TemporaryDirectory() as tmp:
            for megabytes in sizes:
                path = Path(tmp) / f"batch-{megabytes}mb.hl7"
                write_batch(path, megabytes)
                found = stream_in_child(path)
                path.unlink()
                records.append({"area": "convert", "name": "convert-stream-memory", **found})
                if not as_json:
                    print(
                        f"convert-stream-memory  {found['input_mb']:>7,.1f} MB in, "
                        f"{found['messages']:>8,} msgs ({found['failed']} failed), "
                        f"{found['output_mb']:>7,.1f} MB of Bundles out, peak RSS "
                        f"{found['rss_peak_mb']:.1f} MB (after imports "
                        f"{found['rss_before_mb']:.1f} MB, at the end {found['rss_end_mb']:.1f} "
                        f"MB), {found['msgs_per_s']:,} msgs/s",
                        flush=True,
                    )
    return records


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.convert",
        description="The corpus cases with longer repeats, Medplum, and the stream's memory.",
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--stream-mb", type=float, default=200, help="largest streamed batch (MB)")
    args = parser.parse_args(argv)
    print(f"corpus: {len(CORPUS)} messages from {CORPUS_DIR}", flush=True)
    print(f"large corpus: {len(LARGE_CORPUS)} messages from {LARGE_CORPUS_DIR}", flush=True)
    width = max(len(case.name) for case in CASES)
    for case in CASES:
        result = run_case("convert", case, repeat=args.repeat, min_time=args.min_time)
        print(result.line(width), flush=True)
    sizes = sorted({min(2.0, args.stream_mb), min(20.0, args.stream_mb), args.stream_mb})
    run(sizes=sizes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
