"""The store: a narrow Protocol the engine depends on, and its Redis implementation.

The Redis implementation owns the key layout (see :mod:`engine.store.keys`), pipelining and Lua.
Every method translates redis-py errors into :class:`StoreUnavailable`, so callers never
see a third-party exception.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, ParamSpec, Protocol, TypeVar, cast

import orjson
import redis.asyncio as redis
from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio.client import Pipeline
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.config import Settings
from engine.domain.profiles import HISTORY_DAYS, ActivityRow
from engine.errors import AttributeLimitReached, Conflict, CustomerErased, StoreUnavailable
from engine.metrics import STORE_ERRORS
from engine.store import keys
from engine.store.keys import guard_keys

__all__ = [
    "ActivitiesRecorded",
    "CustomerRecord",
    "CustomerScript",
    "RawCatalog",
    "RedisStore",
    "Store",
    "erased",
]

log = logging.getLogger("nbo.store")

P = ParamSpec("P")
T = TypeVar("T")
LEARNER_FORGET_SECONDS = 3600.0  # a learner silent this long leaves the heartbeats


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """Everything stored about one customer plus what a decision needs beside it."""

    attributes: dict[str, str]
    activity: dict[str, str]
    contacts: dict[str, str]
    catalog_version: int
    budget_spent: dict[str, str]

    @property
    def known(self) -> bool:
        return bool(self.attributes or self.activity or self.contacts)


@dataclass(frozen=True, slots=True)
class ActivitiesRecorded:
    """What a write of activities did: all of it, or nothing when an id conflicted."""

    accepted: int  # rows counted now
    duplicates: int  # rows whose id was counted before, with the same body
    conflict: int | None  # index of a row whose id came before with another body
    # (experiment, activity type, assignment record) for every experiment whose exposed unit
    # did that type for the first time since exposure
    flagged: list[tuple[str, str, str]]


@dataclass(frozen=True, slots=True)
class RawCatalog:
    version: int
    offers: dict[str, str]
    offer_versions: dict[str, str]
    segments: dict[str, str]
    models: dict[str, str]
    attribute_types: dict[str, str]
    feature_spec: str | None = None
    experiments: dict[str, str] | None = None
    attribute_declarations: dict[str, str] | None = None
    segment_versions: dict[str, str] | None = None
    experiment_versions: dict[str, str] | None = None


class Store(Protocol):
    """What the engine needs from storage. One implementation per backend."""

    async def ping(self) -> None: ...

    async def learner_heartbeat(self, name: str, beat: Mapping[str, Any]) -> None:
        """A learner says it is alive (``beat`` holds at least its time, ``ts``)."""
        ...

    async def live_learners(self, since: float) -> list[dict[str, Any]]:
        """Learners whose last heartbeat is no older than ``since``; those silent an hour
        longer are forgotten (every restart beats under a new name)."""
        ...

    async def read_customer(self, customer_id: str) -> CustomerRecord:
        """Attributes, activity, contact history, catalog version and budgets: one round trip."""
        ...

    async def upsert_attributes(
        self, customer_id: str, values: Mapping[str, str], remove: Sequence[str], now: int
    ) -> None: ...

    async def record_activities(
        self, customer_id: str, rows: Sequence[ActivityRow], now_day: int, *, now: int
    ) -> ActivitiesRecorded: ...

    async def add_experiment_cells(self, cells: Mapping[str, Mapping[str, float]]) -> None: ...

    async def erase_customer(self, customer_id: str) -> bool:
        """Erase all held about the customer, and refuse its writes for a while (tombstone)."""
        ...

    async def reserve_contacts(
        self,
        customer_id: str,
        requests: Sequence[tuple[str, tuple[int, int, int, int, int]]],
        channel_code: str,
        now: int,
    ) -> list[str | None]:
        """Atomically check caps and count a contact per offer; ``None`` where granted."""
        ...

    async def record_outcome(
        self, customer_id: str, offer_id: str, kind: str, now: int
    ) -> None: ...

    async def catalog_version(self) -> int: ...

    async def read_catalog(self) -> RawCatalog: ...

    # Catalog documents. ``expected`` is the version the writer read (0: absent; None: any);
    # when the stored one differs nothing is written and the method returns None. A put returns
    # the new version, a delete whether there was a document.
    async def put_offer(
        self, offer_id: str, doc: bytes, expected: int | None = None
    ) -> int | None: ...

    async def delete_offer(self, offer_id: str, expected: int | None = None) -> bool | None: ...

    async def put_segment(
        self, segment_id: str, doc: bytes, expected: int | None = None
    ) -> int | None: ...

    async def delete_segment(self, segment_id: str, expected: int | None = None) -> bool | None: ...

    async def replace_segment_model(
        self, model_id: str, doc: bytes, segments: Mapping[str, bytes]
    ) -> None: ...

    async def put_feature_spec(self, doc: bytes) -> None: ...

    async def put_experiment(
        self,
        experiment_id: str,
        doc: bytes,
        expected: int | None = None,
        *,
        catalog_version: int | None = None,
    ) -> int | None:
        """Raises :class:`Conflict` for the id of a deleted experiment that ran.

        ``catalog_version``: write only while the catalog is still at that version (None if the
        store moved on), for a write judged against every other experiment.
        """
        ...

    async def delete_experiment(
        self, experiment_id: str, expected: int | None = None, *, ran: bool = False
    ) -> bool | None:
        """Also deletes its results; ``ran``: its id may never be used again."""
        ...

    async def read_experiment_cells(self, experiment_id: str) -> dict[str, str]: ...

    async def model_versions(self) -> dict[str, int]: ...

    async def register_attribute_types(self, types: Mapping[str, str]) -> dict[str, str]:
        """Fix the types of new attributes (first writer wins); returns the types in force.

        Raises :class:`AttributeLimitReached`, writing nothing, when the new undeclared
        attributes would pass the store's limit.
        """
        ...

    async def declare_attribute(self, name: str, kind: str, doc: bytes) -> str:
        """Store a declaration unless the attribute holds another type; the type in force."""
        ...

    async def put_api_key(self, key_hash: str, doc: bytes) -> None: ...

    async def get_api_key(self, key_hash: str) -> str | None: ...

    async def list_api_keys(self) -> list[str]: ...

    async def delete_api_key(self, key_hash: str) -> bool: ...

    def scan_customer_ids(self, batch: int = 1000) -> AsyncIterator[list[str]]: ...

    async def read_activity_many(self, customer_ids: Sequence[str]) -> list[dict[str, str]]: ...

    async def mark_demo(self, value: str) -> bool: ...


def _load_script(name: str) -> str:
    return resources.files("engine.store").joinpath("lua", name).read_text(encoding="utf-8")


class CustomerScript(AsyncScript):
    """A script over one customer's keys, run in the frame of ``guard.lua``.

    The frame's two keys (the customer's tombstone and named-key index) are appended here, on
    every call and every pipelined use (:meth:`RedisStore.queue_script`), so no write path for
    a customer can skip the erasure check or leave a key erasure would not find.
    """

    def __init__(self, client: redis.Redis, name: str) -> None:
        frame = _load_script("guard.lua")
        super().__init__(client, frame.replace("--BODY--", _load_script(name)))

    @staticmethod
    def framed(script_keys: Sequence[Any]) -> list[Any]:
        return [*script_keys, *guard_keys(str(script_keys[0]))]

    async def __call__(
        self,
        keys: Sequence[Any] | None = None,
        args: Iterable[Any] | None = None,
        client: Any = None,
    ) -> Any:
        return await super().__call__(self.framed(keys or []), args, client)


def erased(result: Any) -> bool:
    """Whether a customer script was refused by the customer's tombstone."""
    return isinstance(result, list) and len(result) == 1 and result[0] == "erased"


