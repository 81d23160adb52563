"""Assignment: published hash vectors, frozen golden values, and statistical properties.

The statistical tests run over fixed id sets, so they are deterministic: a failure means the
hash changed or is biased, never bad luck. Thresholds are p > 0.001 (chi-square) and 99.9%
binomial intervals.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from experiments.assignment import (
    BUCKET_RESOLUTION,
    bucket,
    choose_variant,
    eppo_shard,
    fnv1a32,
    gbhash,
    in_layer,
    in_traffic,
    layer_slot,
    phase_salt,
    planout_hash,
    planout_random_integer,
    planout_uniform,
    planout_uniform_choice,
    planout_weighted_choice,
    variant_from_bucket,
)

REFERENCE_FILE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "stats" / "reference_vectors.json"
)
REFERENCE: dict[str, Any] = json.loads(REFERENCE_FILE.read_text())
N = 100_000
P_MIN = 0.001


def sequential_ids(n: int = N) -> list[str]:
    """Ids like most CRMs issue: the adversarial case for FNV, which differ in a few bytes."""
    return [f"c-{i}" for i in range(n)]


def uuid_ids(n: int = N) -> list[str]:
    rng = random.Random(20261122)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


ID_SETS = {"sequential": sequential_ids, "uuid": uuid_ids}


# --- published reference vectors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "value", "version", "expected"), REFERENCE["growthbook_hash"]["hash"]
)
def test_growthbook_hash_cases(seed: str, value: str, version: int, expected: float | None) -> None:
    assert gbhash(seed, value, version) == expected


def test_growthbook_run_equal_weights() -> None:
    """GrowthBook's ``run`` of experiment "my-test" (hash v1, two equal variants), ids 1..9:
    proves our half-open cumulative ranges are GrowthBook's ``inRange``."""
    expected = REFERENCE["growthbook_hash"]["run_my_test_v1_equal_weights_ids_1_to_9"]
    got = []
    for i in range(1, 10):
        position = gbhash("my-test", str(i), 1)
        assert position is not None
        got.append(variant_from_bucket(position, [0.5, 0.5]))
    assert got == expected


def test_bucket_is_growthbook_v2_on_reference_cases() -> None:
    for seed, value, version, expected in REFERENCE["growthbook_hash"]["hash"]:
        if version == 2:
            assert bucket(seed, value) == expected


def test_fnv1a32_published_values() -> None:
    # The FNV authors' test suite (isthe.com/chongo/src/fnv/test_fnv.c): FNV-1a 32 of "", "a",
    # "foobar".
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C
    assert fnv1a32("foobar") == 0xBF9CF968


def test_planout_vectors() -> None:
    planout = REFERENCE["planout"]
    assert (
        planout_uniform_choice("mtsalt", "foo", 1, ["x", "y"])
        == planout["uniform_choice_mtsalt_foo_unit1_xy"]
    )
    for unit, expected in planout["random_integer_0_99_exp1_bucket"].items():
        assert planout_random_integer("exp1", "bucket", unit, 0, 99) == expected


def test_planout_own_test_suite() -> None:
    # facebookarchive/planout python/planout/test/test_assignment.py and test_experiment.py.
    assert [
        planout_uniform_choice("test_salt", p, 4, ["a", "b"]) for p in ("foo", "bar", "baz")
    ] == [
        "b",
        "a",
        "a",
    ]
    assert planout_uniform_choice("test_salt", "foo", 4, list(range(8))) == 7
    assert planout_uniform_choice("test_name", "foo", 42, ["a", "b"]) == "b"


def test_planout_weighted_choice() -> None:
    """The reference records ``c2`` for experiment salt "mtsalt", parameter "x", unit 42 but
    not the choices and weights it used, so only the draw can be pinned: ``c2`` is what
    PlanOut returns for every weighting whose ``c2`` range [w1, w1 + w2] holds that draw."""
    draw = planout_uniform("mtsalt", "x", 42)
    assert draw == pytest.approx(0.3177480918371702, abs=1e-15)
    expected = REFERENCE["planout"]["weighted_choice_mtsalt_x_unit42"]
    for weights in ([0.25, 0.75], [0.3, 0.4, 0.3], [1, 3, 1], [0.1, 0.8, 0.1]):
        assert (
            planout_weighted_choice("mtsalt", "x", 42, ["c1", "c2", "c3"][: len(weights)], weights)
            == expected
        )
    # ...and not when c1's range already holds it (PlanOut's ranges are closed on the right).
    assert planout_weighted_choice("mtsalt", "x", 42, ["c1", "c2"], [1, 1]) == "c1"


@pytest.mark.parametrize(("value", "expected"), sorted(REFERENCE["eppo_md5_shard_10000"].items()))
def test_eppo_shards(value: str, expected: int) -> None:
    assert eppo_shard(value, 10_000) == expected


