"""Per-key token buckets: a leaked or runaway key cannot take the whole service (OWASP API4).

Buckets live in the process, so a check costs a dict lookup and no store round trip; with
``NBO_WORKERS=N`` a key may make up to N times its rate in all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping

from engine.config import RateLimit
from engine.domain.roles import Role
from engine.errors import RateLimited

__all__ = ["RateLimiter"]

MAX_BUCKETS = 10_000


class RateLimiter:
    """One bucket per key id, sized by its role's limit; roles without a limit are not counted."""

    def __init__(
        self,
        limits: Mapping[Role, RateLimit],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = dict(limits)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, as of)

    def take(self, key_id: str, role: Role) -> None:
        """Spend one token of ``key_id``'s bucket, or raise :class:`RateLimited` with the wait."""
        limit = self._limits.get(role)
        if limit is None:
            return
        now = self._clock()
        tokens, since = self._buckets.get(key_id, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - since) * limit.per_second)
        if tokens < 1.0:
            self._buckets[key_id] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / limit.per_second)
            raise RateLimited(
                f"rate limit of {limit.per_second:g}/s (burst {limit.burst}) for this key "
                f"exceeded; retry in {wait} s",
                retry_after=max(1, wait),
            )
        if len(self._buckets) >= MAX_BUCKETS and key_id not in self._buckets:
            self._buckets.clear()  # only keys' ids are held: this many means keys churn
        self._buckets[key_id] = (tokens - 1.0, now)
