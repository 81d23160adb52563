"""Overlapping experiments are explicit: a shared layer splits customers, anything else is refused.

A decision applies one experiment; before this rule, two running experiments over the same
customers split them by id (the first took all it assigned) without a word.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import orjson

from engine.store.redis import RedisStore
from experiments import parse_experiment
from tests.experiments.documents import policy_variants

Roles = dict[str, dict[str, str]]


def experiment(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Bandit vs rules",
        "status": "running",
        "variants": policy_variants(("control", 0.5, "rules"), ("treat", 0.5, "random")),
    }
    body.update(overrides)
    return body


async def put(
    client: httpx.AsyncClient, roles: Roles, experiment_id: str, body: dict[str, Any]
) -> httpx.Response:
    return await client.put(
        f"/v1/experiments/{experiment_id}", json=body, headers=roles["marketer"]
    )


async def offers(client: httpx.AsyncClient, roles: Roles) -> None:
    for offer_id in ("o-a", "o-b"):
        body = {
            "name": offer_id,
            "channels": {"web": {"title": offer_id}, "email": {"subject": "s", "body": "b"}},
            "value": 10.0,
        }
        r = await client.put(f"/v1/offers/{offer_id}", json=body, headers=roles["marketer"])
        assert r.status_code == 200, r.text


async def decide(
    client: httpx.AsyncClient, roles: Roles, customers: range, channel: str = "web"
) -> Counter[str]:
    """How many of ``customers`` each experiment took (``""``: none) through real decisions."""
    taken: Counter[str] = Counter()
    for i in customers:
        r = await client.post(
            "/v1/decisions",
            json={"customer_id": f"c-{i}", "channel": channel},
            headers=roles["decide"],
        )
        assert r.status_code == 200, r.text
        taken[(r.json().get("experiment") or {}).get("experiment_id", "")] += 1
    return taken


async def test_starting_an_overlapping_experiment_is_refused_naming_the_other(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    assert (await put(client, role_keys, "exp-a", experiment())).status_code == 200
    r = await put(client, role_keys, "exp-b", experiment(channels=["web"]))
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "experiment_overlap"
    assert error["field"] == "status"
    assert "'exp-a'" in error["message"]
    assert "channels web; placements all; segments all" in error["message"]
    # a draft claims nothing; starting it is what is refused, and it stays a draft
    assert (await put(client, role_keys, "exp-b", experiment(status="draft"))).status_code == 200
    r = await put(client, role_keys, "exp-b", experiment())
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "experiment_overlap"
    one = await client.get("/v1/experiments/exp-b", headers=role_keys["analyst"])
    assert one.json()["status"] == "draft"
    # a paused experiment resumes with its targeting, so it still blocks
    paused = await put(client, role_keys, "exp-a", experiment(status="paused"))
    assert paused.status_code == 200, paused.text
    assert (await put(client, role_keys, "exp-b", experiment())).status_code == 409
    # once the other has stopped, the customers are free
    stopped = await put(client, role_keys, "exp-a", experiment(status="stopped"))
    assert stopped.status_code == 200, stopped.text
    assert (await put(client, role_keys, "exp-b", experiment())).status_code == 200


async def test_different_layers_overlap_and_the_field_is_the_layer(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    first = experiment(layer={"id": "home", "start": 0.0, "end": 0.5})
    assert (await put(client, role_keys, "exp-a", first)).status_code == 200
    other = experiment(layer={"id": "checkout", "start": 0.0, "end": 0.5})
    r = await put(client, role_keys, "exp-b", other)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("experiment_overlap", "layer")
    assert "'exp-a'" in error["message"]
    assert "layer 'home'" in error["message"]


async def test_rule_segments_with_different_names_can_share_a_customer(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await client.put(
        "/v1/customers/seed",
        json={"attributes": {"tier": "gold", "region": "north"}},
        headers=role_keys["decide"],
    )
    for segment_id, field, value in (("gold", "tier", "gold"), ("north", "region", "north")):
        rule = {"all": [{"field": field, "op": "eq", "value": value}]}
        r = await client.put(
            f"/v1/segments/{segment_id}",
            json={"name": segment_id, "rule": rule},
            headers=role_keys["marketer"],
        )
        assert r.status_code == 200, r.text
    assert (await put(client, role_keys, "exp-a", experiment(segments=["gold"]))).status_code == 200
    r = await put(client, role_keys, "exp-b", experiment(segments=["north"]))
    assert r.status_code == 409, r.text
    message = r.json()["error"]["message"]
    assert "segments north with gold (a customer can be in both)" in message


async def test_targeting_that_cannot_meet_starts_and_each_gets_its_customers(
    client: httpx.AsyncClient, role_keys: Roles, store: RedisStore
) -> None:
    await offers(client, role_keys)
    assert (
        await put(client, role_keys, "exp-web", experiment(channels=["web"]))
    ).status_code == 200
    email = experiment(channels=["email", "push"])
    assert (await put(client, role_keys, "exp-mail", email)).status_code == 200
    hero = experiment(channels=["sms"], placements=["home_hero"])
    assert (await put(client, role_keys, "exp-hero", hero)).status_code == 200
    footer = experiment(channels=["sms"], placements=["footer"])
    assert (await put(client, role_keys, "exp-footer", footer)).status_code == 200
    # two clusters of one learned model: every customer is in exactly one of them
    model = {
        "model_id": "beh",
        "features": ["revenue_90d"],
        "mean": [0.0],
        "scale": [1.0],
        "centroids": [[0.0], [5.0]],
        "segment_ids": ["beh-low", "beh-high"],
    }
    segments = {
        sid: orjson.dumps({"name": sid, "kind": "learned", "model_id": "beh", "cluster": k})
        for k, sid in enumerate(model["segment_ids"])
    }
    await store.replace_segment_model("beh", orjson.dumps(model), segments)
    low = experiment(channels=["social"], segments=["beh-low"])
    assert (await put(client, role_keys, "exp-low", low)).status_code == 200
    high = experiment(channels=["social"], segments=["beh-high"])
    assert (await put(client, role_keys, "exp-high", high)).status_code == 200
    # but the same placement on an overlapping channel is refused
    r = await put(client, role_keys, "exp-late", experiment(placements=["footer"]))
    assert r.status_code == 409
    assert "placements footer" in r.json()["error"]["message"]
    # a new phase is a new start: widening exp-mail to every channel would meet the others
    r = await put(client, role_keys, "exp-mail", experiment(channels=[], phase=2))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "experiment_overlap"
    assert await decide(client, role_keys, range(20), "web") == Counter({"exp-web": 20})
    assert await decide(client, role_keys, range(20), "email") == Counter({"exp-mail": 20})


async def test_two_experiments_in_one_layer_both_get_traffic_as_configured(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await offers(client, role_keys)
    left = experiment(layer={"id": "home", "start": 0.0, "end": 0.3})
    assert (await put(client, role_keys, "exp-a", left)).status_code == 200
    right = experiment(channels=["web"], layer={"id": "home", "start": 0.3, "end": 1.0})
    assert (await put(client, role_keys, "exp-b", right)).status_code == 200
    taken = await decide(client, role_keys, range(400))
    assert set(taken) == {"exp-a", "exp-b"}  # every customer has a slot in one of the ranges
    assert 90 <= taken["exp-a"] <= 150  # 0.3 of 400 = 120, about 3 standard deviations
    again = await decide(client, role_keys, range(400))
    assert again == taken  # sticky


async def test_effective_traffic_is_listed_with_the_layer_ranges(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    left = experiment(traffic=0.5, layer={"id": "home", "start": 0.0, "end": 0.4})
    r = await put(client, role_keys, "exp-a", left)
    assert r.status_code == 200
    assert r.json()["effective_traffic"]["effective"] == 0.2
    right = experiment(layer={"id": "home", "start": 0.6, "end": 0.9})
    assert (await put(client, role_keys, "exp-b", right)).status_code == 200
    planned = experiment(status="draft", layer={"id": "home", "start": 0.4, "end": 0.6})
    assert (await put(client, role_keys, "exp-c", planned)).status_code == 200
    assert (await put(client, role_keys, "exp-b", {**right, "status": "paused"})).status_code == 200
    listed = await client.get("/v1/experiments", headers=role_keys["analyst"])
    traffic = {e["experiment_id"]: e["effective_traffic"] for e in listed.json()}
    ranges = [
        {"experiment_id": "exp-a", "status": "running", "start": 0.0, "end": 0.4},
        {"experiment_id": "exp-b", "status": "paused", "start": 0.6, "end": 0.9},
    ]
    layer = {"id": "home", "ranges": ranges, "free": [[0.4, 0.6], [0.9, 1.0]]}
    assert traffic["exp-a"] == {
        "nominal": 0.2,
        "effective": 0.2,
        "contested_by": [],
        "layer": layer,
    }
    assert traffic["exp-b"] == {
        "nominal": 0.3,
        "effective": 0.0,
        "contested_by": [],
        "layer": layer,
    }
    assert traffic["exp-c"]["effective"] == 0.0
    assert traffic["exp-c"]["nominal"] == 0.2
    one = await client.get("/v1/experiments/exp-a", headers=role_keys["marketer"])
    assert one.json()["effective_traffic"] == traffic["exp-a"]


async def test_an_overlap_stored_before_the_rule_shows_the_starved_share(
    client: httpx.AsyncClient, role_keys: Roles, store: RedisStore
) -> None:
    await offers(client, role_keys)
    # written past the API, as an overlap started before it was refused would be stored
    for experiment_id, body in (("exp-a", experiment(traffic=0.5)), ("exp-b", experiment())):
        stored = parse_experiment({**body, "started_at": "2026-11-01T09:00:00Z"})
        await store.put_experiment(experiment_id, stored.model_dump_json().encode())
    one = await client.get("/v1/experiments/exp-b", headers=role_keys["analyst"])
    traffic = one.json()["effective_traffic"]
    assert traffic == {"nominal": 1.0, "effective": 0.5, "contested_by": ["exp-a"], "layer": None}
    taken = await decide(client, role_keys, range(400))
    assert 160 <= taken["exp-b"] <= 240  # what decisions really give it: 0.5 of 400
    assert taken["exp-a"] + taken["exp-b"] == 400
    # the running phase is not checked again: it can be renamed, paused and resumed
    renamed = await put(client, role_keys, "exp-b", experiment(name="Renamed"))
    assert renamed.status_code == 200, renamed.text
    assert (await put(client, role_keys, "exp-b", experiment(status="paused"))).status_code == 200
    assert (await put(client, role_keys, "exp-b", experiment())).status_code == 200


async def test_placements_target_decisions_and_are_frozen_while_running(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await offers(client, role_keys)
    hero = experiment(placements=["home_hero"])
    assert (await put(client, role_keys, "exp-hero", hero)).status_code == 200
    for placement, expected in (("home_hero", "exp-hero"), ("footer", None)):
        r = await client.post(
            "/v1/decisions",
            json={"customer_id": "c-1", "channel": "web", "placement": placement},
            headers=role_keys["decide"],
        )
        assert (r.json().get("experiment") or {}).get("experiment_id") == expected
    r = await put(client, role_keys, "exp-hero", experiment(placements=["footer"]))
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "placements"
    r = await put(client, role_keys, "exp-hero", experiment(placements=["footer", "footer"]))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "placements[1]"


async def test_two_overlapping_experiments_started_at_once_cannot_both_start(
    client: httpx.AsyncClient, role_keys: Roles, store: RedisStore
) -> None:
    """Each start is judged against the others: the write holds only while they are unchanged."""
    await offers(client, role_keys)
    for round_ in range(5):
        ids = (f"race-{round_}-a", f"race-{round_}-b")
        for experiment_id in ids:  # drafts first, so both starts read the same catalog
            r = await put(client, role_keys, experiment_id, experiment(status="draft"))
            assert r.status_code == 200, r.text
        started = await asyncio.gather(
            *(put(client, role_keys, experiment_id, experiment()) for experiment_id in ids)
        )
        assert sorted(r.status_code for r in started) == [200, 409], [r.text for r in started]
        refused = next(r for r in started if r.status_code == 409)
        assert refused.json()["error"]["code"] == "experiment_overlap"
        for experiment_id in ids:  # clear the way for the next round
            r = await client.get(f"/v1/experiments/{experiment_id}", headers=role_keys["marketer"])
            if r.json()["status"] == "running":
                stop = await client.patch(
                    f"/v1/experiments/{experiment_id}",
                    json={"status": "stopped"},
                    headers=role_keys["marketer"],
                )
                assert stop.status_code == 200, stop.text


async def test_a_start_is_stored_only_while_the_catalog_it_was_judged_on_holds(
    store: RedisStore,
) -> None:
    body = orjson.dumps(experiment(status="draft"))
    assert await store.put_experiment("e-1", body) == 1
    judged = await store.catalog_version()
    assert await store.put_experiment("e-2", body) == 1  # another writer moved the catalog
    assert await store.put_experiment("e-1", body, catalog_version=judged) is None
    now = await store.catalog_version()
    assert await store.put_experiment("e-1", body, catalog_version=now) == 2
