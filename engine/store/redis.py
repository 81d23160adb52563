"""The store adapter on Redis or Valkey: one class, :class:`RedisStore`, implementing every port
of :mod:`engine.store.ports`.

Its operations are grouped by the keys they own: profiles, erasure, access keys and the
offline reads here; the catalog in :mod:`engine.store.catalog`; decisions, events and model
snapshots in :mod:`engine.store.loop`; the learner's streams and commits in
:mod:`engine.store.learning`. Every method translates redis-py errors into
:class:`StoreUnavailable`, so callers never see a third-party exception.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import orjson
from redis.exceptions import RedisError

from engine.config import Settings
from engine.domain.profiles import ActivityRow
from engine.errors import StoreUnavailable
from engine.metrics import STORE_ERRORS
from engine.store import keys, ports
from engine.store.catalog import CatalogStore
from engine.store.commands import customer_record, queue_cells, queue_customer_read
from engine.store.connection import client_options, make_client, translate
from engine.store.learning import LearnerStore
from engine.store.loop import DecisionLoop
from engine.store.records import ActivitiesRecorded, ContactLimits, CustomerRecord
from engine.store.scripts import (
    CustomerScript,
    activities_recorded,
    activity_args,
    attribute_args,
    erased,
    outcome_args,
    refused,
    reserve_args,
)

__all__ = ["RedisStore"]

LEARNER_FORGET_SECONDS = 3600.0  # a learner silent this long leaves the heartbeats


class RedisStore(CatalogStore, DecisionLoop, LearnerStore):
    """Every port on Redis or Valkey (standalone; keys are Cluster-safe)."""

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> RedisStore:
        target = url or settings.redis_url
        if not target:
            raise ValueError("no store URL: set NBO_REDIS_URL or start the embedded store")
        options = client_options(settings)
        client = make_client(target, True, settings.redis_max_connections, **options)
        binary = make_client(target, False, 8, **options)
        return cls(
            client,
            settings.customer_retention_days * 86_400,
            binary,
            settings.max_undeclared_attributes,
            settings.activity_id_ttl_seconds,
            settings.erasure_tombstone_seconds,
        )

    async def _write_customer(
        self,
        script: CustomerScript,
        customer_id: str,
        args: Sequence[Any],
        script_keys: Sequence[str] | None = None,
    ) -> Any:
        """Run a write over one customer's keys (by default the three every customer script
        takes first); the customer's tombstone refusing it is :class:`CustomerErased`, never a
        silent no-op."""
        if script_keys is None:
            script_keys = keys.customer_keys(customer_id)
        result = await script(keys=script_keys, args=args)
        if erased(result):
            raise refused(customer_id)
        return result

    @translate("ping")
    async def ping(self) -> None:
        await self._client.ping()

    @translate("learner_heartbeat")
    async def learner_heartbeat(self, name: str, beat: Mapping[str, Any]) -> None:
        await self._client.hset(keys.LEARNERS, name, orjson.dumps({**beat, "name": name}))

    @translate("live_learners")
    async def live_learners(self, since: float) -> list[dict[str, Any]]:
        beats = cast(dict[str, str], await self._client.hgetall(keys.LEARNERS))
        live, gone = [], []
        for name, doc in sorted(beats.items()):
            beat = orjson.loads(doc)
            if float(beat.get("ts", 0)) >= since:
                live.append(beat)
            elif float(beat.get("ts", 0)) < since - LEARNER_FORGET_SECONDS:
                gone.append(name)  # a learner that stopped long ago (a restart has a new name)
        if gone:
            await self._client.hdel(keys.LEARNERS, *gone)
        return live

    @translate("read_customer")
    async def read_customer(self, customer_id: str) -> CustomerRecord:
        async with self._client.pipeline(transaction=False) as pipe:
            queue_customer_read(pipe, customer_id)
            return customer_record(await pipe.execute())

    @translate("upsert_attributes")
    async def upsert_attributes(
        self, customer_id: str, values: Mapping[str, str], remove: Sequence[str], now: int
    ) -> None:
        await self._write_customer(
            self._scripts.attributes,
            customer_id,
            attribute_args(self.retention_seconds, values, remove, now),
        )

    @translate("record_activities")
    async def record_activities(
        self, customer_id: str, rows: Sequence[ActivityRow], now_day: int, *, now: int
    ) -> ActivitiesRecorded:
        """Count the rows, each id once, in one script: a retried write is applied once."""
        result = await self._write_customer(
            self._scripts.activities,
            customer_id,
            activity_args(self.retention_seconds, rows, now_day, now, self.activity_id_ttl_seconds),
            keys.customer_data_keys(customer_id),
        )
        return activities_recorded(result, len(rows))

    @translate("add_experiment_cells")
    async def add_experiment_cells(self, cells: Mapping[str, Mapping[str, float]]) -> None:
        async with self._client.pipeline(transaction=False) as pipe:
            queue_cells(pipe, cells)
            await pipe.execute()

    async def record_activities_many(
        self, batches: Sequence[tuple[str, Sequence[ActivityRow]]], now_day: int
    ) -> None:
        """Bulk loading: many customers in one pipelined round trip."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for customer_id, rows in batches:
                    self._queue(
                        pipe,
                        self._scripts.activities,
                        keys.customer_keys(customer_id),
                        activity_args(self.retention_seconds, rows, now_day),
                    )
                await self._execute(pipe)
        except (RedisError, OSError) as exc:
            STORE_ERRORS.labels(operation="record_activities_many").inc()
            raise StoreUnavailable("store unavailable during bulk load") from exc

    @translate("erase_customer")
    async def erase_customer(self, customer_id: str) -> bool:
        """Erase everything held about the customer; whether anything was held.

        One transaction in the customer's slot sets the tombstone, reads both indexes and
        deletes the fixed keys: from then on every write for the customer is refused, so what
        the indexes list is all there is. Then the named keys and the items outside the slot
        go. Commands: a constant few plus one per container holding the customer's items, and
        nothing scanned.
        """
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(
                keys.customer_tombstone(customer_id), int(time.time()), ex=self.tombstone_seconds
            )
            pipe.zrange(keys.customer_named_index(customer_id), 0, -1)
            pipe.zrange(keys.customer_refs(customer_id), 0, -1)
            pipe.delete(*keys.customer_slot_keys(customer_id))
            _, named, refs, removed = await pipe.execute()
        tag = keys.customer_named_index(customer_id)[:-1]
        removed = int(removed) + await self._remove(
            [f"{tag}{suffix}" for suffix in named], [str(ref) for ref in refs]
        )
        return removed > 0

    @translate("reserve_contacts")
    async def reserve_contacts(
        self,
        customer_id: str,
        requests: Sequence[tuple[str, ContactLimits]],
        channel_code: str,
        now: int,
    ) -> list[str | None]:
        args = reserve_args(self.retention_seconds, now, channel_code, requests)
        status, *reasons = await self._scripts.reserve(
            keys=keys.customer_keys(customer_id), args=args
        )
        if status == "erased":
            raise refused(customer_id)
        return [reason or None for reason in reasons]

    @translate("record_outcome")
    async def record_outcome(self, customer_id: str, offer_id: str, kind: str, now: int) -> None:
        await self._write_customer(
            self._scripts.outcome,
            customer_id,
            outcome_args(self.retention_seconds, offer_id, kind, now),
        )

    @translate("put_api_key")
    async def put_api_key(self, key_hash: str, doc: bytes) -> None:
        await self._client.hset(keys.API_KEYS, key_hash, doc)

    @translate("get_api_key")
    async def get_api_key(self, key_hash: str) -> str | None:
        value = await self._client.hget(keys.API_KEYS, key_hash)
        return None if value is None else str(value)

    @translate("list_api_keys")
    async def list_api_keys(self) -> list[str]:
        return [str(doc) for doc in (await self._client.hgetall(keys.API_KEYS)).values()]

    @translate("delete_api_key")
    async def delete_api_key(self, key_hash: str) -> bool:
        return bool(await self._client.hdel(keys.API_KEYS, key_hash))

    async def scan_customer_ids(self, batch: int = 1000) -> AsyncIterator[list[str]]:
        """Ids of stored customers, in batches (SCAN, so the server never blocks).

        Every stored customer has an activity hash: attribute writes record first-seen there.
        As with SCAN itself, an id may come twice; callers that count must deduplicate.
        """
        try:
            chunk: list[str] = []
            async for key in self._client.scan_iter(match="{c:*}:f", count=batch):
                chunk.append(key[3 : key.rindex("}")])
                if len(chunk) >= batch:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
        except (RedisError, OSError) as exc:
            raise StoreUnavailable("store unavailable during scan") from exc

    @translate("read_activity_many")
    async def read_activity_many(self, customer_ids: Sequence[str]) -> list[dict[str, str]]:
        async with self._client.pipeline(transaction=False) as pipe:
            for customer_id in customer_ids:
                pipe.hgetall(keys.customer_activity(customer_id))
            return list(await pipe.execute())

    @translate("mark_demo")
    async def mark_demo(self, value: str) -> bool:
        """Set the demo marker; False when it was already set."""
        return bool(await self._client.set(keys.DEMO_MARKER, value, nx=True))

    @translate("upsert_attributes_many")
    async def upsert_attributes_many(
        self, batches: Sequence[tuple[str, Mapping[str, str], int]]
    ) -> None:
        """Bulk loading: attributes of many customers in one pipelined round trip.

        Each entry is (customer id, encoded values, seen at). As in :meth:`upsert_attributes`,
        ``seen at`` only ever moves first-seen earlier, so a loader can pass a sign-up time.
        """
        async with self._client.pipeline(transaction=False) as pipe:
            for customer_id, values, seen_at in batches:
                self._queue(
                    pipe,
                    self._scripts.attributes,
                    keys.customer_keys(customer_id),
                    attribute_args(self.retention_seconds, values, (), seen_at),
                )
            await self._execute(pipe)

    @translate("erase_customers_many")
    async def erase_customers_many(self, customer_ids: Sequence[str]) -> int:
        """Bulk erasure in one pipelined round trip; how many customers had data.

        One DEL per customer keeps every command inside one hash slot (Cluster-safe).
        """
        async with self._client.pipeline(transaction=False) as pipe:
            for customer_id in customer_ids:
                pipe.delete(*keys.customer_slot_keys(customer_id))
            return sum(1 for removed in await pipe.execute() if removed)

    # --- the export's reads (engine.offline.export) ---------------------------------------------

    @translate("read_log")
    async def read_log(
        self, stream: str, after: str | None, count: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries after id ``after`` (None: the first), ``count`` at most: a log may hold
        millions, so readers page through it."""
        start = "-" if after is None else "(" + after
        return cast(
            list[tuple[str, dict[str, str]]],
            await self._client.xrange(stream, min=start, count=count),
        )

    @translate("read_open_decisions")
    async def read_open_decisions(self) -> dict[str, float]:
        """Decision id -> when its attribution window closes (unix seconds), of every decision
        the learner has not closed yet, in every model scope."""
        scopes = sorted(cast(set[str], await self._client.smembers(keys.MODEL_SCOPES)))
        if not scopes:
            return {}
        async with self._client.pipeline(transaction=False) as pipe:
            for scope in scopes:
                pipe.zrange(keys.model_key(scope, "pending"), 0, -1, withscores=True)
            replies = cast(list[list[tuple[str, float]]], await pipe.execute())
        return {member: float(score) for reply in replies for member, score in reply}

    @translate("read_decision_records")
    async def read_decision_records(self, decision_ids: Sequence[str]) -> list[dict[str, str]]:
        """The records of these decisions (served offers, rewards so far); {} where gone."""
        async with self._client.pipeline(transaction=False) as pipe:
            for decision_id in decision_ids:
                parts = keys.split_decision_id(decision_id)
                pipe.hgetall(keys.customer_decision(*parts) if parts else decision_id)
            return cast(list[dict[str, str]], await pipe.execute())

    @translate("reset_experiment_cells")
    async def reset_experiment_cells(self, experiment_id: str) -> None:
        """Drop an experiment's results (a demo run starting over)."""
        await self._client.delete(keys.experiment_cells(experiment_id))

    @translate("flush_all")
    async def flush_all(self) -> None:
        """Empty the whole database (the simulator's ``--flush``)."""
        await self._client.flushdb()


if TYPE_CHECKING:

    def _implements_every_port(store: RedisStore) -> None:
        """Never run: mypy checks each assignment, so a port and the adapter cannot drift. The
        composite ports (API, synthetic, learner) hold every port but the loop's three."""
        api: ports.ApiPort = store
        synthetic: ports.SyntheticPort = store
        learner: ports.LearnerPort = store
        decisions: ports.DecisionPort = store
        models: ports.ModelPort = store
        events: ports.EventPort = store
        del api, synthetic, learner, decisions, models, events
