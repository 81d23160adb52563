"""Serving side: MABWiser's expectations for one context, from a frozen snapshot, in microseconds.

Every per-arm table is built once, with the prior appended as the last row, so the arm index
-1 (an offer the snapshot does not know) reads the prior through ordinary numpy indexing. A
request then costs one BLAS matrix-vector product over the stacked tables plus O(m) work for
the m requested arms: no Python loop per arm, no copy of a per-arm table, no mutation, so one
scorer is shared by every concurrent request. Randomness comes from the caller's generator.

Thompson sampling, softmax and random draw from ``rng`` exactly as MABWiser draws from its
generator (same calls, arm order), so on the same stream with every arm requested in snapshot
order they give MABWiser's numbers. LinTS cannot: MABWiser's LinTS samples each arm from that
arm's own copy of the generator (``_fit_arm`` deep-copies the arm's model, generator included),
so no single stream reproduces it; the scorer samples the same distribution instead (see
``_LinTS``). MABWiser's single-context predict also spends a uniform draw on its epsilon coin
(linear policies, epsilon-greedy); the scorer does not, since the engine explores itself.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from itertools import repeat
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from engine.learning.policies._config import PolicyConfig
from engine.learning.policies._snapshot import ModelSnapshot, prior_a_inv

__all__ = ["Scorer"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Cap on the (rows x arms x d) temporaries of score_batch: about 8 MB of float64 per chunk.
_BATCH_ELEMENTS: Final = 1 << 20
# MABWiser's softmax adds this to every probability before its Dirichlet draw.
_EPS: Final = float(np.finfo(float).eps)


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = np.ascontiguousarray(array)
    out.setflags(write=False)
    return out


def _chunks(n: int, width: int) -> list[slice]:
    step = max(1, _BATCH_ELEMENTS // max(1, width))
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


def _require(rng: np.random.Generator | None, name: str) -> np.random.Generator:
    if rng is None:
        raise ValueError(f"{name} samples: score_batch needs an rng")
    return rng


class _Policy(Protocol):
    def score(self, x: FloatArray, arms: IntArray, rng: np.random.Generator) -> FloatArray: ...

    def sample(
        self, x: FloatArray, arms: IntArray, rng: np.random.Generator, draws: int
    ) -> FloatArray: ...

    def expected(self, x: FloatArray, arms: IntArray) -> FloatArray: ...

    def score_batch(
        self, xs: FloatArray, arms: IntArray, rng: np.random.Generator | None
    ) -> FloatArray: ...


class _Linear:
    """LinUCB and LinTS share one table ``w``: every arm's A^-1 (transposed) stacked over beta.

    One product ``w @ x`` yields, for every arm k (prior last), ``x A_k^-1`` (K+1, d) and
    ``x . beta_k`` (K+1,), hence the posterior mean ``x . beta_k`` and width
    ``sqrt(x A_k^-1 x^T)`` of the arm's response: all either policy needs.
    """

    def __init__(self, snapshot: ModelSnapshot) -> None:
        d = snapshot.n_features
        self._k1 = len(snapshot.arms) + 1
        self._d = d
        self._alpha = snapshot.policy.alpha
        self._beta = _frozen(np.vstack([snapshot.arrays["beta"], np.zeros((1, d))]))
        prior = prior_a_inv(snapshot.policy, d)[np.newaxis]
        a_inv = np.concatenate([snapshot.arrays["a_inv"], prior])
        # transposed so that (w @ x) holds MABWiser's x @ A^-1, term for term
        self._w = _frozen(np.concatenate([np.swapaxes(a_inv, 1, 2).reshape(-1, d), self._beta]))

    def _moments(self, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(mean, width) of every arm's response, prior last: shapes (K+1,), (K+1,)."""
        y = self._w @ x
        split = self._k1 * self._d
        x_a_inv_x = y[:split].reshape(self._k1, self._d) @ x  # >= 0 up to rounding
        return y[split:], np.sqrt(np.maximum(x_a_inv_x, 0.0))

    def _moments_batch(self, xs: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(mean, width) for every row, shapes (n, K+1) each."""
        y = xs @ self._w.T
        split = self._k1 * self._d
        x_a_inv = y[:, :split].reshape(-1, self._k1, self._d)
        x_a_inv_x = np.einsum("ckd,cd->ck", x_a_inv, xs)
        return y[:, split:], np.sqrt(np.maximum(x_a_inv_x, 0.0))

    def expected(self, x: FloatArray, arms: IntArray) -> FloatArray:
        out: FloatArray = (self._beta @ x)[arms]
        return out


class _LinUCB(_Linear):
    def score(self, x: FloatArray, arms: IntArray, rng: np.random.Generator) -> FloatArray:
        mean, width = self._moments(x)
        out: FloatArray = (mean + self._alpha * width)[arms]
        return out

    def sample(
        self, x: FloatArray, arms: IntArray, rng: np.random.Generator, draws: int
    ) -> FloatArray:
        return np.tile(self.score(x, arms, rng), (draws, 1))

    def score_batch(
        self, xs: FloatArray, arms: IntArray, rng: np.random.Generator | None
    ) -> FloatArray:
        out = np.empty((xs.shape[0], arms.shape[0]))
        for rows in _chunks(xs.shape[0], self._k1 * self._d):
            mean, width = self._moments_batch(xs[rows])
            out[rows] = mean[:, arms] + self._alpha * width[:, arms]
        return out


class _LinTS(_Linear):
    """MABWiser draws b ~ N(beta, alpha^2 A^-1) and scores x . b, which is exactly
    N(x . beta, alpha^2 x A^-1 x^T): one standard normal per arm gives the same law as a
    d-dimensional draw, without a Cholesky factor per arm or d normals per arm (at d = 32 the
    d-dimensional draws alone cost more than the rest of the scoring). Arms are sampled
    independently, as Thompson sampling intends (MABWiser's arms updated in one batch sample
    from identical generator copies, hence with identical normals).
    """

    def score(self, x: FloatArray, arms: IntArray, rng: np.random.Generator) -> FloatArray:
        mean, width = self._moments(x)
        z = rng.standard_normal(arms.shape[0])
        out: FloatArray = mean[arms] + self._alpha * width[arms] * z
        return out

    def sample(
        self, x: FloatArray, arms: IntArray, rng: np.random.Generator, draws: int
    ) -> FloatArray:
        mean, width = self._moments(x)
        z = rng.standard_normal((draws, arms.shape[0]))  # same stream as `draws` score calls
        out: FloatArray = mean[arms] + (self._alpha * width[arms]) * z
        return out

    def score_batch(
        self, xs: FloatArray, arms: IntArray, rng: np.random.Generator | None
    ) -> FloatArray:
        generator = _require(rng, "lints")
        out = np.empty((xs.shape[0], arms.shape[0]))
        for rows in _chunks(xs.shape[0], self._k1 * self._d):
            mean, width = self._moments_batch(xs[rows])
            z = generator.standard_normal((mean.shape[0], arms.shape[0]))  # row by row order
            out[rows] = mean[:, arms] + self._alpha * width[:, arms] * z
        return out


class _MeanExpected:
    """The context-free policies expect each arm's mean reward (a cold arm's prior, last)."""

    _mean: FloatArray

    def expected(self, x: FloatArray, arms: IntArray) -> FloatArray:
        out: FloatArray = self._mean[arms]
        return out


class _ArmMeans(_MeanExpected):
    """Epsilon-greedy with MABWiser's epsilon at 0: each arm's mean reward, prior 0."""

    def __init__(self, snapshot: ModelSnapshot) -> None:
        self._mean = _frozen(np.append(snapshot.arrays["mean"], 0.0))

    def score(self, x: FloatArray, arms: IntArray, rng: np.random.Generator) -> FloatArray:
        out: FloatArray = self._mean[arms]
        return out

    def sample(
        self, x: FloatArray, arms: IntArray, rng: np.random.Generator, draws: int
    ) -> FloatArray:
        return np.tile(self._mean[arms], (draws, 1))

    def score_batch(
        self, xs: FloatArray, arms: IntArray, rng: np.random.Generator | None
    ) -> FloatArray:
        return np.tile(self._mean[arms], (xs.shape[0], 1))


class _Softmax(_MeanExpected):
    """MABWiser's softmax: a Dirichlet draw around the softmax of the arm means.

    MABWiser draws one Dirichlet over all its arms. For a subset of arms the scorer draws the
    requested arms plus one aggregate component for the rest, which by the Dirichlet's
    aggregation property has exactly the marginal law of those arms in MABWiser's draw; with
    every arm requested there is no aggregate and the draw is MABWiser's own. Cold arms (-1)
    enter as MABWiser's ``add_arm`` would put them: mean 0, renormalising the others.
    """

    def __init__(self, snapshot: ModelSnapshot) -> None:
        tau = snapshot.policy.tau
        means = [float(v) for v in snapshot.arrays["mean"]]
        # MABWiser's _expectation_operation, operation for operation (math.exp, left-to-right sum)
        self._max = max(means) if means else -math.inf
        exponents = [math.exp((mu - self._max) / tau) for mu in means]
        self._total = sum(exponents)
        self._tau = tau
        self._k = len(means)
        self._exponent = _frozen(np.array([*exponents, 0.0]))
        alpha = self._exponent / self._total + _EPS if means else np.zeros(1)
        self._alpha = _frozen(alpha)
        self._alpha_total = float(self._alpha[: self._k].sum())
        self._mean = _frozen(np.array([*means, 0.0]))

    def _concentration(self, arms: IntArray) -> FloatArray:
        """Dirichlet parameters for the requested arms, then the aggregate of the rest."""
        known = arms >= 0
        n_known = int(np.count_nonzero(known))
        n_cold = arms.shape[0] - n_known
        rest = self._k - n_known  # arms are distinct: the known ones not requested
        if n_cold == 0:
            alpha = self._alpha[arms]
            rest_alpha = max(self._alpha_total - float(alpha.sum()), _EPS * rest)
        else:
            shift = max(self._max, 0.0)  # the max over means once the cold arms' 0 joins
            scale = math.exp((self._max - shift) / self._tau) if self._k else 0.0
            cold = math.exp(-shift / self._tau)
            total = self._total * scale + n_cold * cold
            alpha = np.where(known, self._exponent[arms] * (scale / total), cold / total) + _EPS
            requested = float(self._exponent[arms[known]].sum())
            rest_alpha = max((self._total - requested) * scale / total, 0.0) + _EPS * rest
        if rest > 0:
            return np.append(alpha, rest_alpha)
        return alpha

    def score(self, x: FloatArray, arms: IntArray, rng: np.random.Generator) -> FloatArray:
        m = arms.shape[0]
        if m == 0:
            return np.zeros(0)
        out: FloatArray = rng.dirichlet(self._concentration(arms))[:m]
        return out

    def sample(
        self, x: FloatArray, arms: IntArray, rng: np.random.Generator, draws: int
    ) -> FloatArray:
        m = arms.shape[0]
        if m == 0:
            return np.zeros((draws, 0))
        out: FloatArray = rng.dirichlet(self._concentration(arms), size=draws)[:, :m]
        return out

    def score_batch(
        self, xs: FloatArray, arms: IntArray, rng: np.random.Generator | None
    ) -> FloatArray:
        generator = _require(rng, "softmax")
        m = arms.shape[0]
        if m == 0:
            return np.zeros((xs.shape[0], 0))
        out: FloatArray = generator.dirichlet(self._concentration(arms), size=xs.shape[0])[:, :m]
        return out


class _Thompson(_MeanExpected):
    """Beta(success, failure) draws per arm; a cold arm has MABWiser's Beta(1, 1)."""

    def __init__(self, snapshot: ModelSnapshot) -> None:
        self._success = _frozen(np.append(snapshot.arrays["success"], 1.0))
        self._failure = _frozen(np.append(snapshot.arrays["failure"], 1.0))
        self._mean = _frozen(self._success / (self._success + self._failure))

    def score(self, x: FloatArray, arms: IntArray, rng: np.random.Generator) -> FloatArray:
        return rng.beta(self._success[arms], self._failure[arms])

    def sample(
        self, x: FloatArray, arms: IntArray, rng: np.random.Generator, draws: int
    ) -> FloatArray:
        return rng.beta(self._success[arms], self._failure[arms], size=(draws, arms.shape[0]))

    def score_batch(
        self, xs: FloatArray, arms: IntArray, rng: np.random.Generator | None
    ) -> FloatArray:
        generator = _require(rng, "thompson")
        size = (xs.shape[0], arms.shape[0])
        return generator.beta(self._success[arms], self._failure[arms], size=size)


