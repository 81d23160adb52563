"""The decision's response body, built here alone for every path that answers a decision.

Served, fallback (store away) and erased (customer gone mid-decision) decisions all answer in
the shape ``api.routes.decisions.DecisionOut`` documents; a test validates each path's body
against it. The body is a plain dict, not that model, because it is encoded once with orjson
on the hot path and stored as the request's replay answer as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from engine.decision.arbitration import ArbitrationMode, Selection
from engine.decision.candidates import Candidate
from engine.decision.request import DecisionRequest
from engine.domain.catalog import ParsedOffer
from engine.domain.channels import Channel
from engine.domain.idempotency import conflict, split_stamped

__all__ = [
    "Decision",
    "decision_body",
    "fallback_offers",
    "replayed_decision",
    "served_offers",
]

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def decision_body(
    request: DecisionRequest,
    decision_id: str,
    offers: list[dict[str, Any]],
    *,
    policy: str,
    model_version: int = 0,
    experiment: dict[str, str] | None = None,
    fallback: bool = False,
    propensity_estimated: bool = False,
    segments: list[str],
    reason: str | None = None,
) -> dict[str, Any]:
    """``reason`` says why no offer came (or, for a fallback, why it is one)."""
    body: dict[str, Any] = {
        "decision_id": decision_id,
        "customer_id": request.customer_id,
        "channel": request.channel,
        "placement": request.placement,
        "offers": offers,
        "policy": {"name": policy, "version": model_version},
        "experiment": experiment,
        "fallback": fallback,
        "propensity_estimated": propensity_estimated,
        "segments": segments,
    }
    if reason is not None:
        body["reason"] = reason
    return body


def served_offers(
    channel: Channel,
    policy: str,
    candidates: Sequence[Candidate],
    selection: Selection,
    *,
    arbitrated: FloatArray,
    response: FloatArray,
    expected: FloatArray,
    mode: ArbitrationMode,
) -> list[dict[str, Any]]:
    """The selected candidates in served order, each with what ranked it there."""
    offers = []
    for rank, (index, propensity) in enumerate(
        zip(selection.order, selection.propensities, strict=True), start=1
    ):
        candidate = candidates[index]
        offer = candidate.parsed.offer
        offers.append(
            {
                "offer_id": candidate.parsed.offer_id,
                "rank": rank,
                "score": round(float(arbitrated[index]), 6),
                "propensity": round(float(propensity), 6),
                "creative": offer.channels[channel].model_dump(exclude_none=True),
                "explanation": {
                    "segments": candidate.matched_segments,
                    "policy": policy,
                    "explored": selection.explored,
                    "components": {
                        "response": round(float(response[index]), 6),
                        "expected_response": round(float(expected[index]), 6),
                        "value": offer.value,
                        "weight": offer.weight,
                        "arbitration": mode,
                    },
                },
            }
        )
    return offers


def fallback_offers(channel: Channel, ranked: Sequence[ParsedOffer]) -> list[dict[str, Any]]:
    """Offers served without the store, in ``ranked`` order, each served for sure."""
    return [
        {
            "offer_id": p.offer_id,
            "rank": rank,
            "score": p.offer.value * p.offer.weight,
            "propensity": 1.0,
            "creative": p.offer.channels[channel].model_dump(exclude_none=True),
            "explanation": {"segments": [], "policy": "fallback", "explored": False},
        }
        for rank, p in enumerate(ranked, start=1)
    ]


@dataclass(frozen=True, slots=True)
class Decision:
    body: dict[str, Any]
    replayed: bool = False
    encoded: bytes | None = None  # the body as JSON, when it was encoded already

    def json(self) -> bytes:
        return self.encoded if self.encoded is not None else orjson.dumps(self.body)


def replayed_decision(stored: str, digest: str, request_id: str) -> Decision:
    """The earlier answer to this request_id, if it answered this very body."""
    kept, answer = split_stamped(stored)
    if kept is not None and kept != digest:
        raise conflict("request_id", request_id)
    return Decision(orjson.loads(answer), replayed=True, encoded=answer.encode())
