"""Policies: the fast scorer gives MABWiser's own numbers, snapshots and trainer state round-trip.

Every comparison fits a ``Trainer`` and an independent MABWiser ``MAB`` twin on the same data,
so the tests pin both the trainer's use of MABWiser and the scorer's arithmetic. Random policies
are compared on the same random stream: MABWiser's generator, copied just before it predicts.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from mabwiser.mab import MAB
from pydantic import ValidationError

from engine.learning.policies import ModelSnapshot, PolicyConfig, PolicyName, Scorer, Trainer

Floats = np.ndarray[Any, np.dtype[np.float64]]

K = 20
D = 12
ARMS = [f"o-{i}" for i in range(K)]
LEARNING: tuple[PolicyName, ...] = ("linucb", "lints", "epsilon_greedy", "softmax", "thompson")
ALL: tuple[PolicyName, ...] = (*LEARNING, "random", "rules")
CONTEXTS = 200

contexts = arrays(np.float64, D, elements=st.floats(-3.0, 3.0, allow_nan=False, width=64))


def batch(rng: np.random.Generator, n: int, arms: list[str]) -> tuple[list[str], Floats, Floats]:
    """Rewards with an arm-specific linear signal, binarised (Thompson needs 0/1)."""
    x = rng.normal(size=(n, D))
    chosen = rng.integers(0, len(arms), size=n)
    weights = np.random.default_rng(7).normal(size=(len(arms), D))
    signal = np.einsum("nd,nd->n", x, weights[chosen])
    rewards = (signal + rng.normal(size=n) > 0.5).astype(np.float64)
    return [arms[i] for i in chosen], rewards, x


def twins(config: PolicyConfig, seed: int = 1, rounds: int = 3) -> tuple[Trainer, Any]:
    """A trainer and a MABWiser twin fed identical batches (the first one fits)."""
    rng = np.random.default_rng(seed)
    trainer = Trainer(config, ARMS, D)
    mab = MAB(list(ARMS), config.learning_policy(), seed=config.seed)
    for _ in range(rounds):
        decisions, rewards, x = batch(rng, 300, ARMS[:16])  # o-16..o-19 stay untrained
        trainer.partial_fit(decisions, rewards, x)
        mab.partial_fit(np.asarray(decisions), rewards, x if config.contextual else None)
    return trainer, mab


def churn(trainer: Trainer, mab: Any) -> Scorer:
    """Arms come and go: one archived and one added in both (in the snapshot, untrained), one
    new to MABWiser only (cold for the scorer: index -1)."""
    for model in (trainer, mab):
        model.remove_arm("o-3")
        model.add_arm("o-added")
    mab.add_arm("o-new")
    return Scorer(trainer.snapshot(1))


def expectations(mab: Any, x: Floats | None) -> Floats:
    """MABWiser's single-context predict_expectations, in MABWiser's arm order."""
    found = mab.predict_expectations(None if x is None else x[np.newaxis])
    return np.array([found[arm] for arm in mab.arms])


def stream(mab: Any) -> np.random.Generator:
    """A copy of MABWiser's generator as it is now: the draws its next predict will make."""
    generator: np.random.Generator = copy.deepcopy(mab._rng.rng)
    return generator


def assert_same_ranking(got: Floats, reference: Floats) -> None:
    """Our order, read on MABWiser's scores, never goes up (ties at rounding level aside)."""
    in_our_order = reference[np.argsort(-got, kind="stable")]
    slack = 1e-9 * max(1.0, float(np.max(np.abs(reference))))
    assert np.all(np.diff(in_our_order) <= slack)


# ------------------------------------------------------------------------------ config


