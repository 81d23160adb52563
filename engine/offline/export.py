"""Export the decision log joined with rewards, one row per served offer.

The format is what off-policy tools read (action, probability, reward, context) and what
``nbo evaluate`` reads back. By default only decisions whose attribution window has closed are
exported: before that their reward is not final. ``include_open`` adds the others with the
reward so far, marked ``open``, for an analyst who wants to look before the windows close.

Two encodings of the same rows: JSON lines, and Parquet with the explicit schema of
:func:`parquet_schema`, which pandas, DuckDB and Spark read as they are (no conversion step, no
types guessed from the data). An export that comes out empty because every window is still open
should say so rather than look like a store with no traffic: :class:`ExportSummary` counts the
decisions still open and when their windows close.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, BinaryIO

import orjson

from engine.store import keys
from engine.store.ports import OfflinePort

__all__ = [
    "ExportFormat",
    "ExportSummary",
    "export_rows",
    "parquet_schema",
    "write_jsonl",
    "write_parquet",
]

CHUNK = 1000
ROW_GROUP = 10_000
"""Rows per Parquet row group: memory stays bounded however long the log is."""


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    PARQUET = "parquet"


@dataclass
class ExportSummary:
    """What an export left out and why; filled in as :func:`export_rows` runs.

    ``open_decisions`` are logged decisions the learner has not closed yet; ``due`` of them
    have a window that has already passed (the learner closes them on its next sweep, so a
    large ``due`` means no learner is running). ``first_close``/``last_close`` are unix seconds.
    """

    rows: int = 0
    closed_decisions: int = 0
    open_decisions: int = 0
    open_exported: int = 0
    due: int = 0
    first_close: float | None = None
    last_close: float | None = None

    def note_open(self, close_at: float, now: float) -> None:
        self.open_decisions += 1
        if close_at <= now:
            self.due += 1
        self.first_close = close_at if self.first_close is None else min(self.first_close, close_at)
        self.last_close = close_at if self.last_close is None else max(self.last_close, close_at)

    def describe_open(self, included: bool) -> str | None:
        """A sentence on the open decisions for the person who ran the export, or None."""
        if not self.open_decisions:
            return None
        assert self.first_close is not None
        assert self.last_close is not None
        n = self.open_decisions
        noun = "decision is" if n == 1 else "decisions are"
        first, last = _when(self.first_close), _when(self.last_close)
        span = f"closes {first}" if n == 1 else f"close between {first} and {last}"
        text = f"{n} {noun} still in their attribution window (their windows {span})"
        if self.due:
            text += (
                f"; {self.due} of them have passed their window and wait for the learner to "
                "close them (is `nbo learner` or `nbo serve` running?)"
            )
        if included:
            return text + f"; {self.open_exported} rows of them are exported with open = true."
        return text + (
            ". Their rewards are not final, so they are not exported: export again then, or "
            "pass --include-open to export them with the reward so far."
        )


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ms(seconds: float) -> int:
    """Whole milliseconds: the Parquet timestamp unit, and so the JSON lines' precision too, so
    that the two encodings hold the very same number."""
    return round(seconds * 1000)


async def _log(store: OfflinePort, stream: str) -> AsyncIterator[dict[str, str]]:
    after: str | None = None
    while True:
        entries = await store.read_log(stream, after, CHUNK)
        for _, fields in entries:
            yield fields
        if len(entries) < CHUNK:
            return
        after = entries[-1][0]


def _row(
    fields: dict[str, str],
    served: dict[str, Any],
    reward: float,
    closes_at: float | None,
) -> dict[str, Any]:
    return {
        "decision_id": fields["decision_id"],
        "timestamp": _ms(float(fields.get("ts", 0))) / 1000,
        "channel": fields.get("channel"),
        "placement": fields.get("placement"),
        "position": served["rank"],
        "action": served["offer_id"],
        "probability": served["propensity"],
        "propensity_estimated": fields.get("propensity_estimated") == "1",
        "reward": reward,
        "features": orjson.loads(fields.get("features", "[]")),
        "segments": orjson.loads(fields.get("segments", "[]")),
        "eligible": orjson.loads(fields.get("eligible", "[]")),
        "context": orjson.loads(fields.get("context", "{}")),
        "policy": {
            "name": fields.get("policy"),
            "version": int(fields.get("model_version") or 0),
        },
        "experiment": fields.get("experiment", ""),
        "variant": fields.get("variant", ""),
        "scope": fields.get("scope", ""),
        "open": closes_at is not None,
        "closes_at": None if closes_at is None else _ms(closes_at) / 1000,
    }


async def export_rows(
    store: OfflinePort,
    *,
    include_open: bool = False,
    summary: ExportSummary | None = None,
    now: float | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Rows of every closed (with ``include_open``, also every open) non-fallback decision still
    in the log; ``summary``, when given, counts what was exported and what is still open."""
    # the open decisions are read only for someone who asked about them: a store in full
    # traffic holds days of them, and a results query that reads the log has no use for them
    asked = include_open or summary is not None
    summary = summary if summary is not None else ExportSummary()
    clock = datetime.now(UTC).timestamp() if now is None else now
    # open first: a decision closed between the two reads is then found closed, never missed
    pending = await store.read_open_decisions() if asked else {}
    outcomes: dict[str, dict[str, float]] = {}
    async for fields in _log(store, keys.OUTCOME_LOG):
        outcomes[fields["decision_id"]] = orjson.loads(fields.get("rewards", "{}"))
    waiting: list[dict[str, str]] = []
    async for fields in _log(store, keys.DECISION_LOG):
        if fields.get("fallback") == "1":
            continue
        decision_id = fields.get("decision_id", "")
        rewards = outcomes.get(decision_id)
        if rewards is None:
            close_at = pending.get(decision_id)
            if close_at is not None:
                summary.note_open(close_at, clock)
                if include_open:
                    waiting.append(fields)
            continue  # neither closed nor open: its outcome has left the log
        summary.closed_decisions += 1
        for served in orjson.loads(fields.get("served", "[]")):
            summary.rows += 1
            yield _row(fields, served, float(rewards.get(served["offer_id"], 0.0)), None)
    for start in range(0, len(waiting), CHUNK):
        batch = waiting[start : start + CHUNK]
        records = await store.read_decision_records([f["decision_id"] for f in batch])
        for fields, record in zip(batch, records, strict=True):
            if not record:
                continue  # erased or expired meanwhile
            close_at = pending[fields["decision_id"]]
            for served in orjson.loads(fields.get("served", "[]")):
                so_far = float(record.get(f"r:{served['offer_id']}") or 0.0)
                summary.rows += 1
                summary.open_exported += 1
                yield _row(fields, served, so_far, close_at)


