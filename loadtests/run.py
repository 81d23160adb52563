"""Headless load tests: one command from an empty temp dir to CSV, a table and a chart.

``python -m loadtests.run`` (``make loadtest``) starts an embedded Valkey in a temp dir, loads
the demo population, issues a ``decide`` key, starts the floor (:mod:`loadtests.floor`) and
``nbo serve`` (one worker), then runs locust headless, once per measurement:

1. ``floor``: the floor at saturation (closed loop, ``DecisionUser``); ``floor-commit``: the
   floor plus a decision-sized commit round trip (``FloorCommitUser``), a reference point that
   prices the second round trip a decision makes (not part of the floor figure);
2. ``decisions``: ``/v1/decisions`` at saturation, same users and requests as the floor;
3. ``mix``: the realistic mix at saturation (``MixUser``);
4. ``rate-<R>``: the mix at a fixed R decisions/s (R / 0.8 requests/s), one run per rung of the
   ladder; a rung whose achieved request rate is more than 5% short of the offered one is
   "not achieved" (requests rather than decisions: the mix is fixed, and in a short window
   the decision share alone wobbles by a few percent);
5. ``events``: event ingestion at saturation, one event per request (``EventUser``);
   ``event-batches``: the same in batches of 20 per request (``EventBatchUser``), reported
   in events/s;
6. ``floor-end``: the floor again (not in ``--quick``). The floor figure is the mean of both;
   their difference, reported as drift, says how much the machine moved under the run.

Every throughput is reported as a ratio to the floor's, measured in the same invocation. The
floor and the server both stay up for the whole session; the one not under load is idle.

Placement: the server, the floor and Valkey share ``--server-cpus`` (default core 0), locust
gets ``--load-cpus`` (default core 1). The store's work is part of what a decision costs, and
the floor pays its own share of it on the same core, so the ratio compares like with like;
giving the generator a core of its own keeps it from being the bottleneck (its CPU share is
reported, and a run above 90% is flagged "generator-bound").

Warm-up: after all users are spawned, the first ``--warmup`` seconds are discarded (locust's
stats are reset at that instant); the next ``--duration`` seconds are measured, with each
request's exact latency (locust rounds to whole milliseconds). Server-side quantiles come from
the delta of the Prometheus request histogram scraped at both ends of the same window.
"""

from __future__ import annotations

import asyncio
import csv
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import psutil  # type: ignore[import-untyped]
import redis
import typer
from rich.console import Console

from engine.store.embedded import embedded_valkey
from loadtests.budget import budget_from_collapsed
from loadtests.measure import Buckets, bucket_delta, histogram_quantile, percentile
from loadtests.report import chart, print_table, targets
from loadtests.workload import (
    DECISION_SHARE,
    EVENT_BATCH,
    NAME_ACTIVITIES,
    NAME_DECISIONS,
    NAME_EVENT_BATCHES,
    NAME_EVENTS,
)

__all__ = ["app"]

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")
FLOOR_RUNS = ("floor", "floor-end")  # what ratios divide by; floor-commit is a reference
RUN_KINDS = ("floor", "floor-commit", "decisions", "mix", "ladder", "events", "event-batches")
ACHIEVED_TOLERANCE = 0.05
GENERATOR_BOUND = 0.90
SATURATED_CORE = 0.85
ROUTE_OF = {
    NAME_DECISIONS: "/v1/decisions",
    NAME_EVENTS: "/v1/events",
    NAME_EVENT_BATCHES: "/v1/events:batch",
    NAME_ACTIVITIES: "/v1/customers/{customer_id}/activities",
}

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0] if __doc__ else None)
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


# --- processes ----------------------------------------------------------------------------


