"""Experiments as marketers configure them (``PUT /v1/experiments/{id}``) and their lifecycle.

An experiment's results are only as trustworthy as the stability of its assignment: once
customers have been exposed, anything that changes who gets what (variants, weights, salt,
traffic, targeting, layer range) would mix two designs in one analysis. :func:`transition`
therefore freezes those fields from the first run on; changing them means starting a new
phase, which re-randomises everyone (the phase is part of the hash namespace) and starts a
fresh analysis. The pre-registered analysis plan (primary metric, alpha, analysis engine) is
frozen the same way, so a result cannot be fished for after peeking.

Nothing here touches a store or a clock: documents, the stored state and ``now`` come in,
a validated value or an :mod:`experiments.errors` exception goes out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    model_validator,
)

from experiments.assignment import choose_variant, in_layer, in_traffic, phase_salt
from experiments.errors import ExperimentConflict, ExperimentInvalid

__all__ = [
    "ANALYSIS_ENGINES",
    "BANDIT_POLICIES",
    "BUILTIN_METRICS",
    "CHANNELS",
    "EXPERIMENT_STATUSES",
    "ID_PATTERN",
    "WEIGHT_TOLERANCE",
    "AnalysisEngine",
    "BanditPolicyName",
    "BanditTreatment",
    "Channel",
    "Experiment",
    "ExperimentStatus",
    "HoldoutTreatment",
    "LayerRange",
    "RandomTreatment",
    "RulesTreatment",
    "StaticTreatment",
    "StrictModel",
    "Treatment",
    "Variant",
    "assign",
    "check_lints_alpha",
    "check_siblings",
    "parse_experiment",
    "transition",
]

# Same alphabet as every other id in the API (engine.domain.segments.ID_PATTERN). It has no
# ':', which keeps salts out of the hash namespaces assignment appends (':traffic', ':layer',
# ':phase').
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

# Mirrors engine.domain.channels.Channel; experiments may not import the engine, and a test
# keeps them equal.
Channel = Literal["web", "mobile_app", "email", "push", "sms", "call_center", "in_store", "social"]
CHANNELS: Final[tuple[str, ...]] = get_args(Channel)

ExperimentStatus = Literal["draft", "running", "paused", "stopped"]
EXPERIMENT_STATUSES: Final[tuple[str, ...]] = get_args(ExperimentStatus)

AnalysisEngine = Literal["frequentist", "sequential", "bayesian"]
ANALYSIS_ENGINES: Final[tuple[str, ...]] = get_args(AnalysisEngine)

# The learning policies of engine.learning.policies.PolicyName; "random" and "rules" are treatments
# of their own because they have no settings.
BanditPolicyName = Literal["linucb", "lints", "epsilon_greedy", "softmax", "thompson"]
BANDIT_POLICIES: Final[tuple[str, ...]] = get_args(BanditPolicyName)

BUILTIN_METRICS: Final[tuple[str, ...]] = ("conversion_rate", "click_rate", "revenue_per_unit")
_ACTIVITY_METRIC = re.compile(r"^activity:[a-z][a-z0-9_]{0,63}$")

WEIGHT_TOLERANCE: Final = 1e-9
"""How far the variant weights may sum from 1 (decimal inputs such as 0.1 + 0.2)."""

_LIVE: Final = frozenset({"running", "paused"})
_MOVES: Final[Mapping[str, frozenset[str]]] = {
    "draft": frozenset({"draft", "running", "stopped"}),
    "running": frozenset({"running", "paused", "stopped"}),
    "paused": frozenset({"paused", "running", "stopped"}),
    "stopped": frozenset({"stopped"}),
}


def _metric(value: str) -> str:
    if value in BUILTIN_METRICS or _ACTIVITY_METRIC.match(value):
        return value
    raise ValueError(
        f"unknown metric '{value}'; use {', '.join(BUILTIN_METRICS)} or activity:<type>"
    )


Metric = Annotated[
    str,
    AfterValidator(_metric),
    Field(
        description="conversion_rate, click_rate, revenue_per_unit, or activity:<type> "
        "(share of units with at least one activity of that type after exposure)."
    ),
]


# JSON types in strict models, shared with the engine's request models (engine.domain.values).
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]")


def _text_or_datetime(value: Any) -> Any:
    """A time in JSON is an ISO 8601 string: a number is not taken for seconds since 1970."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise ValueError("must be an ISO 8601 date-time string with a zone")


