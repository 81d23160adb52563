"""Events joined to decisions, rewards learned exactly once, windows closed with reward 0."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
import redis.asyncio as redis

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.domain.channels import CHANNEL_CODES
from engine.feedback.events import EventRequest, EventService
from engine.learning.learner import Learner
from engine.learning.policies import ModelSnapshot, PolicyConfig, Trainer
from engine.offline.export import export_rows
from engine.store import keys
from engine.store.learning import REWARD_GROUP
from engine.store.records import DecisionCommit, EventJoinArgs
from engine.store.redis import RedisStore
from tests.helpers import Service, event_on

POLICY = PolicyConfig()


async def decide(service: Service, customer: str = "c-1") -> dict[str, Any]:
    r = await service.client.post(
        "/v1/decisions",
        json={"customer_id": customer, "channel": "web", "context": {"page": "home"}},
        headers=service.roles["decide"],
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def event(
    service: Service, decision: dict[str, Any], kind: str, **extra: Any
) -> httpx.Response:
    token = decision["decision_id"][2:].split("~")[0]
    payload = event_on(decision, extra.pop("event_id", f"e-{kind}-{token}"), kind, **extra)
    return await service.client.post("/v1/events", json=payload, headers=service.roles["decide"])


def new_learner(service: Service, **options: Any) -> Learner:
    """A learner of the default policy over the service's store."""
    return Learner(service.store, service.settings, POLICY, **options)


async def test_events_are_idempotent_and_update_contact_history(service: Service) -> None:
    await service.put_offer()
    decision = await decide(service)
    first = await event(service, decision, "impression", event_id="e-1")
    assert first.json() == {"event_id": "e-1", "status": "accepted", "learned": False}
    again = await event(service, decision, "impression", event_id="e-1")
    assert again.json()["status"] == "duplicate"
    click = await event(service, decision, "click", event_id="e-2")
    assert click.json()["learned"] is True
    second_click = await event(service, decision, "click", event_id="e-3")
    assert second_click.json() == {"event_id": "e-3", "status": "accepted", "learned": False}
    await event(service, decision, "dismiss", event_id="e-4")
    view = await service.customer_view("c-1")
    history = view["contact_history"]["o-a"]
    assert (history["impressions"], history["clicks"], history["dismisses"]) == (1, 2, 1)
    assert history["served"] == 1


async def test_unknown_decisions_offers_and_late_events(service: Service) -> None:
    await service.put_offer()
    decision = await decide(service)
    fake = {**decision, "decision_id": "d-0000~c-1"}
    r = await event(service, fake, "click")
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "decision_id"
    r = await event(service, decision, "click", offer_id="o-other")
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "offer_id"
    late = datetime.now(UTC) + timedelta(hours=2)  # web window is 1 h
    r = await event(service, decision, "click", timestamp=late.isoformat())
    assert r.status_code == 422  # the future is refused outright
    decided = await service.raw.hget(
        keys.customer_decision("c-1", decision["decision_id"][2:].split("~")[0]), "ts"
    )
    assert decided is not None
    await service.raw.hset(
        keys.customer_decision("c-1", decision["decision_id"][2:].split("~")[0]),
        "ts",
        repr(float(decided) - 7200),
    )
    r = await event(service, decision, "click", event_id="e-late")
    assert r.json() == {"event_id": "e-late", "status": "late", "learned": False}
    assert await service.raw.xlen(keys.EVENT_LOG) == 1  # the late event is stored
    metrics = (await service.client.get("/metrics")).text
    assert 'nbo_late_events_total{type="click"}' in metrics


async def test_batch_events_report_each_item(service: Service) -> None:
    await service.put_offer()
    decision = await decide(service)
    good = event_on(decision, "e-ok")
    bad = {**good, "event_id": "e-bad", "decision_id": "d-1~nobody"}
    r = await service.client.post(
        "/v1/events:batch", json={"events": [good, bad]}, headers=service.roles["decide"]
    )
    assert r.status_code == 200
    items = r.json()
    assert items[0]["status"] == "accepted"
    assert items[1]["status"] == "refused"
    assert items[1]["error"]["field"] == "events[1].decision_id"