def test_reference_systems_differ_from_ours() -> None:
    """The three systems hash the same unit differently: results are not portable between
    them, which is why ours is pinned to one (GrowthBook v2) and frozen."""
    assert planout_hash("exp1", "bucket", "1") % 10_000 != round(bucket("exp1", "1") * 10_000)
    assert eppo_shard("exp1-1", 10_000) != round(bucket("exp1", "1") * 10_000)


# --- frozen golden values --------------------------------------------------------------------

# Computed once with this module. If a row fails, the assignment algorithm changed and every
# running experiment would re-bucket its customers: restore it, or add a new hash version.
GOLDEN = [
    # salt, unit, bucket, traffic bucket, layer slot, variant of [.5, .3, .2], phase-2 bucket
    ("exp-1", "c-1042", 0.5864, 0.9486, 0.1154, 1, 0.7359),
    ("exp-1", "c-1", 0.179, 0.3007, 0.9515, 0, 0.4009),
    ("welcome-offer", "c-1042", 0.5732, 0.9405, 0.1843, 1, 0.7848),
    ("exp-1", "", 0.5713, 0.9215, 0.2067, 1, 0.7346),
    ("exp-1", "ü-7", 0.6154, 0.183, 0.1645, 1, 0.3967),
    ("exp-1", "😀", 0.5997, 0.4388, 0.4992, 1, 0.0397),  # UTF-16 code units, as GrowthBook JS
]


@pytest.mark.parametrize(("salt", "unit", "b", "traffic_b", "slot", "variant", "b2"), GOLDEN)
def test_golden_values(
    salt: str, unit: str, b: float, traffic_b: float, slot: float, variant: int, b2: float
) -> None:
    assert bucket(salt, unit) == b
    assert not in_traffic(salt, unit, traffic_b)  # the traffic bucket itself, half-open
    assert in_traffic(salt, unit, traffic_b + BUCKET_RESOLUTION / 2)
    assert layer_slot(salt, unit) == slot
    assert choose_variant(salt, unit, [0.5, 0.3, 0.2]) == variant
    assert phase_salt(salt, 1) == salt
    assert bucket(phase_salt(salt, 2), unit) == b2


_CHILD = """
import json, sys
from experiments.assignment import bucket, choose_variant, in_traffic, layer_slot
pairs = json.load(sys.stdin)
json.dump([[bucket(s, u), choose_variant(s, u, [0.2, 0.3, 0.5]), in_traffic(s, u, 0.4),
            layer_slot(s, u)] for s, u in pairs], sys.stdout)
"""


def test_stable_in_a_fresh_process() -> None:
    """Nothing may depend on process state (``hash()`` randomisation, caches, import order)."""
    rng = random.Random(5)
    alphabet = "abcXYZ019-_.:éü😀"
    pairs = [
        ["".join(rng.choices(alphabet, k=rng.randint(0, 12))), f"c-{rng.randint(0, 10**9)}"]
        for _ in range(500)
    ]
    here = [
        [
            bucket(s, u),
            choose_variant(s, u, [0.2, 0.3, 0.5]),
            in_traffic(s, u, 0.4),
            layer_slot(s, u),
        ]
        for s, u in pairs
    ]
    root = Path(__file__).resolve().parents[2]
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(root)}
        child = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps(pairs),
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=root,
            timeout=60,
        )
        assert json.loads(child.stdout) == here


# --- properties over arbitrary inputs --------------------------------------------------------

texts = st.text(max_size=40)


@given(salt=texts, unit=texts)
def test_bucket_in_unit_interval_and_deterministic(salt: str, unit: str) -> None:
    position = bucket(salt, unit)
    assert 0.0 <= position < 1.0
    assert position == bucket(salt, unit) == gbhash(salt, unit, 2)
    assert round(position / BUCKET_RESOLUTION) * BUCKET_RESOLUTION == pytest.approx(position)


@given(
    salt=texts,
    unit=texts,
    weights=st.lists(
        st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1.0)), min_size=1, max_size=8
    ).filter(lambda w: sum(w) > 0),
)
def test_choose_variant_never_picks_a_zero_weight(
    salt: str, unit: str, weights: list[float]
) -> None:
    index = choose_variant(salt, unit, weights)
    assert 0 <= index < len(weights)
    assert weights[index] > 0
    assert index == choose_variant(salt, unit, weights)


