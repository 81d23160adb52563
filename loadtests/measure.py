"""Measurement helpers shared by the locust plugin and the runner (no locust imports)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "Buckets",
    "bucket_delta",
    "histogram_buckets",
    "histogram_quantile",
    "percentile",
    "process_cpu_seconds",
]

# (upper bound in seconds, cumulative count), ascending, ending with +Inf
Buckets = list[tuple[float, float]]

REQUEST_HISTOGRAM = "nbo_http_request_duration_seconds"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on pre-sorted values."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def histogram_buckets(
    metrics_text: str, routes: Iterable[str], method: str = "POST"
) -> dict[str, Buckets]:
    """Cumulative buckets of the request-duration histogram per route, summed over statuses."""
    wanted = set(routes)
    sums: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != REQUEST_HISTOGRAM:
            continue
        for sample in family.samples:
            labels = sample.labels
            if not sample.name.endswith("_bucket") or labels.get("method") != method:
                continue
            route = labels.get("route", "")
            if route not in wanted:
                continue
            bound = float(labels["le"])
            per_route = sums.setdefault(route, {})
            per_route[bound] = per_route.get(bound, 0.0) + sample.value
    return {route: sorted(bounds.items()) for route, bounds in sums.items()}


def bucket_delta(before: Buckets | None, after: Buckets) -> Buckets:
    """What was observed between two scrapes (a route first seen later counts from zero)."""
    earlier = dict(before or [])
    return [(bound, count - earlier.get(bound, 0.0)) for bound, count in after]


def histogram_quantile(q: float, buckets: Buckets) -> float | None:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding q.

    A quantile falling in the +Inf bucket is reported as the largest finite bound (a lower
    bound on the truth), as Prometheus does. ``None`` when nothing was observed.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads) from /proc; None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
