"""The one place engine errors become HTTP responses, all in the contract's error shape."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.errors import (
    AttributeLimitReached,
    Conflict,
    CustomerErased,
    ExperimentOverlap,
    Forbidden,
    NboError,
    NotFound,
    PreconditionFailed,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
    ValidationFailed,
)

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("nbo.api")

STATUS: dict[type[NboError], int] = {
    AttributeLimitReached: 422,
    ValidationFailed: 422,
    NotFound: 404,
    CustomerErased: 409,
    Conflict: 409,
    ExperimentOverlap: 409,
    PreconditionFailed: 412,
    Unauthorized: 401,
    Forbidden: 403,
    RateLimited: 429,
    StoreUnavailable: 503,
}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    if details:
        body["details"] = details
    return Response(
        orjson.dumps({"error": body}),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


# A model-level validator names its culprit with a "<field>: " prefix on its message.
_NAMED_MESSAGE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*): (.+)$", re.DOTALL)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if part == "[key]":  # pydantic's marker for a bad dict key: the key itself is named
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif not out:
            out = str(part)
        else:
            out += f".{part}"
    if out:
        return out
    return str(loc[0]) if loc else "body"


def _detail(error: dict[str, Any]) -> dict[str, str]:
    loc = tuple(error.get("loc", ()))
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if error.get("type") == "json_invalid":
        ctx = error.get("ctx") or {}
        position = loc[-1] if loc else "?"
        reason = ctx.get("error", "malformed")
        return {"field": "body", "message": f"invalid JSON at position {position}: {reason}"}
    named = _NAMED_MESSAGE.match(message) if error.get("type") == "value_error" else None
    if named:
        loc, message = (*loc, named.group(1)), named.group(2)
    return {"field": _field_path(loc), "message": message}


async def _validation(request: Request, exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    details = [_detail(e) for e in errors[:20]]
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    if errors and errors[0].get("type") == "json_invalid":  # the body middleware missed it
        return error_response(400, "invalid_json", first["message"], "body")
    return error_response(
        422, "validation_error", f"{first['field']}: {first['message']}", first["field"], details
    )


async def _nbo_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NboError)
    status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
    headers: dict[str, str] | None = None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(status, exc.code, exc.message, exc.field, headers=headers)


def _path_methods(app: Any) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """Each documented path as a pattern, with its methods (the OpenAPI document is the list)."""
    cached: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(
        app.state, "path_methods", None
    )
    if cached is None:
        cached = [
            (
                re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"),
                frozenset(method.upper() for method in operations),
            )
            for path, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.path_methods = cached
    return cached


def _allowed_methods(request: Request) -> str | None:
    """Every method the path answers: Starlette names only those of the first route matched."""
    methods: set[str] = set()
    for pattern, answered in _path_methods(request.app):
        if pattern.match(request.url.path):
            methods |= answered
    return ", ".join(sorted(methods)) if methods else None


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed is not None:
            headers["Allow"] = allowed
    codes = {
        400: "invalid_json",  # FastAPI's only 400: a body it could not parse
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media_type",
    }
    fields = {400: "body", 413: "body", 415: "Content-Type"}
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        fields.get(exc.status_code),
        headers=headers or None,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled_error", extra={"error_type": type(exc).__name__})
    return error_response(500, "internal_error", "internal error; it has been logged")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _unexpected)
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(NboError, _nbo_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
