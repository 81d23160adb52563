"""Off-policy evaluation against known answers: real Open Bandit Dataset logs and simulations.

The reference numbers come from outside the module under test: click rates read straight off
the CSVs with the csv module, intervals from scipy.stats, coverage against a simulated bandit
whose true policy value is computed from its reward function.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy import stats
from typer.testing import CliRunner

from engine.offline.evaluation import (
    ESTIMATORS,
    LoggedFeedback,
    candidate_policies,
    doubly_robust,
    empirical_position_policy,
    evaluate,
    fit_reward_model,
    from_scores,
    ips,
    load_decision_log,
    load_log,
    load_obd_csv,
    on_policy,
    snips,
    static_best,
    uniform_random,
)

OBD = Path(__file__).resolve().parents[3] / "shared" / "data" / "obd"
RANDOM_CSV = OBD / "random" / "all" / "all.csv"
BTS_CSV = OBD / "bts" / "all" / "all.csv"
Array = np.ndarray[Any, Any]


def raw_columns(path: Path) -> dict[str, Array]:
    """item_id, position and click read with the csv module alone: the reference."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {
        "item": np.array([int(r["item_id"]) for r in rows]),
        "position": np.array([int(r["position"]) for r in rows]),
        "click": np.array([float(r["click"]) for r in rows]),
        "propensity": np.array([float(r["propensity_score"]) for r in rows]),
    }


@pytest.fixture(scope="module")
def random_log() -> LoggedFeedback:
    return load_obd_csv(RANDOM_CSV)


@pytest.fixture(scope="module")
def bts_log() -> LoggedFeedback:
    return load_obd_csv(BTS_CSV)


@pytest.fixture(scope="module")
def bts_target(random_log: LoggedFeedback, bts_log: LoggedFeedback) -> Array:
    return empirical_position_policy(random_log, bts_log)


# ------------------------------------------------------------------------------ OBD checks


def test_obd_loader_reads_the_files_as_published(
    random_log: LoggedFeedback, bts_log: LoggedFeedback
) -> None:
    for log, path, clicks in ((random_log, RANDOM_CSV, 38), (bts_log, BTS_CSV, 42)):
        raw = raw_columns(path)
        assert log.n == 10_000
        assert log.action_ids == tuple(str(i) for i in range(80))
        assert np.array_equal(log.actions, raw["item"])
        assert np.array_equal(log.positions, raw["position"] - 1)
        assert np.array_equal(log.rewards, raw["click"])
        assert int(log.rewards.sum()) == clicks
        assert log.contexts is not None
        assert log.contexts.shape == (10_000, 80 + 4 * 32)
        assert log.segments is not None
        assert all(len(s) == 1 and s[0].startswith("user_feature_0=") for s in log.segments)
    assert np.all(random_log.propensities == 0.0125)


def test_ips_and_snips_of_uniform_random_on_random_log_equal_its_click_rate(
    random_log: LoggedFeedback,
) -> None:
    click_rate = raw_columns(RANDOM_CSV)["click"].mean()
    assert click_rate == pytest.approx(0.0038, abs=1e-15)
    target = uniform_random(random_log)
    assert ips(random_log, target).value == pytest.approx(click_rate, abs=1e-12)
    assert snips(random_log, target).value == pytest.approx(click_rate, abs=1e-12)


def test_bts_policy_estimated_on_random_log_covers_bts_click_rate(
    random_log: LoggedFeedback, bts_log: LoggedFeedback, bts_target: Array
) -> None:
    observed = raw_columns(BTS_CSV)["click"].mean()
    assert observed == pytest.approx(0.0042, abs=1e-15)
    predictions = fit_reward_model(random_log)
    estimates = [
        ips(random_log, bts_target),
        snips(random_log, bts_target),
        doubly_robust(random_log, bts_target, predictions),
    ]
    print(f"\nBTS click rate observed in the BTS log: {observed:.5f}")
    for e in estimates:
        print(
            f"{e.estimator:>5} on the random log: {e.value:.5f} "
            f"[{e.ci_low:.5f}, {e.ci_high:.5f}] se {e.std_error:.5f} "
            f"ESS {e.effective_sample_size:.0f}"
        )
    for e in estimates:
        assert e.error is None
        assert e.ci_low <= observed <= e.ci_high, e


