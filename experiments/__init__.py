"""Experiments: configuration and lifecycle, and deterministic assignment of customers.

Imports nothing from ``engine`` or ``api`` (the dependency direction is api -> engine ->
experiments); errors are this package's own and the engine translates them.
"""

from experiments.assignment import (
    bucket,
    choose_variant,
    in_layer,
    in_traffic,
    layer_slot,
    phase_salt,
    variant_from_bucket,
)
from experiments.config import (
    BanditTreatment,
    Experiment,
    HoldoutTreatment,
    LayerRange,
    RandomTreatment,
    RulesTreatment,
    StaticTreatment,
    Treatment,
    Variant,
    assign,
    check_siblings,
    parse_experiment,
)
from experiments.errors import (
    ExperimentConflict,
    ExperimentError,
    ExperimentInvalid,
    ExperimentOverlap,
)
from experiments.lifecycle import transition
from experiments.overlap import EffectiveTraffic, check_overlap, effective_traffic, starts

__all__ = [
    "BanditTreatment",
    "EffectiveTraffic",
    "Experiment",
    "ExperimentConflict",
    "ExperimentError",
    "ExperimentInvalid",
    "ExperimentOverlap",
    "HoldoutTreatment",
    "LayerRange",
    "RandomTreatment",
    "RulesTreatment",
    "StaticTreatment",
    "Treatment",
    "Variant",
    "assign",
    "bucket",
    "check_overlap",
    "check_siblings",
    "choose_variant",
    "effective_traffic",
    "in_layer",
    "in_traffic",
    "layer_slot",
    "parse_experiment",
    "phase_salt",
    "starts",
    "transition",
    "variant_from_bucket",
]
