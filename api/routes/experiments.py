"""Experiment configuration and lifecycle (marketers write, analysts read)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Response
from pydantic import BaseModel

from api.deps import ServicesDep, allow
from api.openapi import errors
from engine.auth import ApiKey
from engine.experimentation import experiment_traffic, get_experiment, put_experiment
from engine.results import adaptive_estimates, experiment_results
from engine.segments import ID_PATTERN
from engine.store import RedisStore
from experiments import EffectiveTraffic, Experiment
from experiments.report import render_csv

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ExperimentId = Annotated[str, Path(pattern=ID_PATTERN)]
Marketer = Annotated[ApiKey, Depends(allow("marketer"))]
Reader = Annotated[ApiKey, Depends(allow("marketer", "analyst"))]
Analyst = Annotated[ApiKey, Depends(allow("analyst", "marketer"))]


class ExperimentOut(BaseModel):
    experiment_id: str
    experiment: Experiment
    effective_traffic: EffectiveTraffic


@router.put(
    "/{experiment_id}",
    summary="Create or change an experiment (lifecycle: draft -> running -> paused -> stopped)",
    responses=errors(409),
)
async def put(
    experiment_id: ExperimentId,
    services: ServicesDep,
    _: Marketer,
    body: Annotated[
        dict[str, Any],
        Body(description="An Experiment (see the schema of the response's `experiment`)."),
    ],
) -> ExperimentOut:
    catalog = await services.catalog.get()
    stored = await put_experiment(services.store, catalog, experiment_id, body)
    traffic = experiment_traffic(catalog, {experiment_id: stored})[experiment_id]
    return ExperimentOut(experiment_id=experiment_id, experiment=stored, effective_traffic=traffic)


@router.get("/{experiment_id}", summary="One experiment")
async def get_one(experiment_id: ExperimentId, services: ServicesDep, _: Reader) -> ExperimentOut:
    catalog = await services.catalog.get()
    experiment = get_experiment(catalog, experiment_id)
    traffic = experiment_traffic(catalog)[experiment_id]
    return ExperimentOut(
        experiment_id=experiment_id, experiment=experiment, effective_traffic=traffic
    )


@router.get("", summary="All experiments")
async def list_all(services: ServicesDep, _: Reader) -> list[ExperimentOut]:
    catalog = await services.catalog.get()
    traffic = experiment_traffic(catalog)
    return [
        ExperimentOut(experiment_id=eid, experiment=experiment, effective_traffic=traffic[eid])
        for eid, experiment in catalog.experiments.items()
    ]


@router.get(
    "/{experiment_id}/results",
    summary="Per-variant, per-segment results",
    responses={
        200: {
            "description": "The results as JSON, or with `format=csv` one row per variant, "
            "segment and metric.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def results(
    experiment_id: ExperimentId,
    services: ServicesDep,
    _: Analyst,
    metric: Annotated[str | None, Query(max_length=64)] = None,
    by: Annotated[Literal["segment", "none"], Query()] = "segment",
    format: Annotated[Literal["json", "csv"], Query(description="json or csv")] = "json",
    correction: Annotated[
        Literal["holm", "bh"],
        Query(description="Holm (family-wise) or Benjamini-Hochberg (false discovery rate)"),
    ] = "holm",
    adaptive: Annotated[
        bool,
        Query(
            description="Also evaluate bandit variants' current models on their own logged "
            "decisions (IPS/SNIPS with logged propensities); reads the decision log."
        ),
    ] = False,
) -> Any:
    catalog = await services.catalog.get()
    experiment = get_experiment(catalog, experiment_id)
    body = await experiment_results(
        services.store, experiment_id, experiment, metric, by == "segment", correction
    )
    if adaptive and isinstance(services.store, RedisStore):
        body["adaptive"] = await adaptive_estimates(
            services.store, experiment_id, experiment, experiment.alpha
        )
    if format == "csv":
        return Response(
            render_csv(body),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{experiment_id}-results.csv"'},
        )
    return body
