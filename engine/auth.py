"""API keys: issued once, stored hashed, each with one role that bounds what it may do."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal, get_args

import orjson

from engine.errors import Forbidden, NotFound, Unauthorized
from engine.store import Store

__all__ = ["ROLES", "ApiKey", "KeyRing", "Role", "hash_key", "require_role"]

Role = Literal["decide", "marketer", "analyst", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
KEY_PREFIX = "nbo_"


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
    """Issues and verifies keys; verified keys are trusted for ``cache_seconds``."""

    def __init__(self, store: Store, admin_key: str | None, cache_seconds: float = 5.0) -> None:
        self._store = store
        self._admin_hash = hash_key(admin_key) if admin_key else None
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[ApiKey, float]] = {}

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
                self._cache.clear()
                return
        raise NotFound(f"no key '{key_id}'", field="key_id")

    async def verify(self, presented: str | None) -> ApiKey:
        if not presented:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        digest = hash_key(presented)
        if self._admin_hash is not None and hmac.compare_digest(digest, self._admin_hash):
            return ApiKey("bootstrap", "NBO_ADMIN_KEY", "admin", 0.0)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        doc = await self._store.get_api_key(digest)
        if doc is None:
            raise Unauthorized("unknown or revoked API key")
        record = ApiKey.from_doc(doc)
        if self._cache_seconds > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (record, now + self._cache_seconds)
        return record


def require_role(key: ApiKey, allowed: frozenset[str]) -> None:
    """Admin may do everything; every other role only what ``allowed`` names."""
    if key.role != "admin" and key.role not in allowed:
        raise Forbidden(f"role '{key.role}' may not do this")
