"""Experiment results: the cells read once from the store and handed to
:func:`experiments.results.results_document`, which adds them up and runs the statistics.

Shape: ARCHITECTURE.md, "Beside the loop" (``GET /v1/experiments/{id}/results``), plus ``daily``
(cumulative value per variant per day, for the report's chart) and ``power``.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from engine.domain.profiles import ACTIVITY_TYPES
from engine.errors import ValidationFailed
from engine.learning.policies import ModelSnapshot
from engine.offline.evaluation import evaluate, load_decision_log, model_candidate
from engine.offline.export import export_rows
from engine.store.ports import OfflinePort
from experiments import Experiment
from experiments.results import results_document

__all__ = ["METRICS", "adaptive_estimates", "experiment_results"]

METRICS = ("conversion_rate", "click_rate", "revenue_per_unit")
# every metric a results query may name, for the API's schema
METRIC_PATTERN = f"^({'|'.join(METRICS)}|activity:({'|'.join(ACTIVITY_TYPES)}))$"


async def adaptive_estimates(
    store: OfflinePort, experiment_id: str, experiment: Experiment, alpha: float
) -> list[dict[str, Any]]:
    """Bandit variants, measured honestly: each bandit variant's current model evaluated on
    that variant's own logged decisions by inverse propensity weighting (IPS and SNIPS) with the
    propensities logged at decision time, overall and per segment. Unlike the running average
    of an adaptive variant, this estimates what the policy as it is now would earn, whatever
    allocation the earlier, exploring versions made."""
    rows = [
        row
        async for row in export_rows(store)
        if row.get("experiment") == experiment_id and row["position"] == 1
    ]
    out: list[dict[str, Any]] = []
    for variant in experiment.variants:
        if variant.treatment.policy != "bandit":
            continue
        mine = [r for r in rows if r.get("variant") == variant.id]
        if len(mine) < 2:
            out.append({"variant": variant.id, "error": "too_few_closed_decisions", "n": len(mine)})
            continue
        log = load_decision_log(orjson.dumps(r) for r in mine)
        scope = mine[-1].get("scope") or ""
        found = await store.read_snapshot(scope)
        if found is None:
            out.append({"variant": variant.id, "error": "no_model_yet", "n": len(mine)})
            continue
        snapshot = ModelSnapshot.from_bytes(found[1])
        try:
            target = model_candidate(snapshot, snapshot.policy.epsilon)(log)
        except ValueError as exc:
            out.append({"variant": variant.id, "error": str(exc), "n": len(mine)})
            continue
        report = evaluate(
            log, {"current": target}, estimators=("ips", "snips"), by_segment=True, alpha=alpha
        )
        for block in (report.overall, *report.segments):
            out.append(
                {
                    "variant": variant.id,
                    "segment": block.segment or "all",
                    "n": block.n,
                    "model_version": snapshot.version,
                    "logged": block.logged.to_dict(),
                    "ips": block.estimates["current"]["ips"].to_dict(),
                    "snips": block.estimates["current"]["snips"].to_dict(),
                }
            )
    return out


async def experiment_results(
    store: OfflinePort,
    experiment_id: str,
    experiment: Experiment,
    metric: str | None = None,
    by_segment: bool = True,
    correction: Literal["holm", "bh"] = "holm",
) -> dict[str, Any]:
    """The results document of the experiment's current phase; ``metric`` defaults to the
    primary one and must be a built-in metric or ``activity:<type>`` of a known type."""
    metric = metric or experiment.primary_metric
    activity = metric.startswith("activity:") and metric[len("activity:") :] in ACTIVITY_TYPES
    if metric not in METRICS and not activity:
        raise ValidationFailed(
            f"metric must be one of {', '.join(METRICS)} or activity:<type> with a type among "
            f"{', '.join(ACTIVITY_TYPES)}; got '{metric}'",
            field="metric",
        )
    raw = await store.read_experiment_cells(experiment_id)
    return results_document(experiment_id, experiment, raw, metric, by_segment, correction)
