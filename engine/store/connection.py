"""Connections to Redis or Valkey: redis-py's asyncio client with hiredis packing, and the
translation of its errors into :class:`StoreUnavailable`.

The packing connection overrides three redis-py methods; it lives here, in the store package
only. ``bench/store_packing.py`` measures what it saves (a third of the client CPU of a
decision's read and commit round trips, on the machine it was written on) and
``tests/store/test_store.py`` checks it against the plain client's behaviour.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as redis
from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from engine.config import Settings
from engine.errors import StoreUnavailable
from engine.metrics import STORE_ERRORS

__all__ = ["client_options", "connection_class", "fail", "make_client", "packed", "translate"]

P = ParamSpec("P")
T = TypeVar("T")


def fail(operation: str) -> StoreUnavailable:
    """The error a caller sees for a failed store operation (counted by operation)."""
    STORE_ERRORS.labels(operation=operation).inc()
    return StoreUnavailable(f"store unavailable during {operation}")


def translate(
    operation: str,
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Raise :class:`StoreUnavailable` for any redis-py or socket error of the operation."""

    def wrap(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        @functools.wraps(fn)
        async def inner(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return await fn(*args, **kwargs)
            except (RedisError, OSError) as exc:
                raise fail(operation) from exc

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


def packed(connection_class: type[Any]) -> type[Any]:
    """The packing subclass of one of redis-py's connection classes (itself for another)."""
    return _PACKED.get(connection_class, connection_class)


def connection_class(url: str) -> type[Any]:
    """The class of the connections the adapter opens to ``url`` (tests count its sends)."""
    return packed(redis.ConnectionPool.from_url(url).connection_class)


def client_options(settings: Settings) -> dict[str, Any]:
    """The timeouts and retries of the adapter's clients."""
    return {
        "socket_timeout": settings.redis_timeout_ms / 1000,
        "socket_connect_timeout": settings.redis_connect_timeout_ms / 1000,
        # Only a failed connection is retried, never a timeout: a command that timed out may
        # have run (a pipeline under load runs to its end on the server), and sending it again
        # would apply non-idempotent writes, such as activities, twice.
        "retry": Retry(
            NoBackoff(), settings.redis_retries, supported_errors=(RedisConnectionError,)
        ),
        "health_check_interval": 0,
    }


def make_client(url: str, decode: bool, max_connections: int, **options: Any) -> redis.Redis:
    pool = redis.ConnectionPool.from_url(
        url, decode_responses=decode, max_connections=max_connections, **options
    )
    pool.connection_class = packed(pool.connection_class)
    return redis.Redis(connection_pool=pool)
