"""The default scenario: the demo's world, as far as an oracle can know it.

The personas, their response truth and the request contexts are the shared world's
(:mod:`engine.synthetic.personas`), the segments the demo's. The offers are the demo's
hand-written active offers on the channels requests come from, with the eligibility an oracle
knows exactly: their rules on attributes stay, while segment and behaviour targeting, caps,
budgets and dates go (they depend on the run's own history and clock, and the oracle comparison
would stop being like for like). A scenario file of one's own takes the same form.
"""

from __future__ import annotations

from engine.synthetic.demo_offers import demo_offers
from engine.synthetic.demo_segments import demo_segments
from engine.synthetic.personas import PERSONAS, WORLD, ContextSpec, Persona
from engine.synthetic.population import ATTRIBUTE_TYPES
from engine.synthetic.simulate.specs import OfferSpec, SegmentSpec

# The demo catalog's dates count from a moment; the simulator drops them, so any will do.
_CATALOG_AT = 1_767_225_600.0  # 2026-01-01


def default_personas() -> list[Persona]:
    """The demo population's nine personas."""
    return list(PERSONAS)


def default_offers() -> list[OfferSpec]:
    """The demo's hand-written active offers (15), with attribute rules only."""
    out = []
    for offer_id, offer in demo_offers(_CATALOG_AT).items():
        if offer.status != "active":
            continue
        creative = next(iter(offer.channels.values()))
        out.append(
            OfferSpec(
                offer_id=offer_id,
                name=offer.name,
                body=creative.body or offer.name,
                channels=[c for c in offer.channels if c in WORLD.context.channels],
                rules=[r for r in offer.eligibility.rules if r.get("field") in ATTRIBUTE_TYPES],
                **WORLD.truth_of(offer.tags, offer_id).model_dump(),
            )
        )
    return out


def default_segments() -> list[SegmentSpec]:
    """The demo's segments: proxies of the personas' behaviour, never the personas."""
    return [
        SegmentSpec(segment_id=segment_id, name=segment.name, rule=segment.rule or {})
        for segment_id, segment in demo_segments().items()
    ]


def default_context() -> ContextSpec:
    """A retail day: quiet at night, peaks at lunch and in the evening."""
    return WORLD.context
