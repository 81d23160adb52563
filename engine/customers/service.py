"""Customer profiles: attribute upserts, activities, the full view, and erasure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from engine.domain.attributes import (
    ATTRIBUTE_NAME,
    MAX_ATTRIBUTE_STRING,
    attribute_type,
    describe_values,
    show_value,
)
from engine.domain.catalog import Catalog
from engine.domain.contacts import ContactHistory, parse_contact_history
from engine.domain.idempotency import conflict
from engine.domain.profiles import (
    FEATURE_TYPES,
    Activity,
    ActivityRow,
    FeatureValue,
    compute_features,
    day_number,
)
from engine.domain.profiles import encode_activity as _encode
from engine.domain.segments import memberships
from engine.errors import ValidationFailed
from engine.store.ports import CustomerPort
from engine.store.records import CustomerRecord
from experiments.cells import activity_increments

__all__ = [
    "ATTRIBUTE_NAME",
    "CUSTOMER_ID_PATTERN",
    "ActivitiesOutcome",
    "CustomerView",
    "customer_view",
    "record_activities",
    "upsert_attributes",
]

CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$"
MAX_ATTRIBUTES = 100


@dataclass(frozen=True, slots=True)
class CustomerView:
    customer_id: str
    known: bool
    attributes: dict[str, Any]
    features: dict[str, FeatureValue]
    segments: list[str]
    contacts: ContactHistory


def decode_attributes(raw: Mapping[str, str]) -> dict[str, Any]:
    return {name: orjson.loads(value) for name, value in raw.items()}


def profile_values(record: CustomerRecord, now: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(attributes, features) of one customer; rules see both in one namespace."""
    return decode_attributes(record.attributes), compute_features(record.activity, now)


async def upsert_attributes(
    store: CustomerPort,
    catalog: Catalog,
    customer_id: str,
    attributes: Mapping[str, Any],
    now: float,
) -> None:
    """Merge attributes into the profile; ``None`` removes one.

    A type is fixed by the attribute's declaration or else its first write; a declaration's
    allowed values bind every write. New undeclared attributes count against the store's
    limit (:class:`AttributeLimitReached`, nothing written).
    """
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValidationFailed(f"at most {MAX_ATTRIBUTES} attributes", field="attributes")
    values: dict[str, str] = {}
    remove: list[str] = []
    new_types: dict[str, str] = {}
    for name, value in attributes.items():
        path = f"attributes.{name}"
        if not ATTRIBUTE_NAME.match(name):
            raise ValidationFailed(
                "attribute names are lower_snake_case, 1-64 characters", field=path
            )
        if name in FEATURE_TYPES:
            raise ValidationFailed(f"'{name}' is a behavioural feature name", field=path)
        if value is None:
            remove.append(name)
            continue
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_STRING:
            raise ValidationFailed(
                f"strings are at most {MAX_ATTRIBUTE_STRING} characters", field=path
            )
        kind = attribute_type(value)
        known = catalog.attribute_types.get(name)
        if known is not None and known != kind:
            held = (
                f"is declared {known}" if name in catalog.declarations else f"holds {known} values"
            )
            raise ValidationFailed(f"'{name}' {held}, got {kind}", field=path)
        permitted = catalog.allowed_values.get(name)
        if permitted is not None and value not in permitted:
            raise ValidationFailed(
                f"{show_value(value)} is not an allowed value of '{name}': "
                f"{describe_values(permitted)}",
                field=path,
            )
        if known is None:
            new_types[name] = kind
        values[name] = orjson.dumps(value).decode()
    if new_types:
        in_force = await store.register_attribute_types(new_types)
        for name, wanted in new_types.items():
            if in_force.get(name) != wanted:  # another writer fixed the type first
                raise ValidationFailed(
                    f"'{name}' holds {in_force.get(name)} values, got {wanted}",
                    field=f"attributes.{name}",
                )
    await store.upsert_attributes(customer_id, values, remove, int(now))


def _row_path(path: str | None, i: int) -> str:
    return "" if path is None else f"{path}[{i}]."


def encode_activities(
    activities: Sequence[Activity], now: float, path: str | None = "activities"
) -> list[ActivityRow]:
    """Rows for the store; errors name ``<path>[i].timestamp``, or ``timestamp`` if no path."""
    rows = []
    for i, activity in enumerate(activities):
        try:
            rows.append(_encode(activity, now))
        except ValueError as exc:
            raise ValidationFailed(str(exc), field=f"{_row_path(path, i)}timestamp") from exc
    return rows


@dataclass(frozen=True, slots=True)
class ActivitiesOutcome:
    accepted: int  # counted now
    duplicates: int  # sent before under the same activity_id: counted then, not again


async def record_activities(
    store: CustomerPort,
    customer_id: str,
    activities: Sequence[Activity],
    now: float,
    path: str | None = "activities",
) -> ActivitiesOutcome:
    """Count activities into the customer's features; all or nothing.

    An activity with an ``activity_id`` already counted (within the id's retention, or
    earlier in the same batch) is a duplicate and counts nothing, so a write answered 503 after
    the store applied it can be sent again; the same id with another body refuses the whole
    write with IdempotencyConflict.
    """
    rows = encode_activities(activities, now, path)
    recorded = await store.record_activities(customer_id, rows, day_number(now), now=int(now))
    if recorded.conflict is not None:
        i = recorded.conflict
        raise conflict("activity_id", rows[i].activity_id, _row_path(path, i))
    cells: dict[str, dict[str, float]] = {}
    for experiment_id, kind, record in recorded.flagged:
        for key, fields in activity_increments(
            experiment_id, orjson.loads(record), kind, now
        ).items():
            cells.setdefault(key, {}).update(fields)
    if cells:
        await store.add_experiment_cells(cells)
    return ActivitiesOutcome(recorded.accepted, recorded.duplicates)


def customer_view(
    catalog: Catalog, record: CustomerRecord, customer_id: str, now: float
) -> CustomerView:
    attributes, features = profile_values(record, now)
    values = {**attributes, **features}
    return CustomerView(
        customer_id=customer_id,
        known=record.known,
        attributes=attributes,
        features=features,
        segments=memberships(values, list(catalog.segments.values()), catalog.models),
        contacts=parse_contact_history(record.contacts),
    )
