"""The declared, versioned feature spec and the vectoriser that turns a request into x.

One vector layout serves every offer (MABWiser's linear policies keep one model per arm over a
shared context), so what one channel teaches is shared with the others: the channel is a
feature, not a separate model. Layout, in order: bias, channel one-hot, behavioural features
(log-scaled), declared attributes, segment memberships, declared context features, then
hashed buckets for context keys nobody declared (a request never fails because a key is new).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import Field, StringConstraints, model_validator
from sklearn.utils import murmurhash3_32

from engine.domain.channels import CHANNELS
from engine.domain.profiles import FEATURE_TYPES
from engine.domain.values import WholeNumber
from engine.errors import ValidationFailed
from experiments.config import StrictModel

__all__ = [
    "DEFAULT_BEHAVIOURAL",
    "CategoricalFeature",
    "FeatureSpec",
    "NumericFeature",
    "Vectorizer",
    "validate_spec",
]

Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]

# Missing recency means "long gone", not "today" (see segment_learning.MISSING_RECENCY_DAYS).
MISSING_DAYS = 365.0
LOG_SCALE = math.log1p(1000.0)  # log1p(x) / LOG_SCALE keeps typical values within [0, 1.2]
HASHED_CLIP = 5.0

DEFAULT_BEHAVIOURAL: tuple[str, ...] = (
    "days_since_last_activity",
    "days_since_last_purchase",
    "visits_30d",
    "purchases_90d",
    "revenue_90d",
    "avg_order_value",
    "support_contacts_30d",
    "tenure_days",
    "engagement_channel_30d",  # engagement on the channel being decided
)


class NumericFeature(StrictModel):
    """A number clipped to [min, max] and scaled to [0, 1]."""

    name: Name
    min: float = 0.0
    max: float = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> NumericFeature:
        if self.max <= self.min:
            raise ValueError("max: must be greater than min")
        return self


class CategoricalFeature(StrictModel):
    """A category one-hot encoded over declared values; other values encode as all zeros."""

    name: Name
    values: list[Annotated[str, StringConstraints(max_length=256)]] = Field(
        min_length=1, max_length=64
    )


class FeatureSpec(StrictModel):
    """What the model sees. Changing it starts new models (snapshots carry the spec version)."""

    version: WholeNumber = Field(default=1, ge=1)
    behavioural: list[Name] = Field(default_factory=lambda: list(DEFAULT_BEHAVIOURAL))
    attributes_numeric: list[NumericFeature] = Field(default_factory=list, max_length=32)
    attributes_categorical: list[CategoricalFeature] = Field(default_factory=list, max_length=16)
    segments: list[Name] = Field(default_factory=list, max_length=32)
    context_numeric: list[NumericFeature] = Field(default_factory=list, max_length=32)
    context_categorical: list[CategoricalFeature] = Field(default_factory=list, max_length=16)
    hash_buckets: WholeNumber = Field(
        default=8, ge=0, le=256, description="Buckets for undeclared context keys; 0 drops them."
    )

    def vectorizer(self) -> Vectorizer:
        return Vectorizer(self)


def validate_spec(
    spec: FeatureSpec, attribute_types: Mapping[str, str], segments: set[str]
) -> None:
    """Names must exist: features, attributes of the right type, segments."""
    for i, name in enumerate(spec.behavioural):
        if name != "engagement_channel_30d" and FEATURE_TYPES.get(name) != "number":
            raise ValidationFailed(f"unknown numeric feature '{name}'", field=f"behavioural[{i}]")
    for i, numeric in enumerate(spec.attributes_numeric):
        if attribute_types.get(numeric.name) != "number":
            raise ValidationFailed(
                f"'{numeric.name}' is not a numeric attribute",
                field=f"attributes_numeric[{i}].name",
            )
    for i, categorical in enumerate(spec.attributes_categorical):
        if categorical.name not in attribute_types:
            raise ValidationFailed(
                f"unknown attribute '{categorical.name}'",
                field=f"attributes_categorical[{i}].name",
            )
    for i, segment_id in enumerate(spec.segments):
        if segment_id not in segments:
            raise ValidationFailed(f"unknown segment '{segment_id}'", field=f"segments[{i}]")


def _hash(text: str) -> int:
    return int(murmurhash3_32(text, seed=0))


@dataclass(frozen=True, slots=True)
class _Layout:
    channel: int
    behavioural: int
    attributes_numeric: int
    attributes_categorical: int
    segments: int
    context_numeric: int
    context_categorical: int
    hashed: int
    size: int


class Vectorizer:
    """Compiled once per spec version; ``vector`` runs on every decision (no allocation but x)."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        offset = 1  # bias
        starts = {}
        for block, width in (
            ("channel", len(CHANNELS)),
            ("behavioural", len(spec.behavioural)),
            ("attributes_numeric", len(spec.attributes_numeric)),
            ("attributes_categorical", sum(len(c.values) for c in spec.attributes_categorical)),
            ("segments", len(spec.segments)),
            ("context_numeric", len(spec.context_numeric)),
            ("context_categorical", sum(len(c.values) for c in spec.context_categorical)),
            ("hashed", spec.hash_buckets),
        ):
            starts[block] = offset
            offset += width
        self.layout = _Layout(size=offset, **starts)
        self._channel_index = {ch: self.layout.channel + i for i, ch in enumerate(CHANNELS)}
        self._segment_index = {s: self.layout.segments + i for i, s in enumerate(spec.segments)}
        self._declared_context = {f.name for f in spec.context_numeric} | {
            f.name for f in spec.context_categorical
        }
        self._attr_onehot = self._onehot(
            spec.attributes_categorical, self.layout.attributes_categorical
        )
        self._context_onehot = self._onehot(
            spec.context_categorical, self.layout.context_categorical
        )

    @staticmethod
    def _onehot(
        features: Sequence[CategoricalFeature], start: int
    ) -> list[tuple[str, dict[str, int]]]:
        out = []
        for feature in features:
            out.append((feature.name, {v: start + i for i, v in enumerate(feature.values)}))
            start += len(feature.values)
        return out

    @property
    def size(self) -> int:
        return self.layout.size

    def names(self) -> list[str]:
        """Human-readable name of every position (explanations, exports)."""
        spec = self.spec
        names = ["bias", *(f"channel={c}" for c in CHANNELS), *spec.behavioural]
        names += [f"attr:{f.name}" for f in spec.attributes_numeric]
        names += [f"attr:{f.name}={v}" for f in spec.attributes_categorical for v in f.values]
        names += [f"segment:{s}" for s in spec.segments]
        names += [f"ctx:{f.name}" for f in spec.context_numeric]
        names += [f"ctx:{f.name}={v}" for f in spec.context_categorical for v in f.values]
        names += [f"ctx:hash{i}" for i in range(spec.hash_buckets)]
        return names

    def vector(
        self,
        channel: str,
        context: Mapping[str, Any],
        features: Mapping[str, Any],
        attributes: Mapping[str, Any],
        segments: Sequence[str],
    ) -> np.ndarray[Any, np.dtype[np.float64]]:
        spec, layout = self.spec, self.layout
        x = np.zeros(layout.size)
        x[0] = 1.0
        x[self._channel_index[channel]] = 1.0
        for i, name in enumerate(spec.behavioural):
            if name == "engagement_channel_30d":
                raw = features.get(f"engagement_{channel}_30d")
            else:
                raw = features.get(name)
            if raw is None:
                raw = MISSING_DAYS if name.startswith("days_since_") else 0.0
            x[layout.behavioural + i] = math.log1p(max(float(raw), 0.0)) / LOG_SCALE
        for i, numeric in enumerate(spec.attributes_numeric):
            x[layout.attributes_numeric + i] = _scaled(attributes.get(numeric.name), numeric)
        _mark_categories(x, self._attr_onehot, attributes)
        for segment_id in segments:
            position = self._segment_index.get(segment_id)
            if position is not None:
                x[position] = 1.0
        for i, numeric in enumerate(spec.context_numeric):
            x[layout.context_numeric + i] = _scaled(context.get(numeric.name), numeric)
        _mark_categories(x, self._context_onehot, context)
        buckets = spec.hash_buckets
        if buckets:
            for key, value in context.items():
                if key in self._declared_context:
                    continue
                if isinstance(value, bool | str):
                    h = _hash(f"{key}={_as_category(value)}")
                    amount = 1.0
                elif isinstance(value, int | float):
                    h = _hash(key)
                    number = float(value)
                    amount = math.copysign(math.log1p(abs(number)), number) / HASHED_CLIP
                    amount = max(-1.0, min(1.0, amount))
                else:
                    continue
                # scikit-learn's FeatureHasher convention: |h| mod n, sign of h (alternate_sign)
                sign = 1.0 if h >= 0 else -1.0
                x[layout.hashed + abs(h) % buckets] += sign * amount
        return x


def _mark_categories(
    x: np.ndarray[Any, np.dtype[np.float64]],
    onehots: Sequence[tuple[str, dict[str, int]]],
    values: Mapping[str, Any],
) -> None:
    """Set the one-hot position of each declared category present in ``values``."""
    for name, index in onehots:
        position = index.get(_as_category(values.get(name)))
        if position is not None:
            x[position] = 1.0


def _as_category(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _scaled(value: Any, feature: NumericFeature) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    clipped = min(max(float(value), feature.min), feature.max)
    return (clipped - feature.min) / (feature.max - feature.min)