async def learned_state(store: RedisStore, scope: str = "global") -> dict[str, np.ndarray]:
    found = await store.read_snapshot(scope)
    assert found is not None
    snapshot = ModelSnapshot.from_bytes(found[1])
    return {"arms": np.array(snapshot.arms), **snapshot.arrays}


def direct_state(rows: list[tuple[str, float, list[float]]]) -> dict[str, np.ndarray]:
    """What MABWiser learns from the same (offer, reward, x) observations fed in one go."""
    trainer = Trainer(POLICY, [], len(rows[0][2]))
    trainer.partial_fit(
        [r[0] for r in rows], np.array([r[1] for r in rows]), np.array([r[2] for r in rows])
    )
    snapshot = trainer.snapshot(1)
    return {"arms": np.array(snapshot.arms), **snapshot.arrays}


def assert_same_state(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert got.keys() == want.keys()
    for name, value in want.items():
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(got[name], value, rtol=1e-9, atol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], value, err_msg=name)


async def served_rows(
    store: RedisStore, decisions: list[dict[str, Any]], clicked: set[int]
) -> list[tuple[str, float, list[float]]]:
    rows = []
    for i, d in enumerate(decisions):
        (record,) = await store.read_decision_records([d["decision_id"]])
        x = orjson.loads(record["x"])
        rows.append((d["offers"][0]["offer_id"], 1.0 if i in clicked else 0.0, x))
    return rows


async def test_rewards_are_learned_exactly_once_under_redelivery(
    service: Service, raw_binary: redis.Redis
) -> None:
    await service.put_offer()
    decisions = [await decide(service, customer=f"c-{i}") for i in range(6)]
    for d in decisions:
        assert (await event(service, d, "click")).json()["learned"] is True
    stream = keys.model_key("global", "rewards")
    entries = await service.raw.xrange(stream)
    # each served offer: its exposure at decision time, then its reward
    assert [f["kind"] for _, f in entries] == ["exposure"] * 6 + ["reward"] * 6
    # a learner reads the batch and dies before committing
    doomed = new_learner(service, name="doomed")
    await doomed._ensure_group("global")
    taken = await service.raw.xreadgroup(REWARD_GROUP, "doomed", {stream: ">"}, count=100)
    assert len(taken[0][1]) == 12
    # another learner reclaims the stale entries and applies them once
    survivor = new_learner(service, name="survivor", claim_idle_ms=0)
    assert await survivor.step("global", block_ms=1) == 12
    assert survivor.applied == 12  # 6 exposures + 6 rewards added to them
    assert int(await service.raw.get(keys.model_key("global", "version"))) == 1
    want = direct_state(await served_rows(service.store, decisions, set(range(6))))
    assert_same_state(await learned_state(service.store), want)
    # the same entries emitted again (e.g. by the window sweep) are not counted twice
    for _, fields in entries[:3] + entries[6:9]:
        await service.raw.xadd(stream, fields)
    assert await survivor.step("global", block_ms=1) == 6
    assert survivor.applied == 12
    assert_same_state(await learned_state(service.store), want)
    pending = await service.raw.xpending(stream, REWARD_GROUP)
    assert pending["pending"] == 0
    # a restarted learner resumes from the stored state: same snapshot bytes
    state_before = await raw_binary.get(keys.model_key("global", "snapshot"))
    restarted = new_learner(service, name="restarted")
    trainer = await restarted._load_trainer("global", 1, 26)
    assert trainer.snapshot(1).to_bytes() == state_before


async def test_open_windows_count_as_shown_and_rewards_in_any_order_learn_the_same(
    service: Service,
) -> None:
    """No delayed-feedback bias: an unclicked offer counts as a 0 before its window closes."""
    await service.put_offer()
    decisions = [await decide(service, customer=f"c-{i}") for i in range(8)]
    learner = new_learner(service, name="now")
    assert await learner.step("global", block_ms=1) == 8
    # windows still open, nothing clicked yet: all eight are learned as shown, reward 0
    assert_same_state(
        await learned_state(service.store),
        direct_state(await served_rows(service.store, decisions, set())),
    )
    for i in (1, 4):
        await event(service, decisions[i], "click")
    # a reward whose exposure is unknown to the learner (sent again by a sweep, reordered)
    stream = keys.model_key("global", "rewards")
    exposures = [f for _, f in await service.raw.xrange(stream) if f["kind"] == "exposure"]
    assert await learner.step("global", block_ms=1) == 2
    for fields in exposures:  # redelivered exposures of pairs already learned: skipped
        await service.raw.xadd(stream, fields)
    assert await learner.step("global", block_ms=1) == 8
    want = direct_state(await served_rows(service.store, decisions, {1, 4}))
    assert_same_state(await learned_state(service.store), want)
    # closing the windows sends nothing more: every exposure and reward is already learned
    future = new_learner(service, name="future", clock=lambda: 4_000_000_000.0)
    assert await future.sweep("global") == 8
    assert await future.step("global", block_ms=1) == 0
    assert_same_state(await learned_state(service.store), want)


