"""The ``authorization`` area: requirement checks over an indexed rule pack.

The claim measured is the issue's: *evaluation time does not grow with the number of rules
that cannot match a line*. The workload:

* **Packs.** 10,000 generated rules in 10,000 disjoint "slots" of ten consecutive codes
  (8,000 CPT-like slots 10000-89999, 2,000 HCPCS-like slots K0000-L9999). Each slot has one
  rule, whose pattern is, by slot number, an exact code (60%), a five-code range (20%) or a
  four-character prefix covering the slot (20%); its other matchers are drawn with a fixed
  seed: a setting (20% of rules), an age bound (10%), a diagnosis list (10%), a units
  threshold per calendar year (5%), an effective date (50%) and an end date (10%), and its
  outcome rotates through auth-needed (with documents), no-auth and not-covered. Both packs
  also hold one fallback rule. The **100-rule pack** is the rules of every 100th slot; the
  **10,000-rule pack** adds the 9,900 others, whose codes sit between the small pack's
  (interleaved: the index's dicts and segment lists are 100 times larger) but which no
  line uses.
* **Lines.** Codes drawn from the 100 slots of the small pack (three in four a code the slot's
  rule matches, the others any code of the slot, so some lines match no rule but the
  fallback), in requests of 20 lines that each carry their own
  date of service (2019-2027), setting, patient age and sex, diagnoses and ordering
  provider; lines carry ``prior_units`` so threshold rules decide rather than ask.

Both packs give every line the same answer (checked), so the two timings differ only by the
rules that cannot match. Cases (``python -m benchmarks authorization``; ops are lines):

* ``auth-check-10k-vs-scan``: the 10,000-rule pack through its index, beside the *same
  engine* with the index replaced by a naive linear scan (every rule's patterns and matchers
  tried on every line: `ScanPack`), on a batch of 200 lines.
* ``auth-check-10k-vs-100``: the 10,000-rule pack beside the 100-rule pack on a batch of
  20,000 lines; the printed ratio is ``time(100) / time(10,000)`` (the goal ``time(10,000)
  <= 1.5 x time(100)`` is a ratio of at least 0.67).

``python -m benchmarks.authorization`` runs the cases and then the one-shot run: 1,000,000
lines (50,000 requests of 20) once through each pack, reporting lines per second and the
time ratio (``--lines N`` to change the size, ``--skip-million`` to leave it out).

Differences that remain: none by design. The scan is the same `check` code with the same
`Rule.assess` and precedence sort; only the candidate lookup differs (the index's few dict
probes and binary searches against a loop over every rule and pattern).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pendulum

from benchmarks._harness import Case, Result, run_case
from caredomain.authorization.check import (
    Demographics,
    PayerPlan,
    PlannedService,
    Requirement,
    ServiceContext,
    iter_check,
)
from caredomain.authorization.rules import (
    CodePattern,
    Covered,
    LineFacts,
    Match,
    Outcome,
    PaNeeded,
    Rule,
    RulePack,
    Setting,
)
from caredomain.core.codes import CPT, HCPCS, Coding
from caredomain.core.parties import AdministrativeGender

SEED = 20260302
SLOTS = 10_000
SMALL_EVERY = 100
REQUEST_LINES = 20
PAYER = PayerPlan("bench-payer")

OUTCOMES = (
    Outcome(
        Covered.COVERED,
        PaNeeded.AUTH_NEEDED,
        doc_needed=["clinical"],
        documents=["Office notes", "Imaging report"],
        reason="needs prior authorization",
    ),
    Outcome(Covered.COVERED, PaNeeded.NO_AUTH, reason="no prior authorization"),
    Outcome(Covered.NOT_COVERED, None, reason="not a covered benefit"),
)
SETTINGS = (Setting.OFFICE, Setting.OUTPATIENT_HOSPITAL, Setting.HOME, Setting.INPATIENT)
DIAGNOSES = ("E11.9", "I10", "I25.10", "M17.11", "G35", "J44.9", "Z96.641", "H02.831")


def slot_codes(slot: int) -> tuple[str, list[str]]:
    """The code system and the ten codes of ``slot``."""
    if slot < 8000:
        base = 10000 + 10 * slot
        return CPT, [str(base + k) for k in range(10)]
    letter = "K" if slot < 9000 else "L"
    base = 10 * ((slot - 8000) % 1000)
    return HCPCS, [f"{letter}{base + k:04d}" for k in range(10)]


def slot_hits(slot: int) -> list[str]:
    """The codes of ``slot`` its rule's pattern matches."""
    _system, codes = slot_codes(slot)
    kind = slot % 10
    return [codes[1]] if kind < 6 else codes[2:7] if kind < 8 else codes


