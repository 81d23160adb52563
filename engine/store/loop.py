"""Store operations of the decisioning loop: decisions, events, rewards and model snapshots.

Kept apart from :mod:`engine.store.redis` (profiles and catalog) because they own other keys, but on
the same clients and with the same error translation. Slots: customer-scoped keys (decision
records, request replays) carry ``{c:<id>}``; model keys carry ``{m:<scope>}``; logs ``{nbo:log}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from engine.domain.profiles import ActivityRow, day_number
from engine.errors import StoreUnavailable
from engine.metrics import STORE_ERRORS
from engine.store import keys
from engine.store.redis import (
    CustomerRecord,
    RedisStore,
    activity_args,
    customer_record,
    queue_cells,
    queue_customer_read,
)

__all__ = [
    "DecisionRead",
    "DecisionRecord",
    "EventJoin",
    "EventJoinArgs",
    "EventWrite",
    "LogRecord",
    "LoopStore",
    "Placed",
]


@dataclass(frozen=True, slots=True)
class DecisionRead:
    record: CustomerRecord
    replay: str | None
    model_versions: dict[str, int]
    assignments: dict[str, str]


@dataclass(frozen=True, slots=True)
class EventJoin:
    status: str
    reward: float | None
    x: str
    scope: str
    spec_version: str
    decided_at: float
    policy: str
    channel: str
    experiment: str = ""
    variant: str = ""
    assignment: str = ""
    first_conversion: bool = False
    first_click: bool = False
    revenue_before: float = 0.0
    rejoined: bool = False  # joined before but never recorded: record it now, count nothing


@dataclass(frozen=True, slots=True)
class EventJoinArgs:
    """One event to join to its decision."""

    customer_id: str
    token: str
    event_id: str
    offer_id: str
    kind: str
    value: float
    event_time: float
    now: float
    reward_code: str
    takeover_seconds: int
    attempt: str  # nonce of the request joining it: its own resent join is not a rival
    fingerprint: str = ""  # of the event's body: its id under another body is a conflict


@dataclass(frozen=True, slots=True)
class EventWrite:
    """What one joined event writes besides its join."""

    customer_id: str
    token: str
    entry: Mapping[str, str]
    reward: Mapping[str, str] | None
    scope: str
    offer_id: str
    conversion: bool
    impression: bool
    maxlen: int
    activity: ActivityRow | None = None
    cells: Mapping[str, Mapping[str, float]] | None = None


def _event_join(result: Sequence[Any]) -> EventJoin:
    status = str(result[0])
    if len(result) == 1:
        return EventJoin(status, None, "", "", "", 0.0, "", "")
    values = [str(v) for v in result[1:15]]
    reward, x, scope, spec_version, decided_at, policy, channel, experiment, variant = values[:9]
    assignment, first_conversion, first_click, revenue_before, rejoined = values[9:14]
    return EventJoin(
        status,
        float(reward) if reward else None,
        x,
        scope,
        spec_version,
        float(decided_at or 0),
        policy,
        channel,
        experiment,
        variant,
        assignment,
        first_conversion == "1",
        first_click == "1",
        float(revenue_before or 0),
        rejoined == "1",
    )


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision record written with the log rather than by the commit script: a fallback
    decision was made while the store was away, and its events can join only once it is there.
    """

    customer_id: str
    token: str
    fields: Mapping[str, str]
    expire_at: int  # absolute, so a record written late still expires when its window ends


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What a decision writes besides its own record: log entry, attribution queue, exposures
    (and, for a fallback decision, the record itself)."""

    entry: Mapping[str, str]
    scope: str
    decision_id: str
    close_at: float
    cells: Mapping[str, Mapping[str, float]] | None = None
    exposures: Sequence[Mapping[str, str]] = ()
    record: DecisionRecord | None = None


def _fields(entry: Mapping[str, str]) -> dict[Any, Any]:
    return dict(entry)


def _customer_of(decision_id: str) -> str:
    parts = keys.split_decision_id(decision_id)
    return parts[0] if parts else ""


class Placed:
    """Items a pipeline writes outside their customers' slots, to index once it has run.

    Each stream entry is noted at its command's place in the pipeline (its reply is the entry
    id); :meth:`floors` queues a read of each stream's first entry, so references to entries
    trimmed since can be dropped from the customers' indexes as new ones are added.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[int, str, str]] = []  # (reply index, customer id, stream)
        self.members: list[tuple[str, str]] = []
        self.ranges: dict[str, tuple[str, str]] = {}
        self._floor_at: dict[str, int] = {}

    def entry(self, pipe: Any, customer_id: str, stream: str) -> None:
        """Note that the next command queued on ``pipe`` adds an entry to ``stream``."""
        if customer_id:
            self.entries.append((len(pipe.command_stack), customer_id, stream))

    def member(self, customer_id: str, zset: str, due: float, member: str) -> None:
        if customer_id:
            self.members.append((customer_id, keys.member_ref(zset, due, member)))

    def floors(self, pipe: Any, due_before: float | None = None) -> None:
        for stream in sorted({stream for _, _, stream in self.entries}):
            self._floor_at[stream] = len(pipe.command_stack)
            pipe.xrange(stream, count=1)
        if due_before is not None:
            for zset in {keys.parse_ref(ref)[1] for _, ref in self.members}:
                self.ranges[zset] = keys.member_floor(zset, due_before)

    async def index(self, store: RedisStore, results: Sequence[Any]) -> None:
        placed = list(self.members)
        for at, customer_id, stream in self.entries:
            placed.append((customer_id, keys.stream_ref(stream, str(results[at]))))
        for stream, at in self._floor_at.items():
            first = results[at]
            self.ranges[stream] = keys.stream_floor(stream, str(first[0][0]) if first else None)
        await store.place(placed, self.ranges)


