"""What a joined event becomes: refused, or recorded as log entry, contact history, reward
and experiment cells, each built by its own step from the event and its join."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from engine.domain.channels import CHANNEL_CODES
from engine.domain.idempotency import conflict
from engine.domain.profiles import ActivityRow, day_number
from engine.errors import CustomerErased, EventInProgress, NotFound, ValidationFailed
from engine.feedback.rewards import stream_fields
from engine.store.records import EventJoin, EventJoinArgs, EventWrite
from experiments.cells import conversion_increments

if TYPE_CHECKING:  # the request model lives with the service that takes it
    from engine.feedback.events import EventRequest

__all__ = ["KIND_CODES", "event_write", "refuse_unrecordable"]

KIND_CODES: dict[str, str] = {"impression": "i", "click": "k", "conversion": "c", "dismiss": "x"}


def refuse_unrecordable(
    event: EventRequest, path: str, args: EventJoinArgs, joined: EventJoin
) -> None:
    """Raise the refusal of an event its join found no way to record."""
    if joined.status == "unknown":
        raise NotFound(
            f"unknown decision '{event.decision_id}' (never made, or past its window)",
            field=f"{path}decision_id",
        )
    if joined.status == "erased":
        raise CustomerErased(
            f"the customer of decision '{event.decision_id}' was erased",
            field=f"{path}decision_id",
        )
    if joined.status == "not_served":
        raise ValidationFailed(
            f"offer '{event.offer_id}' was not served in this decision",
            field=f"{path}offer_id",
        )
    if joined.status == "conflict":
        raise conflict("event_id", event.event_id, path)
    if joined.status == "in_progress":
        raise EventInProgress(
            f"event '{event.event_id}' is being recorded by another request; if that "
            f"request failed, send it again after {args.takeover_seconds} s",
            field=f"{path}event_id",
        )


def event_write(
    event: EventRequest, args: EventJoinArgs, joined: EventJoin, maxlen: int
) -> EventWrite:
    """Everything a recorded event writes besides its join."""
    return EventWrite(
        args.customer_id,
        args.token,
        event_log_entry(event, args, joined),
        reward_fields(event, joined),
        joined.scope,
        event.offer_id,
        conversion=event.type == "conversion",
        impression=event.type == "impression",
        maxlen=maxlen,
        activity=activity_row(event, args.event_time, joined),
        cells=conversion_cells(event, args.event_time, joined),
    )


def reward_fields(event: EventRequest, joined: EventJoin) -> dict[str, str] | None:
    """The learner's reward entry, when the event is the offer's reward; a fallback decision
    has no feature vector to learn from."""
    if joined.reward is None or joined.policy == "fallback":
        return None
    return stream_fields(
        "reward",
        event.decision_id,
        event.offer_id,
        repr(joined.reward),
        joined.x,
        joined.spec_version,
        repr(joined.decided_at),
        joined.policy,
    )


def event_log_entry(event: EventRequest, args: EventJoinArgs, joined: EventJoin) -> dict[str, str]:
    return {
        "event_id": event.event_id,
        "decision_id": event.decision_id,
        "customer_id": args.customer_id,
        "offer_id": event.offer_id,
        "type": event.type,
        "value": repr(event.value or 0.0),
        "ts": repr(args.event_time),
        "status": joined.status,
        "experiment": joined.experiment,
        "variant": joined.variant,
    }


def activity_row(event: EventRequest, event_time: float, joined: EventJoin) -> ActivityRow | None:
    """A click or conversion is the customer's activity too (its features read it)."""
    if event.type not in ("click", "conversion") or joined.channel not in CHANNEL_CODES:
        return None
    cents = round((event.value or 0.0) * 100) if event.type == "conversion" else 0
    return ActivityRow(
        ts=int(event_time),
        day=day_number(event_time),
        visit=False,
        purchase=event.type == "conversion",
        support=False,
        channel_code=CHANNEL_CODES[joined.channel],
        cents=cents,
    )


def conversion_cells(
    event: EventRequest, event_time: float, joined: EventJoin
) -> dict[str, dict[str, float]] | None:
    """A click or conversion of a unit exposed to an experiment counts in its cells."""
    if not joined.assignment or event.type not in ("click", "conversion"):
        return None
    return conversion_increments(
        joined.experiment,
        joined.variant,
        orjson.loads(joined.assignment),
        KIND_CODES[event.type],
        joined.first_conversion if event.type == "conversion" else joined.first_click,
        event.value or 0.0,
        joined.revenue_before,
        event_time,
    )
