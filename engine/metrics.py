"""Prometheus metrics shared by every module of a process."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["REQUEST_LATENCY", "STORE_ERRORS"]

REQUEST_LATENCY = Histogram(
    "nbo_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route", "status"],
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
STORE_ERRORS = Counter(
    "nbo_store_errors_total",
    "Store operations that failed (timeouts, refused connections, server errors).",
    ["operation"],
)
