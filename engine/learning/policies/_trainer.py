"""The learner's side: MABWiser holds the learning state; we feed it and freeze snapshots.

The trainer never predicts. MABWiser's single-context predict is slow (it deep-copies arm
models) and its maintainers advise against ``partial_fit`` and ``predict`` on one object
concurrently (mabwiser issue #23), so serving reads a :class:`ModelSnapshot` through a
:class:`Scorer` and only the learner touches the ``MAB``. Reading the per-arm state out of
``MAB._imp`` makes this module MABWiser's one adapter: the tests pin it against MABWiser's own
``predict_expectations``, so an upstream change of internals fails there, not in production.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from mabwiser.mab import MAB

from engine.learning.policies._config import PolicyConfig
from engine.learning.policies._snapshot import ModelSnapshot, prior_a_inv

__all__ = ["Trainer"]

_STATE_FORMAT: Final = "nbo.trainer/1"
_IS_TRAINED: Final = "is_trained"  # mabwiser.base_mab.IS_TRAINED


class Trainer:
    """Owns one MABWiser ``MAB`` and turns rewards into model snapshots.

    Parameters
    ----------
    config : PolicyConfig
        The policy to learn.
    arms : Sequence[str]
        Offer ids known at the start (may be empty: offers join on their first reward).
    n_features : int
        Length d of the context vectors (ignored by non-contextual policies, but kept so
        every snapshot of one model scope has the same shape contract).

    Raises
    ------
    ValueError
        If arms repeat or are not strings, or ``n_features < 1``.
    """

    def __init__(self, config: PolicyConfig, arms: Sequence[str], n_features: int) -> None:
        arm_list = list(arms)
        if n_features < 1:
            raise ValueError("n_features must be >= 1")
        if not all(isinstance(arm, str) for arm in arm_list):
            raise ValueError("arms must be strings (offer ids)")
        if len(set(arm_list)) != len(arm_list):
            raise ValueError("arms must be distinct")
        self._config = config
        self._n_features = n_features
        self._mab: Any = MAB(arm_list, config.learning_policy(), seed=config.seed)

    @property
    def config(self) -> PolicyConfig:
        return self._config

    @property
    def n_features(self) -> int:
        return self._n_features

    @property
    def arms(self) -> tuple[str, ...]:
        """Offer ids in MABWiser's arm order (the row order of snapshots)."""
        return tuple(self._mab.arms)

    def add_arm(self, arm: str) -> None:
        """Let a new offer join without retraining the others (it starts at the prior).

        Raises
        ------
        ValueError
            If the arm is already known or is not a string.
        """
        if not isinstance(arm, str):
            raise ValueError("arm must be a string (an offer id)")
        if arm in self._mab.arms:
            raise ValueError(f"arm {arm!r} is already known")
        self._mab.add_arm(arm)

    def remove_arm(self, arm: str) -> None:
        """Forget an archived offer; the other arms keep what they learned.

        Raises
        ------
        ValueError
            If the arm is not known.
        """
        if arm not in self._mab.arms:
            raise ValueError(f"arm {arm!r} is not known")
        if self._config.name == "softmax" and len(self._mab.arms) == 1:
            # MABWiser's softmax renormalises over the remaining arms on removal and fails on
            # none; with no arm left there is no state to keep, so start over.
            self._mab = MAB([], self._config.learning_policy(), seed=self._config.seed)
            return
        self._mab.remove_arm(arm)

    def partial_fit(
        self,
        arms: Sequence[str],
        rewards: npt.NDArray[np.float64],
        contexts: npt.NDArray[np.float64] | None,
    ) -> None:
        """Learn from one batch of (offer, reward, context) observations.

        The first batch calls MABWiser's ``fit``, later ones ``partial_fit`` (MABWiser decides
        by whether it was fitted, so this survives :meth:`dumps`/:meth:`loads`). Offers never
        seen before are added first, in order of first appearance, so a new offer joins
        without retraining. An empty batch changes nothing.

        Parameters
        ----------
        arms : Sequence[str], length n
            The offer each reward belongs to.
        rewards : ndarray of float, shape (n,)
            Finite rewards; Thompson sampling needs 0/1.
        contexts : ndarray of float, shape (n, d), or None
            The context vector each offer was chosen under. Required by ``linucb`` and
            ``lints``; ignored by the context-free policies.

        Raises
        ------
        ValueError
            On mismatched lengths or shapes, non-finite values, non-binary rewards for
            Thompson sampling, or missing contexts for a contextual policy.
        """
        decisions = list(arms)
        y, x = self._checked(decisions, rewards, contexts)
        if not decisions:
            return
        known = set(self._mab.arms)
        for arm in dict.fromkeys(decisions):
            if arm not in known:
                self._mab.add_arm(arm)
        self._mab.partial_fit(np.asarray(decisions), y, x)

    def add_rewards(
        self,
        arms: Sequence[str],
        rewards: npt.NDArray[np.float64],
        contexts: npt.NDArray[np.float64] | None,
    ) -> None:
        """Add rewards to observations already learned with reward 0 (their exposures).

        Serving an offer is learned at once as a 0 (:meth:`partial_fit` with reward 0); the
        reward, when it comes, is added here. Every policy's state is a sum over observations
        in which the reward enters only additively (ridge: ``X'y`` but not ``X'X``; means:
        the reward sum but not the count; Beta: one failure becomes a success), so exposure +
        added reward ends in exactly the state :meth:`partial_fit` with the reward would give.
        Doing it in two steps removes the delayed-feedback bias: while a decision's window is
        open its offer already counts as shown, instead of only its clicks counting.

        Raises
        ------
        ValueError
            On the input errors of :meth:`partial_fit`, or an arm never learned.
        """
        decisions = list(arms)
        y, x = self._checked(decisions, rewards, contexts)
        if not decisions:
            return
        unknown = set(decisions) - set(self._mab.arms)
        if unknown:
            raise ValueError(f"arms {sorted(unknown)} have no exposure to add a reward to")
        imp = self._mab._imp
        chosen = np.asarray(decisions)
        for arm in dict.fromkeys(decisions):
            mask = chosen == arm
            total = float(y[mask].sum())
            match self._config.name:
                case "linucb" | "lints":
                    assert x is not None
                    model = imp.arm_to_model[arm]
                    model.Xty = model.Xty + x[mask].T @ y[mask]
                    model.beta = model.A_inv @ model.Xty
                case "epsilon_greedy":
                    imp.arm_to_sum[arm] += total
                    imp.arm_to_expectation[arm] = imp.arm_to_sum[arm] / imp.arm_to_count[arm]
                case "softmax":
                    imp.arm_to_sum[arm] += total
                    imp.arm_to_mean[arm] = imp.arm_to_sum[arm] / imp.arm_to_count[arm]
                case "thompson":
                    imp.arm_to_success_count[arm] += total
                    imp.arm_to_fail_count[arm] -= total
                case "random" | "rules":
                    pass
        if self._config.name == "softmax":
            imp._expectation_operation()

    def _checked(
        self,
        decisions: list[str],
        rewards: npt.NDArray[np.float64],
        contexts: npt.NDArray[np.float64] | None,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64] | None]:
        n = len(decisions)
        if not all(isinstance(arm, str) for arm in decisions):
            raise ValueError("arms must be strings (offer ids)")
        y = np.asarray(rewards, dtype=np.float64)
        if y.shape != (n,):
            raise ValueError(f"rewards must have shape ({n},), got {y.shape}")
        if not np.all(np.isfinite(y)):
            raise ValueError("rewards must be finite")
        if self._config.name == "thompson" and not np.all((y == 0.0) | (y == 1.0)):
            raise ValueError("thompson needs binary rewards (0 or 1)")
        x: npt.NDArray[np.float64] | None = None
        if self._config.contextual:
            if contexts is None:
                raise ValueError(f"{self._config.name} needs contexts")
            x = np.ascontiguousarray(contexts, dtype=np.float64)
            if x.shape != (n, self._n_features):
                raise ValueError(
                    f"contexts must have shape ({n}, {self._n_features}), got {x.shape}"
                )
            if not np.all(np.isfinite(x)):
                raise ValueError("contexts must be finite")
        return y, x

    def snapshot(self, version: int) -> ModelSnapshot:
        """Freeze the current state for serving (copies: later training does not leak in).

        An untrained trainer gives the prior: every arm as MABWiser initialises a fresh one.
        """
        imp = self._mab._imp
        arms = tuple(self._mab.arms)
        k, d = len(arms), self._n_features
        arrays: dict[str, npt.NDArray[Any]] = {
            "trained": np.array([bool(imp.arm_to_status[a][_IS_TRAINED]) for a in arms], bool)
        }
        match self._config.name:
            case "linucb" | "lints":
                if imp.num_features is None:  # never fitted: models are not initialised yet
                    arrays["beta"] = np.zeros((k, d))
                    arrays["a_inv"] = np.broadcast_to(prior_a_inv(self._config, d), (k, d, d))
                else:
                    models = [imp.arm_to_model[a] for a in arms]
                    arrays["beta"] = np.array([m.beta for m in models], float).reshape(k, d)
                    arrays["a_inv"] = np.array([m.A_inv for m in models], float).reshape(k, d, d)
            case "epsilon_greedy":
                arrays["mean"] = _floats([imp.arm_to_expectation[a] for a in arms])
                arrays["count"] = _floats([imp.arm_to_count[a] for a in arms])
            case "softmax":
                arrays["mean"] = _floats([imp.arm_to_mean[a] for a in arms])
                arrays["count"] = _floats([imp.arm_to_count[a] for a in arms])
            case "thompson":
                arrays["success"] = _floats([imp.arm_to_success_count[a] for a in arms])
                arrays["failure"] = _floats([imp.arm_to_fail_count[a] for a in arms])
            case "random" | "rules":
                pass
        return ModelSnapshot(
            policy=self._config, version=version, arms=arms, n_features=d, arrays=arrays
        )

    def dumps(self) -> bytes:
        """The exact learning state, for the learner's own restart (pickle: our own data).

        Only the learner reads this back; API workers read :meth:`ModelSnapshot.to_bytes`,
        which never unpickles. A MABWiser upgrade may make old states unreadable.
        """
        state = {
            "format": _STATE_FORMAT,
            "config": self._config.model_dump(mode="json"),
            "n_features": self._n_features,
            "mab": self._mab,
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def loads(cls, data: bytes) -> Trainer:
        """Restore what :meth:`dumps` wrote: later fits give bit-identical results.

        Raises
        ------
        ValueError
            If the bytes are not a trainer state of this format.
        """
        state = pickle.loads(data)  # written by dumps() of our own learner, never by a client
        if not isinstance(state, dict) or state.get("format") != _STATE_FORMAT:
            raise ValueError(f"not a trainer state of format {_STATE_FORMAT}")
        trainer = cls.__new__(cls)
        trainer._config = PolicyConfig.model_validate(state["config"])
        trainer._n_features = int(state["n_features"])
        trainer._mab = state["mab"]
        return trainer


def _floats(values: list[Any]) -> npt.NDArray[np.float64]:
    return np.array(values, dtype=np.float64).reshape(len(values))