def test_config_defaults_and_mabwiser_twins() -> None:
    config = PolicyConfig()
    assert (config.name, config.alpha, config.l2_lambda, config.epsilon) == (
        "linucb",
        0.5,
        100,
        0.05,
    )
    assert config.contextual
    assert not config.stochastic
    linucb = PolicyConfig(alpha=0.3, l2_lambda=2.0).learning_policy()
    assert (type(linucb).__name__, linucb.alpha, linucb.l2_lambda) == ("LinUCB", 0.3, 2.0)
    greedy = PolicyConfig(name="epsilon_greedy", epsilon=0.3).learning_policy()
    assert greedy.epsilon == 0  # the engine explores in arbitration, not MABWiser
    assert type(PolicyConfig(name="rules").learning_policy()).__name__ == "Random"
    assert type(PolicyConfig(name="random").learning_policy()).__name__ == "Random"
    assert PolicyConfig(name="softmax", tau=0.5).learning_policy().tau == 0.5
    assert {n for n in ALL if PolicyConfig(name=n).stochastic} == {
        "lints",
        "thompson",
        "random",
        "softmax",
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "ucb1"},
        {"alpha": -0.1},
        {"l2_lambda": 0.0},
        {"epsilon": 1.5},
        {"tau": 0.0},
        {"seed": -1},
        {"name": "lints", "alpha": 0.0},
        {"alpha": math.inf},
        {"gamma": 1.0},
    ],
)
def test_config_rejects(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PolicyConfig.model_validate(fields)


# ------------------------------------------------------------------------------ LinUCB


@pytest.fixture(scope="module", params=[1.0, 2.0], ids=["lambda1", "lambda2"])
def linucb(request: pytest.FixtureRequest) -> tuple[Any, Scorer, np.ndarray[Any, Any]]:
    trainer, mab = twins(PolicyConfig(alpha=0.8, l2_lambda=request.param))
    scorer = churn(trainer, mab)
    arms = scorer.arm_indices(mab.arms)
    assert len(arms) == K + 1  # o-3 gone, o-added and o-new in
    assert list(arms[-2:]) == [K - 1, -1]  # o-added known (untrained), o-new cold
    return mab, scorer, arms


@settings(max_examples=150, deadline=None)
@given(x=contexts)
def test_linucb_scores_and_ranking_equal_mabwiser(
    linucb: tuple[Any, Scorer, np.ndarray[Any, Any]], x: Floats
) -> None:
    mab, scorer, arms = linucb
    reference = expectations(mab, x)
    got = scorer.score(x, arms, np.random.default_rng(0))
    np.testing.assert_allclose(got, reference, rtol=1e-9, atol=1e-12)
    assert_same_ranking(got, reference)


def test_linucb_many_contexts_and_posterior_mean(
    linucb: tuple[Any, Scorer, np.ndarray[Any, Any]],
) -> None:
    mab, scorer, arms = linucb
    rng = np.random.default_rng(11)
    xs = rng.normal(size=(CONTEXTS, D))
    batch_scores = scorer.score_batch(xs, arms)
    for x, row in zip(xs, batch_scores, strict=True):
        reference = expectations(mab, x)
        got = scorer.score(x, arms, rng)
        assert np.allclose(got, reference, rtol=1e-9, atol=1e-12)
        assert_same_ranking(got, reference)  # untrained arms tie: any order among them
        np.testing.assert_allclose(row, got, rtol=1e-12)
    # expected: the ridge regression's x . beta, without the confidence bonus
    x = xs[0]
    ridge = np.array([x @ mab._imp.arm_to_model[a].beta for a in mab.arms])
    np.testing.assert_allclose(scorer.expected(x, arms), ridge, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------ LinTS
# Exact replication of MABWiser's LinTS numbers from one seeded stream is impossible: its
# _fit_arm deep-copies each arm's model, generator included, so every arm trained since the
# last fit samples from its own copy of the generator (arms updated in the same batch from
# identical copies, hence with identical normals). The scorer samples x . b, b ~ N(beta,
# alpha^2 A^-1), directly as N(x . beta, alpha^2 x A^-1 x^T), independently per arm. So these
# tests prove the law instead: sample mean and covariance over 5,000 draws against beta . x
# and alpha^2 x A^-1 x^T read from the MABWiser twin, and MABWiser's own draws against them.

ALPHA_TS = 0.7


@pytest.fixture(scope="module")
def lints() -> tuple[Any, Scorer, np.ndarray[Any, Any]]:
    trainer, mab = twins(PolicyConfig(name="lints", alpha=ALPHA_TS, l2_lambda=2.0))
    scorer = churn(trainer, mab)
    return mab, scorer, scorer.arm_indices(mab.arms)


def posterior(mab: Any, x: Floats) -> tuple[Floats, Floats]:
    """(x . beta, alpha^2 x A^-1 x^T) per arm, from MABWiser's own arm models."""
    models = [mab._imp.arm_to_model[arm] for arm in mab.arms]
    mean = np.array([x @ m.beta for m in models])
    variance = ALPHA_TS**2 * np.array([x @ m.A_inv @ x for m in models])
    return mean, variance


def test_lints_sample_moments_match_posterior(
    lints: tuple[Any, Scorer, np.ndarray[Any, Any]],
) -> None:
    mab, scorer, arms = lints
    n = 5000
    rng = np.random.default_rng(9)
    for x in rng.normal(size=(5, D)):
        mean, variance = posterior(mab, x)  # the cold arm o-new included (MABWiser's prior)
        draws = scorer.sample(x, arms, rng, n)
        sd = np.sqrt(variance)
        assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * sd / math.sqrt(n))
        ratio = np.cov(draws, rowvar=False) / np.sqrt(np.outer(variance, variance))
        tolerance = 5 * math.sqrt(2 / (n - 1))  # sd of a sample variance ratio
        assert np.all(np.abs(np.diag(ratio) - 1) < tolerance)
        assert np.all(np.abs(ratio[np.triu_indices(len(arms), 1)]) < 5 / math.sqrt(n))
        np.testing.assert_allclose(scorer.expected(x, arms), mean, rtol=1e-9, atol=1e-12)


def test_lints_mabwiser_draws_have_the_scorer_law(
    lints: tuple[Any, Scorer, np.ndarray[Any, Any]],
) -> None:
    mab, _, _ = lints
    n = 1000
    x = np.random.default_rng(4).normal(size=D)
    mean, variance = posterior(mab, x)
    draws = np.stack([expectations(mab, x) for _ in range(n)])
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * np.sqrt(variance / n))
    assert np.all(np.abs(draws.var(axis=0, ddof=1) / variance - 1) < 5 * math.sqrt(2 / (n - 1)))


