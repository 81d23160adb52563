"""One exception tree for the engine; the API maps each class to an HTTP status once."""

from __future__ import annotations

from experiments.errors import CodedError

__all__ = [
    "AttributeLimitReached",
    "Conflict",
    "CustomerErased",
    "ExperimentOverlap",
    "Forbidden",
    "IdempotencyConflict",
    "NboError",
    "NotFound",
    "PreconditionFailed",
    "RateLimited",
    "StoreUnavailable",
    "Unauthorized",
    "ValidationFailed",
]


class NboError(CodedError):
    """Base of every error the engine raises on purpose."""


class ValidationFailed(NboError):
    """Input that is well formed JSON but cannot be accepted; ``field`` names the culprit."""

    code = "validation_error"


class AttributeLimitReached(ValidationFailed):
    """A customer write would introduce one undeclared attribute too many.

    Without a bound, any decide key could grow the catalog-wide schema (and every worker's
    catalog) by thousands of attributes a second; declared attributes do not count.
    """

    code = "attribute_limit_reached"

    def __init__(self, name: str, limit: int) -> None:
        super().__init__(
            f"'{name}' would be a new undeclared attribute beyond the limit of {limit}; "
            f"declare it first (PUT /v1/attributes/{name}) or use a known attribute",
            field=f"attributes.{name}",
        )
        self.name = name
        self.limit = limit


class NotFound(NboError):
    code = "not_found"


class Conflict(NboError):
    code = "conflict"


class EventInProgress(Conflict):
    """The event was joined moments ago by a request still recording it: send it again later."""

    code = "event_in_progress"


class ExperimentOverlap(Conflict):
    """Starting the experiment would let it compete with a live one for the same customers."""

    code = "experiment_overlap"


class IdempotencyConflict(Conflict):
    """An idempotency key came again with another body: replaying the first answer would hide
    that the new request never ran, so it is refused and nothing is written."""

    code = "idempotency_conflict"


class PreconditionFailed(NboError):
    """The writer's copy is stale (``If-Match`` or the body's ``version``): read it again, so
    two editors never overwrite each other's change unseen."""

    code = "precondition_failed"


class Unauthorized(NboError):
    code = "unauthorized"


class Forbidden(NboError):
    code = "forbidden"


class RateLimited(NboError):
    """The key spent its burst; ``retry_after`` is the whole seconds until one more request fits."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreUnavailable(NboError):
    """The store did not answer in time; callers degrade or answer 503, never guess."""

    code = "store_unavailable"


class CustomerErased(Conflict):
    """The customer was erased moments ago: writes for it are refused until the tombstone expires
    (``NBO_ERASURE_TOMBSTONE_SECONDS``), so a write racing the erasure cannot bring it back."""

    code = "customer_erased"