async def test_a_reward_before_its_exposure_is_learned_once(service: Service) -> None:
    await service.put_offer()
    catalog = await CatalogCache(service.store).get()
    x = [1.0] + [0.5] * (catalog.vectorizer.size - 1)
    stream = keys.model_key("global", "rewards")
    base = {"decision_id": "d-1~c-1", "offer_id": "o-a", "x": orjson.dumps(x).decode()}
    base |= {"spec_version": str(catalog.feature_spec.version), "decided_at": "100.0"}
    await service.raw.xadd(stream, {**base, "kind": "reward", "reward": "1.0"})
    await service.raw.xadd(stream, {**base, "kind": "exposure", "reward": "0.0"})
    await service.raw.xadd(stream, {**base, "kind": "reward", "reward": "1.0"})
    learner = new_learner(service)
    assert await learner.step("global", block_ms=1) == 3
    assert learner.applied == 1  # one whole observation; the exposure and the copy are skipped
    assert_same_state(await learned_state(service.store), direct_state([("o-a", 1.0, x)]))


async def test_window_close_teaches_zero_and_export_joins_rewards(service: Service) -> None:
    await service.put_offer()
    clicked = await decide(service, customer="c-1")
    ignored = await decide(service, customer="c-2")
    await event(service, clicked, "click")
    # the log write of `ignored` was lost (say): its exposure never reached the learner
    stream = keys.model_key("global", "rewards")
    for entry_id, fields in await service.raw.xrange(stream):
        if fields["decision_id"] == ignored["decision_id"]:
            await service.raw.xdel(stream, entry_id)
    customer, token = keys.split_decision_id(ignored["decision_id"]) or ("", "")
    await service.raw.hdel(keys.customer_decision(customer, token), "xp")
    future = new_learner(service, clock=lambda: 4_000_000_000.0)
    assert await future.sweep("global") == 2
    rewards = await service.raw.xrange(stream)
    sent = [(f["decision_id"], f["kind"], float(f["reward"])) for _, f in rewards]
    assert sent == [
        (clicked["decision_id"], "exposure", 0.0),
        (clicked["decision_id"], "reward", 1.0),
        (ignored["decision_id"], "exposure", 0.0),  # sent by the sweep: the window taught 0
    ]
    by_decision = {clicked["decision_id"]: 1.0, ignored["decision_id"]: 0.0}
    await future.step("global", block_ms=1)
    assert future.applied == 3
    want = direct_state(await served_rows(service.store, [clicked, ignored], {0}))
    assert_same_state(await learned_state(service.store), want)
    rows = [row async for row in export_rows(service.store)]
    assert {r["decision_id"]: r["reward"] for r in rows} == by_decision
    for row in rows:
        assert row["action"] == "o-a"
        assert 0 < row["probability"] <= 1
        assert len(row["features"]) > 0
    outcome = (await service.raw.xrange(keys.OUTCOME_LOG))[0][1]
    assert orjson.loads(outcome["rewards"]) in ({"o-a": 1.0}, {"o-a": 0.0})


async def test_clicks_and_conversions_update_behavioural_features(service: Service) -> None:
    await service.put_offer()
    decision = await decide(service)
    before = await service.customer_view("c-1")
    assert before["features"]["engagement_web_30d"] == 0
    await event(service, decision, "click", event_id="e-c")
    await event(service, decision, "conversion", event_id="e-v", value=42.5)
    after = await service.customer_view("c-1")
    assert after["features"]["engagement_web_30d"] == 2
    assert after["features"]["purchases_30d"] == 1
    assert after["features"]["revenue_30d"] == 42.5
    assert after["features"]["days_since_last_purchase"] == 0


