"""Off-policy evaluation: what a candidate policy would have earned on traffic already served.

Every served offer is logged with its serving probability (ARCHITECTURE.md, "Beside the loop").
That probability is what lets us replay a *different* policy on the same traffic without an
experiment: importance weighting (IPS) re-weights each logged reward by how much more or less
often the candidate would have made the same choice; self-normalisation (SNIPS) trades a little
bias for much less variance when weights are heavy; the doubly robust estimator (DR) starts from
a reward model's prediction of the candidate's value and corrects it with importance-weighted
residuals, so it stays unbiased when propensities are right and gets tighter the better the
model is.

Everything here is a pure function on numpy arrays (no store, no clock) except the two loaders.
A policy is represented only by what the estimators need: an ``(n, K)`` matrix giving, for each
logged row, the probability the policy puts each of the ``K`` actions at that row's position.
That keeps the engine's own policies pluggable later (:func:`from_scores`) without this module
knowing them.

Confidence intervals are normal approximations built from per-row influence terms, so they are
only as good as the central limit theorem on the weighted rewards: with few rewarded rows or a
few huge weights (low effective sample size) they are optimistic. Rows are treated as
independent; offers served together in one decision are not clustered.

Statistics that cannot be computed (no rows, no overlap between the candidate and the logged
actions, a single row, no variation) come back as an :class:`Estimate` with an ``error`` code
rather than an exception, as in gbstats; malformed inputs (wrong shapes, probabilities outside
their range) raise ``ValueError`` because they are bugs in the caller.
"""

from __future__ import annotations

import csv
import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from engine.learning.policies import ModelSnapshot, Scorer

