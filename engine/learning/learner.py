"""The learner: rewards in, versioned model snapshots out, each reward applied exactly once.

Per model scope, all keys share the hash tag ``{m:<scope>}``: the reward stream (read through
the consumer group ``learners``), the pickled trainer state, the serving snapshot, the version
and the sets of applied (decision, offer) pairs. One batch is committed in one MULTI/EXEC —
new state, new snapshot, version + 1, applied pairs, stream acknowledgements — under WATCH of
the version. So:

* a learner killed mid-batch commits nothing: the entries stay pending and are reclaimed by
  XAUTOCLAIM, then applied once;
* an entry delivered twice (reclaimed, or emitted twice by the attribution sweep) is skipped
  because its pair is already in the applied set committed with the model that learned it;
* several learners may share a scope: a commit that lost the race is retried on fresh state;
* a restart loads the stored trainer and continues exactly where the last commit left it.

Learning a served offer comes in two parts. Its exposure (reward 0) is sent when the decision
is logged, and its reward, if one arrives within the window, is added to that observation when
it comes (:meth:`Trainer.add_rewards`). So an open window counts as "shown, not (yet) clicked"
rather than being invisible while its clicks already count, the delayed-feedback bias that
would otherwise make every recently served offer look better than it is. The attribution sweep
closes decisions whose window has passed, sends whatever never reached the learner, and logs
the decision's final outcome.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import orjson
from redis.exceptions import ResponseError, WatchError

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.domain.catalog import Catalog
from engine.feedback.rewards import RewardEntry, stream_fields
from engine.learning.policies import PolicyConfig, Trainer
from engine.metrics import REWARDS_LEARNED
from engine.store import keys
from engine.store.loop import Placed
from engine.store.redis import RedisStore

__all__ = ["Learner"]

log = logging.getLogger("nbo.learner")
GROUP = "learners"
APPLIED_TTL_SECONDS = 10 * 86_400
# a live learner acknowledges a batch within a commit (tens of milliseconds; a second or so
# for a large model retried): entries pending this long belong to a learner that died, and a
# batch reclaimed from a slow live one is still applied once (the applied sets)
CLAIM_IDLE_MS = 5_000
FORGET_CONSUMER_MS = 3_600_000  # a consumer with nothing pending, silent this long, is removed
HEARTBEAT_SECONDS = 1.0
LIVE_SECONDS = 5.0  # a learner without a heartbeat this long is reported down
SWEEP_BATCH = 500


class Learner:
    """Applies rewards for every scope in the store; run one or several."""

    def __init__(
        self,
        store: RedisStore,
        settings: Settings,
        policy: PolicyConfig,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        forget_consumer_ms: int = FORGET_CONSUMER_MS,
    ) -> None:
        self.store = store
        self.client = store.client
        self.binary = store.binary
        self.settings = settings
        self.policy = policy
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.clock = clock
        self.claim_idle_ms = claim_idle_ms
        self.forget_consumer_ms = forget_consumer_ms
        self.catalog = CatalogCache(store)
        # per scope: the model version and feature-spec version the cached trainer is at
        self._trainers: dict[str, tuple[int, int, Trainer]] = {}
        self._groups: set[str] = set()
        self.applied = 0
        self.skipped = 0
        self.started = clock()
        self._last_beat = 0.0

    async def scopes(self) -> list[str]:
        return sorted(cast(set[str], await self.client.smembers(keys.MODEL_SCOPES)))

    async def _ensure_group(self, scope: str) -> None:
        if scope in self._groups:
            return
        try:
            await self.client.xgroup_create(
                keys.model_key(scope, "rewards"), GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(scope)

    async def run(self, stop: asyncio.Event, sweep_every: float = 1.0) -> None:
        """Until ``stop`` is set: learn from every scope, sweep closed windows every second."""
        last_sweep = 0.0
        while not stop.is_set():
            try:
                await self.beat()
                scopes = await self.scopes()
                worked = 0
                for scope in scopes:
                    await self.beat()
                    worked += await self.step(scope, block_ms=0 if len(scopes) > 1 else None)
                if worked:
                    # let rewards gather: fewer, larger commits (each rewrites the model)
                    await asyncio.sleep(self.settings.learner_min_commit_ms / 1000)
                if self.clock() - last_sweep >= sweep_every:
                    for scope in scopes:
                        await self.sweep_all(scope)
                        await self.trim(scope)
                    last_sweep = self.clock()
                if not scopes or (not worked and len(scopes) > 1):
                    await asyncio.sleep(self.settings.learner_block_ms / 1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("learner_step_failed")
                await asyncio.sleep(1.0)

    async def beat(self) -> None:
        """At most once a second: tell the store this learner is alive (``/readyz`` shows it),
        so a dead or hung learner is visible wherever it runs."""
        now = time.monotonic()
        if now - self._last_beat < HEARTBEAT_SECONDS:
            return
        self._last_beat = now
        await self.store.learner_heartbeat(
            self.name,
            {
                "ts": self.clock(),
                "pid": os.getpid(),
                "since": self.started,
                "applied": self.applied,
            },
        )

    async def step(self, scope: str, block_ms: int | None = None) -> int:
        """Read one batch (stale entries of dead learners first) and apply it; entries read."""
        await self._ensure_group(scope)
        stream = keys.model_key(scope, "rewards")
        batch = self.settings.learner_batch_size
        claimed = await self.client.xautoclaim(
            stream, GROUP, self.name, min_idle_time=self.claim_idle_ms, start_id="0-0", count=batch
        )
        raw: list[tuple[str, dict[str, str]]] = [e for e in claimed[1] if e[1] is not None]
        if not raw:
            response = await self.client.xreadgroup(
                GROUP,
                self.name,
                {stream: ">"},
                count=batch,
                block=self.settings.learner_block_ms if block_ms is None else block_ms or None,
            )
            for _, entries in cast(
                list[tuple[str, list[tuple[str, dict[str, str]]]]], response or []
            ):
                raw.extend(entries)
        if raw:
            await self.apply(scope, raw)
        return len(raw)

    async def _load_trainer(
        self,
        scope: str,
        version: int,
        n_features: int,
        spec_version: int | None = None,
        stored_spec: int | None = None,
    ) -> Trainer:
        """The trainer to continue, or a fresh one when the stored model was learned under
        another feature spec: its weights mean other features, whatever the vector's width.
        (A model stored before models recorded their spec is continued if the width fits.)"""
        cached = self._trainers.get(scope)
        if (
            cached is not None
            and cached[0] == version
            and cached[1] == spec_version
            and cached[2].n_features == n_features
        ):
            return cached[2]
        if stored_spec is None or spec_version is None or stored_spec == spec_version:
            blob = await self.binary.get(keys.model_key(scope, "state"))
            if blob is not None:
                trainer = Trainer.loads(cast(bytes, blob))
                if trainer.n_features == n_features:
                    return trainer
        return Trainer(policy_for_scope(scope, self.catalog.current, self.policy), [], n_features)

    async def apply(self, scope: str, raw: Sequence[tuple[str, dict[str, str]]]) -> int:
        """Apply a batch exactly once; returns how many rewards were learned."""
        catalog = await self.catalog.get()
        n_features = catalog.vectorizer.size
        spec_version = catalog.feature_spec.version
        live = {oid for oid, p in catalog.offers.items() if p.offer.status != "archived"}
        entries = []
        ids = [entry_id for entry_id, _ in raw]
        for entry_id, fields in raw:
            parsed = RewardEntry.parse(entry_id, fields)
            if (
                parsed is not None
                and parsed.spec_version == spec_version
                and len(parsed.x) == n_features
            ):
                entries.append(parsed)
            else:
                self.skipped += 1  # malformed or made under another feature spec
        version_key = keys.model_key(scope, "version")
        for _ in range(10):
            try:
                return await self._commit(
                    scope, entries, ids, version_key, n_features, spec_version, live
                )
            except WatchError:
                self._trainers.pop(scope, None)  # someone else committed: start from theirs
        raise RuntimeError(f"learner could not commit to scope {scope} after 10 attempts")

    async def _commit(
        self,
        scope: str,
        entries: list[RewardEntry],
        ids: list[str],
        version_key: str,
        n_features: int,
        spec_version: int,
        live: set[str],
    ) -> int:
        stream = keys.model_key(scope, "rewards")
        spec_key = keys.model_key(scope, "spec")
        try:
            async with self.binary.pipeline(transaction=True) as pipe:
                await pipe.watch(version_key)
                version = int(await pipe.get(version_key) or 0)
                stored = await pipe.get(spec_key)
                stored_spec = None if stored is None else int(stored)
                trainer = await self._load_trainer(
                    scope, version, n_features, spec_version, stored_spec
                )
                plan = await self._unapplied(pipe, scope, entries)
                pipe.multi()  # type: ignore[no-untyped-call]
                new_version = version
                if plan.marks:
                    # the cached trainer is changed in place; any failure below drops it
                    self._trainers.pop(scope, None)
                    for arm in trainer.arms:
                        if arm not in live:  # deleted or archived offers leave the model
                            trainer.remove_arm(arm)
                    plan = plan.only(live)
                if plan.marks:
                    new_version = version + 1
                    # tens of milliseconds of numpy and pickling for a large model: in a thread,
                    # so an API worker running this learner keeps answering meanwhile
                    state, snapshot = await asyncio.to_thread(
                        _learn, trainer, plan, n_features, new_version
                    )
                    pipe.set(keys.model_key(scope, "state"), state)
                    pipe.set(keys.model_key(scope, "snapshot"), snapshot)
                    pipe.set(version_key, new_version)
                    pipe.set(spec_key, spec_version)  # the snapshot's spec, for serving too
                    by_day: dict[int, list[str]] = {}
                    for day, member in plan.marks:
                        by_day.setdefault(day, []).append(member)
                    for day, members in by_day.items():
                        applied_key = keys.model_key(scope, f"applied:{day}")
                        pipe.sadd(applied_key, *members)
                        pipe.expire(applied_key, APPLIED_TTL_SECONDS)
                if ids:
                    pipe.xack(stream, GROUP, *ids)
                await pipe.execute()
        except BaseException:
            self._trainers.pop(scope, None)
            raise
        self._trainers[scope] = (new_version, spec_version, trainer)
        learned = plan.learned
        if learned:
            self.applied += learned
            REWARDS_LEARNED.labels(scope=scope).inc(learned)
        return learned

    async def _unapplied(self, pipe: Any, scope: str, entries: list[RewardEntry]) -> _Plan:
        """What in this batch no commit has learned yet, decided per (decision, offer) pair.

        A pair is learned in two parts, each once: its exposure (the observation, reward 0;
        member ``pair|e`` of the applied set) and its reward (member ``pair|r``). A reward whose
        exposure is already learned, or comes earlier in this batch, is added to it; a reward
        that arrives first is learned as a whole observation and its exposure, coming later,
        is then skipped. Any order of delivery and any redelivery ends in the same state.
        """
        by_day: dict[int, list[str]] = {}
        for entry in entries:
            by_day.setdefault(entry.day, []).extend((f"{entry.pair}|e", f"{entry.pair}|r"))
        done: set[str] = set()
        for day, members in by_day.items():
            flags = await pipe.execute_command(
                "SMISMEMBER", keys.model_key(scope, f"applied:{day}"), *members
            )
            done.update(m for m, flag in zip(members, flags, strict=True) if flag)
        plan = _Plan()
        for entry in entries:
            exposed, rewarded = f"{entry.pair}|e", f"{entry.pair}|r"
            if entry.exposure:
                if exposed in done:
                    continue
                plan.observations.append(entry)
                plan.marks.append((entry.day, exposed))
                done.add(exposed)
            elif rewarded not in done:
                if exposed in done:
                    plan.additions.append(entry)
                else:
                    plan.observations.append(entry)
                    plan.marks.append((entry.day, exposed))
                    done.add(exposed)
                plan.marks.append((entry.day, rewarded))
                done.add(rewarded)
        return plan

    async def trim(self, scope: str) -> int:
        """Drop reward entries every learner has acknowledged (the stream stays bounded), and
        consumers of learners long gone (every restart joins under a new name)."""
        stream = keys.model_key(scope, "rewards")
        groups = await self.client.xinfo_groups(stream)
        group = next((g for g in groups if g["name"] == GROUP), None)
        if group is None:
            return 0
        for consumer in await self.client.xinfo_consumers(stream, GROUP):
            if (
                consumer["pending"] == 0
                and consumer["idle"] >= self.forget_consumer_ms
                and consumer["name"] != self.name
            ):
                await self.client.xgroup_delconsumer(stream, GROUP, consumer["name"])
        floor = str(group["last-delivered-id"])
        pending = await self.client.xpending(stream, GROUP)
        if pending["pending"]:
            floor = min(floor, str(pending["min"]), key=_stream_id)
        return int(await self.client.xtrim(stream, minid=floor, approximate=False))

    async def sweep_all(self, scope: str, budget_seconds: float = 0.5) -> int:
        """Close every due decision, in batches, within a time budget (the rest next time)."""
        closed = 0
        started = time.monotonic()
        while time.monotonic() - started < budget_seconds:
            done = await self.sweep(scope)
            closed += done
            if done < SWEEP_BATCH:
                break
        return closed

    async def sweep(self, scope: str, limit: int = SWEEP_BATCH) -> int:
        """Close decisions whose attribution window has passed; returns how many were closed."""
        pending = keys.model_key(scope, "pending")
        now = self.clock()
        due = cast(
            list[str], await self.client.zrangebyscore(pending, "-inf", now, start=0, num=limit)
        )
        if not due:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
            for decision_id in due:
                pipe.hgetall(_decision_key(decision_id))
            records: list[dict[str, str]] = await pipe.execute()
        placed = Placed()
        async with self.client.pipeline(transaction=False) as pipe:
            for decision_id, record in zip(due, records, strict=True):
                if record:
                    self._close(pipe, placed, scope, decision_id, record)
            pipe.zrem(pending, *due)
            placed.floors(pipe)
            results = await self.store.execute(pipe)  # reloads mark.lua if the store lost it
        await placed.index(self.store, results)
        return len(due)

    def _close(
        self, pipe: Any, placed: Placed, scope: str, decision_id: str, record: dict[str, str]
    ) -> None:
        parts = keys.split_decision_id(decision_id)
        customer_id = parts[0] if parts else ""
        rewards: dict[str, float] = {}
        learnable = record.get("pol") != "fallback"  # decided without a feature vector
        for name in record:
            if not name.startswith("o:"):
                continue
            offer_id = name[2:]
            reward = record.get(f"r:{offer_id}")
            rewards[offer_id] = float(reward or 0.0)
            if f"s:{offer_id}" in record or not learnable:
                continue  # its reward already went to the learner when it arrived
            if reward is None and "xp" in record:
                continue  # its exposure went to the learner when it was served: 0 is known
            # what never reached the learner: a reward whose send failed, or the exposure
            # (a redelivered exposure is harmless: the learner skips pairs it has learned)
            placed.entry(pipe, customer_id, keys.model_key(scope, "rewards"))
            pipe.xadd(
                keys.model_key(scope, "rewards"),
                stream_fields(
                    "exposure" if reward is None else "reward",
                    decision_id,
                    offer_id,
                    reward or "0.0",
                    record.get("x", "[]"),
                    record.get("sv", "0"),
                    record.get("ts", "0"),
                    record.get("pol", ""),
                ),
            )
            # only while the record exists: erased or expired meanwhile, it stays gone
            self.store.queue_script(
                pipe, self.store._mark, [_decision_key(decision_id)], [f"s:{offer_id}", "1"]
            )
        placed.entry(pipe, customer_id, keys.OUTCOME_LOG)
        pipe.xadd(
            keys.OUTCOME_LOG,
            {
                "decision_id": decision_id,
                "customer_id": customer_id,
                "rewards": orjson.dumps(rewards).decode(),
                "late_events": record.get("late", "0"),
                "closed_at": repr(self.clock()),
            },
            maxlen=self.settings.decision_log_maxlen,
            approximate=True,
        )


@dataclass
class _Plan:
    """One batch's learning: whole observations, rewards added to them, applied-set members."""

    observations: list[RewardEntry] = field(default_factory=list)
    additions: list[RewardEntry] = field(default_factory=list)
    marks: list[tuple[int, str]] = field(default_factory=list)

    @property
    def learned(self) -> int:
        return len(self.observations) + len(self.additions)

    def only(self, live: set[str]) -> _Plan:
        """Without offers that left the catalog (nothing of theirs is learned or marked)."""
        return _Plan(
            [e for e in self.observations if e.offer_id in live],
            [e for e in self.additions if e.offer_id in live],
            [(day, m) for day, m in self.marks if m.rsplit("|", 2)[1] in live],
        )


