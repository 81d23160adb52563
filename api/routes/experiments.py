"""Experiment configuration and lifecycle (marketers write, analysts read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel

from api.deps import ServicesDep, allow
from engine.auth import ApiKey
from engine.experimentation import get_experiment, put_experiment
from engine.segments import ID_PATTERN
from experiments import Experiment

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ExperimentId = Annotated[str, Path(pattern=ID_PATTERN)]
Marketer = Annotated[ApiKey, Depends(allow("marketer"))]
Reader = Annotated[ApiKey, Depends(allow("marketer", "analyst"))]


class ExperimentOut(BaseModel):
    experiment_id: str
    experiment: Experiment


@router.put(
    "/{experiment_id}",
    summary="Create or change an experiment (lifecycle: draft -> running -> paused -> stopped)",
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
    return ExperimentOut(experiment_id=experiment_id, experiment=stored)


@router.get("/{experiment_id}", summary="One experiment")
async def get_one(experiment_id: ExperimentId, services: ServicesDep, _: Reader) -> ExperimentOut:
    catalog = await services.catalog.get()
    return ExperimentOut(
        experiment_id=experiment_id, experiment=get_experiment(catalog, experiment_id)
    )


@router.get("", summary="All experiments")
async def list_all(services: ServicesDep, _: Reader) -> list[ExperimentOut]:
    catalog = await services.catalog.get()
    return [
        ExperimentOut(experiment_id=eid, experiment=experiment)
        for eid, experiment in catalog.experiments.items()
    ]
