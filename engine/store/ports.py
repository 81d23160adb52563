"""The store's ports: one narrow Protocol per caller, each what that caller uses and no more.

The Redis adapter (:class:`engine.store.redis.RedisStore`) implements every one of them
(``tests/store/test_ports.py`` checks it); a caller names only its port and the values of
:mod:`engine.store.records`, so another backend, or a fake in a test of pure logic, needs to
offer only what that caller calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from engine.domain.profiles import ActivityRow
from engine.store.records import (
    ActivitiesRecorded,
    CustomerRecord,
    DecisionClose,
    DecisionCommit,
    DecisionRead,
    EventJoin,
    EventJoinArgs,
    EventWrite,
    LogRecord,
    ModelCommit,
    RawCatalog,
    RewardEntries,
)

__all__ = [
    "AdminPort",
    "ApiPort",
    "CatalogReader",
    "CatalogWriter",
    "CustomerPort",
    "DecisionPort",
    "EventPort",
    "KeyPort",
    "LearnerPort",
    "ModelPort",
    "ModelTransactionPort",
    "OfflinePort",
    "SegmentPort",
    "SyntheticPort",
]


@runtime_checkable
class DecisionPort(Protocol):
    """The decision path (:class:`engine.decision.engine.DecisionEngine`)."""

    async def read_for_decision(
        self, customer_id: str, request_id: str | None, scopes: Sequence[str]
    ) -> DecisionRead:
        """Customer, catalog version, budgets, request replay and model versions: one trip."""
        ...

    async def commit_decision(self, commit: DecisionCommit) -> tuple[str, list[str]]:
        """Reserve caps and write the decision, all or nothing: ``ok``, ``refused`` (reasons
        per offer), ``replay`` (the stored answer) or ``conflict``."""
        ...

    async def log_decisions(self, records: Sequence[LogRecord], maxlen: int) -> None: ...


@runtime_checkable
class ModelPort(Protocol):
    """Serving models (:class:`engine.learning.registry.ModelRegistry`)."""

    async def read_snapshot(self, scope: str) -> tuple[int, bytes, int | None] | None:
        """Version, snapshot and the feature-spec version it was learned under."""
        ...


@runtime_checkable
class EventPort(Protocol):
    """The event path (:class:`engine.feedback.events.EventService`)."""

    async def join_events(self, joins: Sequence[EventJoinArgs]) -> list[EventJoin]: ...

    async def record_events(self, writes: Sequence[EventWrite]) -> None: ...


@runtime_checkable
class CatalogReader(Protocol):
    """The catalog cache (:class:`engine.catalog.cache.CatalogCache`)."""

    async def catalog_version(self) -> int: ...

    async def read_catalog(self) -> RawCatalog: ...


@runtime_checkable
class CatalogWriter(Protocol):
    """Catalog documents (the offer, segment, model, attribute and experiment routes and
    :mod:`engine.catalog`). ``expected`` is the version the writer read (0: absent; None: any);
    when the stored one differs nothing is written and the method returns None. A put returns
    the new version, a delete whether there was a document."""

    async def put_offer(
        self, offer_id: str, doc: bytes, expected: int | None = None
    ) -> int | None: ...

    async def delete_offer(self, offer_id: str, expected: int | None = None) -> bool | None: ...

    async def put_segment(
        self, segment_id: str, doc: bytes, expected: int | None = None
    ) -> int | None: ...

    async def delete_segment(self, segment_id: str, expected: int | None = None) -> bool | None: ...

    async def put_feature_spec(self, doc: bytes) -> None: ...

    async def put_experiment(
        self,
        experiment_id: str,
        doc: bytes,
        expected: int | None = None,
        *,
        catalog_version: int | None = None,
    ) -> int | None:
        """Raises :class:`Conflict` for the id of a deleted experiment that ran.

        ``catalog_version``: write only while the catalog is still at that version (None if the
        store moved on), for a write judged against every other experiment.
        """
        ...

    async def delete_experiment(
        self, experiment_id: str, expected: int | None = None, *, ran: bool = False
    ) -> bool | None:
        """Also deletes its results; ``ran``: its id may never be used again."""
        ...

    async def declare_attribute(self, name: str, kind: str, doc: bytes) -> str:
        """Store a declaration unless the attribute holds another type; the type in force."""
        ...


@runtime_checkable
class CustomerPort(Protocol):
    """Profiles (:mod:`engine.customers.service` and the customer routes)."""

    async def read_customer(self, customer_id: str) -> CustomerRecord:
        """Attributes, activity, contact history, catalog version and budgets: one round trip."""
        ...

    async def upsert_attributes(
        self, customer_id: str, values: Mapping[str, str], remove: Sequence[str], now: int
    ) -> None: ...

    async def register_attribute_types(self, types: Mapping[str, str]) -> dict[str, str]:
        """Fix the types of new attributes (first writer wins); returns the types in force.

        Raises :class:`AttributeLimitReached`, writing nothing, when the new undeclared
        attributes would pass the store's limit.
        """
        ...

    async def record_activities(
        self, customer_id: str, rows: Sequence[ActivityRow], now_day: int, *, now: int
    ) -> ActivitiesRecorded: ...

    async def add_experiment_cells(self, cells: Mapping[str, Mapping[str, float]]) -> None: ...

    async def erase_customer(self, customer_id: str) -> bool:
        """Erase all held about the customer, and refuse its writes for a while (tombstone)."""
        ...


@runtime_checkable
class KeyPort(Protocol):
    """API keys (:class:`engine.access.api_keys.KeyRing`)."""

    async def put_api_key(self, key_hash: str, doc: bytes) -> None: ...

    async def get_api_key(self, key_hash: str) -> str | None: ...

    async def list_api_keys(self) -> list[str]: ...

    async def delete_api_key(self, key_hash: str) -> bool: ...


@runtime_checkable
class AdminPort(Protocol):
    """Health and model versions (the health and model routes)."""

    async def ping(self) -> None: ...

    async def live_learners(self, since: float) -> list[dict[str, Any]]:
        """Learners whose last heartbeat is no older than ``since``; those silent an hour
        longer are forgotten (every restart beats under a new name)."""
        ...

    async def model_versions(self) -> dict[str, int]: ...


@runtime_checkable
class OfflinePort(Protocol):
    """The decision-log export and experiment results (:mod:`engine.offline`)."""

    async def read_log(
        self, stream: str, after: str | None, count: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Entries after id ``after`` (None: the first), ``count`` at most."""
        ...

    async def read_open_decisions(self) -> dict[str, float]:
        """Decision id -> when its attribution window closes, of every open decision."""
        ...

    async def read_decision_records(self, decision_ids: Sequence[str]) -> list[dict[str, str]]:
        """The records of these decisions (served offers, rewards so far); {} where gone."""
        ...

    async def read_experiment_cells(self, experiment_id: str) -> dict[str, str]: ...

    async def read_snapshot(self, scope: str) -> tuple[int, bytes, int | None] | None: ...


