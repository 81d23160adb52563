"""``nbo results`` and ``nbo report``: an experiment's results as data and as an HTML report."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import console, store_url
from engine.config import Settings
from engine.errors import NboError
from engine.store.redis import RedisStore


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
