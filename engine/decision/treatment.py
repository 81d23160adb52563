"""Which policy decides this request: the default one, or an experiment variant's treatment.

``AppliedTreatment`` is what a decision applies, resolved from the variant's declared
treatment (``experiments.Treatment``, the configuration) and the request's model scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.domain.catalog import Catalog
from engine.learning.policies import PolicyConfig
from engine.learning.scopes import variant_scope
from experiments.exposure import Assignment

__all__ = ["AppliedTreatment", "treatment_for", "variant_scopes"]


@dataclass(frozen=True, slots=True)
class AppliedTreatment:
    """What decides this request: the default policy or an experiment variant's treatment."""

    policy: PolicyConfig
    scope: str
    epsilon: float
    experiment: dict[str, str] | None = None
    only_offer: str | None = None
    holdout: bool = False

    def admits(self, offer_id: str) -> bool:
        if self.holdout:
            return False
        return self.only_offer is None or offer_id == self.only_offer

    @property
    def empty_reason(self) -> str:
        return "holdout" if self.holdout else "no_eligible_offer"


def variant_scopes(catalog: Catalog, scope: str) -> list[str]:
    """Model scopes of the bandit variants of running experiments (read with the customer)."""
    return [
        variant_scope(scope, eid, variant.id)
        for eid, experiment in catalog.experiments.items()
        if experiment.status == "running"
        for variant in experiment.variants
        if variant.treatment.policy == "bandit"
    ]


def treatment_for(
    assignment: Assignment | None, scope: str, default: PolicyConfig
) -> AppliedTreatment:
    if assignment is None:
        return AppliedTreatment(default, scope, default.epsilon)
    experiment = {"experiment_id": assignment.experiment_id, "variant": assignment.variant.id}
    spec = assignment.variant.treatment
    if spec.policy == "bandit":
        policy = PolicyConfig.of_treatment(spec)
        own = variant_scope(scope, assignment.experiment_id, assignment.variant.id)
        return AppliedTreatment(policy, own, policy.epsilon, experiment)
    if spec.policy == "random":
        return AppliedTreatment(PolicyConfig(name="random"), scope, 1.0, experiment)
    if spec.policy == "static":
        return AppliedTreatment(PolicyConfig(name="rules"), scope, 0.0, experiment, spec.offer_id)
    if spec.policy == "holdout":
        return AppliedTreatment(PolicyConfig(name="rules"), scope, 0.0, experiment, holdout=True)
    return AppliedTreatment(PolicyConfig(name="rules"), scope, 0.0, experiment)
