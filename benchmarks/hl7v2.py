"""The ``hl7v2`` area: reading the sample corpus, beside python-hl7 and hl7apy.

The workload is the corpus in ``examples/hl7v2`` (see its README): every ``*.hl7`` file
except ``batch.hl7`` and MLLP-framed files, 27 messages of ADT, SIU, REF/RRI and ORU across
HL7 v2.3 to v2.8, from 4 to 23 segments (about 8 segments and 850 bytes a message). One batch
is the whole corpus, once, so ops/s is messages/second. Single core, one process.

The ``-large`` cases run on the second corpus, ``examples/hl7v2/large`` (see its README): 16
HL7 v2.8 messages of ADT, SIU, REF and ORU, 18 to 25 segments and 4.0 to 5.2 KB each (about
22 segments and 4.65 KB on average), the shape the project's goals were stated for ("27
real-shaped v2.8 messages (ADT, SIU, REF, ORU; about 20 segments and 4.3 KB each)"). One
batch is that whole corpus, once.

Cases (``python -m benchmarks hl7v2``):

* ``hl7v2-parse-map`` and ``hl7v2-parse-map-vs-hl7apy``: what an interface does with each
  message: caredomain ``parse`` then ``read`` to domain values (patients, encounters,
  appointments, referrals, observation results), against the peers *merely parsing* (the
  issue's goal: at least 2x python-hl7 and 50x hl7apy).
* ``hl7v2-parse-map-large`` and ``hl7v2-parse-map-large-vs-hl7apy``: the same two cases on
  the large v2.8 corpus (hl7apy's failures counted and left out of both sides, as below).
* ``hl7v2-parse``: caredomain ``parse`` against python-hl7 ``hl7.parse``, parse only.
* ``hl7v2-parse-read``: caredomain ``parse`` plus what a mapper reads first: MSH-9, the
  identifier of every PID-3 repetition and every OBX-5; the peer still parses only
  (python-hl7 splits every field eagerly, so its parse already did that work).
* ``hl7v2-parse-vs-hl7apy`` and ``hl7v2-parse-read-vs-hl7apy``: the same, against hl7apy's
  ``parse_message`` (default arguments: ``find_groups=True``, its default validation level).
  Messages hl7apy cannot read are counted and named (its label says how many); both sides
  of these cases run on the messages it reads, so the ratio compares the same work.

Every side gets the same input: text (``str``), segments ended by CR, no byte-order mark
(python-hl7 splits on CR only, and neither peer decodes bytes by MSH-18). caredomain's own
decoding of bytes (MSH-18, BOM, MLLP) is therefore not timed here.

Differences that remain, by design of each library: caredomain splits segments only and
leaves fields for first use (its module rule 1); python-hl7 builds nested lists of every
field, repetition and component; hl7apy also builds typed element objects and assigns
segments to the groups of the message structure.

``python -m benchmarks.hl7v2`` is the full run: longer repeats, then a per-file table
(messages/second of each library on each file) and hl7apy's failures with their exception
types. ``cases(corpus)`` returns the case list.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import hl7
from hl7apy.parser import parse_message

from benchmarks._harness import Case, package_label, run_case
from caredomain.adapters.hl7v2 import Message, SenderProfile, parse, read

CORPUS_DIR = Path(__file__).resolve().parent.parent / "examples" / "hl7v2"
LARGE_CORPUS_DIR = CORPUS_DIR / "large"
PYTHON_HL7 = package_label("hl7", "python-hl7")
HL7APY = package_label("hl7apy")


@attrs.frozen
class Sample:
    """One corpus message, ready for every library.

    Attributes:
        name: The file name.
        text: The message as text: CR-terminated segments, no BOM, no frame.
    """

    name: str
    text: str


def _decoded(data: bytes) -> str:
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # the one ISO 8859-1 sample (MSH-18 8859/1)
    return text.replace("\r\n", "\r").replace("\n", "\r").strip() + "\r"


def load_corpus(directory: Path = CORPUS_DIR) -> list[Sample]:
    """Every ``*.hl7`` sample except the batch file and MLLP-framed files, by name."""
    samples = []
    for path in sorted(directory.glob("*.hl7")):
        data = path.read_bytes()
        if path.name == "batch.hl7" or data.startswith(b"\x0b"):
            continue
        samples.append(Sample(path.name, _decoded(data)))
    return samples


# --- the work ------------------------------------------------------------------------------


def ours_parse(texts: Sequence[str]) -> list[Message]:
    return [parse(text) for text in texts]


def ours_parse_read(texts: Sequence[str]) -> list[object]:
    """Parse, then read MSH-9, every PID-3 identifier and every OBX-5."""
    out: list[object] = []
    for text in texts:
        msg = parse(text)
        read: list[str] = [msg.type]
        for pid in msg.segments("PID"):
            read.extend(pid.value(3, rep, 1) for rep in range(1, len(pid.repetitions(3)) + 1))
        read.extend(obx.value(5) for obx in msg.segments("OBX"))
        out.append(read)
    return out


SENDER = SenderProfile(timezone="America/Chicago")
"""The corpus's sender: two of its messages carry times without a UTC offset."""


