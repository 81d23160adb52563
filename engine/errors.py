"""One exception tree for the engine; the API maps each class to an HTTP status once."""

from __future__ import annotations

__all__ = [
    "Conflict",
    "CustomerErased",
    "Forbidden",
    "NboError",
    "NotFound",
    "StoreUnavailable",
    "Unauthorized",
    "ValidationFailed",
]


class NboError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(NboError):
    """Input that is well formed JSON but cannot be accepted; ``field`` names the culprit."""

    code = "validation_error"


class NotFound(NboError):
    code = "not_found"


class Conflict(NboError):
    code = "conflict"


class EventInProgress(Conflict):
    """The event was joined moments ago by a request still recording it: send it again later."""

    code = "event_in_progress"


class Unauthorized(NboError):
    code = "unauthorized"


class Forbidden(NboError):
    code = "forbidden"


class StoreUnavailable(NboError):
    """The store did not answer in time; callers degrade or answer 503, never guess."""

    code = "store_unavailable"


class CustomerErased(Conflict):
    """The customer was erased moments ago: writes for it are refused until the tombstone expires
    (``NBO_ERASURE_TOMBSTONE_SECONDS``), so a write racing the erasure cannot bring it back."""

    code = "customer_erased"
