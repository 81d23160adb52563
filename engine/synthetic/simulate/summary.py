"""What a run measured: reward rates against random and the oracle, the chart, the report."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
from rich.console import Console

from engine.synthetic.simulate.run import SimulationOptions, Trace
from engine.synthetic.simulate.world import (
    FloatArray,
    Population,
    Requests,
    oracle_rates,
    random_rates,
    served_rates,
)

Mode = Literal["in_process", "http"]

# options that mean nothing in a mode, kept out of its summary
_NOT_IN_MODE: dict[str, set[str]] = {
    "in_process": {"concurrency"},
    "http": {"learn_every", "seconds_per_decision", "attribution_seconds"},
}
TARGET_TO_ORACLE = 0.85
TARGET_TO_RANDOM = 1.5


@dataclass(frozen=True)
class SimulationResult:
    """The JSON summary (``summary``) and the per-window series the chart draws."""

    summary: dict[str, Any]
    windows: list[dict[str, float]] = field(default_factory=list)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def _windows(
    size: int,
    rates: FloatArray,
    trace: Trace,
    best: int,
    clicked: FloatArray,
    expected: FloatArray,
    random_: FloatArray,
    oracle: FloatArray,
) -> list[dict[str, float]]:
    """Mean rates per window of ``size`` decisions; the best static offer where eligible."""
    n = len(rates)
    windows = []
    for start in range(0, n, size):
        stop = min(start + size, n)
        windows.append(
            {
                "start": start,
                "end": stop,
                "bandit": float(clicked[start:stop].mean()),
                "bandit_expected": float(expected[start:stop].mean()),
                "random": float(random_[start:stop].mean()),
                "oracle": float(oracle[start:stop].mean()),
                "best_static": float(
                    np.where(
                        np.isnan(rates[start:stop, best]),
                        random_[start:stop],
                        rates[start:stop, best],
                    ).mean()
                ),
                "explored": float(trace.explored[start:stop].mean()),
            }
        )
    return windows


def _block(
    bandit: float,
    bandit_expected: float,
    random_rate: float,
    oracle_rate: float,
    static_rate: float,
) -> dict[str, float]:
    return {
        "bandit": round(bandit, 5),
        "bandit_expected": round(bandit_expected, 5),
        "random": round(random_rate, 5),
        "oracle": round(oracle_rate, 5),
        "best_static": round(static_rate, 5),
        "bandit_to_oracle": round(_ratio(bandit, oracle_rate), 4),
        "bandit_to_random": round(_ratio(bandit, random_rate), 4),
        "bandit_expected_to_oracle": round(_ratio(bandit_expected, oracle_rate), 4),
        "bandit_expected_to_random": round(_ratio(bandit_expected, random_rate), 4),
        "bandit_to_best_static": round(_ratio(bandit, static_rate), 4),
    }


def _meets(b: Mapping[str, float], measure: str = "bandit") -> bool:
    return (
        b[f"{measure}_to_oracle"] >= TARGET_TO_ORACLE
        and b[f"{measure}_to_random"] >= TARGET_TO_RANDOM
    )


def summarize(
    population: Population,
    requests: Requests,
    trace: Trace,
    options: SimulationOptions,
    mode: Mode,
    extra: Mapping[str, Any] | None = None,
) -> SimulationResult:
    """Reward rates overall and per window; the acceptance check is on expected rates."""
    n = len(requests)
    rates = requests.rates
    random_ = random_rates(rates)
    oracle = oracle_rates(rates)
    expected = served_rates(rates, trace.served)
    clicked = trace.clicked.astype(float)
    # best single offer: always that offer where eligible, a random eligible one elsewhere
    static = np.where(np.isnan(rates), random_[:, np.newaxis], rates).mean(axis=0)
    best = int(np.argmax(static))
    windows = _windows(options.window, rates, trace, best, clicked, expected, random_, oracle)
    last = windows[-1]

    overall = _block(
        float(clicked.mean()),
        float(expected.mean()),
        float(random_.mean()),
        float(oracle.mean()),
        float(static[best]),
    )
    last_window = _block(
        last["bandit"],
        last["bandit_expected"],
        last["random"],
        last["oracle"],
        last["best_static"],
    )

    scenario = population.scenario
    summary: dict[str, Any] = {
        "mode": mode,
        "decisions": n,
        "seconds": round(trace.seconds, 2),
        "decisions_per_second": round(n / trace.seconds, 1) if trace.seconds else None,
        "policy": trace.policy,
        "model_version": trace.model_version,
        "window": options.window,
        "overall": overall,
        "last_window": {"start": last["start"], "end": last["end"], **last_window},
        "best_static_offer": population.offer_ids[best],
        "acceptance": {
            "target_to_oracle": TARGET_TO_ORACLE,
            "target_to_random": TARGET_TO_RANDOM,
            # the true rates of the offers each policy chose, on the same requests: the one
            # measure random and the oracle have, free of the bandit's click noise (about
            # +-6% of the oracle's rate over a 1,000-decision window)
            "measured_on": "expected rates of the chosen offers (bandit, random, oracle)",
            "overall": _meets(overall, "bandit_expected"),
            "last_window": _meets(last_window, "bandit_expected"),
            "overall_realised": _meets(overall),
            "last_window_realised": _meets(last_window),
        },
        "explored_share": round(float(trace.explored.mean()), 4),
        "no_offer": int((trace.served < 0).sum()),
        "unexpected_offers": trace.unexpected,
        "errors": trace.errors,
        "fallbacks": trace.fallbacks,
        "settings": {
            "seed": options.seed,
            "customers": scenario.customers,
            "offers": len(scenario.offers),
            "personas": [p.name for p in scenario.personas],
            "scenario": scenario.fingerprint(),
            **options.model_dump(exclude=_NOT_IN_MODE[mode]),
            **(extra or {}),
        },
        "windows": [
            {k: round(v, 5) if isinstance(v, float) else v for k, v in w.items()} for w in windows
        ],
    }
    return SimulationResult(summary, windows)


def write_chart(result: SimulationResult, path: Path) -> None:
    """Reward rate per window: bandit (clicks and expected), random, oracle, best static offer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ends = [w["end"] for w in result.windows]
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    series = (
        ("oracle", "oracle (best eligible offer)", "tab:green", "-"),
        ("bandit", "bandit (realised clicks)", "tab:blue", "-"),
        ("bandit_expected", "bandit (true rate of served offer)", "tab:blue", ":"),
        ("best_static", "best single offer", "tab:orange", "--"),
        ("random", "random eligible offer", "tab:gray", "-"),
    )
    for key, label, color, style in series:
        ax.plot(
            ends,
            [w[key] for w in result.windows],
            style,
            color=color,
            label=label,
            marker="o" if style == "-" else None,
            markersize=3,
        )
    summary = result.summary
    ax.set_title(
        f"{summary['policy']} ({summary['mode']}): {summary['decisions']:,} decisions, "
        f"windows of {summary['window']:,}"
    )
    ax.set_xlabel("decisions")
    ax.set_ylabel("reward rate (clicks per decision)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)


def write_outputs(result: SimulationResult, out: Path) -> tuple[Path, Path]:
    """``summary.json`` and ``reward_rate.png`` in the directory ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    chart_path = out / "reward_rate.png"
    summary_path.write_bytes(
        orjson.dumps(result.summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    write_chart(result, chart_path)
    return summary_path, chart_path


def print_report(result: SimulationResult, console: Console) -> None:
    """The reward rate over time and the verdict, as a table."""
    from rich.table import Table

    summary = result.summary
    table = Table(
        title=f"reward rate per {summary['window']:,} decisions ({summary['mode']})",
        title_justify="left",
    )
    for header in (
        "decisions",
        "bandit",
        "bandit (expected)",
        "random",
        "best offer",
        "oracle",
        "bandit/oracle",
        "bandit/random",
    ):
        table.add_column(header, justify="right")
    for w in result.windows:
        table.add_row(
            f"{w['start']:,}-{w['end']:,}",
            f"{w['bandit']:.3f}",
            f"{w['bandit_expected']:.3f}",
            f"{w['random']:.3f}",
            f"{w['best_static']:.3f}",
            f"{w['oracle']:.3f}",
            f"{_ratio(w['bandit'], w['oracle']):.2f}",
            f"{_ratio(w['bandit'], w['random']):.2f}",
        )
    console.print(table)
    for name in ("overall", "last_window"):
        b = summary[name]
        verdict = "meets" if summary["acceptance"][name] else "misses"
        console.print(
            f"{name:>11}: bandit {b['bandit_expected']:.4f} (realised clicks "
            f"{b['bandit']:.4f}), random {b['random']:.4f}, oracle {b['oracle']:.4f}: "
            f"{b['bandit_expected_to_oracle']:.1%} of oracle (realised "
            f"{b['bandit_to_oracle']:.1%}), {b['bandit_expected_to_random']:.2f}x random "
            f"-> {verdict} >= {TARGET_TO_ORACLE:.0%} of oracle and >= {TARGET_TO_RANDOM}x random"
        )
    console.print(
        f"policy {summary['policy']}, model v{summary['model_version']}, "
        f"{summary['decisions']:,} decisions in {summary['seconds']:.1f}s; "
        f"best single offer {summary['best_static_offer']}; "
        f"unexpected offers {summary['unexpected_offers']}, errors {summary['errors']}, "
        f"fallbacks {summary['fallbacks']}"
    )
