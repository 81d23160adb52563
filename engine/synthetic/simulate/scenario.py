"""The scenario: the world a simulation runs in, and what of it the engine may see.

Its defaults are the shared synthetic world (:mod:`engine.synthetic.simulate.defaults`); a
scenario file replaces any part of it (personas with their truth, offers, segments, contexts).
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.domain.catalog import Creative, Offer, OfferEligibility, field_types
from engine.domain.channels import Channel
from engine.domain.rules import parse_conditions
from engine.domain.segments import StoredSegment
from engine.domain.vectoriser import CategoricalFeature, FeatureSpec, NumericFeature
from engine.errors import ValidationFailed
from engine.synthetic.personas import WORLD, ContextSpec, Persona
from engine.synthetic.population import ATTRIBUTE_TYPES, COUNTRIES, TIERS
from engine.synthetic.simulate.defaults import (
    default_context,
    default_offers,
    default_personas,
    default_segments,
)
from engine.synthetic.simulate.specs import OfferSpec, SegmentSpec

__all__ = ["ATTRIBUTE_TYPES", "DAYPARTS", "ScenarioConfig"]

DAYPARTS = ("night", "morning", "afternoon", "evening")


class ScenarioConfig(BaseModel):
    """The world: population, catalog, contexts and true rates. Defaults: the default scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    customers: int = Field(default=3000, ge=1, le=1_000_000)
    history_days: int = Field(default=120, ge=1, le=3650)
    personas: list[Persona] = Field(default_factory=default_personas, min_length=1)
    offers: list[OfferSpec] = Field(default_factory=default_offers, min_length=1)
    segments: list[SegmentSpec] = Field(default_factory=default_segments)
    context: ContextSpec = Field(default_factory=default_context)
    responsiveness_sigma: float = Field(
        default=0.3, ge=0, le=2, description="Log-sd of a customer's overall propensity to click."
    )
    affinity_sigma: float = Field(
        default=0.15, ge=0, le=2, description="Log-sd of a customer's taste for one offer."
    )
    min_rate: float = Field(default=WORLD.min_rate, ge=0, le=1)
    max_rate: float = Field(default=WORLD.max_rate, ge=0, le=1)

    @model_validator(mode="after")
    def _consistent(self) -> ScenarioConfig:
        if len({p.name for p in self.personas}) != len(self.personas):
            raise ValueError("personas: names must be unique")
        if len({o.offer_id for o in self.offers}) != len(self.offers):
            raise ValueError("offers: ids must be unique")
        known = self._context_keys()
        for offer in self.offers:
            unknown = set(offer.context_effect) - known
            if unknown:
                raise ValueError(
                    f"offers: {offer.offer_id} context_effect unknown context {unknown}"
                )
            unnamed = {e.split("=")[0] for e in offer.attribute_effect} - set(ATTRIBUTE_TYPES)
            if unnamed:
                raise ValueError(f"offers: {offer.offer_id} attribute_effect unknown {unnamed}")
            for rule in offer.rules:
                if rule.get("field") not in ATTRIBUTE_TYPES:
                    raise ValueError(
                        f"offers: {offer.offer_id} rules are conditions on attributes only "
                        f"({', '.join(ATTRIBUTE_TYPES)}), so the oracle knows who is eligible"
                    )
            try:
                parse_conditions(offer.rules, field_types(ATTRIBUTE_TYPES), "rules")
            except ValidationFailed as exc:
                raise ValueError(f"offers: {offer.offer_id} {exc.field}: {exc.message}") from exc
        used = {ch for p in self.personas for ch in p.reach if p.reach[ch] > 0}
        missing = used - set(self.context.channels)
        if missing:
            raise ValueError(f"context: no device/page mix for channels {sorted(missing)}")
        if self.min_rate > self.max_rate:
            raise ValueError("min_rate: must not exceed max_rate")
        return self

    def _context_keys(self) -> set[str]:
        """Every ``key=value`` a request's context can hold (what a context effect may name)."""
        mixes = self.context.channels.values()
        return {
            *(f"device={d}" for mix in mixes for d in mix.devices),
            *(f"page={g}" for mix in mixes for g in mix.pages),
            *(f"daypart={d}" for d in DAYPARTS),
            *(f"hour={h}" for h in range(24)),
        }

    def fingerprint(self) -> str:
        """Short hash of the whole scenario, so a summary says which world it measured."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:12]

    def feature_spec(self, version: int = 1) -> FeatureSpec:
        """What the model may see: declared attributes, segments and context, never personas."""
        devices = sorted({d for c in self.context.channels.values() for d in c.devices})
        pages = sorted({g for c in self.context.channels.values() for g in c.pages})
        return FeatureSpec(
            version=version,
            attributes_numeric=[NumericFeature(name="age", min=18, max=90)],
            attributes_categorical=[
                CategoricalFeature(name="tier", values=list(TIERS)),
                CategoricalFeature(name="country", values=list(COUNTRIES)),
                CategoricalFeature(name="loyalty_member", values=["true", "false"]),
            ],
            segments=[s.segment_id for s in self.segments],
            context_categorical=[
                CategoricalFeature(name="device", values=devices),
                CategoricalFeature(name="page", values=pages),
                CategoricalFeature(name="daypart", values=list(DAYPARTS)),
            ],
        )

    def catalog_offers(self) -> dict[str, Offer]:
        """The offers as marketers would PUT them: creatives per channel, rules, no caps."""
        out: dict[str, Offer] = {}
        for spec in self.offers:
            url = f"https://shop.example.com/{spec.offer_id}"
            creatives: dict[Channel, Creative] = {}
            for channel in spec.channels:
                if channel == "email":
                    creatives[channel] = Creative(subject=spec.name, body=spec.body, url=url)
                elif channel == "push":
                    creatives[channel] = Creative(title=spec.name, body=spec.body[:120])
                else:
                    creatives[channel] = Creative(
                        title=spec.name, body=spec.body, cta="See more", url=url
                    )
            out[spec.offer_id] = Offer(
                name=spec.name,
                channels=creatives,
                eligibility=OfferEligibility(rules=spec.rules),
                tags=["simulation"],
            )
        return out

    def stored_segments(self) -> dict[str, StoredSegment]:
        return {
            s.segment_id: StoredSegment(name=s.name, kind="rule", rule=s.rule)
            for s in self.segments
        }
