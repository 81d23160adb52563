"""Serving side of learning: one frozen Scorer per model scope, swapped whole on a new version.

Workers never train. The learner publishes a snapshot and bumps the scope's version; the
decision read brings the version back with the customer (same round trip), and a worker that
sees a newer one reloads in the background, so no request waits for a model download.
"""

from __future__ import annotations

import asyncio
import logging

from engine.learning.policies import ModelSnapshot, PolicyConfig, Scorer, Trainer
from engine.store.ports import ModelPort

__all__ = ["ModelRegistry", "scope_for"]

log = logging.getLogger("nbo.models")

CHANNEL_GROUPS = {
    "web": "digital",
    "mobile_app": "digital",
    "social": "digital",
    "email": "messaging",
    "push": "messaging",
    "sms": "messaging",
    "call_center": "assisted",
    "in_store": "assisted",
}


def scope_for(mode: str, channel: str, placement: str) -> str:
    """Which model serves this request: one global model, one per channel group or placement."""
    if mode == "channel_group":
        return CHANNEL_GROUPS[channel]
    if mode == "placement":
        return f"placement.{placement}"
    return "global"


class ModelRegistry:
    def __init__(self, store: ModelPort, policy: PolicyConfig) -> None:
        self._store = store
        self.policy = policy
        self._scorers: dict[str, tuple[int, Scorer, int | None]] = {}  # version, scorer, spec
        self._priors: dict[tuple[PolicyConfig, int], Scorer] = {}
        self._loading: dict[str, asyncio.Task[None]] = {}

    def prior(self, n_features: int, policy: PolicyConfig | None = None) -> Scorer:
        """What a model knows before any reward: every offer is a cold arm."""
        policy = policy or self.policy
        scorer = self._priors.get((policy, n_features))
        if scorer is None:
            snapshot = Trainer(policy, [], n_features).snapshot(0)
            scorer = self._priors[(policy, n_features)] = Scorer(snapshot)
        return scorer

    async def scorer(
        self,
        scope: str,
        version: int,
        n_features: int,
        policy: PolicyConfig | None = None,
        spec_version: int | None = None,
    ) -> tuple[Scorer, int]:
        """The scorer to use now and its version (0: the prior of ``policy``).

        A model learned under another feature spec than ``spec_version`` never scores: its
        weights mean other features even where the vector has the same width. Until the
        learner commits one for the new spec, the prior serves.
        """
        cached = self._scorers.get(scope)
        if version > 0 and (cached is None or cached[0] < version):
            if cached is None:
                await self._load(scope)
            elif scope not in self._loading:
                task = asyncio.create_task(self._load(scope))
                self._loading[scope] = task
                task.add_done_callback(lambda _: self._loading.pop(scope, None))
            cached = self._scorers.get(scope)
        if (
            cached is None
            or cached[1].n_features != n_features
            or (spec_version is not None and cached[2] is not None and cached[2] != spec_version)
        ):
            return self.prior(n_features, policy), 0
        return cached[1], cached[0]

    async def _load(self, scope: str) -> None:
        try:
            found = await self._store.read_snapshot(scope)
        except Exception:
            log.warning("model_reload_failed", extra={"scope": scope})
            return
        if found is None:
            return
        version, blob, spec = found
        current = self._scorers.get(scope)
        if current is None or current[0] < version:
            self._scorers[scope] = (version, Scorer(ModelSnapshot.from_bytes(blob)), spec)
