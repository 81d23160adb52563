"""Experiment configuration and lifecycle (marketers write, analysts read)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response

from api.deps import Marketer, Reader, ServicesDep
from api.documents import (
    DocumentKind,
    Edit,
    EditDep,
    MergePatch,
    check_id,
    read_only_version,
    tagged,
)
from api.openapi import errors
from engine.catalog.documents import merge_patch
from engine.catalog.experiments import experiment_traffic, get_experiment, prepare_experiment
from engine.domain.catalog import Catalog
from engine.domain.segments import ID_PATTERN
from engine.errors import Conflict, ValidationFailed
from engine.offline.results import METRIC_PATTERN, adaptive_estimates, experiment_results
from experiments import EffectiveTraffic, Experiment, starts
from experiments.tables import PARQUET_MEDIA_TYPE, render_csv, render_parquet

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ExperimentId = Annotated[str, Path(pattern=ID_PATTERN)]

EXPERIMENTS = DocumentKind(
    "experiment",
    "experiment_id",
    lambda catalog: catalog.experiments,
    lambda catalog, experiment_id: catalog.experiment_versions.get(experiment_id, 0),
)


class ExperimentOut(Experiment):
    """The experiment document itself, with its read-only id and version (PUT takes it back)."""

    experiment_id: str
    version: int
    effective_traffic: EffectiveTraffic


READ_ONLY = ("experiment_id", "version", "effective_traffic")


def _out(
    experiment_id: str, experiment: Experiment, version: int, traffic: EffectiveTraffic
) -> ExperimentOut:
    return ExperimentOut.model_validate(
        {
            **experiment.model_dump(),
            "experiment_id": experiment_id,
            "version": version,
            "effective_traffic": traffic,
        }
    )


def _document(experiment_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The body less its read-only members (checked: the id must be the path's)."""
    given = body.get("experiment_id")
    if given is not None and not isinstance(given, str):
        raise ValidationFailed("experiment_id: read-only; the path names it", field="experiment_id")
    check_id(given, experiment_id, "experiment_id")
    return {k: v for k, v in body.items() if k not in READ_ONLY}


async def _write(
    edit: Edit,
    experiment_id: str,
    *,
    body: Mapping[str, Any] | None = None,
    patch: dict[str, Any] | None = None,
) -> ExperimentOut:
    """PUT (``body``) and PATCH (``patch``): the lifecycle rules are judged against the version
    read, so the write is always conditioned on it."""

    async def write(catalog: Catalog, expected: int | None) -> ExperimentOut | None:
        document = body
        if document is None:
            current = get_experiment(catalog, experiment_id)
            read = _out(
                experiment_id, current, expected or 1, experiment_traffic(catalog)[experiment_id]
            ).model_dump(mode="json")
            document = merge_patch(read, patch)
        stored = prepare_experiment(catalog, experiment_id, _document(experiment_id, document))
        # starting is judged against every other experiment (overlap, layer ranges): the write
        # holds only while none of them changed since, else it is judged again on a fresh read
        judged = catalog.version if starts(catalog.experiments.get(experiment_id), stored) else None
        version = await edit.services.store.put_experiment(
            experiment_id, stored.model_dump_json().encode(), expected, catalog_version=judged
        )
        if version is None:
            return None
        traffic = experiment_traffic(catalog, {experiment_id: stored})[experiment_id]
        return _out(experiment_id, stored, version, traffic)

    given = read_only_version(body if body is not None else patch or {})
    return await EXPERIMENTS.write(edit, experiment_id, write, given=given, reads_current=True)


@router.put(
    "/{experiment_id}",
    summary="Create or change an experiment (lifecycle: draft -> running -> paused -> stopped)",
    responses=errors(409),
)
async def put(
    experiment_id: ExperimentId,
    _: Marketer,
    edit: EditDep,
    body: Annotated[
        dict[str, Any],
        Body(description="An Experiment, or the document GET returned (see the response)."),
    ],
) -> ExperimentOut:
    return await _write(edit, experiment_id, body=body)


@router.patch(
    "/{experiment_id}",
    summary="Change some members of an experiment (JSON Merge Patch), e.g. pause it",
)
async def patch_one(
    experiment_id: ExperimentId, _: Marketer, patch: MergePatch, edit: EditDep
) -> ExperimentOut:
    return await _write(edit, experiment_id, patch=patch)


@router.delete(
    "/{experiment_id}",
    status_code=204,
    summary="Delete a draft or stopped experiment, and its results",
)
async def delete_one(experiment_id: ExperimentId, _: Marketer, edit: EditDep) -> Response:
    async def remove(catalog: Catalog, expected: int | None) -> bool | None:
        experiment = get_experiment(catalog, experiment_id)
        if experiment.status not in ("draft", "stopped"):
            raise Conflict(
                f"status: a {experiment.status} experiment cannot be deleted; stop it first",
                field="status",
            )
        ran = experiment.started_at is not None
        return await edit.services.store.delete_experiment(experiment_id, expected, ran=ran)

    return await EXPERIMENTS.delete(edit, experiment_id, remove, reads_current=True)


@router.get("/{experiment_id}", summary="One experiment")
async def get_one(
    experiment_id: ExperimentId, services: ServicesDep, response: Response, _: Reader
) -> ExperimentOut:
    catalog = await services.catalog.get()
    experiment = get_experiment(catalog, experiment_id)
    version = catalog.experiment_versions.get(experiment_id, 1)
    traffic = experiment_traffic(catalog)[experiment_id]
    return tagged(response, _out(experiment_id, experiment, version, traffic))


@router.get("", summary="All experiments")
async def list_all(services: ServicesDep, _: Reader) -> list[ExperimentOut]:
    catalog = await services.catalog.get()
    traffic = experiment_traffic(catalog)
    return [
        _out(eid, experiment, catalog.experiment_versions.get(eid, 1), traffic[eid])
        for eid, experiment in catalog.experiments.items()
    ]


@router.get(
    "/{experiment_id}/results",
    summary="Per-variant, per-segment results",
    responses={
        200: {
            "description": "The results as JSON, or with `format=csv` or `format=parquet` "
            "one row per scope and variant (the same rows in both).",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                PARQUET_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def results(
    experiment_id: ExperimentId,
    services: ServicesDep,
    _: Reader,
    metric: Annotated[
        str | None,
        Query(
            pattern=METRIC_PATTERN,
            description="conversion_rate, click_rate, revenue_per_unit or activity:<type>; "
            "default: the experiment's primary metric",
        ),
    ] = None,
    by: Annotated[Literal["segment", "none"], Query()] = "segment",
    format: Annotated[
        Literal["json", "csv", "parquet"], Query(description="json, csv or parquet")
    ] = "json",
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
    if adaptive:
        body["adaptive"] = await adaptive_estimates(
            services.store, experiment_id, experiment, experiment.alpha
        )
    if format == "json":
        return body
    attachment = {"Content-Disposition": f'attachment; filename="{experiment_id}-results.{format}"'}
    if format == "csv":
        return Response(render_csv(body), media_type="text/csv", headers=attachment)
    return Response(render_parquet(body), media_type=PARQUET_MEDIA_TYPE, headers=attachment)
