"""Free-form scalar values (attributes, request context) validated as one type.

A plain ``str | float | int | bool`` union makes pydantic report errors per union member
(``context.page.str``); one validator keeps the error on the field itself.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, PlainValidator

from experiments.config import Instant, WholeNumber

__all__ = [
    "EARLIEST_TIMESTAMP",
    "MAX_INT",
    "MAX_TEXT",
    "NullableScalar",
    "Scalar",
    "Timestamp",
    "WholeNumber",
]

MAX_INT = 2**63 - 1
MAX_TEXT = 256
# Nothing a customer did, or an offer's schedule, predates this: an older time is a bug in the
# sender (a zero or a seconds/milliseconds mix-up), and counting it would skew tenure and recency.
EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)


def _not_before_earliest(value: datetime) -> datetime:
    if value < EARLIEST_TIMESTAMP:
        raise ValueError(f"must not be before {EARLIEST_TIMESTAMP.date().isoformat()}")
    return value


# An ISO 8601 string with a zone, on or after 2000-01-01.
Timestamp = Annotated[Instant, AfterValidator(_not_before_earliest)]


def _scalar(value: Any) -> str | float | int | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(f"strings are at most {MAX_TEXT} characters")
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError("integers must fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    raise ValueError("must be a string, number or boolean")


def _nullable(value: Any) -> str | float | int | bool | None:
    return None if value is None else _scalar(value)


Scalar = Annotated[
    str | float | int | bool,
    PlainValidator(_scalar, json_schema_input_type=str | float | int | bool),
]
NullableScalar = Annotated[
    str | float | int | bool | None,
    PlainValidator(_nullable, json_schema_input_type=str | float | int | bool | None),
]
