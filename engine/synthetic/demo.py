"""A realistic demo: catalog, rule segments and synthetic customers, loaded in seconds.

The demo exists so that a fresh install shows something worth looking at: every segment has
members, every channel has offers, eligibility has reasons to explain, and learned segmentation
finds structure. Customers therefore come from distinct personas (app-first, store-first,
web shoppers, high spenders, lapsing, support-heavy, dormant, new, casual) rather than from one
distribution.

Offers and segments are validated as ``PUT /v1/offers`` and ``PUT /v1/segments`` would validate
them. Customers come from :mod:`engine.synthetic.population` as columns, and the store's bulk
loader (:mod:`engine.store.bulk`) writes exactly what the engine's own scripts would store, so
a million of them load in well under two minutes on two cores (``bench/scale.py`` measures
it). Generation is deterministic in (seed, customer index, now): customer ``c-42`` looks the
same whatever the population size. Load tests need a bigger catalog than the hand-written one,
so ``offers`` adds generated offers that look and behave like real ones (creatives, values,
targeting, caps).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.config import Settings
from engine.domain.catalog import (
    Budget,
    Creative,
    Offer,
    OfferEligibility,
    field_types,
    validate_offer,
)
from engine.domain.channels import CHANNELS, Channel
from engine.domain.contacts import Caps
from engine.domain.profiles import SECONDS_PER_DAY
from engine.domain.rules import parse_rule
from engine.domain.segments import StoredSegment
from engine.domain.vectoriser import FeatureSpec, validate_spec
from engine.errors import ValidationFailed
from engine.store.bulk import BulkWriter, encode_customers
from engine.store.redis import RedisStore
from engine.synthetic.demo_experiment import run_demo_experiment
from engine.synthetic.population import (
    BLOCK,
    DemoCustomer,
    generate_customer,
    generate_population,
    stored_columns,
)

__all__ = [
    "ATTRIBUTE_TYPES",
    "GENERATED_PREFIX",
    "HANDWRITTEN_ACTIVE_OFFERS",
    "DemoConfig",
    "DemoCustomer",
    "DemoSummary",
    "demo_catalog",
    "demo_offers",
    "demo_segments",
    "generate_customer",
    "generated_offers",
    "load_demo",
]


# Active offers of the hand-written catalog; it also holds one paused offer.
HANDWRITTEN_ACTIVE_OFFERS = 15
GENERATED_PREFIX = "o-gen-"


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 10_000
    seed: int = 7
    chunk: int = 8 * BLOCK  # customers per pipelined write (a multiple of the random block)
    history_days: int = 120  # longer than the 90-day window, so dormancy and lifetimes show
    experiment_decisions: int = 15_000  # demo experiment traffic (capped at 2 x customers)
    offers: int = HANDWRITTEN_ACTIVE_OFFERS  # active offers; beyond the hand-written, generated

    def __post_init__(self) -> None:
        if self.customers < 0 or self.chunk < 1 or self.history_days < 1:
            raise ValueError("customers must be >= 0, chunk and history_days >= 1")
        if self.offers < HANDWRITTEN_ACTIVE_OFFERS:
            raise ValueError(f"offers must be >= {HANDWRITTEN_ACTIVE_OFFERS} (the hand-written)")


@dataclass(frozen=True)
class DemoSummary:
    offers: int
    segments: int
    customers: int
    seconds: float
    skipped: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # seconds: catalog, customers, ...


ATTRIBUTE_TYPES: dict[str, str] = {
    "country": "string",
    "preferred_language": "string",
    "tier": "string",
    "age": "number",
    "email_opt_in": "boolean",
    "sms_opt_in": "boolean",
    "push_opt_in": "boolean",
    "loyalty_member": "boolean",
}

# Chosen from the generated population (seed 7, 10,000 customers): about 12% qualify.
HIGH_VALUE_REVENUE_90D = 350


def demo_segments() -> dict[str, StoredSegment]:
    """The rule segments offers target; rules follow the missing-value semantics of rules.py."""
    rules: dict[str, tuple[str, str, dict[str, Any]]] = {
        "new": (
            "New customers",
            "First seen less than 30 days ago.",
            {"all": [{"field": "tenure_days", "op": "lt", "value": 30}]},
        ),
        "dormant_90d": (
            "Dormant 90 days",
            "No activity for 90 days or more. Customers with no recorded activity at all "
            "count only once known for 90 days: a sign-up from last week is new, not dormant.",
            {
                "any": [
                    {"field": "days_since_last_activity", "op": "gte", "value": 90},
                    {
                        "all": [
                            {"field": "days_since_last_activity", "op": "exists", "value": False},
                            {"field": "tenure_days", "op": "gte", "value": 90},
                        ]
                    },
                ]
            },
        ),
        "high_value": (
            "High value",
            f"Spent at least {HIGH_VALUE_REVENUE_90D} in the last 90 days.",
            {"all": [{"field": "revenue_90d", "op": "gte", "value": HIGH_VALUE_REVENUE_90D}]},
        ),
        "at_risk": (
            "At risk",
            "Valuable customers whose purchases have lapsed while they are still around, "
            "or anyone contacting support often.",
            {
                "any": [
                    {
                        "all": [
                            {"field": "lifetime_revenue", "op": "gte", "value": 150},
                            {
                                "field": "days_since_last_purchase",
                                "op": "between",
                                "value": [45, 89],
                            },
                            {"field": "days_since_last_activity", "op": "lt", "value": 90},
                        ]
                    },
                    {"field": "support_contacts_30d", "op": "gte", "value": 3},
                ]
            },
        ),
        "app_first": (
            "App first",
            "Mostly engages through the mobile app.",
            {
                "all": [
                    {"field": "engagement_mobile_app_30d", "op": "gte", "value": 6},
                    {"field": "engagement_web_30d", "op": "lte", "value": 4},
                ]
            },
        ),
        "store_first": (
            "Store first",
            "Shops in store and rarely online.",
            {
                "all": [
                    {"field": "engagement_in_store_30d", "op": "gte", "value": 2},
                    {"field": "engagement_web_30d", "op": "lte", "value": 2},
                    {"field": "engagement_mobile_app_30d", "op": "lte", "value": 2},
                ]
            },
        ),
    }
    return {
        sid: StoredSegment(name=name, description=description, kind="rule", rule=rule)
        for sid, (name, description, rule) in rules.items()
    }


def _creatives(
    title: str, body: str, cta: str, path: str, channels: Sequence[Channel], script: str = ""
) -> dict[Channel, Creative]:
    """One message adapted to each channel's format (subject lines, SMS length, scripts)."""
    url = f"https://shop.example.com{path}"
    out: dict[Channel, Creative] = {}
    for channel in channels:
        if channel == "web":
            out[channel] = Creative(
                title=title, body=body, cta=cta, url=url, image_url=f"{url}/hero.jpg"
            )
        elif channel == "mobile_app":
            out[channel] = Creative(title=title, body=body, cta=cta, url=f"shopapp:/{path}")
        elif channel == "email":
            out[channel] = Creative(subject=title, body=body, cta=cta, url=f"{url}?utm=email")
        elif channel == "push":
            out[channel] = Creative(title=title, body=body[:120], url=f"shopapp:/{path}")
        elif channel == "sms":
            out[channel] = Creative(body=f"{title}: {cta} {url}?utm=sms"[:160])
        elif channel == "call_center":
            out[channel] = Creative(
                title=title, script=script or f"Mention: {body} Offer to {cta.lower()} now."
            )
        elif channel == "in_store":
            out[channel] = Creative(title=title, body=f"{body} Ask at the till.")
        else:
            out[channel] = Creative(
                title=title, body=body, url=f"{url}?utm=social", image_url=f"{url}/square.jpg"
            )
    return out


