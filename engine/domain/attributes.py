"""Declared attributes: a type (and optionally its allowed values) named before any data.

Marketers write rules before the data pipeline sends the first customer with an attribute;
a declaration makes the attribute a known field at once. Declared types join the attribute
types in force, so a declaration and a customer's first write can never disagree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson
from pydantic import ConfigDict, Field

from engine.domain.profiles import FEATURE_TYPES
from engine.errors import ValidationFailed
from experiments.config import StrictModel

__all__ = [
    "ATTRIBUTE_NAME",
    "MAX_ALLOWED_VALUES",
    "MAX_ATTRIBUTE_STRING",
    "AttributeDeclaration",
    "AttributeType",
    "AttributeValue",
    "allowed_sets",
    "attribute_type",
    "describe_values",
    "parse_declarations",
    "show_value",
    "validate_declaration",
]

ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ATTRIBUTE_STRING = 256
MAX_ALLOWED_VALUES = 200
AttributeType = Literal["string", "number", "boolean"]
AttributeValue = str | bool | int | float


class AttributeDeclaration(StrictModel):
    """An attribute as marketers declare it (``PUT /v1/attributes/{name}``)."""

    model_config = ConfigDict(
        # allowed values are of the declared type (validate_declaration), stated in the schema
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": kind}}},
                    "then": {
                        "properties": {
                            "allowed_values": {
                                "anyOf": [
                                    {"type": "array", "items": {"type": kind}},
                                    {"type": "null"},
                                ]
                            }
                        }
                    },
                }
                for kind in ("string", "number", "boolean")
            ]
        },
    )

    type: AttributeType
    description: str = Field(default="", max_length=1000)
    # bool before int: JSON true stays a boolean, 1 stays an integer (smart union, exact first)
    allowed_values: list[AttributeValue] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ALLOWED_VALUES,
        description="Unset: any value of the type.",
    )


def attribute_type(value: Any) -> AttributeType:
    """The declared type a value would have: ``bool`` is a boolean, not a number."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def validate_declaration(name: str, declaration: AttributeDeclaration) -> None:
    """What pydantic cannot check: the name is an attribute's, values fit the declared type."""
    if not ATTRIBUTE_NAME.match(name):
        raise ValidationFailed(
            "attribute names are lower_snake_case, 1-64 characters", field="name"
        )
    if name in FEATURE_TYPES:
        raise ValidationFailed(f"'{name}' is a behavioural feature name", field="name")
    seen: set[AttributeValue] = set()
    for i, value in enumerate(declaration.allowed_values or ()):
        path = f"allowed_values[{i}]"
        kind = attribute_type(value)
        if kind != declaration.type:
            raise ValidationFailed(f"a {declaration.type} attribute allows no {kind}", field=path)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationFailed("must be a finite number", field=path)
        if isinstance(value, str) and len(value) > MAX_ATTRIBUTE_STRING:
            raise ValidationFailed(
                f"strings are at most {MAX_ATTRIBUTE_STRING} characters", field=path
            )
        if value in seen:
            raise ValidationFailed(f"{show_value(value)} is listed twice", field=path)
        seen.add(value)


def parse_declarations(docs: Mapping[str, str]) -> dict[str, AttributeDeclaration]:
    return {name: AttributeDeclaration.model_validate_json(doc) for name, doc in docs.items()}


def allowed_sets(declarations: Mapping[str, AttributeDeclaration]) -> dict[str, frozenset[Any]]:
    """Allowed values per attribute that restricts them (the others may hold any value)."""
    return {
        name: frozenset(d.allowed_values)
        for name, d in declarations.items()
        if d.allowed_values is not None
    }


def show_value(value: Any) -> str:
    """A value in an error message as the client wrote it (JSON), not as Python prints it."""
    return orjson.dumps(value).decode()


def describe_values(values: Sequence[Any] | frozenset[Any], shown: int = 10) -> str:
    """The allowed values for an error message, a long list cut short."""
    ordered = sorted(values, key=show_value)
    text = ", ".join(show_value(v) for v in ordered[:shown])
    return text + (f", … ({len(ordered)} in all)" if len(ordered) > shown else "")
