"""Which offers one customer may be shown on one channel now, and why not the others."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.domain.catalog import Catalog, ParsedOffer
from engine.domain.contacts import ContactHistory, check_contact_policy
from engine.domain.rules import evaluate, failing_conditions

__all__ = ["OfferVerdict", "Reason", "admissible", "evaluate_offer", "evaluate_offers"]


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class OfferVerdict:
    offer_id: str
    eligible: bool
    reasons: list[Reason] = field(default_factory=list)
    matched_segments: list[str] = field(default_factory=list)


def _budget_reason(parsed: ParsedOffer, budget_spent: Mapping[str, str]) -> Reason | None:
    budget = parsed.offer.budget
    for kind, code, limit in (
        ("conversions", "c", budget.conversions),
        ("impressions", "i", budget.impressions),
    ):
        if limit is not None and int(budget_spent.get(f"{parsed.offer_id}|{code}", 0)) >= limit:
            return Reason("budget_spent", f"{kind} budget of {limit} is spent")
    return None


def evaluate_offer(
    parsed: ParsedOffer,
    channel: str,
    placement: str | None,
    values: Mapping[str, Any],
    segments: set[str],
    contacts: ContactHistory,
    budget_spent: Mapping[str, str],
    now: float,
    explain: bool = True,
) -> OfferVerdict:
    """Every reason this offer cannot be shown (or, with ``explain=False``, the first one).

    The explaining path, for people (a customer's offers in the API): it says why.
    :func:`admissible` is its fast twin on the decision path, kept on purpose (see
    ARCHITECTURE.md, "Deliberate duplicates"); a property test holds the two equal.
    """
    reasons: list[Reason] = []

    def refuse(code: str, message: str) -> bool:
        reasons.append(Reason(code, message if explain else ""))
        return not explain

    matched = [s for s in parsed.offer.eligibility.segments_any if s in segments]
    if (
        _refused_by_offer(parsed, channel, placement, now, refuse)
        or _refused_by_segments(parsed, matched, segments, refuse)
        or _refused_by_rules(parsed, values, refuse)
        or _refused_by_contacts(parsed, contacts, now, refuse)
    ):
        return OfferVerdict(parsed.offer_id, False, reasons)
    budget = _budget_reason(parsed, budget_spent)
    if budget is not None:
        reasons.append(budget)
    return OfferVerdict(parsed.offer_id, not reasons, reasons, matched)


# records a reason; True when the evaluation stops there (it is not explaining)
Refuse = Callable[[str, str], bool]


def _refused_by_offer(
    parsed: ParsedOffer, channel: str, placement: str | None, now: float, refuse: Refuse
) -> bool:
    """The offer's own state: status, schedule, channel and placement."""
    offer = parsed.offer
    if offer.status != "active" and refuse(offer.status, f"offer is {offer.status}"):
        return True
    if (
        parsed.start_ts is not None
        and now < parsed.start_ts
        and refuse("out_of_schedule", "offer has not started")
    ):
        return True
    if (
        parsed.end_ts is not None
        and now >= parsed.end_ts
        and refuse("out_of_schedule", "offer has ended")
    ):
        return True
    if channel not in offer.channels and refuse(
        "no_creative_for_channel", f"no creative for channel {channel}"
    ):
        return True
    return bool(
        placement is not None
        and offer.placements
        and placement not in offer.placements
        and refuse("placement", f"not offered on placement {placement}")
    )


def _refused_by_segments(
    parsed: ParsedOffer, matched: list[str], segments: set[str], refuse: Refuse
) -> bool:
    rules = parsed.offer.eligibility
    if (
        rules.segments_any
        and not matched
        and refuse("segment_rule", f"not in any of segments {', '.join(rules.segments_any)}")
    ):
        return True
    excluded = [s for s in rules.segments_none if s in segments]
    return bool(excluded) and refuse("segment_rule", f"in excluded segment {', '.join(excluded)}")


def _refused_by_rules(parsed: ParsedOffer, values: Mapping[str, Any], refuse: Refuse) -> bool:
    if parsed.rules.rules:
        for condition in failing_conditions(parsed.rules, values):
            message = f"rule failed: {condition.field} {condition.op} {_show(condition.value)}"
            if refuse("attribute_rule", message):
                return True
    return False


def _refused_by_contacts(
    parsed: ParsedOffer, contacts: ContactHistory, now: float, refuse: Refuse
) -> bool:
    policy = check_contact_policy(parsed.offer.caps, contacts.get(parsed.offer_id), now)
    return policy is not None and refuse(policy, _POLICY_MESSAGES[policy])


def admissible(
    parsed: ParsedOffer,
    channel: str,
    placement: str | None,
    values: Mapping[str, Any],
    segments: set[str],
    contacts: ContactHistory,
    budget_spent: Mapping[str, str],
    now: float,
) -> list[str] | None:
    """The decision path's eligibility: the matched segments if eligible, else ``None``.

    The same checks in the same order as :func:`evaluate_offer` (a property test holds them
    equal), without building reasons: a decision asks this of every offer of the channel,
    and the explaining version's allocations were a tenth of a decision's CPU. The two are a
    deliberate pair, one fast and one that explains (ARCHITECTURE.md, "Deliberate
    duplicates"); a change to one is a change to both.
    """
    offer = parsed.offer
    if offer.status != "active":
        return None
    if parsed.start_ts is not None and now < parsed.start_ts:
        return None
    if parsed.end_ts is not None and now >= parsed.end_ts:
        return None
    if channel not in offer.channels:
        return None
    if placement is not None and offer.placements and placement not in offer.placements:
        return None
    rules = offer.eligibility
    matched = [s for s in rules.segments_any if s in segments] if rules.segments_any else []
    if rules.segments_any and not matched:
        return None
    if rules.segments_none and not segments.isdisjoint(rules.segments_none):
        return None
    if parsed.rules.rules and not evaluate(parsed.rules, values):
        return None
    if check_contact_policy(offer.caps, contacts.get(parsed.offer_id), now) is not None:
        return None
    if (offer.budget.conversions is not None or offer.budget.impressions is not None) and (
        _budget_reason(parsed, budget_spent) is not None
    ):
        return None
    return matched


def evaluate_offers(
    catalog: Catalog,
    channel: str,
    placement: str | None,
    values: Mapping[str, Any],
    segments: set[str],
    contacts: ContactHistory,
    budget_spent: Mapping[str, str],
    now: float,
) -> list[OfferVerdict]:
    return [
        evaluate_offer(parsed, channel, placement, values, segments, contacts, budget_spent, now)
        for parsed in catalog.offers.values()
    ]


_POLICY_MESSAGES = {
    "already_converted": "customer already converted on this offer",
    "cooling_down": "customer dismissed this offer recently",
    "lifetime_cap_reached": "lifetime cap reached",
    "weekly_cap_reached": "weekly cap reached",
    "daily_cap_reached": "daily cap reached",
}


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(map(str, value))) + "]"
    if isinstance(value, tuple):
        return f"[{value[0]}, {value[1]}]"
    return str(value)
