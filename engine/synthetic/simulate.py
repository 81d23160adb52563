"""A synthetic world whose true response rates are known, to show that the bandit learns.

Offline evaluation (``engine.offline.evaluation``) estimates what a policy would earn; a simulation
can measure it, because the simulator knows every customer's true click probability for every offer.
For each decision it therefore also knows what a RANDOM policy would earn in expectation (mean true
rate over the eligible offers) and what an ORACLE would earn (the best eligible offer), on the very
same customer, channel and context. The engine is used as a client would use it: customers,
segments, offers and the feature spec are written through the engine's own validation (or the HTTP
API), decisions and events go through :class:`~engine.decision.engine.DecisionEngine` and
:class:`~engine.feedback.events.EventService` (or ``POST /v1/decisions`` and ``POST
/v1/events:batch``), and rewards reach the model only through the reward stream and the
:class:`~engine.learning.learner.Learner`.

The population is a mix of personas. The persona is latent: the model sees only what a real
deployment would see (behavioural features, declared attributes and segments, the request's
channel and context), while true rates are set per persona x offer, scaled per channel and per
context, with per-customer heterogeneity the model cannot see. Eligibility rules look at
attributes only, so the oracle knows the eligible set exactly; the default offers carry no
frequency caps, since a cap would make eligibility depend on the run's own history and the
oracle comparison would stop being like for like.

Reproducibility: the population, the requests and the uniform draw that decides each response
come from numpy Generators seeded from ``seed`` (customer ``i`` is a function of (seed, i)
only); in process, the engine's exploration uses a seeded generator too and time is a
simulated clock, so the same seed gives the same run. Over HTTP, learning runs in the server
on its own schedule, so only the world (customers, contexts, draws) is reproducible.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import numpy.typing as npt
import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from engine.config import Settings
from engine.domain.catalog import Creative, Offer, OfferEligibility, field_types, validate_offer
from engine.domain.channels import CHANNELS, Channel
from engine.domain.profiles import (
    SECONDS_PER_DAY,
    Activity,
    ActivityType,
    day_number,
    encode_activity,
)
from engine.domain.rules import Group, evaluate, parse_conditions, parse_rule
from engine.domain.segments import StoredSegment
from engine.domain.vectoriser import CategoricalFeature, FeatureSpec, NumericFeature, validate_spec
from engine.errors import Conflict, NboError, ValidationFailed
from engine.store.redis import RedisStore

if TYPE_CHECKING:
    from engine.feedback.events import EventType

__all__ = [
    "ActivitySpec",
    "ChannelContext",
    "ContextSpec",
    "OfferSpec",
    "PersonaSpec",
    "Population",
    "Requests",
    "ScenarioConfig",
    "SegmentSpec",
    "SimulatedCustomer",
    "SimulationOptions",
    "SimulationResult",
    "StoreNotEmpty",
    "Trace",
    "build_population",
    "draw_requests",
    "print_report",
    "run_http",
    "run_in_process",
    "summarize",
    "write_chart",
    "write_outputs",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
ContextValue = str | int | float | bool
Mode = Literal["in_process", "http"]

PLACEMENT = "sim"
# options that mean nothing in a mode, kept out of its summary
_NOT_IN_MODE: dict[str, set[str]] = {
    "in_process": {"concurrency"},
    "http": {"learn_every", "seconds_per_decision", "attribution_seconds"},
}
TARGET_TO_ORACLE = 0.85
TARGET_TO_RANDOM = 1.5


class StoreNotEmpty(Conflict):
    """The target already holds data: the simulation would mix with it, or erase it."""


# --- Scenario -------------------------------------------------------------------------------


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


def _daypart(hour: int) -> str:
    if hour < 6:
        return "night"
    if hour < 12:
        return "morning"
    if hour < 18:
        return "afternoon"
    return "evening"


ATTRIBUTE_TYPES: dict[str, str] = {
    "age": "number",
    "tier": "string",
    "lifecycle": "string",
    "loyalty_member": "boolean",
    "email_opt_in": "boolean",
    "push_opt_in": "boolean",
    "favourite_category": "string",
}


def default_personas() -> list[PersonaSpec]:
    """Six personas; shares, behaviour and reach loosely modelled on a mid-size retailer."""

    def act(
        kind: ActivityType,
        channel: Channel,
        count: float,
        value: float = 0.0,
        days: tuple[float, float] = (0.0, 120.0),
    ) -> ActivitySpec:
        return ActivitySpec(
            type=kind, channel=channel, mean_count=count, order_value=value, days=days
        )

    return [
        PersonaSpec(
            name="deal_seeker",
            share=0.24,
            age=(34, 10),
            tiers={"bronze": 0.7, "silver": 0.25, "gold": 0.05},
            lifecycle={"active": 0.9, "lapsing": 0.1},
            loyalty_member=0.3,
            email_opt_in=0.75,
            push_opt_in=0.3,
            activities=[
                act("page_view", "web", 18),
                act("search", "web", 8),
                act("add_to_cart", "web", 6),
                act("purchase", "web", 3, 35),
                act("email_open", "email", 4),
            ],
            channels={"web": 0.55, "email": 0.3, "mobile_app": 0.1, "push": 0.05},
        ),
        PersonaSpec(
            name="app_regular",
            share=0.20,
            age=(29, 8),
            tiers={"bronze": 0.45, "silver": 0.4, "gold": 0.15},
            lifecycle={"active": 0.95, "lapsing": 0.05},
            loyalty_member=0.6,
            email_opt_in=0.5,
            push_opt_in=0.9,
            activities=[
                act("app_open", "mobile_app", 25),
                act("search", "mobile_app", 6),
                act("purchase", "mobile_app", 4, 45),
                act("push_open", "push", 8),
                act("page_view", "web", 2),
            ],
            channels={"mobile_app": 0.6, "push": 0.25, "web": 0.1, "email": 0.05},
        ),
        PersonaSpec(
            name="premium",
            share=0.10,
            age=(47, 10),
            tiers={"silver": 0.3, "gold": 0.7},
            lifecycle={"active": 0.95, "lapsing": 0.05},
            loyalty_member=0.85,
            email_opt_in=0.8,
            push_opt_in=0.5,
            categories={"fashion": 0.45, "home": 0.25, "electronics": 0.2, "beauty": 0.1},
            activities=[
                act("page_view", "web", 12),
                act("app_open", "mobile_app", 10),
                act("purchase", "web", 4, 180),
                act("purchase", "in_store", 2, 220),
                act("email_open", "email", 6),
            ],
            channels={"web": 0.4, "mobile_app": 0.3, "email": 0.3},
        ),
        PersonaSpec(
            name="newcomer",
            share=0.14,
            tenure_days=(1, 25),
            age=(33, 11),
            tiers={"bronze": 1.0},
            lifecycle={"new": 1.0},
            loyalty_member=0.1,
            email_opt_in=0.8,
            push_opt_in=0.3,
            activities=[
                act("page_view", "web", 5, days=(0, 25)),
                act("app_open", "mobile_app", 3, days=(0, 25)),
                act("purchase", "web", 0.5, 40, days=(0, 25)),
            ],
            channels={"web": 0.5, "mobile_app": 0.25, "email": 0.25},
        ),
        PersonaSpec(
            name="lapsing",
            share=0.14,
            tenure_days=(200, 1500),
            age=(45, 13),
            tiers={"bronze": 0.5, "silver": 0.4, "gold": 0.1},
            lifecycle={"lapsing": 0.85, "active": 0.15},
            loyalty_member=0.4,
            email_opt_in=0.85,
            push_opt_in=0.3,
            activities=[
                act("page_view", "web", 8, days=(50, 120)),
                act("purchase", "web", 2, 60, days=(50, 120)),
                act("email_open", "email", 3, days=(45, 120)),
            ],
            channels={"email": 0.6, "push": 0.15, "web": 0.25},
        ),
        PersonaSpec(
            name="browser",
            share=0.18,
            age=(41, 14),
            tiers={"bronze": 0.65, "silver": 0.3, "gold": 0.05},
            lifecycle={"active": 0.8, "lapsing": 0.2},
            loyalty_member=0.25,
            email_opt_in=0.9,
            push_opt_in=0.25,
            categories={"fashion": 0.35, "home": 0.3, "electronics": 0.1, "beauty": 0.25},
            activities=[
                act("email_open", "email", 8),
                act("email_click", "email", 2),
                act("social_engagement", "social", 4),
                act("page_view", "web", 4),
                act("purchase", "web", 0.4, 40),
            ],
            channels={"email": 0.5, "web": 0.4, "push": 0.1},
        ),
    ]


def default_offers() -> list[OfferSpec]:
    """Ten offers. Rates are clicks per served offer: a few percent up to about 30%."""
    on_email = {"email": 0.75, "push": 0.8}
    return [
        OfferSpec(
            offer_id="o-welcome-10",
            name="Welcome: 10% off your first order",
            body="Take 10% off anything in your first order.",
            channels=["web", "mobile_app", "email"],
            rules=[{"field": "lifecycle", "op": "eq", "value": "new"}],
            rates={
                "deal_seeker": 0.12,
                "app_regular": 0.10,
                "premium": 0.05,
                "newcomer": 0.24,
                "browser": 0.08,
            },
            channel_effect={"email": 0.9},
        ),
        OfferSpec(
            offer_id="o-winback-20",
            name="We miss you: 20% off",
            body="It has been a while: here is 20% off to welcome you back.",
            channels=["web", "email", "push"],
            rules=[{"field": "lifecycle", "op": "eq", "value": "lapsing"}],
            rates={
                "deal_seeker": 0.14,
                "app_regular": 0.08,
                "premium": 0.04,
                "lapsing": 0.20,
                "browser": 0.10,
            },
            channel_effect={"email": 1.0, "push": 0.8, "web": 0.9},
        ),
        OfferSpec(
            offer_id="o-vip-preview",
            name="VIP early access to the new season",
            body="Shop the new collection 48 hours before everyone else.",
            channels=["web", "mobile_app", "email"],
            rules=[{"field": "tier", "op": "eq", "value": "gold"}],
            rates={
                "deal_seeker": 0.03,
                "app_regular": 0.05,
                "premium": 0.26,
                "lapsing": 0.06,
                "browser": 0.04,
            },
            channel_effect={"email": 0.85},
            context_effect={"page=home": 1.1},
        ),
        OfferSpec(
            offer_id="o-app-flash",
            name="App-only flash deal",
            body="Today's app-only deal: up to 40% off selected items.",
            channels=["mobile_app", "push"],
            rates={
                "deal_seeker": 0.08,
                "app_regular": 0.22,
                "premium": 0.06,
                "newcomer": 0.10,
                "lapsing": 0.06,
                "browser": 0.05,
            },
            channel_effect={"push": 0.9},
            context_effect={"daypart=evening": 1.3, "daypart=night": 0.7},
        ),
        OfferSpec(
            offer_id="o-free-shipping",
            name="Free shipping over 50",
            body="Orders over 50 ship free this week.",
            channels=["web", "mobile_app", "email"],
            rates={
                "deal_seeker": 0.14,
                "app_regular": 0.06,
                "premium": 0.03,
                "newcomer": 0.09,
                "lapsing": 0.07,
                "browser": 0.05,
            },
            channel_effect=on_email,
            context_effect={"page=cart": 1.8, "page=account": 0.8},
        ),
        OfferSpec(
            offer_id="o-bundle",
            name="Buy two, save 15%",
            body="Mix and match any two items and save 15%.",
            channels=["web", "mobile_app"],
            rates={
                "deal_seeker": 0.16,
                "app_regular": 0.08,
                "premium": 0.03,
                "newcomer": 0.06,
                "lapsing": 0.05,
                "browser": 0.04,
            },
            context_effect={"page=cart": 1.5, "page=product": 1.3, "page=account": 0.7},
            attribute_effect={"favourite_category=home": 1.3},
        ),
        OfferSpec(
            offer_id="o-loyalty-join",
            name="Join rewards: double points for a month",
            body="Join our rewards programme and earn double points for 30 days.",
            channels=["web", "mobile_app", "email"],
            rules=[{"field": "loyalty_member", "op": "eq", "value": False}],
            rates={
                "deal_seeker": 0.06,
                "app_regular": 0.09,
                "premium": 0.04,
                "newcomer": 0.12,
                "lapsing": 0.06,
                "browser": 0.05,
            },
            channel_effect={"email": 0.8},
            context_effect={"page=account": 1.5},
        ),
        OfferSpec(
            offer_id="o-new-arrivals",
            name="New season arrivals",
            body="Fresh in this week: see what is new.",
            channels=["web", "mobile_app", "email", "push"],
            rates={
                "deal_seeker": 0.04,
                "app_regular": 0.08,
                "premium": 0.15,
                "newcomer": 0.07,
                "lapsing": 0.05,
                "browser": 0.09,
            },
            channel_effect=on_email,
            context_effect={"page=home": 1.2},
            attribute_effect={"favourite_category=fashion": 1.2},
        ),
        OfferSpec(
            offer_id="o-clearance",
            name="Clearance: up to 50% off",
            body="Last chance on end-of-line items: up to 50% off while stocks last.",
            channels=["web", "mobile_app", "email", "push"],
            rates={
                "deal_seeker": 0.18,
                "app_regular": 0.10,
                "premium": 0.02,
                "newcomer": 0.08,
                "lapsing": 0.12,
                "browser": 0.06,
            },
            channel_effect=on_email,
            context_effect={"daypart=evening": 1.2},
        ),
        OfferSpec(
            offer_id="o-style-guide",
            name="This season's style guide",
            body="Ideas and looks picked by our stylists.",
            channels=["web", "email"],
            rates={
                "deal_seeker": 0.03,
                "app_regular": 0.02,
                "premium": 0.08,
                "newcomer": 0.05,
                "lapsing": 0.04,
                "browser": 0.13,
            },
            channel_effect={"email": 1.2},
            context_effect={"device=desktop": 1.2},
            attribute_effect={"favourite_category=fashion": 1.3, "favourite_category=beauty": 1.3},
        ),
    ]


def default_segments() -> list[SegmentSpec]:
    """Segments a marketer would plausibly define: proxies of the personas, never the personas."""
    return [
        SegmentSpec(
            segment_id="app_first",
            name="App first",
            rule={"all": [{"field": "engagement_mobile_app_30d", "op": "gte", "value": 5}]},
        ),
        SegmentSpec(
            segment_id="frequent_visitor",
            name="Frequent visitor",
            rule={"all": [{"field": "visits_30d", "op": "gte", "value": 8}]},
        ),
        SegmentSpec(
            segment_id="big_basket",
            name="Big basket",
            rule={"all": [{"field": "avg_order_value", "op": "gte", "value": 120}]},
        ),
        SegmentSpec(
            segment_id="email_engaged",
            name="Email engaged",
            rule={"all": [{"field": "engagement_email_30d", "op": "gte", "value": 3}]},
        ),
        SegmentSpec(
            segment_id="quiet_45d",
            name="Quiet for 45 days",
            rule={"all": [{"field": "days_since_last_activity", "op": "gte", "value": 45}]},
        ),
    ]


def default_context() -> ContextSpec:
    # a retail day: quiet at night, peaks at lunch and in the evening
    hours = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4, 4, 4.5]
    hours += [5.5, 5, 4.5, 4.2, 4.5, 5, 6, 6.5, 6.5, 5.5, 4, 2]
    return ContextSpec(
        channels={
            "web": ChannelContext(
                devices={"desktop": 0.55, "ios": 0.25, "android": 0.2},
                pages={"home": 0.35, "product": 0.35, "cart": 0.15, "account": 0.15},
            ),
            "mobile_app": ChannelContext(
                devices={"ios": 0.5, "android": 0.5},
                pages={"home": 0.4, "product": 0.35, "cart": 0.15, "account": 0.1},
            ),
            "email": ChannelContext(
                devices={"desktop": 0.4, "ios": 0.35, "android": 0.25}, pages={"inbox": 1.0}
            ),
            "push": ChannelContext(
                devices={"ios": 0.5, "android": 0.5}, pages={"lock_screen": 1.0}
            ),
        },
        hour_weights=hours,
    )


class ScenarioConfig(BaseModel):
    """The world: population, catalog, contexts and true rates. Defaults: the default scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    customers: int = Field(default=3000, ge=1, le=1_000_000)
    history_days: int = Field(default=120, ge=1, le=3650)
    personas: list[PersonaSpec] = Field(default_factory=default_personas, min_length=1)
    offers: list[OfferSpec] = Field(default_factory=default_offers, min_length=1)
    segments: list[SegmentSpec] = Field(default_factory=default_segments)
    context: ContextSpec = Field(default_factory=default_context)
    responsiveness_sigma: float = Field(
        default=0.3, ge=0, le=2, description="Log-sd of a customer's overall propensity to click."
    )
    affinity_sigma: float = Field(
        default=0.15, ge=0, le=2, description="Log-sd of a customer's taste for one offer."
    )
    min_rate: float = Field(default=0.005, ge=0, le=1)
    max_rate: float = Field(default=0.45, ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> ScenarioConfig:
        personas = {p.name for p in self.personas}
        if len(personas) != len(self.personas):
            raise ValueError("personas: names must be unique")
        if len({o.offer_id for o in self.offers}) != len(self.offers):
            raise ValueError("offers: ids must be unique")
        for offer in self.offers:
            unknown = set(offer.rates) - personas
            if unknown:
                raise ValueError(f"offers: {offer.offer_id} rates unknown personas {unknown}")
            for rule in offer.rules:
                if rule.get("field") not in ATTRIBUTE_TYPES:
                    raise ValueError(
                        f"offers: {offer.offer_id} rules are conditions on attributes only "
                        f"({', '.join(ATTRIBUTE_TYPES)}), so the oracle knows who is eligible"
                    )
            try:
                parse_conditions(offer.rules, field_types(ATTRIBUTE_TYPES), "rules")
            except ValidationFailed as exc:
                raise ValueError(f"offers: {offer.offer_id} {exc.field}: {exc.message}") from exc
        used = {ch for p in self.personas for ch in p.channels if p.channels[ch] > 0}
        missing = used - set(self.context.channels)
        if missing:
            raise ValueError(f"context: no device/page mix for channels {sorted(missing)}")
        if self.min_rate > self.max_rate:
            raise ValueError("min_rate: must not exceed max_rate")
        return self

    def fingerprint(self) -> str:
        """Short hash of the whole scenario, so a summary says which world it measured."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]

    def feature_spec(self, version: int = 1) -> FeatureSpec:
        """What the model may see: declared attributes, segments and context, never personas."""
        categories = sorted({c for p in self.personas for c in p.categories})
        tiers = sorted({t for p in self.personas for t in p.tiers})
        lifecycles = sorted({s for p in self.personas for s in p.lifecycle})
        devices = sorted({d for c in self.context.channels.values() for d in c.devices})
        pages = sorted({g for c in self.context.channels.values() for g in c.pages})
        return FeatureSpec(
            version=version,
            attributes_numeric=[NumericFeature(name="age", min=18, max=90)],
            attributes_categorical=[
                CategoricalFeature(name="tier", values=tiers),
                CategoricalFeature(name="lifecycle", values=lifecycles),
                CategoricalFeature(name="loyalty_member", values=["true", "false"]),
                CategoricalFeature(name="favourite_category", values=categories),
            ],
            segments=[s.segment_id for s in self.segments],
            context_categorical=[
                CategoricalFeature(name="device", values=devices),
                CategoricalFeature(name="page", values=pages),
                CategoricalFeature(
                    name="daypart", values=["night", "morning", "afternoon", "evening"]
                ),
            ],
        )

    def catalog_offers(self) -> dict[str, Offer]:
        """The offers as marketers would PUT them: creatives per channel, rules, no caps."""
        out: dict[str, Offer] = {}
        for spec in self.offers:
            url = f"https://shop.example.com/{spec.offer_id}"
            creatives: dict[Channel, Creative] = {}
            for channel in spec.channels:
                if channel == "email":
                    creatives[channel] = Creative(subject=spec.name, body=spec.body, url=url)
                elif channel == "push":
                    creatives[channel] = Creative(title=spec.name, body=spec.body[:120])
                else:
                    creatives[channel] = Creative(
                        title=spec.name, body=spec.body, cta="See more", url=url
                    )
            out[spec.offer_id] = Offer(
                name=spec.name,
                channels=creatives,
                eligibility=OfferEligibility(rules=spec.rules),
                tags=["simulation"],
            )
        return out

    def stored_segments(self) -> dict[str, StoredSegment]:
        return {
            s.segment_id: StoredSegment(name=s.name, kind="rule", rule=s.rule)
            for s in self.segments
        }


# --- Population and requests ----------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedCustomer:
    customer_id: str
    persona: int
    attributes: dict[str, ContextValue]
    signed_up_at: float
    activities: list[Activity]


@dataclass(frozen=True)
class Population:
    """Customers and their channel-free rates ``base`` (customers, offers); NaN: not eligible."""

    scenario: ScenarioConfig
    seed: int
    now: float
    customers: list[SimulatedCustomer]
    base: FloatArray
    offer_ids: list[str]


@dataclass(frozen=True)
class Requests:
    """Decision requests drawn in advance, so every policy faces the same world.

    ``rates`` (requests, offers) is the true click rate of each offer for that request, NaN
    where the offer is not eligible; ``u`` decides the response: a click when ``u`` < rate.
    """

    customer: IntArray
    channel: list[Channel]
    context: list[dict[str, ContextValue]]
    u: FloatArray
    rates: FloatArray

    def __len__(self) -> int:
        return len(self.channel)


def _choice(rng: np.random.Generator, weights: Mapping[Any, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return str(names[int(rng.choice(len(names), p=p / p.sum()))])


def _lognormal_mean_one(rng: np.random.Generator, sigma: float, size: int) -> FloatArray:
    out: FloatArray = (
        rng.lognormal(-0.5 * sigma * sigma, sigma, size=size) if sigma else np.ones(size)
    )
    return out


def _generate_customer(
    scenario: ScenarioConfig, index: int, seed: int, now: float, cdf: FloatArray
) -> tuple[SimulatedCustomer, float, FloatArray]:
    """One customer, its responsiveness and per-offer affinities; a function of (seed, index)."""
    rng = np.random.default_rng([seed, 0, index])
    persona_index = min(int(np.searchsorted(cdf, rng.random(), side="right")), len(cdf) - 1)
    persona = scenario.personas[persona_index]
    tenure = float(rng.uniform(*persona.tenure_days))
    attributes: dict[str, ContextValue] = {
        "age": int(np.clip(rng.normal(*persona.age), 18, 90)),
        "tier": _choice(rng, persona.tiers),
        "lifecycle": _choice(rng, persona.lifecycle),
        "loyalty_member": bool(rng.random() < persona.loyalty_member),
        "email_opt_in": bool(rng.random() < persona.email_opt_in),
        "push_opt_in": bool(rng.random() < persona.push_opt_in),
        "favourite_category": _choice(rng, persona.categories),
    }
    signed_up_at = now - tenure * SECONDS_PER_DAY
    # the account's creation is its first recorded activity, so first-seen (tenure) is right
    # whichever way the customer is written (bulk or HTTP)
    activities = [Activity(type="login", channel="web", timestamp=_at(signed_up_at))]
    intensity = float(rng.gamma(4.0, 0.25))  # mean 1: customers of a persona differ
    horizon = min(tenure, float(scenario.history_days))
    for spec in persona.activities:
        newest, oldest = spec.days[0], min(spec.days[1], horizon)
        count = int(rng.poisson(spec.mean_count * intensity))
        if oldest <= newest or count == 0:
            continue
        ages = rng.uniform(newest, oldest, size=count)
        values = spec.order_value * rng.lognormal(-0.125, 0.5, size=count)
        for age, value in zip(ages.tolist(), values.tolist(), strict=True):
            activities.append(
                Activity(
                    type=spec.type,
                    channel=spec.channel,
                    timestamp=_at(now - age * SECONDS_PER_DAY),
                    value=max(1.0, round(value, 2)) if spec.type == "purchase" else None,
                )
            )
    responsiveness = float(_lognormal_mean_one(rng, scenario.responsiveness_sigma, 1)[0])
    affinity = _lognormal_mean_one(rng, scenario.affinity_sigma, len(scenario.offers))
    customer = SimulatedCustomer(
        f"sim-{index}", persona_index, attributes, signed_up_at, activities
    )
    return customer, responsiveness, affinity


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def build_population(scenario: ScenarioConfig, seed: int, now: float) -> Population:
    """Customers and their true channel-free rates; deterministic in (scenario, seed, now)."""
    shares = np.array([p.share for p in scenario.personas], dtype=float)
    cdf: FloatArray = np.cumsum(shares) / shares.sum()
    fields = field_types(ATTRIBUTE_TYPES)
    rules: list[Group] = [
        parse_conditions(o.rules, fields, f"offers.{o.offer_id}.rules") for o in scenario.offers
    ]
    customers = []
    base = np.full((scenario.customers, len(scenario.offers)), np.nan)
    for index in range(scenario.customers):
        customer, responsiveness, affinity = _generate_customer(scenario, index, seed, now, cdf)
        customers.append(customer)
        persona = scenario.personas[customer.persona].name
        for j, offer in enumerate(scenario.offers):
            if not evaluate(rules[j], customer.attributes):
                continue
            rate = offer.rates.get(persona, offer.default_rate) * responsiveness * affinity[j]
            for name, value in customer.attributes.items():
                rate *= offer.attribute_effect.get(f"{name}={_category(value)}", 1.0)
            base[index, j] = rate
    return Population(scenario, seed, now, customers, base, [o.offer_id for o in scenario.offers])


def _category(value: ContextValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def draw_requests(population: Population, n: int, seed: int) -> Requests:
    """``n`` requests: a random customer, a channel it can be reached on, a context."""
    scenario = population.scenario
    rng = np.random.default_rng([seed, 1])
    customer = rng.integers(0, len(population.customers), size=n).astype(np.int64)
    u = rng.random(n)
    hours = np.array(scenario.context.hour_weights, dtype=float)
    hour_draws = rng.choice(24, size=n, p=hours / hours.sum())
    channels: list[Channel] = []
    contexts: list[dict[str, ContextValue]] = []
    rates = np.full((n, len(scenario.offers)), np.nan)
    channel_effect = [
        np.array([cast(Mapping[str, float], o.channel_effect).get(ch, 1.0) for ch in CHANNELS])
        for o in scenario.offers
    ]
    channel_index = {ch: i for i, ch in enumerate(CHANNELS)}
    for i in range(n):
        c = population.customers[int(customer[i])]
        persona = scenario.personas[c.persona]
        reach = {
            ch: w
            for ch, w in persona.channels.items()
            if not (ch == "email" and not c.attributes["email_opt_in"])
            and not (ch == "push" and not c.attributes["push_opt_in"])
        }
        channel = cast(Channel, _choice(rng, reach))
        mix = scenario.context.channels[channel]
        hour = int(hour_draws[i])
        context: dict[str, ContextValue] = {
            "device": _choice(rng, mix.devices),
            "page": _choice(rng, mix.pages),
            "daypart": _daypart(hour),
            "hour": hour,
        }
        channels.append(channel)
        contexts.append(context)
        keys = [f"{k}={_category(v)}" for k, v in context.items()]
        for j, offer in enumerate(scenario.offers):
            base = population.base[int(customer[i]), j]
            if math.isnan(base) or channel not in offer.channels:
                continue
            rate = base * channel_effect[j][channel_index[channel]]
            for key in keys:
                rate *= offer.context_effect.get(key, 1.0)
            rates[i, j] = min(max(rate, scenario.min_rate), scenario.max_rate)
    return Requests(customer, channels, contexts, u, rates)


# --- Running --------------------------------------------------------------------------------


class SimulationOptions(BaseModel):
    """How the run is driven (not the world: that is :class:`ScenarioConfig`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    decisions: int = Field(default=20_000, ge=1)
    seed: int = Field(default=7, ge=0)
    window: int = Field(default=1000, ge=1, description="Decisions per reported window.")
    summary_every: int = Field(default=5000, ge=1)
    learn_every: int = Field(
        default=200, ge=1, description="In process: decisions between learner catch-ups."
    )
    seconds_per_decision: float = Field(
        default=2.0, gt=0, description="In process: simulated time between decisions."
    )
    attribution_seconds: int = Field(
        default=60, ge=1, description="In process: attribution window of every channel."
    )
    concurrency: int = Field(default=16, ge=1, le=256, description="Over HTTP: requests in flight.")


@dataclass
class Trace:
    """What happened to each request, by request index."""

    served: IntArray
    clicked: BoolArray
    version: IntArray
    explored: BoolArray
    unexpected: int = 0  # served offers the simulator believed ineligible: a bug somewhere
    errors: int = 0
    fallbacks: int = 0  # decisions served without the store (it did not answer in time)
    policy: str = ""
    model_version: int = 0
    seconds: float = 0.0

    @classmethod
    def empty(cls, n: int) -> Trace:
        return cls(
            served=np.full(n, -1, dtype=np.int64),
            clicked=np.zeros(n, dtype=bool),
            version=np.zeros(n, dtype=np.int64),
            explored=np.zeros(n, dtype=bool),
        )


class SimClock:
    """Simulated time: windows close when the simulation says, however fast it runs."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def simulation_start(wall: float | None = None) -> float:
    """08:00 UTC of the current day: features do not depend on the hour a run starts."""
    wall = time.time() if wall is None else wall
    start = day_number(wall) * SECONDS_PER_DAY + 8 * 3600
    return float(start if start <= wall else start - SECONDS_PER_DAY)


def _record(
    trace: Trace,
    requests: Requests,
    index: int,
    body: Mapping[str, Any],
    offer_index: Mapping[str, int],
) -> str | None:
    """Note what was served; returns the served offer id, or None."""
    trace.version[index] = int(body.get("policy", {}).get("version", 0))
    trace.policy = str(body.get("policy", {}).get("name", trace.policy))
    trace.fallbacks += bool(body.get("fallback"))
    offers = body.get("offers") or []
    if not offers:
        return None
    offer_id = str(offers[0]["offer_id"])
    j = offer_index.get(offer_id)
    if j is None or math.isnan(requests.rates[index, j]):
        trace.unexpected += 1
        return offer_id
    trace.served[index] = j
    trace.explored[index] = bool(offers[0].get("explanation", {}).get("explored", False))
    trace.clicked[index] = bool(requests.u[index] < requests.rates[index, j])
    return offer_id


class _Reporter:
    """Progress bar plus a one-line summary every ``summary_every`` decisions.

    The line compares with random and oracle on the decisions made so far, so a run that is
    not learning shows it long before the end.
    """

    def __init__(
        self, console: Console, requests: Requests, trace: Trace, options: SimulationOptions
    ) -> None:
        self.console = console
        self.requests = requests
        self.trace = trace
        self.options = options
        self.done = 0
        self.progress = Progress(
            TextColumn("[bold]simulating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("decisions", total=options.decisions)

    def advance(self) -> None:
        self.done += 1
        self.progress.update(self.task, completed=self.done)
        if self.done % self.options.summary_every == 0 or self.done == self.options.decisions:
            self.console.print(self.line(self.done))

    def line(self, done: int) -> str:
        rates = self.requests.rates[:done]
        window = min(self.options.window, done)
        clicked = self.trace.clicked[:done]
        random_, oracle = _random_rates(rates), _oracle_rates(rates)
        return (
            f"{done:>7,} decisions  bandit {clicked.mean():.3f} "
            f"(last {window:,}: {clicked[-window:].mean():.3f})  "
            f"random {random_.mean():.3f}  oracle {oracle.mean():.3f}  "
            f"model v{int(self.trace.version[:done].max(initial=0))}"
        )


async def _refuse_unless_empty(store: RedisStore, flush: bool, console: Console) -> None:
    """Refuse a store holding data: the simulation would learn on top of it and pollute it.

    Erasing is never implied: only ``flush`` (the CLI's ``--flush``) empties the database.
    """
    customers = 0
    async for batch in store.scan_customer_ids():
        customers += len(batch)
        break
    offers = len((await store.read_catalog()).offers)
    models = sum(v > 0 for v in (await store.model_versions()).values())
    if not (customers or offers or models):
        return
    if not flush:
        held = []
        if customers:
            held.append("customers")
        if offers:
            held.append(f"{offers} offers")
        if models:
            held.append("trained models")
        raise StoreNotEmpty(
            f"the store already holds {', '.join(held)}; the simulation needs an empty one. "
            "Point NBO_DATA_DIR at an empty directory (or NBO_REDIS_URL at an empty database), "
            "or pass --flush to ERASE everything in it first."
        )
    console.print("[yellow]--flush: erasing every key in the store[/yellow]")
    await store.flush_all()


async def _load_world(store: RedisStore, population: Population) -> None:
    """Catalog and customers, validated as the API would and written in bulk."""
    scenario = population.scenario
    in_force = await store.register_attribute_types(ATTRIBUTE_TYPES)
    clash = {n: k for n, k in ATTRIBUTE_TYPES.items() if in_force.get(n) != k}
    if clash:
        raise StoreNotEmpty(f"attributes {sorted(clash)} already have other types in the store")
    fields = field_types(ATTRIBUTE_TYPES)
    for segment_id, segment in scenario.stored_segments().items():
        parse_rule(segment.rule, fields, path=f"segments.{segment_id}.rule")
        await store.put_segment(segment_id, segment.model_dump_json(exclude_none=True).encode())
    segment_ids = {s.segment_id for s in scenario.segments}
    for offer_id, offer in scenario.catalog_offers().items():
        validate_offer(offer, segment_ids, fields)
        await store.put_offer(offer_id, offer.model_dump_json().encode())
    spec = scenario.feature_spec(version=1)
    validate_spec(spec, ATTRIBUTE_TYPES, segment_ids)
    await store.put_feature_spec(spec.model_dump_json().encode())
    now = population.now
    today = day_number(now)
    for start in range(0, len(population.customers), 500):
        chunk = population.customers[start : start + 500]
        await store.upsert_attributes_many(
            [
                (
                    c.customer_id,
                    {k: orjson.dumps(v).decode() for k, v in c.attributes.items()},
                    int(c.signed_up_at),
                )
                for c in chunk
            ]
        )
        await store.record_activities_many(
            [(c.customer_id, [encode_activity(a, now) for a in c.activities]) for c in chunk],
            today,
        )


async def run_in_process(
    population: Population,
    requests: Requests,
    options: SimulationOptions,
    settings: Settings,
    url: str,
    policy: Mapping[str, Any],
    console: Console,
    flush: bool = False,
) -> Trace:
    """Decide, respond and learn in this process, on simulated time.

    After every ``learn_every`` decisions the clock jumps past the attribution window, the
    learner's sweep closes the windows (unclicked offers are taught reward 0) and the learner
    drains the reward stream, so learning keeps up with deciding as a healthy deployment would.
    A new :class:`ModelRegistry` then loads the latest snapshot synchronously: the production
    registry swaps snapshots in a background task, whose timing would make runs irreproducible.
    """
    from engine.catalog.cache import CatalogCache
    from engine.decision.engine import DecisionEngine, DecisionRequest
    from engine.feedback.events import EventRequest, EventService
    from engine.learning.learner import Learner
    from engine.learning.policies import PolicyConfig
    from engine.learning.registry import ModelRegistry

    config = PolicyConfig.model_validate(dict(policy))
    settings = settings.model_copy(
        update={
            "attribution_windows": dict.fromkeys(CHANNELS, options.attribution_seconds),
            "policy": config.model_dump(),
            "learner": "off",
            # a batch run is not latency bound: a slow moment must not turn into fallbacks
            "redis_timeout_ms": max(settings.redis_timeout_ms, 5000),
        }
    )
    store = RedisStore.from_settings(settings, url)
    trace = Trace.empty(len(requests))
    offer_index = {offer_id: j for j, offer_id in enumerate(population.offer_ids)}
    try:
        await _refuse_unless_empty(store, flush, console)
        console.print(f"loading {len(population.customers):,} customers and the catalog")
        await _load_world(store, population)
        clock = SimClock(population.now)
        loop_store = store  # one adapter serves every port
        catalog = CatalogCache(store)
        rng = np.random.default_rng([options.seed, 2])
        events = EventService(loop_store, settings, clock=clock)
        learner = Learner(store, settings, config, name="simulator", clock=clock)

        def new_engine() -> DecisionEngine:
            models = ModelRegistry(loop_store, config)
            return DecisionEngine(loop_store, catalog, models, settings, clock=clock, rng=rng)

        async def learn() -> None:
            clock.advance(options.attribution_seconds + 1)
            for scope in await learner.scopes():
                while await learner.sweep(scope):
                    pass
                while await learner.step(scope, block_ms=0):
                    pass

        engine = new_engine()
        reporter = _Reporter(console, requests, trace, options)
        started = time.perf_counter()
        with reporter.progress:
            for i in range(len(requests)):
                clock.advance(options.seconds_per_decision)
                customer = population.customers[int(requests.customer[i])]
                decision = await engine.decide(
                    DecisionRequest(
                        customer_id=customer.customer_id,
                        channel=requests.channel[i],
                        placement=PLACEMENT,
                        context=requests.context[i],
                        limit=1,
                    )
                )
                body = decision.body
                offer_id = _record(trace, requests, i, body, offer_index)
                if offer_id is not None:
                    kinds: list[EventType] = (
                        ["impression", "click"] if trace.clicked[i] else ["impression"]
                    )
                    for kind in kinds:
                        await events.record(
                            EventRequest(
                                event_id=f"e-{i}-{kind}",
                                decision_id=body["decision_id"],
                                offer_id=offer_id,
                                type=kind,
                            )
                        )
                if (i + 1) % options.learn_every == 0:
                    await learn()
                    engine = new_engine()
                reporter.advance()
        await learn()
        trace.seconds = time.perf_counter() - started
        trace.model_version = max((await store.model_versions()).values(), default=0)
        trace.policy = config.name
    finally:
        await store.close()
    return trace


async def run_http(
    population: Population,
    requests: Requests,
    options: SimulationOptions,
    url: str,
    key: str,
    console: Console,
) -> Trace:
    """The same run against a server: setup through the API, ``concurrency`` requests in flight.

    The server's learner (its process, under `nbo serve`) does the learning, on the server's
    attribution windows: an
    unclicked offer is learned only when its window closes, so start the server with short ones
    (``NBO_ATTRIBUTION_WINDOWS``, e.g. 2 s per channel: events follow decisions within
    milliseconds here) or it is learned an hour late. The key must be an admin key (it writes
    the feature spec). Only a fresh server is accepted: offers, models or an earlier run's
    customers would mix into the measurement.
    """
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - httpx ships with the test extra
        raise NboError("the HTTP mode needs httpx: pip install httpx") from exc

    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    trace = Trace.empty(len(requests))
    offer_index = {offer_id: j for j, offer_id in enumerate(population.offer_ids)}
    scenario = population.scenario
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=httpx.Timeout(30.0),
    ) as client:

        async def call(method: str, path: str, body: Any = None) -> Any:
            response = await client.request(method, path, json=body)
            if response.status_code >= 400:
                raise NboError(
                    f"{method} {path} answered {response.status_code}: {response.text[:300]}"
                )
            return response.json() if response.content else None

        async def gather(jobs: Sequence[Callable[[], Awaitable[Any]]]) -> None:
            queue = iter(jobs)

            async def worker() -> None:
                for job in queue:
                    await job()

            await asyncio.gather(*(worker() for _ in range(options.concurrency)))

        ready = await client.get("/readyz")
        if ready.status_code != 200:
            raise NboError(f"{url} is not ready: GET /readyz answered {ready.status_code}")
        offers = await call("GET", "/v1/offers?limit=1")
        models = await call("GET", "/v1/models")
        first = await call("GET", f"/v1/customers/{population.customers[0].customer_id}")
        if offers["total"] or any(m["version"] > 0 for m in models) or first["known"]:
            raise StoreNotEmpty(
                f"the server at {url} already holds offers, trained models or simulated "
                "customers; the simulation needs a fresh one (start `nbo serve` with "
                "NBO_DATA_DIR on an empty directory)"
            )
        console.print(f"loading {len(population.customers):,} customers and the catalog over HTTP")

        def put_customer(c: SimulatedCustomer) -> Callable[[], Awaitable[Any]]:
            async def job() -> None:
                await call("PUT", f"/v1/customers/{c.customer_id}", {"attributes": c.attributes})
                for start in range(0, len(c.activities), 500):
                    batch = [
                        a.model_dump(mode="json", exclude_none=True)
                        for a in c.activities[start : start + 500]
                    ]
                    await call(
                        "POST",
                        f"/v1/customers/{c.customer_id}/activities:batch",
                        {"activities": batch},
                    )

            return job

        await gather([put_customer(c) for c in population.customers])
        for s in scenario.segments:
            await call("PUT", f"/v1/segments/{s.segment_id}", {"name": s.name, "rule": s.rule})
        for offer_id, offer in scenario.catalog_offers().items():
            await call("PUT", f"/v1/offers/{offer_id}", offer.model_dump(mode="json"))
        spec = scenario.feature_spec().model_dump(mode="json")
        await call("PUT", "/v1/feature-spec", spec)

        reporter = _Reporter(console, requests, trace, options)
        indices = iter(range(len(requests)))
        started = time.perf_counter()

        async def decide_worker() -> None:
            for i in indices:
                customer = population.customers[int(requests.customer[i])]
                try:
                    body = await call(
                        "POST",
                        "/v1/decisions",
                        {
                            "customer_id": customer.customer_id,
                            "channel": requests.channel[i],
                            "placement": PLACEMENT,
                            "context": requests.context[i],
                            "limit": 1,
                        },
                    )
                    offer_id = _record(trace, requests, i, body, offer_index)
                    if offer_id is not None:
                        kinds: list[EventType] = (
                            ["impression", "click"] if trace.clicked[i] else ["impression"]
                        )
                        batch = [
                            {
                                "event_id": f"e-{i}-{kind}",
                                "decision_id": body["decision_id"],
                                "offer_id": offer_id,
                                "type": kind,
                            }
                            for kind in kinds
                        ]
                        await call("POST", "/v1/events:batch", {"events": batch})
                except (NboError, httpx.HTTPError) as exc:
                    trace.errors += 1
                    if trace.errors > max(10, len(requests) // 100):
                        raise NboError(f"too many failed requests; last: {exc}") from exc
                reporter.advance()

        with reporter.progress:
            await asyncio.gather(*(decide_worker() for _ in range(options.concurrency)))
        trace.seconds = time.perf_counter() - started
        models = await call("GET", "/v1/models")
        trace.model_version = max((m["version"] for m in models), default=0)
    return trace


# --- Results --------------------------------------------------------------------------------


def _random_rates(rates: FloatArray) -> FloatArray:
    """Expected reward of a uniform choice among eligible offers; 0 when none is eligible."""
    eligible = ~np.isnan(rates)
    count = eligible.sum(axis=1)
    total = np.where(eligible, rates, 0.0).sum(axis=1)
    out: FloatArray = np.divide(total, count, out=np.zeros(len(rates)), where=count > 0)
    return out


def _oracle_rates(rates: FloatArray) -> FloatArray:
    out: FloatArray = np.where(np.isnan(rates), -np.inf, rates).max(axis=1, initial=0.0)
    return out


def _served_rates(rates: FloatArray, served: IntArray) -> FloatArray:
    picked = rates[np.arange(len(served)), np.maximum(served, 0)]
    out: FloatArray = np.where(served >= 0, np.nan_to_num(picked), 0.0)
    return out


@dataclass(frozen=True)
class SimulationResult:
    """The JSON summary (``summary``) and the per-window series the chart draws."""

    summary: dict[str, Any]
    windows: list[dict[str, float]] = field(default_factory=list)


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.nan


def summarize(
    population: Population,
    requests: Requests,
    trace: Trace,
    options: SimulationOptions,
    mode: Mode,
    extra: Mapping[str, Any] | None = None,
) -> SimulationResult:
    """Reward rates overall and per window; the acceptance check is on expected rates."""
    n = len(requests)
    rates = requests.rates
    random_ = _random_rates(rates)
    oracle = _oracle_rates(rates)
    expected = _served_rates(rates, trace.served)
    clicked = trace.clicked.astype(float)
    # best single offer: always that offer where eligible, a random eligible one elsewhere
    static = np.where(np.isnan(rates), random_[:, np.newaxis], rates).mean(axis=0)
    best = int(np.argmax(static))
    windows = []
    for start in range(0, n, options.window):
        stop = min(start + options.window, n)
        windows.append(
            {
                "start": start,
                "end": stop,
                "bandit": float(clicked[start:stop].mean()),
                "bandit_expected": float(expected[start:stop].mean()),
                "random": float(random_[start:stop].mean()),
                "oracle": float(oracle[start:stop].mean()),
                "best_static": float(
                    np.where(
                        np.isnan(rates[start:stop, best]),
                        random_[start:stop],
                        rates[start:stop, best],
                    ).mean()
                ),
                "explored": float(trace.explored[start:stop].mean()),
            }
        )
    last = windows[-1]

    def block(
        bandit: float,
        bandit_expected: float,
        random_rate: float,
        oracle_rate: float,
        static_rate: float,
    ) -> dict[str, float]:
        return {
            "bandit": round(bandit, 5),
            "bandit_expected": round(bandit_expected, 5),
            "random": round(random_rate, 5),
            "oracle": round(oracle_rate, 5),
            "best_static": round(static_rate, 5),
            "bandit_to_oracle": round(_ratio(bandit, oracle_rate), 4),
            "bandit_to_random": round(_ratio(bandit, random_rate), 4),
            "bandit_expected_to_oracle": round(_ratio(bandit_expected, oracle_rate), 4),
            "bandit_expected_to_random": round(_ratio(bandit_expected, random_rate), 4),
            "bandit_to_best_static": round(_ratio(bandit, static_rate), 4),
        }

    overall = block(
        float(clicked.mean()),
        float(expected.mean()),
        float(random_.mean()),
        float(oracle.mean()),
        float(static[best]),
    )
    last_window = block(
        last["bandit"],
        last["bandit_expected"],
        last["random"],
        last["oracle"],
        last["best_static"],
    )

    def meets(b: Mapping[str, float], measure: str = "bandit") -> bool:
        return (
            b[f"{measure}_to_oracle"] >= TARGET_TO_ORACLE
            and b[f"{measure}_to_random"] >= TARGET_TO_RANDOM
        )

    scenario = population.scenario
    summary: dict[str, Any] = {
        "mode": mode,
        "decisions": n,
        "seconds": round(trace.seconds, 2),
        "decisions_per_second": round(n / trace.seconds, 1) if trace.seconds else None,
        "policy": trace.policy,
        "model_version": trace.model_version,
        "window": options.window,
        "overall": overall,
        "last_window": {"start": last["start"], "end": last["end"], **last_window},
        "best_static_offer": population.offer_ids[best],
        "acceptance": {
            "target_to_oracle": TARGET_TO_ORACLE,
            "target_to_random": TARGET_TO_RANDOM,
            # the true rates of the offers each policy chose, on the same requests: the one
            # measure random and the oracle have, free of the bandit's click noise (about
            # +-6% of the oracle's rate over a 1,000-decision window)
            "measured_on": "expected rates of the chosen offers (bandit, random, oracle)",
            "overall": meets(overall, "bandit_expected"),
            "last_window": meets(last_window, "bandit_expected"),
            "overall_realised": meets(overall),
            "last_window_realised": meets(last_window),
        },
        "explored_share": round(float(trace.explored.mean()), 4),
        "no_offer": int((trace.served < 0).sum()),
        "unexpected_offers": trace.unexpected,
        "errors": trace.errors,
        "fallbacks": trace.fallbacks,
        "settings": {
            "seed": options.seed,
            "customers": scenario.customers,
            "offers": len(scenario.offers),
            "personas": [p.name for p in scenario.personas],
            "scenario": scenario.fingerprint(),
            **options.model_dump(exclude=_NOT_IN_MODE[mode]),
            **(extra or {}),
        },
        "windows": [
            {k: round(v, 5) if isinstance(v, float) else v for k, v in w.items()} for w in windows
        ],
    }
    return SimulationResult(summary, windows)


def write_chart(result: SimulationResult, path: Path) -> None:
    """Reward rate per window: bandit (clicks and expected), random, oracle, best static offer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ends = [w["end"] for w in result.windows]
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    series = (
        ("oracle", "oracle (best eligible offer)", "tab:green", "-"),
        ("bandit", "bandit (realised clicks)", "tab:blue", "-"),
        ("bandit_expected", "bandit (true rate of served offer)", "tab:blue", ":"),
        ("best_static", "best single offer", "tab:orange", "--"),
        ("random", "random eligible offer", "tab:gray", "-"),
    )
    for key, label, color, style in series:
        ax.plot(
            ends,
            [w[key] for w in result.windows],
            style,
            color=color,
            label=label,
            marker="o" if style == "-" else None,
            markersize=3,
        )
    summary = result.summary
    ax.set_title(
        f"{summary['policy']} ({summary['mode']}): {summary['decisions']:,} decisions, "
        f"windows of {summary['window']:,}"
    )
    ax.set_xlabel("decisions")
    ax.set_ylabel("reward rate (clicks per decision)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)


def write_outputs(result: SimulationResult, out: Path) -> tuple[Path, Path]:
    """``summary.json`` and ``reward_rate.png`` in the directory ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    chart_path = out / "reward_rate.png"
    summary_path.write_bytes(
        orjson.dumps(result.summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    write_chart(result, chart_path)
    return summary_path, chart_path


def print_report(result: SimulationResult, console: Console) -> None:
    """The reward rate over time and the verdict, as a table."""
    from rich.table import Table

    summary = result.summary
    table = Table(
        title=f"reward rate per {summary['window']:,} decisions ({summary['mode']})",
        title_justify="left",
    )
    for header in (
        "decisions",
        "bandit",
        "bandit (expected)",
        "random",
        "best offer",
        "oracle",
        "bandit/oracle",
        "bandit/random",
    ):
        table.add_column(header, justify="right")
    for w in result.windows:
        table.add_row(
            f"{w['start']:,}-{w['end']:,}",
            f"{w['bandit']:.3f}",
            f"{w['bandit_expected']:.3f}",
            f"{w['random']:.3f}",
            f"{w['best_static']:.3f}",
            f"{w['oracle']:.3f}",
            f"{_ratio(w['bandit'], w['oracle']):.2f}",
            f"{_ratio(w['bandit'], w['random']):.2f}",
        )
    console.print(table)
    for name in ("overall", "last_window"):
        b = summary[name]
        verdict = "meets" if summary["acceptance"][name] else "misses"
        console.print(
            f"{name:>11}: bandit {b['bandit_expected']:.4f} (realised clicks "
            f"{b['bandit']:.4f}), random {b['random']:.4f}, oracle {b['oracle']:.4f}: "
            f"{b['bandit_expected_to_oracle']:.1%} of oracle (realised "
            f"{b['bandit_to_oracle']:.1%}), {b['bandit_expected_to_random']:.2f}x random "
            f"-> {verdict} >= {TARGET_TO_ORACLE:.0%} of oracle and >= {TARGET_TO_RANDOM}x random"
        )
    console.print(
        f"policy {summary['policy']}, model v{summary['model_version']}, "
        f"{summary['decisions']:,} decisions in {summary['seconds']:.1f}s; "
        f"best single offer {summary['best_static_offer']}; "
        f"unexpected offers {summary['unexpected_offers']}, errors {summary['errors']}, "
        f"fallbacks {summary['fallbacks']}"
    )