def demo_offers(now: float) -> dict[str, Offer]:
    """Retail and telco offers covering every channel, cap style, budget and rule kind."""

    def at(days: float) -> datetime:
        return datetime.fromtimestamp(now + days * SECONDS_PER_DAY, tz=UTC)

    offers = {
        "o-welcome-10": Offer(
            name="Welcome: 10% off your first order",
            description="Converts new sign-ups before their interest fades.",
            channels=_creatives(
                "10% off your first order",
                "Welcome! Take 10% off anything in your first order.",
                "Shop now",
                "/welcome",
                ["web", "mobile_app", "email", "push"],
            ),
            eligibility=OfferEligibility(segments_any=["new"]),
            value=8.0,
            weight=1.2,
            caps=Caps(per_day=1, per_week=3, lifetime=6),
            tags=["acquisition", "discount"],
        ),
        "o-winback-20": Offer(
            name="We miss you: 20% off",
            description="Win-back for customers gone quiet for three months.",
            channels=_creatives(
                "We miss you: 20% off",
                "It has been a while. Here is 20% off to welcome you back.",
                "Come back",
                "/winback",
                ["email", "sms", "push", "social"],
            ),
            eligibility=OfferEligibility(segments_any=["dormant_90d"]),
            value=15.0,
            weight=1.0,
            caps=Caps(per_week=2, lifetime=4, cooldown_after_dismiss_hours=168),
            budget=Budget(conversions=2000),
            tags=["retention", "discount"],
        ),
        "o-vip-early-access": Offer(
            name="VIP early access to the new season",
            description="Rewards the best customers; no discount needed.",
            channels=_creatives(
                "Early access: new season",
                "Shop the new collection 48 hours before everyone else.",
                "Get early access",
                "/vip/new-season",
                ["web", "mobile_app", "email", "in_store"],
            ),
            eligibility=OfferEligibility(
                segments_any=["high_value"],
                rules=[{"field": "tier", "op": "in", "value": ["silver", "gold", "platinum"]}],
            ),
            value=40.0,
            weight=1.5,
            caps=Caps(per_week=2, lifetime=5),
            tags=["loyalty"],
        ),
        "o-free-shipping": Offer(
            name="Free shipping over 50",
            channels=_creatives(
                "Free shipping over 50",
                "Orders over 50 ship free this week.",
                "Start shopping",
                "/free-shipping",
                ["web", "mobile_app", "email", "social"],
            ),
            eligibility=OfferEligibility(segments_none=["dormant_90d"]),
            value=6.0,
            weight=0.8,
            caps=Caps(per_day=2, per_week=5),
            tags=["conversion"],
        ),
        "o-app-download": Offer(
            name="Get the app: 500 bonus points",
            description="Moves web and store customers to the app, where they buy more often.",
            channels=_creatives(
                "500 points for getting the app",
                "Download our app and get 500 bonus points on your first login.",
                "Get the app",
                "/app",
                ["web", "email", "sms", "in_store", "social"],
            ),
            eligibility=OfferEligibility(
                segments_none=["app_first"],
                rules=[{"field": "engagement_mobile_app_30d", "op": "lt", "value": 1}],
            ),
            value=5.0,
            weight=1.0,
            caps=Caps(per_week=1, lifetime=3, cooldown_after_dismiss_hours=336),
            tags=["channel-shift"],
        ),
        "o-app-flash-deal": Offer(
            name="App-only flash deal",
            channels=_creatives(
                "Flash deal: 3 hours only",
                "Today's app-only deal: up to 40% off selected items.",
                "See the deal",
                "/app/flash",
                ["mobile_app", "push"],
            ),
            eligibility=OfferEligibility(
                segments_any=["app_first"],
                rules=[{"field": "push_opt_in", "op": "eq", "value": True}],
            ),
            value=12.0,
            weight=1.1,
            caps=Caps(per_day=1, per_week=4),
            tags=["discount", "app"],
        ),
        "o-click-collect": Offer(
            name="Click & collect: 5 off in-store pickup",
            channels=_creatives(
                "5 off when you collect in store",
                "Order online, pick up in store within 2 hours and save 5.",
                "Order for pickup",
                "/click-collect",
                ["web", "mobile_app", "in_store"],
            ),
            eligibility=OfferEligibility(segments_any=["store_first"]),
            value=6.0,
            weight=1.0,
            caps=Caps(per_day=1, per_week=3),
            tags=["omnichannel"],
        ),
        "o-loyalty-join": Offer(
            name="Join rewards: double points for a month",
            channels=_creatives(
                "Double points when you join",
                "Join our rewards programme today and earn double points for 30 days.",
                "Join free",
                "/rewards",
                ["web", "in_store", "call_center", "email"],
                script="Ask whether they know our rewards programme; joining is free and "
                "earns double points for 30 days. Offer to sign them up on the call.",
            ),
            eligibility=OfferEligibility(
                rules=[{"field": "loyalty_member", "op": "eq", "value": False}]
            ),
            value=10.0,
            weight=1.0,
            caps=Caps(per_week=2, lifetime=6),
            tags=["loyalty"],
        ),
        "o-phone-upgrade": Offer(
            name="Upgrade your phone from 0 down",
            description="Handset upgrade for established customers; budget-limited subsidy.",
            channels=_creatives(
                "Upgrade from 0 down",
                "Get the latest phone for 0 upfront on a 24-month plan.",
                "Check my upgrade",
                "/mobile/upgrade",
                ["call_center", "in_store", "web", "sms"],
                script="The customer is eligible for a handset upgrade with nothing to pay "
                "upfront. Check their current plan and offer the 24-month upgrade.",
            ),
            eligibility=OfferEligibility(
                rules=[
                    {"field": "tenure_days", "op": "gte", "value": 180},
                    {"field": "age", "op": "gte", "value": 18},
                ]
            ),
            value=120.0,
            weight=0.8,
            caps=Caps(per_week=1, lifetime=3, cooldown_after_dismiss_hours=336),
            budget=Budget(conversions=500),
            tags=["telco", "upsell"],
        ),
        "o-retention-plan": Offer(
            name="Loyalty discount on your plan",
            description="Retention offer for at-risk customers; a person explains it best.",
            channels=_creatives(
                "A thank-you discount on your plan",
                "As a valued customer, take 15% off your plan for 12 months.",
                "Claim discount",
                "/plan/loyalty",
                ["call_center", "email", "sms"],
                script="Thank the customer for staying with us, acknowledge any recent "
                "issue, and offer 15% off their plan for 12 months.",
            ),
            eligibility=OfferEligibility(segments_any=["at_risk"]),
            value=60.0,
            weight=1.3,
            caps=Caps(per_week=1, lifetime=2, cooldown_after_dismiss_hours=720),
            tags=["retention", "telco"],
        ),
        "o-refer-friend": Offer(
            name="Refer a friend: 15 each",
            channels=_creatives(
                "Give 15, get 15",
                "Invite a friend: they get 15 off their first order and you get 15 credit.",
                "Invite friends",
                "/refer",
                ["social", "email", "push", "mobile_app"],
            ),
            eligibility=OfferEligibility(
                rules=[{"field": "lifetime_purchases", "op": "gte", "value": 2}]
            ),
            value=20.0,
            weight=1.0,
            caps=Caps(per_week=1, lifetime=4),
            tags=["acquisition", "referral"],
        ),
        "o-home-bundle": Offer(
            name="Home broadband + mobile bundle",
            channels=_creatives(
                "Save 10 a month with a bundle",
                "Add home broadband to your mobile plan and save 10 every month.",
                "Build my bundle",
                "/bundles/home",
                ["web", "call_center", "email", "social"],
            ),
            eligibility=OfferEligibility(
                segments_none=["dormant_90d"],
                rules=[{"field": "country", "op": "in", "value": ["DE", "NL", "GB"]}],
            ),
            value=45.0,
            weight=1.0,
            caps=Caps(per_week=1, lifetime=4, cooldown_after_dismiss_hours=168),
            tags=["telco", "cross-sell"],
        ),
        "o-student-plan": Offer(
            name="Student plan: 30% off",
            channels=_creatives(
                "30% off for students",
                "Verify your student status and get 30% off for a year.",
                "Verify now",
                "/student",
                ["social", "mobile_app", "web", "sms"],
            ),
            eligibility=OfferEligibility(rules=[{"field": "age", "op": "lt", "value": 26}]),
            value=18.0,
            weight=1.0,
            caps=Caps(per_week=2, lifetime=6),
            tags=["acquisition", "youth"],
        ),
        "o-black-friday": Offer(
            name="Black Friday preview",
            description="Scheduled: live for a month from two days before the load.",
            channels=_creatives(
                "Black Friday starts early",
                "Members get Black Friday prices a week early.",
                "Preview deals",
                "/black-friday",
                ["web", "mobile_app", "email", "push", "social", "in_store"],
            ),
            start_at=at(-2),
            end_at=at(28),
            value=25.0,
            weight=1.4,
            caps=Caps(per_day=1, per_week=4),
            budget=Budget(impressions=200_000),
            tags=["seasonal"],
        ),
        "o-order-tracking": Offer(
            name="Track your order in the app",
            description="A service message with no targeting, caps or budget: what a decision "
            "made while the store is unreachable may serve, on every channel.",
            channels=_creatives(
                "Track your order",
                "See where your order is and change delivery in a few taps.",
                "Track it",
                "/orders",
                [cast(Channel, channel) for channel in CHANNELS],
                script="Offer to send the order tracking link by text or email.",
            ),
            value=1.0,
            weight=0.5,
            tags=["service"],
        ),
        "o-summer-clearance": Offer(
            name="Summer clearance: up to 50% off",
            description="Paused until the next clearance.",
            status="paused",
            channels=_creatives(
                "Summer clearance: up to 50% off",
                "Last chance on summer lines: up to 50% off while stocks last.",
                "Shop the sale",
                "/sale/summer",
                ["web", "email", "sms", "social"],
            ),
            value=10.0,
            weight=1.0,
            caps=Caps(per_day=1, per_week=3),
            tags=["seasonal", "discount"],
        ),
    }
    return offers


