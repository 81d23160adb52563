"""Which running experiment decides a request, and the record kept at a customer's first exposure.

Target segments are judged at first exposure and recorded with the assignment, so a treatment
that moves a customer between segments cannot move them between the groups the experiment is
analysed on. Pure: the caller reads the customer's recorded assignments and stores the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from experiments.config import Experiment, Variant, assign

__all__ = ["Assignment", "assignment_for_request"]


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment_id: str
    experiment: Experiment
    variant: Variant
    segments: tuple[str, ...]
    first_exposure: bool

    def record(self, now: float, pre: float, pre_converted: float) -> str:
        """What is kept at first exposure: the variant, the segments the unit is analysed in,
        and its pre-exposure covariates (for CUPED)."""
        return orjson.dumps(
            {
                "variant": self.variant.id,
                "phase": self.experiment.phase,
                "segments": list(self.segments),
                "at": now,
                "pre": pre,
                "pre_c": pre_converted,
            }
        ).decode()


def assignment_for_request(
    experiments: Mapping[str, Experiment],
    customer_id: str,
    channel: str,
    placement: str,
    segments: Sequence[str],
    recorded: Mapping[str, str],
) -> Assignment | None:
    """The experiment that decides this request, if any (the first running one by id).

    A customer keeps the variant recorded at first exposure (same phase); otherwise the target
    segments are judged now and the hash assigns. Experiments of one layer never overlap, and
    live ones whose targeting meets outside a shared layer are refused when they start
    (:func:`experiments.check_overlap`), so the id order decides nothing they both want.
    """
    current = set(segments)
    for experiment_id, experiment in experiments.items():
        if experiment.status != "running":
            continue
        if experiment.channels and channel not in experiment.channels:
            continue
        if experiment.placements and placement not in experiment.placements:
            continue
        stored = recorded.get(experiment_id)
        if stored is not None:
            record = orjson.loads(stored)
            if record.get("phase") == experiment.phase:
                variant = next((v for v in experiment.variants if v.id == record["variant"]), None)
                if variant is not None:
                    return Assignment(
                        experiment_id, experiment, variant, tuple(record["segments"]), False
                    )
        if experiment.segments and not current.intersection(experiment.segments):
            continue
        chosen = assign(experiment, customer_id, experiment_id=experiment_id)
        if chosen is not None:
            return Assignment(experiment_id, experiment, chosen, tuple(segments), True)
    return None
