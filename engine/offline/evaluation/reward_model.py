"""The cross-fitted reward model the doubly robust estimator starts from."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.offline.evaluation.logs import (
    BoolArray,
    FloatArray,
    LoggedFeedback,
)


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
