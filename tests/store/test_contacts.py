"""Contact policy: caps are atomic under concurrency, and the Lua and Python checks agree."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.config import Settings
from engine.domain.contacts import Caps, check_contact_policy, parse_contact_history
from engine.store.redis import RedisStore

DAY = 86_400
T0 = 1_780_000_000 - 1_780_000_000 % DAY + 8 * 3600  # 08:00 UTC on some day
WEB = "w"
no_reset = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


async def reserve(store: RedisStore, caps: Caps, now: int, offer: str = "o-1") -> str | None:
    (reason,) = await store.reserve_contacts("c-1", [(offer, caps.script_args())], WEB, now)
    return reason


@no_reset
@given(
    per_day=st.integers(0, 6),
    per_week=st.integers(0, 9),
    lifetime=st.integers(0, 12),
    requests=st.integers(1, 40),
    clients=st.integers(1, 4),
)
async def test_concurrent_reservations_never_exceed_caps(
    settings: Settings,
    store: RedisStore,
    raw: redis.Redis,
    per_day: int,
    per_week: int,
    lifetime: int,
    requests: int,
    clients: int,
) -> None:
    """Many requests at once, over several connections and clients: exactly the cap is granted."""
    await raw.delete("{c:c-1}:h")
    caps = Caps(per_day=per_day, per_week=per_week, lifetime=lifetime)
    stores = [RedisStore.from_settings(settings) for _ in range(clients)]
    try:
        results = await asyncio.gather(
            *(reserve(stores[i % clients], caps, T0) for i in range(requests))
        )
    finally:
        for s in stores:
            await s.close()
    granted = sum(r is None for r in results)
    assert granted == min(per_day, per_week, lifetime, requests)
    history = parse_contact_history(await raw.hgetall("{c:c-1}:h"))
    served = history["o-1"].served if "o-1" in history else 0
    assert served == granted
    if granted:
        assert history["o-1"].served_on(T0 // DAY) == granted


operations = st.lists(
    st.tuples(
        st.sampled_from(["serve", "serve", "serve", "dismiss", "convert"]),
        st.integers(0, 3 * DAY),
    ),
    min_size=1,
    max_size=25,
)


@no_reset
@given(
    ops=operations,
    per_day=st.none() | st.integers(0, 3),
    per_week=st.none() | st.integers(0, 5),
    lifetime=st.none() | st.integers(0, 8),
    cooldown=st.none() | st.floats(0, 48),
    suppress=st.booleans(),
)
async def test_explanations_agree_with_the_atomic_check(
    store: RedisStore,
    raw: redis.Redis,
    ops: list[tuple[str, int]],
    per_day: int | None,
    per_week: int | None,
    lifetime: int | None,
    cooldown: float | None,
    suppress: bool,
) -> None:
    """Before every serve, the Python check predicts exactly what the Lua script decides."""
    await raw.delete("{c:c-1}:h")
    caps = Caps(
        per_day=per_day,
        per_week=per_week,
        lifetime=lifetime,
        cooldown_after_dismiss_hours=cooldown,
        suppress_after_conversion=suppress,
    )
    now = T0
    for op, advance in ops:
        now += advance
        if op == "dismiss":
            await store.record_outcome("c-1", "o-1", "x", now)
        elif op == "convert":
            await store.record_outcome("c-1", "o-1", "c", now)
        else:
            history = parse_contact_history(await raw.hgetall("{c:c-1}:h"))
            predicted = check_contact_policy(caps, history.get("o-1"), now)
            assert await reserve(store, caps, now) == predicted


async def test_weekly_cap_rolls_and_daily_cap_resets(store: RedisStore) -> None:
    caps = Caps(per_day=1, per_week=2)
    assert await reserve(store, caps, T0) is None
    assert await reserve(store, caps, T0 + 3600) == "daily_cap_reached"
    assert await reserve(store, caps, T0 + DAY) is None
    assert await reserve(store, caps, T0 + 2 * DAY) == "weekly_cap_reached"
    assert await reserve(store, caps, T0 + 6 * DAY) == "weekly_cap_reached"
    assert await reserve(store, caps, T0 + 7 * DAY) is None  # day 0 left the window


async def test_cooldown_after_dismiss_and_conversion_suppression(store: RedisStore) -> None:
    caps = Caps(cooldown_after_dismiss_hours=24, suppress_after_conversion=True)
    assert await reserve(store, caps, T0) is None
    await store.record_outcome("c-1", "o-1", "x", T0 + 60)
    assert await reserve(store, caps, T0 + 23 * 3600) == "cooling_down"
    assert await reserve(store, caps, T0 + 60 + 24 * 3600) is None
    await store.record_outcome("c-1", "o-1", "c", T0 + 25 * 3600)
    assert await reserve(store, caps, T0 + 26 * 3600) == "already_converted"
    lenient = Caps(suppress_after_conversion=False)
    assert await reserve(store, lenient, T0 + 26 * 3600) is None


async def test_one_call_checks_offers_independently(store: RedisStore, raw: redis.Redis) -> None:
    tight, loose = Caps(lifetime=0), Caps(lifetime=5)
    reasons = await store.reserve_contacts(
        "c-1", [("o-a", tight.script_args()), ("o-b", loose.script_args())], WEB, T0
    )
    assert reasons == ["lifetime_cap_reached", None]
    history = parse_contact_history(await raw.hgetall("{c:c-1}:h"))
    assert "o-a" not in history
    assert history["o-b"].served == 1
    assert history["o-b"].last_shown_at == {"web": T0}
