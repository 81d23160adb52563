"""The one synthetic world: who the customers are (personas) and how they respond (the truth).

The demo population, the demo experiment and the simulator all draw from this module, so that
what the demo shows, what its experiment measures and what the simulator's oracle knows are the
same world. A persona says how a customer behaves (activity over the history, drawn by
:mod:`engine.synthetic.population`), what the CRM knows of it, where its decision requests come
from, and how likely it is to click an offer and then convert. Personas are latent: the engine
never sees them, only what a real deployment would (behaviour, attributes, segments, context).

The truth is multiplicative, so it can be read off the tables: a persona's click rate on a
neutral offer, times its affinity for each of the offer's tags, times its and the offer's
effect of the channel, times the offer's effect of the request's context and of the customer's
attributes, clipped to the world's range. The personas are data (``data/personas.json``), as
are the offers' own effects and the request contexts (``data/world.json``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.domain.channels import Channel
from engine.domain.profiles import ActivityType
from engine.synthetic.tables import table

__all__ = [
    "PERSONAS",
    "WORLD",
    "ChannelContext",
    "ContextSpec",
    "OfferTruth",
    "Persona",
    "Spec",
    "World",
    "category",
    "click_rate",
    "offer_rate",
    "request_rate",
]

# (activity type, channel, mean count over the persona's window, mean order value or 0)
Spec = tuple[ActivityType, Channel, float, float]
ContextValue = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _weights(name: str, weights: Mapping[Any, float]) -> None:
    if not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
        raise ValueError(f"{name}: non-negative weights with a positive sum")


class Persona(_Strict):
    """A latent customer type: its behaviour, what the CRM knows of it, how it responds."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    share: float = Field(gt=0)
    window: tuple[float, float] = Field(
        description="Active from .. to, in days before now (within tenure)."
    )
    specs: tuple[Spec, ...] = Field(min_length=1)
    recent: tuple[Spec, ...] = Field(default=(), description="Extra activity in the last 30 days.")
    tenure_days: tuple[float, float] = (120, 1500)
    silent_share: float = Field(
        default=0.0, ge=0, le=1, description="Of this persona, who never did anything recorded."
    )
    age: tuple[float, float] = (42, 13)
    tiers: tuple[float, float, float, float] = Field(
        default=(0.55, 0.30, 0.12, 0.03), description="Shares of bronze, silver, gold, platinum."
    )
    loyalty: float = Field(default=0.35, ge=0, le=1)
    push_opt_in: float = Field(default=0.35, ge=0, le=1)
    # --- how it responds
    reach: dict[Channel, float] = Field(
        description="Where its decision requests come from (email and push need an opt-in)."
    )
    clicks: float = Field(ge=0, le=1, description="Click rate on a neutral offer and channel.")
    affinity: dict[str, float] = Field(
        default_factory=dict, description="Offer tag -> multiplier of the click rate."
    )
    channel_effect: dict[Channel, float] = Field(default_factory=dict)
    converts: float = Field(default=0.3, ge=0, le=1, description="Share of clicks that convert.")

    @model_validator(mode="after")
    def _consistent(self) -> Persona:
        _weights("reach", self.reach)
        if self.reach.get("web", 0) <= 0:
            raise ValueError("reach: web needs a positive weight (every customer has it)")
        for name in ("affinity", "channel_effect"):
            effects: Mapping[str, float] = getattr(self, name)
            if any(v < 0 for v in effects.values()):
                raise ValueError(f"{name}: must be non-negative")
        return self


class OfferTruth(_Strict):
    """What an offer itself does to the click rate, beyond the personas' taste for its tags."""

    tags: list[str] = Field(default_factory=list)
    channel_effect: dict[Channel, float] = Field(default_factory=dict)
    context_effect: dict[str, float] = Field(
        default_factory=dict, description="'key=value' of the request context -> multiplier."
    )
    attribute_effect: dict[str, float] = Field(
        default_factory=dict, description="'attribute=value' -> multiplier."
    )

    @model_validator(mode="after")
    def _positive(self) -> OfferTruth:
        for name in ("channel_effect", "context_effect", "attribute_effect"):
            values: Mapping[str, float] = getattr(self, name)
            if any(v < 0 for v in values.values()):
                raise ValueError(f"{name}: must be non-negative")
        return self


class ChannelContext(_Strict):
    devices: dict[str, float]
    pages: dict[str, float]


class ContextSpec(_Strict):
    """Request contexts: device and page per channel, local hour from a daily profile."""

    channels: dict[Channel, ChannelContext]
    hour_weights: list[float] = Field(min_length=24, max_length=24)

    @model_validator(mode="after")
    def _weights(self) -> ContextSpec:
        if min(self.hour_weights) < 0 or sum(self.hour_weights) <= 0:
            raise ValueError("hour_weights: non-negative with a positive sum")
        return self


class World(_Strict):
    """The world's parameters beyond the personas (``data/world.json``)."""

    min_rate: float = Field(ge=0, le=1)
    max_rate: float = Field(ge=0, le=1)
    conversion_value: tuple[float, float] = Field(description="Order value of a conversion.")
    offers: dict[str, OfferTruth] = Field(description="Offer id -> its own effects.")
    context: ContextSpec

    def truth_of(self, tags: Sequence[str], offer_id: str) -> OfferTruth:
        """An offer's truth: its tags, with the world's effects of that offer where it has any."""
        return self.offers.get(offer_id, OfferTruth()).model_copy(update={"tags": list(tags)})


def category(value: ContextValue) -> str:
    """A context or attribute value as its ``key=value`` effects name it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def offer_rate(
    persona: Persona, offer: OfferTruth, attributes: Mapping[str, ContextValue]
) -> float:
    """The click rate of a customer on an offer before channel and context (not clipped)."""
    rate = persona.clicks * math.prod(persona.affinity.get(tag, 1.0) for tag in offer.tags)
    for name, value in attributes.items():
        rate *= offer.attribute_effect.get(f"{name}={category(value)}", 1.0)
    return rate


def request_rate(
    base: float,
    persona: Persona,
    offer: OfferTruth,
    channel: Channel,
    context: Mapping[str, ContextValue],
    bounds: tuple[float, float],
) -> float:
    """``base`` (an :func:`offer_rate`) on a request's channel and context, within ``bounds``."""
    rate = base * persona.channel_effect.get(channel, 1.0) * offer.channel_effect.get(channel, 1.0)
    for key, value in context.items():
        rate *= offer.context_effect.get(f"{key}={category(value)}", 1.0)
    return min(max(rate, bounds[0]), bounds[1])


def click_rate(
    persona: Persona,
    offer: OfferTruth,
    channel: Channel,
    context: Mapping[str, ContextValue] | None = None,
    attributes: Mapping[str, ContextValue] | None = None,
) -> float:
    """The true click rate of a customer of ``persona`` on ``offer`` on one request."""
    base = offer_rate(persona, offer, attributes or {})
    return request_rate(
        base, persona, offer, channel, context or {}, (WORLD.min_rate, WORLD.max_rate)
    )


PERSONAS: tuple[Persona, ...] = tuple(Persona.model_validate(row) for row in table("personas"))
WORLD: World = World.model_validate(table("world"))