async def test_exported_log_evaluates_the_served_model(
    service: Service, raw_binary: redis.Redis
) -> None:
    from engine.learning.policies import ModelSnapshot
    from engine.offline.evaluation import evaluate, load_decision_log, model_candidate

    await service.put_offer("o-a")
    await service.put_offer("o-b")
    for i in range(40):
        d = await decide(service, customer=f"c-{i}")
        if i % 3 == 0:
            await event(service, d, "click")
    learner = new_learner(service, clock=lambda: 4_000_000_000.0)
    await learner.sweep("global")
    await learner.step("global", block_ms=1)
    rows = [orjson.dumps(row) async for row in export_rows(service.store)]
    assert len(rows) == 40
    log = load_decision_log(rows)
    blob = await raw_binary.get(keys.model_key("global", "snapshot"))
    assert blob is not None
    served = ModelSnapshot.from_bytes(bytes(blob))
    report = evaluate(log, {"current": model_candidate(served, 0.05)(log)}, by_segment=False)
    # IPS is unbiased but unbounded (a rarely explored offer weighs 1/propensity); SNIPS,
    # self-normalised, stays within the range of the rewards
    estimate = report.estimate("current", "ips")
    assert estimate.error is None
    assert estimate.value >= 0.0
    assert estimate.ci_low <= estimate.value <= estimate.ci_high
    snips = report.estimate("current", "snips")
    assert snips.error is None
    assert 0.0 <= snips.value <= 1.0
    logged_rate = sum(orjson.loads(r)["reward"] for r in rows) / len(rows)
    assert report.overall.logged.value == logged_rate


async def test_acknowledged_rewards_are_trimmed_but_pending_ones_kept(service: Service) -> None:
    await service.put_offer()
    for i in range(4):
        await event(service, await decide(service, f"c-{i}"), "click")
    stream = keys.model_key("global", "rewards")
    learner = new_learner(service)
    await learner.step("global", block_ms=1)
    await event(service, await decide(service, "c-9"), "click")
    await learner._ensure_group("global")
    await service.raw.xreadgroup(REWARD_GROUP, "slow", {stream: ">"}, count=10)  # read, not acked
    assert await learner.trim("global") == 8  # 4 exposures, 4 rewards
    remaining = await service.raw.xrange(stream)
    assert len(remaining) == 2  # the unacknowledged entries survive for XAUTOCLAIM


async def test_sweep_closes_more_than_one_batch_of_due_decisions(
    settings: Settings, store: RedisStore, raw: redis.Redis
) -> None:
    pending = keys.model_key("global", "pending")
    await raw.zadd(pending, {f"d-{i:x}~gone-{i}": 1.0 for i in range(1200)})
    learner = Learner(store, settings, POLICY, clock=lambda: 10.0)
    assert await learner.sweep_all("global") == 1200
    assert await raw.zcard(pending) == 0


async def test_erasure_reaches_decisions_logs_and_learning_structures(
    service: Service, raw_binary: redis.Redis
) -> None:
    await service.put_offer()
    for customer in ("gone-1", "kept-1"):
        d = await decide(service, customer=customer)
        await event(service, d, "click", event_id=f"e-{customer}")
    learner = new_learner(service)
    await learner.step("global", block_ms=1)  # applied pairs now hold both decision ids
    await decide(service, customer="gone-1")  # a pending decision too
    r = await service.client.delete("/v1/customers/gone-1", headers=service.roles["admin"])
    assert r.status_code == 204
    found = []
    async for key in service.raw.scan_iter(match="*"):
        kind = await service.raw.type(key)
        if kind == "hash":
            content = str(await service.raw.hgetall(key))
        elif kind == "set":
            content = str(await service.raw.smembers(key))
        elif kind == "zset":
            content = str(await service.raw.zrange(key, 0, -1))
        elif kind == "stream":
            content = str(await service.raw.xrange(key))
        elif kind == "string":
            content = str(await raw_binary.get(key))
        else:
            content = ""
        if "gone-1" in key or "gone-1" in content:
            found.append(key)
    # only the tombstone names the customer: it holds the erasure time and expires
    assert found == [keys.customer_tombstone("gone-1")]
    view = await service.customer_view("kept-1")
    assert view["contact_history"]["o-a"]["clicks"] == 1


