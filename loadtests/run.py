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

This module is the command line and the session's sequence; the parts live beside it: the
plan and its runs (:mod:`loadtests.plan`), the processes measured (:mod:`loadtests.servers`),
one locust run (:mod:`loadtests.locust_run`, with :mod:`loadtests.profiler` and
:mod:`loadtests.record`), and the summary (:mod:`loadtests.summary`, :mod:`loadtests.report`).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from loadtests.locust_run import run_locust
from loadtests.plan import RUN_KINDS, Plan, RunFailed, console, specs
from loadtests.report import print_table
from loadtests.servers import started
from loadtests.summary import loadavg, print_progress, summary, write_summary

__all__ = ["app"]

app = typer.Typer(add_completion=False, help=__doc__.split("\n\n")[0] if __doc__ else None)


def execute(plan: Plan) -> dict[str, Any]:
    """Run every measurement of ``plan``; returns (and writes) the summary."""
    plan.out.mkdir(parents=True, exist_ok=True)
    runs = specs(plan)
    started_at = time.time()
    load_at_start = loadavg()
    records: list[dict[str, Any]] = []
    with started(plan, with_floor=any(s.target == "floor" for s in runs)) as servers:
        for spec in runs:
            if spec.target == "floor":
                assert servers.floor_pid is not None
                watch = {"server": servers.floor_pid, "store": servers.store_pid}
                base, metrics = servers.floor_base, None
            else:
                watch = {"server": servers.server_pid, "store": servers.store_pid}
                base, metrics = servers.server_base, f"{servers.server_base}/metrics"
            records.append(run_locust(spec, plan, base, servers.key, watch, metrics))
            print_progress(records[-1])
    document = summary(
        plan, records, started_at, load_at_start, servers.offers_option, servers.active_offers
    )
    write_summary(plan, document)
    return document


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


def _chosen_runs(runs: str | None, quick: bool) -> tuple[str, ...]:
    quick_runs = "floor,floor-commit,decisions,ladder,events,event-batches"
    chosen = tuple(
        part.strip() for part in (runs or (quick_runs if quick else ",".join(RUN_KINDS))).split(",")
    )
    if unknown := set(chosen) - set(RUN_KINDS):
        raise typer.BadParameter(f"unknown runs {sorted(unknown)}", param_hint="--runs")
    return chosen


def _ladder_rates(rates: str | None, quick: bool) -> tuple[float, ...]:
    ladder = rates or ("50,100" if quick else "100,250,500,750,1000")
    try:
        values = tuple(float(r) for r in ladder.split(","))
    except ValueError as exc:
        raise typer.BadParameter("comma-separated numbers", param_hint="--rates") from exc
    if any(r <= 0 for r in values):
        raise typer.BadParameter("rates must be positive", param_hint="--rates")
    return values


def _placement(
    pin: bool, server_cpus: str, load_cpus: str
) -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """The server's and the generator's CPUs, or neither where pinning cannot separate them."""
    if not pin:
        return None, None
    if not hasattr(os, "sched_setaffinity"):
        console.print("[yellow]this OS cannot pin processes to CPUs: running unpinned[/yellow]")
        return None, None
    available = os.sched_getaffinity(0)
    server_set = _cpus(server_cpus, available)
    load_set = _cpus(load_cpus, available)
    if server_set is None or load_set is None:
        return None, None
    if len(available) < 2:
        console.print("[yellow]one CPU available: nothing to separate, not pinning[/yellow]")
        return None, None
    return server_set, load_set


def _run(plan: Plan) -> None:
    """Execute ``plan``, stopping everything on SIGTERM or Ctrl-C, and print the table."""

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        document = execute(plan)
    except RunFailed as exc:
        console.print(f"[red]load test failed:[/red] {exc}")
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: servers and store stopped[/yellow]")
        raise typer.Exit(130) from None
    stdout = Console()
    print_table(document, stdout if stdout.is_terminal else Console(width=180))
    console.print(f"wrote {plan.out}/summary.json, latency_vs_load.png and per-run CSV files")


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
    chosen_runs = _chosen_runs(runs, quick)
    rate_values = _ladder_rates(rates, quick)
    server_set, load_set = _placement(pin, server_cpus, load_cpus)
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
    _run(plan)


if __name__ == "__main__":
    app()