def test_empirical_position_policy_is_the_other_logs_item_share_per_position(
    random_log: LoggedFeedback, bts_target: Array
) -> None:
    raw = raw_columns(BTS_CSV)
    for position in (1, 2, 3):
        counts = np.bincount(raw["item"][raw["position"] == position], minlength=80)
        rows = np.flatnonzero(random_log.positions == position - 1)
        assert np.allclose(bts_target[rows], counts / counts.sum(), atol=1e-15)


def test_ips_interval_equals_scipy_normal_interval_and_t_interval(
    random_log: LoggedFeedback,
) -> None:
    raw_random, raw_bts = raw_columns(RANDOM_CSV), raw_columns(BTS_CSV)
    shares = np.zeros((3, 80))
    for p in range(3):
        counts = np.bincount(raw_bts["item"][raw_bts["position"] == p + 1], minlength=80)
        shares[p] = counts / counts.sum()
    target = shares[random_log.positions]
    weights = shares[raw_random["position"] - 1, raw_random["item"]] / raw_random["propensity"]
    for clip in (None, 20.0):
        w = weights if clip is None else np.minimum(weights, clip)
        z = w * raw_random["click"]
        estimate = ips(random_log, target, clip=clip)
        low, high = stats.norm.interval(0.95, loc=z.mean(), scale=stats.sem(z))
        assert estimate.value == pytest.approx(z.mean(), abs=1e-15)
        assert estimate.ci_low == pytest.approx(low, abs=1e-12)
        assert estimate.ci_high == pytest.approx(high, abs=1e-12)
        t_low, t_high = stats.t.interval(0.95, df=z.size - 1, loc=z.mean(), scale=stats.sem(z))
        half = (estimate.ci_high - estimate.ci_low) / 2
        assert (t_high - t_low) / 2 == pytest.approx(half, rel=1e-3)
        ess = w.sum() ** 2 / (w**2).sum()
        assert estimate.effective_sample_size == pytest.approx(ess, rel=1e-12)
    assert ips(random_log, target, clip=20.0).estimator == "ips(clip=20)"


def test_per_segment_estimates_on_obd_cover_every_row_once(
    random_log: LoggedFeedback, bts_log: LoggedFeedback
) -> None:
    candidates = candidate_policies(random_log, baseline_log=bts_log)
    assert set(candidates) == {"uniform_random", "static_best", "baseline_log"}
    report = evaluate(random_log, candidates)
    assert len(report.segments) == 3
    assert sum(s.n for s in report.segments) == report.overall.n == 10_000
    for result in (report.overall, *report.segments):
        assert result.logged.n == result.n
        assert set(result.estimates) == set(candidates)
        for by_estimator in result.estimates.values():
            assert tuple(by_estimator) == ESTIMATORS
            assert all(e.n == result.n for e in by_estimator.values())
    clicks = sum(s.logged.value * s.n for s in report.segments)
    assert clicks == pytest.approx(38)
    segment = report.segments[1].segment
    assert report.estimate("baseline_log", "ips", segment).n == report.segments[1].n
    json.dumps(report.to_dict(), allow_nan=False)  # strict JSON: NaN became null


def test_static_best_is_optimistic_on_the_log_it_was_picked_from(
    random_log: LoggedFeedback,
) -> None:
    raw = raw_columns(RANDOM_CSV)
    per_item = np.bincount(raw["item"], weights=raw["click"], minlength=80)
    target = static_best(random_log)
    best = int(np.argmax(per_item))
    assert np.all(target[:, best] == 1.0)
    # The best of 80 items by clicks: 3 clicks in ~125 impressions reads as a 2.4% click rate
    # against the log's 0.38%, which no item earns on fresh traffic.
    assert ips(random_log, target).value == pytest.approx(per_item[best] * 80 / 10_000)


# ------------------------------------------------------------------------ simulation checks

K, D = 5, 3
BIAS = np.array([-1.0, -0.5, 0.0, 0.3, -0.2])
THETA = np.array([0.8, -0.6, 0.4])
_setup = np.random.default_rng(20240601)
GAMMA = _setup.normal(0.0, 0.7, (D, K))
W_LOG = _setup.normal(0.0, 1.0, (D, K))


def true_mean(x: Array) -> Array:
    """Click probability of each action: a shared context effect plus per-action effects."""
    z = BIAS + (x @ THETA)[:, None] + x @ GAMMA
    result: Array = 1.0 / (1.0 + np.exp(-z))
    return result


