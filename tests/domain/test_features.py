"""The feature spec: a fixed layout, log-scaled behaviour, and hashing as scikit-learn does it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.feature_extraction import FeatureHasher

from engine.domain.channels import CHANNELS
from engine.domain.profiles import compute_features
from engine.domain.vectoriser import (
    DEFAULT_BEHAVIOURAL,
    HASHED_CLIP,
    LOG_SCALE,
    CategoricalFeature,
    FeatureSpec,
    NumericFeature,
    validate_spec,
)
from engine.errors import ValidationFailed


def hashed_part(x: np.ndarray[Any, Any], spec: FeatureSpec) -> np.ndarray[Any, Any]:
    start = spec.vectorizer().layout.hashed
    return x[start : start + spec.hash_buckets]


def test_default_layout_and_names() -> None:
    spec = FeatureSpec()
    vectorizer = spec.vectorizer()
    assert vectorizer.size == 1 + len(CHANNELS) + len(DEFAULT_BEHAVIOURAL) + spec.hash_buckets
    names = vectorizer.names()
    assert len(names) == vectorizer.size
    assert names[0] == "bias"
    assert names[1:9] == [f"channel={c}" for c in CHANNELS]


def test_behaviour_is_log_scaled_and_missing_recency_is_long_gone() -> None:
    vectorizer = FeatureSpec().vectorizer()
    features = compute_features({}, 1_800_000_000.0)
    x = vectorizer.vector("email", {}, {**features, "revenue_90d": 99.0}, {}, [])
    names = vectorizer.names()
    assert x[names.index("channel=email")] == 1.0
    assert sum(x[1:9]) == 1.0
    assert x[names.index("revenue_90d")] == pytest.approx(math.log1p(99.0) / LOG_SCALE)
    assert x[names.index("days_since_last_purchase")] == pytest.approx(
        math.log1p(365.0) / LOG_SCALE
    )
    engaged = vectorizer.vector("email", {}, {"engagement_email_30d": 4}, {}, [])
    assert engaged[names.index("engagement_channel_30d")] == pytest.approx(
        math.log1p(4) / LOG_SCALE
    )


def test_declared_features_clip_scale_and_one_hot() -> None:
    spec = FeatureSpec(
        behavioural=[],
        attributes_numeric=[NumericFeature(name="age", min=18, max=78)],
        attributes_categorical=[CategoricalFeature(name="tier", values=["gold", "silver"])],
        segments=["vip", "new"],
        context_numeric=[NumericFeature(name="cart_value", min=0, max=200)],
        context_categorical=[CategoricalFeature(name="device", values=["ios", "android"])],
        hash_buckets=0,
    )
    vectorizer = spec.vectorizer()
    x = vectorizer.vector(
        "web",
        {"cart_value": 500.0, "device": "android", "page": "cart"},
        {},
        {"age": 48, "tier": "bronze"},
        ["new", "other"],
    )
    named = dict(zip(vectorizer.names(), x.tolist(), strict=True))
    assert named["attr:age"] == pytest.approx(0.5)
    assert named["attr:tier=gold"] == named["attr:tier=silver"] == 0.0
    assert (named["segment:vip"], named["segment:new"]) == (0.0, 1.0)
    assert named["ctx:cart_value"] == 1.0  # clipped at max
    assert (named["ctx:device=ios"], named["ctx:device=android"]) == (0.0, 1.0)
    assert vectorizer.size == len(named)  # undeclared 'page' was dropped: no buckets


context_values = st.one_of(
    st.text(min_size=0, max_size=8),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)


@given(st.dictionaries(st.text(min_size=1, max_size=10), context_values, max_size=12))
def test_undeclared_context_is_hashed_as_scikit_learn_does(context: dict[str, Any]) -> None:
    spec = FeatureSpec(behavioural=[], hash_buckets=16)
    x = spec.vectorizer().vector("web", context, {}, {}, [])
    as_sklearn: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, str):
            as_sklearn[f"{key}={value}"] = 1.0
        else:
            scaled = math.copysign(math.log1p(abs(float(value))), float(value)) / HASHED_CLIP
            as_sklearn[key] = max(-1.0, min(1.0, scaled))
    expected = FeatureHasher(n_features=16, input_type="dict").transform([as_sklearn]).toarray()[0]
    assert np.allclose(hashed_part(x, spec), expected)


def test_spec_validation_names_the_field() -> None:
    spec = FeatureSpec(behavioural=["nope"])
    with pytest.raises(ValidationFailed) as info:
        validate_spec(spec, {}, set())
    assert info.value.field == "behavioural[0]"
    spec = FeatureSpec(segments=["ghost"])
    with pytest.raises(ValidationFailed) as info:
        validate_spec(spec, {}, {"real"})
    assert info.value.field == "segments[0]"
    spec = FeatureSpec(attributes_numeric=[NumericFeature(name="tier")])
    with pytest.raises(ValidationFailed) as info:
        validate_spec(spec, {"tier": "string"}, set())
    assert info.value.field == "attributes_numeric[0].name"
