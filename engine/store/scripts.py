"""The Lua scripts (``lua/*.lua``): each one's argument builder and reply type, in one place.

A script's positional ``ARGV`` is built only here, by the builder named after it, and its reply
is read only here, so the adapter's methods pass typed values and the layout each script
documents in its header is coded once. Scripts over one customer's keys run in the frame of
``guard.lua`` (:class:`CustomerScript`). Pipelined scripts are queued by hash and reloaded on
NOSCRIPT (:meth:`Scripts.queue`, :meth:`Scripts.execute`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis.asyncio as redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from engine.domain.profiles import HISTORY_DAYS, ActivityRow
from engine.errors import CustomerErased
from engine.store.keys import guard_keys
from engine.store.records import (
    ActivitiesRecorded,
    ContactLimits,
    DecisionCommit,
    EventJoin,
    EventJoinArgs,
)

__all__ = [
    "AttributeTypes",
    "CustomerScript",
    "DocumentWrite",
    "Scripts",
    "activities_recorded",
    "activity_args",
    "attribute_args",
    "attribute_types",
    "attribute_types_args",
    "declare_args",
    "document_args",
    "erased",
    "event_args",
    "event_join",
    "mark_args",
    "outcome_args",
    "record_args",
    "refs_args",
    "refused",
    "reserve_args",
]


def load_script(name: str) -> str:
    return resources.files("engine.store").joinpath("lua", name).read_text(encoding="utf-8")


class CustomerScript(AsyncScript):
    """A script over one customer's keys, run in the frame of ``guard.lua``.

    The frame's two keys (the customer's tombstone and named-key index) are appended here, on
    every call and every pipelined use (:meth:`Scripts.queue`), so no write path for a customer
    can skip the erasure check or leave a key erasure would not find.
    """

    def __init__(self, client: redis.Redis, name: str) -> None:
        frame = load_script("guard.lua")
        super().__init__(client, frame.replace("--BODY--", load_script(name)))

    @staticmethod
    def framed(script_keys: Sequence[Any]) -> list[Any]:
        return [*script_keys, *guard_keys(str(script_keys[0]))]

    async def __call__(
        self,
        keys: Sequence[Any] | None = None,
        args: Iterable[Any] | None = None,
        client: Any = None,
    ) -> Any:
        return await super().__call__(self.framed(keys or []), args, client)


class Scripts:
    """Every script, registered on one client, and the pipelining of them by hash."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.activities = CustomerScript(client, "activities.lua")
        self.attributes = CustomerScript(client, "attributes.lua")
        self.reserve = CustomerScript(client, "reserve.lua")
        self.outcome = CustomerScript(client, "outcome.lua")
        self.event = CustomerScript(client, "event.lua")
        self.mark = CustomerScript(client, "mark.lua")
        self.refs = CustomerScript(client, "refs.lua")
        self.record = CustomerScript(client, "record.lua")
        # catalog scripts: no customer, no tombstone
        self.types = client.register_script(load_script("attribute_types.lua"))
        self.declare = client.register_script(load_script("declare_attribute.lua"))
        self.document = client.register_script(load_script("document.lua"))
        self.bodies: dict[str | bytes, Any] = {
            script.sha: script.script
            for script in (
                self.activities,
                self.attributes,
                self.reserve,
                self.outcome,
                self.event,
                self.types,
                self.declare,
                self.document,
                self.mark,
                self.refs,
                self.record,
            )
        }

    @staticmethod
    def queue(
        pipe: Pipeline, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]
    ) -> None:
        """Queue a script in a pipeline by its hash.

        redis-py's own way (``script(..., client=pipe)``) asks the store whether the scripts
        exist before every pipeline, a round trip more per request; :meth:`execute` instead
        recovers from the rare NOSCRIPT (a store restarted without its script cache).
        """
        if isinstance(script, CustomerScript):
            keys = script.framed(keys)
        pipe.evalsha(script.sha, len(keys), *keys, *args)

    async def execute(self, pipe: Pipeline) -> list[Any]:
        """Execute a pipeline whose scripts were queued with :meth:`queue`.

        Commands refused with NOSCRIPT had no effect, so loading the scripts and sending those
        commands again, in their order, is exact; the other commands are not repeated. Any
        other error is raised, as ``execute`` does.
        """
        queued = [args for args, _ in pipe.command_stack]
        results: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            for sha in {queued[i][1] for i in missing}:
                await self.client.script_load(self.bodies[sha])
            async with self.client.pipeline(transaction=False) as again:
                for i in missing:
                    again.execute_command(*queued[i])
                for i, result in zip(missing, await again.execute(), strict=True):
                    results[i] = result
        for result in results:
            if isinstance(result, Exception):
                raise result
        return results


# --- guard.lua: every customer script ----------------------------------------------------------


def erased(result: Any) -> bool:
    """Whether a customer script was refused by the customer's tombstone."""
    return isinstance(result, list) and len(result) == 1 and result[0] == "erased"


def refused(customer_id: str) -> CustomerErased:
    return CustomerErased(
        f"customer '{customer_id}' was erased moments ago; writes for it are refused for a "
        "while, so that nothing written concurrently with the erasure survives it",
        field="customer_id",
    )


# --- attributes.lua ----------------------------------------------------------------------------


def attribute_args(
    retention_seconds: int, values: Mapping[str, str], remove: Sequence[str], now: int
) -> list[Any]:
    args: list[Any] = [retention_seconds, now, len(values)]
    for name, value in values.items():
        args += [name, value]
    args += list(remove)
    return args


# --- outcome.lua -------------------------------------------------------------------------------