def slot_rule(slot: int, rng: random.Random) -> Rule:
    system, codes = slot_codes(slot)
    kind = slot % 10
    if kind < 6:
        pattern = CodePattern.parse(codes[1])
    elif kind < 8:
        pattern = CodePattern.parse(f"{codes[2]}-{codes[6]}")
    else:
        pattern = CodePattern.parse(codes[0][:4] + "*")
    fields: dict[str, Any] = {
        "id": f"BENCH-{slot:05d}",
        "outcome": OUTCOMES[slot % 3],
        "system": system,
        "codes": (pattern,),
        "source": "generated for the benchmark",
    }
    if rng.random() < 0.2:
        fields["settings"] = {rng.choice(SETTINGS)}
    if rng.random() < 0.1:
        fields["age_at_least"] = rng.choice((18, 50, 65))
    if rng.random() < 0.1:
        fields["diagnoses"] = rng.sample(DIAGNOSES, 3)
    if rng.random() < 0.05:
        fields["units_over"] = rng.choice((4, 12, 20))
    if rng.random() < 0.5:
        year = rng.randint(2018, 2025)
        fields["effective"] = dt.date(year, rng.randint(1, 12), 1)
        if rng.random() < 0.2:
            fields["end"] = dt.date(year + rng.randint(1, 4), 1, 1)
    return Rule(**fields)


def fallback() -> Rule:
    return Rule("BENCH-DEFAULT", OUTCOMES[1], fallback=True)


def build_packs() -> tuple[RulePack, RulePack]:
    """The 100-rule and the 10,000-rule packs (each with the fallback)."""
    rng = random.Random(SEED)
    rules = [slot_rule(slot, rng) for slot in range(SLOTS)]
    small = [r for i, r in enumerate(rules) if i % SMALL_EVERY == 0]
    return (
        RulePack("bench-100", [*small, fallback()]),
        RulePack("bench-10k", [*rules, fallback()]),
    )


Request = tuple[list[PlannedService], Demographics, ServiceContext, dt.date]


def build_requests(count: int, seed: int = SEED) -> list[Request]:
    """``count`` requests of 20 lines, codes from the small pack's slots."""
    rng = random.Random(seed)
    active = list(range(0, SLOTS, SMALL_EVERY))
    out = []
    for r in range(count):
        lines = []
        for i in range(REQUEST_LINES):
            slot = rng.choice(active)
            system, codes = slot_codes(slot)
            lines.append(
                PlannedService(
                    f"{r}-{i}",
                    system,
                    rng.choice(slot_hits(slot) if rng.random() < 0.75 else codes),
                    rng.randint(1, 3),
                    prior_units=rng.randint(0, 20),
                )
            )
        patient = Demographics(
            pendulum.Date(rng.randint(1930, 2020), rng.randint(1, 12), rng.randint(1, 28)),
            rng.choice((AdministrativeGender.FEMALE, AdministrativeGender.MALE)),
        )
        context = ServiceContext(
            setting=rng.choice(SETTINGS),
            diagnoses=[Coding.of("ICD-10-CM", d) for d in rng.sample(DIAGNOSES, 2)],
            ordering_provider="1234567893",
        )
        day = dt.date(rng.randint(2019, 2027), rng.randint(1, 12), rng.randint(1, 28))
        out.append((lines, patient, context, day))
    return out


class ScanPack:
    """The naive peer: `RulePack.matches` done by trying every rule on every line."""

    def __init__(self, pack: RulePack) -> None:
        self.rules = pack.rules

    def matches(self, facts: LineFacts) -> list[Match]:
        out = []
        for rule in self.rules:
            if rule.system is not None and rule.system != facts.system:
                continue
            pattern = rule.pattern_for(facts.code)
            if pattern is None:
                continue
            missing = rule.assess(facts)
            if missing is not None:
                out.append(Match(rule, pattern, rule.precedence(pattern), missing))
        out.sort(key=lambda m: m.rule.id)
        out.sort(key=lambda m: m.key, reverse=True)
        return out


