"""Scoring and arbitration: which candidates are served, in which order, and the answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.decision.arbitration import Selection, expected_values, select
from engine.decision.candidates import Candidate
from engine.decision.facts import DecisionFacts
from engine.decision.response import decision_body, served_offers
from engine.learning.policies import Scorer

__all__ = ["Choice", "choose"]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
RESAMPLE_DRAWS = 128  # Monte Carlo draws estimating a sampling scorer's propensities


@dataclass(frozen=True, slots=True)
class Choice:
    body: dict[str, Any]  # the response, as :func:`engine.decision.response.decision_body`
    selection: Selection
    served: list[Candidate]


def choose(
    facts: DecisionFacts,
    candidates: Sequence[Candidate],
    scorer: Scorer,
    rng: np.random.Generator,
) -> Choice:
    policy = facts.treatment.policy
    mode = facts.mode
    x = facts.x
    arms = scorer.arm_indices([c.parsed.offer_id for c in candidates])
    values = np.array([c.parsed.offer.value for c in candidates], dtype=float)
    weights = np.array([c.parsed.offer.weight for c in candidates], dtype=float)
    response = np.ones(len(candidates)) if policy.name == "rules" else scorer.score(x, arms, rng)
    arbitrated = expected_values(response, values, weights, mode)
    resample = None
    if scorer.stochastic and policy.name not in ("rules", "random") and candidates:

        def resample(draws: int) -> FloatArray:
            samples = scorer.sample(x, arms, rng, draws)
            return expected_values(samples, values, weights, mode)

    epsilon = 1.0 if policy.name == "random" else facts.treatment.epsilon
    request = facts.request
    selection = select(arbitrated, request.limit, epsilon, rng, resample, draws=RESAMPLE_DRAWS)
    served = [candidates[i] for i in selection.order]
    expected = scorer.expected(x, arms) if candidates else np.zeros(0)
    offers = served_offers(
        request.channel,
        policy.name,
        candidates,
        selection,
        arbitrated=arbitrated,
        response=response,
        expected=expected,
        mode=mode,
    )
    body = decision_body(
        request,
        facts.decision_id,
        offers,
        policy=policy.name,
        model_version=facts.model_version,
        experiment=facts.treatment.experiment,
        propensity_estimated=selection.estimated,
        segments=facts.segments,
        reason=None if offers else facts.treatment.empty_reason,
    )
    return Choice(body, selection, served)
