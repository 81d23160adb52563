"""Locust users for nbo, and the measurement window the headless runner relies on.

By hand, against ``nbo serve --demo`` (pick one user class; all three run if none is named)::

    NBO_LOADTEST_KEY=<decide or admin key> .venv/bin/locust -f loadtests/locustfile.py \\
        --host http://127.0.0.1:8000 MixUser

User classes: ``MixUser`` (the realistic mix: 80% decisions on every channel, 15% events on
offers this user was served, 5% activity writes), ``DecisionUser`` (decisions only; also what
the floor is driven with, so both see the same requests), ``FloorCommitUser`` (the same
requests to the floor's read-and-commit route), ``EventUser`` (a short decision
phase, then events only) and ``EventBatchUser`` (the same, events sent in batches of 20).

Environment:

- ``NBO_LOADTEST_KEY``: API key (``decide`` role or above), sent as ``Authorization: Bearer``.
- ``NBO_LOADTEST_CUSTOMERS``: demo population size (customers ``c-0`` ...), default 10,000.
- ``NBO_LOADTEST_RATE``: requests/s offered by all users together, each user's requests
  starting as a Poisson process (:func:`poisson_pacing`); unset or 0: closed loop, no wait
  (saturation).
- ``NBO_LOADTEST_RESULT``, ``NBO_LOADTEST_WARMUP``, ``NBO_LOADTEST_DURATION``: set by the
  runner. After all users are spawned, the first WARMUP seconds are discarded (locust's stats
  are reset then), the next DURATION seconds are recorded, then locust quits.
- ``NBO_LOADTEST_METRICS_URL``, ``NBO_LOADTEST_WATCH_PIDS``: the server's ``/metrics``,
  scraped at both ends of the window, and ``role:pid`` pairs whose CPU time is measured (a
  role named more than once is the sum of its processes).
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import random
import secrets
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent  # type: ignore[import-untyped]
import orjson
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from loadtests.floor import COMMIT_PATH
from loadtests.measure import histogram_buckets, process_cpu_seconds
from loadtests.workload import (
    EVENT_BATCH,
    MIX_CYCLE,
    NAME_ACTIVITIES,
    NAME_DECISIONS,
    NAME_EVENT_BATCHES,
    NAME_EVENTS,
    activity_request,
    decision_body,
    event_body,
)

KEY = os.environ.get("NBO_LOADTEST_KEY", "")
CUSTOMERS = int(os.environ.get("NBO_LOADTEST_CUSTOMERS", "10000"))
RATE = float(os.environ.get("NBO_LOADTEST_RATE") or 0)
RECENT = 64  # served (decision, offer) pairs a user remembers for its events
EVENT_POOL = 16  # EventUser: served offers to collect before sending events only
ROUTES = (
    NAME_DECISIONS,
    NAME_EVENTS,
    NAME_EVENT_BATCHES,
    "/v1/customers/{customer_id}/activities",
)


def poisson_pacing(rate: float) -> Callable[[Any], float]:
    """A user's requests start as a Poisson process of ``rate``: independent gaps, drawn from the
    user's own generator, each counted from the previous scheduled start.

    Locust's ``constant_throughput`` counts from the last start instead, so users slowed by
    the same stall (a request longer than the period) leave it together and stay in step for
    the rest of the run: the server then sees bursts of most users at once and a fixed-rate
    run measures queueing inside bursts. Independent apps do not coordinate; their requests
    together are a Poisson stream, which is what this offers. A user that fell more than one
    mean gap behind starts afresh instead of catching up in a burst.
    """
    mean_gap = 1.0 / rate

    def wait(user: Any) -> float:
        now = time.perf_counter()
        previous: float | None = getattr(user, "_poisson_next", None)
        if previous is None or previous < now - mean_gap:
            previous = now
        start: float = previous + user.rng.expovariate(rate)
        user._poisson_next = start
        return max(0.0, start - now)

    return wait


class _NboUser(FastHttpUser):
    abstract = True
    network_timeout = 10.0
    connection_timeout = 5.0

    def __init__(self, environment: Environment) -> None:
        # read by FastHttpUser.__init__ when it builds the client
        self.default_headers = {
            "authorization": f"Bearer {KEY}",
            "content-type": "application/json",
        }
        super().__init__(environment)
        self.rng = random.Random(secrets.randbits(64))
        self.tag = secrets.token_hex(4)  # event ids stay unique across users and runs
        self.sent_events = 0
        self.served: deque[tuple[str, str]] = deque(maxlen=RECENT)
        self._pace = self._pacing(environment)

    @staticmethod
    def _pacing(environment: Environment) -> Callable[[Any], float]:
        if RATE <= 0:
            return constant(0)
        options = environment.parsed_options
        users = int(getattr(options, "num_users", 0) or os.environ.get("NBO_LOADTEST_USERS", 1))
        return poisson_pacing(RATE / max(users, 1))

    def wait_time(self) -> float:
        return self._pace(self)

    def decide(self, remember: bool = True) -> None:
        response = self._post(NAME_DECISIONS, decision_body(self.rng, CUSTOMERS), NAME_DECISIONS)
        if remember and response.status_code == 200 and response.content:
            decision = orjson.loads(response.content)
            for offer in decision["offers"]:
                self.served.append((decision["decision_id"], offer["offer_id"]))

    def send_event(self) -> None:
        if not self.served:  # nothing served to this user yet: ask instead
            self.decide()
            return
        decision_id, offer_id = self.served[self.rng.randrange(len(self.served))]
        self.sent_events += 1
        event_id = f"e-{self.tag}-{self.sent_events}"
        self._post(NAME_EVENTS, event_body(self.rng, event_id, decision_id, offer_id), NAME_EVENTS)

    def send_event_batch(self) -> None:
        if not self.served:
            self.decide()
            return
        batch = []
        for _ in range(EVENT_BATCH):
            decision_id, offer_id = self.served[self.rng.randrange(len(self.served))]
            self.sent_events += 1
            event_id = f"e-{self.tag}-{self.sent_events}"
            batch.append(event_body(self.rng, event_id, decision_id, offer_id))
        self._post(NAME_EVENT_BATCHES, {"events": batch}, NAME_EVENT_BATCHES)

    def write_activity(self) -> None:
        path, body = activity_request(self.rng, CUSTOMERS)
        self._post(path, body, NAME_ACTIVITIES)

    def _post(self, path: str, body: dict[str, Any], name: str) -> Any:
        # bytes are sent as they are (locust documents it; its annotation says str only)
        return self.client.post(path, data=orjson.dumps(body), name=name)  # type: ignore[arg-type]


class MixUser(_NboUser):
    """The realistic mix, in a fixed cycle of 20 requests.

    Users start 7 steps apart (7 and 20 are coprime, so 20 users cover every start), which
    keeps the mix of a short window close to 80/15/5 even though it cuts every user's cycle.
    """

    _starts = itertools.count(random.randrange(len(MIX_CYCLE)))

    def on_start(self) -> None:
        self.step = next(self._starts) * 7

    @task
    def next_request(self) -> None:
        kind = MIX_CYCLE[self.step % len(MIX_CYCLE)]
        self.step += 1
        if kind == "D":
            self.decide()
        elif kind == "E":
            self.send_event()
        else:
            self.write_activity()


class DecisionUser(_NboUser):
    """Decisions only; the response is not parsed, so the generator spends nothing on it."""

    @task
    def next_request(self) -> None:
        self.decide(remember=False)


class FloorCommitUser(_NboUser):
    """Decisions to the floor's read-and-commit route (``loadtests.floor.COMMIT_PATH``), counted
    under the decisions name so the runner reads them like any decision run."""

    @task
    def next_request(self) -> None:
        self._post(COMMIT_PATH, decision_body(self.rng, CUSTOMERS), NAME_DECISIONS)


class _EventSender(_NboUser):
    """Collects served offers during warm-up, then sends events only."""

    abstract = True

    def on_start(self) -> None:
        for _ in range(4 * EVENT_POOL):
            if len(self.served) >= EVENT_POOL:
                break
            self.decide()


class EventUser(_EventSender):
    """Event ingestion, one event per request (``/v1/events``)."""

    @task
    def next_request(self) -> None:
        self.send_event()


class EventBatchUser(_EventSender):
    """Event ingestion in batches of ``EVENT_BATCH``, as SDKs send them (``/v1/events:batch``)."""

    @task
    def next_request(self) -> None:
        self.send_event_batch()


class _Window:
    """Records every request of the measurement window with its exact latency.

    locust keeps response times rounded to whole milliseconds, too coarse for millisecond
    targets, so the float latency of each request event is kept and summarised by the runner.
    """

    def __init__(self, environment: Environment, result: Path, warmup: float, duration: float):
        self.environment = environment
        self.result = result
        self.warmup = warmup
        self.duration = duration
        self.recording = False
        self.started = False
        self.origin = 0.0
        self.samples: dict[str, tuple[list[float], list[float]]] = {}
        self.failures: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        environment.events.request.add_listener(self.on_request)  # type: ignore[no-untyped-call]
        environment.events.spawning_complete.add_listener(self.on_spawned)  # type: ignore[no-untyped-call]

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        if not self.recording:
            return
        offsets, latencies = self.samples.setdefault(name, ([], []))
        offsets.append(time.perf_counter() - self.origin)
        latencies.append(response_time)
        if exception is not None:
            self.failures[name] = self.failures.get(name, 0) + 1
            message = f"{name}: {exception}"[:300]
            self.errors[message] = self.errors.get(message, 0) + 1

    def on_spawned(self, user_count: int, **_: Any) -> None:
        if not self.started:
            self.started = True
            gevent.spawn(self._measure, user_count)

    def _measure(self, users: int) -> None:
        try:
            self._record(users)
        except Exception:  # the runner reads the log; locust must not idle on until --run-time
            logging.getLogger("nbo.loadtest").exception("measurement failed")
        finally:
            if self.environment.runner is not None:
                self.environment.runner.quit()

    def _record(self, users: int) -> None:
        gevent.sleep(self.warmup)
        metrics_before = _scrape()
        cpu_before = _cpu_times()
        self.environment.stats.reset_all()  # locust's own figures cover the window only
        started_at = time.time()
        self.origin = time.perf_counter()
        self.recording = True
        gevent.sleep(self.duration)
        self.recording = False
        elapsed = time.perf_counter() - self.origin
        cpu_after = _cpu_times()
        metrics_after = _scrape()
        self._write_csv()
        runner = self.environment.runner
        exceptions = sum(e["count"] for e in runner.exceptions.values()) if runner else 0
        document = {
            "users": users,
            "offered_requests_per_s": RATE or None,
            "started_at": started_at,
            "elapsed_s": elapsed,
            "samples": {
                name: {"offsets_s": offsets, "latencies_ms": latencies}
                for name, (offsets, latencies) in self.samples.items()
            },
            "failures": self.failures,
            "errors": self.errors,
            "exceptions": exceptions,
            "cpu_seconds": _cpu_delta(cpu_before, cpu_after),
            "metrics_before": metrics_before,
            "metrics_after": metrics_after,
        }
        self.result.write_bytes(orjson.dumps(document))

    def _write_csv(self) -> None:
        """locust's own CSV files (same columns as ``--csv``), for the window alone."""
        writer = StatsCSV(self.environment, PERCENTILES_TO_REPORT)
        prefix = str(self.result).removesuffix("_result.json")
        for suffix, write in (
            ("_stats.csv", writer.requests_csv),
            ("_failures.csv", writer.failures_csv),
            ("_exceptions.csv", writer.exceptions_csv),
        ):
            with open(prefix + suffix, "w", newline="", encoding="utf-8") as handle:
                write(csv.writer(handle))


