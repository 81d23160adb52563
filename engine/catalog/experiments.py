"""Experiments inside the engine: configuration changes and who gets which treatment.

The pure rules (validation, lifecycle, hashing) live in the ``experiments`` package; this module
joins them to the catalog and the customer: target segments are judged at first exposure and
recorded with the assignment, so a treatment that moves a customer between segments cannot
move them between the groups the experiment is analysed on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from engine.domain.catalog import Catalog
from engine.errors import Conflict, ExperimentOverlap, NotFound, ValidationFailed
from engine.store.ports import CatalogWriter
from experiments import (
    EffectiveTraffic,
    Experiment,
    ExperimentConflict,
    ExperimentInvalid,
    Variant,
    assign,
    check_overlap,
    check_siblings,
    effective_traffic,
    parse_experiment,
    transition,
)
from experiments.errors import ExperimentOverlap as Overlapping

__all__ = [
    "Assignment",
    "assign_for_decision",
    "experiment_traffic",
    "get_experiment",
    "prepare_experiment",
    "put_experiment",
]


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment_id: str
    experiment: Experiment
    variant: Variant
    segments: tuple[str, ...]
    first_exposure: bool

    def record(self, now: float, pre: float, pre_converted: float) -> str:
        """What is kept at first exposure: the variant, the segments the unit is analysed in,
        and its pre-exposure covariates (for CUPED)."""
        return orjson.dumps(
            {
                "variant": self.variant.id,
                "phase": self.experiment.phase,
                "segments": list(self.segments),
                "at": now,
                "pre": pre,
                "pre_c": pre_converted,
            }
        ).decode()


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


def assign_for_decision(
    catalog: Catalog,
    customer_id: str,
    channel: str,
    segments: Sequence[str],
    recorded: Mapping[str, str],
    placement: str,
) -> Assignment | None:
    """The experiment that decides this request, if any (the first running one by id).

    A customer keeps the variant recorded at first exposure (same phase); otherwise the target
    segments are judged now and the hash assigns. Experiments of one layer never overlap, and
    live ones whose targeting meets outside a shared layer are refused when they start
    (:func:`experiments.check_overlap`), so the id order decides nothing they both want.
    """
    current = set(segments)
    for experiment_id, experiment in catalog.experiments.items():
        if experiment.status != "running":
            continue
        if experiment.channels and channel not in experiment.channels:
            continue
        if experiment.placements and placement not in experiment.placements:
            continue
        stored = recorded.get(experiment_id)
        if stored is not None:
            record = orjson.loads(stored)
            if record.get("phase") == experiment.phase:
                variant = next((v for v in experiment.variants if v.id == record["variant"]), None)
                if variant is not None:
                    return Assignment(
                        experiment_id, experiment, variant, tuple(record["segments"]), False
                    )
        if experiment.segments and not current.intersection(experiment.segments):
            continue
        chosen = assign(experiment, customer_id, experiment_id=experiment_id)
        if chosen is not None:
            return Assignment(experiment_id, experiment, chosen, tuple(segments), True)
    return None
