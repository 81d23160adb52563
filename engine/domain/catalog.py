"""The offer catalog and the configuration snapshot every decision reads.

The snapshot (offers, segments, learned segment models, attribute types and declarations) is
versioned by one counter in the store; workers keep it in memory and reload only when the
counter moves.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    Field,
    StringConstraints,
    model_validator,
)

from engine.domain.attributes import AttributeDeclaration, allowed_sets, parse_declarations
from engine.domain.channels import CHANNELS, Channel
from engine.domain.contacts import Caps
from engine.domain.profiles import FEATURE_TYPES
from engine.domain.rules import Group, parse_conditions
from engine.domain.segments import LearnedSegmentModel, Segment, StoredSegment, parse_segment
from engine.domain.values import Timestamp, WholeNumber
from engine.domain.vectoriser import FeatureSpec, Vectorizer
from engine.errors import ValidationFailed
from experiments import Experiment, parse_experiment
from experiments.config import StrictModel

__all__ = [
    "Budget",
    "Catalog",
    "Creative",
    "Offer",
    "OfferEligibility",
    "ParsedOffer",
    "build_catalog",
    "validate_offer",
]

OfferStatus = Literal["active", "paused", "archived"]
log = logging.getLogger("nbo.catalog")
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Creative(StrictModel):
    """What a channel shows; which fields matter depends on the channel."""

    title: str | None = Field(default=None, max_length=200)
    subject: str | None = Field(default=None, max_length=200, description="Email subject.")
    body: str | None = Field(default=None, max_length=4000)
    cta: str | None = Field(default=None, max_length=100)
    url: str | None = Field(default=None, max_length=2000)
    image_url: str | None = Field(default=None, max_length=2000)
    script: str | None = Field(default=None, max_length=4000, description="Call-centre script.")

    @model_validator(mode="after")
    def _has_content(self) -> Creative:
        if not (self.title or self.body or self.subject or self.script):
            raise ValueError("a creative needs at least a title, subject, body or script")
        return self


class OfferEligibility(StrictModel):
    segments_any: list[ShortText] = Field(default_factory=list, max_length=50)
    segments_none: list[ShortText] = Field(default_factory=list, max_length=50)
    rules: list[dict[str, Any]] = Field(default_factory=list, max_length=50)


class Budget(StrictModel):
    """Catalog-wide limits; counted by events, so a few in flight may overshoot at the margin."""

    conversions: WholeNumber | None = Field(default=None, ge=0)
    impressions: WholeNumber | None = Field(default=None, ge=0)


class Offer(StrictModel):
    """An offer as marketers write it (``PUT /v1/offers/{id}``)."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    status: OfferStatus = "active"
    channels: dict[Channel, Creative] = Field(
        description="Creative per channel; the offer is served only where it has one."
    )
    placements: list[ShortText] = Field(
        default_factory=list, max_length=50, description="Empty: any placement."
    )
    eligibility: OfferEligibility = Field(default_factory=OfferEligibility)
    start_at: Timestamp | None = None
    end_at: Timestamp | None = None
    value: float = Field(default=0.0, ge=0, le=1e9, description="Business value of a conversion.")
    weight: float = Field(default=1.0, gt=0, le=1000, description="Business priority multiplier.")
    caps: Caps = Field(default_factory=Caps)
    budget: Budget = Field(default_factory=Budget)
    tags: list[ShortText] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _servable(self) -> Offer:
        if not self.channels:
            raise ValueError("channels: an offer needs a creative for at least one channel")
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at: must be after start_at")
        return self