def _pinning(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    """A preexec function pinning the child before exec, so all its threads inherit it."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _pin_process(pid: int, cpus: frozenset[int] | None) -> None:
    """Pin every thread of an already running process (Valkey starts its own threads)."""
    if cpus is None:
        return
    tasks = Path(f"/proc/{pid}/task")
    for tid in [int(p.name) for p in tasks.iterdir()] if tasks.exists() else [pid]:
        with suppress(OSError):  # a thread may have exited meanwhile
            os.sched_setaffinity(tid, cpus)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def _service(
    cmd: Sequence[str], env: dict[str, str], log: Path, cpus: frozenset[int] | None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, stopped (SIGTERM, then SIGKILL) on exit; see :func:`_wait_ready`."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            list(cmd),
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_pinning(cpus),
        )
    try:
        yield proc
    finally:
        _stop(proc)


def _wait_ready(name: str, proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RunFailed(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RunFailed(f"{name} did not become ready:\n{_tail(log)}")
        time.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", *args]


def _base_env(redis_url: str, log_level: str) -> dict[str, str]:
    """The caller's environment (NBO_POLICY etc. pass through) with the store and logs fixed."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NBO_REDIS_URL", "NBO_ADMIN_KEY", "NBO_WORKERS", "NBO_HOST", "NBO_PORT")
    }
    env.update(
        NBO_REDIS_URL=redis_url,
        NBO_LOG_LEVEL=log_level,
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
    )
    return env


def _demo_has_offers_option() -> bool:
    """Whether this checkout's ``nbo demo`` takes ``--offers`` (the 100-offer catalog)."""
    from typer.main import get_command

    from api.cli import app as nbo

    demo = getattr(get_command(nbo), "commands", {}).get("demo")
    return demo is not None and any("--offers" in param.opts for param in demo.params)


def _load_demo(demo_cmd: Sequence[str], env: dict[str, str], log: Path) -> None:
    with open(log, "wb") as sink:
        demo = subprocess.Popen(
            list(demo_cmd), cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            demo.wait(timeout=3600)
        finally:
            _stop(demo, timeout=5)
    if demo.returncode != 0:
        raise RunFailed(f"nbo demo failed:\n{_tail(log)}")


def _issue_key(redis_url: str) -> str:
    """A ``decide`` key, the role apps hold (what ``nbo keys create --role decide`` does)."""
    from engine.access.api_keys import KeyRing
    from engine.config import Settings
    from engine.store.redis import RedisStore

    async def issue() -> str:
        store = RedisStore.from_settings(Settings(redis_url=redis_url))
        try:
            _, secret = await KeyRing(store, None).issue("decide", "loadtest")
            return secret
        finally:
            await store.close()

    return asyncio.run(issue())


def _descendants(pid: int | None) -> list[int]:
    if pid is None:
        return []
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _store_facts(redis_url: str) -> tuple[int, int]:
    """Valkey's pid (to pin it) and the number of active offers the demo loaded."""
    from engine.store import keys

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        pid = int(client.info("server")["process_id"])
        offers: dict[str, str] = client.hgetall(keys.OFFERS)  # type: ignore[assignment]
    finally:
        client.close()
    active = sum(1 for doc in offers.values() if orjson.loads(doc).get("status") == "active")
    return pid, active


# --- one locust run -----------------------------------------------------------------------


def _run_locust(
    spec: RunSpec,
    plan: Plan,
    base: str,
    key: str,
    watch: dict[str, int],
    metrics_url: str | None,
) -> dict[str, Any]:
    out = plan.out
    result = out / f"{spec.name}_result.json"
    result.unlink(missing_ok=True)
    spawn_rate = max(spec.users / plan.spawn_seconds, 1.0)
    limit = math.ceil(spec.users / spawn_rate + plan.warmup + plan.duration + 30)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBO_LOADTEST_")}
    env.update(
        NBO_LOADTEST_KEY=key,
        NBO_LOADTEST_CUSTOMERS=str(plan.customers),
        NBO_LOADTEST_USERS=str(spec.users),
        NBO_LOADTEST_RESULT=str(result),
        NBO_LOADTEST_WARMUP=str(plan.warmup),
        NBO_LOADTEST_DURATION=str(plan.duration),
        NBO_LOADTEST_WATCH_PIDS=",".join(
            [f"{role}:{pid}" for role, pid in watch.items()]
            # the server's own processes (`nbo serve`'s learner): CPU of their own, not
            # sampled by py-spy, so not part of the server's budget
            + [f"learner:{child}" for child in _descendants(watch.get("server"))]
        ),
    )
    if spec.offered_requests:
        env["NBO_LOADTEST_RATE"] = repr(spec.offered_requests)
    if metrics_url:
        env["NBO_LOADTEST_METRICS_URL"] = metrics_url
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        base,
        "-u",
        str(spec.users),
        "-r",
        f"{spawn_rate:.3f}",
        "-t",
        f"{limit}s",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        spec.user_class,
    ]
    log = out / f"{spec.name}_locust.log"
    profiler: _Sampler | None = None
    sampled = spec.name in ("floor", "decisions") or (
        spec.kind == "fixed" and spec.offered_decisions == min(plan.rates, default=None)
    )
    if plan.profile and sampled and "server" in watch:
        profiler = _Sampler(watch["server"], plan.duration, out / f"{spec.name}_pyspy.txt")
        profiler.start_after(plan.spawn_seconds + plan.warmup)
    offered = f", {spec.offered_decisions:g} decisions/s offered" if spec.offered_decisions else ""
    console.print(f"[bold]{spec.name}[/bold]: {spec.users} {spec.user_class}s{offered}")
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_pinning(plan.load_cpus),
        )
        try:
            proc.wait(timeout=limit + 30)
        except BaseException:
            _stop(proc, timeout=5)
            if profiler is not None:
                profiler.stop()
            raise
    if not result.exists():
        raise RunFailed(f"locust run {spec.name} wrote no result:\n{_tail(log)}")
    record = _summarize_run(spec, orjson.loads(result.read_bytes()), out)
    if profiler is not None:
        record["cpu_budget"] = profiler.budget(record)
    return record


