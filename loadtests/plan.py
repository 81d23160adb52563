"""What a load-test session measures: the plan the command line builds and one spec per run.

Kept apart from the runner so the order and shape of the runs (saturation runs, the ladder of
fixed rates, the floor measured again at the end) read as one table, not as process plumbing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from rich.console import Console

from loadtests.workload import (
    DECISION_SHARE,
    EVENT_BATCH,
    NAME_DECISIONS,
    NAME_EVENT_BATCHES,
    NAME_EVENTS,
)

__all__ = ["FLOOR_RUNS", "RUN_KINDS", "Plan", "RunFailed", "RunSpec", "console", "specs"]

FLOOR_RUNS = ("floor", "floor-end")  # what ratios divide by; floor-commit is a reference
RUN_KINDS = ("floor", "floor-commit", "decisions", "mix", "ladder", "events", "event-batches")

# progress goes to stderr; stdout carries only the table
console = Console(stderr=True)


class RunFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Plan:
    out: Path
    customers: int
    offers: int
    duration: float
    warmup: float
    users: int
    event_users: int
    rates: tuple[float, ...]
    runs: tuple[str, ...]
    spawn_seconds: float
    floor_twice: bool
    seed: int
    log_level: str
    persist: bool
    server_cpus: frozenset[int] | None
    load_cpus: frozenset[int] | None
    profile: bool = False


@dataclass(frozen=True)
class RunSpec:
    name: str
    kind: str  # saturation | fixed
    target: str  # floor | server
    user_class: str
    users: int
    primary: str  # the endpoint whose throughput and latency the run is about
    offered_decisions: float | None = None
    offered_requests: float | None = None
    events_per_request: int = 0  # event runs: events carried by one request of ``primary``


# run kind -> (target, user class, primary endpoint, events per request); event runs have
# their own number of users
_SATURATION: dict[str, tuple[str, str, str, int]] = {
    "floor": ("floor", "DecisionUser", NAME_DECISIONS, 0),
    "floor-commit": ("floor", "FloorCommitUser", NAME_DECISIONS, 0),
    "decisions": ("server", "DecisionUser", NAME_DECISIONS, 0),
    "mix": ("server", "MixUser", NAME_DECISIONS, 0),
    "events": ("server", "EventUser", NAME_EVENTS, 1),
    "event-batches": ("server", "EventBatchUser", NAME_EVENT_BATCHES, EVENT_BATCH),
}


def _ladder(rates: tuple[float, ...]) -> list[RunSpec]:
    """One fixed-rate run of the mix per rung, paced so one slow answer delays one user."""
    rungs = []
    for rate in rates:
        requests = rate / DECISION_SHARE
        # enough users that each paces at <= 10 requests/s: a slow answer delays one user
        users = min(max(math.ceil(requests / 10), 4), 128)
        rungs.append(
            RunSpec(
                f"rate-{rate:g}",
                "fixed",
                "server",
                "MixUser",
                users,
                NAME_DECISIONS,
                offered_decisions=rate,
                offered_requests=requests,
            )
        )
    return rungs


def specs(plan: Plan) -> list[RunSpec]:
    """The runs of ``plan`` in the order of :data:`RUN_KINDS`, whatever order it names them."""
    out: list[RunSpec] = []
    for kind in RUN_KINDS:
        if kind not in plan.runs:
            continue
        if kind == "ladder":
            out += _ladder(plan.rates)
            continue
        target, user_class, primary, events = _SATURATION[kind]
        users = plan.event_users if events else plan.users
        out.append(
            RunSpec(
                kind, "saturation", target, user_class, users, primary, events_per_request=events
            )
        )
    if "floor" in plan.runs and plan.floor_twice:
        out.append(replace(out[0], name="floor-end"))
    return out