def logging_probabilities(x: Array) -> Array:
    """A contextual softmax mixed with 30% uniform, so every propensity is at least 0.06."""
    s = x @ W_LOG
    e = np.exp(s - s.max(axis=1, keepdims=True))
    result: Array = 0.7 * e / e.sum(axis=1, keepdims=True) + 0.3 / K
    return result


def target_policy(x: Array) -> Array:
    """Epsilon-greedy on the per-action part of the true model: a good, different policy."""
    return from_scores(BIAS + x @ GAMMA, 0.1)


def simulate(rng: np.random.Generator, n: int) -> tuple[LoggedFeedback, Array]:
    x = rng.normal(size=(n, D))
    p = logging_probabilities(x)
    actions = (p.cumsum(axis=1) > rng.random(n)[:, None]).argmax(axis=1)
    rows = np.arange(n)
    rewards = (rng.random(n) < true_mean(x)[rows, actions]).astype(float)
    log = LoggedFeedback(
        actions=actions,
        action_ids=tuple("abcde"),
        positions=np.zeros(n, dtype=np.int64),
        rewards=rewards,
        propensities=p[rows, actions],
        contexts=x,
    )
    return log, target_policy(x)


def test_interval_coverage_in_simulation_and_dr_beats_ips() -> None:
    contexts = np.random.default_rng(1).normal(size=(400_000, D))
    truth = float((target_policy(contexts) * true_mean(contexts)).sum(axis=1).mean())
    rng = np.random.default_rng(7)
    replications = 300
    results: dict[str, list[tuple[float, float, float, float]]] = {e: [] for e in ESTIMATORS}
    for replication in range(replications):
        log, target = simulate(rng, 1000)
        predictions = fit_reward_model(log, seed=replication)
        for estimate in (
            ips(log, target),
            snips(log, target),
            doubly_robust(log, target, predictions),
        ):
            assert estimate.error is None
            results[estimate.estimator].append(
                (estimate.value, estimate.ci_low, estimate.ci_high, estimate.std_error)
            )
    print(f"\ntrue value {truth:.4f}; {replications} replications of n = 1000")
    summary: dict[str, tuple[float, float]] = {}
    for name, rows in results.items():
        values = np.array(rows)
        coverage = float(np.mean((values[:, 1] <= truth) & (truth <= values[:, 2])))
        spread = float(values[:, 0].std(ddof=1))
        summary[name] = (coverage, spread)
        print(
            f"{name:>5}: coverage {coverage:.3f}, mean {values[:, 0].mean():.4f}, "
            f"sd {spread:.4f}, mean se {values[:, 3].mean():.4f}"
        )
        assert abs(coverage - 0.95) <= 0.04, (name, coverage)
        # Unbiased (SNIPS nearly so): the mean of 300 estimates sits within 4 of its own SEs.
        assert abs(values[:, 0].mean() - truth) < 4 * spread / math.sqrt(replications), name
    assert summary["dr"][1] < summary["ips"][1]


def test_snips_delta_interval_agrees_with_bootstrap() -> None:
    log, target = simulate(np.random.default_rng(11), 2000)
    estimate = snips(log, target)
    weights = target[np.arange(log.n), log.actions] / log.propensities

    def ratio(w: Array, r: Array, axis: int = -1) -> Array:
        result: Array = (w * r).sum(axis=axis) / w.sum(axis=axis)
        return result

    boot = stats.bootstrap(
        (weights, log.rewards),
        ratio,
        paired=True,
        vectorized=True,
        n_resamples=4000,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    width = estimate.ci_high - estimate.ci_low
    assert estimate.ci_low == pytest.approx(boot.confidence_interval.low, abs=0.1 * width)
    assert estimate.ci_high == pytest.approx(boot.confidence_interval.high, abs=0.1 * width)
    assert estimate.std_error == pytest.approx(boot.standard_error, rel=0.1)


def logged(n: int = 400, seed: int = 3, *, binary: bool = True) -> LoggedFeedback:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D))
    actions = rng.integers(0, K, n)
    mean = true_mean(x)[np.arange(n), actions]
    rewards = (rng.random(n) < mean).astype(float) if binary else mean + rng.normal(0, 0.1, n)
    return LoggedFeedback(
        actions=actions,
        action_ids=tuple("abcde"),
        positions=rng.integers(0, 2, n),
        rewards=rewards,
        propensities=np.full(n, 1.0 / K),
        contexts=x,
    )