@dataclass(frozen=True, slots=True)
class ParsedOffer:
    offer_id: str
    offer: Offer
    version: int
    rules: Group
    start_ts: float | None
    end_ts: float | None


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything decisions need that is not about one customer; immutable, swapped whole."""

    version: int
    offers: dict[str, ParsedOffer] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    models: dict[str, LearnedSegmentModel] = field(default_factory=dict)
    attribute_types: dict[str, str] = field(default_factory=dict)
    by_channel: dict[str, tuple[ParsedOffer, ...]] = field(default_factory=dict)
    feature_spec: FeatureSpec = field(default_factory=FeatureSpec)
    experiments: dict[str, Experiment] = field(default_factory=dict)
    vectorizer: Vectorizer = field(default_factory=lambda: FeatureSpec().vectorizer())
    declarations: dict[str, AttributeDeclaration] = field(default_factory=dict)
    allowed_values: dict[str, frozenset[Any]] = field(default_factory=dict)
    # versions of the documents (offers carry theirs): what ETag and If-Match compare
    segment_versions: dict[str, int] = field(default_factory=dict)
    experiment_versions: dict[str, int] = field(default_factory=dict)

    @property
    def field_types(self) -> dict[str, str]:
        return field_types(self.attribute_types)


def field_types(attribute_types: Mapping[str, str]) -> dict[str, str]:
    return {**attribute_types, **FEATURE_TYPES}


def validate_offer(
    offer: Offer,
    segment_ids: set[str],
    fields: Mapping[str, str],
    allowed: Mapping[str, frozenset[Any]] | None = None,
) -> Group:
    """Check what pydantic cannot: segments exist, rules name known fields and allowed values."""
    for key in ("segments_any", "segments_none"):
        for i, segment_id in enumerate(getattr(offer.eligibility, key)):
            if segment_id not in segment_ids:
                raise ValidationFailed(
                    f"unknown segment '{segment_id}'", field=f"eligibility.{key}[{i}]"
                )
    return parse_conditions(offer.eligibility.rules, fields, "eligibility.rules", allowed)


def build_catalog(
    version: int,
    offers: Mapping[str, str],
    offer_versions: Mapping[str, str],
    segments: Mapping[str, str],
    models: Mapping[str, str],
    attribute_types: Mapping[str, str],
    feature_spec: str | None = None,
    experiments: Mapping[str, str] | None = None,
    attribute_declarations: Mapping[str, str] | None = None,
    segment_versions: Mapping[str, str] | None = None,
    experiment_versions: Mapping[str, str] | None = None,
) -> Catalog:
    """Parse the stored documents into a snapshot.

    Stored rules are not checked against allowed values again: they were when written, and a
    declaration that would strand one is refused, so a reload never drops a rule for that.
    """
    fields = field_types(attribute_types)
    declarations = parse_declarations(attribute_declarations or {})
    parsed_segments = {
        sid: parse_segment(sid, StoredSegment.model_validate_json(doc), fields)
        for sid, doc in sorted(segments.items())
    }
    parsed_offers = _parse_offers(offers, offer_versions, fields)
    parsed_models = {
        mid: LearnedSegmentModel.from_doc(orjson.loads(doc)) for mid, doc in models.items()
    }
    spec = FeatureSpec.model_validate_json(feature_spec) if feature_spec else FeatureSpec()
    return Catalog(
        version=version,
        offers=parsed_offers,
        segments=parsed_segments,
        models=parsed_models,
        attribute_types=dict(attribute_types),
        by_channel=_active_by_channel(parsed_offers),
        feature_spec=spec,
        vectorizer=spec.vectorizer(),
        experiments={
            eid: parse_experiment(doc) for eid, doc in sorted((experiments or {}).items())
        },
        declarations=declarations,
        allowed_values=allowed_sets(declarations),
        segment_versions={
            sid: int((segment_versions or {}).get(sid, 1)) for sid in parsed_segments
        },
        experiment_versions={
            eid: int((experiment_versions or {}).get(eid, 1)) for eid in experiments or {}
        },
    )


def _parse_offers(
    offers: Mapping[str, str], offer_versions: Mapping[str, str], fields: Mapping[str, str]
) -> dict[str, ParsedOffer]:
    """In offer id order (which decisions' ties follow); an unreadable one is left out."""
    parsed_offers: dict[str, ParsedOffer] = {}
    for oid, doc in sorted(offers.items()):
        try:
            offer = Offer.model_validate_json(doc)
            rules = parse_conditions(offer.eligibility.rules, fields, "eligibility.rules")
        except (ValueError, ValidationFailed):
            # One unreadable document must not take every decision down with it.
            log.exception("offer_unreadable", extra={"offer_id": oid})
            continue
        parsed_offers[oid] = ParsedOffer(
            offer_id=oid,
            offer=offer,
            version=int(offer_versions.get(oid, 1)),
            rules=rules,
            start_ts=offer.start_at.timestamp() if offer.start_at else None,
            end_ts=offer.end_at.timestamp() if offer.end_at else None,
        )
    return parsed_offers


def _active_by_channel(
    parsed_offers: Mapping[str, ParsedOffer],
) -> dict[str, tuple[ParsedOffer, ...]]:
    """The active offers with a creative for each channel: what a decision starts from."""
    return {
        channel: tuple(
            p
            for p in parsed_offers.values()
            if channel in p.offer.channels and p.offer.status == "active"
        )
        for channel in CHANNELS
    }
