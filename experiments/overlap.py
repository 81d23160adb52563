"""Which live experiments could claim the same decision, and how much traffic each really gets.

A decision applies at most one experiment, because a variant's treatment decides the whole
answer: the first running experiment by id whose targeting matches and whose layer range and
traffic take the customer. Two experiments whose targeting meets would therefore split the
customers they share by id, not by design; the second would see only what the first leaves,
which it has no way to tell from a small effect. The rule that keeps this explicit is the
field's (Google's overlapping-experiment layers, GrowthBook namespaces, Optimizely exclusion
groups): experiments that may meet share a layer, whose disjoint ranges split its customers
deterministically, or the one starting second is refused.

Targeting meets unless it provably cannot: channels and placements are compared as sets
(empty is every one); segments only count as apart when every pair named across the two is
two different clusters of one learned segment model (each customer is in exactly one of
them). Rule segments can always share a customer, whatever their names, so two experiments
on different rule segments meet.

Nothing here touches a store: the experiments, and the segments known to exclude each other,
come in; a verdict or an :class:`~experiments.errors.ExperimentOverlap` goes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

from experiments.config import Experiment, ExperimentStatus
from experiments.errors import ExperimentOverlap

__all__ = [
    "EffectiveTraffic",
    "LayerClaim",
    "LayerTraffic",
    "Overlap",
    "check_overlap",
    "effective_traffic",
    "targeting_overlap",
]

_LIVE: Final = frozenset({"running", "paused"})
_DIGITS: Final = 6


@dataclass(frozen=True, slots=True)
class Overlap:
    """Where two experiments' targeting meets; an empty tuple means every value."""

    channels: tuple[str, ...]
    placements: tuple[str, ...]
    segments: str

    def describe(self) -> str:
        channels = ", ".join(self.channels) or "all"
        placements = ", ".join(self.placements) or "all"
        return f"channels {channels}; placements {placements}; segments {self.segments}"


def _meet(a: Sequence[str], b: Sequence[str]) -> tuple[str, ...] | None:
    """The values two lists share, where an empty list is every value; ``None``: none."""
    if not a:
        return tuple(b)
    if not b:
        return tuple(a)
    theirs = set(b)
    common = tuple(value for value in a if value in theirs)
    return common or None


def _segments_meet(a: Sequence[str], b: Sequence[str], exclusive: Mapping[str, str]) -> str | None:
    if not a and not b:
        return "all"
    if not a or not b:
        return ", ".join(a or b)
    theirs = set(b)
    common = [segment for segment in a if segment in theirs]
    if common:
        return ", ".join(common)
    for mine in a:
        for other in b:
            group = exclusive.get(mine)
            if group is None or exclusive.get(other) != group:
                return f"{mine} with {other} (a customer can be in both)"
    return None


def targeting_overlap(a: Experiment, b: Experiment, exclusive: Mapping[str, str]) -> Overlap | None:
    """Where ``a`` and ``b`` could both apply to one decision, or ``None`` if nowhere.

    ``exclusive`` maps a segment id to a group no customer is in twice (a learned segment
    model's id); segments outside it are assumed to share customers with any other.
    """
    channels = _meet(a.channels, b.channels)
    if channels is None:
        return None
    placements = _meet(a.placements, b.placements)
    if placements is None:
        return None
    segments = _segments_meet(a.segments, b.segments, exclusive)
    if segments is None:
        return None
    return Overlap(channels, placements, segments)


def _same_layer(a: Experiment, b: Experiment) -> bool:
    return a.layer is not None and b.layer is not None and a.layer.id == b.layer.id


def _where(experiment: Experiment) -> str:
    return "outside any layer" if experiment.layer is None else f"in layer '{experiment.layer.id}'"


def starts(current: Experiment | None, experiment: Experiment) -> bool:
    """Whether storing ``experiment`` over ``current`` starts it running (created running, a
    draft started, or a new phase): the moment its traffic is judged against the others'."""
    if experiment.status != "running":
        return False
    return not (
        current is not None and current.status in _LIVE and current.phase == experiment.phase
    )


