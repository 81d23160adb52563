"""Candidate policies as ``(n, K)`` action distributions on a log: uniform random, the best
static action, another log's per-position mix, and served models through their scores.

Each candidate takes a log of ``n`` rows over ``K`` actions and returns an ``(n, K)`` array
whose row ``i`` is the candidate's distribution over the actions at row ``i``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt

from engine.learning.policies import ModelSnapshot, Scorer
from engine.offline.evaluation.estimators import (
    _check_target,
)
from engine.offline.evaluation.logs import (
    BoolArray,
    FloatArray,
    LoggedFeedback,
    _bool_array,
)

# A candidate given either as its (n, K) action distribution on a log or as a function that
# builds that distribution from the log (a model scoring the log's contexts via from_scores).
CandidateSource = npt.NDArray[np.float64] | Callable[["LoggedFeedback"], npt.NDArray[np.float64]]


def uniform_random(log: LoggedFeedback) -> FloatArray:
    """Every action equally likely: over the row's eligible set when the log records one."""
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
    deployable policy. Ties go to the lowest action index; the rows are one-hot on the action.
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
