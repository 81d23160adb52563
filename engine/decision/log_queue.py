"""The decision log, written after the response: queued, group-written, kept through outages.

A decision's log record (entry, attribution queue, exposures) leaves the response path: the
API flushes after the response is sent, so concurrent decisions share one pipeline (group
commit). A fallback decision's own record waits here too until the store is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Collection
from contextlib import suppress
from dataclasses import dataclass, field

from engine.config import Settings
from engine.errors import StoreUnavailable
from engine.store.ports import DecisionPort
from engine.store.records import LogRecord

__all__ = ["DecisionLogQueue", "DecisionLogWriter"]

log = logging.getLogger("nbo.decisions")

LOG_BATCH = 500  # records per pipeline when the queue has a backlog
LOG_LINGER_SECONDS = 0.002
LOG_RETRY_SECONDS = 0.5  # how often a backlog is retried while no request flushes it


@dataclass(slots=True)
class DecisionLogQueue:
    """Log records not yet written: waiting for the next group write, or for the store to
    come back (entries stay queued through an outage, the oldest dropped past ``maxlen``)."""

    entries: deque[LogRecord] = field(default_factory=lambda: deque(maxlen=100_000))
    dropped: int = 0
    # queued fallback decisions: their records exist only here until written, so an event for
    # one of them can have the queue written first instead of being refused as unknown
    fallback_ids: set[str] = field(default_factory=set)

    def enqueue(self, record: LogRecord) -> None:
        if len(self.entries) == self.entries.maxlen:
            self.dropped += 1
            self.fallback_ids.discard(self.entries[0].decision_id)
            log.error("decision_log_buffer_full", extra={"dropped": self.dropped})
        self.entries.append(record)

    def enqueue_fallback(self, record: LogRecord) -> None:
        """A fallback decision's record, which events for it may wait for."""
        self.enqueue(record)
        self.fallback_ids.add(record.decision_id)


class DecisionLogWriter:
    """Writes a :class:`DecisionLogQueue` to the store, one flush at a time."""

    def __init__(self, store: DecisionPort, queue: DecisionLogQueue, settings: Settings) -> None:
        self.store = store
        self.queue = queue
        self.settings = settings
        self._flushing = asyncio.Lock()

    async def flush_log(self, wait: bool = False) -> None:
        """Write every queued log record, in as few pipelines as the backlog needs.

        One flush at a time. Without ``wait`` a call while another runs returns at once: the
        running one loops until the queue is empty, so it takes records queued meanwhile too.
        With ``wait`` the call returns only once its records are written (or the store failed).
        On a store outage the records stay queued for the next flush.
        """
        queue = self.queue.entries
        if not queue or (self._flushing.locked() and not wait):
            return
        async with self._flushing:
            if not wait and len(queue) < LOG_BATCH:
                # after a response: linger so decisions answered meanwhile share the pipeline
                await asyncio.sleep(LOG_LINGER_SECONDS)
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), LOG_BATCH))]
                try:
                    await self.store.log_decisions(batch, self.settings.decision_log_maxlen)
                except StoreUnavailable:
                    queue.extendleft(reversed(batch))
                    return
                fallback_ids = self.queue.fallback_ids
                if fallback_ids:
                    fallback_ids.difference_update(r.decision_id for r in batch)

    async def keep_flushing(self, stop: asyncio.Event, every: float = LOG_RETRY_SECONDS) -> None:
        """Until ``stop``: retry a backlog left by an outage without waiting for a request.

        Only requests flush otherwise, so after an outage with no traffic the fallback
        decisions' records would stay in memory and their events be refused as unknown.
        """
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if self.queue.entries:
                try:
                    await self.flush_log()
                except Exception:  # a failed retry is retried; it must not end the loop
                    log.exception("decision_log_flush_failed")

    async def write_pending(self, decision_ids: Collection[str]) -> bool:
        """Write the queue now if it holds one of these fallback decisions; whether any was
        written (an event for it can then join)."""
        waiting = self.queue.fallback_ids
        queued = waiting.intersection(decision_ids)
        if not queued:
            return False
        await self.flush_log(wait=True)
        return not queued <= waiting
