"""The floor: the product's server stack doing the one thing a decision cannot avoid.

``POST /v1/decisions`` here parses the body, makes the engine's one pipelined customer read
(:meth:`RedisStore.read_customer`: attributes, activity, contact history, catalog version,
budgets) and answers a small JSON. Same FastAPI, same uvicorn options as ``nbo serve``, same
redis-py client built from the same :class:`Settings`; no auth, middleware, eligibility,
scoring or writes. Its saturation throughput, measured in the same run, is what every
throughput figure of the load tests is divided by, so the ratios hold on a noisy machine.

Run: ``NBO_REDIS_URL=redis://... python -m loadtests.floor --port 8001``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import orjson
import typer
import uvicorn
from fastapi import FastAPI, Request, Response

from api.app import telemetry
from engine.config import Settings
from engine.store import RedisStore

__all__ = ["create_floor_app"]


def create_floor_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = RedisStore.from_settings(settings)
        app.state.store = store
        try:
            yield
        finally:
            await store.close()

    app = FastAPI(
        title="nbo floor",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        telemetry=telemetry(settings.opentelemetry),
    )

    @app.post("/v1/decisions")
    async def decide(request: Request) -> Response:
        body = orjson.loads(await request.body())
        customer_id = str(body["customer_id"])
        store: RedisStore = request.app.state.store
        record = await store.read_customer(customer_id)
        answer = {
            "customer_id": customer_id,
            "channel": body.get("channel"),
            "known": record.known,
            "catalog_version": record.catalog_version,
            "offers": [],
        }
        return Response(orjson.dumps(answer), media_type="application/json")

    @app.get("/readyz")
    async def ready(request: Request) -> Response:
        store: RedisStore = request.app.state.store
        await store.ping()
        return Response(b'{"status":"ready"}', media_type="application/json")

    return app


def main(
    host: Annotated[str | None, typer.Option(help="Bind address [NBO_HOST]")] = None,
    port: Annotated[int, typer.Option(help="Port")] = 8001,
) -> None:
    """Serve the floor with the options ``nbo serve`` gives uvicorn (see api.cli._run_uvicorn)."""
    settings = Settings()
    uvicorn.run(
        "loadtests.floor:create_floor_app",
        factory=True,
        host=host or settings.host,
        port=port,
        workers=1,
        access_log=False,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    typer.run(main)
