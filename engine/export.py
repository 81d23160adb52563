"""Export the decision log joined with final rewards, one JSON object per served offer.

The format is what off-policy tools read (action, probability, reward, context) and what
``nbo evaluate`` reads back. Only decisions whose attribution window has closed are exported:
before that their reward is not final.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import orjson

from engine import keys
from engine.store import RedisStore

__all__ = ["export_rows"]

CHUNK = 1000


async def _stream(store: RedisStore, stream: str) -> AsyncIterator[tuple[str, dict[str, str]]]:
    start = "-"
    while True:
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await store.client.xrange(stream, min=start, count=CHUNK),
        )
        for entry in entries:
            yield entry
        if len(entries) < CHUNK:
            return
        start = "(" + entries[-1][0]


async def export_rows(store: RedisStore) -> AsyncIterator[dict[str, Any]]:
    """Rows of every closed, non-fallback decision still in the log."""
    outcomes: dict[str, dict[str, float]] = {}
    async for _, fields in _stream(store, keys.OUTCOME_LOG):
        outcomes[fields["decision_id"]] = orjson.loads(fields.get("rewards", "{}"))
    async for _, fields in _stream(store, keys.DECISION_LOG):
        rewards = outcomes.get(fields.get("decision_id", ""))
        if rewards is None or fields.get("fallback") == "1":
            continue
        features = orjson.loads(fields.get("features", "[]"))
        segments = orjson.loads(fields.get("segments", "[]"))
        eligible = orjson.loads(fields.get("eligible", "[]"))
        context = orjson.loads(fields.get("context", "{}"))
        for served in orjson.loads(fields.get("served", "[]")):
            yield {
                "decision_id": fields["decision_id"],
                "timestamp": float(fields.get("ts", 0)),
                "channel": fields.get("channel"),
                "placement": fields.get("placement"),
                "position": served["rank"],
                "action": served["offer_id"],
                "probability": served["propensity"],
                "propensity_estimated": fields.get("propensity_estimated") == "1",
                "reward": float(rewards.get(served["offer_id"], 0.0)),
                "features": features,
                "segments": segments,
                "eligible": eligible,
                "context": context,
                "policy": {
                    "name": fields.get("policy"),
                    "version": int(fields.get("model_version") or 0),
                },
                "experiment": fields.get("experiment", ""),
                "variant": fields.get("variant", ""),
                "scope": fields.get("scope", ""),
            }
