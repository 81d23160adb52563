"""Idempotency keys that check the payload (Stripe's rule), for every idempotent write.

A key (``request_id``, ``event_id``, ``activity_id``) names one request. Replaying the answer
to a retry is only right when the retry is the same request: a key reused with another body
is a client bug that a silent replay would hide (the caller would think its new request ran).
So every idempotent record keeps a fingerprint of the body that created it, and the place that
detects the replay (a Lua script, or the decision's pipelined read) compares it with the
fingerprint of the request at hand: same key and same body replays, same key and another body
is refused with :class:`~engine.errors.IdempotencyConflict`.

The fingerprint is taken of the *validated* model, not of the raw bytes: a retry that spells
the same request differently (keys reordered, a default written out, ``25`` for ``25.0`` in a
number field, a time in another zone) is the same request, while every field that changes
meaning is covered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel

from engine.errors import IdempotencyConflict

__all__ = ["FINGERPRINT_LENGTH", "conflict", "fingerprint", "split_stamped", "stamped"]

# 128 bits of SHA-256: collisions are out of reach, and every stored event and activity id
# carries one, so half the digest halves what they cost in memory.
FINGERPRINT_LENGTH = 32


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):  # one instant, one spelling, whatever zone it came in
        return value.astimezone(UTC).isoformat()
    raise TypeError(f"cannot fingerprint {type(value).__name__}")


def fingerprint(model: BaseModel, exclude: Collection[str] = ()) -> str:
    """Hex fingerprint of a validated request body; ``exclude`` names the key field itself."""
    dumped = orjson.dumps(
        model.model_dump(exclude=set(exclude)),
        default=_canonical,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME,
    )
    return hashlib.sha256(dumped).hexdigest()[:FINGERPRINT_LENGTH]


def stamped(digest: str, payload: bytes) -> bytes:
    """A stored answer with the fingerprint of the request that produced it in front."""
    return digest.encode() + payload


def split_stamped(stored: str) -> tuple[str | None, str]:
    """(fingerprint, answer) of a stored answer; no fingerprint for one stored before they
    were kept (a JSON object starts with ``{``, a fingerprint never does)."""
    if stored.startswith("{"):
        return None, stored
    return stored[:FINGERPRINT_LENGTH], stored[FINGERPRINT_LENGTH:]


def conflict(field: str, key: str, path: str = "") -> IdempotencyConflict:
    """The refusal of a key reused with another body, in the one wording every path uses."""
    return IdempotencyConflict(
        f"{field} '{key}' was already used for a request with a different body; a new "
        f"request needs a new {field}, and a retry must repeat the original body exactly",
        field=f"{path}{field}",
    )
