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

import numpy as np
import orjson

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.domain.catalog import Catalog
from engine.feedback.rewards import RewardEntry, stream_fields
from engine.learning.policies import PolicyConfig, Trainer
from engine.learning.scopes import variant_of_scope
from engine.metrics import REWARDS_LEARNED
from engine.store import keys
from engine.store.ports import LearnerPort, ModelTransactionPort
from engine.store.records import DecisionClose, ModelCommit

__all__ = ["Learner"]

log = logging.getLogger("nbo.learner")
# a live learner acknowledges a batch within a commit (tens of milliseconds; a second or so
# for a large model retried): entries pending this long belong to a learner that died, and a
# batch reclaimed from a slow live one is still applied once (the applied sets)
CLAIM_IDLE_MS = 5_000
FORGET_CONSUMER_MS = 3_600_000  # a consumer with nothing pending, silent this long, is removed
HEARTBEAT_SECONDS = 1.0
LIVE_SECONDS = 5.0  # a learner without a heartbeat this long is reported down
SWEEP_BATCH = 500
COMMIT_ATTEMPTS = 10  # commits lost to other learners' before a batch is given up


class Learner:
    """Applies rewards for every scope in the store; run one or several."""

    def __init__(
        self,
        store: LearnerPort,
        settings: Settings,
        policy: PolicyConfig,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        forget_consumer_ms: int = FORGET_CONSUMER_MS,
    ) -> None:
        self.store = store
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
        return await self.store.model_scopes()

    async def _ensure_group(self, scope: str) -> None:
        if scope in self._groups:
            return
        await self.store.ensure_reward_group(scope)
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
        batch = self.settings.learner_batch_size
        raw = await self.store.claim_rewards(scope, self.name, self.claim_idle_ms, batch)
        if not raw:
            block = self.settings.learner_block_ms if block_ms is None else block_ms or None
            raw = await self.store.read_rewards(scope, self.name, batch, block)
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
            blob = await self.store.read_trainer_state(scope)
            if blob is not None:
                trainer = Trainer.loads(blob)
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
        committed: tuple[int, Trainer, _Plan] | None = None

        async def attempt(model: ModelTransactionPort) -> ModelCommit:
            nonlocal committed
            trainer = await self._load_trainer(
                scope, model.version, n_features, spec_version, model.stored_spec
            )
            # the cached trainer may be changed in place below: until this attempt is
            # committed there is none (a lost race or any failure starts from the store)
            self._trainers.pop(scope, None)
            plan = await self._unapplied(model, entries)
            if plan.marks:
                for arm in trainer.arms:
                    if arm not in live:  # deleted or archived offers leave the model
                        trainer.remove_arm(arm)
                plan = plan.only(live)
            if not plan.marks:
                committed = (model.version, trainer, plan)
                return ModelCommit(acks=ids)
            new_version = model.version + 1
            # tens of milliseconds of numpy and pickling for a large model: in a thread, so an
            # API worker running this learner keeps answering meanwhile
            state, snapshot = await asyncio.to_thread(
                _learn, trainer, plan, n_features, new_version
            )
            by_day: dict[int, list[str]] = {}
            for day, member in plan.marks:
                by_day.setdefault(day, []).append(member)
            committed = (new_version, trainer, plan)
            return ModelCommit(state, snapshot, new_version, spec_version, by_day, ids)

        if not await self.store.commit_model(scope, attempt, COMMIT_ATTEMPTS) or not committed:
            raise RuntimeError(
                f"learner could not commit to scope {scope} after {COMMIT_ATTEMPTS} attempts"
            )
        new_version, trainer, plan = committed
        self._trainers[scope] = (new_version, spec_version, trainer)
        learned = plan.learned
        if learned:
            self.applied += learned
            REWARDS_LEARNED.labels(scope=scope).inc(learned)
        return learned

    async def _unapplied(self, model: ModelTransactionPort, entries: list[RewardEntry]) -> _Plan:
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
            flags = await model.applied(day, members)
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
        return await self.store.trim_rewards(scope, self.name, self.forget_consumer_ms)

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
        due = await self.store.due_decisions(scope, self.clock(), limit)
        if not due:
            return 0
        closes = [self._close(decision_id, record) for decision_id, record in due if record]
        await self.store.close_decisions(
            scope,
            [decision_id for decision_id, _ in due],
            closes,
            self.settings.decision_log_maxlen,
        )
        return len(due)

    def _close(self, decision_id: str, record: dict[str, str]) -> DecisionClose:
        customer_id = keys.customer_of_decision(decision_id)
        rewards: dict[str, float] = {}
        sends: list[tuple[str, dict[str, str]]] = []
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
            entry = stream_fields(
                "exposure" if reward is None else "reward",
                decision_id,
                offer_id,
                reward or "0.0",
                record.get("x", "[]"),
                record.get("sv", "0"),
                record.get("ts", "0"),
                record.get("pol", ""),
            )
            sends.append((offer_id, entry))
        outcome = {
            "decision_id": decision_id,
            "customer_id": customer_id,
            "rewards": orjson.dumps(rewards).decode(),
            "late_events": record.get("late", "0"),
            "closed_at": repr(self.clock()),
        }
        return DecisionClose(decision_id, customer_id, sends, outcome)


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


def policy_for_scope(scope: str, catalog: Catalog, default: PolicyConfig) -> PolicyConfig:
    """A bandit variant's scope (``<base>~<experiment>~<variant>``) learns with its own policy."""
    of_variant = variant_of_scope(scope)
    if of_variant is not None:
        experiment_id, variant_id = of_variant
        experiment = catalog.experiments.get(experiment_id)
        if experiment is not None:
            for variant in experiment.variants:
                treatment = variant.treatment
                if variant.id == variant_id and treatment.policy == "bandit":
                    return PolicyConfig.of_treatment(treatment)
    return default
