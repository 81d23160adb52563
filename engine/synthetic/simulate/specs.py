"""What a scenario adds to the shared world's personas and contexts: offers with what they do to
the click rate, and segments. Validated as strictly as API input, since scenarios come from JSON
files."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.domain.channels import Channel
from engine.synthetic.personas import OfferTruth


class OfferSpec(OfferTruth):
    """An offer as the engine sees it (channels, rules) and its truth (tags and own effects)."""

    offer_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str
    body: str
    channels: list[Channel] = Field(min_length=1)
    rules: list[dict[str, Any]] = Field(
        default_factory=list, description="Eligibility rules over attributes only."
    )


class SegmentSpec(BaseModel):
    """A rule segment as a marketer would define it; the model sees membership as a feature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str
    rule: dict[str, Any]
