"""Experiments joined to the catalog: a configuration change checked against the offers,
segments and other experiments it names, and each experiment's effective traffic.

The pure rules (validation, lifecycle, hashing, which experiment decides a request) live in the
``experiments`` package; this module supplies them the catalog and translates their errors into
the engine's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.domain.catalog import Catalog
from engine.errors import Conflict, ExperimentOverlap, NotFound, ValidationFailed
from engine.store.ports import CatalogWriter
from experiments import (
    EffectiveTraffic,
    Experiment,
    ExperimentConflict,
    ExperimentInvalid,
    check_overlap,
    check_siblings,
    effective_traffic,
    parse_experiment,
    transition,
)
from experiments.errors import ExperimentOverlap as Overlapping

__all__ = [
    "experiment_traffic",
    "get_experiment",
    "prepare_experiment",
    "put_experiment",
]


def prepare_experiment(
    catalog: Catalog, experiment_id: str, document: Mapping[str, Any]
) -> Experiment:
    """Validate and apply the lifecycle rules against the version in ``catalog``: what to store
    (conditioned on that version, since the lifecycle rules depend on it)."""
    try:
        new = parse_experiment(document)
        current = catalog.experiments.get(experiment_id)
        merged = transition(current, new, experiment_id=experiment_id, now=datetime.now(UTC))
        others = {k: v for k, v in catalog.experiments.items() if k != experiment_id}
        check_siblings(experiment_id, merged, others)
    except ExperimentInvalid as exc:
        raise ValidationFailed(exc.message, field=exc.field) from exc
    except ExperimentConflict as exc:
        raise Conflict(exc.message, field=exc.field) from exc
    for i, segment_id in enumerate(merged.segments):
        if segment_id not in catalog.segments:
            raise ValidationFailed(f"unknown segment '{segment_id}'", field=f"segments[{i}]")
    for i, variant in enumerate(merged.variants):
        offer_id = getattr(variant.treatment, "offer_id", None)
        if offer_id is not None and offer_id not in catalog.offers:
            raise ValidationFailed(
                f"unknown offer '{offer_id}'", field=f"variants[{i}].treatment.offer_id"
            )
    try:
        check_overlap(experiment_id, current, merged, others, exclusive_segments(catalog))
    except Overlapping as exc:
        raise ExperimentOverlap(exc.message, field=exc.field) from exc
    return merged


async def put_experiment(
    store: CatalogWriter, catalog: Catalog, experiment_id: str, document: Mapping[str, Any]
) -> Experiment:
    """Validate, apply the lifecycle rules against the stored version, and store."""
    merged = prepare_experiment(catalog, experiment_id, document)
    await store.put_experiment(experiment_id, merged.model_dump_json().encode())
    return merged


def exclusive_segments(catalog: Catalog) -> dict[str, str]:
    """Segment id -> learned model id, for segments no customer shares with the model's others.

    A learned model puts every customer in exactly one of its clusters; a segment id listed by
    two models could come from either, so it is left out (treated as overlapping anything).
    """
    owners: dict[str, list[str]] = {}
    for model_id, model in catalog.models.items():
        for segment_id in model.segment_ids:
            owners.setdefault(segment_id, []).append(model_id)
    return {
        segment_id: models[0]
        for segment_id, models in owners.items()
        if len(models) == 1
        and segment_id in catalog.segments
        and catalog.segments[segment_id].rule is None
    }


def experiment_traffic(
    catalog: Catalog, changed: Mapping[str, Experiment] | None = None
) -> dict[str, EffectiveTraffic]:
    """Each experiment's effective traffic, with ``changed`` (just written) over the catalog."""
    return effective_traffic(
        {**catalog.experiments, **(changed or {})}, exclusive_segments(catalog)
    )


def get_experiment(catalog: Catalog, experiment_id: str) -> Experiment:
    experiment = catalog.experiments.get(experiment_id)
    if experiment is None:
        raise NotFound(f"no experiment '{experiment_id}'", field="experiment_id")
    return experiment