def check_overlap(
    experiment_id: str,
    current: Experiment | None,
    experiment: Experiment,
    others: Mapping[str, Experiment],
    exclusive: Mapping[str, str],
) -> None:
    """Refuse to start ``experiment`` where it would compete with a live experiment.

    Checked when the experiment starts running (created running, a draft started, or a new
    phase started), against every running or paused one: a paused experiment resumes with its
    targeting. Experiments of one layer never compete (their ranges are disjoint, see
    :func:`experiments.config.check_siblings`). Later saves of a live phase are not checked
    again, so an experiment that started under the rule keeps running.

    Raises
    ------
    ExperimentOverlap
        ``field`` is ``layer`` when the experiment is in a layer (the other one is in none or
        in another), else ``status``; the message names the other experiment and the overlap.
    """
    if not starts(current, experiment):
        return
    field = "status" if experiment.layer is None else "layer"
    for other_id, other in sorted(others.items()):
        if other_id == experiment_id or other.status not in _LIVE or _same_layer(experiment, other):
            continue
        overlap = targeting_overlap(experiment, other, exclusive)
        if overlap is None:
            continue
        raise ExperimentOverlap(
            f"{field}: overlaps experiment '{other_id}' ({other.status}, {_where(other)}; this "
            f"one is {_where(experiment)}) on {overlap.describe()}. A decision applies one "
            "experiment, so the first by id would take every customer they share. Put both in "
            "one layer with disjoint ranges (a live experiment changes layer by starting a new "
            f"phase), narrow the targeting so they cannot meet, or stop '{other_id}' first",
            field=field,
        )


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class LayerClaim(_Out):
    experiment_id: str
    status: ExperimentStatus
    start: float
    end: float


class LayerTraffic(_Out):
    """How a layer's customers are split: the live experiments' ranges and what is left."""

    id: str
    ranges: list[LayerClaim] = Field(description="Running and paused experiments, by start.")
    free: list[tuple[float, float]] = Field(description="Ranges [start, end) no live one owns.")


class EffectiveTraffic(_Out):
    """The share of an experiment's targeted customers (channels x placements x segments)."""

    nominal: float = Field(description="What it gets while running: layer range width x traffic.")
    effective: float = Field(
        description="What it gets now: 0 unless running; below nominal where a running "
        "experiment earlier by id overlaps it outside a shared layer (possible only for "
        "experiments started before overlaps were refused), computed for the shared part."
    )
    contested_by: list[str] = Field(
        description="Running experiments, earlier by id, that take shared customers first."
    )
    layer: LayerTraffic | None = None


def _width(experiment: Experiment) -> float:
    layer = experiment.layer
    return 1.0 if layer is None else layer.end - layer.start


def _taken(first: Experiment, then: Experiment) -> float:
    """The share of ``then``'s customers (in the shared targeting) ``first`` takes before it.

    Layer slots and traffic hash in independent namespaces, so outside a shared layer the
    share is ``first``'s nominal; inside one it is the part of ``then``'s range ``first``
    also claims (none, when the ranges are disjoint as they must be) times its traffic.
    """
    if first.layer is not None and then.layer is not None and first.layer.id == then.layer.id:
        shared = min(first.layer.end, then.layer.end) - max(first.layer.start, then.layer.start)
        return max(shared, 0.0) / _width(then) * first.traffic
    return _width(first) * first.traffic


def _layer(layer_id: str, experiments: Mapping[str, Experiment]) -> LayerTraffic:
    claims = sorted(
        (
            LayerClaim(experiment_id=eid, status=e.status, start=e.layer.start, end=e.layer.end)
            for eid, e in experiments.items()
            if e.layer is not None and e.layer.id == layer_id and e.status in _LIVE
        ),
        key=lambda claim: (claim.start, claim.end, claim.experiment_id),
    )
    free: list[tuple[float, float]] = []
    edge = 0.0
    for claim in claims:
        if claim.start > edge:
            free.append((edge, claim.start))
        edge = max(edge, claim.end)
    if edge < 1.0:
        free.append((edge, 1.0))
    return LayerTraffic(id=layer_id, ranges=claims, free=free)


def effective_traffic(
    experiments: Mapping[str, Experiment], exclusive: Mapping[str, str]
) -> dict[str, EffectiveTraffic]:
    """Every experiment's share of its targeted customers, as decisions apply them now.

    Decisions take running experiments in id order (see the module docstring), so an
    experiment loses to every earlier running one whose targeting meets its own.
    """
    ordered = sorted(experiments.items())
    out: dict[str, EffectiveTraffic] = {}
    for index, (eid, experiment) in enumerate(ordered):
        nominal = _width(experiment) * experiment.traffic
        contested: list[str] = []
        kept = 0.0
        if experiment.status == "running":
            kept = nominal
            for other_id, other in ordered[:index]:
                if other.status != "running":
                    continue
                if targeting_overlap(other, experiment, exclusive) is None:
                    continue
                taken = _taken(other, experiment)
                if taken > 0:
                    contested.append(other_id)
                    kept *= 1.0 - min(taken, 1.0)
        layer = None if experiment.layer is None else _layer(experiment.layer.id, experiments)
        out[eid] = EffectiveTraffic(
            nominal=round(nominal, _DIGITS),
            effective=round(max(kept, 0.0), _DIGITS),
            contested_by=contested,
            layer=layer,
        )
    return out