def ours_parse_map(texts: Sequence[str]) -> list[object]:
    """Parse, then map to domain values (`caredomain.adapters.hl7v2.read`): the full job."""
    return [read(parse(text), profile=SENDER) for text in texts]


def python_hl7_parse(texts: Sequence[str]) -> list[Any]:
    return [hl7.parse(text) for text in texts]


def hl7apy_parse(texts: Sequence[str]) -> list[Any]:
    return [parse_message(text) for text in texts]


def hl7apy_failures(samples: Sequence[Sample]) -> dict[str, str]:
    """File name -> exception type, for the samples hl7apy cannot parse."""
    failed = {}
    for sample in samples:
        try:
            parse_message(sample.text)
        except Exception as exc:  # a peer's failure of any kind is counted, not raised
            failed[sample.name] = type(exc).__name__
    return failed


# --- agreement -----------------------------------------------------------------------------


def check_python_hl7(texts: Sequence[str]) -> Callable[[], None]:
    def check() -> None:
        for text, ours, theirs in zip(
            texts, ours_parse(texts), python_hl7_parse(texts), strict=True
        ):
            assert len(ours) == len(theirs), text[:40]
            assert ours.control_id == str(theirs.segment("MSH")[10])

    return check


def check_hl7apy(texts: Sequence[str]) -> Callable[[], None]:
    def check() -> None:
        for ours, theirs in zip(ours_parse(texts), hl7apy_parse(texts), strict=True):
            assert ours.control_id == theirs.msh.msh_10.to_er7()

    return check


# --- cases ---------------------------------------------------------------------------------


def _sides(corpus: Sequence[Sample]) -> tuple[list[str], list[str], str]:
    """Every text, the texts hl7apy reads, and hl7apy's label saying how many it failed."""
    texts = [sample.text for sample in corpus]
    failed = hl7apy_failures(corpus)
    readable = [sample.text for sample in corpus if sample.name not in failed]
    return texts, readable, f"{HL7APY} ({len(readable)} of {len(texts)} msgs, {len(failed)} failed)"


def map_cases(corpus: Sequence[Sample], suffix: str = "") -> list[Case]:
    """The full job (parse + map to domain values), beside each peer merely parsing."""
    texts, readable, apy = _sides(corpus)
    return [
        Case(
            f"hl7v2-parse-map{suffix}",
            lambda: ours_parse_map(texts),
            f"{PYTHON_HL7} (parse only)",
            lambda: python_hl7_parse(texts),
            len(texts),
            check_python_hl7(texts),
        ),
        Case(
            f"hl7v2-parse-map{suffix}-vs-hl7apy",
            lambda: ours_parse_map(readable),
            f"{apy} (parse only)",
            lambda: hl7apy_parse(readable),
            len(readable),
            check_hl7apy(readable),
        ),
    ]


