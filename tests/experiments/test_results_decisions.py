"""Over HTTP: the results carry a decision per comparison and for the experiment, with rules."""

from __future__ import annotations

import csv
import io

import httpx

from experiments import assign, parse_experiment
from tests.experiments.documents import policy_variants
from tests.experiments.test_experiment_results import Roles, send, start_experiment

EXPERIMENT = {
    "name": "Rules vs bandit vs holdout",
    "status": "running",
    "variants": policy_variants(
        ("rules", 0.4, "rules"), ("bandit", 0.4, "bandit"), ("holdout", 0.2, "holdout")
    ),
    "control": "rules",
    "primary_metric": "conversion_rate",
    "secondary_metrics": ["click_rate"],
    "guardrail_metrics": ["click_rate"],
    "minimum_detectable_effect": 0.1,
}


async def test_results_carry_decisions_with_their_rules(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await start_experiment(client, role_keys, "exp-d", EXPERIMENT)
    experiment = parse_experiment(EXPERIMENT)
    for i in range(200):
        customer = f"d-{i}"
        variant = assign(experiment, customer, experiment_id="exp-d")
        assert variant is not None
        # rules converts 2 in 5, the bandit 1 in 20; the holdout is served nothing to act on
        converts = (variant.id == "rules" and i % 5 < 2) or (variant.id == "bandit" and i % 20 == 0)
        await send(client, role_keys, customer, "conversion" if converts else "", value=5.0)
    r = await client.get("/v1/experiments/exp-d/results", headers=role_keys["analyst"])
    assert r.status_code == 200, r.text
    results = r.json()
    comparisons = {c["variant"]: c for c in results["overall"]["comparisons"]}
    bandit = comparisons["bandit"]
    assert bandit["p_value_adjusted"] < 0.05
    assert bandit["decision"] == "roll_back"
    assert bandit["decision_rule"].startswith(
        "primary metric conversion_rate significantly worse: -"
    )
    assert comparisons["holdout"]["decision"] == "baseline"
    assert results["decision"] == "roll_back"
    assert results["decision_variant"] == "bandit"
    assert results["decision_rule"].startswith("roll back bandit: primary metric")
    (programme,) = results["programme"]
    assert (programme["holdout"], programme["variant"]) == ("holdout", "rules")
    holdout = comparisons["holdout"]
    assert programme["incremental_absolute"] == -holdout["absolute_lift"]
    # The holdout converted nobody: no relative lift over it, but the difference stands.
    assert programme["incremental_relative"] is None
    assert programme["rule"].startswith(
        "rules over holdout (no offers): +0.3784 absolute (holdout's value is zero), "
        "adjusted p < 0.001"
    )

    r = await client.get("/v1/experiments/exp-d/results?format=csv", headers=role_keys["analyst"])
    rows = {
        row["variant"]: row
        for row in csv.DictReader(io.StringIO(r.text))
        if row["scope"] == "overall"
    }
    assert (rows["rules"]["decision"], rows["bandit"]["decision"]) == ("", "roll_back")
    assert rows["holdout"]["decision"] == "baseline"

    # Decisions are the primary metric's: a secondary metric's results say so, deciding nothing.
    r = await client.get(
        "/v1/experiments/exp-d/results?metric=click_rate", headers=role_keys["analyst"]
    )
    secondary = r.json()
    assert secondary["decision"] is None
    assert secondary["decision_rule"].startswith(
        "decisions are made on the primary metric conversion_rate"
    )
    assert all(c["decision"] is None for c in secondary["overall"]["comparisons"])
