"""The experiment lifecycle: what may change when a new document is written over a stored one.

An experiment's results are only as trustworthy as the stability of its assignment: once
customers have been exposed, anything that changes who gets what (variants, weights, salt,
traffic, targeting, layer range) would mix two designs in one analysis. :func:`transition`
therefore freezes those fields from the first run on; changing them means starting a new
phase, which re-randomises everyone (the phase is part of the hash namespace) and starts a
fresh analysis. The pre-registered analysis plan (primary metric, alpha, analysis engine) is
frozen the same way, so a result cannot be fished for after peeking.

Each rule has its own step: the status moves, the phase a document may name, the frozen fields
within a phase, and the server's stamps. Nothing here touches a store or a clock: the stored
state, the new document and ``now`` come in, the experiment to store or an
:class:`~experiments.errors.ExperimentConflict` goes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from experiments.config import LIVE_STATUSES, Experiment, Treatment, describe_error
from experiments.errors import ExperimentConflict

__all__ = ["transition"]

_MOVES: Final[Mapping[str, frozenset[str]]] = {
    "draft": frozenset({"draft", "running", "stopped"}),
    "running": frozenset({"running", "paused", "stopped"}),
    "paused": frozenset({"paused", "running", "stopped"}),
    "stopped": frozenset({"stopped"}),
}


def transition(
    current: Experiment | None,
    new: Experiment,
    *,
    experiment_id: str | None = None,
    now: datetime | None = None,
) -> Experiment:
    """The experiment to store when ``new`` is written over ``current`` (``None``: creation).

    Status moves: draft -> running | stopped; running <-> paused; running | paused ->
    stopped; stopped is final. A draft may change freely. Once the experiment has run, the
    design (salt, variants with their weights and treatments, control, traffic, layer,
    channels, placements, segments) and the analysis plan (primary metric, alpha, analysis
    engine) change only together with ``phase = current.phase + 1``, which re-randomises
    every customer; names, hypothesis, secondary and guardrail metrics and the MDE may change
    at any time.

    Fields a client may omit are carried over: ``salt`` (else ``experiment_id``), and
    ``started_at`` / ``stopped_at`` within a phase, stamped with ``now`` when the
    experiment starts running or stops.

    Raises
    ------
    ExperimentConflict
        ``field`` names the status, the phase or the first frozen field that changed.
    ValueError
        ``now`` without a time zone.
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if current is None:
        _check_creation(new)
        salt = new.salt or experiment_id
        return _stamped(new, salt, new.started_at, new.stopped_at, now)
    _check_move(current.status, new.status)
    current_salt = current.salt or experiment_id
    salt = new.salt or current_salt
    started_at = _phase_start(current.model_copy(update={"salt": current_salt}), new, salt)
    # Only a stopped experiment has a stop time, and stopped is final: this carries it over
    # from one save of a stopped experiment to the next.
    return _stamped(new, salt, started_at, new.stopped_at or current.stopped_at, now)


def _check_creation(new: Experiment) -> None:
    """A new experiment has no history: it cannot begin paused, stopped or in a later phase."""
    if new.status not in ("draft", "running"):
        raise ExperimentConflict(
            f"status: a new experiment starts as draft or running, not {new.status}",
            field="status",
        )
    if new.phase != 1:
        raise ExperimentConflict("phase: a new experiment starts at phase 1", field="phase")


def _check_move(before: str, after: str) -> None:
    """The status moves of :data:`_MOVES`; the message lists where ``before`` may go."""
    if after in _MOVES[before]:
        return
    if before == "stopped":
        message = "status: a stopped experiment is final; create a new experiment instead"
    else:
        allowed = ", ".join(sorted(_MOVES[before] - {before}))
        message = f"status: cannot go from {before} to {after} (from {before}: {allowed})"
    raise ExperimentConflict(message, field="status")


