"""A bandit variant's model scope is built by serving and parsed by the learner alike."""

from __future__ import annotations

from engine.decision.treatment import treatment_for
from engine.learning.policies import PolicyConfig
from engine.learning.scopes import variant_of_scope, variant_scope
from experiments import parse_experiment
from experiments.exposure import Assignment

EXPERIMENT = parse_experiment(
    {
        "name": "Bandit vs rules",
        "hypothesis": "The bandit lifts conversion over our rules.",
        "channels": ["web"],
        "variants": [
            {"id": "rules", "weight": 0.5, "treatment": {"policy": "rules"}},
            {
                "id": "bandit",
                "weight": 0.5,
                "treatment": {"policy": "bandit", "name": "linucb", "alpha": 0.5},
            },
        ],
        "primary_metric": "conversion_rate",
    }
)


def assigned(variant_id: str) -> Assignment:
    variant = next(v for v in EXPERIMENT.variants if v.id == variant_id)
    return Assignment("exp-1", EXPERIMENT, variant, (), True)


def test_a_variant_scope_parses_back_to_its_experiment_and_variant() -> None:
    for base in ("global", "web", "placement.home"):
        assert variant_of_scope(variant_scope(base, "exp-1", "bandit")) == ("exp-1", "bandit")
        assert variant_of_scope(base) is None


def test_a_bandit_variant_decides_in_its_own_scope_and_the_others_in_the_requests() -> None:
    default = PolicyConfig()
    bandit = treatment_for(assigned("bandit"), "global", default)
    assert variant_of_scope(bandit.scope) == ("exp-1", "bandit")
    assert bandit.policy.name == "linucb"
    rules = treatment_for(assigned("rules"), "global", default)
    assert rules.scope == "global"
    assert rules.experiment == {"experiment_id": "exp-1", "variant": "rules"}
    assert treatment_for(None, "global", default).scope == "global"
