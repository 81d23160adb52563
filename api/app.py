"""The FastAPI application factory: lifespan owns the store client, routers stay thin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.deps import Services
from api.errors import install_error_handlers
from api.logs import configure_logging
from api.middleware import BodyLimitMiddleware, ObservabilityMiddleware
from api.routes import customers, health, keys, offers, segments
from engine.auth import KeyRing
from engine.catalog_cache import CatalogCache
from engine.config import Settings
from engine.store import RedisStore

__all__ = ["create_app"]

DESCRIPTION = """Next-best-offer decisioning: customer profiles, segments, an offer catalog,
eligibility and contact policy. Authenticate with `Authorization: Bearer <api key>`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = RedisStore.from_settings(settings)
        admin = settings.admin_key.get_secret_value() if settings.admin_key else None
        app.state.services = Services(
            settings=settings,
            store=store,
            catalog=CatalogCache(store),
            keys=KeyRing(store, admin, settings.key_cache_seconds),
        )
        try:
            yield
        finally:
            await store.close()

    app = FastAPI(
        title="nbo",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for router in (
        health.router,
        customers.router,
        segments.router,
        offers.router,
        keys.router,
    ):
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ObservabilityMiddleware)
    return app
