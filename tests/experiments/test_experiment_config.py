"""Experiment configuration: invalid documents name their field; the lifecycle holds."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest

from experiments import (
    BanditTreatment,
    Experiment,
    ExperimentConflict,
    ExperimentError,
    ExperimentInvalid,
    HoldoutTreatment,
    StaticTreatment,
    assign,
    check_siblings,
    parse_experiment,
    transition,
)
from experiments.config import BANDIT_POLICIES, CHANNELS
from experiments.errors import CodedError

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=7)
T2 = T0 + timedelta(days=14)


def doc(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Personalisation vs rules",
        "hypothesis": "The bandit lifts conversion over our rules for dormant customers.",
        "channels": ["web", "mobile_app"],
        "segments": ["dormant_90d"],
        "traffic": 0.8,
        "variants": [
            {"id": "rules", "weight": 0.25, "treatment": {"policy": "rules"}},
            {
                "id": "bandit",
                "weight": 0.25,
                "treatment": {"policy": "bandit", "name": "linucb", "alpha": 0.5},
            },
            {"id": "hero", "weight": 0.25, "treatment": {"policy": "static", "offer_id": "o-3"}},
            {"id": "holdout", "weight": 0.25, "treatment": {"policy": "holdout"}},
        ],
        "primary_metric": "conversion_rate",
        "secondary_metrics": ["revenue_per_unit", "activity:purchase"],
        "guardrail_metrics": ["activity:support_contact"],
        "minimum_detectable_effect": 0.05,
    }
    base.update(overrides)
    return base


def experiment(**overrides: Any) -> Experiment:
    return parse_experiment(doc(**overrides))


# --- parsing ---------------------------------------------------------------------------------


def test_a_full_document_parses() -> None:
    exp = experiment()
    assert exp.status == "draft"
    assert exp.control == "rules"  # defaults to the first variant
    assert exp.control_variant.id == "rules"
    assert exp.phase == 1
    assert exp.analysis == "frequentist"
    assert exp.alpha == 0.05
    assert isinstance(exp.variants[1].treatment, BanditTreatment)
    assert exp.variants[1].treatment.alpha == 0.5
    assert isinstance(exp.variants[2].treatment, StaticTreatment)
    assert isinstance(exp.variants[3].treatment, HoldoutTreatment)
    assert parse_experiment(json.dumps(doc())) == exp
    assert parse_experiment(json.dumps(doc()).encode()) == exp
    # round trip: what the engine stores reads back the same
    assert parse_experiment(exp.model_dump_json()) == exp


def test_explicit_control_and_minimal_document() -> None:
    exp = parse_experiment(
        {
            "name": "x",
            "variants": [
                {"id": "a", "weight": 0.5, "treatment": {"policy": "random"}},
                {"id": "b", "weight": 0.5, "treatment": {"policy": "holdout"}},
            ],
            "control": "b",
        }
    )
    assert exp.control == "b"
    assert exp.channels == []  # every channel
    assert exp.segments == []  # everyone
    assert exp.traffic == 1.0


def test_weights_sum_to_one_within_tolerance() -> None:
    thirds = [
        {"id": f"v{i}", "weight": w, "treatment": {"policy": "random"}}
        for i, w in enumerate([0.1, 0.2, 0.7])  # 0.1 + 0.2 is not 0.3 in binary
    ]
    assert parse_experiment(doc(variants=thirds)).variants[2].weight == 0.7
    thirds[2]["weight"] = 0.7 + 5e-10
    parse_experiment(doc(variants=thirds))
    thirds[2]["weight"] = 0.7 + 2e-9
    with pytest.raises(ExperimentInvalid) as info:
        parse_experiment(doc(variants=thirds))
    assert info.value.field == "variants"


def set_path(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting a dotted path (``variants.1.weight``) of the document."""

    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = d
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = d
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        del target[last]

    return mutate


