"""Per-decision scoring cost: the snapshot Scorer against MABWiser's single-context predict.

Baseline measured in the same run, on the same fitted model and the same contexts:
``MAB.predict_expectations`` for one context (what serving would cost if API workers called
MABWiser). Both score every arm. Correctness is checked on the way: LinUCB must give MABWiser's
numbers and ranking. LinTS samples, and MABWiser samples each arm from its own generator copy,
so no shared stream replays it; its check is that the sampler's location (x . beta) and scale
(alpha * sqrt(x A^-1 x^T)) equal MABWiser's model terms, and that ranking by location matches
ranking MABWiser's x . beta. A third row times 128 LinTS draws for one context (the engine's
Monte Carlo propensity estimate): ``Scorer.sample`` against MABWiser predicting 128 copies of
the context in one call. Not a timed test: run it by hand. Run:

    .venv/bin/python -m bench.scorer [--arms 100] [--features 32] [--calls 2000]

Writes ``bench/out/scorer.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from mabwiser.mab import MAB

from engine.learning.policies import PolicyConfig, PolicyName, Scorer, Trainer

OUT = Path(__file__).resolve().parent / "out" / "scorer.json"
Floats = np.ndarray[Any, np.dtype[np.float64]]


def fitted(name: PolicyName, arms: int, features: int) -> tuple[Any, Scorer]:
    """A MABWiser model and a Scorer on the same data (trainer and twin fed alike)."""
    config = PolicyConfig(name=name, alpha=1.0)
    offer_ids = [f"o-{i}" for i in range(arms)]
    trainer = Trainer(config, offer_ids, features)
    mab = MAB(list(offer_ids), config.learning_policy(), seed=config.seed)
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(arms, features)) / np.sqrt(features)
    for _ in range(5):
        n = 50 * arms
        x = rng.normal(size=(n, features))
        chosen = rng.integers(0, arms, size=n)
        rewards = (np.einsum("nd,nd->n", x, weights[chosen]) + rng.normal(size=n) > 0.8) * 1.0
        decisions = [offer_ids[i] for i in chosen]
        trainer.partial_fit(decisions, rewards, x)
        mab.partial_fit(np.asarray(decisions), rewards, x)
    return mab, Scorer(trainer.snapshot(1))


def per_call_us(call: Callable[[Floats], object], xs: Floats) -> list[float]:
    for x in xs[:20]:  # warm caches and lazy imports
        call(x)
    gc.disable()
    try:
        out = []
        for x in xs:
            start = time.perf_counter_ns()
            call(x)
            out.append((time.perf_counter_ns() - start) / 1000.0)
    finally:
        gc.enable()
    return out


def expectations(mab: Any, x: Floats) -> Floats:
    found = mab.predict_expectations(x[np.newaxis])
    return np.array([found[arm] for arm in mab.arms])


def run(name: PolicyName, arms: int, features: int, calls: int, checks: int) -> dict[str, Any]:
    mab, scorer = fitted(name, arms, features)
    offer_ids = list(mab.arms)
    indices = scorer.arm_indices(offer_ids)
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(calls, features))
    baseline_calls = max(50, calls // 10)  # MABWiser is ~30x slower: fewer calls suffice

    baseline = per_call_us(lambda x: mab.predict_expectations(x[np.newaxis]), xs[:baseline_calls])
    scored = per_call_us(lambda x: scorer.score(x, indices, rng), xs)
    end_to_end = per_call_us(lambda x: scorer.score(x, scorer.arm_indices(offer_ids), rng), xs)

    # correctness on fresh contexts: MABWiser's numbers (to rounding) and ranking
    same_ranking, worst = 0, 0.0
    alpha = scorer.policy.alpha
    for x in np.random.default_rng(2).normal(size=(checks, features)):
        if name == "linucb":
            got, reference = scorer.score(x, indices, rng), expectations(mab, x)
        else:  # location and scale of the LinTS sampler against MABWiser's model terms
            models = [mab._imp.arm_to_model[arm] for arm in offer_ids]
            reference = np.array([x @ m.beta for m in models])
            width = alpha * np.sqrt([x @ m.A_inv @ x for m in models])
            got = scorer.expected(x, indices)
            ones: Any = _Ones()
            upper = scorer.score(x, indices, ones)  # mean + alpha * width * 1
            worst = max(worst, float(np.max(np.abs(upper - got - width) / (1.0 + width))))
        worst = max(worst, float(np.max(np.abs(got - reference) / (1.0 + np.abs(reference)))))
        same_ranking += bool(np.array_equal(np.argsort(-got), np.argsort(-reference)))

    mabwiser_median = statistics.median(baseline)
    scorer_median = statistics.median(scored)
    result: dict[str, Any] = {
        "policy": name,
        "mabwiser_median_us": round(mabwiser_median, 2),
        "mabwiser_p90_us": round(float(np.percentile(baseline, 90)), 2),
        "mabwiser_calls": len(baseline),
        "scorer_median_us": round(scorer_median, 2),
        "scorer_p90_us": round(float(np.percentile(scored, 90)), 2),
        "scorer_with_arm_indices_median_us": round(statistics.median(end_to_end), 2),
        "scorer_calls": len(scored),
        "speedup": round(mabwiser_median / scorer_median, 1),
        "ranking_identical": f"{same_ranking}/{checks}",
        "ranked_by": "score" if name == "linucb" else "sampler location x . beta",
        "max_abs_diff_over_1_plus_abs": worst,
    }
    if name == "lints":
        draws = 128
        tiled = per_call_us(
            lambda x: mab.predict_expectations(np.tile(x, (draws, 1))), xs[: baseline_calls // 4]
        )
        sampled = per_call_us(lambda x: scorer.sample(x, indices, rng, draws), xs)
        result["draws_128"] = {
            "mabwiser_median_us": round(statistics.median(tiled), 2),
            "scorer_sample_median_us": round(statistics.median(sampled), 2),
            "speedup": round(statistics.median(tiled) / statistics.median(sampled), 1),
        }
    return result


class _Ones:
    """A stand-in generator whose normals are all 1: LinTS then scores its upper bound."""

    def standard_normal(self, size: int) -> Floats:
        return np.ones(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--arms", type=int, default=100)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--checks", type=int, default=200)
    args = parser.parse_args()

    results = [
        run(name, args.arms, args.features, args.calls, args.checks) for name in ("linucb", "lints")
    ]
    header = (
        f"{'policy':<8} {'MABWiser median':>16} {'Scorer median':>14} {'+arm_indices':>13} "
        f"{'speed-up':>9} {'ranking identical':>18}"
    )
    print(f"{args.arms} arms, {args.features} features, single context, all arms scored")
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['policy']:<8} {r['mabwiser_median_us']:>13.1f} us"
            f" {r['scorer_median_us']:>11.1f} us"
            f" {r['scorer_with_arm_indices_median_us']:>10.1f} us {r['speedup']:>8.1f}x"
            f" {r['ranking_identical']:>18}"
        )
        if "draws_128" in r:
            b = r["draws_128"]
            print(
                f"{'lints128':<8} {b['mabwiser_median_us']:>13.1f} us"
                f" {b['scorer_sample_median_us']:>11.1f} us {'':>13} {b['speedup']:>8.1f}x"
                f" {'(128 draws)':>18}"
            )
    report = {
        "arms": args.arms,
        "features": args.features,
        "results": results,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mabwiser": version("mabwiser"),
        "machine": platform.machine(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
