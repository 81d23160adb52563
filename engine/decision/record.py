"""What a served decision writes: its record (committed with the caps), its log entry, its
exposures to the learner and its experiment's exposure cells, all from :class:`DecisionFacts`.

The record's short field names are the store layout (docs/ and ``engine.store.loop`` read
them); the log entry's long ones are the decision log's, read by export and evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import orjson

from engine.decision.candidates import Candidate
from engine.decision.choice import Choice
from engine.decision.facts import DecisionFacts
from engine.feedback.rewards import stream_fields
from engine.store.records import LogRecord
from experiments.cells import exposure_increments

__all__ = [
    "decision_log_record",
    "decision_record_fields",
    "first_exposure_record",
    "record_fields",
]


def record_fields(facts: DecisionFacts, choice: Choice) -> dict[str, str]:
    """The decision record: what an event for it joins to, and the learner learns from."""
    request, treatment = facts.request, facts.treatment
    experiment = treatment.experiment or {}
    return decision_record_fields(
        facts.now,
        request.channel,
        request.placement,
        treatment.scope,
        model_version=facts.model_version,
        spec_version=facts.spec_version,
        policy=treatment.policy.name,
        experiment_id=experiment.get("experiment_id", ""),
        variant=experiment.get("variant", ""),
        window=facts.window,
        x=orjson.dumps(facts.x.tolist()).decode(),
        served=[candidate.parsed.offer_id for candidate in choice.served],
        propensities=choice.selection.propensities,
    )


def decision_record_fields(
    now: float,
    channel: str,
    placement: str,
    scope: str,
    *,
    model_version: int,
    spec_version: int,
    policy: str,
    experiment_id: str,
    variant: str,
    window: int,
    x: str,
    served: Sequence[str],
    propensities: Iterable[float],
) -> dict[str, str]:
    """The record's layout, one builder for a scored decision and a fallback alike: an event
    joins either by the same fields. ``served``: offer ids in rank order, each with its
    propensity."""
    fields = {
        "ts": repr(now),
        "ch": channel,
        "pl": placement,
        "sc": scope,
        "mv": str(model_version),
        "sv": str(spec_version),
        "pol": policy,
        "exp": experiment_id,
        "var": variant,
        "win": str(window),
        "x": x,
        "xp": "1",  # exposures go to the learner with the log: the sweep need not send 0s
    }
    for rank, (offer_id, propensity) in enumerate(zip(served, propensities, strict=True), start=1):
        fields[f"o:{offer_id}"] = f"{rank}|{float(propensity)!r}"
    return fields


def decision_log_record(
    facts: DecisionFacts,
    candidates: Sequence[Candidate],
    choice: Choice,
    fields: dict[str, str],
) -> LogRecord:
    """What follows the commit: ``fields`` are the committed record's (the exposures repeat
    its vector and versions), ``candidates`` the offers that were eligible at the commit."""
    exposures = [
        stream_fields(
            "exposure",
            facts.decision_id,
            candidate.parsed.offer_id,
            "0.0",
            fields["x"],
            fields["sv"],
            fields["ts"],
            fields["pol"],
        )
        for candidate in choice.served
    ]
    return LogRecord(
        log_entry(facts, candidates, choice),
        facts.treatment.scope,
        facts.decision_id,
        facts.now + facts.window,
        _exposure_cells(facts),
        exposures,
    )


def log_entry(
    facts: DecisionFacts, candidates: Sequence[Candidate], choice: Choice
) -> dict[str, str]:
    request, treatment, selection = facts.request, facts.treatment, choice.selection
    return {
        "decision_id": facts.decision_id,
        "customer_id": request.customer_id,
        "ts": repr(facts.now),
        "channel": request.channel,
        "placement": request.placement,
        "scope": treatment.scope,
        "context": orjson.dumps(request.context).decode(),
        "feature_spec": str(facts.spec_version),
        "eligible": orjson.dumps([c.parsed.offer_id for c in candidates]).decode(),
        "served": orjson.dumps(
            [
                {"offer_id": c.parsed.offer_id, "rank": i + 1, "propensity": float(p)}
                for i, (c, p) in enumerate(zip(choice.served, selection.propensities, strict=True))
            ]
        ).decode(),
        "propensity_estimated": "1" if selection.estimated else "0",
        "explored": "1" if selection.explored else "0",
        "policy": treatment.policy.name,
        "model_version": str(facts.model_version),
        "experiment": (treatment.experiment or {}).get("experiment_id", ""),
        "variant": (treatment.experiment or {}).get("variant", ""),
        "segments": orjson.dumps(facts.segments).decode(),
        "features": orjson.dumps([round(v, 5) for v in facts.x.tolist()]).decode(),
        "fallback": "0",
    }


def _exposure_cells(facts: DecisionFacts) -> dict[str, dict[str, float]] | None:
    """A first exposure's increments of its experiment's cells; None otherwise."""
    assignment = facts.assignment
    if assignment is None or not assignment.first_exposure:
        return None
    return exposure_increments(
        assignment.experiment_id,
        assignment.experiment.phase,
        assignment.variant.id,
        assignment.segments,
        facts.pre_revenue,
        facts.pre_converted,
        facts.now,
    )


def first_exposure_record(facts: DecisionFacts) -> tuple[str, str] | None:
    """``(experiment_id, what its unit keeps)`` when this decision is the unit's first
    exposure to its experiment (the commit stores it once); None otherwise."""
    assignment = facts.assignment
    if assignment is None or not assignment.first_exposure:
        return None
    return (
        assignment.experiment_id,
        assignment.record(facts.now, facts.pre_revenue, facts.pre_converted),
    )
