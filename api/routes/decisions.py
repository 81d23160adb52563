"""Decisions and feedback events: what apps call on every page, message and screen."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from api.deps import DecideOrClient, ServicesDep
from api.openapi import errors
from engine.decision.request import DecisionRequest
from engine.errors import NboError
from engine.feedback.events import EventRequest

router = APIRouter(tags=["decisions"])


class OfferOut(BaseModel):
    offer_id: str
    rank: int
    score: float
    propensity: float = Field(description="Probability the decision process served it here.")
    creative: dict[str, str]
    explanation: dict[str, Any]


# the documented shape of engine.decision.response.decision_body (the route returns those bytes
# as they are); tests/decision/test_response.py holds every path's body to it
class DecisionOut(BaseModel):
    decision_id: str
    customer_id: str
    channel: str
    placement: str
    offers: list[OfferOut]
    policy: dict[str, Any]
    experiment: dict[str, Any] | None
    fallback: bool
    propensity_estimated: bool
    segments: list[str]
    reason: str | None = None


class EventOut(BaseModel):
    event_id: str
    status: str = Field(description="accepted, duplicate or late")
    learned: bool = Field(description="Whether this event became the offer's reward.")


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[EventRequest] = Field(min_length=1, max_length=500)


class EventBatchItem(BaseModel):
    event_id: str
    status: str
    learned: bool = False
    error: dict[str, Any] | None = None


def without_segments(body: dict[str, Any]) -> dict[str, Any]:
    """A decision as a ``client`` key sees it: anyone can read such a key in a page or an app,
    and segment memberships (``vip``, ``churn_risk``) are profile data, so none are named."""
    return {
        **body,
        "segments": [],
        "offers": [
            {**offer, "explanation": {**offer["explanation"], "segments": []}}
            for offer in body["offers"]
        ],
    }


@router.post(
    "/v1/decisions",
    summary="Next best offers for one customer on one channel",
    response_model=DecisionOut,
    responses=errors(409),
)
async def post_decision(
    body: DecisionRequest, services: ServicesDep, key: DecideOrClient
) -> Response:
    decision = await services.decisions.decide(body, defer_log=True)
    encoded = (
        decision.json() if key.role != "client" else orjson.dumps(without_segments(decision.body))
    )
    # the decision log is written after the response is sent, batched with concurrent ones
    return Response(
        encoded,
        media_type="application/json",
        background=BackgroundTask(services.decisions.flush_log),
    )


@router.post(
    "/v1/events",
    summary="One feedback event",
    response_model=EventOut,
    responses=errors(404, 409),
)
async def post_event(body: EventRequest, services: ServicesDep, _: DecideOrClient) -> EventOut:
    outcome = await services.events.record(body)
    return EventOut(event_id=outcome.event_id, status=outcome.status, learned=outcome.learned)


@router.post(
    "/v1/events:batch",
    summary="Up to 500 feedback events; each is accepted or refused on its own",
)
async def post_events(
    body: EventBatch, services: ServicesDep, _: DecideOrClient
) -> list[EventBatchItem]:
    # a store outage fails the whole batch (503) and the client sends it again: events recorded
    # come back as duplicates, events joined but not recorded are recorded then (EventService)
    outcomes = await services.events.record_batch(body.events)
    out = []
    for event, outcome in zip(body.events, outcomes, strict=True):
        if isinstance(outcome, NboError):
            out.append(
                EventBatchItem(
                    event_id=event.event_id,
                    status="refused",
                    error={
                        "code": outcome.code,
                        "message": outcome.message,
                        "field": outcome.field,
                    },
                )
            )
        else:
            out.append(
                EventBatchItem(
                    event_id=outcome.event_id, status=outcome.status, learned=outcome.learned
                )
            )
    return out
