"""Deterministic, sticky, independent assignment of customers to experiment variants.

The algorithm (frozen)
----------------------
Every decision is a pure function of strings: no random draw, no stored state. A customer
is placed by GrowthBook's ``gbhash`` version 2 (``packages/sdk-js/src/util.ts``), reproduced
bit for bit and checked against GrowthBook's published test cases::

    fnv1a32(s)    = FNV-1a, 32 bits: h = 0x811C9DC5; for each UTF-16 code unit c of s:
                    h = ((h XOR c) * 0x01000193) mod 2**32
    bucket(s, u)  = (fnv1a32(decimal(fnv1a32(s + u))) mod 10000) / 10000     in [0, 1)

``s`` is the hash namespace and ``u`` the customer id. Hashing the decimal string of a first
hash is what v2 added over v1 (``fnv1a32(u + s) mod 1000``): v1 left nearby seeds correlated.
Buckets come in steps of 1e-4, so weights and traffic fractions are honoured to 1e-4.

One experiment hashes in three independent namespaces, so no decision leaks into another:

==================  ==========================  =========================================
decision            namespace ``s``             rule
==================  ==========================  =========================================
layer slot          ``<layer>:layer``           in the experiment iff start <= slot < end
traffic             ``<salt>:traffic``          in the experiment iff bucket < traffic
variant             ``<salt>``                  the variant whose cumulative weight range
                                                [sum of earlier weights, + weight) holds it
==================  ==========================  =========================================

``<salt>`` is the experiment's salt in phase 1 and ``<salt>:phase<n>`` in phase ``n`` > 1, so
a new phase re-randomises while the layer slot (shared by every experiment of the layer)
stays put. Salts never contain ``:`` (the configuration forbids it), so namespaces cannot
collide. In phase 1 the variant is exactly what a GrowthBook SDK with the same seed, weights
and full coverage would choose. Traffic is monotone: raising it only adds customers.

This algorithm, the namespace suffixes and the phase suffix are frozen across versions:
changing any of them re-buckets every customer of every running experiment, silently
mixing treatments within one customer's history. A change needs a new hash version beside
this one, never an edit of it; the golden values in
``tests/experiments/test_assignment.py`` guard it.

PlanOut and Eppo helpers
------------------------
``planout_*`` (SHA-1 of ``"<experiment salt>.<parameter>.<unit>"``, first 15 hex digits) and
``eppo_shard`` (MD5, first 8 hex digits, modulo the shard count) reproduce those systems'
published vectors. They are not used for assignment; they document that our choice differs
from theirs and prove the building blocks (salted hash -> integer -> uniform -> range) on
independent reference data.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import TypeVar

__all__ = [
    "BUCKET_RESOLUTION",
    "bucket",
    "choose_variant",
    "eppo_shard",
    "fnv1a32",
    "gbhash",
    "in_layer",
    "in_traffic",
    "layer_slot",
    "phase_salt",
    "planout_hash",
    "planout_random_integer",
    "planout_uniform",
    "planout_uniform_choice",
    "planout_weighted_choice",
    "variant_from_bucket",
]

T = TypeVar("T")

BUCKET_RESOLUTION = 1e-4
"""The step between two buckets: finer weights or traffic fractions are rounded by it."""

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF
_TRAFFIC = ":traffic"
_LAYER = ":layer"
_PHASE = ":phase"
_PLANOUT_LONG_SCALE = float(0xFFFFFFFFFFFFFFF)


def fnv1a32(text: str) -> int:
    """FNV-1a over UTF-16 code units, as GrowthBook's JavaScript SDK (``charCodeAt``) does.

    For the Basic Multilingual Plane code units are code points, so GrowthBook's Python SDK
    agrees too; beyond it (emoji) only the JavaScript reading is followed.
    """
    if text.isascii():
        units: Sequence[int] = text.encode("ascii")
    else:
        raw = text.encode("utf-16-le")
        units = [raw[i] | (raw[i + 1] << 8) for i in range(0, len(raw), 2)]
    h = _FNV_OFFSET
    for unit in units:
        h = ((h ^ unit) * _FNV_PRIME) & _MASK32
    return h


def gbhash(seed: str, value: str, version: int = 2) -> float | None:
    """GrowthBook's ``hash(seed, value, version)``: ``None`` for an unknown version.

    Version 1 is kept only to reproduce GrowthBook's published cases; assignment uses 2.
    """
    if version == 2:
        return bucket(seed, value)
    if version == 1:
        return (fnv1a32(value + seed) % 1_000) / 1_000
    return None


def bucket(salt: str, unit_id: str) -> float:
    """The customer's position in ``[0, 1)`` in the namespace ``salt`` (gbhash v2)."""
    return (fnv1a32(str(fnv1a32(salt + unit_id))) % 10_000) / 10_000


