"""One exception tree for the engine; the API maps each class to an HTTP status once."""

from __future__ import annotations

__all__ = [
    "AttributeLimitReached",
    "Conflict",
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


class Unauthorized(NboError):
    code = "unauthorized"


class Forbidden(NboError):
    code = "forbidden"


class StoreUnavailable(NboError):
    """The store did not answer in time; callers degrade or answer 503, never guess."""

    code = "store_unavailable"
