"""One exception tree for the engine; the API maps each class to an HTTP status once."""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "NboError",
    "NotFound",
    "PreconditionFailed",
    "StoreUnavailable",
    "Unauthorized",
    "UnsupportedMediaType",
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


class PreconditionFailed(NboError):
    """The writer's copy is stale (``If-Match`` or the body's ``version``): read it again, so
    two editors never overwrite each other's change unseen."""

    code = "precondition_failed"


class UnsupportedMediaType(NboError):
    code = "unsupported_media_type"


class Unauthorized(NboError):
    code = "unauthorized"


class Forbidden(NboError):
    code = "forbidden"


class StoreUnavailable(NboError):
    """The store did not answer in time; callers degrade or answer 503, never guess."""

    code = "store_unavailable"
