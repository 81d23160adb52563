"""The ``nbo`` command line: serve the API, load demo data, learn segments, manage keys."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
import uvicorn
from rich.console import Console

from engine.access.api_keys import ROLES, KeyRing
from engine.config import Settings
from engine.errors import NboError
from engine.metrics import LEARNER_RESTARTS, LEARNER_UP
from engine.store.embedded import embedded_valkey, running_embedded_url
from engine.store.redis import RedisStore

app = typer.Typer(help="nbo: next-best-offer decisioning engine.", no_args_is_help=True)
segments_app = typer.Typer(help="Segments.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(segments_app, name="segments")
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)
log = logging.getLogger("nbo.serve")


@contextmanager
def store_url(settings: Settings) -> Iterator[str]:
    """``NBO_REDIS_URL`` when set; otherwise an embedded Valkey for the block's duration."""
    if settings.redis_url:
        yield settings.redis_url
        return
    running = running_embedded_url(settings.data_dir)
    if running is not None:  # `nbo serve` holds this data dir: use its store, never a second one
        yield running
        return
    console.print(f"[dim]starting embedded Valkey (data in {settings.data_dir})[/dim]")
    with embedded_valkey(settings.data_dir) as url:
        yield url


async def _issue_key(settings: Settings, url: str, role: str, name: str) -> str:
    store = RedisStore.from_settings(settings, url)
    try:
        _, secret = await KeyRing(store, None).issue(role, name)  # type: ignore[arg-type]
        return secret
    finally:
        await store.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [NBO_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [NBO_PORT]")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [NBO_WORKERS]")] = None,
    demo: Annotated[
        bool, typer.Option(help="Load the demo data first (once) and print an admin key")
    ] = False,
) -> None:
    """Serve the HTTP API."""
    settings = Settings()
    with store_url(settings) as url:
        os.environ["NBO_REDIS_URL"] = url
        settings = Settings()
        bind_host = host or settings.host
        bind_port = port or settings.port
        if demo:
            from engine.synthetic.demo import DemoConfig, load_demo

            asyncio.run(load_demo(settings, url, DemoConfig(), console, only_if_absent=True))
            secret = asyncio.run(_issue_key(settings, url, "admin", "demo"))
            base = f"http://{bind_host}:{bind_port}"
            console.print("\n[bold]Demo admin key[/bold] (shown once):", soft_wrap=True)
            console.print(f"  {secret}", soft_wrap=True, highlight=False)
            console.print(
                f"Try:\n  curl -H 'Authorization: Bearer {secret}' {base}/v1/customers/c-42\n"
                f"  open {base}/docs\n",
                soft_wrap=True,
                highlight=False,
            )
        # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; turn them into a
        # normal exit so the embedded store is stopped on the way out.
        signal.signal(signal.SIGTERM, _exit_quietly)
        signal.signal(signal.SIGINT, _exit_quietly)
        with _learner_process(settings), suppress(_Stop):
            _run_uvicorn(settings, bind_host, bind_port, workers)


class _Stop(Exception):
    pass


def _libc_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


# looked up here, not in the child: a restart forks from the supervisor's thread while others
# run, and the child must not take the dynamic loader's lock between fork and exec
_PRCTL = _libc_prctl()


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when `nbo serve` dies, even killed (Linux only).

    Linux sends it when the thread that started the child ends: serve's main thread, or the
    supervisor's for a restart; both run as long as serve does."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _LearnerSupervisor:
    """Keeps `nbo learner` running beside the API: a learner that dies (killed, crashed) is
    started again after a backoff that doubles up to ``MAX_BACKOFF`` while it keeps dying
    and starts over once it has run ``STABLE`` seconds; each exit is logged and counted
    (``nbo_learner_restarts_total``, ``nbo_learner_up``). Without this a dead learner stayed
    dead until serve exited, and nothing learned."""

    FIRST_BACKOFF = 0.5
    MAX_BACKOFF = 30.0
    STABLE = 60.0

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._started = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="learner-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "learner"], preexec_fn=_stop_with_parent
        )
        self._started = time.monotonic()
        LEARNER_UP.set(1)

    def _watch(self) -> None:
        backoff = self.FIRST_BACKOFF
        while not self._stopping.is_set():
            assert self.process is not None
            try:
                code = self.process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            if self._stopping.is_set():
                return
            LEARNER_UP.set(0)
            if time.monotonic() - self._started >= self.STABLE:
                backoff = self.FIRST_BACKOFF
            log.error(
                "learner_exited",
                extra={"exit_code": code, "pid": self.process.pid, "restart_in_s": backoff},
            )
            console.print(
                f"[red]the learner process stopped (exit {code}); restarting in {backoff:g} s[/red]"
            )
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            LEARNER_RESTARTS.inc()
            self._spawn()
            backoff = min(backoff * 2, self.MAX_BACKOFF)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        learner = self.process
        if learner is None:
            return
        if learner.poll() is None:
            learner.terminate()
            try:
                learner.wait(timeout=10)
            except subprocess.TimeoutExpired:
                learner.kill()
                learner.wait()
        LEARNER_UP.set(0)


