"""The adapter's common part: its clients, its scripts and the erasure index every write that
leaves a customer's slot maintains. The adapter's operations (profiles, catalog, the decision
loop, the learner) are mixins over it, joined in :class:`engine.store.redis.RedisStore`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from engine.metrics import STORE_ERRORS
from engine.store import keys
from engine.store.scripts import Scripts, erased, refs_args

__all__ = ["Adapter", "Placed"]

log = logging.getLogger("nbo.store")


class Adapter:
    """Clients, scripts and settings shared by every operation of the Redis adapter."""

    def __init__(
        self,
        client: redis.Redis,
        retention_seconds: int = 0,
        binary: redis.Redis | None = None,
        max_undeclared_attributes: int = 500,
        activity_id_ttl_seconds: int = 86_400,
        tombstone_seconds: int = 86_400,
    ) -> None:
        self._client = client
        self._binary = binary or client  # for model snapshots (bytes, not text)
        self.retention_seconds = retention_seconds
        self.max_undeclared_attributes = max_undeclared_attributes
        self.activity_id_ttl_seconds = activity_id_ttl_seconds
        self.tombstone_seconds = tombstone_seconds
        # the out-of-slot index lives as long as the customer's data, and at least as long as
        # the attribution-queue members it points at (their references are kept 7 days)
        self.refs_ttl_seconds = max(retention_seconds, 8 * 86_400) if retention_seconds else 0
        self._scripts = Scripts(client)

    def _queue(
        self, pipe: Pipeline, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
    ) -> None:
        self._scripts.queue(pipe, script, keys, args)

    async def _execute(self, pipe: Pipeline) -> list[Any]:
        return await self._scripts.execute(pipe)

    async def close(self) -> None:
        await self._client.aclose()
        if self._binary is not self._client:
            await self._binary.aclose()

    async def _remove(self, named: Sequence[str], refs: Sequence[str]) -> int:
        """Delete keys of one slot and the referenced items, grouped per container."""
        by_container: dict[tuple[str, str], list[str]] = {}
        for ref in refs:
            kind, container, item = keys.parse_ref(ref)
            by_container.setdefault((kind, container), []).append(item)
        if not named and not by_container:
            return 0
        async with self._client.pipeline(transaction=False) as pipe:
            for start in range(0, len(named), 500):
                pipe.delete(*named[start : start + 500])
            for (kind, container), items in by_container.items():
                for start in range(0, len(items), 500):
                    chunk = items[start : start + 500]
                    if kind == "x":
                        pipe.xdel(container, *chunk)
                    else:
                        pipe.zrem(container, *chunk)
            return sum(int(n) for n in await pipe.execute())

    async def _place(
        self, placed: Sequence[tuple[str, str]], ranges: Mapping[str, tuple[str, str]]
    ) -> set[str]:
        """Index items just written outside their customers' slots; returns the customers
        found erased meanwhile, whose items are removed here.

        ``placed`` holds (customer id, reference); ``ranges`` maps a container to its stale
        references (see :func:`keys.stream_floor`). The item is written first and indexed
        second, so an erasure between the two is caught here by the tombstone. A failure is
        logged, not raised: the items are written and writing them again would duplicate them;
        they stay unindexed until the logs and queues drop them.
        """
        by_customer: dict[str, list[str]] = {}
        for customer_id, ref in placed:
            by_customer.setdefault(customer_id, []).append(ref)
        if not by_customer:
            return set()
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for customer_id, refs in by_customer.items():
                    containers = {keys.parse_ref(ref)[1] for ref in refs}
                    stale = [ranges[c] for c in sorted(containers) if c in ranges]
                    self._queue(
                        pipe,
                        self._scripts.refs,
                        [keys.customer_refs(customer_id)],
                        refs_args(self.refs_ttl_seconds, stale, refs),
                    )
                results = await self._execute(pipe)
            gone = {c for c, r in zip(by_customer, results, strict=True) if erased(r)}
            if gone:
                await self._remove([], [ref for c in gone for ref in by_customer[c]])
        except (RedisError, OSError):
            STORE_ERRORS.labels(operation="place").inc()
            log.exception("erasure_index_failed", extra={"customers": len(by_customer)})
            return set()
        return gone


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

    def references(
        self, results: Sequence[Any]
    ) -> tuple[list[tuple[str, str]], dict[str, tuple[str, str]]]:
        """What :meth:`Adapter._place` indexes, read from the pipeline's ``results``."""
        placed = list(self.members)
        for at, customer_id, stream in self.entries:
            placed.append((customer_id, keys.stream_ref(stream, str(results[at]))))
        for stream, at in self._floor_at.items():
            first = results[at]
            self.ranges[stream] = keys.stream_floor(stream, str(first[0][0]) if first else None)
        return placed, self.ranges