def _phase_start(current: Experiment, new: Experiment, salt: str | None) -> datetime | None:
    """When the phase ``new`` names started, once that phase is allowed.

    ``current`` carries its effective salt and ``salt`` is the one ``new`` will be stored with,
    so that an omitted salt is not taken for a changed one. A draft keeps its phase; an
    experiment that has run stays in its phase (with its design frozen) or, while live, starts
    the next one, which starts its own clock.
    """
    if current.status == "draft":
        if new.phase != current.phase:
            raise ExperimentConflict(
                "phase: a draft has not run; it stays at its phase until it does",
                field="phase",
            )
        return new.started_at
    if new.phase == current.phase:
        started_at = new.started_at or current.started_at
        _check_frozen(current, new.model_copy(update={"salt": salt, "started_at": started_at}))
        return started_at
    if new.phase == current.phase + 1 and current.status in LIVE_STATUSES:
        if new.status == "stopped":
            raise ExperimentConflict(
                "phase: stopping ends the experiment; there is no next phase to start",
                field="phase",
            )
        return new.started_at
    if current.status == "stopped":
        raise ExperimentConflict(f"phase: must be {current.phase}", field="phase")
    raise ExperimentConflict(
        f"phase: must be {current.phase} or {current.phase + 1} (a new phase)", field="phase"
    )


def _check_frozen(current: Experiment, new: Experiment) -> None:
    """Within a phase that has run, the design and the plan stay; a stopped one keeps its stop."""
    frozen = _design_difference(current, new)
    if frozen is None and current.status == "stopped":
        moved = new.stopped_at not in (None, current.stopped_at)
        frozen = "stopped_at" if moved else None
    if frozen is None:
        return
    if current.status == "stopped":
        message = f"{frozen}: a stopped experiment is final; create a new experiment instead"
    else:
        message = (
            f"{frozen}: cannot change while the experiment is {current.status}; start phase "
            f"{current.phase + 1} to change it (every customer is re-randomised)"
        )
    raise ExperimentConflict(message, field=frozen)


def _design_difference(current: Experiment, new: Experiment) -> str | None:
    """The JSON path of the first frozen field ``new`` changes, or ``None``."""
    if current.salt != new.salt:
        return "salt"
    if [v.id for v in current.variants] != [v.id for v in new.variants]:
        return "variants"
    for index, (before, after) in enumerate(zip(current.variants, new.variants, strict=True)):
        if before.weight != after.weight:
            return f"variants[{index}].weight"
        if before.treatment != after.treatment:
            inner = _treatment_difference(before.treatment, after.treatment)
            return f"variants[{index}].treatment.{inner}"
    if current.control != new.control:
        return "control"
    if current.traffic != new.traffic:
        return "traffic"
    if current.layer != new.layer:
        if current.layer is None or new.layer is None or current.layer.id != new.layer.id:
            return "layer"
        return "layer.start" if current.layer.start != new.layer.start else "layer.end"
    if set(current.channels) != set(new.channels):
        return "channels"
    if set(current.placements) != set(new.placements):
        return "placements"
    if set(current.segments) != set(new.segments):
        return "segments"
    for name in ("primary_metric", "alpha", "analysis", "started_at"):
        if getattr(current, name) != getattr(new, name):
            return name
    return None


def _treatment_difference(a: Treatment, b: Treatment) -> str:
    if a.policy != b.policy:
        return "policy"
    before, after = a.model_dump(), b.model_dump()
    return next((k for k in before if before[k] != after.get(k)), "policy")


def _stamped(
    new: Experiment,
    salt: str | None,
    started_at: datetime | None,
    stopped_at: datetime | None,
    now: datetime | None,
) -> Experiment:
    """``new`` with the fields the server keeps: the salt, and the start and stop times.

    A time still missing is stamped with ``now`` when the experiment runs or stops. The merge
    is validated again, since a carried time may contradict the document (a stop before its
    start); ``new`` itself is returned when nothing changes.
    """
    if new.status == "running" and started_at is None:
        started_at = now
    if new.status == "stopped" and stopped_at is None:
        stopped_at = now
    updates: dict[str, Any] = {"started_at": started_at, "salt": salt, "stopped_at": stopped_at}
    if all(getattr(new, k) == v for k, v in updates.items()):
        return new
    try:
        return Experiment.model_validate({**new.model_dump(), **updates})
    except ValidationError as exc:
        message, field = describe_error(exc.errors()[0])
        raise ExperimentConflict(message, field=field) from None