def cases(corpus: Sequence[Sample]) -> list[Case]:
    """The cases on ``corpus``: the full job (parse + map), then parsing, beside each peer."""
    texts, readable, apy = _sides(corpus)
    return [
        *map_cases(corpus),
        Case(
            "hl7v2-parse",
            lambda: ours_parse(texts),
            PYTHON_HL7,
            lambda: python_hl7_parse(texts),
            len(texts),
            check_python_hl7(texts),
        ),
        Case(
            "hl7v2-parse-read",
            lambda: ours_parse_read(texts),
            f"{PYTHON_HL7} (parse only)",
            lambda: python_hl7_parse(texts),
            len(texts),
            check_python_hl7(texts),
        ),
        Case(
            "hl7v2-parse-vs-hl7apy",
            lambda: ours_parse(readable),
            apy,
            lambda: hl7apy_parse(readable),
            len(readable),
            check_hl7apy(readable),
        ),
        Case(
            "hl7v2-parse-read-vs-hl7apy",
            lambda: ours_parse_read(readable),
            f"{apy} (parse only)",
            lambda: hl7apy_parse(readable),
            len(readable),
            check_hl7apy(readable),
        ),
    ]


CORPUS = load_corpus()
LARGE_CORPUS = load_corpus(LARGE_CORPUS_DIR)
CASES = cases(CORPUS) + map_cases(LARGE_CORPUS, "-large")


# --- the full run --------------------------------------------------------------------------


def _per_second(func: Callable[[], object], min_time: float) -> float:
    """Calls per second of ``func``, best of 3 runs of at least ``min_time`` each."""
    best = float("inf")
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while True:
            func()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        best = min(best, elapsed / calls)
    return 1 / best


def _file_line(sample: Sample, width: int, hl7apy_reads: bool, min_time: float) -> str:
    one = [sample.text]
    rates = [
        _per_second(lambda: ours_parse(one), min_time),
        _per_second(lambda: ours_parse_read(one), min_time),
        _per_second(lambda: python_hl7_parse(one), min_time),
    ]
    apy = f"{_per_second(lambda: hl7apy_parse(one), min_time):,.0f}" if hl7apy_reads else "-"
    columns = "  ".join(f"{rate:>10,.0f}" for rate in rates)
    return f"{sample.name:<{width}}  {len(parse(sample.text)):>4}  {columns}  {apy:>10}"


def per_file(corpus: Sequence[Sample], min_time: float = 0.05) -> list[str]:
    """One line per file: messages/second for each library (``-`` where hl7apy fails)."""
    failed = hl7apy_failures(corpus)
    width = max(len(sample.name) for sample in corpus)
    header = "  ".join(f"{n:>10}" for n in ("caredomain", "+read", "python-hl7", "hl7apy"))
    lines = [f"{'file':<{width}}  {'segs':>4}  {header}"]
    for sample in corpus:
        lines.append(_file_line(sample, width, sample.name not in failed, min_time))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hl7v2",
        description="The corpus cases with longer repeats, a per-file table, hl7apy failures.",
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--skip-files", action="store_true", help="no per-file table")
    args = parser.parse_args(argv)
    print(f"corpus: {len(CORPUS)} messages from {CORPUS_DIR}", flush=True)
    print(f"large corpus: {len(LARGE_CORPUS)} messages from {LARGE_CORPUS_DIR}", flush=True)
    width = max(len(case.name) for case in CASES)
    for case in CASES:
        result = run_case("hl7v2", case, repeat=args.repeat, min_time=args.min_time)
        print(result.line(width), flush=True)
    failed = hl7apy_failures(CORPUS)
    print(f"{HL7APY} failed on {len(failed)} of {len(CORPUS)} messages:", flush=True)
    for name, error in failed.items():
        print(f"  {name}: {error}", flush=True)
    if not args.skip_files:
        for line in per_file(CORPUS):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