def test_lints_ranks_like_linucb_when_draws_are_zero(
    lints: tuple[Any, Scorer, np.ndarray[Any, Any]],
) -> None:
    # The sampler's location and scale are LinUCB's terms, which equal MABWiser's (above):
    # score = mean + alpha * width * z, so z = 0 gives the mean and z = 1 LinUCB's bound.
    mab, scorer, arms = lints
    x = np.random.default_rng(6).normal(size=D)
    mean, variance = posterior(mab, x)

    class Constant:
        def __init__(self, value: float) -> None:
            self.value = value

        def standard_normal(self, size: int) -> Floats:
            return np.full(size, self.value)

    zero: Any = Constant(0.0)
    one: Any = Constant(1.0)
    np.testing.assert_allclose(scorer.score(x, arms, zero), mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        scorer.score(x, arms, one), mean + np.sqrt(variance), rtol=1e-9, atol=1e-12
    )


# ------------------------------------------------------------------------------ context-free


@pytest.mark.parametrize("name", ["epsilon_greedy", "softmax", "thompson", "random"])
def test_context_free_equal_mabwiser_on_same_stream(name: PolicyName) -> None:
    trainer, mab = twins(PolicyConfig(name=name, tau=0.2, seed=4))
    mab.add_arm("o-new2")  # two cold arms: softmax renormalises over both
    scorer = churn(trainer, mab)
    arms = scorer.arm_indices(mab.arms)
    assert list(arms[-3:]) == [-1, K - 1, -1]  # o-new2 cold, o-added known, o-new cold
    x = np.zeros(D)
    for _ in range(CONTEXTS):
        got = scorer.score(x, arms, stream(mab))  # epsilon-greedy draws nothing
        reference = expectations(mab, None)
        assert np.allclose(got, reference, rtol=1e-9, atol=1e-12), name
        assert_same_ranking(got, reference)


