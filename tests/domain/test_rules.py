"""The rule language: validation names the field; evaluation obeys its algebra (hypothesis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.domain.rules import Condition, Group, evaluate, failing_conditions, parse_rule
from engine.errors import ValidationFailed

FIELDS = {"age": "number", "spend": "number", "tier": "string", "opt_in": "boolean"}

numbers = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.floats(min_value=-1000, max_value=1000, allow_nan=False),
)
tiers = st.sampled_from(["gold", "silver", "bronze", "none"])
profiles = st.fixed_dictionaries(
    {},
    optional={"age": numbers, "spend": numbers, "tier": tiers, "opt_in": st.booleans()},
)


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        out["value"] = value
    return out


def holds(rule: dict[str, Any], values: dict[str, Any]) -> bool:
    return evaluate(parse_rule(rule, FIELDS), values)


numeric_conditions = st.builds(
    cond,
    st.sampled_from(["age", "spend"]),
    st.sampled_from(["gt", "gte", "lt", "lte", "eq", "ne"]),
    numbers,
)
tier_conditions = st.builds(
    cond, st.just("tier"), st.sampled_from(["eq", "ne"]), tiers
) | st.builds(cond, st.just("tier"), st.sampled_from(["in", "not_in"]), st.lists(tiers, min_size=1))
conditions = (
    numeric_conditions
    | tier_conditions
    | st.builds(cond, st.sampled_from(list(FIELDS)), st.just("exists"), st.booleans())
)
rules = st.recursive(
    conditions,
    lambda children: st.builds(
        lambda mode, items: {mode: items},
        st.sampled_from(["all", "any"]),
        st.lists(children, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


@given(rules, profiles)
def test_groups_are_conjunctions_and_disjunctions(
    rule: dict[str, Any], values: dict[str, Any]
) -> None:
    parsed = parse_rule({"all": [rule]}, FIELDS)
    assert isinstance(parsed, Group)
    assert evaluate(parsed, values) == evaluate(parsed.rules[0], values)
    if "all" in rule:
        assert holds(rule, values) == all(holds(r, values) for r in rule["all"])
    if "any" in rule:
        assert holds(rule, values) == any(holds(r, values) for r in rule["any"])


@given(rules, profiles)
def test_a_rule_fails_exactly_when_it_has_failing_conditions(
    rule: dict[str, Any], values: dict[str, Any]
) -> None:
    parsed = parse_rule(rule, FIELDS)
    assert evaluate(parsed, values) == (failing_conditions(parsed, values) == [])


@given(st.sampled_from(["age", "spend"]), numbers, profiles)
def test_order_operators_are_complements(
    field: str, threshold: float, values: dict[str, Any]
) -> None:
    present = field in values
    assert holds(cond(field, "gt", threshold), values) == (
        present and not holds(cond(field, "lte", threshold), values)
    )
    assert holds(cond(field, "lt", threshold), values) == (
        present and not holds(cond(field, "gte", threshold), values)
    )
    assert holds(cond(field, "eq", threshold), values) != holds(
        cond(field, "ne", threshold), values
    )


@given(numbers, numbers, profiles)
def test_between_is_gte_and_lte(a: float, b: float, values: dict[str, Any]) -> None:
    low, high = min(a, b), max(a, b)
    expected = holds({"all": [cond("age", "gte", low), cond("age", "lte", high)]}, values)
    assert holds(cond("age", "between", [low, high]), values) == expected


@given(st.lists(tiers, min_size=1, max_size=4), profiles)
def test_in_is_any_eq_and_not_in_its_complement(options: list[str], values: dict[str, Any]) -> None:
    as_any = holds({"any": [cond("tier", "eq", t) for t in options]}, values)
    assert holds(cond("tier", "in", options), values) == as_any
    assert holds(cond("tier", "not_in", options), values) == (not as_any)


@given(profiles)
def test_exists_tracks_presence(values: dict[str, Any]) -> None:
    for field in FIELDS:
        assert holds(cond(field, "exists", True), values) == (field in values)
        assert holds(cond(field, "exists", False), values) == (field not in values)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(["all", "any", "field", "op", "value", "x"]), c, max_size=4
            )
        ),
        max_leaves=10,
    )
)
def test_arbitrary_json_is_accepted_or_refused_with_a_field(obj: Any) -> None:
    error: ValidationFailed | None = None
    try:
        parse_rule(obj, FIELDS)
    except ValidationFailed as exc:
        error = exc
    if error is not None:
        assert error.field is not None
        assert error.field.startswith("rule")


@pytest.mark.parametrize(
    ("rule", "field", "fragment"),
    [
        ({"all": [cond("nope", "eq", 1)]}, "rule.all[0].field", "unknown field"),
        ({"all": [cond("age", "gte", "ten")]}, "rule.all[0].value", "number"),
        ({"any": [cond("tier", "gt", 3)]}, "rule.any[0].op", "numeric"),
        ({"all": [cond("age", "between", [5, 1])]}, "rule.all[0].value", "low <= high"),
        ({"all": [cond("age", "between", [1])]}, "rule.all[0].value", "[low, high]"),
        ({"all": [cond("tier", "in", "gold")]}, "rule.all[0].value", "list"),
        ({"all": [cond("opt_in", "eq", "yes")]}, "rule.all[0].value", "true or false"),
        ({"all": [cond("age", "like", 3)]}, "rule.all[0].op", "op must be"),
        ({"all": [{"field": "age", "op": "eq"}]}, "rule.all[0].value", "needs a value"),
        ({"all": []}, "rule.all", "non-empty"),
        ({"all": [cond("age", "eq", 1)], "any": []}, "rule", "exactly one key"),
        (
            {"all": [{"field": "age", "op": "eq", "value": 1, "extra": 2}]},
            "rule.all[0].extra",
            "unknown key",
        ),
        (
            {"all": [{"all": [{"all": [{"all": [{"all": [{"all": [cond("age", "eq", 1)]}]}]}]}]}]},
            "rule.all[0].all[0].all[0].all[0].all[0].all[0]",
            "nest",
        ),
        ([1, 2], "rule", "object"),
    ],
)
def test_invalid_rules_name_the_field(rule: Any, field: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_rule(rule, FIELDS)
    assert info.value.field == field
    assert fragment in info.value.message


def test_missing_values_semantics() -> None:
    assert not holds(cond("age", "gte", 0), {})
    assert holds(cond("age", "ne", 3), {})
    assert holds(cond("tier", "not_in", ["gold"]), {})
    assert not holds(cond("tier", "in", ["gold"]), {})
    parsed = parse_rule(cond("age", "eq", 3), FIELDS)
    assert parsed == Condition("age", "eq", 3)


def test_integers_too_large_for_a_float_are_refused_not_crashed() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_rule({"all": [cond("age", "gte", 10**400)]}, FIELDS)
    assert info.value.field == "rule.all[0].value"
