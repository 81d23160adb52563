"""The adapter's learner operations: reward streams read through a consumer group, the
WATCH/MULTI model commit, stream trimming and the attribution sweep's writes.

Per model scope, all keys share the hash tag ``{m:<scope>}``: the reward stream, the pickled
trainer state, the serving snapshot, the version, the feature-spec version and the sets of
applied (decision, offer) pairs. What is learned, and from what, stays in
:mod:`engine.learning.learner`; this module only reads and writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError, WatchError

from engine.store import keys
from engine.store._base import Adapter, Placed
from engine.store.commands import stream_entry
from engine.store.connection import translate
from engine.store.records import DecisionClose, ModelCommit, RewardEntries
from engine.store.scripts import mark_args

__all__ = ["APPLIED_TTL_SECONDS", "REWARD_GROUP", "LearnerStore", "ModelTransaction"]

REWARD_GROUP = "learners"  # the consumer group every learner reads a reward stream through
APPLIED_TTL_SECONDS = 10 * 86_400


class ModelTransaction:
    """A scope's model as one commit attempt read it, under WATCH of its version: a commit
    that lost the race to another learner is refused and attempted again on fresh state."""

    def __init__(self, pipe: Pipeline, scope: str, version: int, stored_spec: int | None) -> None:
        self._pipe = pipe
        self.scope = scope
        self.version = version
        self.stored_spec = stored_spec  # None: a model committed before models recorded it

    async def applied(self, day: int, members: Sequence[str]) -> list[bool]:
        """Whether each (decision, offer) member is in the day's applied set."""
        flags = cast(
            list[Any],
            await self._pipe.execute_command(
                "SMISMEMBER", keys.model_key(self.scope, f"applied:{day}"), *members
            ),
        )
        return [bool(flag) for flag in flags]


def _stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _decision_key(decision_id: str) -> str:
    parts = keys.split_decision_id(decision_id)
    if parts is None:
        raise ValueError(f"not a decision id: {decision_id!r}")
    return keys.customer_decision(*parts)