def _refused(customer_id: str) -> CustomerErased:
    return CustomerErased(
        f"customer '{customer_id}' was erased moments ago; writes for it are refused for a "
        "while, so that nothing written concurrently with the erasure survives it",
        field="customer_id",
    )


def _translate(
    operation: str,
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    def wrap(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        async def inner(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await fn(*args, **kwargs)
            except (RedisError, OSError) as exc:
                STORE_ERRORS.labels(operation=operation).inc()
                raise StoreUnavailable(f"store unavailable during {operation}") from exc

        inner.__name__ = fn.__name__
        inner.__doc__ = fn.__doc__
        return inner

    return wrap


class _HiredisPacking:
    """Three per-command costs of redis-py's asyncio connection, removed.

    * Packing: redis-py's synchronous client packs with ``hiredis.pack_command`` (C) when
      hiredis is installed; its asyncio client (8.x) uses a pure-Python packer, which was the
      largest single CPU cost of a decision (about 130 arguments). Same serializer class as
      the synchronous client, same bytes on the wire.
    * Sending: with a socket timeout set, every send runs in ``asyncio.wait_for``, a new task
      per command. Here the bytes go to the transport at once, and only when the kernel did
      not take them all is the drain awaited, under the same timeout. Errors are handled as
      redis-py handles them (the connection is dropped and the error re-raised as redis-py's).
    * Reading: every reply is read under a new timeout context, even when hiredis holds it
      already (all but the first of a pipeline's replies, usually). A reply already held is
      returned at once, as redis-py's parser would return it (errors raised the same way, a
      RESP3 push message handled first); only a reply still to come is awaited, by redis-py,
      under the timeout. An 8-command pipeline: 160 to 120 µs of CPU.
    """

    _serializer = HiredisRespSerializer()

    async def read_response(
        self: Any,
        disable_decoding: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 (redis-py's signature)
        *,
        disconnect_on_error: bool = True,
        push_request: bool | None = False,
    ) -> Any:
        parser = self._parser
        reader = getattr(parser, "_reader", None)
        if timeout is None and not push_request and reader is not None and parser._connected:
            try:
                reply = reader.gets(False) if disable_decoding else reader.gets()
                if reply is not NOT_ENOUGH_DATA:
                    failed = reply if isinstance(reply, list) and reply else [reply]
                    if isinstance(failed[0], RedisConnectionError):
                        raise failed[0]
                    if isinstance(reply, ResponseError):
                        raise reply from None  # an error reply: the connection is in step
                    push_type = getattr(parser, "_hiredis_PushNotificationType", None)
                    if push_type is not None and isinstance(reply, push_type):
                        # a RESP3 push message before the reply: handled, then the reply read
                        await parser.handle_push_response(reply)
                        return await self.read_response(
                            disable_decoding, disconnect_on_error=disconnect_on_error
                        )
                    return reply
            except ResponseError:
                raise
            except BaseException:
                # as redis-py: a connection that failed mid-read is dropped, not reused
                if disconnect_on_error:
                    await self.disconnect(nowait=True)
                raise
        return await super().read_response(  # type: ignore[misc]
            disable_decoding,
            timeout,
            disconnect_on_error=disconnect_on_error,
            push_request=push_request,
        )

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._serializer.pack(*args)
        return packed

    async def send_packed_command(
        self: Any, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health:
            await self.check_health()
        try:
            if isinstance(command, str):
                command = command.encode()
            if isinstance(command, bytes):
                command = [command]
            self._writer.writelines(command)
            if self._writer.transport.get_write_buffer_size():
                await asyncio.wait_for(self._writer.drain(), self.socket_timeout)
        except TimeoutError:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            raise RedisConnectionError(f"Error while writing to socket. {exc}.") from exc
        except BaseException:
            await self.disconnect(nowait=True)
            raise


class _PackedConnection(_HiredisPacking, Connection):
    pass


class _PackedSSLConnection(_HiredisPacking, SSLConnection):
    pass


class _PackedUnixConnection(_HiredisPacking, UnixDomainSocketConnection):
    pass


_PACKED: dict[type[Any], type[Any]] = {
    Connection: _PackedConnection,
    SSLConnection: _PackedSSLConnection,
    UnixDomainSocketConnection: _PackedUnixConnection,
}


def _client(url: str, decode: bool, max_connections: int, **options: Any) -> redis.Redis:
    pool = redis.ConnectionPool.from_url(
        url, decode_responses=decode, max_connections=max_connections, **options
    )
    pool.connection_class = _PACKED.get(pool.connection_class, pool.connection_class)
    return redis.Redis(connection_pool=pool)


class RedisStore:
    """:class:`Store` on Redis or Valkey (standalone; keys are Cluster-safe)."""

    def __init__(
        self,
        client: redis.Redis,
        retention_seconds: int = 0,
        binary: redis.Redis | None = None,
        max_undeclared_attributes: int = 500,
        activity_id_ttl_seconds: int = 86_400,
        tombstone_seconds: int = 86_400,
    ) -> None:
        self.client = client
        self.binary = binary or client  # for model snapshots (bytes, not text)
        self.retention_seconds = retention_seconds
        self.max_undeclared_attributes = max_undeclared_attributes
        self.activity_id_ttl_seconds = activity_id_ttl_seconds
        self.tombstone_seconds = tombstone_seconds
        # the out-of-slot index lives as long as the customer's data, and at least as long as
        # the attribution-queue members it points at (their references are kept 7 days)
        self.refs_ttl_seconds = max(retention_seconds, 8 * 86_400) if retention_seconds else 0
        self._activities = CustomerScript(client, "activities.lua")
        self._attributes = CustomerScript(client, "attributes.lua")
        self._reserve = CustomerScript(client, "reserve.lua")
        self._outcome = CustomerScript(client, "outcome.lua")
        self._event = CustomerScript(client, "event.lua")
        self._mark = CustomerScript(client, "mark.lua")
        self._refs = CustomerScript(client, "refs.lua")
        self._record = CustomerScript(client, "record.lua")
        # catalog scripts: no customer, no tombstone
        self._types = client.register_script(_load_script("attribute_types.lua"))
        self._declare = client.register_script(_load_script("declare_attribute.lua"))
        self._document = client.register_script(_load_script("document.lua"))
        self._script_bodies: dict[str | bytes, Any] = {
            script.sha: script.script
            for script in (
                self._activities,
                self._attributes,
                self._reserve,
                self._outcome,
                self._event,
                self._types,
                self._declare,
                self._document,
                self._mark,
                self._refs,
                self._record,
            )
        }

    def queue_script(
        self, pipe: Pipeline, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
    ) -> None:
        """Queue a script in a pipeline by its hash.

        redis-py's own way (``script(..., client=pipe)``) asks the store whether the scripts
        exist before every pipeline, a round trip more per request; :meth:`execute` instead
        recovers from the rare NOSCRIPT (a store restarted without its script cache).
        """
        if isinstance(script, CustomerScript):
            keys = script.framed(keys)
        pipe.evalsha(script.sha, len(keys), *keys, *args)

    async def execute(self, pipe: Pipeline) -> list[Any]:
        """Execute a pipeline whose scripts were queued with :meth:`queue_script`.

        Commands refused with NOSCRIPT had no effect, so loading the scripts and sending those
        commands again, in their order, is exact; the other commands are not repeated. Any
        other error is raised, as ``execute`` does.
        """
        queued = [args for args, _ in pipe.command_stack]
        results: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            for sha in {queued[i][1] for i in missing}:
                await self.client.script_load(self._script_bodies[sha])
            async with self.client.pipeline(transaction=False) as again:
                for i in missing:
                    again.execute_command(*queued[i])
                for i, result in zip(missing, await again.execute(), strict=True):
                    results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None) -> RedisStore:
        target = url or settings.redis_url
        if not target:
            raise ValueError("no store URL: set NBO_REDIS_URL or start the embedded store")
        options: dict[str, Any] = {
            "socket_timeout": settings.redis_timeout_ms / 1000,
            "socket_connect_timeout": settings.redis_connect_timeout_ms / 1000,
            # Only a failed connection is retried, never a timeout: a command that timed out
            # may have run (a pipeline under load runs to its end on the server), and sending
            # it again would apply non-idempotent writes, such as activities, twice.
            "retry": Retry(
                NoBackoff(), settings.redis_retries, supported_errors=(RedisConnectionError,)
            ),
            "health_check_interval": 0,
        }
        client = _client(target, True, settings.redis_max_connections, **options)
        binary = _client(target, False, 8, **options)
        return cls(
            client,
            settings.customer_retention_days * 86_400,
            binary,
            settings.max_undeclared_attributes,
            settings.activity_id_ttl_seconds,
            settings.erasure_tombstone_seconds,
        )

    async def close(self) -> None:
        await self.client.aclose()
        if self.binary is not self.client:
            await self.binary.aclose()

    @_translate("ping")
    async def ping(self) -> None:
        await self.client.ping()

    @_translate("learner_heartbeat")
    async def learner_heartbeat(self, name: str, beat: Mapping[str, Any]) -> None:
        await self.client.hset(keys.LEARNERS, name, orjson.dumps({**beat, "name": name}))

    @_translate("live_learners")
    async def live_learners(self, since: float) -> list[dict[str, Any]]:
        beats = cast(dict[str, str], await self.client.hgetall(keys.LEARNERS))
        live, gone = [], []
        for name, doc in sorted(beats.items()):
            beat = orjson.loads(doc)
            if float(beat.get("ts", 0)) >= since:
                live.append(beat)
            elif float(beat.get("ts", 0)) < since - LEARNER_FORGET_SECONDS:
                gone.append(name)  # a learner that stopped long ago (a restart has a new name)
        if gone:
            await self.client.hdel(keys.LEARNERS, *gone)
        return live

    @_translate("read_customer")
    async def read_customer(self, customer_id: str) -> CustomerRecord:
        async with self.client.pipeline(transaction=False) as pipe:
            queue_customer_read(pipe, customer_id)
            return customer_record(await pipe.execute())

    @_translate("upsert_attributes")
    async def upsert_attributes(
        self, customer_id: str, values: Mapping[str, str], remove: Sequence[str], now: int
    ) -> None:
        result = await self._attributes(
            keys=keys.customer_keys(customer_id),
            args=attribute_args(self.retention_seconds, values, remove, now),
        )
        if erased(result):
            raise _refused(customer_id)

    @_translate("record_activities")
    async def record_activities(
        self, customer_id: str, rows: Sequence[ActivityRow], now_day: int, *, now: int
    ) -> ActivitiesRecorded:
        """Count the rows, each id once, in one script: a retried write is applied once."""
        result = await self._activities(
            keys=[
                *keys.customer_keys(customer_id),
                keys.customer_assignments(customer_id),
                keys.customer_activity_ids(customer_id),
            ],
            args=activity_args(
                self.retention_seconds, rows, now_day, now, self.activity_id_ttl_seconds
            ),
        )
        if erased(result):
            raise _refused(customer_id)
        status, count, *rest = [str(v) for v in result]
        if status == "conflict":
            return ActivitiesRecorded(0, 0, int(count) - 1, [])
        flagged = [(rest[i], rest[i + 1], rest[i + 2]) for i in range(0, len(rest) - 2, 3)]
        return ActivitiesRecorded(len(rows) - int(count), int(count), None, flagged)

    @_translate("add_experiment_cells")
    async def add_experiment_cells(self, cells: Mapping[str, Mapping[str, float]]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            queue_cells(pipe, cells)
            await pipe.execute()

    async def record_activities_many(
        self, batches: Sequence[tuple[str, Sequence[ActivityRow]]], now_day: int
    ) -> None:
        """Bulk loading: many customers in one pipelined round trip."""
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for customer_id, rows in batches:
                    self.queue_script(
                        pipe,
                        self._activities,
                        keys.customer_keys(customer_id),
                        activity_args(self.retention_seconds, rows, now_day),
                    )
                await self.execute(pipe)
        except (RedisError, OSError) as exc:
            STORE_ERRORS.labels(operation="record_activities_many").inc()
            raise StoreUnavailable("store unavailable during bulk load") from exc

    @_translate("erase_customer")
    async def erase_customer(self, customer_id: str) -> bool:
        """Erase everything held about the customer; whether anything was held.

        One transaction in the customer's slot sets the tombstone, reads both indexes and
        deletes the fixed keys: from then on every write for the customer is refused, so what
        the indexes list is all there is. Then the named keys and the items outside the slot
        go. Commands: a constant few plus one per container holding the customer's items, and
        nothing scanned.
        """
        async with self.client.pipeline(transaction=True) as pipe:
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

    async def _remove(self, named: Sequence[str], refs: Sequence[str]) -> int:
        """Delete keys of one slot and the referenced items, grouped per container."""
        by_container: dict[tuple[str, str], list[str]] = {}
        for ref in refs:
            kind, container, item = keys.parse_ref(ref)
            by_container.setdefault((kind, container), []).append(item)
        if not named and not by_container:
            return 0
        async with self.client.pipeline(transaction=False) as pipe:
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

    async def place(
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
            async with self.client.pipeline(transaction=False) as pipe:
                for customer_id, refs in by_customer.items():
                    containers = {keys.parse_ref(ref)[1] for ref in refs}
                    stale = [ranges[c] for c in sorted(containers) if c in ranges]
                    self.queue_script(
                        pipe,
                        self._refs,
                        [keys.customer_refs(customer_id)],
                        [
                            self.refs_ttl_seconds,
                            len(stale),
                            *(bound for pair in stale for bound in pair),
                            *refs,
                        ],
                    )
                results = await self.execute(pipe)
            gone = {c for c, r in zip(by_customer, results, strict=True) if erased(r)}
            if gone:
                await self._remove([], [ref for c in gone for ref in by_customer[c]])
        except (RedisError, OSError):
            STORE_ERRORS.labels(operation="place").inc()
            log.exception("erasure_index_failed", extra={"customers": len(by_customer)})
            return set()
        return gone

    @_translate("reserve_contacts")
    async def reserve_contacts(
        self,
        customer_id: str,
        requests: Sequence[tuple[str, tuple[int, int, int, int, int]]],
        channel_code: str,
        now: int,
    ) -> list[str | None]:
        args: list[Any] = [
            self.retention_seconds,
            now,
            now // 86_400,
            channel_code,
            0,
            len(requests),
        ]
        for offer_id, limits in requests:
            args += [offer_id, *limits]
        status, *reasons = await self._reserve(keys=keys.customer_keys(customer_id), args=args)
        if status == "erased":
            raise _refused(customer_id)
        return [reason or None for reason in reasons]

    @_translate("record_outcome")
    async def record_outcome(self, customer_id: str, offer_id: str, kind: str, now: int) -> None:
        result = await self._outcome(
            keys=keys.customer_keys(customer_id),
            args=[self.retention_seconds, offer_id, kind, now],
        )
        if erased(result):
            raise _refused(customer_id)

    @_translate("catalog_version")
    async def catalog_version(self) -> int:
        return int(await self.client.get(keys.CONFIG_VERSION) or 0)

    @_translate("read_catalog")
    async def read_catalog(self) -> RawCatalog:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.get(keys.CONFIG_VERSION)
            pipe.hgetall(keys.OFFERS)
            pipe.hgetall(keys.OFFER_VERSIONS)
            pipe.hgetall(keys.SEGMENTS)
            pipe.hgetall(keys.SEGMENT_MODELS)
            pipe.hgetall(keys.SCHEMA)
            pipe.get(keys.FEATURE_SPEC)
            pipe.hgetall(keys.EXPERIMENTS)
            pipe.hgetall(keys.ATTRIBUTE_DECLARATIONS)
            pipe.hgetall(keys.SEGMENT_VERSIONS)
            pipe.hgetall(keys.EXPERIMENT_VERSIONS)
            results = await pipe.execute()
        version, offers, versions, segments, models, schema, spec, experiments, *more = results
        return RawCatalog(
            int(version or 0), offers, versions, segments, models, schema, spec, experiments, *more
        )

    async def _write_document(
        self,
        documents: str,
        versions: str,
        item_id: str,
        expected: int | None,
        doc: bytes | None,
        retired: str | None = None,
        retire: bool = False,
        catalog_version: int | None = None,
    ) -> tuple[str, int]:
        """One conditional put (``doc``) or delete (``doc`` None), see ``lua/document.lua``."""
        script_keys = [documents, versions, keys.CONFIG_VERSION, *([retired] if retired else [])]
        args: list[Any] = [
            item_id,
            "" if expected is None else expected,
            "delete" if doc is None else "put",
            ("1" if retire else "0") if doc is None else doc,
            "" if catalog_version is None else catalog_version,
        ]
        status, version = await self._document(keys=script_keys, args=args)
        return str(status), int(version)

    async def _put(
        self, documents: str, versions: str, item_id: str, doc: bytes, expected: int | None
    ) -> int | None:
        status, version = await self._write_document(documents, versions, item_id, expected, doc)
        return version if status == "ok" else None

    async def _delete(
        self, documents: str, versions: str, item_id: str, expected: int | None
    ) -> bool | None:
        status, _ = await self._write_document(documents, versions, item_id, expected, None)
        return None if status == "stale" else status == "ok"

    @_translate("put_offer")
    async def put_offer(self, offer_id: str, doc: bytes, expected: int | None = None) -> int | None:
        return await self._put(keys.OFFERS, keys.OFFER_VERSIONS, offer_id, doc, expected)

    @_translate("delete_offer")
    async def delete_offer(self, offer_id: str, expected: int | None = None) -> bool | None:
        return await self._delete(keys.OFFERS, keys.OFFER_VERSIONS, offer_id, expected)

    @_translate("put_segment")
    async def put_segment(
        self, segment_id: str, doc: bytes, expected: int | None = None
    ) -> int | None:
        return await self._put(keys.SEGMENTS, keys.SEGMENT_VERSIONS, segment_id, doc, expected)

    @_translate("delete_segment")
    async def delete_segment(self, segment_id: str, expected: int | None = None) -> bool | None:
        return await self._delete(keys.SEGMENTS, keys.SEGMENT_VERSIONS, segment_id, expected)

    @_translate("replace_segment_model")
    async def replace_segment_model(
        self, model_id: str, doc: bytes, segments: Mapping[str, bytes]
    ) -> None:
        """Swap a learned model and its segments in one transaction (WATCH guards a race)."""

        async def swap(pipe: Any) -> None:
            previous = await pipe.hget(keys.SEGMENT_MODELS, model_id)
            stale = set(orjson.loads(previous)["segment_ids"]) if previous else set()
            stale -= set(segments)
            pipe.multi()
            if stale:
                pipe.hdel(keys.SEGMENTS, *sorted(stale))
            pipe.hset(keys.SEGMENT_MODELS, model_id, doc)
            if segments:
                pipe.hset(keys.SEGMENTS, mapping={k: v for k, v in segments.items()})
            for segment_id in segments:  # a relearned segment is a new version (its ETag moves)
                pipe.hincrby(keys.SEGMENT_VERSIONS, segment_id, 1)
            pipe.incr(keys.CONFIG_VERSION)

        await self.client.transaction(swap, keys.SEGMENT_MODELS)

    @_translate("read_experiment_cells")
    async def read_experiment_cells(self, experiment_id: str) -> dict[str, str]:
        return cast(dict[str, str], await self.client.hgetall(keys.experiment_cells(experiment_id)))

    @_translate("put_experiment")
    async def put_experiment(
        self,
        experiment_id: str,
        doc: bytes,
        expected: int | None = None,
        *,
        catalog_version: int | None = None,
    ) -> int | None:
        status, version = await self._write_document(
            keys.EXPERIMENTS,
            keys.EXPERIMENT_VERSIONS,
            experiment_id,
            expected,
            doc,
            keys.EXPERIMENTS_RETIRED,
            catalog_version=catalog_version,
        )
        if status == "retired":
            raise Conflict(
                f"experiment '{experiment_id}' was deleted after it ran, and customers' "
                "assignments still name it: choose a new id",
                field="experiment_id",
            )
        return version if status == "ok" else None

    @_translate("delete_experiment")
    async def delete_experiment(
        self, experiment_id: str, expected: int | None = None, *, ran: bool = False
    ) -> bool | None:
        """The definition goes atomically; its cells (another hash slot) right after."""
        status, _ = await self._write_document(
            keys.EXPERIMENTS,
            keys.EXPERIMENT_VERSIONS,
            experiment_id,
            expected,
            None,
            keys.EXPERIMENTS_RETIRED,
            retire=ran,
        )
        if status == "ok":
            await self.client.delete(keys.experiment_cells(experiment_id))
        return None if status == "stale" else status == "ok"

    @_translate("put_feature_spec")
    async def put_feature_spec(self, doc: bytes) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(keys.FEATURE_SPEC, doc)
            pipe.incr(keys.CONFIG_VERSION)
            await pipe.execute()

    @_translate("model_versions")
    async def model_versions(self) -> dict[str, int]:
        scopes = sorted(cast(set[str], await self.client.smembers(keys.MODEL_SCOPES)))
        if not scopes:
            return {}
        values = await self.client.mget([keys.model_key(s, "version") for s in scopes])
        return {s: int(v or 0) for s, v in zip(scopes, values, strict=True)}

    @_translate("register_attribute_types")
    async def register_attribute_types(self, types: Mapping[str, str]) -> dict[str, str]:
        names = list(types)
        args: list[Any] = [self.max_undeclared_attributes]
        for name in names:
            args += [name, types[name]]
        admitted, *stored = await self._types(
            keys=[keys.SCHEMA, keys.ATTRIBUTE_DECLARATIONS, keys.CONFIG_VERSION], args=args
        )
        if not admitted:
            raise AttributeLimitReached(str(stored[0]), self.max_undeclared_attributes)
        return dict(zip(names, stored, strict=True))

    @_translate("declare_attribute")
    async def declare_attribute(self, name: str, kind: str, doc: bytes) -> str:
        held = await self._declare(
            keys=[keys.SCHEMA, keys.ATTRIBUTE_DECLARATIONS, keys.CONFIG_VERSION],
            args=[name, kind, doc],
        )
        return str(held)

    @_translate("put_api_key")
    async def put_api_key(self, key_hash: str, doc: bytes) -> None:
        await self.client.hset(keys.API_KEYS, key_hash, doc)

    @_translate("get_api_key")
    async def get_api_key(self, key_hash: str) -> str | None:
        value = await self.client.hget(keys.API_KEYS, key_hash)
        return None if value is None else str(value)

    @_translate("list_api_keys")
    async def list_api_keys(self) -> list[str]:
        return [str(doc) for doc in (await self.client.hgetall(keys.API_KEYS)).values()]

    @_translate("delete_api_key")
    async def delete_api_key(self, key_hash: str) -> bool:
        return bool(await self.client.hdel(keys.API_KEYS, key_hash))

    async def scan_customer_ids(self, batch: int = 1000) -> AsyncIterator[list[str]]:
        """Ids of stored customers, in batches (SCAN, so the server never blocks).

        Every stored customer has an activity hash: attribute writes record first-seen there.
        As with SCAN itself, an id may come twice; callers that count must deduplicate.
        """
        try:
            chunk: list[str] = []
            async for key in self.client.scan_iter(match="{c:*}:f", count=batch):
                chunk.append(key[3 : key.rindex("}")])
                if len(chunk) >= batch:
                    yield chunk
                    chunk = []
            if chunk:
                yield chunk
        except (RedisError, OSError) as exc:
            raise StoreUnavailable("store unavailable during scan") from exc

    @_translate("read_activity_many")
    async def read_activity_many(self, customer_ids: Sequence[str]) -> list[dict[str, str]]:
        async with self.client.pipeline(transaction=False) as pipe:
            for customer_id in customer_ids:
                pipe.hgetall(keys.customer_activity(customer_id))
            return list(await pipe.execute())

    @_translate("mark_demo")
    async def mark_demo(self, value: str) -> bool:
        """Set the demo marker; False when it was already set."""
        return bool(await self.client.set(keys.DEMO_MARKER, value, nx=True))

    @_translate("upsert_attributes_many")
    async def upsert_attributes_many(
        self, batches: Sequence[tuple[str, Mapping[str, str], int]]
    ) -> None:
        """Bulk loading: attributes of many customers in one pipelined round trip.

        Each entry is (customer id, encoded values, seen at). As in :meth:`upsert_attributes`,
        ``seen at`` only ever moves first-seen earlier, so a loader can pass a sign-up time.
        """
        async with self.client.pipeline(transaction=False) as pipe:
            for customer_id, values, seen_at in batches:
                self.queue_script(
                    pipe,
                    self._attributes,
                    keys.customer_keys(customer_id),
                    attribute_args(self.retention_seconds, values, (), seen_at),
                )
            await self.execute(pipe)

    @_translate("erase_customers_many")
    async def erase_customers_many(self, customer_ids: Sequence[str]) -> int:
        """Bulk erasure in one pipelined round trip; how many customers had data.

        One DEL per customer keeps every command inside one hash slot (Cluster-safe).
        """
        async with self.client.pipeline(transaction=False) as pipe:
            for customer_id in customer_ids:
                pipe.delete(*keys.customer_slot_keys(customer_id))
            return sum(1 for removed in await pipe.execute() if removed)

    # --- the export's reads (engine.offline.export) ---------------------------------------------

    @_translate("read_log")
    async def read_log(
        self, stream: str, after: str | None, count: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries after id ``after`` (None: the first), ``count`` at most: a log may hold
        millions, so readers page through it."""
        start = "-" if after is None else "(" + after
        return cast(
            list[tuple[str, dict[str, str]]],
            await self.client.xrange(stream, min=start, count=count),
        )

    @_translate("read_open_decisions")
    async def read_open_decisions(self) -> dict[str, float]:
        """Decision id -> when its attribution window closes (unix seconds), of every decision
        the learner has not closed yet, in every model scope."""
        scopes = sorted(cast(set[str], await self.client.smembers(keys.MODEL_SCOPES)))
        if not scopes:
            return {}
        async with self.client.pipeline(transaction=False) as pipe:
            for scope in scopes:
                pipe.zrange(keys.model_key(scope, "pending"), 0, -1, withscores=True)
            replies = cast(list[list[tuple[str, float]]], await pipe.execute())
        return {member: float(score) for reply in replies for member, score in reply}

    @_translate("read_decision_records")
    async def read_decision_records(self, decision_ids: Sequence[str]) -> list[dict[str, str]]:
        """The records of these decisions (served offers, rewards so far); {} where gone."""
        async with self.client.pipeline(transaction=False) as pipe:
            for decision_id in decision_ids:
                parts = keys.split_decision_id(decision_id)
                pipe.hgetall(keys.customer_decision(*parts) if parts else decision_id)
            return cast(list[dict[str, str]], await pipe.execute())


def queue_customer_read(pipe: Any, customer_id: str) -> None:
    """Queue what a decision needs about one customer (5 replies, see customer_record)."""
    pipe.hgetall(keys.customer_attributes(customer_id))
    pipe.hgetall(keys.customer_activity(customer_id))
    pipe.hgetall(keys.customer_contacts(customer_id))
    pipe.get(keys.CONFIG_VERSION)
    pipe.hgetall(keys.BUDGET)


def customer_record(replies: Sequence[Any]) -> CustomerRecord:
    attrs, activity, contacts, version, budget = replies[:5]
    return CustomerRecord(attrs, activity, contacts, int(version or 0), budget)


def queue_cells(pipe: Any, cells: Mapping[str, Mapping[str, float]] | None) -> None:
    """Queue additions to experiment cells (experiment id -> {field: amount}) on a pipeline."""
    for experiment_id, increments in (cells or {}).items():
        key = keys.experiment_cells(experiment_id)
        for name, amount in increments.items():
            pipe.hincrbyfloat(key, name, amount)


def attribute_args(
    retention_seconds: int, values: Mapping[str, str], remove: Sequence[str], now: int
) -> list[Any]:
    args: list[Any] = [retention_seconds, now, len(values)]
    for name, value in values.items():
        args += [name, value]
    args += list(remove)
    return args


def activity_args(
    retention_seconds: int,
    rows: Sequence[ActivityRow],
    now_day: int,
    now: int = 0,
    id_ttl_seconds: int = 1,
) -> list[Any]:
    """Arguments of activities.lua; ``now`` and the id ttl matter only for rows with an id."""
    args: list[Any] = [retention_seconds, now_day, HISTORY_DAYS, len(rows), now, id_ttl_seconds]
    for row in rows:
        args += [
            row.ts,
            row.day,
            int(row.visit),
            int(row.purchase),
            int(row.support),
            row.channel_code,
            row.cents,
            row.kind,
            row.activity_id,
            row.fingerprint,
        ]
    return args
