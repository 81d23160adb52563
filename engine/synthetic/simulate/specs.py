"""What a scenario is made of: personas, offers with their true rates, segments, request
contexts. Validated as strictly as API input, since scenarios come from JSON files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.domain.channels import Channel
from engine.domain.profiles import (
    ActivityType,
)


class ActivitySpec(BaseModel):
    """One kind of past behaviour of a persona: Poisson count, ages uniform in ``days``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    type: ActivityType
    channel: Channel
    mean_count: float = Field(ge=0, le=500)
    order_value: float = Field(default=0.0, ge=0, description="Mean order value (purchases).")
    days: tuple[float, float] = Field(
        default=(0.0, 120.0), description="Newest and oldest age in days (clipped to tenure)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ActivitySpec:
        if self.type == "purchase" and self.order_value <= 0:
            raise ValueError("order_value: a purchase needs a positive mean order value")
        if not 0 <= self.days[0] <= self.days[1]:
            raise ValueError("days: (newest, oldest) with 0 <= newest <= oldest")
        return self


class PersonaSpec(BaseModel):
    """A latent customer type: how it behaves, what the CRM knows, where it is reached."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    share: float = Field(gt=0)
    tenure_days: tuple[float, float] = (120.0, 1500.0)
    age: tuple[float, float] = (40.0, 12.0)
    tiers: dict[str, float] = Field(default_factory=lambda: {"bronze": 0.6, "silver": 0.3})
    lifecycle: dict[str, float] = Field(default_factory=lambda: {"active": 1.0})
    loyalty_member: float = Field(default=0.4, ge=0, le=1)
    email_opt_in: float = Field(default=0.7, ge=0, le=1)
    push_opt_in: float = Field(default=0.4, ge=0, le=1)
    categories: dict[str, float] = Field(
        default_factory=lambda: {"fashion": 0.4, "home": 0.3, "electronics": 0.2, "beauty": 0.1}
    )
    activities: list[ActivitySpec] = Field(min_length=1)
    channels: dict[Channel, float] = Field(
        description="Where this persona's requests come from (email/push need an opt-in)."
    )

    @model_validator(mode="after")
    def _weights(self) -> PersonaSpec:
        for name in ("tiers", "lifecycle", "categories", "channels"):
            weights: Mapping[str, float] = getattr(self, name)
            if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
                raise ValueError(f"{name}: non-negative weights with a positive sum")
        if self.channels.get("web", 0) <= 0:
            raise ValueError("channels: web needs a positive weight (every customer has it)")
        return self


class OfferSpec(BaseModel):
    """An offer and its TRUE click rates: per persona, scaled per channel, context, attribute."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    offer_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str
    body: str
    channels: list[Channel] = Field(min_length=1)
    rules: list[dict[str, Any]] = Field(
        default_factory=list, description="Eligibility rules over attributes only."
    )
    rates: dict[str, float] = Field(description="Persona -> click rate on a neutral request.")
    default_rate: float = Field(default=0.03, ge=0, le=1)
    channel_effect: dict[Channel, float] = Field(default_factory=dict)
    context_effect: dict[str, float] = Field(
        default_factory=dict, description="'key=value' of the request context -> multiplier."
    )
    attribute_effect: dict[str, float] = Field(
        default_factory=dict, description="'attribute=value' -> multiplier."
    )

    @model_validator(mode="after")
    def _positive(self) -> OfferSpec:
        for name in ("rates", "channel_effect", "context_effect", "attribute_effect"):
            values: Mapping[str, float] = getattr(self, name)
            if any(v < 0 for v in values.values()):
                raise ValueError(f"{name}: must be non-negative")
        return self


class SegmentSpec(BaseModel):
    """A rule segment as a marketer would define it; the model sees membership as a feature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str
    rule: dict[str, Any]


class ChannelContext(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    devices: dict[str, float]
    pages: dict[str, float]


class ContextSpec(BaseModel):
    """Request contexts: device and page per channel, local hour from a daily profile."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    channels: dict[Channel, ChannelContext]
    hour_weights: list[float] = Field(min_length=24, max_length=24)

    @model_validator(mode="after")
    def _weights(self) -> ContextSpec:
        if min(self.hour_weights) < 0 or sum(self.hour_weights) <= 0:
            raise ValueError("hour_weights: non-negative with a positive sum")
        return self
