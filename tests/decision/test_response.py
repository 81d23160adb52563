"""Every path's decision body has the shape the API documents (``DecisionOut``), exactly."""

from __future__ import annotations

from typing import Any

import numpy as np

from api.routes.decisions import DecisionOut
from engine.decision.arbitration import Selection
from engine.decision.candidates import Candidate
from engine.decision.request import DecisionRequest
from engine.decision.response import decision_body, fallback_offers, served_offers
from engine.domain.catalog import Offer, ParsedOffer, field_types, validate_offer

REQUEST = DecisionRequest(customer_id="c-1", channel="web", placement="home", limit=2)


def parsed(offer_id: str, value: float) -> ParsedOffer:
    offer = Offer.model_validate(
        {"name": offer_id, "channels": {"web": {"title": offer_id}}, "value": value}
    )
    return ParsedOffer(
        offer_id, offer, 1, validate_offer(offer, set(), field_types({})), None, None
    )


def documented(body: dict[str, Any]) -> dict[str, Any]:
    """The body as the documented model reads it: equal to the body when nothing is missing,
    extra or of another type."""
    return DecisionOut.model_validate(body).model_dump(exclude_unset=True)


def test_a_served_body_is_documented() -> None:
    candidates = [Candidate(parsed("o-1", 2.0), ["s-a"]), Candidate(parsed("o-2", 1.0), [])]
    selection = Selection(np.array([1, 0]), np.array([0.7, 0.3]), False, True)
    offers = served_offers(
        "web",
        "linucb",
        candidates,
        selection,
        arbitrated=np.array([0.2, 0.4]),
        response=np.array([0.1, 0.4]),
        expected=np.array([0.1, 0.35]),
        mode="expected_value",
    )
    body = decision_body(
        REQUEST,
        "d-1~c-1",
        offers,
        policy="linucb",
        model_version=3,
        experiment={"experiment_id": "exp-1", "variant": "treatment"},
        propensity_estimated=True,
        segments=["s-a"],
    )
    assert [o["offer_id"] for o in body["offers"]] == ["o-2", "o-1"]
    assert "reason" not in body
    assert documented(body) == body


def test_an_empty_served_body_says_why() -> None:
    body = decision_body(
        REQUEST, "d-1~c-1", [], policy="rules", segments=[], reason="no_eligible_offer"
    )
    assert body["reason"] == "no_eligible_offer"
    assert documented(body) == body


def test_a_fallback_body_is_documented() -> None:
    offers = fallback_offers("web", [parsed("o-1", 2.0), parsed("o-2", 1.0)])
    body = decision_body(
        REQUEST,
        "d-1~c-1",
        offers,
        policy="fallback",
        fallback=True,
        segments=[],
        reason="store_unavailable",
    )
    assert [o["rank"] for o in body["offers"]] == [1, 2]
    assert documented(body) == body


def test_an_erased_body_is_documented() -> None:
    body = decision_body(
        REQUEST, "d-1~c-1", [], policy="none", segments=[], reason="customer_erased"
    )
    assert body["policy"] == {"name": "none", "version": 0}
    assert documented(body) == body