def test_context_free_expected_is_posterior_mean() -> None:
    for name in ("epsilon_greedy", "softmax", "thompson"):
        trainer, _ = twins(PolicyConfig(name=name))
        scorer = Scorer(trainer.snapshot(1))
        arms = scorer.arm_indices([*ARMS, "cold"])
        snap = scorer.snapshot
        if name == "thompson":
            s, f = snap.arrays["success"], snap.arrays["failure"]
            expected = np.append(s / (s + f), 0.5)
        else:
            expected = np.append(snap.arrays["mean"], 0.0)
        np.testing.assert_array_equal(scorer.expected(np.zeros(D), arms), expected)


def test_softmax_subset_has_mabwiser_marginals() -> None:
    # Scoring 5 of 20 arms draws those arms plus one aggregate: their mean must still be the
    # softmax probability MABWiser gives each arm among all 20.
    trainer, mab = twins(PolicyConfig(name="softmax", tau=0.1))
    scorer = Scorer(trainer.snapshot(1))
    subset = scorer.arm_indices(["o-0", "o-5", "o-9", "o-17", "o-12"])
    probabilities = np.array([mab._imp.arm_to_expectation[ARMS[i]] for i in subset])
    n = 4000
    draws = scorer.score_batch(np.zeros((n, D)), subset, np.random.default_rng(2))
    sd = np.sqrt(probabilities * (1 - probabilities) / 2.0 / n)  # Dirichlet, alpha_0 ~ 1
    assert np.all(np.abs(draws.mean(axis=0) - probabilities) < 5 * sd + 1e-12)
    assert np.all(draws.sum(axis=1) <= 1 + 1e-12)


@pytest.mark.parametrize("name", ALL)
def test_sample_is_repeated_score(name: PolicyName) -> None:
    trainer, _ = twins(PolicyConfig(name=name), rounds=1)
    scorer = Scorer(trainer.snapshot(1))
    arms = scorer.arm_indices(["o-2", "o-7", "cold", "o-0", "o-19"])
    x = np.random.default_rng(4).normal(size=D)
    together = scorer.sample(x, arms, np.random.default_rng(8), 50)
    one_by_one = np.random.default_rng(8)
    rows = np.stack([scorer.score(x, arms, one_by_one) for _ in range(50)])
    np.testing.assert_allclose(together, rows, rtol=1e-12, atol=1e-15)
    assert scorer.sample(x, arms, one_by_one, 0).shape == (0, 5)


@pytest.mark.parametrize("name", ["lints", "thompson", "softmax", "random"])
def test_score_batch_is_row_by_row(name: PolicyName) -> None:
    trainer, _ = twins(PolicyConfig(name=name), rounds=1)
    scorer = Scorer(trainer.snapshot(1))
    arms = scorer.arm_indices(["o-2", "o-7", "cold", "o-0", "o-19"])
    xs = np.random.default_rng(4).normal(size=(30, D))
    together = scorer.score_batch(xs, arms, np.random.default_rng(8))
    one_by_one = np.random.default_rng(8)
    rows = np.stack([scorer.score(x, arms, one_by_one) for x in xs])
    np.testing.assert_allclose(together, rows, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="rng"):
        scorer.score_batch(xs, arms)


# ------------------------------------------------------------------------------ prior


