"""The scalar normal and t tails give scipy.stats' numbers exactly, edge cases included.

They replace scipy.stats calls on the results path for speed, so any difference would change
published p-values and intervals; equality here is bit for bit.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as sps  # type: ignore[import-untyped]

from experiments.stats._common import (
    norm_cdf,
    norm_isf,
    norm_pdf,
    norm_ppf,
    norm_sf,
    t_isf,
    t_sf,
)

EDGES = [0.0, -0.0, math.inf, -math.inf, math.nan, 1e-300, -1e-300, 38.5, -38.5, 8.3, -8.3]
PROBABILITY_EDGES = [0.0, 1.0, 0.5, 1e-320, 1e-300, 1 - 1e-16, -0.1, 1.1, math.nan]


def same(ours: float, theirs: object) -> bool:
    value = float(theirs)  # type: ignore[arg-type]
    return (math.isnan(ours) and math.isnan(value)) or ours == value


@pytest.fixture(scope="module")
def points() -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(0)
    xs = [*rng.normal(0, 3, 3000).tolist(), *rng.normal(0, 40, 300).tolist(), *EDGES]
    qs = [*rng.random(3000).tolist(), *(10 ** rng.uniform(-300, 0, 300)).tolist()]
    return xs, [*qs, *PROBABILITY_EDGES]


def test_normal_tails(points: tuple[list[float], list[float]]) -> None:
    xs, qs = points
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's own, on its NaN paths
        for x in xs:
            assert same(norm_cdf(x), sps.norm.cdf(x)), x
            assert same(norm_sf(x), sps.norm.sf(x)), x
            assert same(norm_pdf(x), sps.norm.pdf(x)), x
            for loc, scale in ((0.3, 2.0), (-1.0, 0.01), (0.0, 0.0), (1.0, -1.0)):
                assert same(norm_sf(x, loc, scale), sps.norm.sf(x, loc, scale)), (x, loc, scale)
        for q in qs:
            assert same(norm_isf(q), sps.norm.isf(q)), q
            assert same(norm_ppf(q), sps.norm.ppf(q)), q
            for loc, scale in ((0.3, 2.0), (-1.0, 0.01), (0.0, 0.0)):
                assert same(norm_ppf(q, loc, scale), sps.norm.ppf(q, loc, scale)), (q, loc)


def test_student_tails(points: tuple[list[float], list[float]]) -> None:
    xs, qs = points
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for df in (1.0, 2.5, 10.0, 123.4, 0.0, -1.0):
            for x in xs[::7]:
                assert same(t_sf(x, df), sps.t.sf(x, df)), (x, df)
            for q in qs[::7]:
                assert same(t_isf(q, df), sps.t.isf(q, df)), (q, df)