# --- Generated offers ---------------------------------------------------------------------

# (category, path) and (title, body, call to action, tag) templates; {cat}, {pct}, {amount}
# and {points} are filled per offer.
_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("running shoes", "/sport/running"),
    ("kitchenware", "/home/kitchen"),
    ("headphones", "/tech/audio"),
    ("kids' clothing", "/kids/clothing"),
    ("garden furniture", "/garden/furniture"),
    ("skincare", "/beauty/skincare"),
    ("coffee machines", "/home/coffee"),
    ("smart watches", "/tech/wearables"),
    ("bedding", "/home/bedding"),
    ("board games", "/toys/games"),
    ("pet food", "/pets/food"),
    ("outdoor jackets", "/outdoor/jackets"),
    ("mobile data add-ons", "/mobile/data"),
    ("fibre broadband", "/broadband/fibre"),
    ("streaming bundles", "/tv/streaming"),
    ("home insurance", "/insurance/home"),
    ("laptops", "/tech/laptops"),
    ("vitamins", "/health/vitamins"),
    ("cookware sets", "/home/cookware"),
    ("travel luggage", "/travel/luggage"),
)
_MECHANICS: tuple[tuple[str, str, str, str], ...] = (
    ("{pct}% off {cat}", "Take {pct}% off {cat} this week only.", "Shop now", "discount"),
    (
        "Second one half price: {cat}",
        "Mix and match {cat}: the second item is half price.",
        "See the range",
        "discount",
    ),
    (
        "Free gift with {cat}",
        "Spend {amount} on {cat} and we add a free gift to your order.",
        "Claim the gift",
        "gift",
    ),
    (
        "{points} bonus points on {cat}",
        "Earn {points} extra loyalty points when you buy {cat}.",
        "Earn points",
        "loyalty",
    ),
    ("New in: {cat}", "Discover this season's {cat}, picked for you.", "Discover", "awareness"),
    (
        "Bundle and save on {cat}",
        "Add {cat} to what you already have and save {amount} a month.",
        "Build my bundle",
        "cross-sell",
    ),
)
# Targeting of generated offers; most stay broad so a decision has many offers to score.
_GENERATED_RULES: tuple[dict[str, Any], ...] = (
    {"field": "email_opt_in", "op": "eq", "value": True},
    {"field": "age", "op": "gte", "value": 25},
    {"field": "country", "op": "in", "value": ["DE", "FR", "GB"]},
    {"field": "visits_30d", "op": "gte", "value": 1},
    {"field": "tier", "op": "in", "value": ["silver", "gold", "platinum"]},
    {"field": "lifetime_purchases", "op": "gte", "value": 1},
    {"field": "days_since_last_activity", "op": "lt", "value": 60},
)
_OFFER_STREAM = 1 << 40  # random stream of the offers, apart from the customer blocks