class _Sampler:
    """py-spy on the server for the measured window of a run (starts after the warm-up)."""

    def __init__(self, pid: int, seconds: float, out: Path) -> None:
        self.pid, self.seconds, self.out = pid, seconds, out
        self.proc: subprocess.Popen[bytes] | None = None
        self.timer: threading.Timer | None = None

    def start_after(self, delay: float) -> None:
        self.timer = threading.Timer(delay, self._start)
        self.timer.start()

    def _start(self) -> None:
        cmd = [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(self.pid),
            "--duration",
            str(max(1, round(self.seconds))),
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(self.out),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.proc is not None:
            _stop(self.proc, timeout=5)

    def budget(self, record: dict[str, Any]) -> dict[str, Any]:
        """Budget lines as shares of sampled CPU and as microseconds per decision."""
        if self.timer is not None:
            self.timer.join()
        if self.proc is None:
            return {"error": "py-spy did not start"}
        try:
            _, err = self.proc.communicate(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            _stop(self.proc, timeout=5)
            return {"error": "py-spy did not finish"}
        if self.proc.returncode != 0 or not self.out.exists():
            return {"error": f"py-spy failed: {err.decode(errors='replace')[-300:]}"}
        samples = budget_from_collapsed(self.out.read_text().splitlines())
        total = sum(samples.values())
        per_s = record["throughput_per_s"]
        server_cpu = record["cpu_share"].get("server", 0.0)
        us_per_decision = 1e6 * server_cpu / per_s if per_s else 0.0
        return {
            "samples": total,
            "server_cpu_us_per_decision": us_per_decision,
            "lines": {
                line: {"share": n / total, "us_per_decision": us_per_decision * n / total}
                for line, n in sorted(samples.items(), key=lambda kv: -kv[1])
            },
            "file": self.out.name,
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


def _summarize_run(spec: RunSpec, raw: dict[str, Any], out: Path) -> dict[str, Any]:
    elapsed = float(raw["elapsed_s"])
    samples: dict[str, dict[str, list[float]]] = raw["samples"]
    failures: dict[str, int] = raw["failures"]
    endpoints = {
        name: _endpoint(s["latencies_ms"], failures.get(name, 0), elapsed)
        for name, s in sorted(samples.items())
    }
    total = sum(e["requests"] for e in endpoints.values())
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
        "server_side": server_side,
        "cpu_share": cpu,
        "generator_bound": cpu.get("load", 0.0) >= GENERATOR_BOUND,
        # at saturation the server's core should be busy; if not, something else had it
        "core_contended": spec.kind == "saturation"
        and cpu.get("server", 1.0) + cpu.get("store", 0.0) + cpu.get("learner", 0.0)
        < SATURATED_CORE,
        "errors": dict(sorted(raw["errors"].items(), key=lambda kv: -kv[1])[:10]),
        "exceptions": raw["exceptions"],
        "achieved": None,
        "files": {
            "locust_stats_csv": f"{spec.name}_stats.csv",
            "locust_failures_csv": f"{spec.name}_failures.csv",
            "timeline_csv": f"{spec.name}_timeline.csv",
            "raw": f"{spec.name}_result.json",
            "locust_log": f"{spec.name}_locust.log",
        },
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


def _specs(plan: Plan) -> list[RunSpec]:
    specs: list[RunSpec] = []
    if "floor" in plan.runs:
        specs.append(
            RunSpec("floor", "saturation", "floor", "DecisionUser", plan.users, NAME_DECISIONS)
        )
    if "floor-commit" in plan.runs:
        specs.append(
            RunSpec(
                "floor-commit", "saturation", "floor", "FloorCommitUser", plan.users, NAME_DECISIONS
            )
        )
    if "decisions" in plan.runs:
        specs.append(
            RunSpec("decisions", "saturation", "server", "DecisionUser", plan.users, NAME_DECISIONS)
        )
    if "mix" in plan.runs:
        specs.append(RunSpec("mix", "saturation", "server", "MixUser", plan.users, NAME_DECISIONS))
    if "ladder" in plan.runs:
        for rate in plan.rates:
            requests = rate / DECISION_SHARE
            # enough users that each paces at <= 10 requests/s: a slow answer delays one user
            users = min(max(math.ceil(requests / 10), 4), 128)
            specs.append(
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
    if "events" in plan.runs:
        specs.append(
            RunSpec(
                "events",
                "saturation",
                "server",
                "EventUser",
                plan.event_users,
                NAME_EVENTS,
                events_per_request=1,
            )
        )
    if "event-batches" in plan.runs:
        specs.append(
            RunSpec(
                "event-batches",
                "saturation",
                "server",
                "EventBatchUser",
                plan.event_users,
                NAME_EVENT_BATCHES,
                events_per_request=EVENT_BATCH,
            )
        )
    if "floor" in plan.runs and plan.floor_twice:
        specs.append(replace(specs[0], name="floor-end"))
    return specs


def execute(plan: Plan) -> dict[str, Any]:
    """Run every measurement of ``plan``; returns (and writes) the summary."""
    plan.out.mkdir(parents=True, exist_ok=True)
    specs = _specs(plan)
    started = time.time()
    load_at_start = _loadavg()
    records: list[dict[str, Any]] = []
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nbo-loadtest-")))
        redis_url = stack.enter_context(embedded_valkey(data_dir, persist=plan.persist))
        env = _base_env(redis_url, plan.log_level)
        offers_option = plan.offers > 0 and _demo_has_offers_option()
        demo_cmd = _cli("demo", "--customers", str(plan.customers), "--seed", str(plan.seed))
        if offers_option:
            demo_cmd += ["--offers", str(plan.offers)]
        console.print(
            f"loading the demo: {plan.customers:,} customers"
            + (f", {plan.offers} offers" if offers_option else " (default catalog)")
        )
        # the servers start while the demo loads: neither reads the catalog before a request
        floor_port, server_port = _free_port(), _free_port()
        floor_base = f"http://127.0.0.1:{floor_port}"
        server_base = f"http://127.0.0.1:{server_port}"
        floor_log, server_log = plan.out / "floor.log", plan.out / "server.log"
        floor_cmd = [sys.executable, "-m", "loadtests.floor", "--port", str(floor_port)]
        server_cmd = _cli("serve", "--port", str(server_port), "--workers", "1")
        cpus = plan.server_cpus
        floor = (
            stack.enter_context(_service(floor_cmd, env, floor_log, cpus))
            if any(s.target == "floor" for s in specs)
            else None
        )
        server = stack.enter_context(_service(server_cmd, env, server_log, cpus))
        key = _issue_key(redis_url)
        _load_demo(demo_cmd, env, plan.out / "setup.log")
        store_pid, active_offers = _store_facts(redis_url)
        _pin_process(store_pid, cpus)
        if floor is not None:
            _wait_ready("floor", floor, floor_base, floor_log)
        _wait_ready("server", server, server_base, server_log)
        console.print(f"{active_offers} active offers; server and floor ready")
        for spec in specs:
            if spec.target == "floor":
                assert floor is not None
                watch = {"server": floor.pid, "store": store_pid}
                records.append(_run_locust(spec, plan, floor_base, key, watch, None))
            else:
                watch = {"server": server.pid, "store": store_pid}
                metrics = f"{server_base}/metrics"
                records.append(_run_locust(spec, plan, server_base, key, watch, metrics))
            _print_progress(records[-1])
    summary = _summary(plan, records, started, load_at_start, offers_option, active_offers)
    (plan.out / "summary.json").write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    chart(summary, plan.out / "latency_vs_load.png")
    return summary


def _print_progress(record: dict[str, Any]) -> None:
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


def _summary(
    plan: Plan,
    records: list[dict[str, Any]],
    started: float,
    load_at_start: list[float] | None,
    offers_option: bool,
    active_offers: int,
) -> dict[str, Any]:
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
            "load_average_at_end": _loadavg(),
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


def _loadavg() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# --- command line -------------------------------------------------------------------------


def _cpus(value: str, available: set[int]) -> frozenset[int] | None:
    try:
        cpus = frozenset(int(part) for part in value.split(","))
    except ValueError as exc:
        raise typer.BadParameter("comma-separated CPU numbers") from exc
    if not cpus <= available:
        console.print(f"[yellow]CPUs {sorted(cpus - available)} are not ours: not pinning[/yellow]")
        return None
    return cpus


@app.command()
def main(
    out: Annotated[Path, typer.Option(help="Output directory")] = Path("bench/out/loadtest"),
    quick: Annotated[
        bool, typer.Option(help="A few seconds per run on a small population (tests, smoke)")
    ] = False,
    customers: Annotated[
        int | None, typer.Option(min=10, help="Demo customers [10,000; quick 300]")
    ] = None,
    offers: Annotated[
        int, typer.Option(min=0, help="Demo offers, if `nbo demo` has --offers (0: default)")
    ] = 100,
    duration: Annotated[
        float | None, typer.Option(min=1, help="Measured seconds per run [30; quick 2]")
    ] = None,
    warmup: Annotated[
        float | None, typer.Option(min=0, help="Discarded seconds per run [5; quick 1]")
    ] = None,
    users: Annotated[
        int | None, typer.Option(min=1, help="Closed-loop users of saturation runs [48; quick 16]")
    ] = None,
    event_users: Annotated[
        int | None, typer.Option(min=1, help="Users of the event run [32; quick 8]")
    ] = None,
    rates: Annotated[
        str | None,
        typer.Option(help="Fixed-rate ladder, decisions/s [100,250,500,750,1000; quick 50,100]"),
    ] = None,
    runs: Annotated[
        str | None,
        typer.Option(help=f"Which runs, of {','.join(RUN_KINDS)} [all; quick: all but mix]"),
    ] = None,
    floor_twice: Annotated[
        bool | None,
        typer.Option(
            help="Measure the floor again at the end; its drift shows the noise [yes; quick no]"
        ),
    ] = None,
    pin: Annotated[bool, typer.Option(help="Pin processes to CPUs where the OS allows")] = True,
    server_cpus: Annotated[str, typer.Option(help="CPUs of server, floor and Valkey")] = "0",
    load_cpus: Annotated[str, typer.Option(help="CPUs of the load generator")] = "1",
    seed: Annotated[int, typer.Option(help="Demo seed")] = 7,
    log_level: Annotated[
        str, typer.Option(help="Server log level (info logs a line per request)")
    ] = "warning",
    persist: Annotated[
        bool, typer.Option(help="Valkey append-only file, as the embedded store of `nbo serve`")
    ] = True,
    profile: Annotated[
        bool,
        typer.Option(help="Sample the server with py-spy during the decisions run: CPU budget"),
    ] = False,
) -> None:
    """Run the load tests headless and write CSV, summary.json and latency_vs_load.png to OUT."""
    quick_runs = "floor,floor-commit,decisions,ladder,events,event-batches"
    chosen_runs = tuple(
        part.strip() for part in (runs or (quick_runs if quick else ",".join(RUN_KINDS))).split(",")
    )
    if unknown := set(chosen_runs) - set(RUN_KINDS):
        raise typer.BadParameter(f"unknown runs {sorted(unknown)}", param_hint="--runs")
    ladder = rates or ("50,100" if quick else "100,250,500,750,1000")
    try:
        rate_values = tuple(float(r) for r in ladder.split(","))
    except ValueError as exc:
        raise typer.BadParameter("comma-separated numbers", param_hint="--rates") from exc
    if any(r <= 0 for r in rate_values):
        raise typer.BadParameter("rates must be positive", param_hint="--rates")
    server_set = load_set = None
    if pin and hasattr(os, "sched_setaffinity"):
        available = os.sched_getaffinity(0)
        server_set = _cpus(server_cpus, available)
        load_set = _cpus(load_cpus, available)
        if server_set is None or load_set is None:
            server_set = load_set = None
        elif len(available) < 2:
            console.print("[yellow]one CPU available: nothing to separate, not pinning[/yellow]")
            server_set = load_set = None
    elif pin:
        console.print("[yellow]this OS cannot pin processes to CPUs: running unpinned[/yellow]")
    plan = Plan(
        out=out,
        customers=customers or (300 if quick else 10_000),
        offers=offers,
        duration=duration or (2.0 if quick else 30.0),
        warmup=warmup if warmup is not None else (1.0 if quick else 5.0),
        users=users or (16 if quick else 48),
        event_users=event_users or (8 if quick else 32),
        rates=rate_values,
        runs=chosen_runs,
        spawn_seconds=0.3 if quick else 1.0,
        floor_twice=floor_twice if floor_twice is not None else not quick,
        seed=seed,
        log_level=log_level,
        persist=persist,
        server_cpus=server_set,
        load_cpus=load_set,
        profile=profile,
    )

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        summary = execute(plan)
    except RunFailed as exc:
        console.print(f"[red]load test failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: servers and store stopped[/yellow]")
        raise typer.Exit(130) from None
    stdout = Console()
    print_table(summary, stdout if stdout.is_terminal else Console(width=180))
    console.print(f"wrote {plan.out}/summary.json, latency_vs_load.png and per-run CSV files")


if __name__ == "__main__":
    app()
