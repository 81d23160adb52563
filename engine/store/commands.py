"""Commands queued on a pipeline by more than one of the adapter's operations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.store import keys
from engine.store.records import CustomerRecord

__all__ = ["customer_record", "queue_cells", "queue_customer_read", "stream_entry"]


def queue_customer_read(pipe: Any, customer_id: str) -> None:
    """Queue what a decision needs about one customer (5 replies, see customer_record)."""
    pipe.hgetall(keys.customer_attributes(customer_id))
    pipe.hgetall(keys.customer_activity(customer_id))
    pipe.hgetall(keys.customer_contacts(customer_id))
    pipe.get(keys.CONFIG_VERSION)
    pipe.hgetall(keys.BUDGET)


def customer_record(replies: Sequence[Any]) -> CustomerRecord:
    attrs, activity, contacts, version, budget = replies[:5]
    return CustomerRecord(attrs, activity, contacts, int(version or 0), budget)


def queue_cells(pipe: Any, cells: Mapping[str, Mapping[str, float]] | None) -> None:
    """Queue additions to experiment cells (experiment id -> {field: amount}) on a pipeline."""
    for experiment_id, increments in (cells or {}).items():
        key = keys.experiment_cells(experiment_id)
        for name, amount in increments.items():
            pipe.hincrbyfloat(key, name, amount)


def stream_entry(entry: Mapping[str, str]) -> dict[Any, Any]:
    """A stream entry's fields as redis-py's ``xadd`` types them."""
    return dict(entry)
