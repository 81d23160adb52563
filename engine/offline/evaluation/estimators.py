"""The estimators of a policy's value on a log (on-policy mean, IPS, SNIPS, doubly robust), each
with its normal-approximate interval and an error code where the statistic is not usable.

The estimators share their arguments, described once here:

- ``log`` (:class:`LoggedFeedback`): ``n`` rows over ``K`` actions.
- ``target`` (ndarray, shape ``(n, K)``): the probability the candidate puts on each action at
  row ``i``'s logged position; each row sums to 1.
- ``alpha`` (float): ``1 - alpha`` is the interval's coverage.
- ``clip`` (float, optional): a cap on the importance weights. Off by default: capping lowers
  the variance but biases the estimate towards zero, and the interval does not account for
  that bias.

Each returns an :class:`Estimate` and raises ``ValueError`` when ``target`` is not an
``(n, K)`` row-stochastic matrix or ``alpha`` or ``clip`` is out of range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final

import numpy as np

from engine.offline.evaluation.logs import (
    FloatArray,
    LoggedFeedback,
    _float_array,
)

ESTIMATORS: Final[tuple[str, ...]] = ("ips", "snips", "dr")

_ROW_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Estimate:
    """One policy value with its normal-approximate ``1 - alpha`` interval.

    ``error`` is None for a usable result. Otherwise it names why the statistic is not usable
    and the fields that cannot be computed are NaN:

    - ``no_rows``: nothing logged (value NaN);
    - ``no_support``: the candidate never chooses a logged action, so the log says nothing
      about it (value NaN; DR would be pure model extrapolation);
    - ``too_few_rows``: one row, no variance estimate (value kept, interval NaN);
    - ``zero_variance``: every influence term is equal (for instance no reward at all among
      the rows the candidate shares with the log); the value is kept and ``std_error`` is 0,
      but a zero-width interval would claim certainty the data cannot give, so it is NaN.

    ``effective_sample_size`` is Kish's ``(sum w)^2 / sum w^2`` over the importance weights:
    how many on-policy rows the weighted sample is worth; far below ``n`` means the interval
    rests on a few rows.
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float
    n: int
    effective_sample_size: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: non-finite numbers become ``None`` (JSON has no NaN)."""
        return {
            "estimator": self.estimator,
            "value": _finite_or_none(self.value),
            "ci_low": _finite_or_none(self.ci_low),
            "ci_high": _finite_or_none(self.ci_high),
            "std_error": _finite_or_none(self.std_error),
            "n": self.n,
            "effective_sample_size": _finite_or_none(self.effective_sample_size),
            "error": self.error,
        }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _quantile(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def _failed(estimator: str, n: int, error: str) -> Estimate:
    nan = math.nan
    return Estimate(estimator, nan, nan, nan, nan, n, 0.0 if n else nan, error)


def _summarise(
    estimator: str,
    value: float,
    influence: FloatArray,
    weights: FloatArray,
    z: float,
    *,
    constant: bool,
) -> Estimate:
    """Interval from influence terms: ``value ± z · sd(influence) / sqrt(n)``."""
    n = int(influence.shape[0])
    ess = float(weights.sum() ** 2 / np.square(weights).sum())
    nan = math.nan
    if n < 2:
        return Estimate(estimator, value, nan, nan, nan, n, ess, "too_few_rows")
    if constant:
        return Estimate(estimator, value, nan, nan, 0.0, n, ess, "zero_variance")
    se = float(np.std(influence, ddof=1)) / math.sqrt(n)
    return Estimate(estimator, value, value - z * se, value + z * se, se, n, ess)


def _check_target(log: LoggedFeedback, target: Any, name: str = "target") -> FloatArray:
    array = np.asarray(target, dtype=np.float64)
    expected = (log.n, log.n_actions)
    if array.shape != expected:
        raise ValueError(f"{name} has shape {array.shape}; expected (n, K) = {expected}")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name} must hold finite probabilities >= 0")
    if log.n:
        sums = array.sum(axis=1)
        worst = int(np.argmax(np.abs(sums - 1.0)))
        if abs(sums[worst] - 1.0) > _ROW_SUM_TOLERANCE:
            raise ValueError(
                f"each row of {name} must be a probability distribution over the K actions; "
                f"row {worst} sums to {sums[worst]:.6g}"
            )
    return array


def _check_clip(clip: float | None) -> None:
    if clip is not None and not (math.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be a positive importance weight, got {clip}")


def _weights(log: LoggedFeedback, target: FloatArray, clip: float | None) -> FloatArray:
    weights = target[np.arange(log.n), log.actions] / log.propensities
    return weights if clip is None else np.minimum(weights, clip)


def _clipped_name(name: str, clip: float | None) -> str:
    return name if clip is None else f"{name}(clip={clip:g})"


def on_policy(log: LoggedFeedback, alpha: float = 0.05) -> Estimate:
    """The logging policy's own mean reward: the on-policy reference every candidate faces.

    Named ``"on_policy"``, with an effective sample size of ``n``.
    """
    z = _quantile(alpha)
    if log.n == 0:
        return _failed("on_policy", 0, "no_rows")
    rewards = log.rewards
    return _summarise(
        "on_policy",
        float(rewards.mean()),
        rewards,
        np.ones(log.n),
        z,
        constant=bool(np.ptp(rewards) == 0),
    )


def ips(
    log: LoggedFeedback,
    target: FloatArray,
    alpha: float = 0.05,
    *,
    clip: float | None = None,
) -> Estimate:
    """Inverse propensity scoring: ``mean(w_i r_i)`` with ``w_i = target[i, a_i] / p_i``.

    Unbiased whenever the logging policy gave every action the candidate can choose a positive
    probability and the logged propensities are right; its variance grows with the weights.
    The interval is ``value ± z_{1-alpha/2} · sd(w r) / sqrt(n)``.
    """
    z = _quantile(alpha)
    _check_clip(clip)
    name = _clipped_name("ips", clip)
    target = _check_target(log, target)
    if log.n == 0:
        return _failed(name, 0, "no_rows")
    weights = _weights(log, target, clip)
    if weights.sum() == 0:
        return _failed(name, log.n, "no_support")
    terms = weights * log.rewards
    return _summarise(
        name, float(terms.mean()), terms, weights, z, constant=bool(np.ptp(terms) == 0)
    )


def snips(log: LoggedFeedback, target: FloatArray, alpha: float = 0.05) -> Estimate:
    """Self-normalised IPS: ``sum(w r) / sum(w)``.

    Slightly biased (it is a ratio) but bounded by the reward range and far less variable than
    IPS when weights are heavy. The interval comes from the delta method: the influence of row
    ``i`` is ``w_i (r_i - V) / mean(w)``.
    """
    z = _quantile(alpha)
    target = _check_target(log, target)
    if log.n == 0:
        return _failed("snips", 0, "no_rows")
    weights = _weights(log, target, None)
    total = float(weights.sum())
    if total == 0:
        return _failed("snips", log.n, "no_support")
    rewards = log.rewards
    value = float((weights * rewards).sum() / total)
    influence = weights * (rewards - value) / weights.mean()
    supported = rewards[weights > 0]
    return _summarise("snips", value, influence, weights, z, constant=bool(np.ptp(supported) == 0))


def doubly_robust(
    log: LoggedFeedback,
    target: FloatArray,
    reward_model_predictions: FloatArray,
    alpha: float = 0.05,
    *,
    clip: float | None = None,
) -> Estimate:
    """Doubly robust: the model's value of the candidate plus weighted residuals on the log.

    Row ``i`` contributes ``sum_a target[i, a] q[i, a] + w_i (r_i - q[i, a_i])``. With correct
    propensities it is unbiased whatever the model; the better the model, the smaller the
    residuals and the interval. Use cross-fitted predictions (:func:`fit_reward_model`): a
    model that has seen row ``i``'s reward shrinks its residual and the interval with it.

    ``reward_model_predictions`` (ndarray, shape ``(n, K)``) is the predicted reward of every
    action at row ``i``'s context and position; a wrong shape or a non-finite prediction raises
    ``ValueError``.
    """
    z = _quantile(alpha)
    _check_clip(clip)
    name = _clipped_name("dr", clip)
    target = _check_target(log, target)
    predictions = _float_array(
        "reward_model_predictions", reward_model_predictions, (log.n, log.n_actions)
    )
    if log.n == 0:
        return _failed(name, 0, "no_rows")
    weights = _weights(log, target, clip)
    if weights.sum() == 0:
        return _failed(name, log.n, "no_support")
    rows = np.arange(log.n)
    direct = (target * predictions).sum(axis=1)
    terms = direct + weights * (log.rewards - predictions[rows, log.actions])
    return _summarise(
        name, float(terms.mean()), terms, weights, z, constant=bool(np.ptp(terms) == 0)
    )
