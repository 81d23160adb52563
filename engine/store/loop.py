"""The adapter's decisioning-loop operations: decisions, events, rewards and model snapshots.

Kept apart from the profile and catalog operations because they own other keys, but on the
same clients and with the same error translation. Slots: customer-scoped keys (decision
records, request replays) carry ``{c:<id>}``; model keys carry ``{m:<scope>}``; logs
``{nbo:log}``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.exceptions import RedisError

from engine.domain.profiles import day_number
from engine.store import keys
from engine.store._base import Adapter, Placed
from engine.store.commands import customer_record, queue_cells, queue_customer_read, stream_entry
from engine.store.connection import fail
from engine.store.records import (
    DecisionCommit,
    DecisionRead,
    EventJoin,
    EventJoinArgs,
    EventWrite,
    LogRecord,
)
from engine.store.scripts import (
    activity_args,
    event_args,
    event_join,
    mark_args,
    record_args,
    reserve_args,
)

__all__ = ["DecisionLoop"]


class DecisionLoop(Adapter):
    # a queue member due this long ago is no longer in the queue (the sweep runs every second)
    PENDING_REF_SLACK_SECONDS = 7 * 86_400

    async def read_for_decision(
        self, customer_id: str, request_id: str | None, scopes: Sequence[str]
    ) -> DecisionRead:
        """Customer, catalog version, budgets, request replay and model version: one round trip."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                queue_customer_read(pipe, customer_id)
                pipe.hgetall(keys.customer_assignments(customer_id))
                pipe.mget([keys.model_key(scope, "version") for scope in scopes])
                if request_id is not None:
                    pipe.get(keys.customer_request(customer_id, request_id))
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise fail("read_for_decision") from exc
        assignments, versions = results[5:7]
        replay = results[7] if request_id is not None else None
        return DecisionRead(
            customer_record(results),
            replay,
            {scope: int(v or 0) for scope, v in zip(scopes, versions, strict=True)},
            assignments,
        )

    async def commit_decision(self, commit: DecisionCommit) -> tuple[str, list[str]]:
        """Reserve caps for every served offer and write the decision, all or nothing.

        Returns ``("ok", [])``, ``("refused", reasons per offer)``, ``("replay", [stored
        answer])`` or ``("conflict", [])`` when ``request_id`` was taken by another body (the
        request's ``fingerprint``, kept with the answer) meanwhile.
        """
        args = reserve_args(
            self.retention_seconds, commit.now, commit.channel_code, commit.offers, commit
        )
        customer_id = commit.customer_id
        script_keys = [
            *keys.customer_keys(customer_id),
            keys.customer_decision(customer_id, commit.token),
            keys.customer_assignments(customer_id),
        ]
        if commit.request_id is not None:
            script_keys.append(keys.customer_request(customer_id, commit.request_id))
        try:
            status, *rest = await self._scripts.reserve(keys=script_keys, args=args)
        except (RedisError, OSError) as exc:
            raise fail("commit_decision") from exc
        return str(status), [str(r) for r in rest]

    async def log_decisions(self, records: Sequence[LogRecord], maxlen: int) -> None:
        """For each decision: its log entry, its place in the attribution queue, experiment
        exposure counts and the served offers' exposures for the learner (the decision record
        says ``xp``), and the record of a fallback decision. One pipeline for the whole batch."""
        placed = Placed()
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                scopes = set()
                for record in records:
                    customer_id = keys.customer_of_decision(record.decision_id)
                    if record.record is not None:
                        own = record.record
                        decision = keys.customer_decision(own.customer_id, own.token)
                        self._queue(
                            pipe,
                            self._scripts.record,
                            [decision],
                            record_args(own.expire_at, own.fields),
                        )
                    queue_cells(pipe, record.cells)
                    placed.entry(pipe, customer_id, keys.DECISION_LOG)
                    pipe.xadd(
                        keys.DECISION_LOG,
                        stream_entry(record.entry),
                        maxlen=maxlen,
                        approximate=True,
                    )
                    rewards = keys.model_key(record.scope, "rewards")
                    for exposure in record.exposures:
                        placed.entry(pipe, customer_id, rewards)
                        pipe.xadd(rewards, stream_entry(exposure))
                    pending = keys.model_key(record.scope, "pending")
                    placed.member(customer_id, pending, record.close_at, record.decision_id)
                    pipe.zadd(pending, {record.decision_id: record.close_at})
                    scopes.add(record.scope)
                pipe.sadd(keys.MODEL_SCOPES, *scopes)
                placed.floors(pipe, time.time() - self.PENDING_REF_SLACK_SECONDS)
                results = await self._execute(pipe)  # reloads the record script if lost
        except (RedisError, OSError) as exc:
            raise fail("log_decision") from exc
        await self._place(*placed.references(results))

    async def join_events(self, joins: Sequence[EventJoinArgs]) -> list[EventJoin]:
        """Join events to their decisions: one script each, all in one round trip.

        The scripts run in order, so a batch behaves exactly as the same events sent one by one
        (an impression before its click, a duplicate within the batch seen as one).
        """
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for join in joins:
                    self._queue(
                        pipe,
                        self._scripts.event,
                        [
                            *keys.customer_keys(join.customer_id),
                            keys.customer_decision(join.customer_id, join.token),
                            keys.customer_assignments(join.customer_id),
                        ],
                        event_args(self.retention_seconds, join),
                    )
                results = await self._execute(pipe)
        except (RedisError, OSError) as exc:
            raise fail("join_event") from exc
        return [event_join(result) for result in results]

    async def record_events(self, writes: Sequence[EventWrite]) -> None:
        """After the joins: event log entries, rewards for the learner, budget counters and
        behavioural features (a click counts as engagement, a conversion as a purchase), for
        every accepted event of a batch in one round trip.

        One transaction, which also marks each event recorded (``w:<event id>`` in its
        decision): either all of it is written or none, and an event whose recording failed is
        recorded when it is sent again (its join answers ``rejoined`` until the mark is set).
        """
        if not writes:
            return
        placed = Placed()
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for write in writes:
                    decision = keys.customer_decision(write.customer_id, write.token)
                    self._queue(
                        pipe,
                        self._scripts.mark,
                        [decision],
                        mark_args(f"w:{write.entry['event_id']}"),
                    )
                    if write.activity is not None:
                        self._queue(
                            pipe,
                            self._scripts.activities,
                            keys.customer_keys(write.customer_id),
                            activity_args(
                                self.retention_seconds,
                                [write.activity],
                                day_number(write.activity.ts),
                            ),
                        )
                    placed.entry(pipe, write.customer_id, keys.EVENT_LOG)
                    pipe.xadd(
                        keys.EVENT_LOG,
                        stream_entry(write.entry),
                        maxlen=write.maxlen,
                        approximate=True,
                    )
                    if write.reward is not None:
                        rewards = keys.model_key(write.scope, "rewards")
                        placed.entry(pipe, write.customer_id, rewards)
                        pipe.xadd(rewards, stream_entry(write.reward))
                        self._queue(
                            pipe, self._scripts.mark, [decision], mark_args(f"s:{write.offer_id}")
                        )
                    if write.conversion:
                        pipe.hincrby(keys.BUDGET, f"{write.offer_id}|c", 1)
                    if write.impression:
                        pipe.hincrby(keys.BUDGET, f"{write.offer_id}|i", 1)
                    queue_cells(pipe, write.cells)
                placed.floors(pipe)
                results = await self._execute(pipe)
        except (RedisError, OSError) as exc:
            raise fail("record_event") from exc
        await self._place(*placed.references(results))

    async def read_snapshot(self, scope: str) -> tuple[int, bytes, int | None] | None:
        """Version, snapshot and the feature-spec version it was learned under (None: a model
        committed before models recorded it)."""
        try:
            async with self._binary.pipeline(transaction=True) as pipe:
                pipe.get(keys.model_key(scope, "version"))
                pipe.get(keys.model_key(scope, "snapshot"))
                pipe.get(keys.model_key(scope, "spec"))
                version, blob, spec = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise fail("read_snapshot") from exc
        if blob is None:
            return None
        return int(version or 0), bytes(blob), None if spec is None else int(spec)
