"""Learner throughput: rewards applied per second, end to end through the store.

Baseline measured in the same run: MABWiser's own partial_fit on the same batches with no
store at all (what the learner could do if IO were free). Run:

    .venv/bin/python -m bench.learner [--rewards 50000] [--arms 100] [--features 32]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import redis.asyncio as redis

from bench.results_file import write_result
from engine.config import Settings
from engine.domain.catalog import Offer
from engine.domain.vectoriser import FeatureSpec
from engine.learning.learner import Learner
from engine.learning.policies import PolicyConfig, Trainer
from engine.store import keys
from engine.store.embedded import embedded_valkey
from engine.store.redis import RedisStore


async def run(rewards: int, arms: int, features: int, batch: int) -> dict[str, float]:
    spec = FeatureSpec(hash_buckets=features - FeatureSpec().vectorizer().size + 8)
    assert spec.vectorizer().size == features, spec.vectorizer().size
    with (
        tempfile.TemporaryDirectory() as data_dir,
        embedded_valkey(Path(data_dir), persist=False) as url,
    ):
        settings = Settings(redis_url=url, learner_batch_size=batch, learner="off")
        store = RedisStore.from_settings(settings)
        await store.put_feature_spec(spec.model_dump_json().encode())
        offer_ids = [f"o-{i}" for i in range(arms)]
        for offer_id in offer_ids:
            offer = Offer(name=offer_id, channels={"web": {"title": offer_id}})
            await store.put_offer(offer_id, offer.model_dump_json().encode())
        rng = np.random.default_rng(0)
        xs = rng.random((rewards, features))
        chosen = rng.choice(offer_ids, size=rewards)
        values = (rng.random(rewards) < 0.1).astype(float)
        stream = keys.model_key("global", "rewards")
        raw = redis.Redis.from_url(url, decode_responses=True)  # the rewards, as if logged
        await raw.sadd(keys.MODEL_SCOPES, "global")
        for lo in range(0, rewards, 1000):
            async with raw.pipeline(transaction=False) as pipe:
                for i in range(lo, min(rewards, lo + 1000)):
                    pipe.xadd(
                        stream,
                        {
                            "decision_id": f"d-{i:x}~c-{i % 1000}",
                            "offer_id": str(chosen[i]),
                            "reward": repr(float(values[i])),
                            "x": orjson.dumps(xs[i].tolist()).decode(),
                            "spec_version": "1",
                            "decided_at": repr(time.time()),
                        },
                    )
                await pipe.execute()
        await raw.aclose()
        policy = PolicyConfig()
        learner = Learner(store, settings, policy)
        start = time.perf_counter()
        while learner.applied + learner.skipped < rewards:
            await learner.step("global", block_ms=1)
        assert learner.skipped == 0, f"{learner.skipped} rewards skipped"
        learner_seconds = time.perf_counter() - start
        await store.close()

    # baseline: the same batches straight into MABWiser, no store, no dedupe, no snapshots
    trainer = Trainer(PolicyConfig(), [], features)
    start = time.perf_counter()
    for lo in range(0, rewards, batch):
        hi = min(rewards, lo + batch)
        trainer.partial_fit(list(chosen[lo:hi]), values[lo:hi], xs[lo:hi])
    baseline_seconds = time.perf_counter() - start
    return {
        "rewards": rewards,
        "arms": arms,
        "features": features,
        "batch": batch,
        "learner_rewards_per_s": rewards / learner_seconds,
        "mabwiser_only_rewards_per_s": rewards / baseline_seconds,
        "ratio_to_mabwiser_only": baseline_seconds / learner_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rewards", type=int, default=50_000)
    parser.add_argument("--arms", type=int, default=100)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--batch", type=int, default=2000)
    args = parser.parse_args()
    result = asyncio.run(run(args.rewards, args.arms, args.features, args.batch))
    write_result("learner", result, width=40, digits=2)


if __name__ == "__main__":
    main()
