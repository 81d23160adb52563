"""The default scenario's world: six personas, the offers and their true rates, segments and
a retail day's request contexts."""

from __future__ import annotations

from engine.domain.channels import Channel
from engine.domain.profiles import (
    ActivityType,
)
from engine.synthetic.simulate.specs import (
    ActivitySpec,
    ChannelContext,
    ContextSpec,
    OfferSpec,
    PersonaSpec,
    SegmentSpec,
)


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
