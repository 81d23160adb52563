"""Free-form scalar values (attributes, request context) validated as one type.

A plain ``str | float | int | bool`` union makes pydantic report errors per union member
(``context.page.str``); one validator keeps the error on the field itself.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import PlainValidator

__all__ = ["MAX_INT", "MAX_TEXT", "NullableScalar", "Scalar"]

MAX_INT = 2**63 - 1
MAX_TEXT = 256


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