def generated_offers(count: int, seed: int, now: float) -> dict[str, Offer]:
    """``count`` plausible active offers, a function of (count, seed, now).

    Offer k's first channel is the k-th channel in turn, so every channel gets its share; one
    to three more channels are drawn. A third are untargeted, the rest target a segment, avoid
    the dormant or carry a broad rule; most have caps, a few a budget or a date window.
    """
    rng = np.random.default_rng([seed, _OFFER_STREAM])
    segment_ids = sorted(demo_segments())
    offers: dict[str, Offer] = {}
    for k in range(count):
        category, path = _CATEGORIES[int(rng.integers(len(_CATEGORIES)))]
        title, body, cta, tag = _MECHANICS[int(rng.integers(len(_MECHANICS)))]
        words = {
            "cat": category,
            "pct": int(rng.choice([10, 15, 20, 25, 30])),
            "amount": int(rng.choice([5, 10, 20, 50])),
            "points": int(rng.choice([100, 250, 500, 1000])),
        }
        first = CHANNELS[k % len(CHANNELS)]
        others = [c for c in CHANNELS if c != first]
        extra = rng.choice(len(others), size=int(rng.integers(1, 4)), replace=False)
        channels = [cast(Channel, c) for c in (first, *(others[int(i)] for i in sorted(extra)))]
        targeting = rng.random()
        if targeting < 0.35:
            eligibility = OfferEligibility()
        elif targeting < 0.55:
            eligibility = OfferEligibility(
                segments_any=[segment_ids[int(rng.integers(len(segment_ids)))]]
            )
        elif targeting < 0.7:
            eligibility = OfferEligibility(segments_none=["dormant_90d"])
        else:
            rule = _GENERATED_RULES[int(rng.integers(len(_GENERATED_RULES)))]
            eligibility = OfferEligibility(rules=[rule])
        kind = rng.random()
        if kind < 0.15:
            caps = Caps()
        elif kind < 0.6:
            caps = Caps(per_day=1, per_week=int(rng.integers(2, 6)))
        elif kind < 0.85:
            caps = Caps(per_week=int(rng.integers(1, 4)), lifetime=int(rng.integers(3, 9)))
        else:
            caps = Caps(per_week=2, cooldown_after_dismiss_hours=int(rng.choice([72, 168, 336])))
        windowed = rng.random() < 0.1
        offers[f"{GENERATED_PREFIX}{k + 1:03d}"] = Offer(
            name=title.format(**words).capitalize(),
            description=f"Generated demo offer ({tag}, {category}).",
            channels=_creatives(
                title.format(**words).capitalize(),
                body.format(**words),
                cta,
                path,
                channels,
                script=f"Mention: {body.format(**words)} Offer to send the link by SMS.",
            ),
            eligibility=eligibility,
            start_at=(
                datetime.fromtimestamp(now - 3 * SECONDS_PER_DAY, tz=UTC) if windowed else None
            ),
            end_at=(
                datetime.fromtimestamp(now + 30 * SECONDS_PER_DAY, tz=UTC) if windowed else None
            ),
            value=round(float(rng.uniform(2.0, 60.0)), 1),
            weight=float(rng.choice([0.8, 0.9, 1.0, 1.1, 1.2, 1.5])),
            caps=caps,
            budget=Budget(conversions=int(rng.integers(500, 5000)))
            if rng.random() < 0.1
            else Budget(),
            tags=[tag, path.strip("/").split("/")[0]],
        )
    return offers


