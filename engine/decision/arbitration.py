"""Arbitration and explicit exploration, built so every served offer has an exact propensity.

Expected value = response estimate x offer value x business weight (or the response estimate
alone for placements ranked by response). Exploration is explicit: with probability epsilon the
served list is a uniformly random ordering of the eligible set, otherwise the greedy ranking.
So the probability that offer o is served at position p is

    (1 - epsilon) * P(greedy puts o at p) + epsilon / m

where m is the number of eligible offers. P(greedy ...) is 0 or 1 for deterministic scorers;
for sampling scorers (LinTS, Thompson) it is estimated by Monte Carlo and flagged as estimated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "ArbitrationMode",
    "Selection",
    "expected_values",
    "greedy_position_frequencies",
    "select",
]

ArbitrationMode = Literal["expected_value", "response"]
FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]
RESPONSE_FLOOR = 1e-9  # a response estimate below this (or negative) counts as this


@dataclass(frozen=True, slots=True)
class Selection:
    """Indices (into the eligible list) served in order, with their propensities."""

    order: IntArray
    propensities: FloatArray
    explored: bool
    estimated: bool


def expected_values(
    response: FloatArray, values: FloatArray, weights: FloatArray, mode: ArbitrationMode
) -> FloatArray:
    """What arbitration ranks by; an offer without a value counts as one unit of value."""
    if mode == "response":
        return response
    clipped = np.maximum(response, RESPONSE_FLOOR)
    return clipped * np.where(values > 0, values, 1.0) * weights


def _greedy(arbitrated: FloatArray, k: int) -> IntArray:
    # stable: ties keep eligible-list order (which is sorted by offer id)
    return np.argsort(-arbitrated, kind="stable")[:k].astype(np.int64)


def greedy_position_frequencies(samples: FloatArray, k: int) -> FloatArray:
    """(m, k) share of sampled score vectors (draws, m) whose greedy ranking puts i at p."""
    draws, m = samples.shape
    frequencies = np.zeros((m, k))
    orders = np.argsort(-samples, axis=1, kind="stable")[:, :k]
    for p in range(min(k, m)):
        frequencies[:, p] = np.bincount(orders[:, p], minlength=m) / draws
    return frequencies


def select(
    arbitrated: FloatArray,
    k: int,
    epsilon: float,
    rng: np.random.Generator,
    resample: Callable[[int], FloatArray] | None = None,
    draws: int = 256,
) -> Selection:
    """Choose up to ``k`` of the ``m`` eligible offers and their exact (or estimated) propensities.

    Parameters
    ----------
    arbitrated : (m,) the ranking values of this request.
    k : how many offers to serve.
    epsilon : probability of serving a uniformly random ordering instead of the greedy one.
    rng : the request's random generator.
    resample : for sampling scorers, returns (draws, m) fresh arbitrated values from the same
        posterior, used to estimate the greedy policy's position probabilities.
    """
    m = arbitrated.shape[0]
    k = min(k, m)
    if m == 0 or k == 0:
        empty = np.zeros(0)
        return Selection(np.zeros(0, dtype=np.int64), empty, False, False)
    explored = bool(rng.random() < epsilon)
    order = rng.permutation(m)[:k].astype(np.int64) if explored else _greedy(arbitrated, k)
    positions = np.arange(k)
    if resample is None:
        greedy = _greedy(arbitrated, k)
        greedy_probability = (greedy == order).astype(float)
        estimated = False
    else:
        frequencies = greedy_position_frequencies(resample(draws), k)
        greedy_probability = frequencies[order, positions]
        estimated = True
    propensities = (1.0 - epsilon) * greedy_probability + epsilon / m
    return Selection(order, propensities, explored, estimated)