__all__ = [
    "ESTIMATORS",
    "CandidateSource",
    "Estimate",
    "EvaluationReport",
    "LoggedFeedback",
    "SegmentEvaluation",
    "candidate_policies",
    "doubly_robust",
    "empirical_position_policy",
    "evaluate",
    "fit_reward_model",
    "from_scores",
    "ips",
    "load_decision_log",
    "load_log",
    "load_obd_csv",
    "model_candidate",
    "on_policy",
    "snips",
    "static_best",
    "uniform_random",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ESTIMATORS: Final[tuple[str, ...]] = ("ips", "snips", "dr")

# A candidate given either as its (n, K) action distribution on a log or as a function that
# builds that distribution from the log (a model scoring the log's contexts via from_scores).
CandidateSource = npt.NDArray[np.float64] | Callable[["LoggedFeedback"], npt.NDArray[np.float64]]

_ROW_SUM_TOLERANCE = 1e-6
# OBD's user features are hashed categories whose value sets differ between files; hashing them
# into fixed buckets gives every file the same context columns, so a model fitted on one log
# can score another. Collisions only merge categories.
_OBD_HASH_BUCKETS = 32
_OBD_AFFINITY = "user-item_affinity_"
_OBD_USER = "user_feature_"


# --------------------------------------------------------------------------- logged feedback


@dataclass(frozen=True, eq=False)
class LoggedFeedback:
    """Logged bandit feedback: one row per served action, with the logging probability.

    Parameters
    ----------
    actions : ndarray of int, shape (n,)
        Index into ``action_ids`` of the action served in each row.
    action_ids : tuple of str, length K
        The action space (offer ids, OBD item ids); the columns of every target matrix.
    positions : ndarray of int, shape (n,)
        0-based slot the action was shown in; target policies are read at this position.
    rewards : ndarray of float, shape (n,)
        Observed reward (click 0/1, conversion value, ...).
    propensities : ndarray of float, shape (n,)
        Probability the logging policy gave the served action at its position, in (0, 1].
    contexts : ndarray of float, shape (n, d), optional
        The context vector the reward model learns from.
    segments : tuple of tuple of str, length n, optional
        Segments each row belonged to at decision time; a row may be in several or none.
    estimated_propensity : ndarray of bool, shape (n,), optional
        True where the logging probability was estimated rather than known exactly, so a
        report can say how much of the log rests on estimated propensities.
    eligible : ndarray of bool, shape (n, K), optional
        Actions that could have been served in each row; the logged action is always eligible.

    Raises
    ------
    ValueError
        On inconsistent shapes, out-of-range indices, non-finite values or propensities
        outside (0, 1]. Arrays are copied and made read-only, so the value really is frozen.
    """

    actions: IntArray
    action_ids: tuple[str, ...]
    positions: IntArray
    rewards: FloatArray
    propensities: FloatArray
    contexts: FloatArray | None = None
    segments: tuple[tuple[str, ...], ...] | None = None
    estimated_propensity: BoolArray | None = None
    eligible: BoolArray | None = None

    def __post_init__(self) -> None:
        k = len(self.action_ids)
        if k == 0:
            raise ValueError("action_ids is empty: a log needs at least one action")
        if len(set(self.action_ids)) != k:
            raise ValueError("action_ids holds duplicates")
        actions = _index_vector("actions", self.actions)
        n = actions.shape[0]
        if n and (actions.min() < 0 or actions.max() >= k):
            raise ValueError(f"actions must be indices in [0, {k}) into action_ids")
        positions = _index_vector("positions", self.positions, n)
        if n and positions.min() < 0:
            raise ValueError("positions are 0-based and must be >= 0")
        rewards = _float_array("rewards", self.rewards, (n,))
        propensities = _float_array("propensities", self.propensities, (n,))
        if n and (propensities.min() <= 0.0 or propensities.max() > 1.0):
            raise ValueError("propensities must lie in (0, 1]")
        _freeze(self, "actions", actions)
        _freeze(self, "positions", positions)
        _freeze(self, "rewards", rewards)
        _freeze(self, "propensities", propensities)
        if self.contexts is not None:
            contexts = np.array(self.contexts, dtype=np.float64)
            if contexts.ndim != 2 or contexts.shape[0] != n:
                raise ValueError(f"contexts must have shape (n, d) with n = {n}")
            if not np.isfinite(contexts).all():
                raise ValueError("contexts must be finite")
            _freeze(self, "contexts", contexts)
        if self.segments is not None:
            if len(self.segments) != n:
                raise ValueError(f"segments must have one entry per row ({n})")
            if not all(
                isinstance(row, tuple | list) and all(isinstance(s, str) for s in row)
                for row in self.segments
            ):
                raise ValueError("segments must hold one tuple of segment names (str) per row")
            object.__setattr__(self, "segments", tuple(tuple(row) for row in self.segments))
        if self.estimated_propensity is not None:
            _freeze(self, "estimated_propensity", _bool_array(self.estimated_propensity, (n,)))
        if self.eligible is not None:
            eligible = _bool_array(self.eligible, (n, k))
            if n and not eligible[np.arange(n), actions].all():
                raise ValueError("every logged action must be marked eligible in its row")
            _freeze(self, "eligible", eligible)

    @property
    def n(self) -> int:
        """Number of logged rows."""
        return int(self.actions.shape[0])

    @property
    def n_actions(self) -> int:
        """Size ``K`` of the action space."""
        return len(self.action_ids)

    @property
    def n_positions(self) -> int:
        """One more than the largest logged position (0 for an empty log)."""
        return int(self.positions.max()) + 1 if self.n else 0

    def subset(self, rows: npt.NDArray[np.integer[Any]] | BoolArray) -> LoggedFeedback:
        """The same log restricted to ``rows`` (indices or a boolean mask), same action space."""
        index = np.arange(self.n)[rows]
        return LoggedFeedback(
            actions=self.actions[index],
            action_ids=self.action_ids,
            positions=self.positions[index],
            rewards=self.rewards[index],
            propensities=self.propensities[index],
            contexts=None if self.contexts is None else self.contexts[index],
            segments=None if self.segments is None else tuple(self.segments[i] for i in index),
            estimated_propensity=(
                None if self.estimated_propensity is None else self.estimated_propensity[index]
            ),
            eligible=None if self.eligible is None else self.eligible[index],
        )


def _freeze(obj: object, name: str, value: npt.NDArray[Any]) -> None:
    value.setflags(write=False)
    object.__setattr__(obj, name, value)


def _index_vector(name: str, value: Any, n: int | None = None) -> IntArray:
    array = np.asarray(value)
    if array.ndim != 1 or (n is not None and array.shape[0] != n):
        raise ValueError(f"{name} must have shape (n,)" + ("" if n is None else f" with n = {n}"))
    integral = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and bool(np.all(np.isfinite(array) & (array == np.round(array))))
    )
    if not integral:
        raise ValueError(f"{name} must be integers")
    return np.array(array, dtype=np.int64)


