"""The values that cross the store's ports: what callers pass in and what they get back.

Plain frozen dataclasses with no IO, so a caller depends on :mod:`engine.store.ports` and these
types only, never on the Redis adapter that fills them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from engine.domain.profiles import ActivityRow

__all__ = [
    "ActivitiesRecorded",
    "ContactLimits",
    "CustomerRecord",
    "DecisionClose",
    "DecisionCommit",
    "DecisionRead",
    "DecisionRecord",
    "EventJoin",
    "EventJoinArgs",
    "EventWrite",
    "LogRecord",
    "ModelCommit",
    "RawCatalog",
    "RewardEntries",
]

# one offer's caps as reserve.lua reads them (see :meth:`engine.domain.contacts.Caps.script_args`)
ContactLimits = tuple[int, int, int, int, int]
# entries of a reward stream: (entry id, fields)
RewardEntries = list[tuple[str, dict[str, str]]]


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """Everything stored about one customer plus what a decision needs beside it."""

    attributes: dict[str, str]
    activity: dict[str, str]
    contacts: dict[str, str]
    catalog_version: int
    budget_spent: dict[str, str]

    @property
    def known(self) -> bool:
        return bool(self.attributes or self.activity or self.contacts)


@dataclass(frozen=True, slots=True)
class ActivitiesRecorded:
    """What a write of activities did: all of it, or nothing when an id conflicted."""

    accepted: int  # rows counted now
    duplicates: int  # rows whose id was counted before, with the same body
    conflict: int | None  # index of a row whose id came before with another body
    # (experiment, activity type, assignment record) for every experiment whose exposed unit
    # did that type for the first time since exposure
    flagged: list[tuple[str, str, str]]


@dataclass(frozen=True, slots=True)
class RawCatalog:
    version: int
    offers: dict[str, str]
    offer_versions: dict[str, str]
    segments: dict[str, str]
    models: dict[str, str]
    attribute_types: dict[str, str]
    feature_spec: str | None = None
    experiments: dict[str, str] | None = None
    attribute_declarations: dict[str, str] | None = None
    segment_versions: dict[str, str] | None = None
    experiment_versions: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class DecisionRead:
    record: CustomerRecord
    replay: str | None
    model_versions: dict[str, int]
    assignments: dict[str, str]


@dataclass(frozen=True, slots=True)
class DecisionCommit:
    """One decision to commit: caps reserved for every served offer and its record written,
    all or nothing (``reserve.lua``)."""

    customer_id: str
    token: str
    offers: Sequence[tuple[str, ContactLimits]]
    channel_code: str
    now: int
    fields: Mapping[str, str]
    response: bytes  # the answer kept for a replay of ``request_id``
    request_id: str | None
    decision_ttl: int
    request_ttl: int
    assignment: tuple[str, str] | None = None  # (experiment id, assignment record)
    fingerprint: str = ""  # of the request's body: its id under another body is a conflict


@dataclass(frozen=True, slots=True)
class EventJoin:
    status: str
    reward: float | None
    x: str
    scope: str
    spec_version: str
    decided_at: float
    policy: str
    channel: str
    experiment: str = ""
    variant: str = ""
    assignment: str = ""
    first_conversion: bool = False
    first_click: bool = False
    revenue_before: float = 0.0
    rejoined: bool = False  # joined before but never recorded: record it now, count nothing


@dataclass(frozen=True, slots=True)
class EventJoinArgs:
    """One event to join to its decision."""

    customer_id: str
    token: str
    event_id: str
    offer_id: str
    kind: str
    value: float
    event_time: float
    now: float
    reward_code: str
    takeover_seconds: int
    attempt: str  # nonce of the request joining it: its own resent join is not a rival
    fingerprint: str = ""  # of the event's body: its id under another body is a conflict


@dataclass(frozen=True, slots=True)
class EventWrite:
    """What one joined event writes besides its join."""

    customer_id: str
    token: str
    entry: Mapping[str, str]
    reward: Mapping[str, str] | None
    scope: str
    offer_id: str
    conversion: bool
    impression: bool
    maxlen: int
    activity: ActivityRow | None = None
    cells: Mapping[str, Mapping[str, float]] | None = None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decision record written with the log rather than by the commit script: a fallback
    decision was made while the store was away, and its events can join only once it is there.
    """

    customer_id: str
    token: str
    fields: Mapping[str, str]
    expire_at: int  # absolute, so a record written late still expires when its window ends


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What a decision writes besides its own record: log entry, attribution queue, exposures
    (and, for a fallback decision, the record itself)."""

    entry: Mapping[str, str]
    scope: str
    decision_id: str
    close_at: float
    cells: Mapping[str, Mapping[str, float]] | None = None
    exposures: Sequence[Mapping[str, str]] = ()
    record: DecisionRecord | None = None


@dataclass(frozen=True, slots=True)
class DecisionClose:
    """What closing one decision writes: the reward-stream entries that never reached the
    learner (each offer marked sent, while the record exists) and its outcome-log entry."""

    decision_id: str
    customer_id: str
    sends: Sequence[tuple[str, Mapping[str, str]]]  # (offer id, reward-stream entry)
    outcome: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ModelCommit:
    """One learner batch, committed at once: the model (None when nothing was learned), the
    (decision, offer) members learned per day, and the stream entries to acknowledge."""

    state: bytes | None = None
    snapshot: bytes = b""
    version: int = 0
    spec_version: int = 0
    applied: Mapping[int, Sequence[str]] = field(default_factory=dict)
    acks: Sequence[str] = ()
