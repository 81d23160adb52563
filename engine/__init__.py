"""nbo's decisioning core: the public entry points; everything else is private to the engine."""

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.customers.service import customer_view, record_activities, upsert_attributes
from engine.decision.eligibility import OfferVerdict, evaluate_offers
from engine.domain.catalog import Catalog, Offer
from engine.domain.contacts import Caps
from engine.domain.profiles import Activity, compute_features
from engine.errors import (
    Conflict,
    Forbidden,
    NboError,
    NotFound,
    StoreUnavailable,
    Unauthorized,
    ValidationFailed,
)
from engine.store.records import CustomerRecord
from engine.store.redis import RedisStore

__all__ = [
    "Activity",
    "Caps",
    "Catalog",
    "CatalogCache",
    "Conflict",
    "CustomerRecord",
    "Forbidden",
    "NboError",
    "NotFound",
    "Offer",
    "OfferVerdict",
    "RedisStore",
    "Settings",
    "StoreUnavailable",
    "Unauthorized",
    "ValidationFailed",
    "compute_features",
    "customer_view",
    "evaluate_offers",
    "record_activities",
    "upsert_attributes",
]