def _float_array(name: str, value: Any, shape: tuple[int, ...]) -> FloatArray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers") from exc
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}; expected {shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


def _bool_array(value: Any, shape: tuple[int, ...]) -> BoolArray:
    array = np.asarray(value)
    if array.shape != shape or array.dtype.kind != "b":
        raise ValueError(
            f"expected a boolean array of shape {shape}, got {array.dtype} {array.shape}"
        )
    return np.array(array, dtype=np.bool_)


# --------------------------------------------------------------------------------- estimates


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

    Parameters
    ----------
    log : LoggedFeedback
        ``n`` rows.
    alpha : float
        ``1 - alpha`` is the interval's coverage.

    Returns
    -------
    Estimate
        Named ``"on_policy"``; effective sample size ``n``.
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

    Parameters
    ----------
    log : LoggedFeedback
        ``n`` rows over ``K`` actions.
    target : ndarray, shape (n, K)
        Probability the candidate puts each action at row ``i``'s logged position.
    alpha : float
        ``1 - alpha`` is the interval's coverage.
    clip : float, optional
        Cap on importance weights. Off by default: capping lowers variance but biases the
        estimate towards zero, and the interval does not account for that bias.

    Returns
    -------
    Estimate
        Interval ``value ± z_{1-alpha/2} · sd(w r) / sqrt(n)``.

    Raises
    ------
    ValueError
        If ``target`` is not an ``(n, K)`` row-stochastic matrix, or ``alpha``/``clip`` are
        out of range.
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

    Parameters
    ----------
    log : LoggedFeedback
        ``n`` rows over ``K`` actions.
    target : ndarray, shape (n, K)
        Probability the candidate puts each action at row ``i``'s logged position.
    alpha : float
        ``1 - alpha`` is the interval's coverage.

    Returns
    -------
    Estimate

    Raises
    ------
    ValueError
        If ``target`` is not an ``(n, K)`` row-stochastic matrix or ``alpha`` is out of range.
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

    Parameters
    ----------
    log : LoggedFeedback
        ``n`` rows over ``K`` actions.
    target : ndarray, shape (n, K)
        Probability the candidate puts each action at row ``i``'s logged position.
    reward_model_predictions : ndarray, shape (n, K)
        Predicted reward of every action at row ``i``'s context and position.
    alpha : float
        ``1 - alpha`` is the interval's coverage.
    clip : float, optional
        Cap on importance weights (off by default; biased when on).

    Returns
    -------
    Estimate

    Raises
    ------
    ValueError
        On shape mismatches, non-finite predictions, or ``alpha``/``clip`` out of range.
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


# ------------------------------------------------------------------------------ reward model


def fit_reward_model(log: LoggedFeedback, folds: int = 2, seed: int = 0) -> FloatArray:
    """Cross-fitted reward predictions for every action in every row, for :func:`doubly_robust`.

    Rows are split into ``folds`` random folds; each fold is predicted by a model trained on
    the others, so no row's prediction has seen its own reward (otherwise DR's residuals, and
    its interval, would be too small). The model is linear on context ⊕ one-hot action ⊕
    one-hot position: logistic regression for 0/1 rewards, ridge regression otherwise; context
    columns are standardised on the training folds and clipped to ±5 standard deviations, so a
    rare feature (nonzero in a handful of rows) cannot become a near-certain prediction for the
    few rows that have it. Being linear, the model's score for every action is the row's
    context-and-position score plus that action's coefficient, so all ``n * K`` predictions
    come without building an ``n * K``-row design matrix.

    Parameters
    ----------
    log : LoggedFeedback
        ``n`` rows over ``K`` actions; ``contexts`` (n, d) are used when present.
    folds : int
        At least 2.
    seed : int
        Seeds the fold assignment; the fit itself is deterministic.

    Returns
    -------
    ndarray, shape (n, K)
        Predicted reward of each action at row ``i``'s context and logged position.

    Raises
    ------
    ValueError
        If ``folds < 2`` or the log has fewer rows than folds.
    """
    if folds < 2:
        raise ValueError("folds must be at least 2: with one fold every row sees its own reward")
    n, k = log.n, log.n_actions
    if n == 0:
        return np.zeros((0, k))
    if n < folds:
        raise ValueError(f"cannot cross-fit {folds} folds on {n} rows")
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    binary = bool(np.isin(log.rewards, (0.0, 1.0)).all())
    predictions = np.empty((n, k))
    for fold in range(folds):
        held_out = fold_of == fold
        predictions[held_out] = _fit_predict(log, ~held_out, held_out, binary)
    return predictions


def _fit_predict(
    log: LoggedFeedback, train: BoolArray, test: BoolArray, binary: bool
) -> FloatArray:
    from sklearn.linear_model import LogisticRegression, Ridge

    k = log.n_actions
    n_positions = log.n_positions
    contexts = log.contexts if log.contexts is not None else np.zeros((log.n, 0))
    d = contexts.shape[1]
    # Standardise with training-fold statistics only; clip so rare features stay tame.
    mean = contexts[train].mean(axis=0)
    scale = contexts[train].std(axis=0)
    scale[scale == 0] = 1.0
    standard = np.clip((contexts - mean) / scale, -5.0, 5.0)
    labels = log.rewards[train]
    n_test = int(test.sum())
    if binary and np.ptp(labels) == 0:
        # One class only in the training folds: logistic regression cannot fit; predict it.
        return np.full((n_test, k), float(labels[0]))
    parts = [standard[train], np.eye(k)[log.actions[train]]]
    if n_positions > 1:
        parts.append(np.eye(n_positions)[log.positions[train]])
    design = np.hstack(parts)
    model: Any = LogisticRegression(C=1.0, max_iter=2000) if binary else Ridge(alpha=1.0)
    model.fit(design, labels)
    coef = np.ravel(np.asarray(model.coef_, dtype=np.float64))
    intercept = float(np.ravel(np.asarray(model.intercept_, dtype=np.float64))[0])
    # Linear score = context part + position part + intercept, plus one coefficient per action.
    base = standard[test] @ coef[:d] + intercept
    if n_positions > 1:
        base = base + coef[d + k :][log.positions[test]]
    score: FloatArray = base[:, None] + coef[d : d + k][None, :]
    return _sigmoid(score) if binary else score


def _sigmoid(x: FloatArray) -> FloatArray:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


# ------------------------------------------------------------------------ candidate policies


def uniform_random(log: LoggedFeedback) -> FloatArray:
    """Every action equally likely: over the row's eligible set when the log records one.

    Parameters
    ----------
    log : LoggedFeedback
        ``n`` rows over ``K`` actions.

    Returns
    -------
    ndarray, shape (n, K)
    """
    if log.eligible is None:
        return np.full((log.n, log.n_actions), 1.0 / log.n_actions)
    mask = log.eligible.astype(np.float64)
    result: FloatArray = mask / mask.sum(axis=1, keepdims=True)
    return result


def static_best(log: LoggedFeedback) -> FloatArray:
    """Always the single action with the highest IPS-estimated value on this log.

    Optimistic by construction: the action is chosen as the maximum of ``K`` noisy estimates
    (the winner's curse) and then evaluated on the very rows it was chosen on, so its estimate
    overstates what it would earn on fresh traffic; with few rewards per action the gap can be
    large. It is a yardstick ("could one offer for everybody beat the policy?"), not a
    deployable policy. Ties go to the lowest action index.

    Parameters
    ----------
    log : LoggedFeedback
        ``n`` rows over ``K`` actions.

    Returns
    -------
    ndarray, shape (n, K)
        One-hot rows on the chosen action.
    """
    k = log.n_actions
    values = np.bincount(log.actions, weights=log.rewards / log.propensities, minlength=k)
    target = np.zeros((log.n, k))
    target[:, int(np.argmax(values))] = 1.0
    return target


def empirical_position_policy(log: LoggedFeedback, other_log: LoggedFeedback) -> FloatArray:
    """The policy that logged ``other_log``, as its action frequencies at each position.

    For a non-contextual logging policy (OBD's Bernoulli Thompson Sampling) the share of each
    action at each position over the log's period is that policy's action distribution, so it
    can be evaluated on ``log`` and checked against ``other_log``'s observed reward.

    Parameters
    ----------
    log : LoggedFeedback
        The log to evaluate on: ``n`` rows over ``K`` actions.
    other_log : LoggedFeedback
        The log the distribution is read from; its action ids are matched to ``log``'s by id.

    Returns
    -------
    ndarray, shape (n, K)
        Row ``i`` is ``other_log``'s action distribution at ``log.positions[i]``.

    Raises
    ------
    ValueError
        If ``other_log`` serves an action ``log`` does not know, or has no rows at a position
        that ``log`` needs.
    """
    k = log.n_actions
    index = {action_id: i for i, action_id in enumerate(log.action_ids)}
    mapping = np.array([index.get(a, -1) for a in other_log.action_ids], dtype=np.int64)
    mapped = mapping[other_log.actions]
    if (mapped < 0).any():
        unknown = sorted({other_log.action_ids[a] for a in other_log.actions[mapped < 0]})
        raise ValueError(f"other_log serves actions unknown to log: {unknown[:5]}")
    n_positions = max(log.n_positions, other_log.n_positions)
    counts = np.zeros((n_positions, k))
    np.add.at(counts, (other_log.positions, mapped), 1.0)
    totals = counts.sum(axis=1)
    lacking = sorted({int(p) + 1 for p in log.positions if totals[p] == 0})
    if lacking:
        raise ValueError(f"other_log has no rows at position(s) {lacking} (1-based)")
    table = counts / np.where(totals > 0, totals, 1.0)[:, None]
    result: FloatArray = table[log.positions]
    return result


def from_scores(
    scores: FloatArray, epsilon: float, *, eligible: BoolArray | None = None
) -> FloatArray:
    """Epsilon-greedy over a model's scores: ``(1 - ε)·1[argmax] + ε/K``.

    This is how any scoring model (a saved snapshot, the current learner) becomes a candidate:
    score every action in every logged row, then evaluate the resulting distribution.

    Parameters
    ----------
    scores : ndarray, shape (n, K)
        Higher is better; ties go to the lowest action index.
    epsilon : float
        Exploration share in [0, 1].
    eligible : ndarray of bool, shape (n, K), optional
        Restricts both the greedy choice and the exploration to eligible actions
        (``K`` then means the row's eligible count). Every row needs one eligible action.

    Returns
    -------
    ndarray, shape (n, K)

    Raises
    ------
    ValueError
        On a non-2-D or non-finite ``scores``, ``epsilon`` outside [0, 1], or a bad mask.
    """
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError("scores must have shape (n, K) with K >= 1")
    if not np.isfinite(array).all():
        raise ValueError("scores must be finite")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
    n, k = array.shape
    if eligible is None:
        mask = np.ones((n, k), dtype=np.bool_)
    else:
        mask = _bool_array(eligible, (n, k))
        if n and not mask.any(axis=1).all():
            raise ValueError("every row needs at least one eligible action")
    counts = mask.sum(axis=1, keepdims=True)
    target = np.where(mask, epsilon / np.maximum(counts, 1), 0.0)
    best = np.argmax(np.where(mask, array, -np.inf), axis=1)
    target[np.arange(n), best] += 1.0 - epsilon
    result: FloatArray = target
    return result


def candidate_policies(
    log: LoggedFeedback,
    *,
    baseline_log: LoggedFeedback | None = None,
    extra_candidates: Mapping[str, CandidateSource] | None = None,
) -> dict[str, FloatArray]:
    """The candidates ``nbo evaluate`` compares, plus any the caller adds.

    Always ``uniform_random`` and ``static_best``; ``baseline_log`` when a second log is given
    (its per-position action distribution, see :func:`empirical_position_policy`). This is the
    extension point for saved model snapshots and the current model: pass them in
    ``extra_candidates``, typically as ``lambda log: from_scores(model_scores(log), epsilon)``.

    Parameters
    ----------
    log : LoggedFeedback
        The log to evaluate on: ``n`` rows over ``K`` actions.
    baseline_log : LoggedFeedback, optional
        A log whose policy becomes the ``baseline_log`` candidate.
    extra_candidates : mapping of str to ndarray (n, K) or callable, optional
        More candidates, as distributions or as functions of ``log`` returning one.

    Returns
    -------
    dict of str to ndarray, each shape (n, K)

    Raises
    ------
    ValueError
        If an extra candidate's name is taken or its distribution is malformed.
    """
    candidates: dict[str, FloatArray] = {
        "uniform_random": uniform_random(log),
        "static_best": static_best(log),
    }
    if baseline_log is not None:
        candidates["baseline_log"] = empirical_position_policy(log, baseline_log)
    for name, source in (extra_candidates or {}).items():
        if name in candidates:
            raise ValueError(f"candidate name {name!r} is already taken")
        target = source(log) if callable(source) else source
        candidates[name] = _check_target(log, target, f"candidate {name!r}")
    return candidates


# -------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class SegmentEvaluation:
    """Estimates for one slice of the log (``segment`` None is the whole log).

    ``logged`` is the logging policy's own mean reward with its interval; ``estimates`` maps
    candidate name -> estimator name -> :class:`Estimate`.
    """

    segment: str | None
    n: int
    logged: Estimate
    estimates: Mapping[str, Mapping[str, Estimate]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "n": self.n,
            "logged": self.logged.to_dict(),
            "candidates": {
                candidate: {name: est.to_dict() for name, est in by_estimator.items()}
                for candidate, by_estimator in self.estimates.items()
            },
        }


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    """Every candidate under every estimator, overall and per segment.

    Segments may overlap (a row can belong to several), so segment ``n`` sum to the overall
    ``n`` only when each row has exactly one segment.
    """

    alpha: float
    clip: float | None
    estimators: tuple[str, ...]
    candidates: tuple[str, ...]
    overall: SegmentEvaluation
    segments: tuple[SegmentEvaluation, ...]

    def estimate(self, candidate: str, estimator: str, segment: str | None = None) -> Estimate:
        """One estimate; ``KeyError`` if the candidate, estimator or segment is unknown."""
        if segment is None:
            return self.overall.estimates[candidate][estimator]
        for result in self.segments:
            if result.segment == segment:
                return result.estimates[candidate][estimator]
        raise KeyError(segment)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; non-finite numbers are ``None``."""
        return {
            "alpha": self.alpha,
            "clip": self.clip,
            "estimators": list(self.estimators),
            "candidates": list(self.candidates),
            "overall": self.overall.to_dict(),
            "segments": [s.to_dict() for s in self.segments],
        }


def evaluate(
    log: LoggedFeedback,
    candidates: Mapping[str, FloatArray],
    estimators: Sequence[str] = ESTIMATORS,
    by_segment: bool = True,
    alpha: float = 0.05,
    *,
    clip: float | None = None,
    reward_model_predictions: FloatArray | None = None,
    folds: int = 2,
    seed: int = 0,
) -> EvaluationReport:
    """Evaluate candidate policies on a log, overall and per segment.

    The reward model for DR is cross-fitted once on the whole log and its predictions reused in
    every segment, so a small segment borrows strength from the rest without any row's
    prediction having seen its own reward.

    Parameters
    ----------
    log : LoggedFeedback
        ``n`` rows over ``K`` actions.
    candidates : mapping of str to ndarray, each shape (n, K)
        Candidate name -> its action distribution at each logged row's position.
    estimators : sequence of str
        Any of ``"ips"``, ``"snips"``, ``"dr"``.
    by_segment : bool
        Also evaluate every segment found in ``log.segments``.
    alpha : float
        ``1 - alpha`` is every interval's coverage.
    clip : float, optional
        Importance-weight cap for IPS and DR (off by default).
    reward_model_predictions : ndarray, shape (n, K), optional
        Precomputed cross-fitted predictions; fitted with :func:`fit_reward_model` if absent.
    folds, seed : int
        Passed to :func:`fit_reward_model`.

    Returns
    -------
    EvaluationReport

    Raises
    ------
    ValueError
        On an unknown estimator, a malformed candidate, or ``alpha``/``clip`` out of range.
    """
    _quantile(alpha)
    _check_clip(clip)
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown or not estimators:
        raise ValueError(f"estimators must be a non-empty selection of {ESTIMATORS}; got {unknown}")
    targets = {name: _check_target(log, t, f"candidate {name!r}") for name, t in candidates.items()}
    predictions: FloatArray | None = None
    if "dr" in estimators:
        if reward_model_predictions is not None:
            predictions = _float_array(
                "reward_model_predictions", reward_model_predictions, (log.n, log.n_actions)
            )
        elif log.n >= max(folds, 2):
            predictions = fit_reward_model(log, folds=folds, seed=seed)
    overall = _evaluate_rows(
        log, np.arange(log.n), None, targets, tuple(estimators), predictions, alpha, clip
    )
    segments: list[SegmentEvaluation] = []
    if by_segment and log.segments is not None:
        members: dict[str, list[int]] = {}
        for i, row_segments in enumerate(log.segments):
            for segment in dict.fromkeys(row_segments):
                members.setdefault(segment, []).append(i)
        for segment in sorted(members):
            rows = np.array(members[segment], dtype=np.int64)
            segments.append(
                _evaluate_rows(
                    log, rows, segment, targets, tuple(estimators), predictions, alpha, clip
                )
            )
    return EvaluationReport(
        alpha=alpha,
        clip=clip,
        estimators=tuple(estimators),
        candidates=tuple(targets),
        overall=overall,
        segments=tuple(segments),
    )


def _evaluate_rows(
    log: LoggedFeedback,
    rows: IntArray,
    segment: str | None,
    targets: Mapping[str, FloatArray],
    estimators: tuple[str, ...],
    predictions: FloatArray | None,
    alpha: float,
    clip: float | None,
) -> SegmentEvaluation:
    part = log if segment is None else log.subset(rows)
    estimates: dict[str, Mapping[str, Estimate]] = {}
    for name, target in targets.items():
        sub_target = target[rows]
        by_estimator: dict[str, Estimate] = {}
        for estimator in estimators:
            if estimator == "ips":
                by_estimator[estimator] = ips(part, sub_target, alpha, clip=clip)
            elif estimator == "snips":
                by_estimator[estimator] = snips(part, sub_target, alpha)
            elif predictions is None:
                by_estimator[estimator] = _failed(
                    _clipped_name("dr", clip),
                    part.n,
                    "no_rows" if part.n == 0 else "too_few_rows",
                )
            else:
                by_estimator[estimator] = doubly_robust(
                    part, sub_target, predictions[rows], alpha, clip=clip
                )
        estimates[name] = MappingProxyType(by_estimator)
    return SegmentEvaluation(
        segment=segment,
        n=part.n,
        logged=on_policy(part, alpha),
        estimates=MappingProxyType(estimates),
    )


# ----------------------------------------------------------------------------------- loaders


def load_obd_csv(
    path: str | PathLike[str], *, segment_by: str | None = "user_feature_0"
) -> LoggedFeedback:
    """Read an Open Bandit Dataset log (``timestamp,item_id,position,click,...`` CSV).

    Actions are ``item_id`` (action ids ``"0"`` .. ``"K-1"``, ``K`` taken from the number of
    ``user-item_affinity_*`` columns so logs of the same campaign share one action space),
    positions ``position - 1``, rewards ``click``, propensities ``propensity_score``. Contexts
    are the affinity columns followed by the ``user_feature_*`` categories hashed into 32
    one-hot buckets each (fixed columns across files). Each row's segment is
    ``("<segment_by>=<value>",)``. ``estimated_propensity`` is left unset: OBD does not say
    which propensities were computed (BTS's come from Monte Carlo simulation).

    Parameters
    ----------
    path : path-like
        The CSV file.
    segment_by : str or None
        The user feature whose value names each row's segment; None for no segments.

    Returns
    -------
    LoggedFeedback

    Raises
    ------
    ValueError
        On a missing column or an unparsable value.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file")
        rows = [row for row in reader if row]
    column = {name: i for i, name in enumerate(header)}
    required = ["item_id", "position", "click", "propensity_score"]
    if segment_by is not None:
        required.append(segment_by)
    missing = [name for name in required if name not in column]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    affinity = sorted(
        (name for name in header if name.startswith(_OBD_AFFINITY)),
        key=lambda name: int(name[len(_OBD_AFFINITY) :]),
    )
    users = sorted(name for name in header if name.startswith(_OBD_USER))

    def numbers(names: Sequence[str]) -> FloatArray:
        indices = [column[name] for name in names]
        try:
            return np.array([[row[i] for i in indices] for row in rows], dtype=np.float64).reshape(
                len(rows), len(indices)
            )
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{path}: unparsable value in {list(names)[:3]}...: {exc}") from exc

    core = numbers(["item_id", "position", "click", "propensity_score"])
    items = core[:, 0]
    k = len(affinity) if affinity else int(items.max(initial=0)) + 1
    if rows and (items.min() < 0 or items.max() >= k):
        raise ValueError(f"{path}: item_id outside [0, {k})")
    context_parts: list[FloatArray] = []
    if affinity:
        context_parts.append(numbers(affinity))
    for name in users:
        hashed = np.zeros((len(rows), _OBD_HASH_BUCKETS))
        i = column[name]
        for r, row in enumerate(rows):
            hashed[r, zlib.crc32(f"{name}={row[i]}".encode()) % _OBD_HASH_BUCKETS] = 1.0
        context_parts.append(hashed)
    segments = None
    if segment_by is not None:
        i = column[segment_by]
        segments = tuple((f"{segment_by}={row[i]}",) for row in rows)
    return LoggedFeedback(
        actions=items.astype(np.int64),
        action_ids=tuple(str(a) for a in range(k)),
        positions=core[:, 1].astype(np.int64) - 1,
        rewards=core[:, 2],
        propensities=core[:, 3],
        contexts=np.hstack(context_parts) if context_parts else None,
        segments=segments,
    )


def load_log(path: str | PathLike[str]) -> LoggedFeedback:
    """Read a log by its file type: ``.csv`` is Open Bandit Dataset, anything else JSON lines.

    Raises
    ------
    ValueError
        As :func:`load_obd_csv` or :func:`load_decision_log`.
    """
    if Path(path).suffix.lower() == ".csv":
        return load_obd_csv(path)
    with open(path, "rb") as handle:
        return load_decision_log(handle)


def load_decision_log(lines: Iterable[bytes | str]) -> LoggedFeedback:
    """Read our decision-log export: one JSON object per served offer.

    Fields: ``position`` (1-based), ``action`` (offer id), ``probability``, ``reward``,
    optionally ``propensity_estimated`` (default false), ``features`` (the model's context
    vector; all rows must agree on its length), ``segments`` and ``eligible`` (offer ids).
    ``decision_id``, ``timestamp``, ``channel``, ``placement`` and ``policy`` are accepted and
    ignored here. The action space is every offer id served or listed as eligible, sorted. Rows
    without ``eligible`` count every action as eligible; blank lines are skipped.

    Parameters
    ----------
    lines : iterable of bytes or str
        JSON lines, for example an open file.

    Returns
    -------
    LoggedFeedback

    Raises
    ------
    ValueError
        Naming the 1-based line of the first malformed record, or if there are no records.
    """
    records: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"line {number}: expected a JSON object")
        records.append((number, record))
    if not records:
        raise ValueError("the decision log holds no records")

    actions: list[str] = []
    positions: list[int] = []
    rewards: list[float] = []
    probabilities: list[float] = []
    estimated: list[bool] = []
    features: list[list[float] | None] = []
    segments: list[tuple[str, ...]] = []
    eligible: list[list[str] | None] = []
    for number, record in records:
        action = record.get("action")
        if not isinstance(action, str) or not action:
            raise ValueError(f"line {number}: 'action' must be a non-empty string")
        position = record.get("position")
        if not isinstance(position, int) or isinstance(position, bool) or position < 1:
            raise ValueError(f"line {number}: 'position' must be an integer >= 1")
        probability = _number(record, "probability", number)
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"line {number}: 'probability' must lie in (0, 1]")
        flag = record.get("propensity_estimated", False)
        if not isinstance(flag, bool):
            raise ValueError(f"line {number}: 'propensity_estimated' must be true or false")
        actions.append(action)
        positions.append(position - 1)
        rewards.append(_number(record, "reward", number))
        probabilities.append(probability)
        estimated.append(flag)
        features.append(_optional_numbers(record, "features", number))
        segments.append(tuple(_optional_strings(record, "segments", number) or ()))
        # An empty list means "not recorded": the served action is always eligible.
        eligible.append(_optional_strings(record, "eligible", number) or None)

    action_ids = tuple(sorted(set(actions).union(*(e for e in eligible if e is not None))))
    index = {a: i for i, a in enumerate(action_ids)}
    return LoggedFeedback(
        actions=np.array([index[a] for a in actions], dtype=np.int64),
        action_ids=action_ids,
        positions=np.array(positions, dtype=np.int64),
        rewards=np.array(rewards),
        propensities=np.array(probabilities),
        contexts=_contexts(features, [n for n, _ in records]),
        segments=tuple(segments),
        estimated_propensity=np.array(estimated, dtype=np.bool_),
        eligible=_eligible_mask(eligible, actions, index, [n for n, _ in records]),
    )


