"""Coverage of the relative lift's 95% interval: log-ratio (the default) against linear delta.

Each scenario draws both arms many times from a known truth and counts how often the interval
contains the true relative lift, and how often it reaches below -100% (impossible for a rate
or a non-negative mean). Proportions go through the two-proportion test, means (gamma revenue,
shape 2) through Welch's. The 40-unit arms expect 4 conversions or fewer: the test there is
Fisher's exact, and the interval the 0.5-adjusted log ratio whenever treatment has none. Run:

    .venv/bin/python bench/coverage.py [--replications 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator

import numpy as np

from experiments.stats import (
    FrequentistConfig,
    FrequentistResult,
    ProportionStats,
    SampleStats,
    two_proportion_z_test,
    welch_t_test,
)

METHODS = ("log_ratio", "delta")
Draw = Callable[[np.random.Generator, str], FrequentistResult]


def proportions(n: int, p_c: float, lift: float) -> Draw:
    def draw(rng: np.random.Generator, method: str) -> FrequentistResult:
        config = FrequentistConfig(relative_interval=method)  # type: ignore[arg-type]
        c = ProportionStats(n, int(rng.binomial(n, p_c)))
        t = ProportionStats(n, int(rng.binomial(n, p_c * (1 + lift))))
        return two_proportion_z_test(c, t, config)

    return draw


def means(n: int, lift: float) -> Draw:
    def draw(rng: np.random.Generator, method: str) -> FrequentistResult:
        config = FrequentistConfig(relative_interval=method)  # type: ignore[arg-type]
        c = SampleStats.from_values(rng.gamma(2.0, 5.0, n))
        t = SampleStats.from_values(rng.gamma(2.0, 5.0 * (1 + lift), n))
        return welch_t_test(c, t, config)

    return draw


def scenarios() -> Iterator[tuple[str, int, float, Draw]]:
    for lift in (0.0, 0.3, -0.5):
        yield "proportion p=0.1", 40, lift, proportions(40, 0.1, lift)
        yield "proportion p=0.2", 150, lift, proportions(150, 0.2, lift)
        yield "proportion p=0.05", 20_000, lift, proportions(20_000, 0.05, lift)
        yield "mean gamma(2)", 30, lift, means(30, lift)
        yield "mean gamma(2)", 2_000, lift, means(2_000, lift)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rows = []
    print("| metric | n per arm | true lift | method | coverage | below -100% |")
    print("|---|---:|---:|---|---:|---:|")
    for index, (name, n, lift, draw) in enumerate(scenarios()):
        for method in METHODS:
            # The same draws for both methods: the difference is the interval alone.
            rng = np.random.default_rng([args.seed, index])
            hits = below = valid = 0
            for _ in range(args.replications):
                result = draw(rng, method)
                if result.error is not None:
                    continue
                valid += 1
                hits += result.ci[0] <= lift <= result.ci[1]
                below += result.ci[0] < -1.0
            row = {
                "metric": name,
                "n": n,
                "lift": lift,
                "method": method,
                "coverage": hits / valid,
                "below_minus_100": below / valid,
                "replications": valid,
            }
            rows.append(row)
            print(
                f"| {name} | {n:,} | {lift:+.0%} | {method} | {row['coverage']:.1%} "
                f"| {row['below_minus_100']:.1%} |",
                flush=True,
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
