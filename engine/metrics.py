"""Prometheus metrics shared by every module of a process."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "DECISIONS",
    "EVENTS",
    "FALLBACKS",
    "LATE_EVENTS",
    "LEARNER_RESTARTS",
    "LEARNER_UP",
    "REQUEST_LATENCY",
    "REWARDS_LEARNED",
    "STORE_ERRORS",
]

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
DECISIONS = Counter(
    "nbo_decisions_total", "Decisions served, by channel and fallback.", ["channel", "fallback"]
)
FALLBACKS = Counter(
    "nbo_fallback_decisions_total",
    "Decisions served without the store (safe fallback), by channel.",
    ["channel"],
)
EVENTS = Counter("nbo_events_total", "Feedback events by type and outcome.", ["type", "status"])
LATE_EVENTS = Counter("nbo_late_events_total", "Events after their attribution window.", ["type"])
REWARDS_LEARNED = Counter("nbo_rewards_learned_total", "Rewards applied by learners.", ["scope"])
LEARNER_RESTARTS = Counter(
    "nbo_learner_restarts_total", "Times `nbo serve` restarted its learner process after it died."
)
LEARNER_UP = Gauge("nbo_learner_up", "1 while the learner process of `nbo serve` runs, else 0.")
