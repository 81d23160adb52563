"""Segments: rule segments written by marketers and learned segments found by clustering.

Both are evaluated at decision time from the customer's attributes and features, so
membership is always current and needs no per-customer storage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from engine.domain.rules import FieldTypes, Rule, evaluate, parse_rule
from experiments.config import StrictModel

__all__ = [
    "ID_PATTERN",
    "LearnedSegmentModel",
    "Segment",
    "SegmentDefinition",
    "memberships",
    "parse_segment",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class SegmentDefinition(StrictModel):
    """A segment as marketers write it (``PUT /v1/segments/{id}``)."""

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=1000)
    rule: dict[str, Any] = Field(description="{'all'|'any': [conditions or groups]}")


class StoredSegment(StrictModel):
    """A segment as stored: rule segments carry their rule, learned ones their cluster."""

    name: str
    description: str = ""
    kind: Literal["rule", "learned"] = "rule"
    rule: dict[str, Any] | None = None
    model_id: str | None = None
    cluster: int | None = None
    centroid: dict[str, float] | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A parsed segment, ready to evaluate."""

    segment_id: str
    stored: StoredSegment
    rule: Rule | None


@dataclass(frozen=True, slots=True)
class LearnedSegmentModel:
    """k-means centroids over standardised, log-scaled features; nearest centroid wins."""

    model_id: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    centroids: tuple[tuple[float, ...], ...]
    segment_ids: tuple[str, ...]
    fill: tuple[float, ...] = ()  # value of a missing feature, per feature (default 0)

    def to_doc(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "centroids": [list(c) for c in self.centroids],
            "segment_ids": list(self.segment_ids),
            "fill": list(self.fill),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> LearnedSegmentModel:
        return cls(
            model_id=str(doc["model_id"]),
            features=tuple(doc["features"]),
            mean=tuple(float(v) for v in doc["mean"]),
            scale=tuple(float(v) for v in doc["scale"]),
            centroids=tuple(tuple(float(v) for v in c) for c in doc["centroids"]),
            segment_ids=tuple(doc["segment_ids"]),
            fill=tuple(float(v) for v in doc.get("fill", ())),
        )

    def vector(self, values: Mapping[str, Any]) -> list[float]:
        """Standardised, log-scaled feature vector of one customer (missing: the fill value)."""
        fill = self.fill or (0.0,) * len(self.features)
        out = []
        for name, mean, scale, default in zip(
            self.features, self.mean, self.scale, fill, strict=True
        ):
            raw = values.get(name)
            number = (
                float(raw)
                if isinstance(raw, int | float) and not isinstance(raw, bool)
                else default
            )
            out.append((math.log1p(max(number, 0.0)) - mean) / scale)
        return out

    def assign(self, values: Mapping[str, Any]) -> str:
        point = self.vector(values)
        best = min(
            range(len(self.centroids)),
            key=lambda k: sum((p - c) ** 2 for p, c in zip(point, self.centroids[k], strict=True)),
        )
        return self.segment_ids[best]


def parse_segment(segment_id: str, stored: StoredSegment, fields: FieldTypes) -> Segment:
    rule = parse_rule(stored.rule, fields) if stored.kind == "rule" else None
    return Segment(segment_id, stored, rule)


def memberships(
    values: Mapping[str, Any],
    segments: Sequence[Segment],
    models: Mapping[str, LearnedSegmentModel],
) -> list[str]:
    """Ids of the segments one customer belongs to, in catalog order."""
    learned = {model.assign(values) for model in models.values()}
    out = []
    for segment in segments:
        if segment.rule is not None:
            if evaluate(segment.rule, values):
                out.append(segment.segment_id)
        elif segment.segment_id in learned:
            out.append(segment.segment_id)
    return out