def _normalised(view: dict[str, Any]) -> dict[str, Any]:
    history = {
        offer: {k: v for k, v in entry.items() if not k.startswith("last_")}
        for offer, entry in view["contact_history"].items()
    }
    return {"history": history, "features": view["features"]}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_batch_records_what_the_same_events_sent_one_by_one_record(
    service: Service, seed: int
) -> None:
    """Pipelining a batch changes round trips, not outcomes: duplicates within the batch, an
    impression before its click, refusals and conversions all come out as one by one."""
    await service.put_offer()
    rng = random.Random(seed)
    plan = [
        (
            rng.randrange(3),
            rng.choice(["impression", "click", "conversion", "dismiss"]),
            f"e-{rng.randrange(12)}",
            rng.random() < 0.1,  # an offer the decision did not serve
            rng.random() < 0.1,  # a decision never made
        )
        for _ in range(40)
    ]
    decisions = {
        population: [await decide(service, f"{population}-{i}") for i in range(3)]
        for population in ("one", "batch")
    }

    def payload(population: str, step: tuple[int, str, str, bool, bool]) -> dict[str, Any]:
        index, kind, event_id, other_offer, unknown = step
        decision_id = decisions[population][index]["decision_id"]
        body: dict[str, Any] = {
            "event_id": event_id,
            "decision_id": "d-0000~nobody" if unknown else decision_id,
            "offer_id": "o-other" if other_offer else "o-a",
            "type": kind,
        }
        if kind == "conversion":
            body["value"] = 12.5
        return body

    one_by_one = []
    for step in plan:
        r = await service.client.post(
            "/v1/events", json=payload("one", step), headers=service.roles["decide"]
        )
        if r.status_code == 200:
            one_by_one.append((r.json()["status"], r.json()["learned"], None))
        else:
            error = r.json()["error"]
            one_by_one.append(("refused", None, (error["code"], error["field"])))
    budget_one = await service.raw.hgetall(keys.BUDGET)
    r = await service.client.post(
        "/v1/events:batch",
        json={"events": [payload("batch", step) for step in plan]},
        headers=service.roles["decide"],
    )
    assert r.status_code == 200, r.text
    batched = []
    for i, item in enumerate(r.json()):
        if item["status"] == "refused":
            code, field = item["error"]["code"], item["error"]["field"]
            assert field.startswith(f"events[{i}].")
            batched.append(("refused", None, (code, field.removeprefix(f"events[{i}]."))))
        else:
            batched.append((item["status"], item["learned"], None))
    assert batched == one_by_one
    assert {s for s, _, _ in batched} >= {"accepted", "duplicate", "refused"}
    budget_both = await service.raw.hgetall(keys.BUDGET)
    assert {k: 2 * int(v) for k, v in budget_one.items()} == {
        k: int(v) for k, v in budget_both.items()
    }
    for i in range(3):
        views = {
            population: await service.customer_view(f"{population}-{i}")
            for population in ("one", "batch")
        }
        assert _normalised(views["one"]) == _normalised(views["batch"])
    log = await service.raw.xrange(keys.EVENT_LOG)
    by_population: dict[str, list[tuple[str, str, str]]] = {"one": [], "batch": []}
    for _, entry in log:
        population, index = entry["customer_id"].split("-")
        by_population[population].append((index, entry["event_id"], entry["type"]))
    assert by_population["one"] == by_population["batch"]
    rewards = await service.raw.xrange(keys.model_key("global", "rewards"))
    learned: dict[str, list[tuple[str, str, str]]] = {"one": [], "batch": []}
    for _, entry in rewards:
        customer = entry["decision_id"].split("~", 1)[1]
        population, index = customer.split("-")
        learned[population].append((index, entry["kind"], entry["reward"]))
    assert learned["one"] == learned["batch"]


