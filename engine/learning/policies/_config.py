"""The policy as a frozen value: what is learned, how it explores, and its MABWiser twin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal

from mabwiser.mab import LearningPolicy
from pydantic import Field, model_validator

from engine.domain.values import WholeNumber
from experiments.config import StrictModel, check_lints_alpha

if TYPE_CHECKING:
    from experiments import BanditTreatment

__all__ = ["CONTEXTUAL", "STOCHASTIC", "PolicyConfig", "PolicyName"]

PolicyName = Literal["linucb", "lints", "epsilon_greedy", "softmax", "thompson", "random", "rules"]

CONTEXTUAL: Final[frozenset[str]] = frozenset({"linucb", "lints"})
# Policies whose MABWiser expectations are random draws (softmax draws from a Dirichlet).
STOCHASTIC: Final[frozenset[str]] = frozenset({"lints", "thompson", "random", "softmax"})


class PolicyConfig(StrictModel):
    """Which bandit scores offers, and its hyper-parameters.

    Parameters
    ----------
    name : PolicyName
        ``linucb`` and ``lints`` learn one ridge regression per offer over the context
        vector; ``epsilon_greedy``, ``softmax`` and ``thompson`` learn one number per offer
        and ignore the context; ``random`` and ``rules`` learn nothing (``rules`` ranks by
        business weight and value alone).
    alpha : float
        Exploration of the linear policies: LinUCB's confidence width, LinTS's posterior
        scale (LinTS needs ``alpha > 0``: it samples from N(beta, alpha^2 A^-1)). The width
        is in units of the reward's noise: a reward in [0, 1] (click, conversion) is
        1/2-sub-Gaussian (Hoeffding), hence the default 0.5 rather than MABWiser's 1.0,
        which assumes unit noise and over-explores click rewards (measured in
        docs/performance.md, Simulation). Scale it up for conversion-value rewards.
    l2_lambda : float
        Ridge penalty of the linear policies: the reward's noise variance over the prior
        variance of a coefficient. A click or conversion has noise variance up to 1/4 and a
        feature moves its rate by a few points, a prior sd of about 0.05, hence the default
        0.25 / 0.05^2 = 100 rather than MABWiser's 1, which lets each of the few dozen
        coefficients roam freely while an offer has few observations (measured in
        docs/performance.md, Simulation: +3 to 4 points of the oracle over a run). It is a ratio of
        variances, so rescaling the reward leaves it right.
    epsilon : float
        The engine's own exploration probability, applied in arbitration where the
        propensity of every served offer is computed. It is never handed to MABWiser: its
        ``EpsilonGreedy`` gets ``epsilon=0`` (and the other policies have none), so MABWiser's
        expectations are the pure greedy scores and exploration is not applied twice, once
        hidden inside MABWiser where no propensity could be logged.
    tau : float
        Softmax temperature.
    seed : int
        Seed of MABWiser's random stream in the trainer (the trainer never predicts, so it
        only matters for reproducing MABWiser's own predictions in tests).
    """

    name: PolicyName = "linucb"
    alpha: float = Field(default=0.5, ge=0)
    l2_lambda: float = Field(default=100.0, gt=0)
    epsilon: float = Field(default=0.05, ge=0, le=1)
    tau: float = Field(default=1.0, gt=0)
    seed: WholeNumber = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _lints_samples(self) -> PolicyConfig:
        check_lints_alpha(self.name, self.alpha)
        return self

    @classmethod
    def of_treatment(cls, treatment: BanditTreatment) -> PolicyConfig:
        """The policy an experiment's bandit variant serves and learns with.

        One conversion for the decision engine and the learner alike: each copying fields by
        hand is how a declared setting (the ridge penalty) came to be stored, reported and
        silently replaced by the default.
        """
        return cls(
            name=treatment.name,
            alpha=treatment.alpha,
            l2_lambda=treatment.l2_lambda,
            epsilon=treatment.epsilon,
            tau=treatment.tau,
        )

    @property
    def contextual(self) -> bool:
        """True when the policy learns from context vectors (the trainer needs them)."""
        return self.name in CONTEXTUAL

    @property
    def stochastic(self) -> bool:
        """True when two scorings of the same context may differ (sampling policies)."""
        return self.name in STOCHASTIC

    def learning_policy(self) -> Any:
        """The MABWiser ``LearningPolicy.*`` value the trainer learns with.

        ``rules`` gets ``LearningPolicy.Random()``: a learner whose fit is a no-op, so the
        trainer still tracks the arm set (and snapshots stay uniform) while learning nothing.
        Typed ``Any`` because MABWiser ships no type information.
        """
        match self.name:
            case "linucb":
                return LearningPolicy.LinUCB(alpha=self.alpha, l2_lambda=self.l2_lambda)
            case "lints":
                return LearningPolicy.LinTS(alpha=self.alpha, l2_lambda=self.l2_lambda)
            case "epsilon_greedy":
                # 0, not self.epsilon: the engine explores in arbitration (see ``epsilon``).
                return LearningPolicy.EpsilonGreedy(epsilon=0.0)
            case "softmax":
                return LearningPolicy.Softmax(tau=self.tau)
            case "thompson":
                return LearningPolicy.ThompsonSampling()
            case "random" | "rules":
                return LearningPolicy.Random()