def demo_catalog(active: int, seed: int, now: float) -> dict[str, Offer]:
    """The hand-written offers, plus generated ones up to ``active`` active offers."""
    offers = demo_offers(now)
    offers.update(generated_offers(active - HANDWRITTEN_ACTIVE_OFFERS, seed, now))
    return offers


async def _attribute_types(store: RedisStore) -> dict[str, str]:
    """Register the demo attributes; refuse if the store already types one differently."""
    in_force = await store.register_attribute_types(ATTRIBUTE_TYPES)
    for name, kind in ATTRIBUTE_TYPES.items():
        if in_force.get(name) != kind:
            raise ValidationFailed(
                f"attribute '{name}' already holds {in_force.get(name)} values; "
                f"the demo writes {kind}",
                field=f"attributes.{name}",
            )
    return (await store.read_catalog()).attribute_types


async def _load_catalog(store: RedisStore, config: DemoConfig, now: float) -> tuple[int, int]:
    fields = field_types(await _attribute_types(store))
    segments = demo_segments()
    for segment_id, segment in segments.items():
        parse_rule(segment.rule, fields, path=f"segments.{segment_id}.rule")
        await store.put_segment(segment_id, segment.model_dump_json(exclude_none=True).encode())
    catalog = await store.read_catalog()
    segment_ids = set(catalog.segments)
    offers = demo_catalog(config.offers, config.seed, now)
    for offer_id, offer in offers.items():
        validate_offer(offer, segment_ids, fields)
        await store.put_offer(offer_id, offer.model_dump_json().encode())
    for offer_id in catalog.offers:  # a reload with fewer generated offers drops the rest
        if offer_id.startswith(GENERATED_PREFIX) and offer_id not in offers:
            await store.delete_offer(offer_id)
    # the model sees segment memberships too: 32 features with the default spec
    current = (await store.read_catalog()).feature_spec
    version = FeatureSpec.model_validate_json(current).version + 1 if current else 1
    spec = FeatureSpec(version=version, segments=sorted(segments))
    validate_spec(spec, ATTRIBUTE_TYPES, segment_ids)
    await store.put_feature_spec(spec.model_dump_json().encode())
    return len(offers), len(segments)


