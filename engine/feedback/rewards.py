"""The reward stream's schema: what serving writes to a scope's stream and the learner reads.

Serving (decisions, events) writes entries and the learner reads them back, so the schema lives
here, on the feedback side, and serving never imports the learner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import orjson

__all__ = ["RewardEntry", "stream_fields"]


@dataclass(frozen=True, slots=True)
class RewardEntry:
    entry_id: str
    decision_id: str
    offer_id: str
    reward: float
    x: list[float]
    spec_version: int
    decided_at: float
    exposure: bool = False  # served, reward 0 for now; a reward entry may add to it later

    @property
    def pair(self) -> str:
        """The learned-once identity: the decision's token, not its customer (``d-<token>``).

        Applied sets outlive a customer's erasure by up to 10 days; a random token whose
        records are all erased leads back to no one, so nothing there needs erasing.
        """
        return f"{self.decision_id.partition('~')[0]}|{self.offer_id}"

    @property
    def day(self) -> int:
        return int(self.decided_at // 86_400)

    @classmethod
    def parse(cls, entry_id: str, fields: dict[str, str]) -> RewardEntry | None:
        try:
            return cls(
                entry_id=entry_id,
                decision_id=fields["decision_id"],
                offer_id=fields["offer_id"],
                reward=float(fields["reward"]),
                x=[float(v) for v in orjson.loads(fields["x"])],
                spec_version=int(fields.get("spec_version") or 0),
                decided_at=float(fields.get("decided_at") or 0),
                exposure=fields.get("kind") == "exposure",
            )
        except (KeyError, ValueError, TypeError):
            return None


def stream_fields(
    kind: Literal["exposure", "reward"],
    decision_id: str,
    offer_id: str,
    reward: str,
    x: str,
    spec_version: str,
    decided_at: str,
    policy: str,
) -> dict[str, str]:
    """One entry of a scope's reward stream, as :meth:`RewardEntry.parse` reads it back."""
    return {
        "kind": kind,
        "decision_id": decision_id,
        "offer_id": offer_id,
        "reward": reward,
        "x": x,
        "spec_version": spec_version,
        "decided_at": decided_at,
        "policy": policy,
    }
