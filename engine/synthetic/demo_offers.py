"""The demo catalog: hand-written retail and telco offers covering every channel, cap style,
budget and rule kind, and generated offers that look and behave like them, for load tests that
need a bigger catalog."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np

from engine.domain.catalog import (
    Budget,
    Creative,
    Offer,
    OfferEligibility,
)
from engine.domain.channels import CHANNELS, Channel
from engine.domain.contacts import Caps
from engine.domain.profiles import SECONDS_PER_DAY
from engine.synthetic.demo_segments import demo_segments

__all__ = [
    "GENERATED_PREFIX",
    "HANDWRITTEN_ACTIVE_OFFERS",
    "demo_catalog",
    "demo_offers",
    "generated_offers",
]

# Active offers of the hand-written catalog; it also holds one paused offer.
HANDWRITTEN_ACTIVE_OFFERS = 15
GENERATED_PREFIX = "o-gen-"


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