def both(*mutations: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        for m in mutations:
            m(d)

    return mutate


Mutation = Callable[[dict[str, Any]], None]


def second_metric_wrong(case: str, key: str, first: str, second: str) -> tuple[str, Mutation, str]:
    """A case whose metric list ``key`` is ``[first, second]`` and is refused at ``second``."""
    return (case, set_path(key, [first, second]), f"{key}[1]")


INVALID: list[tuple[str, Mutation, str]] = [
    ("no name", drop("name"), "name"),
    ("empty name", set_path("name", ""), "name"),
    ("unknown field", set_path("owner", "me"), "owner"),
    ("unknown status", set_path("status", "archived"), "status"),
    ("unknown channel", set_path("channels", ["web", "fax"]), "channels[1]"),
    ("duplicate channel", set_path("channels", ["web", "email", "web"]), "channels[2]"),
    ("bad segment id", set_path("segments", ["ok", "not ok"]), "segments[1]"),
    ("duplicate segment", set_path("segments", ["a", "a"]), "segments[1]"),
    ("traffic 0", set_path("traffic", 0), "traffic"),
    ("traffic above 1", set_path("traffic", 1.5), "traffic"),
    ("traffic NaN", set_path("traffic", float("nan")), "traffic"),
    ("salt with a colon", set_path("salt", "exp:1"), "salt"),
    ("layer without id", set_path("layer", {"start": 0.0, "end": 0.5}), "layer.id"),
    ("layer range reversed", set_path("layer", {"id": "L", "start": 0.6, "end": 0.4}), "layer.end"),
    ("layer range empty", set_path("layer", {"id": "L", "start": 0.5, "end": 0.5}), "layer.end"),
    ("layer start 1", set_path("layer", {"id": "L", "start": 1.0, "end": 1.0}), "layer.start"),
    ("no variants", drop("variants"), "variants"),
    ("one variant", set_path("variants", [doc()["variants"][0]]), "variants"),
    ("variant without id", drop("variants.2.id"), "variants[2].id"),
    ("variant id with space", set_path("variants.1.id", "my variant"), "variants[1].id"),
    ("duplicate variant id", set_path("variants.3.id", "bandit"), "variants[3].id"),
    ("weight 0", set_path("variants.1.weight", 0), "variants[1].weight"),
    ("negative weight", set_path("variants.1.weight", -0.25), "variants[1].weight"),
    ("weights sum below 1", set_path("variants.1.weight", 0.2), "variants"),
    ("weights sum above 1", set_path("variants.0.weight", 0.5), "variants"),
    ("no treatment", drop("variants.0.treatment"), "variants[0].treatment"),
    ("no policy", drop("variants.0.treatment.policy"), "variants[0].treatment.policy"),
    (
        "unknown policy",
        set_path("variants.0.treatment.policy", "magic"),
        "variants[0].treatment.policy",
    ),
    (
        "static without offer",
        drop("variants.2.treatment.offer_id"),
        "variants[2].treatment.offer_id",
    ),
    (
        "static with bad offer id",
        set_path("variants.2.treatment.offer_id", ""),
        "variants[2].treatment.offer_id",
    ),
    (
        "holdout with an offer",
        set_path("variants.3.treatment.offer_id", "o-1"),
        "variants[3].treatment.offer_id",
    ),
    (
        "unknown bandit",
        set_path("variants.1.treatment.name", "ucb9"),
        "variants[1].treatment.name",
    ),
    (
        "bandit epsilon above 1",
        set_path("variants.1.treatment.epsilon", 1.5),
        "variants[1].treatment.epsilon",
    ),
    (
        "lints without exploration",
        both(
            set_path("variants.1.treatment.name", "lints"),
            set_path("variants.1.treatment.alpha", 0),
        ),
        "variants[1].treatment.alpha",
    ),
    (
        "bandit setting on rules",
        set_path("variants.0.treatment.alpha", 1.0),
        "variants[0].treatment.alpha",
    ),
    ("control not a variant", set_path("control", "treatment"), "control"),
    ("bad control id", set_path("control", "a b"), "control"),
    ("unknown primary metric", set_path("primary_metric", "happiness"), "primary_metric"),
    ("activity metric without type", set_path("primary_metric", "activity:"), "primary_metric"),
    second_metric_wrong("unknown secondary metric", "secondary_metrics", "click_rate", "ctr"),
    second_metric_wrong(
        "duplicate secondary metric", "secondary_metrics", "click_rate", "click_rate"
    ),
    second_metric_wrong(
        "primary repeated as secondary", "secondary_metrics", "click_rate", "conversion_rate"
    ),
    second_metric_wrong(
        "duplicate guardrail", "guardrail_metrics", "activity:call", "activity:call"
    ),
    ("MDE 0", set_path("minimum_detectable_effect", 0), "minimum_detectable_effect"),
    ("alpha 0", set_path("alpha", 0), "alpha"),
    ("alpha 0.5", set_path("alpha", 0.5), "alpha"),
    ("unknown analysis", set_path("analysis", "vibes"), "analysis"),
    ("phase 0", set_path("phase", 0), "phase"),
    ("naive started_at", set_path("started_at", "2026-11-01T09:00:00"), "started_at"),
    (
        "started draft",
        set_path("started_at", "2026-11-01T09:00:00Z"),
        "started_at",
    ),
    (
        "stop time while running",
        both(set_path("status", "running"), set_path("stopped_at", "2026-11-01T09:00:00Z")),
        "stopped_at",
    ),
    (
        "stopped before started",
        both(
            set_path("status", "stopped"),
            set_path("started_at", "2026-11-02T00:00:00Z"),
            set_path("stopped_at", "2026-11-01T00:00:00Z"),
        ),
        "stopped_at",
    ),
]


@pytest.mark.parametrize(
    ("mutation", "field"), [(m, f) for _, m, f in INVALID], ids=[name for name, _, _ in INVALID]
)
def test_invalid_documents_name_their_field(
    mutation: Callable[[dict[str, Any]], None], field: str
) -> None:
    d = copy.deepcopy(doc())
    mutation(d)
    with pytest.raises(ExperimentInvalid) as info:
        parse_experiment(d)
    assert info.value.field == field, info.value.message
    assert info.value.message.startswith(f"{field}: ")
    assert info.value.code == "validation_error"


def test_malformed_json_and_non_objects() -> None:
    with pytest.raises(ExperimentInvalid) as info:
        parse_experiment(b'{"name": ')
    assert info.value.field is None
    assert info.value.message.startswith("Invalid JSON")
    with pytest.raises(ExperimentInvalid) as info:
        parse_experiment("[1, 2]")
    assert info.value.field is None


def test_every_activity_type_is_a_metric() -> None:
    from engine.domain.profiles import ACTIVITY_TYPES

    metrics = [f"activity:{t}" for t in ACTIVITY_TYPES]
    exp = experiment(secondary_metrics=metrics, guardrail_metrics=metrics)
    assert exp.secondary_metrics == metrics


def test_vocabularies_match_the_engine() -> None:
    """experiments may not import the engine, so its copies are checked here instead."""
    from engine.domain.channels import CHANNELS as ENGINE_CHANNELS
    from engine.learning.policies import PolicyConfig, PolicyName

    assert CHANNELS == ENGINE_CHANNELS
    assert set(BANDIT_POLICIES) == set(get_args(PolicyName)) - {"random", "rules"}
    # every bandit setting is one the engine's PolicyConfig takes, for every policy name
    for name in BANDIT_POLICIES:
        settings = BanditTreatment.model_validate({"policy": "bandit", "name": name}).model_dump(
            exclude={"policy"}
        )
        assert PolicyConfig(**settings).name == name


def test_package_imports_nothing_from_engine_or_api() -> None:
    """Dependency direction api -> engine -> experiments, checked in the source and at import."""
    for path in (ROOT / "experiments").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"engine", "api"}, f"{path}: imports {name}"
    probe = (
        "import sys, experiments, experiments.config, experiments.assignment\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('engine', 'api'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=ROOT, timeout=60)


def test_errors_are_the_packages_own() -> None:
    assert issubclass(ExperimentInvalid, ExperimentError)
    assert issubclass(ExperimentConflict, ExperimentError)
    assert ExperimentConflict("x", field="salt").code == "conflict"
    # the one base above the package's tree is its own too, not the engine's
    assert ExperimentError.__mro__[1:] == (CodedError, Exception, BaseException, object)


# --- lifecycle -------------------------------------------------------------------------------


def weights(*values: float) -> dict[str, Any]:
    variants = copy.deepcopy(doc()["variants"])
    for variant, value in zip(variants, values, strict=True):
        variant["weight"] = value
    return {"variants": variants}


def treatment(index: int, **changes: Any) -> dict[str, Any]:
    variants = copy.deepcopy(doc()["variants"])
    variants[index]["treatment"] = {**variants[index]["treatment"], **changes}
    return {"variants": variants}


def state(status: str, phase: int = 1, **overrides: Any) -> Experiment:
    """A stored experiment: started (and stopped) when its status says so."""
    extra: dict[str, Any] = {"status": status, "phase": phase}
    if status != "draft":
        extra["started_at"] = T0.isoformat()
    if status == "stopped":
        extra["stopped_at"] = T1.isoformat()
    extra["salt"] = "exp-1"
    return experiment(**{**extra, **overrides})


def body(status: str, phase: int = 1, **overrides: Any) -> Experiment:
    """What a marketer PUTs: no salt, no timestamps."""
    return experiment(status=status, phase=phase, **overrides)


ALLOWED: list[tuple[str, Experiment | None, Experiment]] = [
    ("create draft", None, body("draft")),
    ("create running", None, body("running")),
    (
        "edit draft freely",
        state("draft"),
        body("draft", **weights(0.4, 0.2, 0.2, 0.2), traffic=0.1),
    ),
    ("start", state("draft"), body("running")),
    ("start with edits", state("draft"), body("running", **weights(0.7, 0.1, 0.1, 0.1))),
    ("abandon a draft", state("draft"), body("stopped")),
    ("pause", state("running"), body("paused")),
    ("resume", state("paused"), body("running")),
    ("stop", state("running"), body("stopped")),
    ("stop when paused", state("paused"), body("stopped")),
    (
        "cosmetic edits while running",
        state("running"),
        body(
            "running",
            name="Renamed",
            hypothesis="sharper",
            secondary_metrics=["click_rate"],
            guardrail_metrics=[],
            minimum_detectable_effect=0.02,
        ),
    ),
    (
        "channel order is not a change",
        state("running"),
        body("running", channels=["mobile_app", "web"]),
    ),
    (
        "new phase changes weights",
        state("running"),
        body("running", 2, **weights(0.1, 0.3, 0.3, 0.3)),
    ),
    ("new phase while resuming", state("paused"), body("running", 2, traffic=1.0, segments=[])),
    ("new phase stays paused", state("paused"), body("paused", 2, salt="exp-1b")),
    ("new phase changes the plan", state("running", 3), body("running", 4, analysis="sequential")),
    (
        "annotate a stopped experiment",
        state("stopped"),
        body("stopped", name="Concluded: bandit wins"),
    ),
]


@pytest.mark.parametrize(
    ("current", "new"), [(c, n) for _, c, n in ALLOWED], ids=[name for name, _, _ in ALLOWED]
)
def test_allowed_transitions(current: Experiment | None, new: Experiment) -> None:
    stored = transition(current, new, experiment_id="exp-1", now=T2)
    assert stored.status == new.status
    assert stored.variants == new.variants
    assert stored.phase == new.phase
    assert stored.salt == (new.salt or "exp-1")


FORBIDDEN: list[tuple[str, Experiment | None, Experiment, str]] = [
    ("create paused", None, body("paused"), "status"),
    ("create stopped", None, body("stopped"), "status"),
    ("create at phase 2", None, body("draft", 2), "phase"),
    ("pause a draft", state("draft"), body("paused"), "status"),
    ("draft skips a phase", state("draft"), body("draft", 2), "phase"),
    ("back to draft", state("running"), body("draft"), "status"),
    ("paused back to draft", state("paused"), body("draft"), "status"),
    ("restart a stopped experiment", state("stopped"), body("running"), "status"),
    ("stopped to draft", state("stopped"), body("draft"), "status"),
    *(
        (f"weights {when}", state(stored), body(sent, **weights(*shares)), "variants[0].weight")
        for when, stored, sent, shares in [
            ("while running", "running", "running", (0.4, 0.2, 0.2, 0.2)),
            ("when resuming", "paused", "running", (0.1, 0.3, 0.3, 0.3)),
            ("while pausing", "running", "paused", (0.1, 0.3, 0.3, 0.3)),
            ("when stopping", "running", "stopped", (0.1, 0.3, 0.3, 0.3)),
        ]
    ),
    (
        "bandit settings",
        state("running"),
        body("running", **treatment(1, alpha=2.0)),
        "variants[1].treatment.alpha",
    ),
    (
        "bandit policy",
        state("running"),
        body("running", **treatment(1, name="thompson")),
        "variants[1].treatment.name",
    ),
    (
        "static offer",
        state("paused"),
        body("running", **treatment(2, offer_id="o-9")),
        "variants[2].treatment.offer_id",
    ),
    (
        "treatment kind",
        state("running"),
        body(
            "running",
            variants=[
                *doc()["variants"][:3],
                {**doc()["variants"][3], "treatment": {"policy": "random"}},
            ],
        ),
        "variants[3].treatment.policy",
    ),
    (
        "variant renamed",
        state("running"),
        body(
            "running",
            variants=[{**doc()["variants"][0], "id": "baseline"}, *doc()["variants"][1:]],
        ),
        "variants",
    ),
    (
        "variant removed",
        state("running"),
        body("running", variants=[{**v, "weight": 1 / 3} for v in doc()["variants"][:3]]),
        "variants",
    ),
    ("control", state("running"), body("running", control="bandit"), "control"),
    ("traffic", state("running"), body("running", traffic=1.0), "traffic"),
    ("channels", state("running"), body("running", channels=["web"]), "channels"),
    ("all channels", state("running"), body("running", channels=[]), "channels"),
    ("segments", state("running"), body("running", segments=["vip"]), "segments"),
    ("layer added", state("running"), body("running", layer={"id": "home", "end": 0.5}), "layer"),
    (
        "layer range",
        state("running", layer={"id": "home", "end": 0.5}),
        body("running", layer={"id": "home", "end": 0.6}),
        "layer.end",
    ),
    ("salt", state("running"), body("running", salt="exp-2"), "salt"),
    (
        "primary metric",
        state("running"),
        body("running", primary_metric="click_rate"),
        "primary_metric",
    ),
    ("alpha", state("running"), body("running", alpha=0.1), "alpha"),
    ("analysis engine", state("paused"), body("running", analysis="bayesian"), "analysis"),
    ("start time", state("running"), body("running", started_at=T1.isoformat()), "started_at"),
    ("skip a phase", state("running"), body("running", 3), "phase"),
    ("go back a phase", state("running", 2), body("running", 1), "phase"),
    ("new phase when stopping", state("running"), body("stopped", 2), "phase"),
    ("new phase of a stopped experiment", state("stopped"), body("stopped", 2), "phase"),
    ("edit a stopped design", state("stopped"), body("stopped", traffic=0.5), "traffic"),
    (
        "move the stop time",
        state("stopped"),
        body("stopped", started_at=T0.isoformat(), stopped_at=T2.isoformat()),
        "stopped_at",
    ),
]


@pytest.mark.parametrize(
    ("current", "new", "field"),
    [(c, n, f) for _, c, n, f in FORBIDDEN],
    ids=[name for name, _, _, _ in FORBIDDEN],
)
def test_forbidden_transitions(current: Experiment | None, new: Experiment, field: str) -> None:
    with pytest.raises(ExperimentConflict) as info:
        transition(current, new, experiment_id="exp-1", now=T2)
    assert info.value.field == field, info.value.message
    assert info.value.message.startswith(f"{field}: ")
    assert info.value.code == "conflict"


def test_frozen_message_points_to_a_new_phase() -> None:
    with pytest.raises(ExperimentConflict, match="start phase 2"):
        transition(state("running"), body("running", traffic=0.3), experiment_id="exp-1")


def test_transition_stamps_and_carries_server_fields() -> None:
    created = transition(None, body("draft"), experiment_id="exp-1", now=T0)
    assert created.salt == "exp-1"
    assert created.started_at is None
    started = transition(created, body("running"), experiment_id="exp-1", now=T0)
    assert started.started_at == T0
    assert started.salt == "exp-1"
    # a later PUT without salt or timestamps keeps them
    renamed = transition(started, body("running", name="n2"), experiment_id="exp-1", now=T1)
    assert (renamed.started_at, renamed.salt, renamed.name) == (T0, "exp-1", "n2")
    paused = transition(renamed, body("paused"), experiment_id="exp-1", now=T1)
    assert paused.started_at == T0
    stopped = transition(paused, body("stopped"), experiment_id="exp-1", now=T2)
    assert (stopped.started_at, stopped.stopped_at) == (T0, T2)
    again = transition(stopped, body("stopped"), experiment_id="exp-1", now=T2 + timedelta(days=1))
    assert again.stopped_at == T2


def test_new_phase_restarts_the_clock() -> None:
    running = transition(None, body("running"), experiment_id="exp-1", now=T0)
    paused = transition(running, body("paused", 2, traffic=1.0), experiment_id="exp-1", now=T1)
    assert paused.started_at is None  # phase 2 has not run yet
    resumed = transition(paused, body("running", 2, traffic=1.0), experiment_id="exp-1", now=T2)
    assert resumed.started_at == T2
    assert resumed.seed("exp-1") == "exp-1:phase2"


def test_salt_defaults_to_the_id_and_may_be_restated() -> None:
    stored_without_salt = experiment(status="running", started_at=T0.isoformat())
    same = transition(stored_without_salt, body("running", salt="exp-1"), experiment_id="exp-1")
    assert same.salt == "exp-1"
    with pytest.raises(ExperimentConflict) as info:
        transition(stored_without_salt, body("running", salt="exp-2"), experiment_id="exp-1")
    assert info.value.field == "salt"


def test_transition_without_a_clock_leaves_times_unset() -> None:
    started = transition(state("draft"), body("running"), experiment_id="exp-1")
    assert started.started_at is None
    with pytest.raises(ValueError, match="timezone"):
        transition(None, body("draft"), now=datetime(2026, 1, 1))


# --- siblings: layers and salts --------------------------------------------------------------


def live(layer: dict[str, Any] | None = None, **overrides: Any) -> Experiment:
    return experiment(status="running", started_at=T0.isoformat(), layer=layer, **overrides)


def test_layer_ranges_must_not_overlap() -> None:
    others = {"a": live({"id": "home", "start": 0.0, "end": 0.5})}
    check_siblings("b", live({"id": "home", "start": 0.5, "end": 1.0}), others)
    check_siblings("b", live({"id": "other", "start": 0.0, "end": 1.0}), others)
    with pytest.raises(ExperimentConflict) as info:
        check_siblings("b", live({"id": "home", "start": 0.4, "end": 0.6}), others)
    assert info.value.field == "layer"
    assert "'a'" in info.value.message


def test_only_live_experiments_claim_ranges() -> None:
    stopped = experiment(
        status="stopped",
        started_at=T0.isoformat(),
        stopped_at=T1.isoformat(),
        layer={"id": "home", "end": 0.5},
    )
    check_siblings("b", live({"id": "home", "end": 0.5}), {"a": stopped})
    draft = experiment(layer={"id": "home", "end": 0.5})
    check_siblings("b", live({"id": "home", "end": 0.5}), {"a": draft})
    check_siblings("b", draft, {"a": live({"id": "home", "end": 0.5})})
    # an experiment is not its own sibling
    check_siblings("a", live({"id": "home", "end": 0.5}), {"a": live({"id": "home", "end": 0.5})})


def test_live_experiments_must_not_share_a_seed() -> None:
    with pytest.raises(ExperimentConflict) as info:
        check_siblings("b", live(salt="shared"), {"a": live(salt="shared")})
    assert info.value.field == "salt"
    with pytest.raises(ExperimentConflict):
        check_siblings("b", live(salt="a"), {"a": live()})  # a's salt defaults to its id
    check_siblings("b", live(salt="shared", phase=2), {"a": live(salt="shared")})


# --- assignment of a configured experiment ---------------------------------------------------


def test_assign_is_sticky_and_follows_the_design() -> None:
    exp = live(traffic=0.5)
    units = [f"c-{i}" for i in range(20_000)]
    first = [assign(exp, u, experiment_id="exp-1") for u in units]
    assert first == [assign(exp, u, experiment_id="exp-1") for u in units]
    admitted = [v for v in first if v is not None]
    assert 9_600 < len(admitted) < 10_400
    by_variant = {v.id: 0 for v in exp.variants}
    for v in admitted:
        by_variant[v.id] += 1
    assert all(2_200 < n < 2_800 for n in by_variant.values()), by_variant


def test_assign_respects_layers() -> None:
    left = live({"id": "home", "start": 0.0, "end": 0.3}, salt="left")
    right = live({"id": "home", "start": 0.3, "end": 1.0}, salt="right")
    units = [f"c-{i}" for i in range(20_000)]
    in_left = {u for u in units if assign(left, u, experiment_id="left") is not None}
    in_right = {u for u in units if assign(right, u, experiment_id="right") is not None}
    assert not in_left & in_right
    assert 4_500 < len(in_left) < 5_100  # 0.3 of the layer x 0.8 traffic = 4,800
    assert 10_900 < len(in_right) < 11_500  # 0.7 x 0.8 = 11,200


def test_new_phase_re_randomises() -> None:
    phase1 = live(traffic=1.0)
    phase2 = live(traffic=1.0, phase=2)
    units = [f"c-{i}" for i in range(4_000)]
    same = sum(
        assign(phase1, u, experiment_id="exp-1") == assign(phase2, u, experiment_id="exp-1")
        for u in units
    )
    assert 850 < same < 1_150  # 1/4 by chance with four equal variants
