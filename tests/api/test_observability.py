"""Metrics per route template, PII-free structured logs, and the documented endpoint list."""

from __future__ import annotations

import io
import logging

import httpx
import orjson
from asgi_lifespan import LifespanManager

from api.app import create_app
from engine.config import Settings

EXPECTED_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/v1/keys",
    "/v1/keys/{key_id}",
    "/v1/customers/{customer_id}",
    "/v1/customers/{customer_id}/activities",
    "/v1/customers/{customer_id}/activities:batch",
    "/v1/customers/{customer_id}/eligibility",
    "/v1/offers",
    "/v1/offers/{offer_id}",
    "/v1/segments",
    "/v1/segments/{segment_id}",
}


async def test_docs_list_every_endpoint(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert set(spec["paths"]) >= EXPECTED_PATHS
    assert (await client.get("/docs")).status_code == 200
    assert "bearer" in str(spec["components"]["securitySchemes"]).lower()


async def test_metrics_use_route_templates(
    client: httpx.AsyncClient, role_keys: dict[str, dict[str, str]]
) -> None:
    await client.get("/v1/customers/c-metrics-1", headers=role_keys["analyst"])
    text = (await client.get("/metrics")).text
    assert 'route="/v1/customers/{customer_id}"' in text
    assert "c-metrics-1" not in text
    assert "nbo_http_request_duration_seconds_bucket" in text


async def test_logs_are_json_lines_without_customer_ids(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, admin_key="a" * 24, log_level="info")
    app = create_app(settings)
    buffer = io.StringIO()
    handler = logging.getLogger("nbo").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            auth = {"Authorization": "Bearer " + "a" * 24}
            await c.put(
                "/v1/customers/c-private-42",
                json={"attributes": {"email_hash": "zz-secret"}},
                headers=auth,
            )
            await c.get("/v1/customers/c-private-42", headers=auth)
    lines = [orjson.loads(line) for line in buffer.getvalue().splitlines()]
    routes = {line.get("route") for line in lines}
    assert "/v1/customers/{customer_id}" in routes
    assert all({"ts", "level", "msg"} <= set(line) for line in lines)
    assert "c-private-42" not in buffer.getvalue()
    assert "zz-secret" not in buffer.getvalue()