class _Unlearned(ABC):
    """A policy with no learned state: every score is a fresh draw, and nothing is expected."""

    @abstractmethod
    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator | None) -> FloatArray: ...

    def score(self, x: FloatArray, arms: IntArray, rng: np.random.Generator) -> FloatArray:
        return self._draw((arms.shape[0],), rng)

    def sample(
        self, x: FloatArray, arms: IntArray, rng: np.random.Generator, draws: int
    ) -> FloatArray:
        return self._draw((draws, arms.shape[0]), rng)

    def expected(self, x: FloatArray, arms: IntArray) -> FloatArray:
        return np.zeros(arms.shape[0])

    def score_batch(
        self, xs: FloatArray, arms: IntArray, rng: np.random.Generator | None
    ) -> FloatArray:
        return self._draw((xs.shape[0], arms.shape[0]), rng)


class _Uniform(_Unlearned):
    """``random``: MABWiser's uniform expectations; nothing is learned, so expected is 0."""

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator | None) -> FloatArray:
        return _require(rng, "random").random(shape)


class _Zeros(_Unlearned):
    """``rules``: no model; arbitration ranks by business weight and value alone."""

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator | None) -> FloatArray:
        return np.zeros(shape)


def _build(snapshot: ModelSnapshot) -> _Policy:
    match snapshot.policy.name:
        case "linucb":
            return _LinUCB(snapshot)
        case "lints":
            return _LinTS(snapshot)
        case "epsilon_greedy":
            return _ArmMeans(snapshot)
        case "softmax":
            return _Softmax(snapshot)
        case "thompson":
            return _Thompson(snapshot)
        case "random":
            return _Uniform()
        case "rules":
            return _Zeros()