def _number(record: Mapping[str, Any], name: str, line: int) -> float:
    value = record.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"line {line}: {name!r} must be a finite number")
    return float(value)


def _optional_numbers(record: Mapping[str, Any], name: str, line: int) -> list[float] | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise ValueError(f"line {line}: {name!r} must be a list of finite numbers")
    return [float(v) for v in value]


def _optional_strings(record: Mapping[str, Any], name: str, line: int) -> list[str] | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"line {line}: {name!r} must be a list of strings")
    return list(value)


def _contexts(features: list[list[float] | None], lines: list[int]) -> FloatArray | None:
    present = [(line, f) for line, f in zip(lines, features, strict=True) if f]
    if not present:
        return None
    width = len(present[0][1])
    for line, f in zip(lines, features, strict=True):
        if not f or len(f) != width:
            raise ValueError(
                f"line {line}: 'features' has length {len(f or [])}, expected {width} "
                "(every row needs a context vector of the same length; split logs by policy "
                "version if the feature spec changed)"
            )
    return np.array(features, dtype=np.float64)


def _eligible_mask(
    eligible: list[list[str] | None],
    actions: list[str],
    index: Mapping[str, int],
    lines: list[int],
) -> BoolArray | None:
    if all(e is None for e in eligible):
        return None
    mask = np.ones((len(eligible), len(index)), dtype=np.bool_)
    for r, (line, ids, action) in enumerate(zip(lines, eligible, actions, strict=True)):
        if ids is None:
            continue
        if action not in ids:
            raise ValueError(f"line {line}: served action {action!r} is not in 'eligible'")
        mask[r] = False
        mask[r, [index[a] for a in ids]] = True
    return mask


def model_candidate(
    snapshot: ModelSnapshot, epsilon: float, seed: int = 0
) -> Callable[[LoggedFeedback], FloatArray]:
    """A served model as a candidate: its scores on the logged features, epsilon-greedy.

    It ranks by the model's response estimate alone (the log does not carry each offer's value
    and weight); offers the snapshot has never seen get the prior, as in serving.
    """

    def distribution(log: LoggedFeedback) -> FloatArray:
        if log.contexts is None:
            raise ValueError("the log has no feature vectors; a model cannot score it")
        if log.contexts.shape[1] != snapshot.n_features:
            raise ValueError(
                f"the log's features have {log.contexts.shape[1]} columns, "
                f"the model expects {snapshot.n_features} (another feature spec?)"
            )
        scorer = Scorer(snapshot)
        arms = scorer.arm_indices(list(log.action_ids))
        scores = scorer.score_batch(log.contexts, arms, np.random.default_rng(seed))
        return from_scores(scores, epsilon, eligible=log.eligible)

    return distribution