async def write_jsonl(rows: AsyncIterable[dict[str, Any]], sink: BinaryIO) -> None:
    async for row in rows:
        sink.write(orjson.dumps(row) + b"\n")


def parquet_schema() -> Any:
    """The Parquet schema, stated rather than inferred: a column is typed the same whether the
    export holds one row or a million, and whatever values the first rows happen to hold.

    Counts and versions are int64, probabilities and rewards float64, times timestamp[ms, UTC].
    ``context`` is the request's context as JSON text: its keys differ between requests, and
    DuckDB's ``json`` functions or pandas' ``json.loads`` take it apart.
    """
    import pyarrow as pa  # type: ignore[import-untyped]

    return pa.schema(
        [
            pa.field("decision_id", pa.string(), nullable=False),
            pa.field("timestamp", pa.timestamp("ms", tz="UTC"), nullable=False),
            pa.field("channel", pa.string()),
            pa.field("placement", pa.string()),
            pa.field("position", pa.int64(), nullable=False),
            pa.field("action", pa.string(), nullable=False),
            pa.field("probability", pa.float64(), nullable=False),
            pa.field("propensity_estimated", pa.bool_(), nullable=False),
            pa.field("reward", pa.float64(), nullable=False),
            pa.field("features", pa.list_(pa.float64())),
            pa.field("segments", pa.list_(pa.string())),
            pa.field("eligible", pa.list_(pa.string())),
            pa.field("context", pa.string()),
            pa.field(
                "policy",
                pa.struct([pa.field("name", pa.string()), pa.field("version", pa.int64())]),
            ),
            pa.field("experiment", pa.string()),
            pa.field("variant", pa.string()),
            pa.field("scope", pa.string()),
            pa.field("open", pa.bool_(), nullable=False),
            pa.field("closes_at", pa.timestamp("ms", tz="UTC")),
        ]
    )


def _columns(batch: list[dict[str, Any]], names: list[str]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for row in batch:
        for name in names:
            value = row[name]
            if name in ("timestamp", "closes_at"):
                value = None if value is None else _ms(value)
            elif name == "context":
                value = orjson.dumps(value).decode()
            elif name == "probability" or name == "reward":
                value = float(value)
            elif name == "features":
                value = [None if x is None else float(x) for x in value]
            columns[name].append(value)
    return columns


async def write_parquet(rows: AsyncIterable[dict[str, Any]], sink: BinaryIO) -> None:
    """Rows as one Parquet file, a row group every :data:`ROW_GROUP` rows (an empty export is
    still a valid file with the schema)."""
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    schema = parquet_schema()
    names = list(schema.names)
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        batch: list[dict[str, Any]] = []
        async for row in rows:
            batch.append(row)
            if len(batch) >= ROW_GROUP:
                writer.write_table(pa.table(_columns(batch, names), schema=schema))
                batch = []
        if batch:
            writer.write_table(pa.table(_columns(batch, names), schema=schema))
