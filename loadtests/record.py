"""A run's record: what locust's raw result and the server's histograms say about one window.

Pure arithmetic on what the run left behind (client latencies, failures, CPU seconds, the
Prometheus histogram scraped at both ends), plus the per-second timeline CSV; the record's
keys are what ``summary.json`` and the table read, so they are built in one place.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from loadtests.measure import Buckets, bucket_delta, histogram_quantile, percentile
from loadtests.plan import RunSpec
from loadtests.workload import NAME_ACTIVITIES, NAME_DECISIONS, NAME_EVENT_BATCHES, NAME_EVENTS

__all__ = ["summarize_run"]

ACHIEVED_TOLERANCE = 0.05
GENERATOR_BOUND = 0.90
SATURATED_CORE = 0.85
ROUTE_OF = {
    NAME_DECISIONS: "/v1/decisions",
    NAME_EVENTS: "/v1/events",
    NAME_EVENT_BATCHES: "/v1/events:batch",
    NAME_ACTIVITIES: "/v1/customers/{customer_id}/activities",
}


def _endpoint(latencies: list[float], failures: int, elapsed: float) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "failures": failures,
        "per_s": len(ordered) / elapsed,
        "mean_ms": sum(ordered) / len(ordered) if ordered else math.nan,
        "p50_ms": percentile(ordered, 0.50),
        "p95_ms": percentile(ordered, 0.95),
        "p99_ms": percentile(ordered, 0.99),
        "max_ms": ordered[-1] if ordered else math.nan,
    }


def _server_side(raw: dict[str, Any], endpoints: dict[str, Any]) -> dict[str, Any]:
    """Server-side quantiles per endpoint from the histogram's delta over the window."""
    server_side: dict[str, Any] = {}
    before, after = _buckets(raw.get("metrics_before")), _buckets(raw.get("metrics_after"))
    for name, route in ROUTE_OF.items():
        if route in after and name in endpoints:
            delta = bucket_delta(before.get(route), after[route])
            quantiles = {
                f"p{round(q * 100)}_ms": _ms(histogram_quantile(q, delta))
                for q in (0.5, 0.95, 0.99)
            }
            server_side[name] = {"requests": delta[-1][1] if delta else 0, **quantiles}
    return server_side


def _files(name: str) -> dict[str, str]:
    """The run's artefacts, named relative to the output directory."""
    return {
        "locust_stats_csv": f"{name}_stats.csv",
        "locust_failures_csv": f"{name}_failures.csv",
        "timeline_csv": f"{name}_timeline.csv",
        "raw": f"{name}_result.json",
        "locust_log": f"{name}_locust.log",
    }


def summarize_run(spec: RunSpec, raw: dict[str, Any], out: Path) -> dict[str, Any]:
    """The run's record (and its timeline CSV in ``out``) from locust's raw result."""
    elapsed = float(raw["elapsed_s"])
    samples: dict[str, dict[str, list[float]]] = raw["samples"]
    failures: dict[str, int] = raw["failures"]
    endpoints = {
        name: _endpoint(s["latencies_ms"], failures.get(name, 0), elapsed)
        for name, s in sorted(samples.items())
    }
    total = sum(e["requests"] for e in endpoints.values())
    cpu = {role: seconds / elapsed for role, seconds in raw["cpu_seconds"].items()}
    primary = endpoints.get(spec.primary, _endpoint([], 0, elapsed))
    record: dict[str, Any] = {
        "name": spec.name,
        "kind": spec.kind,
        "target": spec.target,
        "user_class": spec.user_class,
        "users": raw["users"],
        "primary": spec.primary,
        "offered_decisions_per_s": spec.offered_decisions,
        "offered_requests_per_s": spec.offered_requests,
        "window_s": elapsed,
        "throughput_per_s": primary["per_s"],
        "events_per_request": spec.events_per_request or None,
        "events_per_s": primary["per_s"] * spec.events_per_request
        if spec.events_per_request
        else None,
        "endpoints": endpoints,
        "total": {
            "requests": total,
            "failures": sum(e["failures"] for e in endpoints.values()),
            "per_s": total / elapsed,
        },
        "mix": {name: e["requests"] / total for name, e in endpoints.items()} if total else {},
        "server_side": _server_side(raw, endpoints),
        "cpu_share": cpu,
        "generator_bound": cpu.get("load", 0.0) >= GENERATOR_BOUND,
        # at saturation the server's core should be busy; if not, something else had it
        "core_contended": spec.kind == "saturation"
        and cpu.get("server", 1.0) + cpu.get("store", 0.0) + cpu.get("learner", 0.0)
        < SATURATED_CORE,
        "errors": dict(sorted(raw["errors"].items(), key=lambda kv: -kv[1])[:10]),
        "exceptions": raw["exceptions"],
        "achieved": None,
        "files": _files(spec.name),
    }
    if spec.offered_decisions:
        offered = spec.offered_requests or spec.offered_decisions
        record["achieved"] = total / elapsed >= (1 - ACHIEVED_TOLERANCE) * offered
    _write_timeline(out / f"{spec.name}_timeline.csv", samples, elapsed)
    return record


def _buckets(scraped: dict[str, list[list[Any]]] | None) -> dict[str, Buckets]:
    return {
        route: [(float(bound), float(count)) for bound, count in rows]
        for route, rows in (scraped or {}).items()
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _write_timeline(path: Path, samples: dict[str, dict[str, list[float]]], elapsed: float) -> None:
    """Per second of the window, per endpoint: requests and latency quantiles (finds stalls)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["second", "name", "requests", "p50_ms", "p99_ms", "max_ms"])
        for name, s in sorted(samples.items()):
            per_second: dict[int, list[float]] = {}
            for offset, latency in zip(s["offsets_s"], s["latencies_ms"], strict=True):
                per_second.setdefault(int(offset), []).append(latency)
            for second in range(math.ceil(elapsed)):
                values = sorted(per_second.get(second, []))
                writer.writerow(
                    [
                        second,
                        name,
                        len(values),
                        f"{percentile(values, 0.5):.3f}",
                        f"{percentile(values, 0.99):.3f}",
                        f"{values[-1]:.3f}" if values else "nan",
                    ]
                )


# --- the whole session --------------------------------------------------------------------
