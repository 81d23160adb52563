"""Attribute types are fixed by the first write, even when first writes race."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as redis

from engine.customers.service import upsert_attributes
from engine.domain.catalog import Catalog
from engine.errors import ValidationFailed
from engine.store.redis import RedisStore


@pytest.mark.parametrize("round_", range(5))
async def test_racing_first_writes_of_different_types_admit_one_type(
    store: RedisStore, raw: redis.Redis, round_: int
) -> None:
    empty = Catalog(version=0)  # both writers believe the attribute is new
    now = time.time()
    results = await asyncio.gather(
        upsert_attributes(store, empty, f"c-a{round_}", {"plan": "gold"}, now),
        upsert_attributes(store, empty, f"c-b{round_}", {"plan": 3}, now),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, ValidationFailed)]
    assert len(failures) == 1
    assert failures[0].field == "attributes.plan"
    in_force = await raw.hget("{nbo:cfg}:attributes", "plan")
    winner = "c-a" if in_force == "string" else "c-b"
    assert await raw.hexists(f"{{c:{winner}{round_}}}:a", "plan")
    loser = "c-b" if winner == "c-a" else "c-a"
    assert not await raw.hexists(f"{{c:{loser}{round_}}}:a", "plan")
    await raw.delete("{nbo:cfg}:attributes")