def outcome_args(retention_seconds: int, offer_id: str, kind: str, now: int) -> list[Any]:
    return [retention_seconds, offer_id, kind, now]


# --- mark.lua and record.lua: a decision record's fields ---------------------------------------


def mark_args(name: str, value: str = "1") -> list[Any]:
    """Set one field of a decision record, only while the record exists."""
    return [name, value]


def record_args(expire_at: int, fields: Mapping[str, str]) -> list[Any]:
    """A fallback decision's record, written late, expiring at ``expire_at`` (unix seconds)."""
    return [expire_at, *(item for pair in fields.items() for item in pair)]


# --- attribute_types.lua and declare_attribute.lua ---------------------------------------------


@dataclass(frozen=True, slots=True)
class AttributeTypes:
    """The reply of attribute_types.lua: the types in force, or the first name refused."""

    in_force: dict[str, str]
    refused: str | None = None  # the attribute that would pass the cap (nothing written)


def attribute_types_args(max_undeclared: int, types: Mapping[str, str]) -> list[Any]:
    args: list[Any] = [max_undeclared]
    for name, kind in types.items():
        args += [name, kind]
    return args


def attribute_types(result: Sequence[Any], names: Sequence[str]) -> AttributeTypes:
    admitted, *stored = result
    if not admitted:
        return AttributeTypes({}, str(stored[0]))
    return AttributeTypes(dict(zip(names, [str(s) for s in stored], strict=True)))


def declare_args(name: str, kind: str, doc: bytes) -> list[Any]:
    return [name, kind, doc]


# --- activities.lua ----------------------------------------------------------------------------


def activity_args(
    retention_seconds: int,
    rows: Sequence[ActivityRow],
    now_day: int,
    now: int = 0,
    id_ttl_seconds: int = 1,
) -> list[Any]:
    """Arguments of activities.lua; ``now`` and the id ttl matter only for rows with an id."""
    args: list[Any] = [retention_seconds, now_day, HISTORY_DAYS, len(rows), now, id_ttl_seconds]
    for row in rows:
        args += [
            row.ts,
            row.day,
            int(row.visit),
            int(row.purchase),
            int(row.support),
            row.channel_code,
            row.cents,
            row.kind,
            row.activity_id,
            row.fingerprint,
        ]
    return args


def activities_recorded(result: Sequence[Any], rows: int) -> ActivitiesRecorded:
    """The reply of activities.lua for a batch of ``rows`` (not erased)."""
    status, count, *rest = [str(v) for v in result]
    if status == "conflict":
        return ActivitiesRecorded(0, 0, int(count) - 1, [])
    flagged = [(rest[i], rest[i + 1], rest[i + 2]) for i in range(0, len(rest) - 2, 3)]
    return ActivitiesRecorded(rows - int(count), int(count), None, flagged)


# --- reserve.lua -------------------------------------------------------------------------------


def reserve_args(
    retention_seconds: int,
    now: int,
    channel_code: str,
    offers: Sequence[tuple[str, ContactLimits]],
    commit: DecisionCommit | None = None,
) -> list[Any]:
    """A contact reservation; with ``commit``, all or nothing and the decision written too."""
    args: list[Any] = [
        retention_seconds,
        now,
        now // 86_400,
        channel_code,
        0 if commit is None else 1,
        len(offers),
    ]
    for offer_id, limits in offers:
        args += [offer_id, *limits]
    if commit is None:
        return args
    args += [
        commit.decision_ttl,
        commit.request_ttl,
        commit.response,
        commit.fingerprint,
        len(commit.fields),
    ]
    for name, value in commit.fields.items():
        args += [name, value]
    args += list(commit.assignment) if commit.assignment is not None else ["", ""]
    return args


# --- event.lua ---------------------------------------------------------------------------------


def event_args(retention_seconds: int, join: EventJoinArgs) -> list[Any]:
    return [
        retention_seconds,
        join.event_id,
        join.offer_id,
        join.kind,
        repr(float(join.value)),
        int(join.event_time),
        int(join.now),
        join.takeover_seconds,
        join.reward_code,
        join.attempt,
        join.fingerprint,
    ]


def event_join(result: Sequence[Any]) -> EventJoin:
    status = str(result[0])
    if len(result) == 1:
        return EventJoin(status, None, "", "", "", 0.0, "", "")
    values = [str(v) for v in result[1:15]]
    reward, x, scope, spec_version, decided_at, policy, channel, experiment, variant = values[:9]
    assignment, first_conversion, first_click, revenue_before, rejoined = values[9:14]
    return EventJoin(
        status,
        float(reward) if reward else None,
        x,
        scope,
        spec_version,
        float(decided_at or 0),
        policy,
        channel,
        experiment,
        variant,
        assignment,
        first_conversion == "1",
        first_click == "1",
        float(revenue_before or 0),
        rejoined == "1",
    )


# --- document.lua ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentWrite:
    """The reply of document.lua: ``ok``, ``stale``, ``missing`` or ``retired``, and a version."""

    status: str
    version: int


def document_args(
    item_id: str,
    expected: int | None,
    doc: bytes | None,
    retire: bool = False,
    catalog_version: int | None = None,
) -> list[Any]:
    """A conditional put (``doc``) or delete (``doc`` None)."""
    return [
        item_id,
        "" if expected is None else expected,
        "delete" if doc is None else "put",
        ("1" if retire else "0") if doc is None else doc,
        "" if catalog_version is None else catalog_version,
    ]


# --- refs.lua ----------------------------------------------------------------------------------


def refs_args(ttl_seconds: int, stale: Sequence[tuple[str, str]], refs: Sequence[str]) -> list[Any]:
    return [ttl_seconds, len(stale), *(bound for pair in stale for bound in pair), *refs]