def _fail(operation: str, exc: Exception) -> StoreUnavailable:
    STORE_ERRORS.labels(operation=operation).inc()
    return StoreUnavailable(f"store unavailable during {operation}")


class LoopStore:
    # a queue member due this long ago is no longer in the queue (the sweep runs every second)
    PENDING_REF_SLACK_SECONDS = 7 * 86_400

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.client = store.client
        self.binary = store.binary

    async def read_for_decision(
        self, customer_id: str, request_id: str | None, scopes: Sequence[str]
    ) -> DecisionRead:
        """Customer, catalog version, budgets, request replay and model version: one round trip."""
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                queue_customer_read(pipe, customer_id)
                pipe.hgetall(keys.customer_assignments(customer_id))
                pipe.mget([keys.model_key(scope, "version") for scope in scopes])
                if request_id is not None:
                    pipe.get(keys.customer_request(customer_id, request_id))
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _fail("read_for_decision", exc) from exc
        assignments, versions = results[5:7]
        replay = results[7] if request_id is not None else None
        return DecisionRead(
            customer_record(results),
            replay,
            {scope: int(v or 0) for scope, v in zip(scopes, versions, strict=True)},
            assignments,
        )

    async def commit_decision(
        self,
        customer_id: str,
        token: str,
        offers: Sequence[tuple[str, tuple[int, int, int, int, int]]],
        channel_code: str,
        now: int,
        fields: Mapping[str, str],
        response: bytes,
        request_id: str | None,
        decision_ttl: int,
        request_ttl: int,
        assignment: tuple[str, str] | None = None,
        fingerprint: str = "",
    ) -> tuple[str, list[str]]:
        """Reserve caps for every served offer and write the decision, all or nothing.

        Returns ``("ok", [])``, ``("refused", reasons per offer)``, ``("replay", [stored
        answer])`` or ``("conflict", [])`` when ``request_id`` was taken by another body (the
        request's ``fingerprint``, kept with the answer) meanwhile.
        """
        args: list[Any] = [
            self.store.retention_seconds,
            now,
            now // 86_400,
            channel_code,
            1,
            len(offers),
        ]
        for offer_id, limits in offers:
            args += [offer_id, *limits]
        args += [decision_ttl, request_ttl, response, fingerprint, len(fields)]
        for name, value in fields.items():
            args += [name, value]
        args += list(assignment) if assignment is not None else ["", ""]
        script_keys = [
            *keys.customer_keys(customer_id),
            keys.customer_decision(customer_id, token),
            keys.customer_assignments(customer_id),
        ]
        if request_id is not None:
            script_keys.append(keys.customer_request(customer_id, request_id))
        try:
            status, *rest = await self.store._reserve(keys=script_keys, args=args)
        except (RedisError, OSError) as exc:
            raise _fail("commit_decision", exc) from exc
        return str(status), [str(r) for r in rest]

    async def log_decisions(self, records: Sequence[LogRecord], maxlen: int) -> None:
        """For each decision: its log entry, its place in the attribution queue, experiment
        exposure counts and the served offers' exposures for the learner (the decision record
        says ``xp``), and the record of a fallback decision. One pipeline for the whole batch."""
        placed = Placed()
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                scopes = set()
                for record in records:
                    customer_id = _customer_of(record.decision_id)
                    if record.record is not None:
                        own = record.record
                        decision = keys.customer_decision(own.customer_id, own.token)
                        fields = [item for pair in _fields(own.fields).items() for item in pair]
                        self.store.queue_script(
                            pipe, self.store._record, [decision], [own.expire_at, *fields]
                        )
                    queue_cells(pipe, record.cells)
                    placed.entry(pipe, customer_id, keys.DECISION_LOG)
                    pipe.xadd(
                        keys.DECISION_LOG, _fields(record.entry), maxlen=maxlen, approximate=True
                    )
                    rewards = keys.model_key(record.scope, "rewards")
                    for exposure in record.exposures:
                        placed.entry(pipe, customer_id, rewards)
                        pipe.xadd(rewards, _fields(exposure))
                    pending = keys.model_key(record.scope, "pending")
                    placed.member(customer_id, pending, record.close_at, record.decision_id)
                    pipe.zadd(pending, {record.decision_id: record.close_at})
                    scopes.add(record.scope)
                pipe.sadd(keys.MODEL_SCOPES, *scopes)
                placed.floors(pipe, time.time() - self.PENDING_REF_SLACK_SECONDS)
                results = await self.store.execute(pipe)  # reloads the record script if lost
        except (RedisError, OSError) as exc:
            raise _fail("log_decision", exc) from exc
        await placed.index(self.store, results)

    async def join_events(self, joins: Sequence[EventJoinArgs]) -> list[EventJoin]:
        """Join events to their decisions: one script each, all in one round trip.

        The scripts run in order, so a batch behaves exactly as the same events sent one by one
        (an impression before its click, a duplicate within the batch seen as one).
        """
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for join in joins:
                    self.store.queue_script(
                        pipe,
                        self.store._event,
                        [
                            *keys.customer_keys(join.customer_id),
                            keys.customer_decision(join.customer_id, join.token),
                            keys.customer_assignments(join.customer_id),
                        ],
                        [
                            self.store.retention_seconds,
                            join.event_id,
                            join.offer_id,
                            join.kind,
                            repr(float(join.value)),
                            int(join.event_time),
                            int(join.now),
                            join.takeover_seconds,
                            join.reward_code,
                            join.attempt,
                            join.fingerprint,
                        ],
                    )
                results = await self.store.execute(pipe)
        except (RedisError, OSError) as exc:
            raise _fail("join_event", exc) from exc
        return [_event_join(result) for result in results]

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
            async with self.client.pipeline(transaction=True) as pipe:
                for write in writes:
                    decision = keys.customer_decision(write.customer_id, write.token)
                    self.store.queue_script(
                        pipe, self.store._mark, [decision], [f"w:{write.entry['event_id']}", "1"]
                    )
                    if write.activity is not None:
                        self.store.queue_script(
                            pipe,
                            self.store._activities,
                            keys.customer_keys(write.customer_id),
                            activity_args(
                                self.store.retention_seconds,
                                [write.activity],
                                day_number(write.activity.ts),
                            ),
                        )
                    placed.entry(pipe, write.customer_id, keys.EVENT_LOG)
                    pipe.xadd(
                        keys.EVENT_LOG, _fields(write.entry), maxlen=write.maxlen, approximate=True
                    )
                    if write.reward is not None:
                        rewards = keys.model_key(write.scope, "rewards")
                        placed.entry(pipe, write.customer_id, rewards)
                        pipe.xadd(rewards, _fields(write.reward))
                        self.store.queue_script(
                            pipe, self.store._mark, [decision], [f"s:{write.offer_id}", "1"]
                        )
                    if write.conversion:
                        pipe.hincrby(keys.BUDGET, f"{write.offer_id}|c", 1)
                    if write.impression:
                        pipe.hincrby(keys.BUDGET, f"{write.offer_id}|i", 1)
                    queue_cells(pipe, write.cells)
                placed.floors(pipe)
                results = await self.store.execute(pipe)
        except (RedisError, OSError) as exc:
            raise _fail("record_event", exc) from exc
        await placed.index(self.store, results)

    async def read_snapshot(self, scope: str) -> tuple[int, bytes, int | None] | None:
        """Version, snapshot and the feature-spec version it was learned under (None: a model
        committed before models recorded it)."""
        try:
            async with self.binary.pipeline(transaction=True) as pipe:
                pipe.get(keys.model_key(scope, "version"))
                pipe.get(keys.model_key(scope, "snapshot"))
                pipe.get(keys.model_key(scope, "spec"))
                version, blob, spec = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _fail("read_snapshot", exc) from exc
        if blob is None:
            return None
        return int(version or 0), bytes(blob), None if spec is None else int(spec)
