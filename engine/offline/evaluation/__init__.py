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

from engine.offline.evaluation.candidates import (
    CandidateSource,
    candidate_policies,
    empirical_position_policy,
    from_scores,
    model_candidate,
    static_best,
    uniform_random,
)
from engine.offline.evaluation.estimators import (
    ESTIMATORS,
    Estimate,
    doubly_robust,
    ips,
    on_policy,
    snips,
)
from engine.offline.evaluation.logs import (
    LoggedFeedback,
    load_decision_log,
    load_log,
    load_obd_csv,
)
from engine.offline.evaluation.report import EvaluationReport, SegmentEvaluation, evaluate
from engine.offline.evaluation.reward_model import fit_reward_model

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
