"""The OpenAPI document tells the truth, and /docs renders from installed files alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from api.app import create_app
from api.openapi import REQUEST_EXAMPLES
from engine.config import Settings
from tests.browser import headless_chromium


@pytest.fixture(scope="module")
def document(redis_url: str) -> dict[str, Any]:
    app = create_app(Settings(redis_url=redis_url, learner="off", log_level="warning"))
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document
    for part in ref.removeprefix("#/").split("/"):
        resolved = resolved[part]
    return resolved


def test_no_route_documents_fastapis_own_error_shape(document: dict[str, Any]) -> None:
    text = str(document)
    assert "HTTPValidationError" not in text
    assert "'detail'" not in text
    error = document["components"]["schemas"]["ErrorResponse"]
    body = resolve(document, error["properties"]["error"])
    assert {"code", "message", "field"} <= set(body["properties"])


def test_every_error_status_is_in_the_error_shape(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)


def test_statuses_follow_what_each_route_does(document: dict[str, Any]) -> None:
    seen: set[str] = set()
    for method, path, operation in operations(document):
        statuses = set(operation["responses"])
        seen |= statuses
        if "security" in operation:
            assert {"401", "403", "429"} <= statuses, (method, path)
            assert "Retry-After" in operation["responses"]["429"]["headers"]
        if "requestBody" in operation:
            assert {"400", "413", "415", "422"} <= statuses, (method, path)
        if "{" in path:
            assert "404" in statuses, (method, path)
        if path not in ("/healthz", "/metrics"):
            assert "503" in statuses, (method, path)
    # statuses that only some routes answer are declared by those routes
    assert {"401", "403", "404", "409", "413", "415", "422", "429", "503"} <= seen
    segment_delete = document["paths"]["/v1/segments/{segment_id}"]["delete"]
    assert "409" in segment_delete["responses"]  # a segment an offer uses cannot go


def test_every_request_body_has_an_example_the_route_accepts(redis_url: str) -> None:
    app = create_app(Settings(redis_url=redis_url, learner="off", log_level="warning"))
    document = app.openapi()
    bodies = {
        (method, path)
        for method, path, operation in operations(document)
        if "requestBody" in operation
    }
    assert bodies == set(REQUEST_EXAMPLES), "examples missing or stale"
    for method, path, operation in operations(document):
        if "requestBody" not in operation:
            continue
        for media in operation["requestBody"]["content"].values():
            assert "example" in media, (method, path)
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        for method in route.methods:
            example = REQUEST_EXAMPLES[(method.lower(), route.path)]
            # the route's own body type, strictly as from JSON: the example validates
            TypeAdapter(route.body_field.field_info.annotation).validate_json(
                __import__("orjson").dumps(example)
            )


def test_results_document_their_csv(document: dict[str, Any]) -> None:
    ok = document["paths"]["/v1/experiments/{experiment_id}/results"]["get"]["responses"]["200"]
    assert "text/csv" in ok["content"]
    assert "application/json" in ok["content"]


def test_docs_pages_load_only_from_this_server(live_server: str) -> None:
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{live_server}{page}").text
        assert "cdn." not in html, page
        assert "googleapis" not in html, page
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css") if page == "/docs" else ("redoc",):
            assert asset in html
    js = httpx.get(f"{live_server}/static-offline-docs/swagger-ui-bundle.js")
    assert js.status_code == 200
    assert len(js.content) > 500_000


def test_swagger_ui_renders_every_route_in_headless_chromium(live_server: str) -> None:
    """Offline (this machine reaches no CDN), the page lists the API's operations."""
    completed = headless_chromium(
        "--virtual-time-budget=15000", "--dump-dom", f"{live_server}/docs", timeout=120
    )
    dom = completed.stdout
    assert "swagger-ui" in dom, completed.stderr[-2000:]
    for path in ("/v1/decisions", "/v1/events", "/v1/offers/{offer_id}", "/readyz"):
        assert f'data-path="{path}"' in dom, f"{path} not rendered"
