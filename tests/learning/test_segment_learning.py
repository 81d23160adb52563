"""Learned segments on a population with planted behaviours, served through the real API."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.customers.service import record_activities
from engine.domain.channels import Channel
from engine.domain.profiles import Activity, ActivityType, compute_features
from engine.domain.segments import ID_PATTERN
from engine.errors import ValidationFailed
from engine.learning.segments import FEATURES, _names, learn_segments
from engine.store.redis import RedisStore

Roles = dict[str, dict[str, str]]
DAY = 86_400
PER_GROUP = 40

# group -> (activity type, channel, mean count, days ago from, to, order value)
PLANTED: dict[str, list[tuple[ActivityType, Channel, float, float, float, float]]] = {
    "app": [
        ("app_open", "mobile_app", 18, 25, 0, 0),
        ("search", "mobile_app", 5, 25, 0, 0),
        ("purchase", "mobile_app", 2, 25, 0, 30),
    ],
    "store": [
        ("store_visit", "in_store", 5, 28, 0, 0),
        ("purchase", "in_store", 3, 28, 0, 120),
    ],
    "dormant": [
        ("page_view", "web", 4, 130, 100, 0),
        ("purchase", "web", 1, 130, 100, 40),
    ],
}


def planted_activities(group: str, rng: np.random.Generator, now: float) -> list[Activity]:
    out = []
    for kind, channel, mean, oldest, newest, value in PLANTED[group]:
        for _ in range(max(1, int(rng.poisson(mean)))):
            ts = now - rng.uniform(newest, oldest) * DAY
            out.append(
                Activity(
                    type=kind,
                    channel=channel,
                    timestamp=datetime.fromtimestamp(ts, tz=UTC),
                    value=round(value * rng.uniform(0.5, 1.5), 2) if kind == "purchase" else None,
                )
            )
    return out


async def plant(store: RedisStore, now: float, seed: int = 3) -> dict[str, str]:
    """Customer id -> planted group, written through the engine's activity path."""
    rng = np.random.default_rng(seed)
    labels = {}
    for group in PLANTED:
        for i in range(PER_GROUP):
            customer_id = f"{group}-{i}"
            await record_activities(store, customer_id, planted_activities(group, rng, now), now)
            labels[customer_id] = group
    return labels


async def learned_for(store: RedisStore, labels: dict[str, str], now: float) -> dict[str, str]:
    """Customer id -> learned segment id, as decisions will see it (the serving path)."""
    catalog = await CatalogCache(store).get()
    model = catalog.models["beh"]
    ids = sorted(labels)
    raws = await store.read_activity_many(ids)
    return {
        cid: model.assign(compute_features(raw, now)) for cid, raw in zip(ids, raws, strict=True)
    }


def majority(labels: dict[str, str], assigned: dict[str, str], group: str) -> str:
    picks = [assigned[cid] for cid, g in labels.items() if g == group]
    return max(set(picks), key=picks.count)


async def test_learning_recovers_planted_groups_and_names_them(
    settings: Settings, store: RedisStore
) -> None:
    now = time.time()
    labels = await plant(store, now)
    result = await learn_segments(
        settings, settings.redis_url or "", k=3, model_id="beh", seed=1, sample=10_000, now=now
    )
    assert len(result) == 3
    assert sum(size for _, _, size in result) == len(labels)
    names = {segment_id: name for segment_id, name, _ in result}
    assert len(set(names.values())) == 3
    for segment_id in names:
        assert segment_id.startswith("beh-")
        assert re.match(ID_PATTERN, segment_id)

    assigned = await learned_for(store, labels, now)
    ids = sorted(labels)
    score = adjusted_rand_score([labels[c] for c in ids], [assigned[c] for c in ids])
    assert score >= 0.9
    assert "app" in names[majority(labels, assigned, "app")]
    assert "store" in names[majority(labels, assigned, "store")]
    assert "dormant" in names[majority(labels, assigned, "dormant")]


async def test_same_seed_same_segments(settings: Settings, store: RedisStore) -> None:
    now = time.time()
    await plant(store, now)
    url = settings.redis_url or ""
    first = await learn_segments(settings, url, k=3, model_id="beh", seed=5, sample=10_000, now=now)
    again = await learn_segments(settings, url, k=3, model_id="beh", seed=5, sample=10_000, now=now)
    assert first == again


async def test_customers_without_activity_count_as_long_gone(
    settings: Settings, store: RedisStore
) -> None:
    """Known for months, never active: they belong with the dormant, not the engaged."""
    now = time.time()
    labels = await plant(store, now)
    for i in range(10):
        await store.upsert_attributes(f"silent-{i}", {"tier": '"bronze"'}, [], int(now - 200 * DAY))
    result = await learn_segments(
        settings, settings.redis_url or "", k=3, model_id="beh", seed=1, sample=10_000, now=now
    )
    dormant = [size for _, name, size in result if "dormant" in name]
    planted_dormant = sum(g == "dormant" for g in labels.values())
    assert dormant == [planted_dormant + 10]


async def test_sample_bounds_the_customers_fitted(settings: Settings, store: RedisStore) -> None:
    now = time.time()
    await plant(store, now)
    result = await learn_segments(
        settings, settings.redis_url or "", k=3, model_id="beh", seed=1, sample=60, now=now
    )
    assert sum(size for _, _, size in result) == 60


