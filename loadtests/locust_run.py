"""One measured run: locust headless against a started server, on the load generator's CPUs.

The runner never imports locust (it monkey-patches the standard library with gevent): each
run is a ``python -m locust`` child configured through ``NBO_LOADTEST_*`` variables, which
:mod:`loadtests.locustfile` reads; it writes a raw result (client latencies, the server's
histograms scraped at both ends of the window, CPU seconds) that :mod:`loadtests.record`
turns into the run's record.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from loadtests.plan import Plan, RunFailed, RunSpec, console
from loadtests.profiler import Sampler
from loadtests.record import summarize_run
from loadtests.servers import ROOT, descendants, pinning, stop, tail

__all__ = ["run_locust"]

LOCUSTFILE = Path(__file__).resolve().with_name("locustfile.py")


def _env(
    spec: RunSpec,
    plan: Plan,
    key: str,
    watch: dict[str, int],
    metrics_url: str | None,
    result: Path,
) -> dict[str, str]:
    """The caller's environment with this run's settings for the locustfile."""
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
            + [f"learner:{child}" for child in descendants(watch.get("server"))]
        ),
    )
    if spec.offered_requests:
        env["NBO_LOADTEST_RATE"] = repr(spec.offered_requests)
    if metrics_url:
        env["NBO_LOADTEST_METRICS_URL"] = metrics_url
    return env


def _command(spec: RunSpec, base: str, spawn_rate: float, limit: int) -> list[str]:
    return [
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


def _sampler(spec: RunSpec, plan: Plan, watch: dict[str, int]) -> Sampler | None:
    """py-spy, started after the warm-up, on the runs the CPU budget is read from."""
    sampled = spec.name in ("floor", "decisions") or (
        spec.kind == "fixed" and spec.offered_decisions == min(plan.rates, default=None)
    )
    if not (plan.profile and sampled and "server" in watch):
        return None
    profiler = Sampler(watch["server"], plan.duration, plan.out / f"{spec.name}_pyspy.txt")
    profiler.start_after(plan.spawn_seconds + plan.warmup)
    return profiler


def run_locust(
    spec: RunSpec,
    plan: Plan,
    base: str,
    key: str,
    watch: dict[str, int],
    metrics_url: str | None,
) -> dict[str, Any]:
    """Run ``spec`` against ``base``, watching the CPU of ``watch``'s pids; its record."""
    out = plan.out
    result = out / f"{spec.name}_result.json"
    result.unlink(missing_ok=True)
    spawn_rate = max(spec.users / plan.spawn_seconds, 1.0)
    limit = math.ceil(spec.users / spawn_rate + plan.warmup + plan.duration + 30)
    env = _env(spec, plan, key, watch, metrics_url, result)
    cmd = _command(spec, base, spawn_rate, limit)
    log = out / f"{spec.name}_locust.log"
    profiler = _sampler(spec, plan, watch)
    offered = f", {spec.offered_decisions:g} decisions/s offered" if spec.offered_decisions else ""
    console.print(f"[bold]{spec.name}[/bold]: {spec.users} {spec.user_class}s{offered}")
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=pinning(plan.load_cpus),
        )
        try:
            proc.wait(timeout=limit + 30)
        except BaseException:
            stop(proc, timeout=5)
            if profiler is not None:
                profiler.stop()
            raise
    if not result.exists():
        raise RunFailed(f"locust run {spec.name} wrote no result:\n{tail(log)}")
    record = summarize_run(spec, orjson.loads(result.read_bytes()), out)
    if profiler is not None:
        record["cpu_budget"] = profiler.budget(record)
    return record
