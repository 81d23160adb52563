"""Free-form scalar values (attributes, request context) validated as one type.

A plain ``str | float | int | bool`` union makes pydantic report errors per union member
(``context.page.str``); one validator keeps the error on the field itself.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, PlainValidator, Strict

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


def whole_float_as_int(value: Any) -> Any:
    """JSON has one number type: ``7.0`` is the integer 7 (as JSON Schema says), ``7.5`` is not."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")


def text_or_datetime(value: Any) -> Any:
    """A time in JSON is an ISO 8601 string: a number is not taken for seconds since 1970."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date-time string with a zone")


# An integer in a strict model: a string is refused, a number with no fraction is taken.
WholeNumber = Annotated[int, BeforeValidator(whole_float_as_int), Field(ge=-MAX_INT, le=MAX_INT)]
# An ISO 8601 string with a zone, even in strict models (JSON has no datetime type, and
# FastAPI validates bodies as Python objects, where a strict datetime takes no string).
Timestamp = Annotated[
    AwareDatetime,
    Strict(False),
    BeforeValidator(text_or_datetime),
    AfterValidator(_not_before_earliest),
]


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
