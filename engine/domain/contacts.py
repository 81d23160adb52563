"""Per-offer contact history of one customer and the contact policy (caps, cooldowns).

The store's ``reserve.lua`` applies the same policy atomically when a decision serves offers;
:func:`check_contact_policy` reads it for explanations (eligibility listings), where a stale
read is harmless. Both are tested to agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import Field

from engine.domain.channels import CHANNEL_CODES
from engine.domain.values import WholeNumber
from experiments.config import StrictModel

__all__ = [
    "Caps",
    "ContactHistory",
    "OfferContacts",
    "check_contact_policy",
    "parse_contact_history",
]

_CODE_TO_CHANNEL = {code: channel for channel, code in CHANNEL_CODES.items()}


class Caps(StrictModel):
    """How often one customer may be shown one offer; counted across channels."""

    per_day: WholeNumber | None = Field(default=None, ge=0, le=1_000)
    per_week: WholeNumber | None = Field(default=None, ge=0, le=10_000)
    lifetime: WholeNumber | None = Field(default=None, ge=0, le=1_000_000)
    cooldown_after_dismiss_hours: float | None = Field(default=None, ge=0, le=24 * 365)
    suppress_after_conversion: bool = Field(
        default=True, description="Stop offering once the customer has converted on it."
    )

    def script_args(self) -> tuple[int, int, int, int, int]:
        def limit(value: int | None) -> int:
            return -1 if value is None else value

        cooldown = self.cooldown_after_dismiss_hours
        return (
            limit(self.per_day),
            limit(self.per_week),
            limit(self.lifetime),
            -1 if cooldown is None else round(cooldown * 3600),
            int(self.suppress_after_conversion),
        )


@dataclass(slots=True)
class OfferContacts:
    """What one customer has had of one offer."""

    day_slots: dict[int, tuple[int, int]] = field(default_factory=dict)
    served: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    dismisses: int = 0
    last_dismissed_at: int | None = None
    last_shown_at: dict[str, int] = field(default_factory=dict)

    def served_on(self, day: int) -> int:
        return sum(count for slot_day, count in self.day_slots.values() if slot_day == day)

    def served_in_week(self, day: int) -> int:
        return sum(
            count for slot_day, count in self.day_slots.values() if day - 7 < slot_day <= day
        )


ContactHistory = dict[str, OfferContacts]


def parse_contact_history(raw: Mapping[str, str]) -> ContactHistory:
    """Group the flat ``<offer>|<metric>`` hash by offer."""
    history: ContactHistory = {}
    for key, value in raw.items():
        offer_id, sep, metric = key.rpartition("|")
        if not sep:
            continue
        entry = history.setdefault(offer_id, OfferContacts())
        kind = metric[:1]
        if kind == "w":
            slot_day, _, count = value.partition(":")
            entry.day_slots[int(metric[1:])] = (int(slot_day), int(count))
        elif metric == "n":
            entry.served = int(value)
        elif metric == "i":
            entry.impressions = int(value)
        elif metric == "k":
            entry.clicks = int(value)
        elif metric == "c":
            entry.conversions = int(value)
        elif metric == "x":
            entry.dismisses = int(value)
        elif metric == "xt":
            entry.last_dismissed_at = int(float(value))
        elif kind == "s" and metric[1:] in _CODE_TO_CHANNEL:
            entry.last_shown_at[_CODE_TO_CHANNEL[metric[1:]]] = int(float(value))
    return history


def check_contact_policy(caps: Caps, contacts: OfferContacts | None, now: float) -> str | None:
    """The reason the policy refuses another contact now, or ``None``; same order as the Lua."""
    if contacts is None:
        # never shown (most offers for most customers): only a cap of zero refuses
        if caps.lifetime == 0:
            return "lifetime_cap_reached"
        if caps.per_week == 0:
            return "weekly_cap_reached"
        if caps.per_day == 0:
            return "daily_cap_reached"
        return None
    now = int(now)
    day = now // 86_400
    if caps.suppress_after_conversion and contacts.conversions > 0:
        return "already_converted"
    cooldown = caps.cooldown_after_dismiss_hours
    if (
        cooldown is not None
        and contacts.last_dismissed_at is not None
        and now - contacts.last_dismissed_at < round(cooldown * 3600)
    ):
        return "cooling_down"
    if caps.lifetime is not None and contacts.served >= caps.lifetime:
        return "lifetime_cap_reached"
    if caps.per_week is not None and contacts.served_in_week(day) >= caps.per_week:
        return "weekly_cap_reached"
    if caps.per_day is not None and contacts.served_on(day) >= caps.per_day:
        return "daily_cap_reached"
    return None
