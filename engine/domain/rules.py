"""The rule language of segments and offer eligibility.

A rule is a condition ``{"field", "op", "value"}`` or a group ``{"all": [...]}`` /
``{"any": [...]}`` nesting further rules. Rules are parsed once into frozen values (validated
against the known fields, their types and declared allowed values, errors naming the JSON path)
and evaluated many times.

A missing value makes every comparison false except ``ne`` and ``not_in`` (it is not equal to
anything) and ``exists`` (which tests exactly that).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from engine.domain.attributes import ATTRIBUTE_NAME, describe_values, show_value
from engine.errors import ValidationFailed

__all__ = [
    "OPS",
    "AllowedValues",
    "Condition",
    "FieldTypes",
    "Group",
    "Rule",
    "evaluate",
    "parse_conditions",
    "parse_rule",
    "rule_fields",
]

Scalar = str | float | int | bool
FieldTypes = Mapping[str, str]  # field name -> "number" | "string" | "boolean"
AllowedValues = Mapping[str, frozenset[Any]]  # declared attribute -> the values it may hold
_NO_RESTRICTION: AllowedValues = {}

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists", "between")
_ORDER_OPS = frozenset({"gt", "gte", "lt", "lte", "between"})
MAX_DEPTH = 6
MAX_CONDITIONS = 100
MAX_LIST = 200
MAX_STRING = 256


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Group:
    mode: Literal["all", "any"]
    rules: tuple[Rule, ...]


Rule = Condition | Group


def _fail(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, field=path)


def _check_scalar(value: Any, kind: str, path: str) -> Scalar:
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(path, "must be a number for a numeric field")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            raise _fail(path, "must be a finite number")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(path, "must be true or false for a boolean field")
        return value
    if not isinstance(value, str):
        raise _fail(path, "must be a string for a text field")
    if len(value) > MAX_STRING:
        raise _fail(path, f"must be at most {MAX_STRING} characters")
    return value


def _unknown_field(name: str, fields: FieldTypes) -> str:
    """The 422 says how to fix it: a near miss of a known field, or declaring the attribute."""
    hints = []
    close = difflib.get_close_matches(name, list(fields), n=3)
    if close:
        hints.append(f"did you mean {' or '.join(repr(c) for c in close)}?")
    if ATTRIBUTE_NAME.match(name):
        declare = "declare it to use it before any customer has it"
        hints.append(f"{'Or ' + declare if close else declare}: PUT /v1/attributes/{name}")
    return f"unknown field '{name}'" + (": " + " ".join(hints) if hints else "")


def _check_allowed(name: str, value: Scalar, allowed: AllowedValues, path: str) -> None:
    permitted = allowed.get(name)
    if permitted is not None and value not in permitted:
        raise _fail(
            path,
            f"{show_value(value)} is not an allowed value of '{name}': "
            f"{describe_values(permitted)}",
        )


def _parse_condition(
    obj: Mapping[str, Any], fields: FieldTypes, path: str, allowed: AllowedValues
) -> Condition:
    unknown = set(obj) - {"field", "op", "value"}
    if unknown:
        raise _fail(f"{path}.{sorted(unknown)[0]}", "unknown key in condition")
    name = obj.get("field")
    if not isinstance(name, str) or not name:
        raise _fail(f"{path}.field", "field is required and must be a string")
    if name not in fields:
        raise _fail(f"{path}.field", _unknown_field(name, fields))
    op = obj.get("op")
    if op not in OPS:
        raise _fail(f"{path}.op", f"op must be one of {', '.join(OPS)}")
    kind = fields[name]
    value_path = f"{path}.value"
    if op in _ORDER_OPS and kind != "number":
        raise _fail(f"{path}.op", f"'{op}' needs a numeric field; '{name}' is {kind}")
    if op == "exists":
        value = obj.get("value", True)
        if not isinstance(value, bool):
            raise _fail(value_path, "exists takes true or false")
        return Condition(name, op, value)
    if "value" not in obj:
        raise _fail(value_path, f"'{op}' needs a value")
    value = obj["value"]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise _fail(value_path, "between takes [low, high]")
        low = _check_scalar(value[0], kind, f"{value_path}[0]")
        high = _check_scalar(value[1], kind, f"{value_path}[1]")
        if float(low) > float(high):
            raise _fail(value_path, "between needs low <= high")
        return Condition(name, op, (low, high))
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise _fail(value_path, f"'{op}' takes a non-empty list")
        if len(value) > MAX_LIST:
            raise _fail(value_path, f"'{op}' takes at most {MAX_LIST} values")
        items = [_check_scalar(v, kind, f"{value_path}[{i}]") for i, v in enumerate(value)]
        for i, item in enumerate(items):
            _check_allowed(name, item, allowed, f"{value_path}[{i}]")
        return Condition(name, op, frozenset(items))
    scalar = _check_scalar(value, kind, value_path)
    if op in ("eq", "ne"):
        _check_allowed(name, scalar, allowed, value_path)
    return Condition(name, op, scalar)


def parse_rule(
    obj: Any, fields: FieldTypes, path: str = "rule", allowed: AllowedValues | None = None
) -> Rule:
    """Validate and freeze a rule; raises :class:`ValidationFailed` naming the JSON path.

    ``allowed``: comparing a declared attribute for (in)equality with a value it may not hold
    is refused, since such a condition can only ever be constant.
    """
    counter = [0]
    return _parse(obj, fields, path, 1, counter, allowed or _NO_RESTRICTION)


def _parse(
    obj: Any,
    fields: FieldTypes,
    path: str,
    depth: int,
    counter: list[int],
    allowed: AllowedValues,
) -> Rule:
    if not isinstance(obj, Mapping):
        raise _fail(path, "a rule is an object: a condition or {'all'|'any': [...]}")
    if depth > MAX_DEPTH:
        raise _fail(path, f"rules nest at most {MAX_DEPTH} levels")
    groups = [key for key in ("all", "any") if key in obj]
    if groups:
        if len(obj) != 1:
            raise _fail(path, "a group has exactly one key, 'all' or 'any'")
        mode: Literal["all", "any"] = "all" if groups[0] == "all" else "any"
        items = obj[mode]
        if not isinstance(items, list) or not items:
            raise _fail(f"{path}.{mode}", "must be a non-empty list of rules")
        rules = tuple(
            _parse(item, fields, f"{path}.{mode}[{i}]", depth + 1, counter, allowed)
            for i, item in enumerate(items)
        )
        return Group(mode, rules)
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise _fail(path, f"a rule holds at most {MAX_CONDITIONS} conditions")
    return _parse_condition(obj, fields, path, allowed)


def parse_conditions(
    items: Sequence[Any], fields: FieldTypes, path: str, allowed: AllowedValues | None = None
) -> Group:
    """A list of conditions that must all hold (offer eligibility rules)."""
    restrict = allowed or _NO_RESTRICTION
    return Group(
        "all",
        tuple(
            _parse(item, fields, f"{path}[{i}]", 2, [0], restrict) for i, item in enumerate(items)
        ),
    )


def _holds(cond: Condition, values: Mapping[str, Any]) -> bool:
    actual = values.get(cond.field)
    op = cond.op
    if op == "exists":
        return (actual is not None) is cond.value
    if actual is None:
        return op in ("ne", "not_in")
    if op == "eq":
        return bool(actual == cond.value)
    if op == "ne":
        return bool(actual != cond.value)
    if op == "in":
        return actual in cond.value
    if op == "not_in":
        return actual not in cond.value
    if isinstance(actual, bool) or not isinstance(actual, int | float):
        return False
    if op == "gt":
        return bool(actual > cond.value)
    if op == "gte":
        return bool(actual >= cond.value)
    if op == "lt":
        return bool(actual < cond.value)
    if op == "lte":
        return bool(actual <= cond.value)
    low, high = cond.value
    return bool(low <= actual <= high)


def evaluate(rule: Rule, values: Mapping[str, Any]) -> bool:
    """Whether ``rule`` holds for the field values of one customer."""
    if isinstance(rule, Condition):
        return _holds(rule, values)
    if rule.mode == "all":
        return all(evaluate(r, values) for r in rule.rules)
    return any(evaluate(r, values) for r in rule.rules)


def rule_fields(rule: Rule) -> set[str]:
    if isinstance(rule, Condition):
        return {rule.field}
    return set().union(*(rule_fields(r) for r in rule.rules))


def failing_conditions(rule: Rule, values: Mapping[str, Any]) -> list[Condition]:
    """Conditions that make ``rule`` false (for explanations)."""
    if isinstance(rule, Condition):
        return [] if _holds(rule, values) else [rule]
    if evaluate(rule, values):
        return []
    return [c for r in rule.rules for c in failing_conditions(r, values)]
