"""The demo's rule segments: one per behaviour the personas of the population show, so every
segment has members and offers have audiences to target."""

from __future__ import annotations

from typing import Any

from engine.domain.segments import StoredSegment

__all__ = ["HIGH_VALUE_REVENUE_90D", "demo_segments"]

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