@pytest.mark.parametrize("binary", [True, False])
def test_fit_reward_model_is_cross_fitted(binary: bool) -> None:
    log = logged(binary=binary)
    before = fit_reward_model(log, folds=3, seed=5)
    assert before.shape == (log.n, K)
    if binary:
        assert np.all((before > 0) & (before < 1))
    for row in (0, 17, 123, 399):
        rewards = log.rewards.copy()
        rewards[row] = 1.0 - rewards[row] if binary else rewards[row] + 5.0
        changed = LoggedFeedback(
            actions=log.actions,
            action_ids=log.action_ids,
            positions=log.positions,
            rewards=rewards,
            propensities=log.propensities,
            contexts=log.contexts,
        )
        after = fit_reward_model(changed, folds=3, seed=5)
        assert np.array_equal(after[row], before[row])  # its own reward is never seen
        assert np.abs(after - before).max() > 1e-6  # while the other folds' models moved


def test_fit_reward_model_with_one_class_predicts_it() -> None:
    log = logged()
    silent = LoggedFeedback(
        actions=log.actions,
        action_ids=log.action_ids,
        positions=log.positions,
        rewards=np.zeros(log.n),
        propensities=log.propensities,
    )
    assert np.array_equal(fit_reward_model(silent), np.zeros((log.n, K)))


# ---------------------------------------------------------------------------- error results


def empty_log() -> LoggedFeedback:
    return LoggedFeedback(
        actions=np.array([], dtype=np.int64),
        action_ids=("a", "b", "c"),
        positions=np.array([], dtype=np.int64),
        rewards=np.array([]),
        propensities=np.array([]),
        segments=(),
    )


def test_empty_log_gives_error_results_not_exceptions() -> None:
    log = empty_log()
    target = uniform_random(log)
    predictions = fit_reward_model(log)
    for estimate in (
        ips(log, target),
        snips(log, target),
        doubly_robust(log, target, predictions),
        on_policy(log),
    ):
        assert estimate.error == "no_rows"
        assert estimate.n == 0
        assert math.isnan(estimate.value)
        assert estimate.to_dict()["value"] is None
    report = evaluate(log, {"uniform": target})
    assert report.overall.estimates["uniform"]["dr"].error == "no_rows"
    assert report.segments == ()


def test_target_without_support_gives_error_results() -> None:
    log = LoggedFeedback(
        actions=np.array([0, 1, 0, 1]),
        action_ids=("a", "b", "never-served"),
        positions=np.zeros(4, dtype=np.int64),
        rewards=np.array([1.0, 0.0, 0.0, 1.0]),
        propensities=np.full(4, 0.5),
    )
    target = np.tile([0.0, 0.0, 1.0], (4, 1))
    predictions = np.full((4, 3), 0.5)
    assert ips(log, target).error == "no_support"
    assert snips(log, target).error == "no_support"
    assert doubly_robust(log, target, predictions).error == "no_support"
    report = evaluate(log, {"new": target}, reward_model_predictions=predictions)
    assert {e.error for e in report.overall.estimates["new"].values()} == {"no_support"}


def test_single_row_and_constant_rewards_give_error_codes() -> None:
    one = logged().subset(np.array([0]))
    estimate = ips(one, uniform_random(one))
    assert estimate.error == "too_few_rows"
    assert math.isnan(estimate.ci_low)
    silent = LoggedFeedback(
        actions=np.array([0, 1, 2]),
        action_ids=("a", "b", "c"),
        positions=np.zeros(3, dtype=np.int64),
        rewards=np.zeros(3),
        propensities=np.full(3, 1 / 3),
    )
    for estimate in (ips(silent, uniform_random(silent)), snips(silent, uniform_random(silent))):
        assert estimate.error == "zero_variance"
        assert estimate.value == 0.0
        assert estimate.std_error == 0.0


# ---------------------------------------------------------------------------- invalid input


