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
from engine.synthetic.tables import table

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
    """Retail and telco offers covering every channel, cap style, budget and rule kind.

    The offers are data (``data/demo_offers.json``): each row is an offer as ``PUT
    /v1/offers`` takes it, but for its one message (``creative``, adapted to each of its
    channels; ``"all"`` for every channel) and its dates (``live_days``, from .. to, in days
    from ``now``).
    """

    def at(days: float) -> datetime:
        return datetime.fromtimestamp(now + days * SECONDS_PER_DAY, tz=UTC)

    offers: dict[str, Offer] = {}
    for offer_id, row in table("demo_offers")["handwritten"].items():
        creative = row.pop("creative")
        if creative["channels"] == "all":
            creative["channels"] = list(CHANNELS)
        row["channels"] = _creatives(**creative)
        if "live_days" in row:
            start, end = row.pop("live_days")
            row["start_at"], row["end_at"] = at(start), at(end)
        offers[offer_id] = Offer(**row)
    return offers


# --- Generated offers ---------------------------------------------------------------------

# Templates, from ``data/demo_offers.json``: (category, path), and (title, body, call to
# action, tag) where {cat}, {pct}, {amount} and {points} are filled per offer; the rules
# target generated offers (most stay broad so a decision has many offers to score).
_GENERATED: dict[str, Any] = table("demo_offers")["generated"]
_CATEGORIES: tuple[tuple[str, str], ...] = tuple(
    (category, path) for category, path in _GENERATED["categories"]
)
_MECHANICS: tuple[tuple[str, str, str, str], ...] = tuple(
    (m["title"], m["body"], m["cta"], m["tag"]) for m in _GENERATED["mechanics"]
)
_GENERATED_RULES: tuple[dict[str, Any], ...] = tuple(_GENERATED["rules"])
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
