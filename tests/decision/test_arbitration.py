"""Exploration and propensities: logged probabilities match what the process actually does."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats

from engine.decision.arbitration import expected_values, greedy_position_frequencies, select

N = 20_000


def serve_many(
    arbitrated: np.ndarray[Any, Any], k: int, epsilon: float, seed: int, resample: Any = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(times served, summed logged propensities) per (offer, position) over N decisions."""
    rng = np.random.default_rng(seed)
    m = arbitrated.shape[0]
    counts = np.zeros((m, k))
    logged = np.zeros((m, k))
    for _ in range(N):
        scores = arbitrated if resample is None else resample(1)[0]
        selection = select(scores, k, epsilon, rng, resample, draws=64)
        for position, (index, propensity) in enumerate(
            zip(selection.order, selection.propensities, strict=True)
        ):
            counts[index, position] += 1
            logged[index, position] += propensity
    return counts, logged


def test_epsilon_greedy_propensities_are_exact() -> None:
    arbitrated = np.array([0.10, 0.30, 0.20, 0.05, 0.25])
    k, epsilon = 2, 0.2
    m = arbitrated.shape[0]
    counts, logged = serve_many(arbitrated, k, epsilon, seed=1)
    # a cell's logged propensity is a constant; it must be the cell's long-run frequency
    per_cell = np.divide(logged, counts, out=np.zeros_like(logged), where=counts > 0)
    expected = per_cell * N
    sd = np.sqrt(N * per_cell * (1 - per_cell))
    assert np.all(np.abs(counts - expected) <= 4.5 * sd + 1), (counts / N, per_cell)
    for position in range(k):
        assert stats.chisquare(counts[:, position], expected[:, position]).pvalue > 1e-4
    # and it is the closed form: greedy cells 1 - eps + eps/m, the others eps/m
    assert per_cell[1, 0] == pytest.approx(1 - epsilon + epsilon / m)
    assert per_cell[4, 1] == pytest.approx(1 - epsilon + epsilon / m)
    assert per_cell[0, 0] == pytest.approx(epsilon / m)


def test_sampling_scorer_propensities_are_estimated_within_tolerance() -> None:
    means = np.array([0.20, 0.22, 0.18, 0.05])
    sd = np.array([0.03, 0.03, 0.05, 0.01])
    posterior = np.random.default_rng(99)

    def resample(draws: int) -> np.ndarray[Any, Any]:
        return posterior.normal(means, sd, size=(draws, means.shape[0]))

    counts, logged = serve_many(means, 1, 0.1, seed=2, resample=resample)
    estimated = np.divide(logged, counts, out=np.zeros_like(logged), where=counts > 0)
    # a 64-draw estimate is noisy per decision but unbiased: compare averages with frequencies
    assert np.allclose(estimated[:, 0], counts[:, 0] / N, atol=0.03)


def test_exploration_covers_every_eligible_offer() -> None:
    rng = np.random.default_rng(3)
    arbitrated = np.linspace(0, 1, 8)
    seen = {int(select(arbitrated, 1, 0.5, rng).order[0]) for _ in range(2000)}
    assert seen == set(range(8))


def test_expected_value_and_response_modes() -> None:
    response = np.array([0.1, -0.2, 0.05])
    values = np.array([10.0, 50.0, 0.0])
    weights = np.array([1.0, 1.0, 2.0])
    ev = expected_values(response, values, weights, "expected_value")
    assert ev[0] == pytest.approx(1.0)
    assert 0 < ev[1] < 1e-6  # a negative response is floored, never reverses the ranking
    assert ev[2] == pytest.approx(0.1)  # no value counts as one unit
    assert np.array_equal(expected_values(response, values, weights, "response"), response)


def test_greedy_position_frequencies_sum_to_one() -> None:
    samples = np.random.default_rng(4).normal(size=(500, 6))
    frequencies = greedy_position_frequencies(samples, 3)
    assert np.allclose(frequencies.sum(axis=0), 1.0)
    assert np.all(frequencies.sum(axis=1) <= 1.0 + 1e-12)