def answers(pack: Any, requests: Sequence[Request]) -> Iterator[Requirement]:
    for lines, patient, context, day in requests:
        yield from iter_check(pack, lines, patient, PAYER, day, context=context)


def run_all(pack: Any, requests: Sequence[Request]) -> int:
    """Check every request; return how many lines need prior authorization."""
    needed = 0
    for requirement in answers(pack, requests):
        if requirement.pa_needed is PaNeeded.AUTH_NEEDED:
            needed += 1
    return needed


SMALL, LARGE = build_packs()
SCAN = ScanPack(LARGE)
SCAN_REQUESTS = build_requests(10)  # 200 lines
RATIO_REQUESTS = build_requests(1_000)  # 20,000 lines


def check_scan() -> None:
    assert list(answers(LARGE, SCAN_REQUESTS)) == list(answers(SCAN, SCAN_REQUESTS))


def check_sizes() -> None:
    ours = list(answers(LARGE, RATIO_REQUESTS))
    assert ours == list(answers(SMALL, RATIO_REQUESTS))
    kinds = {r.pa_needed for r in ours}
    assert {PaNeeded.AUTH_NEEDED, PaNeeded.NO_AUTH, None} <= kinds, kinds


CASES = [
    Case(
        "auth-check-10k-vs-scan",
        lambda: run_all(LARGE, SCAN_REQUESTS),
        "same engine, naive linear scan (baseline)",
        lambda: run_all(SCAN, SCAN_REQUESTS),
        len(SCAN_REQUESTS) * REQUEST_LINES,
        check_scan,
    ),
    Case(
        "auth-check-10k-vs-100",
        lambda: run_all(LARGE, RATIO_REQUESTS),
        "same engine, 100-rule pack (ratio = time(100)/time(10k), goal >= 0.67)",
        lambda: run_all(SMALL, RATIO_REQUESTS),
        len(RATIO_REQUESTS) * REQUEST_LINES,
        check_sizes,
    ),
]


# --- the one-shot million ------------------------------------------------------------------


def _timed(func: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def million_once(lines: int = 1_000_000) -> Iterator[str]:
    """Check ``lines`` lines once through each pack; yield the report lines."""
    requests = build_requests(lines // REQUEST_LINES, seed=SEED + 1)
    total = len(requests) * REQUEST_LINES
    seconds_large, needed_large = _timed(lambda: run_all(LARGE, requests))
    seconds_small, needed_small = _timed(lambda: run_all(SMALL, requests))
    assert needed_large == needed_small
    result = Result(
        area="authorization",
        name=f"auth-check-{total // 1000}k-lines-once",
        ours_ops=total / seconds_large,
        peer="same engine, 100-rule pack",
        peer_ops=total / seconds_small,
        batch=total,
    )
    yield result.line()
    yield (
        f"  ({total:,} lines: 10,000 rules {seconds_large:.1f} s = {total / seconds_large:,.0f} "
        f"lines/s; 100 rules {seconds_small:.1f} s = {total / seconds_small:,.0f} lines/s; "
        f"time ratio 10k/100 = {seconds_large / seconds_small:.2f} (goal <= 1.5); "
        f"{needed_large:,} lines need prior authorization)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.authorization",
        description="The repeated requirement-check cases, then the one-shot million lines.",
    )
    parser.add_argument("--skip-million", action="store_true", help="only the repeated cases")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    width = max(len(case.name) for case in CASES)
    for case in CASES:
        result = run_case("authorization", case, repeat=args.repeat)
        print(result.line(width), flush=True)
        if case.name == "auth-check-10k-vs-100":
            print(f"  time ratio 10k/100 = {1 / result.ratio:.2f} (goal <= 1.5)", flush=True)
        else:
            print(f"  index is {result.ratio:,.0f}x the linear scan", flush=True)
    if not args.skip_million:
        for line in million_once(args.lines):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