def _learn(trainer: Trainer, plan: _Plan, n_features: int, version: int) -> tuple[bytes, bytes]:
    """Apply one batch to ``trainer``; returns its new state and serving snapshot."""
    observed, added = plan.observations, plan.additions
    trainer.partial_fit(
        [e.offer_id for e in observed],
        np.array([e.reward for e in observed]),
        np.array([e.x for e in observed]).reshape(len(observed), n_features),
    )
    trainer.add_rewards(
        [e.offer_id for e in added],
        np.array([e.reward for e in added]),
        np.array([e.x for e in added]).reshape(len(added), n_features),
    )
    return trainer.dumps(), trainer.snapshot(version).to_bytes()


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def policy_for_scope(scope: str, catalog: Catalog, default: PolicyConfig) -> PolicyConfig:
    """A bandit variant's scope (``<base>~<experiment>~<variant>``) learns with its own policy."""
    parts = scope.split("~")
    if len(parts) >= 3:
        experiment = catalog.experiments.get(parts[-2])
        if experiment is not None:
            for variant in experiment.variants:
                treatment = variant.treatment
                if variant.id == parts[-1] and treatment.policy == "bandit":
                    return PolicyConfig.of_treatment(treatment)
    return default


def _decision_key(decision_id: str) -> str:
    parts = keys.split_decision_id(decision_id)
    if parts is None:
        raise ValueError(f"not a decision id: {decision_id!r}")
    return keys.customer_decision(*parts)
