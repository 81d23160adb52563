"""Liveness, readiness and Prometheus metrics (no key needed)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ServicesDep
from api.errors import error_response
from engine.errors import StoreUnavailable
from engine.learning.learner import LIVE_SECONDS

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the store is reachable; which learners are alive",
    response_model=None,
)
async def readyz(services: ServicesDep) -> dict[str, Any] | Response:
    """503 only without the store. A learner that is down stops learning, not serving, so it
    is reported in ``learner`` (``state`` running or down, with the live learners' heartbeats)
    and leaves the status 200: taking the API out of a load balancer would not help it."""
    try:
        await services.store.ping()
        live = await services.store.live_learners(time.time() - LIVE_SECONDS)
    except StoreUnavailable as exc:
        return error_response(503, exc.code, exc.message)
    learner = {
        "mode": services.settings.learner,
        "state": "running" if live else "down",
        "live": live,
    }
    return {"status": "ready", "learner": learner}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
