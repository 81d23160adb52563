"""A realistic demo: catalog, rule segments and synthetic customers, loaded in seconds.

The demo exists so that a fresh install shows something worth looking at: every segment has
members, every channel has offers, eligibility has reasons to explain, and learned segmentation
finds structure. Customers therefore come from distinct personas (app-first, store-first,
web shoppers, high spenders, lapsing, support-heavy, dormant, new, casual) rather than from one
distribution.

Everything goes through the same paths the API uses: offers and segments are validated like
``PUT /v1/offers`` and ``PUT /v1/segments`` would, activities are :class:`Activity` values
encoded by :func:`encode_activity`. Only the transport differs: customers are written in
pipelined chunks, so 10,000 of them take a few seconds instead of tens of thousands of round
trips. Generation is deterministic in (seed, customer index, now): customer ``c-42`` looks the
same whatever the population size.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from engine.catalog import Budget, Creative, Offer, OfferEligibility, field_types, validate_offer
from engine.channels import Channel
from engine.config import Settings
from engine.contacts import Caps
from engine.demo_experiment import run_demo_experiment
from engine.errors import ValidationFailed
from engine.features import FeatureSpec, validate_spec
from engine.profiles import (
    SECONDS_PER_DAY,
    Activity,
    ActivityRow,
    ActivityType,
    day_number,
    encode_activity,
)
from engine.rules import parse_rule
from engine.segments import StoredSegment
from engine.store import RedisStore

__all__ = [
    "ATTRIBUTE_TYPES",
    "DemoConfig",
    "DemoCustomer",
    "DemoSummary",
    "demo_offers",
    "demo_segments",
    "generate_customer",
    "load_demo",
]


@dataclass(frozen=True)
class DemoConfig:
    customers: int = 10_000
    seed: int = 7
    chunk: int = 500  # customers per pipelined round trip
    history_days: int = 120  # longer than the 90-day window, so dormancy and lifetimes show
    experiment_decisions: int = 3000  # traffic of the demo experiment (at most customers / 2)

    def __post_init__(self) -> None:
        if self.customers < 0 or self.chunk < 1 or self.history_days < 1:
            raise ValueError("customers must be >= 0, chunk and history_days >= 1")


@dataclass(frozen=True)
class DemoSummary:
    offers: int
    segments: int
    customers: int
    seconds: float
    skipped: bool = False


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


# --- Personas -----------------------------------------------------------------------------

# (activity type, channel, mean count over the persona's window, mean order value or 0)
Spec = tuple[ActivityType, Channel, float, float]


@dataclass(frozen=True)
class Persona:
    name: str
    share: float
    window: tuple[float, float]  # active from .. to, in days before now
    specs: tuple[Spec, ...]
    recent: tuple[Spec, ...] = ()  # extra activity in the last 30 days
    tenure_days: tuple[float, float] = (120, 1500)
    silent_share: float = 0.0  # of this persona, how many never did anything recorded
    age: tuple[float, float] = (42, 13)
    tiers: tuple[float, float, float, float] = (0.55, 0.30, 0.12, 0.03)
    loyalty: float = 0.35
    push_opt_in: float = 0.35


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "app_first",
        0.17,
        (120, 0),
        (
            ("app_open", "mobile_app", 22, 0),
            ("search", "mobile_app", 6, 0),
            ("add_to_cart", "mobile_app", 5, 0),
            ("purchase", "mobile_app", 3.5, 45),
            ("push_open", "push", 6, 0),
            ("page_view", "web", 2, 0),
        ),
        age=(31, 8),
        push_opt_in=0.85,
    ),
    Persona(
        "store_first",
        0.14,
        (120, 0),
        (
            ("store_visit", "in_store", 12, 0),
            ("purchase", "in_store", 5, 60),
            ("email_open", "email", 2, 0),
            ("page_view", "web", 1, 0),
        ),
        age=(53, 12),
        loyalty=0.7,
    ),
    Persona(
        "web_shopper",
        0.19,
        (120, 0),
        (
            ("page_view", "web", 16, 0),
            ("search", "web", 6, 0),
            ("login", "web", 4, 0),
            ("add_to_cart", "web", 5, 0),
            ("purchase", "web", 3.5, 55),
            ("email_open", "email", 6, 0),
            ("email_click", "email", 2, 0),
            ("social_engagement", "social", 2, 0),
        ),
        age=(38, 11),
    ),
    Persona(
        "high_spender",
        0.08,
        (120, 0),
        (
            ("page_view", "web", 15, 0),
            ("app_open", "mobile_app", 12, 0),
            ("store_visit", "in_store", 3, 0),
            ("purchase", "web", 5, 170),
            ("purchase", "mobile_app", 3, 150),
            ("purchase", "in_store", 2, 220),
            ("email_open", "email", 6, 0),
            ("email_click", "email", 3, 0),
        ),
        age=(45, 10),
        tiers=(0.05, 0.25, 0.45, 0.25),
        loyalty=0.8,
        push_opt_in=0.5,
    ),
    Persona(
        "lapsing",
        0.06,
        (120, 45),
        (
            ("page_view", "web", 10, 0),
            ("purchase", "web", 3, 75),
            ("email_open", "email", 3, 0),
        ),
        recent=(("page_view", "web", 2, 0), ("email_open", "email", 2, 0)),
        tiers=(0.35, 0.4, 0.2, 0.05),
    ),
    Persona(
        "support_heavy",
        0.07,
        (120, 0),
        (
            ("page_view", "web", 8, 0),
            ("login", "web", 4, 0),
            ("purchase", "web", 2, 40),
            ("sms_click", "sms", 1.5, 0),
        ),
        recent=(
            ("call", "call_center", 4, 0),
            ("support_contact", "call_center", 4, 0),
            ("support_contact", "web", 1.5, 0),
        ),
        age=(48, 14),
    ),
    Persona(
        "dormant",
        0.12,
        (120, 91),
        (
            ("page_view", "web", 5, 0),
            ("purchase", "web", 0.8, 50),
            ("email_open", "email", 2, 0),
        ),
        tenure_days=(150, 1500),
        silent_share=0.25,
    ),
    Persona(
        "new",
        0.09,
        (29, 0),  # clipped to the days since sign-up
        (
            ("app_open", "mobile_app", 4, 0),
            ("page_view", "web", 5, 0),
            ("purchase", "web", 0.7, 35),
            ("email_open", "email", 2, 0),
        ),
        tenure_days=(0, 29),
        age=(34, 11),
        tiers=(1.0, 0.0, 0.0, 0.0),
        loyalty=0.1,
    ),
    Persona(
        "casual",
        0.08,
        (120, 0),
        (
            ("email_open", "email", 5, 0),
            ("email_click", "email", 1.2, 0),
            ("social_engagement", "social", 5, 0),
            ("page_view", "web", 3, 0),
            ("purchase", "web", 0.7, 40),
            ("sms_click", "sms", 1, 0),
            ("push_open", "push", 1, 0),
        ),
    ),
)
_PERSONA_CDF = np.cumsum([p.share for p in PERSONAS]) / sum(p.share for p in PERSONAS)

COUNTRIES = ("DE", "FR", "ES", "IT", "NL", "GB")
_COUNTRY_CDF = np.cumsum((0.3, 0.2, 0.15, 0.12, 0.08, 0.15))
LANGUAGES = {"DE": "de", "FR": "fr", "ES": "es", "IT": "it", "NL": "nl", "GB": "en"}
TIERS = ("bronze", "silver", "gold", "platinum")


@dataclass(frozen=True)
class DemoCustomer:
    customer_id: str
    persona: str
    attributes: dict[str, Any]
    signed_up_at: int
    activities: list[Activity]


def _pick(cdf: np.ndarray[Any, Any], u: float) -> int:
    """Index drawn by a uniform ``u``; clamped, as a float cdf may end just below 1."""
    return min(int(np.searchsorted(cdf, u, side="right")), len(cdf) - 1)


def generate_customer(index: int, seed: int, now: float, history_days: int = 120) -> DemoCustomer:
    """One synthetic customer; a function of (index, seed, now) only."""
    rng = np.random.default_rng([seed, index])
    persona = PERSONAS[_pick(_PERSONA_CDF, rng.random())]
    country = COUNTRIES[_pick(_COUNTRY_CDF, rng.random())]
    tenure = float(rng.uniform(*persona.tenure_days))
    u = rng.random(7)
    attributes: dict[str, Any] = {
        "country": country,
        "preferred_language": LANGUAGES[country] if u[0] < 0.9 else "en",
        "tier": TIERS[_pick(np.cumsum(persona.tiers), u[1])],
        "age": int(np.clip(rng.normal(*persona.age), 18, 90)),
        "email_opt_in": bool(u[2] < 0.7),
        "sms_opt_in": bool(u[3] < 0.4),
        "push_opt_in": bool(u[4] < persona.push_opt_in),
        "loyalty_member": bool(u[5] < persona.loyalty),
    }
    activities: list[Activity] = []
    if u[6] >= persona.silent_share:
        specs = persona.specs + persona.recent
        oldest = min(persona.window[0], history_days, tenure)
        # Activity happens in [newest, oldest] days before now; "recent" specs in the last 30.
        newest = [min(persona.window[1], oldest)] * len(persona.specs)
        oldest_of = [oldest] * len(persona.specs) + [min(30.0, tenure)] * len(persona.recent)
        newest += [0.0] * len(persona.recent)
        intensity = rng.gamma(4.0, 0.25)  # mean 1: customers of one persona differ
        counts = rng.poisson(np.array([spec[2] for spec in specs]) * intensity)
        ages = rng.uniform(np.repeat(newest, counts), np.repeat(oldest_of, counts))
        values = np.repeat([spec[3] for spec in specs], counts) * rng.lognormal(
            -0.125, 0.5, size=int(counts.sum())
        )
        kinds = [
            spec for spec, count in zip(specs, counts.tolist(), strict=True) for _ in range(count)
        ]
        for (activity_type, channel, _, _), age, value in zip(
            kinds, ages.tolist(), values.tolist(), strict=True
        ):
            activities.append(
                Activity(
                    type=activity_type,
                    channel=channel,
                    timestamp=datetime.fromtimestamp(now - age * SECONDS_PER_DAY, tz=UTC),
                    value=round(value, 2) if activity_type == "purchase" else None,
                )
            )
    signed_up = int(now - tenure * SECONDS_PER_DAY)
    return DemoCustomer(f"c-{index}", persona.name, attributes, signed_up, activities)


def _encode_attributes(attributes: Mapping[str, Any]) -> dict[str, str]:
    """The stored form, as :func:`engine.customers.upsert_attributes` writes it."""
    return {name: orjson.dumps(value).decode() for name, value in attributes.items()}


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


async def _load_catalog(store: RedisStore, now: float) -> tuple[int, int]:
    fields = field_types(await _attribute_types(store))
    segments = demo_segments()
    for segment_id, segment in segments.items():
        parse_rule(segment.rule, fields, path=f"segments.{segment_id}.rule")
        await store.put_segment(segment_id, segment.model_dump_json(exclude_none=True).encode())
    segment_ids = set((await store.read_catalog()).segments)
    offers = demo_offers(now)
    for offer_id, offer in offers.items():
        validate_offer(offer, segment_ids, fields)
        await store.put_offer(offer_id, offer.model_dump_json().encode())
    # the model sees segment memberships too: 32 features with the default spec
    current = (await store.read_catalog()).feature_spec
    version = FeatureSpec.model_validate_json(current).version + 1 if current else 1
    spec = FeatureSpec(version=version, segments=sorted(segments))
    validate_spec(spec, ATTRIBUTE_TYPES, segment_ids)
    await store.put_feature_spec(spec.model_dump_json().encode())
    return len(offers), len(segments)


@dataclass(frozen=True)
class _Chunk:
    """Customers ready to write: encoded exactly as the API would store them."""

    ids: list[str]
    attributes: list[tuple[str, Mapping[str, str], int]]
    activities: list[tuple[str, Sequence[ActivityRow]]]


def _prepare_chunk(config: DemoConfig, now: float, start: int, stop: int) -> _Chunk:
    customers = [
        generate_customer(i, config.seed, now, config.history_days) for i in range(start, stop)
    ]
    return _Chunk(
        ids=[c.customer_id for c in customers],
        attributes=[
            (c.customer_id, _encode_attributes(c.attributes), c.signed_up_at) for c in customers
        ],
        activities=[
            (c.customer_id, [encode_activity(a, now) for a in c.activities])
            for c in customers
            if c.activities
        ],
    )


async def _write_chunk(store: RedisStore, chunk: _Chunk, today: int) -> None:
    # A reload replaces the demo customers instead of adding to their counters.
    await store.erase_customers_many(chunk.ids)
    await store.upsert_attributes_many(chunk.attributes)
    await store.record_activities_many(chunk.activities, today)


async def _load_customers(
    store: RedisStore, config: DemoConfig, now: float, console: Console
) -> None:
    """Generate the next chunk in a thread while the server runs the previous one's scripts.

    Server-side Lua is a quarter to a third of the work; on a machine with a core to spare it
    then overlaps with generation. One chunk in flight at most bounds memory.
    """
    columns = (
        TextColumn("[bold]demo customers"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    today = day_number(now)
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("customers", total=config.customers)
        writing: asyncio.Task[None] | None = None
        try:
            for start in range(0, config.customers, config.chunk):
                stop = min(start + config.chunk, config.customers)
                chunk = await asyncio.to_thread(_prepare_chunk, config, now, start, stop)
                if writing is not None:
                    await writing
                    progress.update(task, completed=start)
                writing = asyncio.create_task(_write_chunk(store, chunk, today))
            if writing is not None:
                await writing
                progress.update(task, completed=config.customers)
        finally:
            if writing is not None:  # on failure: never leave a write running or unobserved
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)


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
        marker = f"seed={config.seed} customers={config.customers} at={int(at)}"
        first = await store.mark_demo(marker)
        if only_if_absent and not first:
            console.print("[dim]demo data already loaded; skipping[/dim]")
            return DemoSummary(0, 0, 0, time.perf_counter() - started, skipped=True)
        offers, segments = await _load_catalog(store, at)
        await _load_customers(store, config, at, console)
        await run_demo_experiment(
            store,
            settings,
            config.customers,
            min(config.experiment_decisions, config.customers // 2),
            config.seed,
            console,
        )
    finally:
        await store.close()
    seconds = time.perf_counter() - started
    console.print(
        f"demo loaded: {offers} offers, {segments} segments, "
        f"{config.customers} customers in {seconds:.1f}s"
    )
    return DemoSummary(offers, segments, config.customers, seconds)