# An ISO 8601 string with a zone, even in strict models (JSON has no datetime type, and FastAPI
# validates bodies as Python objects, where a strict datetime takes no string).
Instant = Annotated[AwareDatetime, Strict(False), BeforeValidator(_text_or_datetime)]


def _whole_float_as_int(value: Any) -> Any:
    """JSON has one number type: ``2.0`` is the integer 2 (as JSON Schema says), ``2.5`` is not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer in a strict model: a string is refused, a number with no fraction is taken.
WholeNumber = Annotated[
    int, BeforeValidator(_whole_float_as_int), Field(ge=-(2**63 - 1), le=2**63 - 1)
]


def check_lints_alpha(policy: str, alpha: float) -> None:
    """LinTS samples with covariance alpha^2 A^-1: at alpha 0 it would never explore.

    One rule for an experiment's bandit variant and for the engine's policy alike.
    """
    if policy == "lints" and alpha <= 0:
        raise ValueError("alpha: lints needs alpha > 0 (it samples with covariance alpha^2 A^-1)")


class StrictModel(BaseModel):
    """A document from outside, taken as sent or refused.

    Unknown fields, coerced types (``"1"`` for 1) and non-finite numbers are refused rather
    than guessed at; validated values cannot change afterwards, so a parsed document can be
    cached and shared.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class BanditTreatment(StrictModel):
    """Offers ranked by a learning policy; the settings are those of the engine's policies.

    Parameters
    ----------
    name : BanditPolicyName
        ``linucb`` and ``lints`` learn from the context; ``epsilon_greedy``, ``softmax``
        and ``thompson`` learn one value per offer.
    alpha : float
        Exploration of the linear policies (LinUCB width, LinTS posterior scale; LinTS
        needs ``alpha > 0``; default 0.5, see :class:`engine.learning.policies.PolicyConfig`).
        Unrelated to the experiment's significance level.
    l2_lambda : float
        Ridge penalty of the linear policies (default 100, the engine's tuned default: see
        :class:`engine.learning.policies.PolicyConfig`; MABWiser's 1 over-fits while offers have few
        observations).
    epsilon : float
        The engine's exploration probability, applied where propensities are logged.
    tau : float
        Softmax temperature.
    """

    policy: Literal["bandit"]
    name: BanditPolicyName = "linucb"
    alpha: float = Field(default=0.5, ge=0, le=100)
    l2_lambda: float = Field(default=100.0, gt=0, le=1e6)
    epsilon: float = Field(default=0.05, ge=0, le=1)
    tau: float = Field(default=1.0, gt=0, le=1e3)

    @model_validator(mode="after")
    def _lints_samples(self) -> BanditTreatment:
        check_lints_alpha(self.name, self.alpha)
        return self


class RandomTreatment(StrictModel):
    """Uniformly random eligible offers: the unbiased baseline (and logging policy)."""

    policy: Literal["random"]


class RulesTreatment(StrictModel):
    """Offers ranked by business weight and value alone: 'our current rules'."""

    policy: Literal["rules"]


class StaticTreatment(StrictModel):
    """Always the same offer (when eligible): tests one offer against the alternatives."""

    policy: Literal["static"]
    offer_id: Id


class HoldoutTreatment(StrictModel):
    """No offer at all: measures what offers add over doing nothing."""

    policy: Literal["holdout"]


Treatment = Annotated[
    BanditTreatment | RandomTreatment | RulesTreatment | StaticTreatment | HoldoutTreatment,
    Field(discriminator="policy"),
]
_TREATMENT_TAGS: Final = frozenset({"bandit", "random", "rules", "static", "holdout"})


class Variant(StrictModel):
    id: Id
    weight: float = Field(gt=0, le=1, description="Share of the experiment's customers.")
    treatment: Treatment


