"""``nbo simulate``: measure learning on a synthetic world with known response rates."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import console, store_url
from engine.config import Settings


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
