"""The decision path's eligibility agrees with the explaining one, offer by offer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from engine.decision.eligibility import admissible, evaluate_offer
from engine.domain.catalog import Offer, ParsedOffer, field_types, validate_offer
from engine.domain.contacts import OfferContacts

NOW = 1_795_000_000.0
DAY = int(NOW // 86_400)
SEGMENTS = ["s-a", "s-b", "s-c"]
TYPES = field_types({"tier": "string", "age": "number"})
limits = st.none() | st.integers(0, 3)

condition = st.one_of(
    st.builds(
        lambda v: {"field": "tier", "op": "eq", "value": v}, st.sampled_from(["gold", "bronze"])
    ),
    st.builds(lambda v: {"field": "age", "op": "gte", "value": v}, st.integers(18, 70)),
    st.just({"field": "tier", "op": "exists"}),
)


@st.composite
def offers(draw: st.DrawFn) -> ParsedOffer:
    # mostly offers that pass the cheap checks, so the later ones are exercised too
    scheduled = st.none() | st.none() | st.none() | st.floats(NOW - 5_000, NOW + 5_000)
    start, end = draw(scheduled), draw(scheduled)
    if start is not None and end is not None and end <= start:
        start, end = end - 1.0, start + 1.0
    body: dict[str, Any] = {
        "name": "o",
        "status": draw(st.sampled_from(["active"] * 8 + ["paused", "archived"])),
        "channels": {
            ch: {"title": "t"}
            for ch in draw(st.sets(st.sampled_from(["web", "email"]), min_size=1))
        },
        "placements": draw(st.lists(st.sampled_from(["home", "cart"]), max_size=1)),
        "eligibility": {
            "segments_any": draw(st.lists(st.sampled_from(SEGMENTS), max_size=2, unique=True)),
            "segments_none": draw(st.lists(st.sampled_from(SEGMENTS), max_size=1, unique=True)),
            "rules": draw(st.lists(condition, max_size=2)),
        },
        "caps": {
            "per_day": draw(limits),
            "per_week": draw(limits),
            "lifetime": draw(limits),
            "cooldown_after_dismiss_hours": draw(st.none() | st.sampled_from([1.0, 48.0])),
            "suppress_after_conversion": draw(st.booleans()),
        },
        "budget": {"conversions": draw(limits), "impressions": draw(limits)},
    }
    if start is not None:
        body["start_at"] = datetime.fromtimestamp(start, UTC).isoformat()
    if end is not None:
        body["end_at"] = datetime.fromtimestamp(end, UTC).isoformat()
    offer = Offer.model_validate(body)
    rules = validate_offer(offer, set(SEGMENTS), TYPES)
    return ParsedOffer("o-1", offer, 1, rules, start, end)


@st.composite
def histories(draw: st.DrawFn) -> dict[str, OfferContacts]:
    if draw(st.booleans()):
        return {}
    served_days = draw(st.lists(st.integers(DAY - 9, DAY), max_size=4))
    slots = {day % 7: (day, served_days.count(day)) for day in served_days}
    return {
        "o-1": OfferContacts(
            day_slots=slots,
            served=len(served_days) + draw(st.integers(0, 2)),
            conversions=draw(st.integers(0, 1)),
            last_dismissed_at=draw(st.none() | st.integers(int(NOW) - 200_000, int(NOW))),
        )
    }


@settings(max_examples=1500, deadline=None)
@given(
    parsed=offers(),
    channel=st.sampled_from(["web", "web", "email", "push"]),
    placement=st.none() | st.sampled_from(["home", "cart", "account"]),
    tier=st.none() | st.sampled_from(["gold", "bronze"]),
    age=st.integers(18, 80),
    segments=st.sets(st.sampled_from(SEGMENTS)),
    contacts=histories(),
    spent=st.fixed_dictionaries(
        {},
        optional={
            "o-1|c": st.sampled_from(["0", "1", "5"]),
            "o-1|i": st.sampled_from(["0", "2", "9"]),
        },
    ),
)
def test_fast_path_decides_as_the_explanation_does(
    parsed: ParsedOffer,
    channel: str,
    placement: str | None,
    tier: str | None,
    age: int,
    segments: set[str],
    contacts: dict[str, OfferContacts],
    spent: dict[str, str],
) -> None:
    values: dict[str, Any] = {"age": age} if tier is None else {"tier": tier, "age": age}
    verdict = evaluate_offer(parsed, channel, placement, values, segments, contacts, spent, NOW)
    fast = admissible(parsed, channel, placement, values, segments, contacts, spent, NOW)
    event("eligible" if verdict.eligible else f"refused: {verdict.reasons[0].code}")
    assert (fast is not None) == verdict.eligible
    if fast is not None:
        assert fast == verdict.matched_segments
