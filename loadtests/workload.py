"""What the load generator sends, kept free of locust so the runner and tests can import it.

Importing locust monkey-patches the standard library with gevent, which must never happen in
the runner or in pytest; the request shapes and the mix therefore live here.

The mix is a fixed cycle rather than weighted random choice so that a fixed-rate run offers an
exactly known decision rate (16 of every 20 requests), even in a few-second run.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = [
    "ACTIVITY_SHARE",
    "CHANNELS",
    "DECISION_SHARE",
    "EVENT_BATCH",
    "EVENT_SHARE",
    "MIX_CYCLE",
    "NAME_ACTIVITIES",
    "NAME_DECISIONS",
    "NAME_EVENTS",
    "NAME_EVENT_BATCHES",
    "activity_request",
    "decision_body",
    "event_body",
]

NAME_DECISIONS = "/v1/decisions"
NAME_EVENTS = "/v1/events"
NAME_ACTIVITIES = "/v1/customers/{id}/activities"
NAME_EVENT_BATCHES = "/v1/events:batch"
# events per batch request: what client SDKs typically flush at once (a page's impressions and
# clicks, a mobile session's events)
EVENT_BATCH = 20

# D: decision, E: event on a served offer, A: activity write. 16 / 3 / 1 of 20.
MIX_CYCLE = "DDDDEDDDDDEDDADDEDDD"
DECISION_SHARE = MIX_CYCLE.count("D") / len(MIX_CYCLE)
EVENT_SHARE = MIX_CYCLE.count("E") / len(MIX_CYCLE)
ACTIVITY_SHARE = MIX_CYCLE.count("A") / len(MIX_CYCLE)

# Where decisions come from: web and app dominate, assisted channels are a trickle.
CHANNELS: dict[str, float] = {
    "web": 0.34,
    "mobile_app": 0.25,
    "email": 0.12,
    "push": 0.08,
    "sms": 0.05,
    "call_center": 0.05,
    "in_store": 0.07,
    "social": 0.04,
}
_CHANNEL_NAMES = tuple(CHANNELS)
_CHANNEL_WEIGHTS = tuple(CHANNELS.values())

PLACEMENTS: dict[str, tuple[str, ...]] = {
    "web": ("home_hero", "product_sidebar", "cart_upsell", "checkout_banner"),
    "mobile_app": ("home_feed", "app_banner", "rewards_tab"),
    "email": ("newsletter_hero", "newsletter_footer"),
    "push": ("notification",),
    "sms": ("message",),
    "call_center": ("agent_desktop",),
    "in_store": ("pos_screen", "kiosk"),
    "social": ("feed_ad", "story_ad"),
}

# Demo customers are c-0 .. c-{N-1}; a few anonymous visitors are decided from context alone.
UNKNOWN_SHARE = 0.02

EVENT_TYPES = ("impression", "click", "conversion", "dismiss")
EVENT_WEIGHTS = (0.55, 0.25, 0.08, 0.12)

# Activities an app reports on each channel; purchases carry a value.
ACTIVITIES: dict[str, tuple[str, ...]] = {
    "web": ("page_view", "page_view", "search", "login", "add_to_cart", "purchase"),
    "mobile_app": ("app_open", "app_open", "search", "add_to_cart", "purchase"),
    "email": ("email_open", "email_click"),
    "push": ("push_open",),
    "sms": ("sms_click",),
    "call_center": ("call", "support_contact"),
    "in_store": ("store_visit", "purchase"),
    "social": ("social_engagement",),
}


def customer_id(rng: random.Random, customers: int) -> str:
    return f"c-{rng.randrange(customers)}"


def _context(rng: random.Random, channel: str, placement: str) -> dict[str, Any]:
    hour = rng.randrange(24)
    weekday = rng.randrange(7)
    if channel == "web":
        page = {"cart_upsell": "cart", "checkout_banner": "checkout"}.get(
            placement, rng.choice(("home", "category", "product", "search", "account"))
        )
        context: dict[str, Any] = {
            "page": page,
            "device": rng.choice(("desktop", "desktop", "ios", "android", "tablet")),
            "referrer": rng.choice(("direct", "search", "social", "email", "ads")),
            "logged_in": rng.random() < 0.6,
        }
        if page in ("cart", "checkout"):
            context["cart_value"] = round(rng.lognormvariate(3.8, 0.6), 2)
            context["cart_items"] = rng.randint(1, 8)
    elif channel == "mobile_app":
        context = {
            "screen": rng.choice(("home", "product", "cart", "rewards", "orders")),
            "device": rng.choice(("ios", "android")),
            "app_version": rng.choice(("5.2.0", "5.3.1", "5.4.0")),
            "push_enabled": rng.random() < 0.5,
        }
    elif channel == "email":
        context = {
            "campaign": rng.choice(("newsletter", "abandoned_cart", "winback", "receipt")),
            "send_slot": rng.choice(("morning", "noon", "evening")),
        }
    elif channel == "push":
        context = {
            "trigger": rng.choice(("geo", "price_drop", "cart_reminder", "daily")),
            "device": rng.choice(("ios", "android")),
        }
    elif channel == "sms":
        context = {"campaign": rng.choice(("reminder", "promo", "service"))}
    elif channel == "call_center":
        context = {
            "reason": rng.choice(("billing", "upgrade", "cancel", "support", "sales")),
            "agent_team": rng.choice(("retention", "sales", "care")),
            "wait_seconds": rng.randint(0, 900),
        }
    elif channel == "in_store":
        context = {
            "store_id": f"s-{rng.randrange(40)}",
            "touchpoint": placement,
            "basket_value": round(rng.lognormvariate(3.5, 0.7), 2),
        }
    else:
        context = {
            "platform": rng.choice(("instagram", "facebook", "tiktok")),
            "ad_format": "story" if placement == "story_ad" else "feed",
        }
    context["hour"] = hour
    context["weekday"] = weekday
    return context


def decision_body(rng: random.Random, customers: int) -> dict[str, Any]:
    """One ``POST /v1/decisions`` body: a channel, a placement on it and that page's context."""
    channel = rng.choices(_CHANNEL_NAMES, _CHANNEL_WEIGHTS)[0]
    placement = rng.choice(PLACEMENTS[channel])
    if channel == "web" and rng.random() < UNKNOWN_SHARE:
        who = f"anon-{rng.getrandbits(48):012x}"
    else:
        who = customer_id(rng, customers)
    return {
        "customer_id": who,
        "channel": channel,
        "placement": placement,
        "context": _context(rng, channel, placement),
        "limit": rng.choice((1, 1, 2, 3)) if channel in ("web", "mobile_app", "email") else 1,
    }


def event_body(
    rng: random.Random, event_id: str, decision_id: str, offer_id: str
) -> dict[str, Any]:
    """One ``POST /v1/events`` body for an offer the caller was actually served."""
    kind = rng.choices(EVENT_TYPES, EVENT_WEIGHTS)[0]
    body: dict[str, Any] = {
        "event_id": event_id,
        "decision_id": decision_id,
        "offer_id": offer_id,
        "type": kind,
    }
    if kind == "conversion":
        body["value"] = round(rng.lognormvariate(3.5, 0.8), 2)
    return body


def activity_request(rng: random.Random, customers: int) -> tuple[str, dict[str, Any]]:
    """A path and body for ``POST /v1/customers/{id}/activities`` (timestamp: the server's now)."""
    channel = rng.choices(_CHANNEL_NAMES, _CHANNEL_WEIGHTS)[0]
    kind = rng.choice(ACTIVITIES[channel])
    body: dict[str, Any] = {"type": kind, "channel": channel}
    if kind == "purchase":
        body["value"] = round(rng.lognormvariate(3.8, 0.7), 2)
    return f"/v1/customers/{customer_id(rng, customers)}/activities", body
