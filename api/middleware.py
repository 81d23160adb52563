"""Pure ASGI middleware: request bodies checked once, request metrics and PII-free access logs."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.metrics import REQUEST_LATENCY

__all__ = ["ObservabilityMiddleware", "RequestBodyMiddleware", "json_media_type_error"]

log = logging.getLogger("nbo.access")


# Methods whose body is a JSON document; a GET or DELETE body is never read.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_JSON_DEPTH = 32


def _error_response(status: int, code: str, message: str, field: str | None) -> list[Message]:
    error: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    body = orjson.dumps({"error": error})
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        },
        {"type": "http.response.body", "body": body},
    ]


def json_media_type_error(content_type: bytes | None) -> str | None:
    """Why a body of this Content-Type is not taken as JSON, or ``None`` when it is.

    ``application/json`` and the structured ``+json`` suffix types (RFC 6839, e.g.
    ``application/merge-patch+json``) are JSON; a charset other than UTF-8 is refused because
    JSON exchanged between systems is UTF-8 (RFC 8259 section 8.1).
    """
    if not content_type:
        return "send Content-Type: application/json with a JSON body"
    media, _, params = content_type.decode("latin-1").partition(";")
    kind, _, subtype = media.strip().lower().partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return f"Content-Type '{media.strip()}' is not JSON: send application/json"
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return f"charset '{value.strip()}' is not accepted: send application/json in UTF-8"
    return None


def json_syntax_error(body: bytes) -> str | None:
    """Why ``body`` is not one JSON document in UTF-8 nested at most MAX_JSON_DEPTH deep."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON: {exc}"
    # a document with no more brackets than the limit cannot be nested past it
    if body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH and _depth(document) > MAX_JSON_DEPTH:
        return f"invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels"
    return None


def _depth(document: Any) -> int:
    """How deep containers nest, without recursion (orjson itself accepts 1024 levels)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            return deepest  # far enough: the answer is "too deep"
        stack.extend((child, depth + 1) for child in value)
    return deepest


class RequestBodyMiddleware:
    """Every request body is bounded, declared as JSON and well formed before a route sees it.

    One place answers in the contract's error shape, whatever route the body was sent to:
    413 for a body over the limit, announced by Content-Length or streamed; 415 for a body
    whose Content-Type is missing or not JSON; 400 ``invalid_json`` naming ``body`` for bytes
    that are not UTF-8 JSON or are nested past :data:`MAX_JSON_DEPTH`. The body is read once
    and handed on whole, as the route would have read it anyway.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        content_type: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_bytes
                except ValueError:
                    too_large = False
                if too_large:
                    await self._answer(send, *self._too_large())
                    return
            elif name == b"content-type":
                content_type = value
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await self._answer(send, *self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if body:
            problem = json_media_type_error(content_type)
            if problem is not None:
                await self._answer(send, 415, "unsupported_media_type", problem, "Content-Type")
                return
            problem = json_syntax_error(body)
            if problem is not None:
                await self._answer(send, 400, "invalid_json", problem, "body")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect, when it comes
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> tuple[int, str, str, str]:
        return 413, "payload_too_large", f"request body exceeds {self.max_bytes} bytes", "body"

    @staticmethod
    async def _answer(send: Send, status: int, code: str, message: str, field: str) -> None:
        for part in _error_response(status, code, message, field):
            await send(part)


class ObservabilityMiddleware:
    """Latency histogram per route template and one log line per request, no ids or paths."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        answered: float | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered = time.perf_counter()  # background work after this is not latency

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = (answered or time.perf_counter()) - start
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUEST_LATENCY.labels(scope["method"], template, str(status)).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