@runtime_checkable
class SegmentPort(Protocol):
    """Learned segments (:mod:`engine.learning.segments`)."""

    def scan_customer_ids(self, batch: int = 1000) -> AsyncIterator[list[str]]:
        """Ids of stored customers, in batches; an id may come twice."""
        ...

    async def read_activity_many(self, customer_ids: Sequence[str]) -> list[dict[str, str]]: ...

    async def replace_segment_model(
        self, model_id: str, doc: bytes, segments: Mapping[str, bytes]
    ) -> None: ...


class ModelTransactionPort(Protocol):
    """A scope's model as one commit attempt read it (see :meth:`LearnerPort.commit_model`)."""

    @property
    def version(self) -> int: ...

    @property
    def stored_spec(self) -> int | None: ...

    async def applied(self, day: int, members: Sequence[str]) -> list[bool]:
        """Whether each (decision, offer) member is in the day's applied set."""
        ...


@runtime_checkable
class LearnerPort(CatalogReader, Protocol):
    """The learner (:class:`engine.learning.learner.Learner`): reward streams read through a
    consumer group, model commits under WATCH, and the attribution sweep."""

    async def learner_heartbeat(self, name: str, beat: Mapping[str, Any]) -> None:
        """A learner says it is alive (``beat`` holds at least its time, ``ts``)."""
        ...

    async def model_scopes(self) -> list[str]: ...

    async def ensure_reward_group(self, scope: str) -> None: ...

    async def claim_rewards(
        self, scope: str, consumer: str, min_idle_ms: int, count: int
    ) -> RewardEntries: ...

    async def read_rewards(
        self, scope: str, consumer: str, count: int, block_ms: int | None
    ) -> RewardEntries: ...

    async def read_trainer_state(self, scope: str) -> bytes | None: ...

    async def commit_model(
        self,
        scope: str,
        attempt: Callable[[ModelTransactionPort], Awaitable[ModelCommit]],
        attempts: int = 10,
    ) -> bool:
        """Commit what ``attempt`` builds from the :class:`ModelTransactionPort` it is given,
        all or nothing; an attempt that lost the race is made again. False: none won."""
        ...

    async def trim_rewards(self, scope: str, consumer: str, forget_consumer_ms: int) -> int: ...

    async def due_decisions(
        self, scope: str, now: float, limit: int
    ) -> list[tuple[str, dict[str, str]]]: ...

    async def close_decisions(
        self,
        scope: str,
        due: Sequence[str],
        closes: Sequence[DecisionClose],
        outcome_maxlen: int,
    ) -> None: ...


@runtime_checkable
class ApiPort(
    CatalogReader, CatalogWriter, CustomerPort, AdminPort, OfflinePort, KeyPort, Protocol
):
    """What the HTTP routes reach through ``Services.store``: the ports of the modules they
    call, joined."""


@runtime_checkable
class SyntheticPort(CatalogReader, CatalogWriter, CustomerPort, AdminPort, SegmentPort, Protocol):
    """The demo, the demo experiment and the simulator (:mod:`engine.synthetic`): a catalog,
    bulk loading, and resetting what a run wrote."""

    async def mark_demo(self, value: str) -> bool: ...

    async def upsert_attributes_many(
        self, batches: Sequence[tuple[str, Mapping[str, str], int]]
    ) -> None: ...

    async def record_activities_many(
        self, batches: Sequence[tuple[str, Sequence[ActivityRow]]], now_day: int
    ) -> None: ...

    async def erase_customers_many(self, customer_ids: Sequence[str]) -> int: ...

    async def reset_experiment_cells(self, experiment_id: str) -> None: ...

    async def flush_all(self) -> None: ...

    async def close(self) -> None: ...