@contextmanager
def _learner_process(settings: Settings) -> Iterator[None]:
    """`nbo learner` beside the API for the duration of the block (``NBO_LEARNER=process``),
    supervised: restarted if it dies.

    A learner commit is tens of milliseconds of training and pickling, mostly holding the
    interpreter lock; in its own process the operating system shares the CPU out instead, and
    requests stop waiting for it. It inherits the environment, so the store URL too.
    """
    if settings.learner != "process":
        yield
        return
    supervisor = _LearnerSupervisor()
    supervisor.start()
    try:
        yield
    finally:
        supervisor.stop()


def _exit_quietly(signum: int, frame: object) -> None:
    raise _Stop


def _run_uvicorn(settings: Settings, host: str, port: int, workers: int | None) -> None:
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        access_log=False,
        log_level=settings.log_level,
    )


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, help="How many synthetic customers")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    offers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Active offers (default: the hand-written ones); more are generated on all "
            "8 channels. A paused example offer comes on top",
        ),
    ] = None,
) -> None:
    """Load the demo catalog, segments and customers into the configured store."""
    from engine.synthetic.demo import HANDWRITTEN_ACTIVE_OFFERS, DemoConfig, load_demo

    try:
        config = DemoConfig(
            customers=customers, seed=seed, offers=offers or HANDWRITTEN_ACTIVE_OFFERS
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--offers") from exc
    settings = Settings()
    with store_url(settings) as url:
        asyncio.run(load_demo(settings, url, config, console))


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
    name: Annotated[str, typer.Option(help="Who or what holds the key")],
) -> None:
    """Issue an API key and print it (it is shown only once)."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    settings = Settings()
    with store_url(settings) as url:
        typer.echo(asyncio.run(_issue_key(settings, url, role, name)))


@app.command()
def learner(
    name: Annotated[str | None, typer.Option(help="Consumer name in the group")] = None,
) -> None:
    """Run a standalone learner (several may share the work) until interrupted."""
    from engine.learning.learner import Learner
    from engine.learning.policies import PolicyConfig

    settings = Settings()

    async def main(url: str) -> None:
        store = RedisStore.from_settings(settings, url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = Learner(store, settings, PolicyConfig.model_validate(settings.policy), name)
        console.print(f"learner {worker.name} running; Ctrl-C stops it")
        try:
            await worker.run(stop)
        finally:
            await store.close()
        console.print(f"learner stopped: {worker.applied} rewards applied")

    with store_url(settings) as url:
        asyncio.run(main(url))


@app.command()
def export(
    output: Annotated[Path, typer.Option(help="File to write ('-' for stdout)")],
    format: Annotated[str, typer.Option(help="jsonl (JSON lines) or parquet")] = "jsonl",
    include_open: Annotated[
        bool,
        typer.Option(
            help="Also export decisions whose attribution window is still open, with the reward "
            "so far (column open = true)"
        ),
    ] = False,
) -> None:
    """Write the decision log joined with rewards, one row per served offer.

    Closed decisions only, unless --include-open; what is still open, and until when, is said.
    """
    from engine.offline.export import (
        ExportFormat,
        ExportSummary,
        export_rows,
        write_jsonl,
        write_parquet,
    )

    try:
        chosen = ExportFormat(format)
    except ValueError as exc:
        choices = ", ".join(f.value for f in ExportFormat)
        raise typer.BadParameter(f"format must be one of {choices}", param_hint="--format") from exc
    settings = Settings()
    summary = ExportSummary()
    write = write_parquet if chosen is ExportFormat.PARQUET else write_jsonl

    async def main(url: str, sink: BinaryIO) -> None:
        store = RedisStore.from_settings(settings, url)
        try:
            await write(export_rows(store, include_open=include_open, summary=summary), sink)
        finally:
            await store.close()

    try:
        with (
            store_url(settings) as url,
            open(output, "wb") if str(output) != "-" else os.fdopen(1, "wb", closefd=False) as sink,
        ):
            asyncio.run(main(url, sink))
    except NboError as exc:
        console.print(f"[red]cannot export:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    decisions = summary.closed_decisions
    console.print(
        f"{summary.rows} rows written ({decisions} closed decision{'s' if decisions != 1 else ''}"
        + (f", {summary.open_exported} rows of open ones" if include_open else "")
        + ")",
        highlight=False,
    )
    note = summary.describe_open(include_open)
    if note is not None:
        console.print(note, highlight=False, soft_wrap=True)


@app.command()
def simulate(
    decisions: Annotated[int, typer.Option(min=1, help="Decisions to simulate")] = 20_000,
    seed: Annotated[
        int, typer.Option(min=0, help="Seeds the population, requests, responses, exploration")
    ] = 7,
    url: Annotated[
        str | None, typer.Option(help="A running `nbo serve` to drive over HTTP (else in process)")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Admin API key for --url")] = None,
    out: Annotated[
        Path, typer.Option(help="Directory for summary.json and reward_rate.png")
    ] = Path("bench/out/simulation"),
    policy: Annotated[str, typer.Option(help="In process: the policy to learn with")] = "linucb",
    alpha: Annotated[
        float | None, typer.Option(help="In process: policy alpha [NBO_POLICY]")
    ] = None,
    epsilon: Annotated[
        float | None, typer.Option(help="In process: exploration probability [NBO_POLICY]")
    ] = None,
    customers: Annotated[
        int | None, typer.Option(min=1, help="Population size (default: the scenario's, 3,000)")
    ] = None,
    scenario: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Scenario JSON (default scenario if unset)"),
    ] = None,
    window: Annotated[int, typer.Option(min=1, help="Decisions per reported window")] = 1000,
    summary_every: Annotated[int, typer.Option(min=1, help="Print a summary this often")] = 5000,
    learn_every: Annotated[
        int, typer.Option(min=1, help="In process: decisions between learner catch-ups")
    ] = 200,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Over HTTP: requests in flight")
    ] = 16,
    flush: Annotated[
        bool, typer.Option(help="In process: ERASE the store first if it holds data")
    ] = False,
) -> None:
    """Measure learning on a synthetic population with known response rates.

    Each decision serves one offer to a random customer and context; the customer clicks with
    the offer's true rate. Reward rates of the bandit, a random policy and an oracle go to
    OUT/summary.json and OUT/reward_rate.png. In process (default) the store must be empty
    (see --flush); with --url the server must be fresh and should run with short attribution
    windows, e.g. NBO_ATTRIBUTION_WINDOWS='{"web":2,"mobile_app":2,"email":2,"push":2}'.
    """

    from pydantic import ValidationError

    from engine.errors import NboError
    from engine.learning.policies import PolicyConfig
    from engine.synthetic.simulate import (
        ScenarioConfig,
        SimulationOptions,
        build_population,
        draw_requests,
        print_report,
        run_http,
        run_in_process,
        simulation_start,
        summarize,
        write_outputs,
    )

    if url is not None and not key:
        raise typer.BadParameter("--url needs an admin API key", param_hint="--key")
    try:
        world = (
            ScenarioConfig.model_validate_json(scenario.read_bytes())
            if scenario is not None
            else ScenarioConfig()
        )
        if customers is not None:
            world = world.model_copy(update={"customers": customers})
        options = SimulationOptions(
            decisions=decisions,
            seed=seed,
            window=window,
            summary_every=summary_every,
            learn_every=learn_every,
            concurrency=concurrency,
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = Settings()
    overrides = {"name": policy, "alpha": alpha, "epsilon": epsilon}
    chosen = {k: v for k, v in overrides.items() if v is not None}
    try:
        policy_config = PolicyConfig.model_validate({**settings.policy, **chosen})
    except ValidationError as exc:
        reasons = "; ".join(e["msg"] for e in exc.errors())
        raise typer.BadParameter(reasons, param_hint="--policy/--alpha/--epsilon") from exc
    if url is not None and (policy != "linucb" or alpha is not None or epsilon is not None):
        console.print("[yellow]--url: the server's own NBO_POLICY applies; policy ignored[/yellow]")
    # the server stamps activities with its own clock, so over HTTP history ends now
    now = time.time() if url is not None else simulation_start()
    population = build_population(world, seed, now)
    requests = draw_requests(population, decisions, seed)
    try:
        if url is not None:
            assert key is not None
            trace = asyncio.run(run_http(population, requests, options, url, key, console))
            extra: dict[str, object] = {"url": url}
        else:
            with store_url(settings) as store:
                trace = asyncio.run(
                    run_in_process(
                        population,
                        requests,
                        options,
                        settings,
                        store,
                        policy_config.model_dump(),
                        console,
                        flush=flush,
                    )
                )
            extra = {"policy_config": policy_config.model_dump()}
    except NboError as exc:
        console.print(f"[red]simulation refused:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    result = summarize(population, requests, trace, options, "http" if url else "in_process", extra)
    print_report(result, console)
    summary_path, chart_path = write_outputs(result, out)
    console.print(f"wrote {summary_path} and {chart_path}")


def _read_results(
    experiment_id: str, metric: str | None, *, by_segment: bool = True, every_metric: bool = False
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """An experiment's results as the API computes them, its document, and (``every_metric``)
    the overall results of every other declared metric, for the report's table of them; an
    unknown experiment or metric exits with its message."""
    from engine.catalog.cache import CatalogCache
    from engine.catalog.experiments import get_experiment
    from engine.offline.results import experiment_results

    settings = Settings()

    async def read(url: str) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
        store = RedisStore.from_settings(settings, url)
        try:
            catalog = await CatalogCache(store).get()
            experiment = get_experiment(catalog, experiment_id)
            results = await experiment_results(store, experiment_id, experiment, metric, by_segment)
            others = (
                [experiment.primary_metric, *experiment.secondary_metrics] if every_metric else []
            )
            secondary = [
                await experiment_results(store, experiment_id, experiment, other, by_segment=False)
                for other in dict.fromkeys(others)
                if other != results["metric"]
            ]
            return results, experiment.model_dump(mode="json"), secondary
        finally:
            await store.close()

    try:
        with store_url(settings) as url:
            return asyncio.run(read(url))
    except NboError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc


@app.command()
def results(
    experiment_id: Annotated[str, typer.Argument(help="The experiment")],
    output: Annotated[Path, typer.Option(help="File to write ('-' for stdout)")] = Path("-"),
    format: Annotated[str, typer.Option(help="json, csv or parquet")] = "json",
    metric: Annotated[str | None, typer.Option(help="Metric (default: the primary)")] = None,
    by_segment: Annotated[bool, typer.Option(help="Also per segment")] = True,
) -> None:
    """Write an experiment's results as the API's JSON, or as one row per scope and variant in
    CSV or Parquet (the same rows in both)."""
    import orjson

    from experiments.tables import render_csv, render_parquet

    encoders = {
        "json": lambda body: orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n",
        "csv": lambda body: render_csv(body).encode(),
        "parquet": render_parquet,
    }
    if format not in encoders:
        raise typer.BadParameter("format must be one of json, csv, parquet", param_hint="--format")
    body, _, _ = _read_results(experiment_id, metric, by_segment=by_segment)
    data = encoders[format](body)
    if str(output) == "-":
        with os.fdopen(1, "wb", closefd=False) as sink:
            sink.write(data)
    else:
        output.write_bytes(data)
        console.print(f"results written to {output}")


@app.command()
def report(
    experiment_id: Annotated[str, typer.Argument(help="The experiment to report on")],
    output: Annotated[
        Path | None, typer.Option(help="HTML file (default <id>-report.html)")
    ] = None,
    metric: Annotated[str | None, typer.Option(help="Metric (default: the primary)")] = None,
) -> None:
    """Write a self-contained HTML report of an experiment (every declared metric, lift per
    segment, guardrails, SRM, power)."""
    from experiments.report import render_report

    body, experiment, secondary = _read_results(experiment_id, metric, every_metric=True)
    target = output or Path(f"{experiment_id}-report.html")
    target.write_text(render_report(body, experiment, secondary=secondary), encoding="utf-8")
    console.print(f"report written to {target}")


@segments_app.command("learn")
def segments_learn(
    k: Annotated[int, typer.Option(min=2, max=20, help="Number of segments")] = 5,
    model_id: Annotated[str, typer.Option(help="Name of this segmentation")] = "learned",
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    sample: Annotated[int, typer.Option(min=10, help="Customers to fit on, at most")] = 200_000,
) -> None:
    """Cluster customers on behavioural features into k named segments."""
    from engine.learning.segments import learn_segments

    settings = Settings()
    with store_url(settings) as url:
        result = asyncio.run(
            learn_segments(settings, url, k=k, model_id=model_id, seed=seed, sample=sample)
        )
    for segment_id, name, size in result:
        console.print(f"{segment_id:32} {size:8d}  {name}")


@app.command()
def evaluate(
    log: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="decision log JSON lines (from `nbo export`) or an Open Bandit Dataset CSV",
        ),
    ],
    baseline_log: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="a second log whose per-position action distribution is a candidate (OBD)",
        ),
    ] = None,
    format: Annotated[str, typer.Option(help="Output: table or json")] = "table",
    alpha: Annotated[float, typer.Option(help="1 - alpha is the intervals' coverage")] = 0.05,
    by_segment: Annotated[bool, typer.Option(help="Also evaluate every segment")] = True,
    current_model: Annotated[
        bool, typer.Option(help="Add the model the store serves now (scope --scope)")
    ] = False,
    snapshot: Annotated[
        list[Path] | None,
        typer.Option(exists=True, dir_okay=False, help="Add a saved model (`nbo snapshot`)"),
    ] = None,
    scope: Annotated[str, typer.Option(help="Model scope for --current-model")] = "global",
    epsilon: Annotated[float, typer.Option(help="Exploration of model candidates")] = 0.05,
) -> None:
    """Estimate offline what candidate policies would earn on logged traffic (IPS, SNIPS, DR)."""
    import math

    import orjson
    from rich.table import Table

    from engine.learning.policies import ModelSnapshot
    from engine.offline.evaluation import candidate_policies, load_log, model_candidate
    from engine.offline.evaluation import evaluate as evaluate_policies

    if format not in ("table", "json"):
        raise typer.BadParameter("format must be table or json", param_hint="--format")
    if not 0.0 < alpha < 1.0:
        raise typer.BadParameter("alpha must lie in (0, 1)", param_hint="--alpha")
    try:
        feedback = load_log(log)
        baseline = load_log(baseline_log) if baseline_log is not None else None
        extra = {}
        for path in snapshot or []:
            saved = ModelSnapshot.from_bytes(path.read_bytes())
            extra[f"snapshot:{path.stem}:v{saved.version}"] = model_candidate(saved, epsilon)
        if current_model:
            served = _current_snapshot(scope)
            extra[f"current:{scope}:v{served.version}"] = model_candidate(served, epsilon)
        candidates = candidate_policies(feedback, baseline_log=baseline, extra_candidates=extra)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot evaluate:[/red] {exc}")
        raise typer.Exit(1) from exc
    report = evaluate_policies(feedback, candidates, by_segment=by_segment, alpha=alpha)
    if format == "json":
        typer.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return

    def number(value: float) -> str:
        return f"{value:.4g}" if math.isfinite(value) else "-"

    out = Console()
    out.print(f"Off-policy evaluation of {log.name}: {100 * (1 - alpha):g}% intervals")
    for result in (report.overall, *report.segments):
        table = Table(title=f"{result.segment or 'all rows'}: n = {result.n}", title_justify="left")
        for header in ("policy", "estimator", "value", "interval", "ESS", "note"):
            table.add_column(header, justify="right" if header in ("value", "ESS") else "left")
        rows = [("logged", result.logged)] + [
            (candidate, estimate)
            for candidate, by_estimator in result.estimates.items()
            for estimate in by_estimator.values()
        ]
        for policy, estimate in rows:
            ess = estimate.effective_sample_size
            table.add_row(
                policy,
                estimate.estimator,
                number(estimate.value),
                f"[{number(estimate.ci_low)}, {number(estimate.ci_high)}]",
                f"{ess:,.0f}" if math.isfinite(ess) else "-",
                estimate.error or "",
            )
        out.print(table)
    out.print("static_best is picked and scored on the same log, so its estimate is optimistic.")
    estimated = feedback.estimated_propensity
    if estimated is not None and estimated.any():
        out.print(f"{100 * estimated.mean():.1f}% of rows have estimated propensities.")


def _current_snapshot(scope: str) -> Any:
    from engine.learning.policies import ModelSnapshot

    settings = Settings()

    async def read(url: str) -> bytes | None:
        store = RedisStore.from_settings(settings, url)
        try:
            found = await store.read_snapshot(scope)
            return None if found is None else found[1]
        finally:
            await store.close()

    with store_url(settings) as url:
        blob = asyncio.run(read(url))
    if blob is None:
        raise ValueError(f"no model has been learned for scope '{scope}' yet")
    return ModelSnapshot.from_bytes(blob)


@app.command("snapshot")
def save_snapshot(
    output: Annotated[Path, typer.Option(help="File to write the model snapshot to")],
    scope: Annotated[str, typer.Option(help="Model scope")] = "global",
) -> None:
    """Save the model a scope serves now (to compare later with `nbo evaluate --snapshot`)."""
    try:
        served = _current_snapshot(scope)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    output.write_bytes(served.to_bytes())
    console.print(f"saved scope {scope} version {served.version} ({len(served.arms)} offers)")


if __name__ == "__main__":  # pragma: no cover
    app()