class LayerRange(StrictModel):
    """The experiment's slice ``[start, end)`` of a layer of mutually exclusive experiments.

    Every customer has one slot in ``[0, 1)`` per layer; experiments of the same layer with
    disjoint ranges therefore never share a customer (see :func:`check_siblings`).
    """

    id: Id = Field(description="Layer id; experiments sharing it are mutually exclusive.")
    start: float = Field(default=0.0, ge=0, lt=1)
    end: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> LayerRange:
        if self.end <= self.start:
            raise ValueError("end: must be greater than start")
        return self


class Experiment(StrictModel):
    """An experiment as marketers write it. The unit of randomisation is the customer.

    Parameters
    ----------
    channels, placements, segments
        Targeting: who may be exposed, and where. Empty means every channel / every
        placement / everyone.
    traffic
        Fraction of targeted customers in the experiment, in ``(0, 1]``.
    layer
        Optional slice of a layer; experiments of one layer never share a customer.
    salt
        Hash namespace of the assignment; defaults to the experiment id and is frozen once
        the experiment has run. Two live experiments must not share one.
    variants
        At least two, with unique ids and weights summing to 1 (within 1e-9).
    control
        The variant the others are compared with; defaults to the first.
    phase
        Starts at 1; starting phase ``n + 1`` is the only way to change the design of an
        experiment that has run, and re-randomises every customer.
    started_at, stopped_at
        When the current phase started running and when the experiment stopped; stamped by
        :func:`transition` when omitted.
    """

    name: str = Field(min_length=1, max_length=200)
    hypothesis: str = Field(default="", max_length=4000)
    status: ExperimentStatus = "draft"
    channels: list[Channel] = Field(default_factory=list, max_length=len(CHANNELS))
    placements: list[Id] = Field(default_factory=list, max_length=50)
    segments: list[Id] = Field(default_factory=list, max_length=50)
    traffic: float = Field(default=1.0, gt=0, le=1)
    layer: LayerRange | None = None
    salt: Id | None = None
    variants: list[Variant] = Field(min_length=2, max_length=20)
    control: Id
    primary_metric: Metric = "conversion_rate"
    secondary_metrics: list[Metric] = Field(default_factory=list, max_length=20)
    guardrail_metrics: list[Metric] = Field(default_factory=list, max_length=20)
    minimum_detectable_effect: float | None = Field(
        default=None, gt=0, le=10, description="Relative lift the test is sized to detect."
    )
    alpha: float = Field(default=0.05, gt=0, le=0.2, description="Two-sided significance level.")
    analysis: AnalysisEngine = "frequentist"
    phase: WholeNumber = Field(default=1, ge=1, le=10_000)
    started_at: Instant | None = None
    stopped_at: Instant | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_control(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("control") is not None:
            return data
        variants = data.get("variants")
        if isinstance(variants, list) and variants:
            first = variants[0]
            first_id = first.get("id") if isinstance(first, dict) else getattr(first, "id", None)
            if isinstance(first_id, str):
                return {**data, "control": first_id}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Experiment:
        _unique([v.id for v in self.variants], "variants[{}].id", "variant id")
        total = math.fsum(v.weight for v in self.variants)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise ValueError(f"variants: weights sum to {total:.12g}; they must sum to 1")
        if self.control not in {v.id for v in self.variants}:
            raise ValueError(f"control: no variant has id '{self.control}'")
        _unique(self.channels, "channels[{}]", "channel")
        _unique(self.placements, "placements[{}]", "placement")
        _unique(self.segments, "segments[{}]", "segment")
        _unique(self.secondary_metrics, "secondary_metrics[{}]", "metric")
        _unique(self.guardrail_metrics, "guardrail_metrics[{}]", "metric")
        if self.primary_metric in self.secondary_metrics:
            index = self.secondary_metrics.index(self.primary_metric)
            raise ValueError(f"secondary_metrics[{index}]: already the primary metric")
        if self.status == "draft" and self.started_at is not None:
            raise ValueError("started_at: a draft has not started")
        if self.stopped_at is not None:
            if self.status != "stopped":
                raise ValueError("stopped_at: only a stopped experiment has a stop time")
            if self.started_at is not None and self.stopped_at < self.started_at:
                raise ValueError("stopped_at: must not be before started_at")
        return self

    @property
    def control_variant(self) -> Variant:
        return next(v for v in self.variants if v.id == self.control)

    def seed(self, experiment_id: str) -> str:
        """The variant hash namespace of the current phase (salt defaults to the id)."""
        return phase_salt(self.salt or experiment_id, self.phase)


def _unique(values: Sequence[str], path: str, what: str) -> None:
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            raise ValueError(f"{path.format(index)}: duplicate {what} '{value}'")
        seen.add(value)


def assign(experiment: Experiment, unit_id: str, *, experiment_id: str) -> Variant | None:
    """The customer's variant, or ``None`` when the layer range or traffic leaves them out.

    Targeting (status, channel, placement, segments) is the caller's to check first: it
    depends on the request and the customer's data, whereas this depends on the customer id
    alone, which is what makes an assignment the same on every channel and every server.
    """
    if experiment.layer is not None:
        layer = experiment.layer
        if not in_layer(layer.id, unit_id, layer.start, layer.end):
            return None
    seed = experiment.seed(experiment_id)
    if not in_traffic(seed, unit_id, experiment.traffic):
        return None
    index = choose_variant(seed, unit_id, [v.weight for v in experiment.variants])
    return experiment.variants[index]


# A model-level validator names its culprit with a "<path>: " prefix on its message.
_NAMED_MESSAGE = re.compile(
    r"^([A-Za-z_]\w*(?:\[\d+\])*(?:\.[A-Za-z_]\w*(?:\[\d+\])*)*): (.+)$", re.DOTALL
)


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def _field_path(error: Mapping[str, Any]) -> tuple[str | None, str]:
    path = ""
    previous: str | int | None = None
    for part in error.get("loc", ()):
        # pydantic puts the union tag in the location ("treatment.static.offer_id"), which
        # is not a JSON path of the document: drop it.
        if not (previous == "treatment" and part in _TREATMENT_TAGS):
            path = _join(path, part)
        previous = part
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    kind = error.get("type")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        path = _join(path, "policy")
        message = f"must be one of {', '.join(sorted(_TREATMENT_TAGS))}"
    elif kind == "value_error" and (named := _NAMED_MESSAGE.match(message)):
        path = f"{path}.{named.group(1)}" if path else named.group(1)
        message = named.group(2)
    return (path or None), message


def parse_experiment(document: str | bytes | Mapping[str, Any]) -> Experiment:
    """Validate an experiment document (JSON text or decoded) into an :class:`Experiment`.

    Raises
    ------
    ExperimentInvalid
        With ``field`` the JSON path of the first problem (``variants[1].treatment.offer_id``)
        and a message starting with that path.
    """
    try:
        if isinstance(document, str | bytes):
            return Experiment.model_validate_json(document)
        return Experiment.model_validate(dict(document))
    except ValidationError as exc:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            raise ExperimentInvalid(str(first.get("msg", "Invalid JSON"))) from None
        field, message = _field_path(first)
        raise ExperimentInvalid(f"{field}: {message}" if field else message, field=field) from None


def _treatment_difference(a: Treatment, b: Treatment) -> str:
    if a.policy != b.policy:
        return "policy"
    before, after = a.model_dump(), b.model_dump()
    return next((k for k in before if before[k] != after.get(k)), "policy")


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
    updates: dict[str, Any] = {}
    if current is None:
        if new.status not in ("draft", "running"):
            raise ExperimentConflict(
                f"status: a new experiment starts as draft or running, not {new.status}",
                field="status",
            )
        if new.phase != 1:
            raise ExperimentConflict("phase: a new experiment starts at phase 1", field="phase")
        started_at = new.started_at
        salt = new.salt or experiment_id
    else:
        if new.status not in _MOVES[current.status]:
            raise ExperimentConflict(_move_message(current.status, new.status), field="status")
        current_salt = current.salt or experiment_id
        salt = new.salt or current_salt
        if current.status == "draft":
            if new.phase != current.phase:
                raise ExperimentConflict(
                    "phase: a draft has not run; it stays at its phase until it does",
                    field="phase",
                )
            started_at = new.started_at
        elif new.phase == current.phase:
            started_at = new.started_at or current.started_at
            frozen = _design_difference(
                current.model_copy(update={"salt": current_salt}),
                new.model_copy(update={"salt": salt, "started_at": started_at}),
            )
            if frozen is None and current.status == "stopped":
                moved = new.stopped_at not in (None, current.stopped_at)
                frozen = "stopped_at" if moved else None
            if frozen is not None:
                raise ExperimentConflict(_frozen_message(frozen, current), field=frozen)
        elif new.phase == current.phase + 1 and current.status in _LIVE:
            if new.status == "stopped":
                raise ExperimentConflict(
                    "phase: stopping ends the experiment; there is no next phase to start",
                    field="phase",
                )
            started_at = new.started_at  # a new phase starts its own clock
        else:
            allowed = current.phase if current.status == "stopped" else current.phase + 1
            raise ExperimentConflict(
                f"phase: must be {current.phase}"
                + ("" if allowed == current.phase else f" or {allowed} (a new phase)"),
                field="phase",
            )
        if new.status == "stopped" and new.stopped_at is None:
            updates["stopped_at"] = current.stopped_at
    if new.status == "running" and started_at is None:
        started_at = now
    updates["started_at"] = started_at
    updates["salt"] = salt
    if new.status == "stopped" and updates.get("stopped_at", new.stopped_at) is None:
        updates["stopped_at"] = now
    if all(getattr(new, k) == v for k, v in updates.items()):
        return new
    try:
        return Experiment.model_validate({**new.model_dump(), **updates})
    except ValidationError as exc:
        field, message = _field_path(exc.errors()[0])
        raise ExperimentConflict(f"{field}: {message}" if field else message, field=field) from None


def _move_message(before: str, after: str) -> str:
    if before == "stopped":
        return "status: a stopped experiment is final; create a new experiment instead"
    allowed = ", ".join(sorted(_MOVES[before] - {before}))
    return f"status: cannot go from {before} to {after} (from {before}: {allowed})"


def _frozen_message(path: str, current: Experiment) -> str:
    if current.status == "stopped":
        return f"{path}: a stopped experiment is final; create a new experiment instead"
    return (
        f"{path}: cannot change while the experiment is {current.status}; start phase "
        f"{current.phase + 1} to change it (every customer is re-randomised)"
    )


def check_siblings(
    experiment_id: str, experiment: Experiment, others: Mapping[str, Experiment]
) -> None:
    """Refuse a live experiment that could share customers' assignments with another one.

    Two live (running or paused) experiments of one layer must own disjoint ranges, or a
    customer could be in both; two live experiments must not hash with the same seed, or
    their assignments would be identical rather than independent. Drafts and stopped
    experiments claim nothing, so a draft may be planned over a range still in use.

    Raises
    ------
    ExperimentConflict
        ``field`` is ``layer`` or ``salt``; the message names the other experiment.
    """
    if experiment.status not in _LIVE:
        return
    seed = experiment.seed(experiment_id)
    layer = experiment.layer
    for other_id, other in sorted(others.items()):
        if other_id == experiment_id or other.status not in _LIVE:
            continue
        if other.seed(other_id) == seed:
            raise ExperimentConflict(
                f"salt: experiment '{other_id}' is live with the same salt and phase, so its "
                "assignments would be identical to this one's",
                field="salt",
            )
        theirs = other.layer
        if layer is None or theirs is None or theirs.id != layer.id:
            continue
        if layer.start < theirs.end and theirs.start < layer.end:
            raise ExperimentConflict(
                f"layer: range [{layer.start}, {layer.end}) of layer '{layer.id}' overlaps "
                f"experiment '{other_id}' [{theirs.start}, {theirs.end})",
                field="layer",
            )
