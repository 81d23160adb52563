"""Experiments as marketers configure them (``PUT /v1/experiments/{id}``), validated.

A document is taken as sent or refused with the JSON path of its first problem, because a
marketer fixes a configuration by that path; the checks that need no other document (weights
summing to 1, a control among the variants, times in order) live on the model. What may change
between a stored experiment and a new document is the lifecycle's (:mod:`experiments.lifecycle`);
what live experiments may share with each other is :func:`check_siblings`'.

Nothing here touches a store or a clock: a document comes in, a validated value or an
:mod:`experiments.errors` exception goes out.
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
    "LIVE_STATUSES",
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
    "describe_error",
    "parse_experiment",
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

# The statuses in which an experiment assigns customers, and so claims its salt and layer range.
LIVE_STATUSES: Final = frozenset({"running", "paused"})


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
        :func:`experiments.lifecycle.transition` when omitted.
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


def describe_error(error: Mapping[str, Any]) -> tuple[str, str | None]:
    """One pydantic error as this package reports it: ``(message, field)``.

    The message starts with the field's JSON path, so that it reads on its own; parsing a
    document and re-validating one the lifecycle has merged report the same way.
    """
    field, message = _field_path(error)
    return (f"{field}: {message}" if field else message), field


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
        message, field = describe_error(first)
        raise ExperimentInvalid(message, field=field) from None


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
    if experiment.status not in LIVE_STATUSES:
        return
    seed = experiment.seed(experiment_id)
    layer = experiment.layer
    for other_id, other in sorted(others.items()):
        if other_id == experiment_id or other.status not in LIVE_STATUSES:
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
