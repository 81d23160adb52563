"""The demo experiment: the bandit variant runs the recommended policy, and its traffic learns."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from api.cli import app
from engine.catalog.cache import CatalogCache
from engine.catalog.experiments import put_experiment
from engine.config import Settings
from engine.learning.learner import policy_for_scope
from engine.learning.policies import PolicyConfig
from engine.learning.registry import scope_for
from engine.learning.scopes import variant_scope
from engine.offline.results import experiment_results
from engine.store.redis import RedisStore
from engine.synthetic.demo import DemoConfig, load_demo
from engine.synthetic.demo_experiment import DEMO_EXPERIMENT, DEMO_EXPERIMENT_BODY, LEARN_EVERY
from experiments.report.formatting import pct
from tests.experiments.test_report import PAGE_CONSOLE, _visible_text, screenshot

Roles = dict[str, dict[str, str]]
NOW = 1_790_000_000.0


def quiet() -> Console:
    return Console(file=io.StringIO(), width=100)


async def test_demo_bandit_runs_the_recommended_policy_and_its_traffic_is_learned(
    settings: Settings, store: RedisStore
) -> None:
    decisions = 3 * LEARN_EVERY + 50  # three learning rounds, then the rest at the end
    config = DemoConfig(customers=400, experiment_decisions=decisions)
    await load_demo(settings, settings.redis_url or "", config, quiet(), now=NOW)
    catalog = await CatalogCache(store).get()
    experiment = catalog.experiments[DEMO_EXPERIMENT]
    bandit = next(v for v in experiment.variants if v.treatment.policy == "bandit")
    recommended = PolicyConfig.model_validate(Settings().policy)  # the README's defaults
    assert (recommended.name, recommended.alpha, recommended.l2_lambda) == ("linucb", 0.5, 100)
    stored = bandit.treatment.model_dump()
    assert {k: stored[k] for k in ("name", "alpha", "l2_lambda", "epsilon")} == {
        "name": recommended.name,
        "alpha": recommended.alpha,
        "l2_lambda": recommended.l2_lambda,
        "epsilon": recommended.epsilon,
    }
    scope = variant_scope(scope_for(settings.model_scope, "web", ""), DEMO_EXPERIMENT, bandit.id)
    assert policy_for_scope(scope, catalog, PolicyConfig(name="random")) == recommended
    # every learning round committed a model of the bandit's own scope, the last one included
    versions = await store.model_versions()
    assert versions.get(scope, 0) >= decisions // LEARN_EVERY + 1


async def put_rules_and_bandit(
    client: httpx.AsyncClient,
    role_keys: Roles,
    experiment_id: str,
    name: str,
    bandit: dict[str, Any],
    status: str = "running",
) -> dict[str, Any]:
    """A marketer's experiment of two halves, business rules and ``bandit``; the stored body."""
    body = {
        "name": name,
        "status": status,
        "variants": [
            {"id": "rules", "weight": 0.5, "treatment": {"policy": "rules"}},
            {**bandit, "weight": 0.5},
        ],
    }
    r = await client.put(
        f"/v1/experiments/{experiment_id}", json=body, headers=role_keys["marketer"]
    )
    assert r.status_code == 200, r.text
    stored: dict[str, Any] = r.json()
    return stored


async def test_a_bandit_variant_learns_with_its_declared_ridge_penalty(
    client: httpx.AsyncClient, role_keys: Roles, store: RedisStore
) -> None:
    tight = {"id": "tight", "treatment": {"policy": "bandit", "alpha": 0.3, "l2_lambda": 7.0}}
    stored = await put_rules_and_bandit(client, role_keys, "exp-ridge", "Ridge penalty", tight)
    assert stored["variants"][1]["treatment"]["l2_lambda"] == 7.0
    catalog = await CatalogCache(store).get()
    policy = policy_for_scope("global~exp-ridge~tight", catalog, PolicyConfig())
    assert (policy.alpha, policy.l2_lambda) == (0.3, 7.0)


async def test_a_bandit_variant_without_a_ridge_penalty_gets_the_tuned_default(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    bandit = {"id": "bandit", "treatment": {"policy": "bandit"}}
    stored = await put_rules_and_bandit(
        client, role_keys, "exp-defaults", "Defaults", bandit, status="draft"
    )
    treatment = stored["variants"][1]["treatment"]
    assert (treatment["alpha"], treatment["l2_lambda"], treatment["epsilon"]) == (
        PolicyConfig().alpha,
        PolicyConfig().l2_lambda,
        PolicyConfig().epsilon,
    )


async def test_a_reload_over_a_demo_of_another_design_starts_a_new_phase(
    settings: Settings, store: RedisStore
) -> None:
    url = settings.redis_url or ""
    await load_demo(settings, url, DemoConfig(customers=20, experiment_decisions=0), quiet())
    catalog = await CatalogCache(store).get()
    older = {
        **DEMO_EXPERIMENT_BODY,
        "variants": [dict(v) for v in DEMO_EXPERIMENT_BODY["variants"]],
    }
    older["variants"][1]["treatment"] = {"policy": "bandit", "l2_lambda": 1.0}
    older["phase"] = 2
    await put_experiment(store, catalog, DEMO_EXPERIMENT, older)  # as an earlier version stored
    await load_demo(settings, url, DemoConfig(customers=20, experiment_decisions=0), quiet())
    experiment = (await CatalogCache(store).get()).experiments[DEMO_EXPERIMENT]
    assert experiment.phase == 3
    bandit = next(v for v in experiment.variants if v.treatment.policy == "bandit")
    assert bandit.treatment.model_dump()["l2_lambda"] == PolicyConfig().l2_lambda
    await load_demo(settings, url, DemoConfig(customers=20, experiment_decisions=0), quiet())
    assert (await CatalogCache(store).get()).experiments[DEMO_EXPERIMENT].phase == 3  # same design


async def test_the_demo_experiments_own_report_renders_in_chromium_and_matches_its_json(
    settings: Settings, store: RedisStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`nbo demo` then `nbo report exp-demo`, as the README tells a new user, opened in a real
    browser: no console errors, and the decisions it states are the results' own."""
    config = DemoConfig(customers=600, experiment_decisions=2 * LEARN_EVERY + 100)
    await load_demo(settings, settings.redis_url or "", config, quiet())
    monkeypatch.setenv("NBO_REDIS_URL", settings.redis_url or "")
    page = tmp_path / "report.html"
    done = await asyncio.to_thread(
        CliRunner().invoke, app, ["report", DEMO_EXPERIMENT, "--output", str(page)]
    )
    assert done.exit_code == 0, done.output
    catalog = await CatalogCache(store).get()
    results = await experiment_results(
        store, DEMO_EXPERIMENT, catalog.experiments[DEMO_EXPERIMENT], None
    )
    document = page.read_text(encoding="utf-8")
    text = _visible_text(document)
    verdict = results["decision"].replace("_", " ")
    assert f"Decision for the experiment: {verdict}" in text
    assert results["decision_rule"] in text
    for comparison in results["overall"]["comparisons"]:
        if comparison["variant"] != "holdout":
            assert pct(comparison["relative_lift"], signed=True) in text
    assert "What the programme adds" in text  # the holdout is the baseline, not a competitor
    png, stderr = screenshot(document, tmp_path, size="1280,4000")
    assert png.exists(), f"no screenshot; chromium said:\n{stderr[-4000:]}"
    assert len(png.read_bytes()) > 50_000
    console = [line for line in stderr.splitlines() if PAGE_CONSOLE.search(line)]
    assert console == [], "the page logged console errors:\n" + "\n".join(console)