def _base(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "actions": np.array([0, 1]),
        "action_ids": ("a", "b"),
        "positions": np.array([0, 0]),
        "rewards": np.array([1.0, 0.0]),
        "propensities": np.array([0.5, 0.5]),
    }
    return fields | changes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"action_ids": ()}, "action_ids is empty"),
        ({"action_ids": ("a", "a")}, "duplicates"),
        ({"actions": np.array([0, 2])}, "indices"),
        ({"actions": np.array([0.5, 1.0])}, "integers"),
        ({"positions": np.array([0])}, "positions"),
        ({"positions": np.array([-1, 0])}, "0-based"),
        ({"rewards": np.array([1.0, np.nan])}, "finite"),
        ({"propensities": np.array([0.0, 0.5])}, r"\(0, 1\]"),
        ({"propensities": np.array([0.5, 1.5])}, r"\(0, 1\]"),
        ({"propensities": np.array([0.5])}, "shape"),
        ({"contexts": np.zeros((3, 2))}, "contexts"),
        ({"segments": (("x",),)}, "segments"),
        ({"segments": ("x", "y")}, "segment names"),
        ({"estimated_propensity": np.array([1, 0])}, "boolean"),
        ({"eligible": np.array([[False, True], [True, True]])}, "eligible"),
    ],
)
def test_logged_feedback_rejects_malformed_input(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoggedFeedback(**_base(**changes))


def test_logged_feedback_is_frozen_and_copies() -> None:
    actions = np.array([0, 1])
    log = LoggedFeedback(**_base(actions=actions))
    actions[0] = 1
    assert log.actions[0] == 0
    with pytest.raises(ValueError, match="read-only"):
        log.rewards[0] = 5.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda log: ips(log, np.full((2, 3), 1 / 3)), "shape"),
        (lambda log: ips(log, np.array([[0.5, 0.4], [0.5, 0.5]])), "row 0 sums to 0.9"),
        (lambda log: snips(log, np.array([[1.5, -0.5], [0.5, 0.5]])), ">= 0"),
        (lambda log: ips(log, uniform_random(log), alpha=1.0), "alpha"),
        (lambda log: ips(log, uniform_random(log), clip=0.0), "clip"),
        (lambda log: doubly_robust(log, uniform_random(log), np.zeros((2, 1))), "predictions"),
        (lambda log: evaluate(log, {}, estimators=("ips", "magic")), "estimators"),
        (lambda log: fit_reward_model(log, folds=1), "folds"),
        (lambda log: from_scores(np.zeros((2, 2)), 1.5), "epsilon"),
    ],
)
def test_estimators_reject_malformed_arguments(
    call: Callable[[LoggedFeedback], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(LoggedFeedback(**_base()))


# ------------------------------------------------------------------------------- candidates


def test_from_scores_is_epsilon_greedy() -> None:
    scores = np.array([[0.1, 0.9, 0.3], [2.0, 2.0, 1.0]])
    assert np.allclose(from_scores(scores, 0.3), [[0.1, 0.8, 0.1], [0.8, 0.1, 0.1]])
    eligible = np.array([[True, False, True], [False, True, True]])
    masked = from_scores(scores, 0.2, eligible=eligible)
    assert np.allclose(masked, [[0.1, 0.0, 0.9], [0.0, 0.9, 0.1]])


def test_uniform_random_respects_the_eligible_set() -> None:
    log = LoggedFeedback(**_base(eligible=np.array([[True, False], [True, True]])))
    assert np.allclose(uniform_random(log), [[1.0, 0.0], [0.5, 0.5]])


def test_empirical_position_policy_needs_every_position() -> None:
    log = LoggedFeedback(**_base(positions=np.array([0, 1])))
    other = LoggedFeedback(**_base())
    with pytest.raises(ValueError, match=r"position\(s\) \[2\]"):
        empirical_position_policy(log, other)


def test_extra_candidates_plug_in_by_array_or_function() -> None:
    log = logged()
    greedy = candidate_policies(
        log,
        extra_candidates={
            "model": lambda log: from_scores(log.contexts @ GAMMA, 0.1),  # type: ignore[operator]
            "always_a": np.tile([1.0, 0, 0, 0, 0], (log.n, 1)),
        },
    )
    assert list(greedy) == ["uniform_random", "static_best", "model", "always_a"]
    with pytest.raises(ValueError, match="taken"):
        candidate_policies(log, extra_candidates={"static_best": uniform_random(log)})


# ----------------------------------------------------------------------------- decision log


def decision_line(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "decision_id": "d-1",
        "timestamp": 1_700_000_000.0,
        "channel": "web",
        "placement": "home_hero",
        "position": 1,
        "action": "o-2",
        "probability": 0.8,
        "propensity_estimated": False,
        "reward": 1.0,
        "features": [0.5, 1.0],
        "segments": ["dormant_90d"],
        "eligible": ["o-1", "o-2"],
        "policy": {"name": "linucb", "version": 3},
    }
    return record | changes


def test_load_decision_log_reads_the_export_format() -> None:
    second = decision_line(
        position=2,
        action="o-3",
        probability=0.1,
        reward=0.0,
        propensity_estimated=True,
        segments=[],
        eligible=[],  # not recorded: every action counts as eligible
    )
    lines: list[bytes | str] = [orjson.dumps(decision_line()), "", orjson.dumps(second).decode()]
    log = load_decision_log(lines)
    assert log.action_ids == ("o-1", "o-2", "o-3")
    assert log.actions.tolist() == [1, 2]
    assert log.positions.tolist() == [0, 1]
    assert log.rewards.tolist() == [1.0, 0.0]
    assert log.propensities.tolist() == [0.8, 0.1]
    assert log.estimated_propensity is not None
    assert log.estimated_propensity.tolist() == [False, True]
    assert log.segments == (("dormant_90d",), ())
    assert log.contexts is not None
    assert log.contexts.tolist() == [[0.5, 1.0], [0.5, 1.0]]
    assert log.eligible is not None
    assert log.eligible.tolist() == [[True, True, False], [True, True, True]]
    assert np.allclose(uniform_random(log), [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", "line 2: not JSON"),
        (b"[1]", "line 2: expected a JSON object"),
        (orjson.dumps(decision_line(position=0)), "line 2: 'position'"),
        (orjson.dumps(decision_line(probability=0)), "line 2: 'probability'"),
        (orjson.dumps(decision_line(reward="1")), "line 2: 'reward'"),
        (orjson.dumps(decision_line(action="")), "line 2: 'action'"),
        (orjson.dumps(decision_line(features=[1.0])), "line 2: 'features' has length 1"),
        (orjson.dumps(decision_line(eligible=["o-1"])), "line 2: served action 'o-2'"),
        (orjson.dumps(decision_line(segments="x")), "line 2: 'segments'"),
    ],
)
def test_load_decision_log_names_the_bad_line(line: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_decision_log([orjson.dumps(decision_line()), line])


def test_load_decision_log_refuses_an_empty_log() -> None:
    with pytest.raises(ValueError, match="no records"):
        load_decision_log(["", "  "])


# -------------------------------------------------------------------------------------- CLI


def test_cli_evaluates_obd_with_baseline_as_json() -> None:
    from api.cli import app

    result = CliRunner().invoke(
        app,
        [
            *("evaluate", "--log", str(RANDOM_CSV), "--baseline-log", str(BTS_CSV)),
            *("--format", "json", "--no-by-segment"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["candidates"] == ["uniform_random", "static_best", "baseline_log"]
    assert report["segments"] == []
    baseline = report["overall"]["candidates"]["baseline_log"]
    assert baseline["ips"]["ci_low"] <= 0.0042 <= baseline["ips"]["ci_high"]


def test_cli_evaluates_a_decision_log_as_a_table(tmp_path: Path) -> None:
    from api.cli import app

    rng = np.random.default_rng(0)
    path = tmp_path / "decisions.jsonl"
    with open(path, "wb") as sink:
        for i in range(200):
            action = f"o-{rng.integers(1, 4)}"
            sink.write(
                orjson.dumps(
                    decision_line(
                        decision_id=f"d-{i}",
                        action=action,
                        probability=1 / 3,
                        reward=float(rng.random() < 0.3),
                        features=rng.normal(size=2).tolist(),
                        segments=["a" if i % 2 else "b"],
                        eligible=["o-1", "o-2", "o-3"],
                    )
                )
                + b"\n"
            )
    assert load_log(path).n == 200
    result = CliRunner().invoke(app, ["evaluate", "--log", str(path)])
    assert result.exit_code == 0, result.output
    for text in ("all rows: n = 200", "a: n = 100", "b: n = 100", "static_best", "snips"):
        assert text in result.stdout
