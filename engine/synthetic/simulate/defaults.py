"""The default scenario's world: six personas, the offers and their true rates, segments and
a retail day's request contexts.

The world is data (``data/simulated_world.json``), in the form a scenario file takes, so a
scenario of one's own can start from a copy of it.
"""

from __future__ import annotations

from typing import Any

from engine.synthetic.simulate.specs import ContextSpec, OfferSpec, PersonaSpec, SegmentSpec
from engine.synthetic.tables import table


def _world(part: str) -> Any:
    return table("simulated_world")[part]


def default_personas() -> list[PersonaSpec]:
    """Six personas; shares, behaviour and reach loosely modelled on a mid-size retailer."""
    return [PersonaSpec.model_validate(persona) for persona in _world("personas")]


def default_offers() -> list[OfferSpec]:
    """Ten offers. Rates are clicks per served offer: a few percent up to about 30%."""
    return [OfferSpec.model_validate(offer) for offer in _world("offers")]


def default_segments() -> list[SegmentSpec]:
    """Segments a marketer would plausibly define: proxies of the personas, never the personas."""
    return [SegmentSpec.model_validate(segment) for segment in _world("segments")]


def default_context() -> ContextSpec:
    """A retail day: quiet at night, peaks at lunch and in the evening."""
    return ContextSpec.model_validate(_world("context"))
