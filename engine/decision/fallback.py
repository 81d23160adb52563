"""The store is unreachable: serve only what is safe without customer data, flagged.

Safe means: active, in schedule, a creative for the channel, no targeting, no caps and no
budget (none of which can be checked now), ranked by value x weight. Its record goes with its
log entry once the store is back, so its events join then; it carries no feature vector, so
the learner learns nothing from it.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.config import Settings
from engine.decision.record import decision_record_fields
from engine.decision.request import DecisionRequest
from engine.decision.response import decision_body, fallback_offers
from engine.domain.catalog import Catalog, ParsedOffer
from engine.store import keys
from engine.store.records import DecisionRecord, LogRecord

__all__ = ["fallback_decision"]


def fallback_decision(
    request: DecisionRequest,
    now: float,
    scope: str,
    catalog: Catalog,
    settings: Settings,
    token: str,
) -> tuple[dict[str, Any], LogRecord]:
    """The answer, and the log record that carries the decision's own record to the store."""
    safe = [
        p
        for p in catalog.by_channel.get(request.channel, ())
        if safe_without_store(p, now, request.placement)
        and p.offer_id not in request.exclude_offers
    ]
    safe.sort(key=lambda p: (-p.offer.value * p.offer.weight, p.offer_id))
    decision_id = keys.decision_id(request.customer_id, token)
    offers = fallback_offers(request.channel, safe[: request.limit])
    body = decision_body(
        request,
        decision_id,
        offers,
        policy="fallback",
        fallback=True,
        segments=[],
        reason="store_unavailable",
    )
    entry = {
        "decision_id": decision_id,
        "customer_id": request.customer_id,
        "ts": repr(now),
        "channel": request.channel,
        "placement": request.placement,
        "scope": scope,
        "context": orjson.dumps(request.context).decode(),
        "served": orjson.dumps(
            [{"offer_id": o["offer_id"], "rank": o["rank"], "propensity": 1.0} for o in offers]
        ).decode(),
        "policy": "fallback",
        "fallback": "1",
    }
    window = settings.attribution_window(request.channel)
    # no model and no feature vector: the learner learns nothing from a fallback
    fields = decision_record_fields(
        now,
        request.channel,
        request.placement,
        scope,
        model_version=0,
        spec_version=catalog.feature_spec.version,
        policy="fallback",
        experiment_id="",
        variant="",
        window=window,
        x="[]",
        served=[o["offer_id"] for o in offers],
        propensities=[1.0] * len(offers),
    )
    expire_at = int(now) + window + settings.late_event_grace_seconds
    record = DecisionRecord(request.customer_id, token, fields, expire_at)
    return body, LogRecord(entry, scope, decision_id, now + window, record=record)


def safe_without_store(parsed: ParsedOffer, now: float, placement: str) -> bool:
    offer = parsed.offer
    caps = offer.caps
    return (
        (parsed.start_ts is None or now >= parsed.start_ts)
        and (parsed.end_ts is None or now < parsed.end_ts)
        and (not offer.placements or placement in offer.placements)
        and not offer.eligibility.segments_any
        and not offer.eligibility.segments_none
        and not offer.eligibility.rules
        and caps.per_day is None
        and caps.per_week is None
        and caps.lifetime is None
        and caps.cooldown_after_dismiss_hours is None
        and offer.budget.conversions is None
        and offer.budget.impressions is None
    )
