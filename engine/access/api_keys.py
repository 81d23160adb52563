"""API keys: issued once, stored hashed, each with one role that bounds what it may do."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from engine.domain.roles import ROLES, Role
from engine.errors import Forbidden, NotFound, StoreUnavailable, Unauthorized
from engine.store.ports import KeyPort

__all__ = ["ROLES", "ApiKey", "KeyRing", "Role", "hash_key", "require_role"]

log = logging.getLogger("nbo.auth")

KEY_PREFIX = "nbo_"
MAX_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    created_at: float

    def to_doc(self, key_hash: str) -> bytes:
        return orjson.dumps(
            {
                "key_id": self.key_id,
                "name": self.name,
                "role": self.role,
                "created_at": self.created_at,
                "key_hash": key_hash,
            }
        )

    @classmethod
    def from_doc(cls, doc: str | bytes) -> ApiKey:
        data = orjson.loads(doc)
        return cls(data["key_id"], data["name"], data["role"], data["created_at"])


def hash_key(key: str) -> str:
    """Keys are 190 random bits, so one SHA-256 suffices (no password stretching needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


class KeyRing:
    """Issues and verifies keys.

    A verified key is trusted without a lookup for ``cache_seconds``; after that it is looked
    up again, but while the store is unavailable it is still accepted until ``stale_seconds``
    after its last successful lookup, so an outage degrades decisions (their fallback) instead
    of locking every app out. A key not verified in that window gets 401 during an outage:
    nobody can tell it from a forged one then.
    """

    def __init__(
        self,
        store: KeyPort,
        admin_key: str | None,
        cache_seconds: float = 5.0,
        stale_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._cache_seconds = cache_seconds
        self._stale_seconds = stale_seconds
        self._clock = clock
        self._verified: dict[str, _Verified] = {}

    async def issue(self, role: Role, name: str) -> tuple[ApiKey, str]:
        key_id = secrets.token_hex(6)
        secret = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(24)}"
        record = ApiKey(key_id=key_id, name=name, role=role, created_at=time.time())
        digest = hash_key(secret)
        await self._store.put_api_key(digest, record.to_doc(digest))
        return record, secret

    async def list(self) -> list[ApiKey]:
        docs = await self._store.list_api_keys()
        return sorted((ApiKey.from_doc(d) for d in docs), key=lambda k: k.created_at)

    async def revoke(self, key_id: str) -> None:
        for doc in await self._store.list_api_keys():
            data = orjson.loads(doc)
            if data["key_id"] == key_id:
                await self._store.delete_api_key(data["key_hash"])
                self._verified.pop(data["key_hash"], None)
                return
        raise NotFound(f"no key '{key_id}'", field="key_id")

    async def verify(self, presented: str | None) -> ApiKey:
        if not presented:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        digest = hash_key(presented)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return ApiKey("bootstrap", "NBO_ADMIN_KEY", "admin", 0.0)
        now = self._clock()
        known = self._verified.get(digest)
        if known is not None and now < known.trusted_until:
            return known.key
        try:
            doc = await self._store.get_api_key(digest)
        except StoreUnavailable:
            # the outage itself is counted by the store (operation get_api_key)
            if known is not None and now - known.looked_up < self._stale_seconds:
                # trusted again for a cache period, so requests during the outage do not each
                # wait out a store timeout before their own fallback
                known.trusted_until = min(
                    now + self._cache_seconds, known.looked_up + self._stale_seconds
                )
                return known.key
            log.warning("api_key_unverifiable", extra={"key_id": _key_id(presented)})
            raise Unauthorized("API key could not be verified: the store is unavailable") from None
        if doc is None:
            self._verified.pop(digest, None)  # revoked elsewhere: never accepted stale again
            raise Unauthorized("unknown or revoked API key")
        record = ApiKey.from_doc(doc)
        if len(self._verified) >= MAX_REMEMBERED and digest not in self._verified:
            self._verified.clear()
        self._verified[digest] = _Verified(record, now, now + self._cache_seconds)
        return record


@dataclass(slots=True)
class _Verified:
    key: ApiKey
    looked_up: float  # the last lookup that found the key: stale acceptance counts from it
    trusted_until: float  # no lookup before then


def _key_id(presented: str) -> str | None:
    """The public id part of a key in our format, for logs (never the secret)."""
    if not presented.startswith(KEY_PREFIX):
        return None
    key_id = presented[len(KEY_PREFIX) :].partition("_")[0]
    return key_id if len(key_id) == 12 and all(c in "0123456789abcdef" for c in key_id) else None


def require_role(key: ApiKey, allowed: frozenset[str]) -> None:
    """Admin may do everything; every other role only what ``allowed`` names."""
    if key.role != "admin" and key.role not in allowed:
        raise Forbidden(f"role '{key.role}' may not do this")