def phase_salt(salt: str, phase: int) -> str:
    """The variant namespace of one phase: a new phase re-randomises every customer."""
    if phase < 1:
        raise ValueError(f"phase starts at 1, got {phase}")
    return salt if phase == 1 else f"{salt}{_PHASE}{phase}"


def in_traffic(salt: str, unit_id: str, traffic: float) -> bool:
    """Whether the customer is in the experiment's traffic fraction.

    Hashed apart from the variant (``<salt>:traffic``) so that the customers let in are a
    uniform sample of every variant, and raising ``traffic`` keeps everyone already in.
    """
    return bucket(salt + _TRAFFIC, unit_id) < traffic


def variant_from_bucket(position: float, weights: Sequence[float]) -> int:
    """Index of the variant whose cumulative range ``[start, start + weight)`` holds ``position``.

    Weights are normalised by their sum; a variant of weight 0 is never chosen.

    Raises
    ------
    ValueError
        No weights, a negative or non-finite weight, or weights summing to 0.
    """
    if not weights:
        raise ValueError("weights: at least one variant is needed")
    if any(not math.isfinite(w) or w < 0 for w in weights):
        raise ValueError("weights: every weight must be a finite number >= 0")
    total = math.fsum(weights)
    if total <= 0:
        raise ValueError("weights: at least one weight must be positive")
    target = position * total
    cumulative = 0.0
    last_positive = 0
    for index, weight in enumerate(weights):
        if weight > 0:
            last_positive = index
        cumulative += weight
        if target < cumulative:
            return index
    # Rounding can leave the summed ranges a hair short of the total: the top goes last.
    return last_positive


def choose_variant(salt: str, unit_id: str, weights: Sequence[float]) -> int:
    """Index of the customer's variant under ``weights`` (see :func:`variant_from_bucket`)."""
    return variant_from_bucket(bucket(salt, unit_id), weights)


def layer_slot(layer_salt: str, unit_id: str) -> float:
    """The customer's position in a layer of mutually exclusive experiments.

    Every experiment of the layer owns a disjoint range of slots, so no customer can be in
    two of them. The namespace (``<layer>:layer``) differs from every experiment's, so a
    customer's slot says nothing about the variant they get inside the experiment.
    """
    return bucket(layer_salt + _LAYER, unit_id)


def in_layer(layer_salt: str, unit_id: str, start: float, end: float) -> bool:
    """Whether the customer's slot falls in the experiment's range ``[start, end)``."""
    return start <= layer_slot(layer_salt, unit_id) < end


def planout_hash(experiment_salt: str, parameter: str, unit: str | int) -> int:
    """PlanOut's ``getHash``: SHA-1 of ``salt.parameter.unit``, first 15 hex digits."""
    text = f"{experiment_salt}.{parameter}.{unit}"
    return int(hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:15], 16)


def planout_uniform(
    experiment_salt: str,
    parameter: str,
    unit: str | int,
    min_value: float = 0.0,
    max_value: float = 1.0,
) -> float:
    """PlanOut's ``getUniform``: the hash scaled by ``0xFFFFFFFFFFFFFFF`` into the interval."""
    zero_to_one = planout_hash(experiment_salt, parameter, unit) / _PLANOUT_LONG_SCALE
    return min_value + (max_value - min_value) * zero_to_one


def planout_uniform_choice(
    experiment_salt: str, parameter: str, unit: str | int, choices: Sequence[T]
) -> T:
    """PlanOut's ``UniformChoice``: the hash modulo the number of choices."""
    return choices[planout_hash(experiment_salt, parameter, unit) % len(choices)]


def planout_weighted_choice(
    experiment_salt: str,
    parameter: str,
    unit: str | int,
    choices: Sequence[T],
    weights: Sequence[float],
) -> T:
    """PlanOut's ``WeightedChoice``: the first choice whose cumulative weight reaches a
    uniform draw over ``[0, total]`` (closed on the right, unlike our half-open ranges)."""
    cumulative = []
    running = 0.0
    for weight in weights:
        running += weight
        cumulative.append(running)
    stop = planout_uniform(experiment_salt, parameter, unit, 0.0, running)
    for choice, bound in zip(choices, cumulative, strict=True):
        if stop <= bound:
            return choice
    return choices[-1]


def planout_random_integer(
    experiment_salt: str, parameter: str, unit: str | int, min_value: int, max_value: int
) -> int:
    """PlanOut's ``RandomInteger``: ``min + hash mod (max - min + 1)``."""
    return min_value + planout_hash(experiment_salt, parameter, unit) % (max_value - min_value + 1)


def eppo_shard(value: str, total_shards: int) -> int:
    """Eppo's ``getShard``: MD5 of the input, first 8 hex digits as an integer, mod shards.

    Eppo hashes ``"<salt>-<subject>"``, a plain concatenation, so callers build ``value``.
    """
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % total_shards
