"""The floor: the product's server stack doing the one thing a decision cannot avoid.

``POST /v1/decisions`` here parses the body, makes the engine's one pipelined customer read
(:meth:`RedisStore.read_customer`: attributes, activity, contact history, catalog version,
budgets) and answers a small JSON. Same FastAPI, same uvicorn options as ``nbo serve``, same
redis-py client built from the same :class:`Settings`; no auth, middleware, eligibility,
scoring or writes. Its saturation throughput, measured in the same run, is what every
throughput figure of the load tests is divided by, so the ratios hold on a noisy machine.

``POST /v1/decisions:commit`` is the floor plus the second round trip a decision makes: after
the read, one Lua script in the customer's slot writes a record the size of a decision's (its
fields, a 57-feature vector) with its expiry, as the decision's commit does, without the caps
logic. Its run (``floor-commit``) says what that round trip costs on this stack, so the part of a
decision's cost that is its own work can be told apart from the part that is round trips.

Run: ``NBO_REDIS_URL=redis://... python -m loadtests.floor --port 8001``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

import orjson
import typer
import uvicorn
from fastapi import FastAPI, Request, Response

from api.app import telemetry
from engine.config import Settings
from engine.store import keys
from engine.store.connection import client_options, make_client
from engine.store.redis import RedisStore

__all__ = ["COMMIT_PATH", "create_floor_app"]

COMMIT_PATH = "/v1/decisions:commit"
_COMMIT_SCRIPT = """redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1"""


def _record_like_a_decision() -> list[str]:
    """Field/value pairs shaped like a decision record (see DecisionEngine._record_fields)."""
    x = orjson.dumps([round(0.1 * (i % 10), 5) for i in range(57)]).decode()
    fields = {
        "ts": "1760000000.123456",
        "ch": "web",
        "pl": "home_hero",
        "sc": "web",
        "mv": "12",
        "sv": "1",
        "pol": "linucb",
        "exp": "",
        "var": "",
        "win": "86400",
        "x": x,
        "xp": "1",
        "o:o-17": "1|0.95",
        "o:o-42": "2|0.9",
        "o:o-63": "3|0.85",
    }
    return [part for pair in fields.items() for part in pair]


def _lifespan(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's store, and a raw client for the commit script, open for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = RedisStore.from_settings(settings)
        app.state.store = store
        # the second round trip on a client of its own, built as the store builds its clients
        # (the floor's script is no port's)
        raw = make_client(
            settings.redis_url or "",
            True,
            settings.redis_max_connections,
            **client_options(settings),
        )
        app.state.commit = raw.register_script(_COMMIT_SCRIPT)
        try:
            yield
        finally:
            await raw.aclose()
            await store.close()

    return lifespan


def create_floor_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="nbo floor",
        lifespan=_lifespan(settings),
        docs_url=None,
        redoc_url=None,
        telemetry=telemetry(settings.opentelemetry),
    )

    record_fields = _record_like_a_decision()

    @app.post("/v1/decisions")
    async def decide(request: Request) -> Response:
        return await _answer(request, commit=False)

    @app.post(COMMIT_PATH)
    async def decide_and_commit(request: Request) -> Response:
        return await _answer(request, commit=True)

    async def _answer(request: Request, commit: bool) -> Response:
        body = orjson.loads(await request.body())
        customer_id = str(body["customer_id"])
        store: RedisStore = request.app.state.store
        record = await store.read_customer(customer_id)
        if commit:
            script: Any = request.app.state.commit
            record_key = keys.customer_decision(customer_id, secrets.token_hex(8))
            await script(keys=[record_key], args=[60, *record_fields])
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
    """Serve the floor with the options ``nbo serve`` gives uvicorn (api.cli.serve._run_uvicorn)."""
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
