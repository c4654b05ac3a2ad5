"""caredomain's benchmarks: each area measured beside a peer library, in the same run.

The convention
--------------

* One module per area, ``benchmarks/<area>.py`` (``core``, ``scheduling``...), named like the
  package under ``src/caredomain/``. Modules whose name starts with ``_`` are not areas.
* Each area module exposes ``CASES``: a sequence of :class:`benchmarks._harness.Case`. A case
  is a name, a zero-argument callable doing a fixed *batch* of operations with caredomain,
  and the same batch done by a named peer (``pydantic 2.x``, ``numpy``, ``pint``...), or by a
  plain-Python baseline labelled as such when no peer library does the job.
* The peer does *equivalent* work: the same data, the same validation strictness as close as
  the peer allows. Every difference that remains is written in a comment next to the peer.
  A peer is never configured to look worse; caredomain being slower is a fine result.
* A case may carry a ``check`` that asserts both sides give the same answer on the batch; it
  runs before anything is timed, so a fast wrong answer is never reported.
* Peers come from the ``bench`` extra in ``pyproject.toml`` (``pip install -e '.[bench]'``);
  the modules import them at top level, so a missing peer is an import error that says so.

Running
-------

From the repository root, with caredomain installed::

    python -m benchmarks              # list the areas and their cases
    python -m benchmarks core         # run one area (several may be named)
    python -m benchmarks all          # run every area
    python -m benchmarks core --json  # a JSON list of results, for recording

Each case prints one line: the case, caredomain's throughput, the peer's throughput measured
in the same run, and the ratio ours/peer (above 1 means caredomain is faster). Timing is
best-of-N over repeats long enough to drown timer noise, after a warm-up (see ``_harness``).
Recorded results belong in ``benchmarks/results/`` (ignored by git), named by date and
machine.
"""