@pytest.mark.parametrize("name", ALL)
def test_untrained_snapshot_scores_the_prior(name: PolicyName) -> None:
    config = PolicyConfig(name=name, alpha=0.5, l2_lambda=2.0)
    empty = Scorer(Trainer(config, [], D).snapshot(0))
    known = Scorer(Trainer(config, ["a", "b"], D).snapshot(0))
    x = np.random.default_rng(1).normal(size=D)
    cold = empty.arm_indices(["a", "b"])
    assert list(cold) == [-1, -1]
    assert list(known.arm_indices(["a", "b"])) == [0, 1]
    scores = empty.score(x, cold, np.random.default_rng(0))
    assert scores.shape == (2,)
    assert np.all(np.isfinite(scores))
    # a cold offer scores as an added-but-untrained arm (same draws for sampling policies)
    np.testing.assert_allclose(
        known.score(x, np.arange(2), np.random.default_rng(0)), scores, rtol=1e-12
    )
    if name == "linucb":  # MABWiser's fresh arm: beta = 0, A^-1 = l2_lambda * I
        bonus = 0.5 * math.sqrt(2.0) * np.linalg.norm(x)
        np.testing.assert_allclose(scores, [bonus, bonus], rtol=1e-12)
    prior_mean = 0.5 if name == "thompson" else 0.0
    np.testing.assert_array_equal(empty.expected(x, cold), [prior_mean, prior_mean])
    assert empty.score(x, np.zeros(0, dtype=np.int64), np.random.default_rng(0)).shape == (0,)


def test_cold_linucb_arm_matches_mabwiser_fresh_arm() -> None:
    trainer, mab = twins(PolicyConfig(alpha=1.3, l2_lambda=0.5), rounds=1)
    mab.add_arm("fresh")
    scorer = Scorer(trainer.snapshot(1))
    x = np.random.default_rng(2).normal(size=D)
    assert scorer.score(x, np.array([-1]), np.random.default_rng(0))[0] == pytest.approx(
        mab.predict_expectations(x[np.newaxis])["fresh"], rel=1e-12
    )


# ------------------------------------------------------------------------------ trainer


@pytest.mark.parametrize("name", ALL)
def test_trainer_restart_is_exact(name: PolicyName) -> None:
    trainer, _ = twins(PolicyConfig(name=name, seed=3), rounds=2)
    restored = Trainer.loads(trainer.dumps())
    assert restored.snapshot(2) == trainer.snapshot(2)
    assert (restored.config, restored.n_features, restored.arms) == (
        trainer.config,
        trainer.n_features,
        trainer.arms,
    )
    decisions, rewards, x = batch(np.random.default_rng(5), 200, [*ARMS, "o-late"])
    for t in (trainer, restored):
        t.partial_fit(decisions, rewards, x)
    after = trainer.snapshot(3)
    assert restored.snapshot(3) == after
    assert "o-late" in after.arms  # joined on its first reward, without retraining


@pytest.mark.parametrize("name", ALL)
def test_exposure_then_added_reward_learns_what_the_reward_would(name: PolicyName) -> None:
    """Learning a served offer as 0 and adding its reward later ends in MABWiser's own state."""
    rng = np.random.default_rng(11)
    warm, (decisions, rewards, x) = batch(rng, 150, ARMS), batch(rng, 300, ARMS)
    direct = Trainer(PolicyConfig(name=name, seed=2), ARMS, D)
    direct.partial_fit(*warm)
    direct.partial_fit(decisions, rewards, x)
    two_step = Trainer(PolicyConfig(name=name, seed=2), ARMS, D)
    two_step.partial_fit(*warm)
    two_step.partial_fit(decisions, np.zeros(len(decisions)), x)  # served: shown, 0 so far
    clicked = np.flatnonzero(rewards)
    rng.shuffle(clicked)  # rewards come back in any order, in several batches
    for part in np.array_split(clicked, 3):
        two_step.add_rewards([decisions[i] for i in part], rewards[part], x[part])
    want, got = direct.snapshot(1), two_step.snapshot(1)
    assert got.arms == want.arms
    assert got.arrays.keys() == want.arrays.keys()
    for key, value in want.arrays.items():
        np.testing.assert_allclose(got.arrays[key], value, rtol=1e-9, atol=1e-12, err_msg=key)
    if name == "linucb":  # and the scorer ranks like MABWiser's own predict on that state
        scorer, arms = Scorer(got), np.arange(len(got.arms))
        for row in x[:20]:
            reference = expectations(two_step._mab, row)
            assert_same_ranking(scorer.score(row, arms, np.random.default_rng(0)), reference)


