"""What a channel asks for: ``POST /v1/decisions``, validated before the decision starts."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from engine.customers.service import CUSTOMER_ID_PATTERN
from engine.domain.channels import Channel
from engine.domain.values import Scalar, WholeNumber
from experiments.config import StrictModel

__all__ = ["DecisionRequest"]

ContextKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class DecisionRequest(StrictModel):
    """``POST /v1/decisions``."""

    customer_id: str = Field(pattern=CUSTOMER_ID_PATTERN)
    channel: Channel
    placement: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    context: dict[ContextKey, Scalar] = Field(default_factory=dict, max_length=64)
    limit: WholeNumber = Field(default=1, ge=1, le=10)
    exclude_offers: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=100
    )
    request_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