def _prepare(
    config: DemoConfig, now: float, retention_seconds: int, start: int, stop: int
) -> tuple[bytes, int]:
    population = generate_population(start, stop, config.seed, now, config.history_days)
    return encode_customers(stored_columns(population), now, retention_seconds)


def _write_customers(
    settings: Settings,
    url: str,
    config: DemoConfig,
    now: float,
    progress: Progress,
    stop: threading.Event,
) -> None:
    """Generate chunk k + 1 while the store works through chunk k (two cores: one each).

    The store is the bottleneck (its one thread parses and applies every command); generation
    and encoding take about a fifth as long and hide behind it. At most two chunks wait
    encoded, which bounds memory. ``stop`` ends both threads early (failure or Ctrl-C).
    """
    task = progress.add_task("customers", total=config.customers)
    retention = settings.customer_retention_days * 86_400
    chunks: queue.Queue[tuple[bytes, int, int] | BaseException | None] = queue.Queue(maxsize=2)

    def hand_over(item: tuple[bytes, int, int] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for start in range(0, config.customers, config.chunk):
                end = min(start + config.chunk, config.customers)
                payload, replies = _prepare(config, now, retention, start, end)
                if not hand_over((payload, replies, end)):
                    return
            hand_over(None)
        except BaseException as exc:  # handed to the writer, which raises it
            hand_over(exc)

    def take() -> tuple[bytes, int, int] | BaseException | None:
        while not stop.is_set():
            try:
                return chunks.get(timeout=0.1)
            except queue.Empty:
                continue
        raise InterruptedError("demo load stopped")

    producer = threading.Thread(target=produce, name="nbo-demo-generate", daemon=True)
    writer = BulkWriter.connect(url, settings.redis_connect_timeout_ms / 1000)
    producer.start()
    try:
        while (item := take()) is not None:
            if isinstance(item, BaseException):
                raise item
            payload, replies, end = item

            def advance(end: int = end) -> None:
                progress.update(task, completed=end)

            writer.send(payload, replies, advance)
        writer.wait()
    finally:
        stop.set()
        producer.join()
        writer.close()


async def _load_customers(
    settings: Settings, url: str, config: DemoConfig, now: float, console: Console
) -> None:
    columns = (
        TextColumn("[bold]demo customers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    stop = threading.Event()
    with Progress(*columns, console=console) as progress:
        try:
            await asyncio.to_thread(_write_customers, settings, url, config, now, progress, stop)
        except asyncio.CancelledError:  # the thread would otherwise load everything first
            stop.set()
            raise


async def load_demo(
    settings: Settings,
    url: str,
    config: DemoConfig,
    console: Console,
    only_if_absent: bool = False,
    now: float | None = None,
) -> DemoSummary:
    """Load the demo; with ``only_if_absent``, do nothing when a demo was loaded before.

    The marker is set before loading, so two processes started together load it once; a load
    that fails half way is then not retried by ``serve --demo`` (run ``nbo demo`` to reload).
    """
    started = time.perf_counter()
    at = time.time() if now is None else now
    store = RedisStore.from_settings(settings, url)
    try:
        marker = (
            f"seed={config.seed} customers={config.customers} offers={config.offers} at={int(at)}"
        )
        first = await store.mark_demo(marker)
        if only_if_absent and not first:
            console.print("[dim]demo data already loaded; skipping[/dim]")
            return DemoSummary(0, 0, 0, time.perf_counter() - started, skipped=True)
        phases: dict[str, float] = {}
        mark = time.perf_counter()
        offers, segments = await _load_catalog(store, config, at)
        phases["catalog"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await _load_customers(settings, url, config, at, console)
        phases["customers"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await run_demo_experiment(
            store,
            settings,
            config.customers,
            min(config.experiment_decisions, 2 * config.customers),
            config.seed,
            console,
        )
        phases["experiment"] = time.perf_counter() - mark
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    console.print(
        f"demo loaded: {offers} offers, {segments} segments, "
        f"{config.customers} customers in {seconds:.1f}s "
        f"(customers {phases['customers']:.1f}s, experiment {phases['experiment']:.1f}s)"
    )
    return DemoSummary(offers, segments, config.customers, seconds, phases=phases)
