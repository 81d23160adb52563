"""Customer activities and the behavioural features derived from them.

Activities are counted into UTC day buckets by their own timestamp, so windows stay exact when
events arrive out of order; windows are computed at read time from ``now``, so they roll over
without any background job. Recency, first-seen and last channel are kept as max/min
timestamps, which are order independent too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from engine.domain.channels import CHANNEL_CODES, CHANNELS, Channel
from engine.domain.idempotency import fingerprint
from engine.domain.values import Timestamp
from experiments.config import StrictModel

__all__ = [
    "ACTIVITY_TYPES",
    "FEATURE_TYPES",
    "HISTORY_DAYS",
    "Activity",
    "ActivityRow",
    "FeatureValue",
    "compute_features",
    "day_number",
    "encode_activity",
]

SECONDS_PER_DAY = 86_400
HISTORY_DAYS = 90  # the longest window; older buckets are dropped
FUTURE_TOLERANCE_SECONDS = 300

ActivityType = Literal[
    "page_view",
    "app_open",
    "store_visit",
    "login",
    "search",
    "add_to_cart",
    "purchase",
    "support_contact",
    "email_open",
    "email_click",
    "push_open",
    "sms_click",
    "call",
    "social_engagement",
]
ACTIVITY_TYPES: tuple[str, ...] = ActivityType.__args__  # type: ignore[attr-defined]
VISIT_TYPES = frozenset({"page_view", "app_open", "store_visit", "login"})

FeatureValue = float | int | str | bool | None

_CODE_TO_CHANNEL = {code: channel for channel, code in CHANNEL_CODES.items()}

FEATURE_TYPES: dict[str, str] = {
    "days_since_last_activity": "number",
    "days_since_last_visit": "number",
    "days_since_last_purchase": "number",
    "visits_7d": "number",
    "visits_30d": "number",
    "visits_90d": "number",
    "purchases_7d": "number",
    "purchases_30d": "number",
    "purchases_90d": "number",
    "revenue_30d": "number",
    "revenue_90d": "number",
    "lifetime_purchases": "number",
    "lifetime_revenue": "number",
    "avg_order_value": "number",
    "support_contacts_30d": "number",
    "tenure_days": "number",
    "last_active_channel": "string",
    **{f"engagement_{channel}_30d": "number" for channel in CHANNELS},
}


class Activity(StrictModel):
    """One thing a customer did, on one channel, at one time."""

    model_config = ConfigDict(
        # the value rule below, stated in the schema so clients and generators know it
        json_schema_extra={
            "if": {"properties": {"type": {"const": "purchase"}}},
            "then": {"required": ["value"], "properties": {"value": {"type": "number"}}},
            "else": {"properties": {"value": {"type": "null"}}},
        },
    )

    type: ActivityType
    channel: Channel
    timestamp: Timestamp | None = Field(
        default=None, description="When it happened (ISO 8601 with zone); default: now."
    )
    value: float | None = Field(
        default=None, ge=0, le=1e9, description="Order value; required for purchase."
    )
    activity_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$",
        description="Idempotency key: an activity sent again with the same id is counted once.",
    )

    @model_validator(mode="after")
    def _value_only_for_purchase(self) -> Activity:
        # "<field>: message" lets the API name the field of a whole-model check
        if self.type == "purchase" and self.value is None:
            raise ValueError("value: is required for a purchase")
        if self.type != "purchase" and self.value is not None:
            raise ValueError("value: is only accepted for a purchase")
        return self


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """An activity reduced to what the store counts."""

    ts: int
    day: int
    visit: bool
    purchase: bool
    support: bool
    channel_code: str
    cents: int
    kind: str = ""  # the activity type; experiments count units doing it after exposure
    activity_id: str = ""  # its idempotency key, if it came with one
    fingerprint: str = ""  # of its body, when it has an id: the id under another body conflicts


def day_number(ts: float) -> int:
    return int(ts // SECONDS_PER_DAY)


def encode_activity(activity: Activity, now: float) -> ActivityRow:
    """Reduce an activity to counters; raises ``ValueError`` for a timestamp in the future."""
    ts = activity.timestamp.timestamp() if activity.timestamp is not None else now
    if ts > now + FUTURE_TOLERANCE_SECONDS:
        raise ValueError("timestamp is in the future")
    return ActivityRow(
        ts=int(ts),
        day=day_number(ts),
        visit=activity.type in VISIT_TYPES,
        purchase=activity.type == "purchase",
        support=activity.type == "support_contact",
        channel_code=CHANNEL_CODES[activity.channel],
        cents=round((activity.value or 0.0) * 100),
        kind=activity.type,
        activity_id=activity.activity_id or "",
        fingerprint=fingerprint(activity, exclude=("activity_id",)) if activity.activity_id else "",
    )


def _days_since(ts: str | None, now: float) -> int | None:
    if ts is None:
        return None
    return max(0, math.floor((now - float(ts)) / SECONDS_PER_DAY))


def compute_features(raw: Mapping[str, str], now: float) -> dict[str, FeatureValue]:
    """Behavioural features of one customer at time ``now`` from the stored activity hash."""
    today = day_number(now)
    visits = [0, 0, 0]
    purchases = [0, 0, 0]
    revenue_30 = revenue_90 = 0
    support_30 = 0
    engagement = dict.fromkeys(CHANNEL_CODES.values(), 0)
    for field, value in raw.items():
        day_text, sep, metric = field.partition(":")
        if not sep:
            continue
        age = today - int(day_text)
        if age < 0 or age >= HISTORY_DAYS:
            continue
        count = int(value)
        in_7, in_30 = age < 7, age < 30
        if metric == "v":
            visits[0] += count * in_7
            visits[1] += count * in_30
            visits[2] += count
        elif metric == "p":
            purchases[0] += count * in_7
            purchases[1] += count * in_30
            purchases[2] += count
        elif metric == "r":
            revenue_90 += count
            revenue_30 += count * in_30
        elif metric == "s":
            support_30 += count * in_30
        elif in_30 and metric in engagement:
            engagement[metric] += count
    lifetime_purchases = int(raw.get("tp", 0))
    lifetime_revenue = int(raw.get("tr", 0)) / 100
    features: dict[str, FeatureValue] = {
        "days_since_last_activity": _days_since(raw.get("la"), now),
        "days_since_last_visit": _days_since(raw.get("lv"), now),
        "days_since_last_purchase": _days_since(raw.get("lp"), now),
        "visits_7d": visits[0],
        "visits_30d": visits[1],
        "visits_90d": visits[2],
        "purchases_7d": purchases[0],
        "purchases_30d": purchases[1],
        "purchases_90d": purchases[2],
        "revenue_30d": revenue_30 / 100,
        "revenue_90d": revenue_90 / 100,
        "lifetime_purchases": lifetime_purchases,
        "lifetime_revenue": lifetime_revenue,
        "avg_order_value": round(lifetime_revenue / lifetime_purchases, 2)
        if lifetime_purchases
        else 0.0,
        "support_contacts_30d": support_30,
        "tenure_days": _days_since(raw.get("fs"), now),
        "last_active_channel": _CODE_TO_CHANNEL.get(raw.get("lc", "")),
    }
    for channel, code in CHANNEL_CODES.items():
        features[f"engagement_{channel}_30d"] = engagement[code]
    return features