@given(position=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_variant_ranges_are_half_open(position: float) -> None:
    index = variant_from_bucket(position, [0.25, 0.25, 0.5])
    assert index == (0 if position < 0.25 else 1 if position < 0.5 else 2)


@pytest.mark.parametrize("weights", [[], [0.0, 0.0], [0.5, -0.1], [float("nan"), 1.0]])
def test_bad_weights_are_refused(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="weights"):
        variant_from_bucket(0.5, weights)


@given(
    salt=texts,
    unit=texts,
    low=st.floats(min_value=0.0, max_value=1.0),
    high=st.floats(min_value=0.0, max_value=1.0),
)
def test_traffic_is_monotone(salt: str, unit: str, low: float, high: float) -> None:
    """Raising traffic only lets customers in: nobody already exposed is dropped."""
    low, high = sorted((low, high))
    if in_traffic(salt, unit, low):
        assert in_traffic(salt, unit, high)
    assert in_traffic(salt, unit, 1.0)
    assert not in_traffic(salt, unit, 0.0)


@given(
    layer=texts,
    unit=texts,
    cuts=st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True)),
)
def test_layer_ranges_partition_customers(layer: str, unit: str, cuts: list[float]) -> None:
    """Disjoint ranges covering [0, 1): every customer is in exactly one experiment."""
    bounds = [0.0, *sorted(set(cuts)), 1.0]
    ranges = list(itertools.pairwise(bounds))
    assert sum(in_layer(layer, unit, start, end) for start, end in ranges) == 1


def test_phase_salt_refuses_phase_zero() -> None:
    with pytest.raises(ValueError, match="phase"):
        phase_salt("exp", 0)


# --- statistics over 100,000 customers -------------------------------------------------------


@pytest.mark.parametrize("ids", sorted(ID_SETS))
@pytest.mark.parametrize(
    "weights",
    [[0.5, 0.5], [0.1, 0.2, 0.3, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.05, 0.95], [0.2] * 5],
    ids=["50-50", "10-20-30-40", "thirds", "5-95", "5x20"],
)
def test_variants_follow_their_weights(ids: str, weights: list[float]) -> None:
    units = ID_SETS[ids]()
    counts = Counter(choose_variant("exp-uniform", u, weights) for u in units)
    observed = np.array([counts[i] for i in range(len(weights))])
    expected = np.array(weights) * len(units)
    assert stats.chisquare(observed, expected).pvalue > P_MIN


@pytest.mark.parametrize("ids", sorted(ID_SETS))
def test_buckets_are_uniform(ids: str) -> None:
    positions = np.array([bucket("exp-uniform", u) for u in ID_SETS[ids]()])
    observed = np.bincount((positions * 100).astype(int), minlength=100)
    assert stats.chisquare(observed).pvalue > P_MIN
    # and the 10,000 buckets themselves are all reachable, none much favoured
    fine = np.bincount(np.rint(positions / BUCKET_RESOLUTION).astype(int), minlength=10_000)
    assert stats.chisquare(fine).pvalue > P_MIN


def contingency_p(a: list[int], b: list[int]) -> float:
    table = np.zeros((max(a) + 1, max(b) + 1))
    np.add.at(table, (np.array(a), np.array(b)), 1)
    return float(stats.chi2_contingency(table).pvalue)


@pytest.mark.parametrize(
    ("salt_a", "salt_b"),
    [
        ("exp-1", "exp-2"),  # near seeds: hash v1's weak spot
        ("spring-offer", "checkout-test"),
        ("exp-1", phase_salt("exp-1", 2)),  # a new phase re-randomises
    ],
)
def test_experiments_are_independent(salt_a: str, salt_b: str) -> None:
    units = sequential_ids()
    a = [choose_variant(salt_a, u, [0.5, 0.3, 0.2]) for u in units]
    b = [choose_variant(salt_b, u, [1 / 3, 1 / 3, 1 / 3]) for u in units]
    assert contingency_p(a, b) > P_MIN


def test_traffic_layer_and_variant_are_independent() -> None:
    """The three namespaces of one experiment: who is let in says nothing about the variant."""
    units = sequential_ids()
    variant = [choose_variant("exp-1", u, [0.5, 0.5]) for u in units]
    admitted = [int(in_traffic("exp-1", u, 0.3)) for u in units]
    slot = [int(layer_slot("exp-1", u) * 4) for u in units]
    assert contingency_p(variant, admitted) > P_MIN
    assert contingency_p(variant, slot) > P_MIN
    assert contingency_p(admitted, slot) > P_MIN


@pytest.mark.parametrize("traffic", [0.01, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_traffic_fraction_is_respected(traffic: float) -> None:
    admitted = sum(in_traffic("exp-traffic", u, traffic) for u in sequential_ids())
    low, high = stats.binom.interval(0.999, N, traffic)
    assert low <= admitted <= high


def test_layer_experiments_never_share_a_customer() -> None:
    ranges = {"a": (0.0, 0.2), "b": (0.2, 0.7), "c": (0.7, 1.0)}
    members = {
        name: {u for u in sequential_ids() if in_layer("homepage", u, start, end)}
        for name, (start, end) in ranges.items()
    }
    assert not members["a"] & members["b"]
    assert not members["a"] & members["c"]
    assert not members["b"] & members["c"]
    assert sum(len(m) for m in members.values()) == N
    for name, (start, end) in ranges.items():
        low, high = stats.binom.interval(0.999, N, end - start)
        assert low <= len(members[name]) <= high
