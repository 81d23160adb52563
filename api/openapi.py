"""The OpenAPI document tells the truth: the real error shape, every status, an example body.

FastAPI documents its own ``{"detail": [...]}`` validation error and only the statuses a route
declares. Here every operation gets the statuses its nature implies (a key: 401, 403 and 429; a
body: 400, 413, 415 and 422; a path id: 404; the store: 503), all in the contract's error shape,
plus those a route declares itself with :func:`errors` (409, 412). Request examples, one per
operation with a body, are data in ``request_examples.json``, so the models stay free of
documentation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.schemas import ErrorResponse

__all__ = ["ERROR_STATUSES", "REQUEST_EXAMPLES", "errors", "install_openapi"]

ERROR_STATUSES: dict[int, str] = {
    400: "The body is not UTF-8 JSON, or is nested too deep (`invalid_json`, field `body`).",
    401: "No API key, or an unknown or revoked one (`unauthorized`).",
    403: "The key's role may not do this (`forbidden`).",
    404: "No such resource (`not_found`, field naming the id).",
    409: "The request conflicts with the resource's state (the code says how).",
    412: "`If-Match` names a version that is no longer current (`precondition_failed`).",
    413: "The body exceeds `NBO_MAX_BODY_BYTES` (`payload_too_large`).",
    415: "The body is not sent as `application/json` in UTF-8 (`unsupported_media_type`).",
    422: "A value is invalid (`validation_error`); `field` names the first, `details` all.",
    429: "The key's rate limit is spent (`rate_limited`); retry after `Retry-After` seconds.",
    503: "The store did not answer in time (`store_unavailable`).",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}},
    429: {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": "Seconds until the key may send again.",
        }
    },
}
# Routes that never read the store (the rest can answer 503).
STORELESS = frozenset({"/healthz", "/metrics"})
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def _request_examples() -> dict[tuple[str, str], Any]:
    """(method, path template) -> an example body the route accepts, from
    ``request_examples.json`` (keyed ``"PUT /v1/offers/{offer_id}"``): documentation as data."""
    document = json.loads(files("api").joinpath("request_examples.json").read_text("utf-8"))
    examples: dict[tuple[str, str], Any] = {}
    for operation, body in document.items():
        method, path = operation.split(" ", 1)
        examples[(method.lower(), path)] = body
    return examples


REQUEST_EXAMPLES = _request_examples()


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's own error statuses (409, 412), in the error shape."""
    return {
        status: {"model": ErrorResponse, "description": ERROR_STATUSES[status]}
        for status in statuses
    }


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERROR_STATUSES[status],
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if status in HEADERS:
        response["headers"] = HEADERS[status]
    return response


def _implied_statuses(path: str, operation: Mapping[str, Any]) -> set[int]:
    statuses: set[int] = set()
    parameters = operation.get("parameters", [])
    if "security" in operation:
        statuses |= {401, 403, 429}
    if path not in STORELESS:
        statuses.add(503)
    if "requestBody" in operation:
        statuses |= {400, 413, 415, 422}
    if parameters:
        statuses.add(422)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in parameters):
        statuses |= {409, 412}  # a conditional write: stale (412), or raced past its retries
    return statuses


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI OpenAPI document in place to state every error in the error shape."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components.setdefault("ErrorBody", ErrorResponse.model_json_schema()["$defs"]["ErrorBody"])
    components["ErrorResponse"] = {
        "title": "ErrorResponse",
        "type": "object",
        "properties": {"error": {"$ref": "#/components/schemas/ErrorBody"}},
        "required": ["error"],
        "additionalProperties": False,
    }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in _implied_statuses(path, operation):
                responses[str(status)] = _error_response(status)
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and int(status) in ERROR_STATUSES:
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
                    response.setdefault("description", ERROR_STATUSES[int(status)])
            example = REQUEST_EXAMPLES.get((method, path))
            body = operation.get("requestBody", {}).get("content", {})
            if example is not None:
                for media in body.values():
                    media["example"] = example
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`document_errors` of FastAPI's document at ``/openapi.json``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
