"""What a decision has settled before it chooses: the same for every commit attempt.

One typed value, built once per decision, so the steps after it (choose, record, log) take it
whole instead of a dozen positional arguments that could be passed in the wrong order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.decision.arbitration import ArbitrationMode
from engine.decision.request import DecisionRequest
from engine.decision.treatment import AppliedTreatment
from experiments.exposure import Assignment

__all__ = ["DecisionFacts"]


@dataclass(frozen=True, slots=True)
class DecisionFacts:
    now: float
    request: DecisionRequest
    token: str
    decision_id: str
    digest: str  # the request's fingerprint when it has a request_id, else ""
    treatment: AppliedTreatment
    assignment: Assignment | None
    model_version: int
    spec_version: int  # the feature spec the vector ``x`` was built with
    window: int  # the channel's attribution window, seconds
    x: np.ndarray[Any, np.dtype[np.float64]]
    segments: list[str]
    mode: ArbitrationMode
    pre_revenue: float  # pre-exposure covariates of a first exposure (CUPED)
    pre_converted: float