async def test_fewer_customers_than_k_is_a_clear_error(
    settings: Settings, store: RedisStore
) -> None:
    now = time.time()
    rng = np.random.default_rng(0)
    for i in range(2):
        await record_activities(store, f"c-{i}", planted_activities("app", rng, now), now)
    with pytest.raises(ValidationFailed, match="3 segments from 2 customers"):
        await learn_segments(
            settings, settings.redis_url or "", k=3, model_id="beh", seed=1, sample=100, now=now
        )
    assert (await store.read_catalog()).models == {}


async def test_learned_segments_are_listed_and_relearning_replaces_them(
    settings: Settings, store: RedisStore, client: httpx.AsyncClient, role_keys: Roles
) -> None:
    now = time.time()
    await plant(store, now)
    url = settings.redis_url or ""
    await client.put(
        "/v1/segments/vip",
        json={"name": "VIP", "rule": {"all": [{"field": "revenue_90d", "op": "gte", "value": 1}]}},
        headers=role_keys["marketer"],
    )
    first = await learn_segments(settings, url, k=3, model_id="beh", seed=1, sample=10_000, now=now)

    listed = (await client.get("/v1/segments", headers=role_keys["analyst"])).json()
    learned = {s["segment_id"]: s for s in listed if s["kind"] == "learned"}
    assert set(learned) == {segment_id for segment_id, _, _ in first}
    for segment_id, name, size in first:
        assert learned[segment_id]["name"] == name
        assert learned[segment_id]["size"] == size
        assert learned[segment_id]["model_id"] == "beh"
        assert set(learned[segment_id]["centroid"]) >= {"revenue_90d", "engagement_web_30d"}

    second = await learn_segments(
        settings, url, k=2, model_id="beh", seed=1, sample=10_000, now=now
    )
    listed = (await client.get("/v1/segments", headers=role_keys["analyst"])).json()
    learned_ids = {s["segment_id"] for s in listed if s["kind"] == "learned"}
    assert learned_ids == {segment_id for segment_id, _, _ in second}
    assert "vip" in {s["segment_id"] for s in listed}  # rule segments are left alone


async def test_offer_can_target_a_learned_segment(
    settings: Settings, store: RedisStore, client: httpx.AsyncClient, role_keys: Roles
) -> None:
    now = time.time()
    labels = await plant(store, now)
    await learn_segments(
        settings, settings.redis_url or "", k=3, model_id="beh", seed=1, sample=10_000, now=now
    )
    assigned = await learned_for(store, labels, now)
    app_segment = majority(labels, assigned, "app")
    offer = {
        "name": "App-only flash deal",
        "channels": {"web": {"title": "Flash deal", "body": "Up to 40% off in the app"}},
        "eligibility": {"segments_any": [app_segment]},
    }
    response = await client.put("/v1/offers/o-app", json=offer, headers=role_keys["marketer"])
    assert response.status_code == 200, response.text

    member = next(c for c in sorted(labels) if assigned[c] == app_segment)
    outsider = next(c for c in sorted(labels) if assigned[c] != app_segment)
    for customer_id, eligible in ((member, True), (outsider, False)):
        response = await client.get(
            f"/v1/customers/{customer_id}/eligibility",
            params={"channel": "web"},
            headers=role_keys["analyst"],
        )
        assert response.status_code == 200, response.text
        verdict = next(o for o in response.json()["offers"] if o["offer_id"] == "o-app")
        assert verdict["eligible"] is eligible, verdict
        if eligible:
            assert verdict["matched_segments"] == [app_segment]
        else:
            assert [r["code"] for r in verdict["reasons"]] == ["segment_rule"]


async def test_model_id_must_make_valid_segment_ids(settings: Settings, store: RedisStore) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await learn_segments(
            settings, settings.redis_url or "", k=3, model_id="no spaces", seed=1, sample=10
        )
    assert caught.value.field == "model_id"


def test_names_stay_unique_when_clusters_look_alike() -> None:
    def centroid(**z: float) -> list[float]:
        return [z.get(name, 0.0) for name in FEATURES]

    app_rich = centroid(engagement_mobile_app_30d=2.0, revenue_90d=1.5, engagement_push_30d=1.0)
    app_rich_sms = centroid(engagement_mobile_app_30d=2.0, revenue_90d=1.5, engagement_sms_30d=1.0)
    names = _names(np.array([app_rich, app_rich_sms, app_rich, centroid()]))
    assert len(set(names)) == 4
    assert names[0] == "app-first push-responsive high spenders"
    assert names[1] == "app-first sms-responsive high spenders"
    assert names[2].startswith("app-first push-responsive high spenders")
    assert names[3] == "typical customers"


def test_serving_fills_missing_features_as_training_did() -> None:
    """A customer with no history gets the training vector, recency counted as long gone."""
    from engine.learning.segments import _feature_row, fit_segments

    now = time.time()
    rng = np.random.default_rng(5)
    rows = [[float(v) for v in rng.integers(0, 50, size=len(FEATURES))] for _ in range(60)]
    empty = compute_features({}, now)
    rows.append(_feature_row(empty))
    model = fit_segments(rows, k=3, model_id="fill", seed=1).model
    logged = np.log1p(np.asarray(_feature_row(empty)))
    expected = (logged - np.asarray(model.mean)) / np.asarray(model.scale)
    assert np.allclose(model.vector(empty), expected)
    recency = FEATURES.index("days_since_last_activity")
    assert model.vector(empty)[recency] > 0  # far above the average recency, not "today"
