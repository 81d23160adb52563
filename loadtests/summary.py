"""The session's summary: ratios to the floor, the machine and the settings, and its files.

The summary is the one document every consumer reads (the table, the chart, ``bench``'s
results and ``docs/performance.md``), so its keys are assembled here and nowhere else; the
progress line printed after each run reads the same record.
"""

from __future__ import annotations

import math
import os
import sys
import time
from importlib import metadata
from typing import Any

import orjson

from loadtests.plan import FLOOR_RUNS, Plan, console
from loadtests.report import chart, targets

__all__ = ["loadavg", "print_progress", "summary", "write_summary"]


def print_progress(record: dict[str, Any]) -> None:
    """The run's throughput and latency, and its CPU budget when profiled, on stderr."""
    primary = record["endpoints"].get(record["primary"], {})
    p50, p99 = primary.get("p50_ms", math.nan), primary.get("p99_ms", math.nan)
    console.print(
        f"  {record['throughput_per_s']:,.0f} {record['primary']}/s, "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, {record['total']['failures']} failed"
    )
    budget = record.get("cpu_budget")
    if budget and "lines" in budget:
        console.print(
            f"  server CPU per decision {budget['server_cpu_us_per_decision']:.0f} us "
            f"({budget['samples']} py-spy samples):"
        )
        for line, part in budget["lines"].items():
            console.print(
                f"    {line:<58} {part['us_per_decision']:6.0f} us {100 * part['share']:5.1f}%"
            )
    elif budget:
        console.print(f"  [yellow]no CPU budget: {budget['error']}[/yellow]")


def summary(
    plan: Plan,
    records: list[dict[str, Any]],
    started: float,
    load_at_start: list[float] | None,
    offers_option: bool,
    active_offers: int,
) -> dict[str, Any]:
    """The session's document; sets each record's ``ratio_to_floor`` on the way."""
    floors = [r["throughput_per_s"] for r in records if r["name"] in FLOOR_RUNS]
    floor_rate = sum(floors) / len(floors) if floors else None
    drift = (floors[-1] - floors[0]) / floors[0] if len(floors) > 1 and floors[0] else None
    for record in records:
        record["ratio_to_floor"] = record["throughput_per_s"] / floor_rate if floor_rate else None
    return {
        "started_at": started,
        "seconds": time.time() - started,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": loadavg(),
            "python": sys.version.split()[0],
            "locust": _version("locust"),
        },
        "placement": {
            "pinned": plan.server_cpus is not None,
            "server_floor_and_store_cpus": sorted(plan.server_cpus or []),
            "load_generator_cpus": sorted(plan.load_cpus or []),
        },
        "settings": {
            "customers": plan.customers,
            "offers_requested": plan.offers,
            "demo_offers_option": offers_option,
            "active_offers": active_offers,
            "duration_s": plan.duration,
            "warmup_s": plan.warmup,
            "saturation_users": plan.users,
            "event_users": plan.event_users,
            "ladder_decisions_per_s": list(plan.rates),
            "server_log_level": plan.log_level,
            "store_persistence": plan.persist,
        },
        "floor_per_s": floor_rate,
        "floor_runs_per_s": floors,
        "floor_drift": drift,
        "runs": records,
        "targets": targets(records),
    }


def loadavg() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def write_summary(plan: Plan, summary: dict[str, Any]) -> None:
    """``summary.json`` and the latency chart, in ``plan.out``."""
    (plan.out / "summary.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    chart(summary, plan.out / "latency_vs_load.png")
