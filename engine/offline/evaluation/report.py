"""Evaluating candidates on a log, overall and per segment, into one report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from engine.offline.evaluation.estimators import (
    ESTIMATORS,
    Estimate,
    _check_clip,
    _check_target,
    _clipped_name,
    _failed,
    _quantile,
    doubly_robust,
    ips,
    on_policy,
    snips,
)
from engine.offline.evaluation.logs import (
    FloatArray,
    IntArray,
    LoggedFeedback,
    _float_array,
)
from engine.offline.evaluation.reward_model import fit_reward_model


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
