"""Feedback events: joined to their decision once, turned into contact history and rewards."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from engine.config import Settings
from engine.domain.idempotency import fingerprint
from engine.domain.profiles import FUTURE_TOLERANCE_SECONDS
from engine.domain.values import Timestamp
from engine.errors import NboError, NotFound, ValidationFailed
from engine.feedback.outcome import KIND_CODES, event_write, refuse_unrecordable
from engine.metrics import EVENTS, LATE_EVENTS
from engine.store import keys
from engine.store.keys import split_decision_id
from engine.store.ports import EventPort
from engine.store.records import EventJoin, EventJoinArgs, EventWrite
from experiments.config import StrictModel

__all__ = ["EventOutcome", "EventRequest", "EventService"]

EventType = Literal["impression", "click", "conversion", "dismiss"]
REWARD_CODES = {"click": "k", "conversion": "c", "conversion_value": "v"}
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:~@-]{0,299}$")]


class EventRequest(StrictModel):
    """``POST /v1/events``: what happened to one served offer."""

    model_config = ConfigDict(
        # the value rule below, stated in the schema so clients and generators know it
        json_schema_extra={
            "if": {"not": {"properties": {"type": {"const": "conversion"}}}},
            "then": {"properties": {"value": {"type": "null"}}},
        },
    )

    event_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
    decision_id: Id
    offer_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    type: EventType
    value: float | None = Field(default=None, ge=0, le=1e9)
    timestamp: Timestamp | None = None

    @model_validator(mode="after")
    def _value_for_conversions(self) -> EventRequest:
        if self.value is not None and self.type != "conversion":
            raise ValueError("value: is only accepted for a conversion")
        return self


@dataclass(frozen=True, slots=True)
class EventOutcome:
    event_id: str
    status: str  # accepted | duplicate | late
    learned: bool


class EventService:
    """``write_pending`` writes queued fallback decisions (see
    :meth:`DecisionEngine.write_pending`): an event may come for a decision made while the
    store was away before its record reached the store, and must join it, not get 404."""

    def __init__(
        self,
        store: EventPort,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        write_pending: Callable[[Collection[str]], Awaitable[bool]] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.reward_code = REWARD_CODES[settings.reward]
        self.write_pending = write_pending

    async def record(self, event: EventRequest, path: str = "") -> EventOutcome:
        """Join and record one event; raises NotFound (unknown decision) or ValidationFailed."""
        (outcome,) = await self.record_batch([event], paths=[path])
        if isinstance(outcome, NboError):
            raise outcome
        return outcome

    async def record_batch(
        self, events: Sequence[EventRequest], paths: Sequence[str] | None = None
    ) -> list[EventOutcome | NboError]:
        """Join and record events in two round trips, whatever their number.

        Each event is accepted or refused on its own (the refusal is returned, not raised); the
        joins run in order, so the outcome is that of the same events sent one by one. A store
        failure raises StoreUnavailable for the whole batch.
        """
        now = self.clock()
        attempt = secrets.token_hex(8)
        paths = paths if paths is not None else [f"events[{i}]." for i in range(len(events))]
        outcomes: list[EventOutcome | NboError | None] = []
        joins: list[EventJoinArgs] = []
        for event, path in zip(events, paths, strict=True):
            try:
                joins.append(self._join_args(event, path, now, attempt))
                outcomes.append(None)
            except NboError as exc:
                outcomes.append(exc)
        results = await self.store.join_events(joins) if joins else []
        unknown = [i for i, result in enumerate(results) if result.status == "unknown"]
        if unknown and self.write_pending is not None:
            decision_ids = {keys.decision_id(joins[i].customer_id, joins[i].token) for i in unknown}
            if await self.write_pending(decision_ids):
                # an unknown join changed nothing: joining those again, in order, is as if
                # they had come after the record was written
                again = await self.store.join_events([joins[i] for i in unknown])
                for i, result in zip(unknown, again, strict=True):
                    results[i] = result
        joined = iter(zip(joins, results, strict=True))
        writes: list[EventWrite] = []
        seen: set[tuple[str, str]] = set()  # events this batch joined, recorded below
        for i, (event, path) in enumerate(zip(events, paths, strict=True)):
            if outcomes[i] is not None:
                continue
            args, result = next(joined)
            key = (event.decision_id, event.event_id)
            if key in seen and (result.status == "in_progress" or result.rejoined):
                # joined earlier in this batch: one by one, that one would be recorded by now
                outcomes[i] = EventOutcome(event.event_id, "duplicate", False)
                continue
            try:
                outcomes[i], write = self._outcome(event, path, args, result)
            except NboError as exc:
                outcomes[i] = exc
                continue
            seen.add(key)
            if write is not None:
                writes.append(write)
        await self.store.record_events(writes)
        return [o for o in outcomes if o is not None]

    def _join_args(self, event: EventRequest, path: str, now: float, attempt: str) -> EventJoinArgs:
        event_time = event.timestamp.timestamp() if event.timestamp else now
        if event_time > now + FUTURE_TOLERANCE_SECONDS:
            raise ValidationFailed("timestamp is in the future", field=f"{path}timestamp")
        parts = split_decision_id(event.decision_id)
        if parts is None:
            raise NotFound(f"unknown decision '{event.decision_id}'", field=f"{path}decision_id")
        customer_id, token = parts
        return EventJoinArgs(
            customer_id,
            token,
            event.event_id,
            event.offer_id,
            KIND_CODES[event.type],
            event.value or 0.0,
            event_time,
            now,
            self.reward_code,
            self.settings.event_takeover_seconds,
            attempt,
            fingerprint(event, exclude=("event_id",)),
        )

    def _outcome(
        self, event: EventRequest, path: str, args: EventJoinArgs, joined: EventJoin
    ) -> tuple[EventOutcome, EventWrite | None]:
        """Refuse it (raised), or say what it is and what recording it writes (see
        :mod:`engine.feedback.outcome`)."""
        if not joined.rejoined:  # a rejoined event was counted when it was first joined
            EVENTS.labels(type=event.type, status=joined.status).inc()
        refuse_unrecordable(event, path, args, joined)
        if joined.status == "duplicate":
            return EventOutcome(event.event_id, "duplicate", False), None
        if joined.status == "late" and not joined.rejoined:
            LATE_EVENTS.labels(type=event.type).inc()
        write = event_write(event, args, joined, self.settings.decision_log_maxlen)
        return EventOutcome(event.event_id, joined.status, write.reward is not None), write