def _cpu_times() -> dict[str, float | None]:
    times: dict[str, float | None] = {"load": time.process_time()}
    for pair in filter(None, os.environ.get("NBO_LOADTEST_WATCH_PIDS", "").split(",")):
        role, _, pid = pair.partition(":")
        seconds = process_cpu_seconds(int(pid))
        if role in times:  # a role of several processes (learners, workers) adds up
            earlier = times[role]
            seconds = None if earlier is None or seconds is None else earlier + seconds
        times[role] = seconds
    return times


def _cpu_delta(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float]:
    out: dict[str, float] = {}
    for role, start in before.items():
        end = after.get(role)
        if start is not None and end is not None:
            out[role] = end - start
    return out


def _scrape() -> dict[str, list[tuple[str, float]]] | None:
    """Request-histogram buckets by route; bounds as strings, since JSON has no +Inf."""
    url = os.environ.get("NBO_LOADTEST_METRICS_URL")
    if not url:
        return None
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
    return {
        route: [(repr(bound), count) for bound, count in buckets]
        for route, buckets in histogram_buckets(text, ROUTES).items()
    }


def _install_window(environment: Environment, **_: Any) -> None:
    result = os.environ.get("NBO_LOADTEST_RESULT")
    if result:
        _Window(
            environment,
            Path(result),
            float(os.environ.get("NBO_LOADTEST_WARMUP", "5")),
            float(os.environ.get("NBO_LOADTEST_DURATION", "30")),
        )


events.init.add_listener(_install_window)  # type: ignore[no-untyped-call]
