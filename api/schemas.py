"""Request and response bodies of the v1 HTTP contract (engine models are reused as bodies)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.access.api_keys import Role
from engine.domain.attributes import ATTRIBUTE_NAME
from engine.domain.profiles import Activity
from engine.domain.values import NullableScalar

__all__ = [
    "ActivityBatch",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "CustomerUpsert",
    "ErrorBody",
    "ErrorResponse",
]

AttributeValue = NullableScalar


class Strict(BaseModel):
    """Request bodies take JSON types as they are: ``"2"`` is not a number."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


AttributeName = Annotated[str, StringConstraints(pattern=ATTRIBUTE_NAME.pattern)]


class CustomerUpsert(Strict):
    attributes: dict[AttributeName, AttributeValue] = Field(
        max_length=100,
        description="Merged into the profile; null removes an attribute. Types are fixed on "
        "first use (string, number or boolean).",
    )


class ActivityBatch(Strict):
    activities: list[Activity] = Field(min_length=1, max_length=500)


class CustomerWritten(Strict):
    """What a profile write did, and nothing of the profile: the writer is an app's key, and
    reading a profile is an analyst's right (GET /v1/customers/{id})."""

    customer_id: str
    updated: list[str] = Field(description="Attributes set, sorted.")
    removed: list[str] = Field(description="Attributes removed (sent as null), sorted.")


class ActivitiesAccepted(Strict):
    customer_id: str
    accepted: int = Field(description="Activities counted by this request.")
    duplicates: int = Field(
        default=0,
        description="Activities whose activity_id was counted before (same body): not again.",
    )


class ContactHistoryEntry(Strict):
    served: int
    impressions: int
    clicks: int
    conversions: int
    dismisses: int
    served_today: int
    served_7d: int
    last_dismissed_at: str | None
    last_shown_at: dict[str, str]


class CustomerOut(Strict):
    customer_id: str
    known: bool
    attributes: dict[str, Any]
    features: dict[str, Any]
    segments: list[str]
    contact_history: dict[str, ContactHistoryEntry]


class ReasonOut(Strict):
    code: str
    message: str


class OfferEligibilityOut(Strict):
    offer_id: str
    name: str
    eligible: bool
    reasons: list[ReasonOut]
    matched_segments: list[str]


class EligibilityOut(Strict):
    customer_id: str
    channel: str
    placement: str | None
    segments: list[str]
    eligible_count: int
    offers: list[OfferEligibilityOut]


class ApiKeyCreate(Strict):
    role: Role
    name: str = Field(min_length=1, max_length=100)


class ApiKeyInfo(Strict):
    key_id: str
    name: str
    role: Role
    created_at: float


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="Shown once; only its hash is stored.")


class ErrorBody(Strict):
    code: str
    message: str
    field: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorResponse(Strict):
    error: ErrorBody
