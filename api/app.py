"""The FastAPI application factory: lifespan owns the store client, routers stay thin."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

from api.deps import Services
from api.errors import install_error_handlers
from api.logs import configure_logging
from api.middleware import ObservabilityMiddleware, RequestBodyMiddleware
from api.openapi import install_openapi
from api.routes import (
    attributes,
    customers,
    decisions,
    experiments,
    health,
    keys,
    models,
    offers,
    segments,
)
from engine.access.api_keys import KeyRing
from engine.access.ratelimit import RateLimiter
from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.decision.engine import DecisionEngine
from engine.feedback.events import EventService
from engine.learning.learner import Learner
from engine.learning.policies import PolicyConfig
from engine.learning.registry import ModelRegistry
from engine.store.redis import RedisStore

__all__ = ["create_app"]

log = logging.getLogger("nbo.api")

DESCRIPTION = """Next-best-offer decisioning: customer profiles, segments, an offer catalog,
eligibility and contact policy. Authenticate with `Authorization: Bearer <api key>`."""


def telemetry(enabled: bool) -> TelemetryConfig:
    """FastAPI's native OpenTelemetry on or off as a whole (``NBO_OPENTELEMETRY``)."""
    return {"tracing": enabled, "metrics": enabled, "logs": enabled}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    policy = PolicyConfig.model_validate(settings.policy)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = RedisStore.from_settings(settings)
        admin = settings.admin_key.get_secret_value() if settings.admin_key else None
        catalog = CatalogCache(store)
        models = ModelRegistry(store, policy)
        decisions = DecisionEngine(store, catalog, models, settings)
        app.state.services = Services(
            settings=settings,
            store=store,
            catalog=catalog,
            keys=KeyRing(store, admin, settings.key_cache_seconds, settings.key_stale_seconds),
            decisions=decisions,
            events=EventService(store, settings, write_pending=decisions.write_pending),
            limiter=RateLimiter(settings.rate_limits),
        )
        stop = asyncio.Event()
        # what an outage left queued is written when the store is back, traffic or not
        flusher = asyncio.create_task(decisions.keep_flushing(stop))
        learner_task = None
        if settings.learner == "in_process":
            learner = Learner(store, settings, policy)
            learner_task = asyncio.create_task(learner.run(stop))
        try:
            yield
        finally:
            stop.set()
            await flusher
            await decisions.flush_log(wait=True)  # what the last responses queued
            if decisions.pending_log.entries:
                log.error(
                    "decision_log_lost_at_shutdown",
                    extra={"records": len(decisions.pending_log.entries)},
                )
            if learner_task is not None:
                learner_task.cancel()
                with suppress(asyncio.CancelledError):
                    await learner_task
            await store.close()

    # Swagger UI and ReDoc from an installed package: /docs works without internet
    app = FastAPIOffline(
        title="nbo",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        telemetry=telemetry(settings.opentelemetry),
    )
    install_error_handlers(app)
    install_openapi(app)
    # the hot path first: FastAPI resolves included routers in order on every request
    for router in (
        decisions.router,
        health.router,
        customers.router,
        segments.router,
        offers.router,
        keys.router,
        models.router,
        experiments.router,
        attributes.router,
    ):
        app.include_router(router)
    app.add_middleware(RequestBodyMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware)
    if settings.cors_origins:
        # outermost, so every answer (a 413, a 429, a 503) carries the headers a browser needs
        # to let the page read it; keys travel as bearer tokens, never as cookies
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
            expose_headers=["Retry-After", "ETag"],
            max_age=600,
        )
    return app