class LearnerStore(Adapter):
    @translate("model_scopes")
    async def model_scopes(self) -> list[str]:
        """Every scope a decision was logged in."""
        return sorted(cast(set[str], await self._client.smembers(keys.MODEL_SCOPES)))

    @translate("ensure_reward_group")
    async def ensure_reward_group(self, scope: str) -> None:
        """Create the scope's reward stream and its consumer group, unless they exist."""
        try:
            await self._client.xgroup_create(
                keys.model_key(scope, "rewards"), REWARD_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @translate("claim_rewards")
    async def claim_rewards(
        self, scope: str, consumer: str, min_idle_ms: int, count: int
    ) -> RewardEntries:
        """Entries pending this long with another consumer (a learner that died), now ours."""
        claimed = await self._client.xautoclaim(
            keys.model_key(scope, "rewards"),
            REWARD_GROUP,
            consumer,
            min_idle_time=min_idle_ms,
            start_id="0-0",
            count=count,
        )
        return [e for e in claimed[1] if e[1] is not None]

    @translate("read_rewards")
    async def read_rewards(
        self, scope: str, consumer: str, count: int, block_ms: int | None
    ) -> RewardEntries:
        """New entries for ``consumer``, waiting up to ``block_ms`` (None: not at all)."""
        response = await self._client.xreadgroup(
            REWARD_GROUP,
            consumer,
            {keys.model_key(scope, "rewards"): ">"},
            count=count,
            block=block_ms,
        )
        raw: RewardEntries = []
        for _, entries in cast(list[tuple[str, RewardEntries]], response or []):
            raw.extend(entries)
        return raw

    @translate("read_trainer_state")
    async def read_trainer_state(self, scope: str) -> bytes | None:
        blob = await self._binary.get(keys.model_key(scope, "state"))
        return None if blob is None else cast(bytes, blob)

    @translate("commit_model")
    async def commit_model(
        self,
        scope: str,
        attempt: Callable[[ModelTransaction], Awaitable[ModelCommit]],
        attempts: int = 10,
    ) -> bool:
        """Commit what ``attempt`` builds from the model it is given, in one MULTI/EXEC under
        WATCH of the version: new state, new snapshot, version, spec, applied members and
        stream acknowledgements, all or nothing. An attempt that lost the race is made again
        (``attempt`` is called anew); False when none of ``attempts`` won."""
        version_key = keys.model_key(scope, "version")
        spec_key = keys.model_key(scope, "spec")
        for _ in range(attempts):
            try:
                async with self._binary.pipeline(transaction=True) as pipe:
                    await pipe.watch(version_key)
                    version = int(await pipe.get(version_key) or 0)
                    stored = await pipe.get(spec_key)
                    head = ModelTransaction(
                        pipe, scope, version, None if stored is None else int(stored)
                    )
                    commit = await attempt(head)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if commit.state is not None:
                        pipe.set(keys.model_key(scope, "state"), commit.state)
                        pipe.set(keys.model_key(scope, "snapshot"), commit.snapshot)
                        pipe.set(version_key, commit.version)
                        pipe.set(spec_key, commit.spec_version)  # the snapshot's, for serving
                        for day, members in commit.applied.items():
                            applied_key = keys.model_key(scope, f"applied:{day}")
                            pipe.sadd(applied_key, *members)
                            pipe.expire(applied_key, APPLIED_TTL_SECONDS)
                    if commit.acks:
                        pipe.xack(keys.model_key(scope, "rewards"), REWARD_GROUP, *commit.acks)
                    await pipe.execute()
                return True
            except WatchError:
                continue  # someone else committed: attempt again from theirs
        return False

    @translate("trim_rewards")
    async def trim_rewards(self, scope: str, consumer: str, forget_consumer_ms: int) -> int:
        """Drop reward entries every learner has acknowledged (the stream stays bounded), and
        consumers other than ``consumer`` with nothing pending, silent ``forget_consumer_ms``
        (every restart joins under a new name); how many entries went."""
        stream = keys.model_key(scope, "rewards")
        groups = await self._client.xinfo_groups(stream)
        group = next((g for g in groups if g["name"] == REWARD_GROUP), None)
        if group is None:
            return 0
        for member in await self._client.xinfo_consumers(stream, REWARD_GROUP):
            if (
                member["pending"] == 0
                and member["idle"] >= forget_consumer_ms
                and member["name"] != consumer
            ):
                await self._client.xgroup_delconsumer(stream, REWARD_GROUP, member["name"])
        floor = str(group["last-delivered-id"])
        pending = await self._client.xpending(stream, REWARD_GROUP)
        if pending["pending"]:
            floor = min(floor, str(pending["min"]), key=_stream_id)
        return int(await self._client.xtrim(stream, minid=floor, approximate=False))

    @translate("due_decisions")
    async def due_decisions(
        self, scope: str, now: float, limit: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Decisions whose attribution window closed by ``now``, ``limit`` at most, each with
        its record ({} where erased or expired)."""
        pending = keys.model_key(scope, "pending")
        due = cast(
            list[str], await self._client.zrangebyscore(pending, "-inf", now, start=0, num=limit)
        )
        if not due:
            return []
        async with self._client.pipeline(transaction=False) as pipe:
            for decision_id in due:
                pipe.hgetall(_decision_key(decision_id))
            records: list[dict[str, str]] = await pipe.execute()
        return list(zip(due, records, strict=True))

    @translate("close_decisions")
    async def close_decisions(
        self,
        scope: str,
        due: Sequence[str],
        closes: Sequence[DecisionClose],
        outcome_maxlen: int,
    ) -> None:
        """Take ``due`` out of the attribution queue, writing what closing each one sends:
        reward-stream entries (each offer marked sent, only while its record exists: erased or
        expired meanwhile, it stays gone) and the outcome-log entry. One round trip."""
        rewards = keys.model_key(scope, "rewards")
        placed = Placed()
        async with self._client.pipeline(transaction=False) as pipe:
            for close in closes:
                for offer_id, entry in close.sends:
                    placed.entry(pipe, close.customer_id, rewards)
                    pipe.xadd(rewards, stream_entry(entry))
                    self._queue(
                        pipe,
                        self._scripts.mark,
                        [_decision_key(close.decision_id)],
                        mark_args(f"s:{offer_id}"),
                    )
                placed.entry(pipe, close.customer_id, keys.OUTCOME_LOG)
                pipe.xadd(
                    keys.OUTCOME_LOG,
                    stream_entry(close.outcome),
                    maxlen=outcome_maxlen,
                    approximate=True,
                )
            pipe.zrem(keys.model_key(scope, "pending"), *due)
            placed.floors(pipe)
            results = await self._execute(pipe)  # reloads mark.lua if the store lost it
        await self._place(*placed.references(results))