class Scorer:
    """Scores offers for a context from one snapshot; built once, then shared read-only.

    Gives the numbers MABWiser's ``predict_expectations`` gives for the snapshot's model, at a
    fraction of the cost, without touching the learner's ``MAB``. Safe to share between
    concurrent requests; each request passes its own ``numpy.random.Generator`` (generators
    are not thread-safe, the scorer holds none). Linear policies keep K x d x d floats and
    read all of them per call, so the cost grows with the snapshot's arms, not the m scored.

    Parameters
    ----------
    snapshot : ModelSnapshot
        The model version to serve.
    """

    def __init__(self, snapshot: ModelSnapshot) -> None:
        self._snapshot = snapshot
        self._index: dict[str, int] = {arm: i for i, arm in enumerate(snapshot.arms)}
        self._policy = _build(snapshot)

    @property
    def snapshot(self) -> ModelSnapshot:
        return self._snapshot

    @property
    def policy(self) -> PolicyConfig:
        return self._snapshot.policy

    @property
    def version(self) -> int:
        return self._snapshot.version

    @property
    def arms(self) -> tuple[str, ...]:
        return self._snapshot.arms

    @property
    def n_features(self) -> int:
        return self._snapshot.n_features

    @property
    def stochastic(self) -> bool:
        """True when :meth:`score` samples (lints, thompson, random, softmax)."""
        return self._snapshot.policy.stochastic

    def arm_indices(self, offer_ids: Sequence[str]) -> IntArray:
        """Map offer ids to snapshot rows; -1 for offers the snapshot has not seen (cold start).

        Parameters
        ----------
        offer_ids : Sequence[str], length m

        Returns
        -------
        ndarray of int64, shape (m,)
        """
        count = len(offer_ids)
        return np.fromiter(map(self._index.get, offer_ids, repeat(-1, count)), np.int64, count)

    def score(self, x: FloatArray, arms: IntArray, rng: np.random.Generator) -> FloatArray:
        """What MABWiser's ``predict_expectations`` gives these arms for context ``x``.

        LinUCB: ``x . beta + alpha * sqrt(x A^-1 x^T)``; LinTS: a draw of ``x . b`` with ``b``
        from N(beta, alpha^2 A^-1), i.e. from N(x . beta, alpha^2 x A^-1 x^T); epsilon-greedy:
        the arm mean; softmax: MABWiser's Dirichlet draw; Thompson: a Beta(success, failure)
        draw; random: uniform draws; rules: zeros. Arms at -1 get the prior of a fresh
        MABWiser arm (linear: beta = 0, A^-1 as MABWiser sets it, so LinUCB's bonus explores
        new offers).

        Parameters
        ----------
        x : ndarray of float, shape (d,)
            The context vector.
        arms : ndarray of int, shape (m,)
            Distinct rows from :meth:`arm_indices` (-1 may repeat: distinct cold offers).
        rng : numpy.random.Generator
            Source of the sampling policies' draws: ``standard_normal(m)`` for LinTS, ``beta``
            per arm for Thompson, ``dirichlet`` for softmax, ``random(m)`` for random (entry i
            for ``arms[i]``, in the order MABWiser draws per arm). Unused otherwise.

        Returns
        -------
        ndarray of float, shape (m,)

        Raises
        ------
        ValueError
            If ``x`` is not a vector of length d.
        """
        return self._policy.score(self._vector(x), arms, rng)

    def sample(
        self, x: FloatArray, arms: IntArray, rng: np.random.Generator, draws: int
    ) -> FloatArray:
        """``draws`` independent scorings of one context at once (Monte Carlo propensities).

        Equal to calling :meth:`score` ``draws`` times with the same generator, but the
        per-arm work is done once: for LinTS the cost of 128 draws is about that of two
        :meth:`score` calls. Deterministic policies repeat their one scoring.

        Parameters
        ----------
        x : ndarray of float, shape (d,)
        arms : ndarray of int, shape (m,)
        rng : numpy.random.Generator
        draws : int, >= 0

        Returns
        -------
        ndarray of float, shape (draws, m)

        Raises
        ------
        ValueError
            If ``x`` is not a vector of length d or ``draws`` is negative.
        """
        if draws < 0:
            raise ValueError("draws must be >= 0")
        return self._policy.sample(self._vector(x), arms, rng, draws)

    def expected(self, x: FloatArray, arms: IntArray) -> FloatArray:
        """The posterior-mean response, without exploration bonus or sampling.

        ``x . beta`` for the linear policies, the arm's mean reward for epsilon-greedy and
        softmax, ``success / (success + failure)`` for Thompson; zeros for random and rules,
        which learn nothing. Cold arms get the prior mean (0; 1/2 for Thompson).

        Parameters
        ----------
        x : ndarray of float, shape (d,)
        arms : ndarray of int, shape (m,)

        Returns
        -------
        ndarray of float, shape (m,)
        """
        return self._policy.expected(self._vector(x), arms)

    def score_batch(
        self, xs: FloatArray, arms: IntArray, rng: np.random.Generator | None = None
    ) -> FloatArray:
        """:meth:`score` for many contexts at once (offline evaluation, propensity estimates).

        Sampling policies draw in row order, so the result equals ``score`` called row by
        row with the same generator.

        Parameters
        ----------
        xs : ndarray of float, shape (n, d)
        arms : ndarray of int, shape (m,)
        rng : numpy.random.Generator, optional
            Required when :attr:`stochastic`.

        Returns
        -------
        ndarray of float, shape (n, m)

        Raises
        ------
        ValueError
            If ``xs`` is not (n, d), or a sampling policy gets no ``rng``.
        """
        matrix = np.asarray(xs, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[1] != self._snapshot.n_features:
            raise ValueError(
                f"contexts must have shape (n, {self._snapshot.n_features}), got {matrix.shape}"
            )
        return self._policy.score_batch(matrix, arms, rng)

    def _vector(self, x: FloatArray) -> FloatArray:
        vector = np.asarray(x, dtype=np.float64)
        if vector.shape != (self._snapshot.n_features,):
            raise ValueError(
                f"x must have shape ({self._snapshot.n_features},), got {vector.shape}"
            )
        return vector
