"""Behavioural features over rolling windows, written to and read from the real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.customers.service import record_activities
from engine.domain.profiles import Activity, compute_features, day_number, encode_activity
from engine.errors import ValidationFailed
from engine.store.redis import RedisStore

T0 = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def at(days: float, hours: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def act(kind: str, when: datetime, channel: str = "web", value: float | None = None) -> Activity:
    return Activity(type=kind, channel=channel, timestamp=when, value=value)  # type: ignore[arg-type]


async def features_at(store: RedisStore, customer_id: str, when: datetime) -> dict[str, object]:
    record = await store.read_customer(customer_id)
    return compute_features(record.activity, when.timestamp())


async def test_windows_roll_over_at_day_boundaries(store: RedisStore) -> None:
    now = at(0)
    await record_activities(store, "c-1", [act("purchase", at(0), value=40.0)], now.timestamp())
    f = await features_at(store, "c-1", at(6))
    assert (f["purchases_7d"], f["purchases_30d"], f["purchases_90d"]) == (1, 1, 1)
    f = await features_at(store, "c-1", at(7))
    assert (f["purchases_7d"], f["purchases_30d"], f["purchases_90d"]) == (0, 1, 1)
    assert f["revenue_30d"] == 40.0
    f = await features_at(store, "c-1", at(30))
    assert (f["purchases_30d"], f["revenue_30d"], f["revenue_90d"]) == (0, 0.0, 40.0)
    f = await features_at(store, "c-1", at(90))
    assert (f["purchases_90d"], f["revenue_90d"]) == (0, 0.0)
    # lifetime totals and recency do not roll off
    assert f["lifetime_purchases"] == 1
    assert f["lifetime_revenue"] == 40.0
    assert f["days_since_last_purchase"] == 90


async def test_recency_frequency_monetary_and_channels(store: RedisStore) -> None:
    now = at(0)
    activities = [
        act("page_view", at(-40)),
        act("app_open", at(-3), channel="mobile_app"),
        act("purchase", at(-2), channel="mobile_app", value=30.0),
        act("purchase", at(-20), channel="web", value=70.0),
        act("support_contact", at(-5), channel="call_center"),
        act("support_contact", at(-31), channel="call_center"),
        act("store_visit", at(-1), channel="in_store"),
    ]
    await record_activities(store, "c-2", activities, now.timestamp())
    f = await features_at(store, "c-2", now)
    assert f["days_since_last_visit"] == 1
    assert f["days_since_last_purchase"] == 2
    assert f["days_since_last_activity"] == 1
    assert f["last_active_channel"] == "in_store"
    assert (f["visits_7d"], f["visits_30d"], f["visits_90d"]) == (2, 2, 3)
    assert (f["purchases_7d"], f["purchases_30d"]) == (1, 2)
    assert f["revenue_30d"] == 100.0
    assert f["avg_order_value"] == 50.0
    assert f["support_contacts_30d"] == 1
    assert f["engagement_mobile_app_30d"] == 2
    assert f["engagement_call_center_30d"] == 1
    assert f["engagement_web_30d"] == 1
    assert f["tenure_days"] == 40


async def test_out_of_order_within_a_day_gives_the_same_features(store: RedisStore) -> None:
    now = at(0, 23)
    same_day = [
        act("page_view", at(0, 9), channel="web"),
        act("purchase", at(0, 14), channel="email", value=12.0),
        act("app_open", at(0, 20), channel="mobile_app"),
    ]
    await record_activities(store, "in-order", same_day, now.timestamp())
    for activity in reversed(same_day):
        await record_activities(store, "reversed", [activity], now.timestamp())
    ordered = await features_at(store, "in-order", now)
    reversed_ = await features_at(store, "reversed", now)
    assert ordered == reversed_
    assert ordered["last_active_channel"] == "mobile_app"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=100 * 24), min_size=1, max_size=12),
    order=st.randoms(use_true_random=False),
)
async def test_any_arrival_order_gives_the_same_features(
    store: RedisStore, raw: redis.Redis, offsets: list[int], order: object
) -> None:
    """Features depend on what happened, not on the order the events arrived in."""
    now = at(0)
    activities = [
        act("purchase" if h % 3 == 0 else "page_view", at(0, -h), value=5.0 if h % 3 == 0 else None)
        for h in offsets
    ]
    shuffled = list(activities)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    await raw.delete("{c:a}:f", "{c:b}:f")
    await record_activities(store, "a", activities, now.timestamp())
    for activity in shuffled:
        await record_activities(store, "b", [activity], now.timestamp())
    assert await features_at(store, "a", now) == await features_at(store, "b", now)


async def test_old_buckets_are_pruned(store: RedisStore, raw: redis.Redis) -> None:
    await record_activities(store, "c-3", [act("page_view", at(0))], at(0).timestamp())
    await record_activities(store, "c-3", [act("page_view", at(95))], at(95).timestamp())
    buckets = await raw.hgetall("{c:c-3}:f")
    days = {int(k.split(":")[0]) for k in buckets if ":" in k}
    assert days == {day_number(at(95).timestamp())}


def test_future_timestamps_are_refused() -> None:
    now = at(0).timestamp()
    with pytest.raises(ValueError, match="future"):
        encode_activity(act("page_view", at(0, 1)), now)


async def test_batch_with_a_bad_row_writes_nothing(store: RedisStore, raw: redis.Redis) -> None:
    now = at(0).timestamp()
    with pytest.raises(ValidationFailed) as info:
        await record_activities(
            store, "c-4", [act("page_view", at(-1)), act("page_view", at(1))], now
        )
    assert info.value.field == "activities[1].timestamp"
    assert await raw.exists("{c:c-4}:f") == 0


def test_unknown_customer_has_empty_features() -> None:
    f = compute_features({}, at(0).timestamp())
    assert f["days_since_last_purchase"] is None
    assert f["purchases_90d"] == 0
    assert f["last_active_channel"] is None
