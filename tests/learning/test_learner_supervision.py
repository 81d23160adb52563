"""The learner is supervised: killed, it is restarted and learns again, each reward once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import redis

from engine.config import Settings
from engine.learning.learner import Learner
from engine.learning.policies import ModelSnapshot, PolicyConfig, Trainer
from engine.store import keys
from engine.store.learning import REWARD_GROUP
from engine.store.redis import RedisStore
from tests.api.test_cli_serve import ADMIN, embedded_port, serving

AUTH = {"Authorization": f"Bearer {ADMIN}"}


def learner_pids(serve_pid: int) -> list[int]:
    import psutil  # type: ignore[import-untyped]

    return [
        child.pid
        for child in psutil.Process(serve_pid).children(recursive=True)
        if child.status() != psutil.STATUS_ZOMBIE and "learner" in child.cmdline()
    ]


def wait_for(what: str, check: Any, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_killed_learner_is_restarted_reported_and_learns_each_reward_once(
    tmp_path: Path,
) -> None:
    with serving(tmp_path) as (base, proc):
        (first,) = wait_for("no learner", lambda: learner_pids(proc.pid), 10)
        ready = wait_for(
            "the learner never reported itself",
            lambda: httpx.get(f"{base}/readyz").json()["learner"]["live"],
            10,
        )
        assert [beat["pid"] for beat in ready] == [first]
        os.kill(first, signal.SIGKILL)
        killed = time.monotonic()
        (second,) = wait_for("not restarted", lambda: learner_pids(proc.pid), 5)
        assert second != first
        assert time.monotonic() - killed < 5
        metrics = httpx.get(f"{base}/metrics").text
        assert "nbo_learner_restarts_total 1.0" in metrics
        assert "nbo_learner_up 1.0" in metrics
        assert b"learner_exited" in _output_so_far(proc)
        # a reward after the restart is learned, once
        offer = {"name": "o-a", "channels": {"web": {"title": "t"}}, "value": 1.0}
        assert httpx.put(f"{base}/v1/offers/o-a", json=offer, headers=AUTH).status_code == 200
        decision = httpx.post(
            f"{base}/v1/decisions", json={"customer_id": "c-1", "channel": "web"}, headers=AUTH
        ).json()
        click = {
            "event_id": "e-1",
            "decision_id": decision["decision_id"],
            "offer_id": "o-a",
            "type": "click",
        }
        assert httpx.post(f"{base}/v1/events", json=click, headers=AUTH).json()["learned"]
        sent = time.monotonic()
        client = redis.Redis(port=embedded_port(tmp_path))
        try:
            customer, token = keys.split_decision_id(decision["decision_id"]) or ("", "")
            x = orjson.loads(client.hget(keys.customer_decision(customer, token), "x") or b"[]")

            def learned() -> ModelSnapshot | None:
                blob = client.get(keys.model_key("global", "snapshot"))
                if blob is None:
                    return None
                snapshot = ModelSnapshot.from_bytes(blob)
                return snapshot if "o-a" in snapshot.arms and _rewarded(snapshot) else None

            snapshot = wait_for("the reward was not learned", learned, 10)
            assert time.monotonic() - sent < 10
            trainer = Trainer(PolicyConfig(), [], len(x))
            trainer.partial_fit(["o-a"], np.array([1.0]), np.array([x]))
            once = trainer.snapshot(1).arrays
            for name, array in once.items():  # learned once: one observation, reward 1
                np.testing.assert_allclose(snapshot.arrays[name], array, err_msg=name)
        finally:
            client.close()
        ready = httpx.get(f"{base}/readyz").json()["learner"]
        assert ready["state"] == "running"
        assert second in [beat["pid"] for beat in ready["live"]]


def _rewarded(snapshot: ModelSnapshot) -> bool:
    """Whether the model holds a reward (LinUCB's b = X'y is non-zero)."""
    return any(bool(np.any(array != 0)) for name, array in snapshot.arrays.items() if "b" in name)


def _output_so_far(proc: Any) -> bytes:
    """What serve printed until now, without waiting for it to exit."""
    os.set_blocking(proc.stdout.fileno(), False)
    chunks = []
    while True:
        try:
            chunk = proc.stdout.read()
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


async def test_a_dead_learners_pending_rewards_are_reclaimed_within_seconds(
    settings: Settings, store: RedisStore, raw: redis.Redis
) -> None:
    stream = keys.model_key("global", "rewards")
    await raw.sadd(keys.MODEL_SCOPES, "global")
    dead = Learner(store, settings, PolicyConfig(), name="dead")
    await dead._ensure_group("global")
    base = {"offer_id": "o-a", "reward": "0.0", "x": "[1.0]", "kind": "exposure"}
    for i in range(3):
        await raw.xadd(stream, {**base, "decision_id": f"d-{i}~c-1"})
    taken = await raw.xreadgroup(REWARD_GROUP, "dead", {stream: ">"}, count=10)
    ids = [entry_id for entry_id, _ in taken[0][1]]
    # killed six seconds ago, before acknowledging them
    await raw.xclaim(stream, REWARD_GROUP, "dead", 0, ids, idle=6000)
    survivor = Learner(store, settings, PolicyConfig(), name="survivor")
    assert await survivor.step("global", block_ms=1) == 3
    pending = await raw.xpending(stream, REWARD_GROUP)
    assert pending["pending"] == 0


async def test_consumers_of_learners_long_gone_leave_the_group(
    settings: Settings, store: RedisStore, raw: redis.Redis
) -> None:
    import asyncio

    stream = keys.model_key("global", "rewards")
    gone = Learner(store, settings, PolicyConfig(), name="gone")
    await gone._ensure_group("global")
    await raw.xadd(stream, {"kind": "exposure", "decision_id": "d-1~c-1"})
    taken = await raw.xreadgroup(REWARD_GROUP, "gone", {stream: ">"}, count=10)
    await raw.xack(stream, REWARD_GROUP, taken[0][1][0][0])  # nothing left pending
    await raw.xreadgroup(REWARD_GROUP, "busy", {stream: "0"}, count=10)  # joins, no entries
    await raw.xadd(stream, {"kind": "exposure", "decision_id": "d-2~c-1"})
    await raw.xreadgroup(REWARD_GROUP, "busy", {stream: ">"}, count=10)  # holds one pending
    await asyncio.sleep(0.05)
    survivor = Learner(store, settings, PolicyConfig(), name="survivor", forget_consumer_ms=20)
    await survivor.trim("global")
    names = [c["name"] for c in await raw.xinfo_consumers(stream, REWARD_GROUP)]
    assert names == ["busy"]  # the one with pending entries stays until they are reclaimed