def test_added_rewards_need_a_known_arm_and_valid_input() -> None:
    trainer = Trainer(PolicyConfig(), ARMS, D)
    with pytest.raises(ValueError, match="no exposure"):
        trainer.add_rewards(["o-new"], np.ones(1), np.ones((1, D)))
    with pytest.raises(ValueError, match="finite"):
        trainer.add_rewards(["o-1"], np.array([np.nan]), np.ones((1, D)))
    thompson = Trainer(PolicyConfig(name="thompson"), ARMS, D)
    with pytest.raises(ValueError, match="binary"):
        thompson.add_rewards(["o-1"], np.array([0.5]), None)


def test_trainer_first_batch_fits_later_batches_accumulate() -> None:
    rng = np.random.default_rng(3)
    first, second = batch(rng, 100, ARMS), batch(rng, 100, ARMS)
    stepwise = Trainer(PolicyConfig(), ARMS, D)
    stepwise.partial_fit(*first)
    stepwise.partial_fit(*second)
    at_once = Trainer(PolicyConfig(), ARMS, D)
    at_once.partial_fit(
        first[0] + second[0],
        np.concatenate([first[1], second[1]]),
        np.vstack([first[2], second[2]]),
    )
    a, b = stepwise.snapshot(1), at_once.snapshot(1)
    np.testing.assert_allclose(a.arrays["beta"], b.arrays["beta"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.arrays["a_inv"], b.arrays["a_inv"], rtol=1e-9, atol=1e-12)
    assert np.array_equal(a.arrays["trained"], b.arrays["trained"])


def test_trainer_arms_join_and_leave() -> None:
    trainer = Trainer(PolicyConfig(name="softmax"), ["a"], D)
    trainer.add_arm("b")
    assert trainer.arms == ("a", "b")
    with pytest.raises(ValueError, match="already known"):
        trainer.add_arm("a")
    trainer.remove_arm("a")
    trainer.remove_arm("b")  # MABWiser's softmax cannot drop its last arm; the trainer can
    assert len(trainer.arms) == 0
    with pytest.raises(ValueError, match="not known"):
        trainer.remove_arm("b")
    trainer.partial_fit(["c", "c", "d"], np.array([1.0, 0.0, 1.0]), None)
    snapshot = trainer.snapshot(1)
    assert snapshot.arms == ("c", "d")
    np.testing.assert_array_equal(snapshot.arrays["mean"], [0.5, 1.0])


@pytest.mark.parametrize(
    ("name", "arms", "rewards", "x", "message"),
    [
        ("linucb", ["a"], [1.0], None, "needs contexts"),
        ("linucb", ["a"], [1.0], np.zeros((1, D + 1)), "contexts must have shape"),
        ("linucb", ["a"], [math.nan], np.zeros((1, D)), "finite"),
        ("lints", ["a"], [1.0], np.full((1, D), math.inf), "finite"),
        ("linucb", ["a", "b"], [1.0], np.zeros((2, D)), "rewards must have shape"),
        ("thompson", ["a"], [0.5], None, "binary"),
    ],
)
def test_trainer_rejects_bad_batches(
    name: PolicyName, arms: list[str], rewards: list[float], x: Floats | None, message: str
) -> None:
    trainer = Trainer(PolicyConfig(name=name), [], D)
    with pytest.raises(ValueError, match=message):
        trainer.partial_fit(arms, np.array(rewards), x)
    assert trainer.arms == ()  # nothing half-applied


def test_trainer_rejects_bad_construction() -> None:
    with pytest.raises(ValueError, match="distinct"):
        Trainer(PolicyConfig(), ["a", "a"], D)
    with pytest.raises(ValueError, match="n_features"):
        Trainer(PolicyConfig(), ["a"], 0)
    with pytest.raises(ValueError, match="not a trainer state"):
        Trainer.loads(b"\x80\x05N.")  # pickle of None


# ------------------------------------------------------------------------------ snapshot


@pytest.mark.parametrize("name", ALL)
def test_snapshot_bytes_round_trip(name: PolicyName) -> None:
    trainer, _ = twins(PolicyConfig(name=name, alpha=0.4, seed=2), rounds=1)
    snapshot = trainer.snapshot(7)
    data = snapshot.to_bytes()
    again = ModelSnapshot.from_bytes(data)
    assert again == snapshot
    assert again.to_bytes() == data
    assert (again.version, again.arms, again.policy) == (7, tuple(ARMS), snapshot.policy)
    for array in again.arrays.values():
        assert not array.flags.writeable
    x = np.random.default_rng(0).normal(size=D)
    arms = np.arange(K)
    np.testing.assert_array_equal(
        Scorer(again).score(x, arms, np.random.default_rng(1)),
        Scorer(snapshot).score(x, arms, np.random.default_rng(1)),
    )


@settings(max_examples=40, deadline=None)
@given(
    arms=st.lists(st.text(min_size=1, max_size=12), max_size=6, unique=True),
    n_features=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
)
def test_snapshot_round_trip_any_ids(arms: list[str], n_features: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = len(arms)
    snapshot = ModelSnapshot(
        policy=PolicyConfig(name="lints"),
        version=seed,
        arms=tuple(arms),
        n_features=n_features,
        arrays={
            "trained": rng.random(k) < 0.5,
            "beta": rng.normal(size=(k, n_features)),
            "a_inv": rng.normal(size=(k, n_features, n_features)),
        },
    )
    assert ModelSnapshot.from_bytes(snapshot.to_bytes()) == snapshot


def test_snapshot_rejects_inconsistent_content() -> None:
    good = Trainer(PolicyConfig(), ["a", "b"], 3).snapshot(0)
    arrays = dict(good.arrays)
    with pytest.raises(ValueError, match="shape"):
        ModelSnapshot(good.policy, 0, ("a", "b"), 4, arrays)
    with pytest.raises(ValueError, match="arrays must be"):
        ModelSnapshot(good.policy, 0, ("a", "b"), 3, {"trained": arrays["trained"]})
    with pytest.raises(ValueError, match="distinct"):
        ModelSnapshot(good.policy, 0, ("a", "a"), 3, arrays)
    with pytest.raises(ValueError, match="finite"):
        ModelSnapshot(good.policy, 0, ("a", "b"), 3, {**arrays, "beta": np.full((2, 3), np.nan)})
    data = good.to_bytes()
    for broken in (b"", b"garbage-garbage", data[:20], data[:-10], b"X" + data[1:]):
        with pytest.raises(ValueError, match="snapshot"):
            ModelSnapshot.from_bytes(broken)


# ------------------------------------------------------------------------------ scorer


def test_scorer_is_read_only_and_validates_x() -> None:
    trainer, _ = twins(PolicyConfig(), rounds=1)
    scorer = Scorer(trainer.snapshot(1))
    with pytest.raises(ValueError, match="read-only"):
        scorer.snapshot.arrays["beta"][0, 0] = 1.0
    with pytest.raises(ValueError, match="x must have shape"):
        scorer.score(np.zeros(D + 1), np.arange(3), np.random.default_rng(0))
    with pytest.raises(ValueError, match="contexts must have shape"):
        scorer.score_batch(np.zeros(D), np.arange(3))
    before = scorer.snapshot.to_bytes()
    x = np.ones(D)
    for _ in range(3):
        scorer.score(x, scorer.arm_indices(["o-1", "nope"]), np.random.default_rng(0))
    assert scorer.snapshot.to_bytes() == before
    assert scorer.arm_indices([]).shape == (0,)


@pytest.mark.parametrize("name", ALL)
def test_stochastic_flag(name: PolicyName) -> None:
    scorer = Scorer(Trainer(PolicyConfig(name=name), ["a"], D).snapshot(0))
    assert scorer.stochastic == (name in {"lints", "thompson", "random", "softmax"})
