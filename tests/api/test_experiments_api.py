"""Experiments over HTTP: configuration, lifecycle, and treatments applied to decisions."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import orjson
import redis.asyncio as redis

from engine.store import keys

Roles = dict[str, dict[str, str]]


def experiment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Personalisation vs rules",
        "hypothesis": "The bandit lifts conversion",
        "status": "running",
        "variants": [
            {"id": "control", "weight": 0.4, "treatment": {"policy": "rules"}},
            {"id": "bandit", "weight": 0.4, "treatment": {"policy": "bandit", "name": "linucb"}},
            {"id": "holdout", "weight": 0.2, "treatment": {"policy": "holdout"}},
        ],
        "control": "control",
    }
    body.update(overrides)
    return body


async def setup(client: httpx.AsyncClient, roles: Roles) -> None:
    for offer_id, value in (("o-a", 5.0), ("o-b", 50.0)):
        body = {
            "name": offer_id,
            "channels": {"web": {"title": offer_id}, "email": {"subject": "s", "body": "b"}},
            "value": value,
        }
        r = await client.put(f"/v1/offers/{offer_id}", json=body, headers=roles["marketer"])
        assert r.status_code == 200


async def test_configure_read_and_list(client: httpx.AsyncClient, role_keys: Roles) -> None:
    r = await client.put("/v1/experiments/exp-1", json=experiment(), headers=role_keys["marketer"])
    assert r.status_code == 200, r.text
    stored = r.json()
    assert stored["experiment_id"] == "exp-1"
    assert stored["salt"] == "exp-1"
    assert stored["started_at"] is not None
    one = await client.get("/v1/experiments/exp-1", headers=role_keys["analyst"])
    assert one.json()["variants"][1]["treatment"]["policy"] == "bandit"
    listed = await client.get("/v1/experiments", headers=role_keys["analyst"])
    assert [e["experiment_id"] for e in listed.json()] == ["exp-1"]
    assert (
        await client.get("/v1/experiments/none", headers=role_keys["analyst"])
    ).status_code == 404


async def test_invalid_configs_and_lifecycle_conflicts(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    bad = experiment(
        variants=[
            {"id": "a", "weight": 0.7, "treatment": {"policy": "rules"}},
            {"id": "b", "weight": 0.7, "treatment": {"policy": "random"}},
        ],
        control="a",
    )
    r = await client.put("/v1/experiments/e", json=bad, headers=role_keys["marketer"])
    assert r.status_code == 422
    assert r.json()["error"]["field"].startswith("variants")
    static = experiment(
        variants=[
            {"id": "a", "weight": 0.5, "treatment": {"policy": "rules"}},
            {"id": "b", "weight": 0.5, "treatment": {"policy": "static", "offer_id": "o-none"}},
        ],
        control="a",
    )
    r = await client.put("/v1/experiments/e", json=static, headers=role_keys["marketer"])
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "variants[1].treatment.offer_id"
    ok = await client.put("/v1/experiments/e", json=experiment(), headers=role_keys["marketer"])
    assert ok.status_code == 200
    changed = experiment()
    changed["variants"][0]["weight"] = 0.5
    changed["variants"][1]["weight"] = 0.3
    r = await client.put("/v1/experiments/e", json=changed, headers=role_keys["marketer"])
    assert r.status_code == 409
    r = await client.put(
        "/v1/experiments/e", json={**changed, "phase": 2}, headers=role_keys["marketer"]
    )
    assert r.status_code == 200
    assert r.json()["phase"] == 2
    for role in ("decide", "analyst"):
        r = await client.put("/v1/experiments/e", json=experiment(), headers=role_keys[role])
        assert r.status_code == 403


async def test_treatments_apply_stickily_across_channels(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    await setup(client, role_keys)
    r = await client.put("/v1/experiments/exp-1", json=experiment(), headers=role_keys["marketer"])
    assert r.status_code == 200
    variants: Counter[str] = Counter()
    for i in range(60):
        customer = f"c-{i}"
        answers = []
        for channel in ("web", "email", "web"):
            r = await client.post(
                "/v1/decisions",
                json={"customer_id": customer, "channel": channel},
                headers=role_keys["decide"],
            )
            answers.append(r.json())
        assigned = {a["experiment"]["variant"] for a in answers}
        assert len(assigned) == 1  # sticky on every channel
        variant = assigned.pop()
        variants[variant] += 1
        for answer in answers:
            assert answer["experiment"]["experiment_id"] == "exp-1"
            if variant == "holdout":
                assert answer["offers"] == []
                assert answer["reason"] == "holdout"
            else:
                assert len(answer["offers"]) == 1
                assert answer["policy"]["name"] == ("rules" if variant == "control" else "linucb")
        record = await raw.hget(keys.customer_assignments(customer), "exp-1")
        assert record is not None
        assert orjson.loads(record)["variant"] == variant
    assert set(variants) == {"control", "bandit", "holdout"}
    entries = await raw.xrange(keys.DECISION_LOG)
    assert all(e[1]["experiment"] == "exp-1" for e in entries)
    assert {e[1]["variant"] for e in entries} == set(variants)


async def test_static_treatment_serves_only_its_offer_and_events_carry_the_variant(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    await setup(client, role_keys)
    body = experiment(
        variants=[
            {"id": "static", "weight": 1.0, "treatment": {"policy": "static", "offer_id": "o-a"}},
            {"id": "never", "weight": 0.0, "treatment": {"policy": "rules"}},
        ],
        control="never",
    )
    r = await client.put("/v1/experiments/exp-s", json=body, headers=role_keys["marketer"])
    if r.status_code == 422:  # zero weights refused: use a 1.0 / tiny split instead
        body["variants"][0]["weight"] = 0.999
        body["variants"][1]["weight"] = 0.001
        r = await client.put("/v1/experiments/exp-s", json=body, headers=role_keys["marketer"])
    assert r.status_code == 200, r.text
    served = set()
    decision = None
    for i in range(10):
        r = await client.post(
            "/v1/decisions",
            json={"customer_id": f"s-{i}", "channel": "web", "limit": 2},
            headers=role_keys["decide"],
        )
        answer = r.json()
        if answer["experiment"]["variant"] == "static":
            served.update(o["offer_id"] for o in answer["offers"])
            assert all(o["propensity"] == 1.0 for o in answer["offers"])
            decision = answer
    assert served == {"o-a"}
    assert decision is not None
    r = await client.post(
        "/v1/events",
        json={
            "event_id": "e-s",
            "decision_id": decision["decision_id"],
            "offer_id": "o-a",
            "type": "click",
        },
        headers=role_keys["decide"],
    )
    assert r.status_code == 200
    event = (await raw.xrange(keys.EVENT_LOG))[-1][1]
    assert (event["experiment"], event["variant"]) == ("exp-s", "static")
