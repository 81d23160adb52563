"""Dependencies: the per-app services and role checks every route declares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from engine.access.api_keys import ApiKey, KeyRing, require_role
from engine.access.ratelimit import RateLimiter
from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.decision.engine import DecisionEngine
from engine.feedback.events import EventService
from engine.store.ports import ApiPort

__all__ = [
    "Admin",
    "Analyst",
    "Decide",
    "DecideOrClient",
    "Marketer",
    "Reader",
    "Services",
    "ServicesDep",
    "allow",
]


@dataclass(slots=True)
class Services:
    settings: Settings
    store: ApiPort
    catalog: CatalogCache
    keys: KeyRing
    decisions: DecisionEngine
    events: EventService
    limiter: RateLimiter


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
    # hop on every request (measured in bench/profile_decision.py)
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


def allow(*roles: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency admitting keys of ``roles`` (admin always), each within its rate limit.

    Every request a key makes counts against its limit, refused ones too: probing is traffic.
    """
    allowed = frozenset(roles)

    async def check(
        services: ServicesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        key = await services.keys.verify(credentials.credentials if credentials else None)
        services.limiter.take(key.key_id, key.role)
        require_role(key, allowed)
        return key

    return check


# The audiences routes admit, named once: routes that serve one audience say so by one name.
Admin = Annotated[ApiKey, Depends(allow("admin"))]
# writes the catalog: offers, segments, experiments, attribute declarations
Marketer = Annotated[ApiKey, Depends(allow("marketer"))]
# reads the catalog, experiment results, models and eligibility, never profile data
Reader = Annotated[ApiKey, Depends(allow("marketer", "analyst"))]
# reads customers' profile data
Analyst = Annotated[ApiKey, Depends(allow("analyst"))]
# a server of the business writing customer data
Decide = Annotated[ApiKey, Depends(allow("decide"))]
# what web pages and mobile apps call: their ``client`` keys may do this and nothing else
DecideOrClient = Annotated[ApiKey, Depends(allow("decide", "client"))]