async def test_events_survive_a_store_that_lost_its_scripts(service: Service) -> None:
    """Pipelined scripts go by hash; after SCRIPT FLUSH (a restarted store) the refused ones
    are loaded and sent again, and nothing else is applied twice."""
    await service.put_offer()
    decision = await decide(service)
    base = {"decision_id": decision["decision_id"], "offer_id": "o-a"}
    await service.raw.script_flush()
    r = await service.client.post(
        "/v1/events:batch",
        json={
            "events": [
                {**base, "event_id": "e-i", "type": "impression"},
                {**base, "event_id": "e-k", "type": "click"},
                {**base, "event_id": "e-c", "type": "conversion", "value": 20.0},
            ]
        },
        headers=service.roles["decide"],
    )
    assert r.status_code == 200, r.text
    assert [item["status"] for item in r.json()] == ["accepted"] * 3
    view = await service.customer_view("c-1")
    history = view["contact_history"]["o-a"]
    assert (history["impressions"], history["clicks"], history["conversions"]) == (1, 1, 1)
    assert view["features"]["purchases_90d"] == 1
    assert await service.raw.xlen(keys.EVENT_LOG) == 3
    assert await service.raw.hgetall(keys.BUDGET) == {"o-a|i": "1", "o-a|c": "1"}
    rewards = await service.raw.xrange(keys.model_key("global", "rewards"))
    assert [e["kind"] for _, e in rewards] == ["exposure", "reward"]


async def test_an_event_joined_but_never_recorded_is_recorded_by_a_later_delivery(
    service: Service,
) -> None:
    """The store fails between an event's join and its recording: the client's retry must not
    be told 'duplicate' (the event would be lost), nor count the contact twice."""
    await service.put_offer()
    decision = await decide(service)
    customer, token = (
        decision["decision_id"].split("~")[1],
        decision["decision_id"][2:].split("~")[0],
    )
    now = time.time()
    (first,) = await service.store.join_events(
        [EventJoinArgs(customer, token, "e-k", "o-a", "k", 0.0, now, now, "k", 5, "attempt-1")]
    )
    assert (first.status, first.reward, first.rejoined) == ("accepted", 1.0, False)
    # the store client resending that same join after a timeout: the same request, no rival
    (resent,) = await service.store.join_events(
        [EventJoinArgs(customer, token, "e-k", "o-a", "k", 0.0, now, now, "k", 5, "attempt-1")]
    )
    assert (resent.status, resent.reward, resent.rejoined) == ("accepted", 1.0, True)
    click = {"event_id": "e-k", "decision_id": decision["decision_id"], "offer_id": "o-a"}
    r = await service.client.post(
        "/v1/events", json={**click, "type": "click"}, headers=service.roles["decide"]
    )
    assert r.status_code == 409, r.text  # the first request may still be recording it
    assert r.json()["error"]["code"] == "event_in_progress"
    assert await service.raw.xlen(keys.EVENT_LOG) == 0

    later = EventService(
        service.store, service.settings.model_copy(update={"event_takeover_seconds": 0})
    )
    outcome = await later.record(EventRequest(type="click", **click))
    assert (outcome.status, outcome.learned) == ("accepted", True)
    again = await service.client.post(
        "/v1/events", json={**click, "type": "click"}, headers=service.roles["decide"]
    )
    assert again.json()["status"] == "duplicate"
    view = await service.customer_view("c-1")
    assert view["contact_history"]["o-a"]["clicks"] == 1  # joined once, not per delivery
    assert await service.raw.xlen(keys.EVENT_LOG) == 1
    rewards = await service.raw.xrange(keys.model_key("global", "rewards"))
    assert [(e["kind"], e["reward"]) for _, e in rewards] == [
        ("exposure", "0.0"),
        ("reward", "1.0"),
    ]


async def test_a_decision_commit_sent_twice_counts_the_contact_once(
    raw: redis.Redis, store: RedisStore
) -> None:
    """The store client resends a command after a timeout; if the first one ran, the caps
    reservation must not run again."""
    no_limits = (-1, -1, -1, -1, 0)
    now = int(time.time())

    async def commit() -> str:
        status, _ = await store.commit_decision(DecisionCommit(
            "c-9", "tok1", [("o-a", no_limits)], CHANNEL_CODES["web"], now,
            {"ts": str(now), "o:o-a": "1|1.0"}, b"{}", None, 3600, 60,
        ))  # fmt: skip
        return status

    assert await commit() == "ok"
    contacts = keys.customer_keys("c-9")[2]
    once = await raw.hgetall(contacts)
    assert once  # the contact was counted
    assert await commit() == "ok"
    assert await raw.hgetall(contacts) == once
