"""Micro benchmarks of two per-decision steps, each against a baseline timed in the same run.

* Assignment: ``choose_variant`` (GrowthBook's gbhash v2: two FNV-1a passes, then the bucket
  ranges) per call, against one bare FNV-1a hash of the same id, the least any deterministic
  hash assignment can cost.
* Eligibility with caps: the decision path's :func:`engine.decision.eligibility.admissible` over the
  100 offers of the demo-sized catalog for one customer with a contact history (caps,
  cooldowns, budgets), against the explaining :func:`evaluate_offer` it replaced, which the
  eligibility endpoint still uses.

Figures are medians of repeated timings; ratios are baseline / measured (above 1: faster).
Not a timed test: run it by hand or through ``make bench``.

    .venv/bin/python -m bench.micro [--repeat 7]

Writes ``bench/out/micro.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.decision.eligibility import admissible, evaluate_offer
from engine.domain.catalog import Offer, ParsedOffer, field_types, validate_offer
from engine.domain.contacts import OfferContacts
from experiments.assignment import choose_variant, fnv1a32

OUT = Path(__file__).resolve().parent / "out" / "micro.json"
NOW = 1_795_000_000.0
DAY = int(NOW // 86_400)


def _median_us(fn: Callable[[], object], calls: int, repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        timings.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(timings)


def assignment(repeat: int) -> dict[str, Any]:
    ids = [f"c-{i}" for i in range(10_000)]
    weights = [0.34, 0.33, 0.33]
    it = iter(range(10**9))

    def assign() -> int:
        return choose_variant("exp-demo:1", ids[next(it) % 10_000], weights)

    def bare() -> int:
        return fnv1a32(ids[next(it) % 10_000])

    measured = _median_us(assign, 20_000, repeat)
    baseline = _median_us(bare, 20_000, repeat)
    return {
        "what": "choose_variant (gbhash v2, 3 variants) per call",
        "us_per_call": round(measured, 3),
        "baseline": "one FNV-1a hash of the id",
        "baseline_us_per_call": round(baseline, 3),
        "ratio_to_baseline": round(measured / baseline, 2),
    }


def _catalog(n: int) -> list[ParsedOffer]:
    types = field_types({"tier": "string", "age": "number"})
    offers = []
    for i in range(n):
        body: dict[str, Any] = {
            "name": f"offer {i}",
            "channels": {"web": {"title": "t"}, "email": {"subject": "s"}},
            "eligibility": {
                "segments_any": ["s-a", "s-b"] if i % 3 == 0 else [],
                "segments_none": ["s-c"] if i % 5 == 0 else [],
                "rules": [{"field": "age", "op": "gte", "value": 18 + i % 40}] if i % 2 else [],
            },
            "caps": {"per_day": 2, "per_week": 5, "cooldown_after_dismiss_hours": 24},
            "budget": {"conversions": 1000} if i % 4 == 0 else {},
        }
        offer = Offer.model_validate(body)
        offers.append(
            ParsedOffer(
                f"o-{i}", offer, 1, validate_offer(offer, {"s-a", "s-b", "s-c"}, types), None, None
            )
        )
    return offers


def eligibility(repeat: int) -> dict[str, Any]:
    offers = _catalog(100)
    values = {"tier": "gold", "age": 35}
    segments = {"s-a"}
    contacts = {
        f"o-{i}": OfferContacts(day_slots={DAY % 7: (DAY, 1)}, served=3, dismisses=i % 7 == 0)
        for i in range(0, 100, 3)
    }
    spent = {"o-0|c": "12", "o-4|c": "999"}

    def fast() -> int:
        return sum(
            admissible(p, "web", "default", values, segments, contacts, spent, NOW) is not None
            for p in offers
        )

    def explaining() -> int:
        return sum(
            evaluate_offer(
                p, "web", "default", values, segments, contacts, spent, NOW, False
            ).eligible
            for p in offers
        )

    if fast() != explaining():
        raise AssertionError("the two eligibility paths disagree")
    measured = _median_us(fast, 300, repeat)
    baseline = _median_us(explaining, 300, repeat)
    return {
        "what": "eligibility and caps of 100 offers for one customer (decision path)",
        "us_per_decision": round(measured, 1),
        "eligible": fast(),
        "baseline": "evaluate_offer(explain=False), the explaining path",
        "baseline_us_per_decision": round(baseline, 1),
        "speedup": round(baseline / measured, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    result = {"assignment": assignment(args.repeat), "eligibility": eligibility(args.repeat)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
