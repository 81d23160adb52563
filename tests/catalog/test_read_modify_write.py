"""Read-modify-write by marketers: GET documents PUT takes back, JSON Merge Patch, ETag and
If-Match against concurrent editors, and which experiments DELETE removes."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalog.documents import merge_patch
from engine.store import keys
from engine.store.redis import RedisStore
from tests.helpers import rules_vs_bandit

Roles = dict[str, dict[str, str]]
PATCH = {"Content-Type": "application/merge-patch+json"}

OFFER: dict[str, Any] = {
    "name": "Welcome 10%",
    "description": "First order discount",
    "channels": {"web": {"title": "10% off", "cta": "Shop"}, "email": {"subject": "Hi"}},
    "placements": ["home"],
    "caps": {"per_day": 1, "per_week": 3},
    "tags": ["welcome"],
    "start_at": "2030-01-01T00:00:00Z",
}
SEGMENT: dict[str, Any] = {
    "name": "Browsers",
    "rule": {"all": [{"field": "visits_7d", "op": "gte", "value": 3}]},
}


def experiment(**overrides: Any) -> dict[str, Any]:
    return rules_vs_bandit(**{"name": "Bandit vs rules", "status": "running", **overrides})


async def create(client: httpx.AsyncClient, roles: Roles, path: str, body: Any) -> httpx.Response:
    r = await client.put(path, json=body, headers=roles["marketer"])
    assert r.status_code == 200, r.text
    return r


def strip_version(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "version"}


# -- JSON Merge Patch: RFC 7396, appendix A (the published vectors) and section 3 -------------

RFC7396_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]

RFC7396_SECTION_3 = (
    {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    },
    {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    },
    {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    },
)


@pytest.mark.parametrize(("target", "patch", "result"), [*RFC7396_APPENDIX_A, RFC7396_SECTION_3])
def test_merge_patch_matches_the_rfc_vectors(target: Any, patch: Any, result: Any) -> None:
    before = copy.deepcopy((target, patch))
    assert merge_patch(target, patch) == result
    assert (target, patch) == before  # pure


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=12,
)
json_objects = st.dictionaries(st.sampled_from("abcde"), json_values, max_size=5)


@given(target=json_objects, patch=json_objects)
@settings(max_examples=300, deadline=None)
def test_merge_patch_properties(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """What RFC 7396 says of any object patch, checked on generated documents."""
    before = copy.deepcopy((target, patch))
    result = merge_patch(target, patch)
    assert (target, patch) == before
    removed = {k for k, v in patch.items() if v is None}
    assert set(result) == (set(target) | set(patch)) - removed
    for name, value in result.items():
        if name not in patch:
            assert value == target[name]  # untouched members stay
        elif not isinstance(patch[name], dict):
            assert value == patch[name]  # scalars and arrays replace
        else:
            assert value == merge_patch(target.get(name), patch[name])  # objects merge
    assert merge_patch(result, patch) == result  # applying it again changes nothing
    assert merge_patch(target, {}) == target


# -- GET returns what PUT takes back ----------------------------------------------------------


async def put_back_the_first_version(
    client: httpx.AsyncClient, roles: Roles, path: str
) -> tuple[dict[str, Any], httpx.Response]:
    """GET a document just created and PUT it back unchanged: taken as its second version."""
    got = await client.get(path, headers=roles["marketer"])
    assert got.headers["ETag"] == '"1"'
    document: dict[str, Any] = got.json()
    r = await client.put(path, json=document, headers=roles["marketer"])
    assert r.status_code == 200, r.text
    assert r.json() == {**document, "version": 2}
    return document, r


async def test_offer_get_put_round_trip(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await create(client, role_keys, "/v1/offers/o-1", OFFER)
    document, r = await put_back_the_first_version(client, role_keys, "/v1/offers/o-1")
    assert r.headers["ETag"] == '"2"'
    again = await client.get("/v1/offers/o-1", headers=role_keys["marketer"])
    assert strip_version(again.json()) == strip_version(document)
    assert again.headers["ETag"] == '"2"'


async def test_segment_get_put_round_trip(client: httpx.AsyncClient, role_keys: Roles) -> None:
    created = await create(client, role_keys, "/v1/segments/s-1", SEGMENT)
    assert created.json()["version"] == 1
    _, r = await put_back_the_first_version(client, role_keys, "/v1/segments/s-1")
    listed = (await client.get("/v1/segments", headers=role_keys["analyst"])).json()
    assert listed == [r.json()]


async def test_experiment_get_put_round_trip(client: httpx.AsyncClient, role_keys: Roles) -> None:
    created = await create(client, role_keys, "/v1/experiments/exp-1", experiment())
    assert "experiment" not in created.json()  # the document itself, no envelope
    got = await client.get("/v1/experiments/exp-1", headers=role_keys["analyst"])
    document = got.json()
    assert document["experiment_id"] == "exp-1"
    assert document["name"] == "Bandit vs rules"
    assert got.headers["ETag"] == f'"{document["version"]}"'
    r = await client.put("/v1/experiments/exp-1", json=document, headers=role_keys["marketer"])
    assert r.status_code == 200, r.text
    assert r.json() == {**document, "version": document["version"] + 1}
    listed = (await client.get("/v1/experiments", headers=role_keys["analyst"])).json()
    assert listed == [r.json()]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/offers/o-1", {**OFFER, "offer_id": "o-2"}, "offer_id"),
        ("/v1/segments/s-1", {**SEGMENT, "segment_id": "s-2"}, "segment_id"),
        ("/v1/experiments/exp-1", {**experiment(), "experiment_id": "exp-2"}, "experiment_id"),
        ("/v1/segments/s-1", {**SEGMENT, "kind": "learned"}, "kind"),
        ("/v1/segments/s-1", {**SEGMENT, "model_id": "m-1"}, "model_id"),
        ("/v1/segments/s-1", {**SEGMENT, "size": 10}, "size"),
        ("/v1/offers/o-1", {**OFFER, "version": "two"}, "version"),
        ("/v1/experiments/exp-1", {**experiment(), "version": "two"}, "version"),
    ],
)
async def test_contradicting_read_only_members_are_refused(
    client: httpx.AsyncClient, role_keys: Roles, path: str, body: dict[str, Any], field: str
) -> None:
    r = await client.put(path, json=body, headers=role_keys["marketer"])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert (await client.get(path, headers=role_keys["marketer"])).status_code == 404


# -- PATCH (JSON Merge Patch) -----------------------------------------------------------------


async def test_pausing_an_offer_is_one_small_patch(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    before = (await create(client, role_keys, "/v1/offers/o-1", OFFER)).json()
    r = await client.patch(
        "/v1/offers/o-1",
        content=b'{"status": "paused"}',
        headers={**role_keys["marketer"], **PATCH},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {**before, "status": "paused", "version": 2}
    assert r.headers["ETag"] == '"2"'
    got = await client.get("/v1/offers/o-1", headers=role_keys["marketer"])
    assert got.json()["status"] == "paused"


async def test_offer_patch_merges_objects_replaces_arrays_and_removes_nulls(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    before = (await create(client, role_keys, "/v1/offers/o-1", OFFER)).json()
    patch = {"caps": {"per_day": 2}, "tags": ["spring"], "start_at": None, "description": None}
    r = await client.patch("/v1/offers/o-1", json=patch, headers=role_keys["marketer"])
    assert r.status_code == 200, r.text  # application/json is accepted too
    body = r.json()
    assert body["caps"]["per_day"] == 2
    assert body["caps"]["per_week"] == 3  # merged, not replaced
    assert body["tags"] == ["spring"]
    assert body["start_at"] is None
    assert body["description"] == ""
    assert body["channels"] == before["channels"]


async def test_a_patched_document_is_validated_as_put_validates(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await create(client, role_keys, "/v1/offers/o-1", OFFER)
    headers = {**role_keys["marketer"], **PATCH}
    for patch, field in (
        ({"caps": {"per_day": -1}}, "caps.per_day"),
        ({"priority": 1}, "priority"),
        ({"channels": None}, "channels"),
        ({"eligibility": {"segments_any": ["nope"]}}, "eligibility.segments_any[0]"),
        ({"offer_id": "o-2"}, "offer_id"),
    ):
        r = await client.patch("/v1/offers/o-1", json=patch, headers=headers)
        assert r.status_code == 422, (patch, r.text)
        assert r.json()["error"]["field"] == field
        put = await client.put(
            "/v1/offers/o-1", json=merge_patch(OFFER, patch), headers=role_keys["marketer"]
        )
        assert put.json()["error"]["field"] == field
    got = await client.get("/v1/offers/o-1", headers=role_keys["marketer"])
    assert got.json()["version"] == 1  # nothing was written


async def test_patch_wants_a_json_media_type_and_an_existing_document(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await create(client, role_keys, "/v1/offers/o-1", OFFER)
    r = await client.patch(
        "/v1/offers/o-1",
        content=b'{"status": "paused"}',
        headers={**role_keys["marketer"], "Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    assert r.json()["error"] == {
        "code": "unsupported_media_type",
        "message": r.json()["error"]["message"],
        "field": "Content-Type",
    }
    missing = await client.patch(
        "/v1/offers/o-9", json={"status": "paused"}, headers=role_keys["marketer"]
    )
    assert missing.status_code == 404
    for role in ("analyst", "decide"):
        r = await client.patch(
            "/v1/offers/o-1",
            content=b'{"status": "paused"}',
            headers={**role_keys[role], "Content-Type": "application/json"},
        )
        assert r.status_code == 403
        # a body that is not JSON is refused before anything else, whoever sends it
        r = await client.patch(
            "/v1/offers/o-1",
            content=b'{"status": "paused"}',
            headers={**role_keys[role], "Content-Type": "text/plain"},
        )
        assert r.status_code == 415


async def test_patch_of_a_segment_and_of_an_experiment(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await create(client, role_keys, "/v1/segments/s-1", SEGMENT)
    r = await client.patch(
        "/v1/segments/s-1", json={"description": "3+ visits a week"}, headers=role_keys["marketer"]
    )
    assert r.status_code == 200, r.text
    assert (r.json()["description"], r.json()["rule"]) == ("3+ visits a week", SEGMENT["rule"])
    bad = await client.patch(
        "/v1/segments/s-1",
        json={"rule": {"all": [{"field": "nope", "op": "eq", "value": 1}]}},
        headers=role_keys["marketer"],
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "rule.all[0].field"

    running = (await create(client, role_keys, "/v1/experiments/exp-1", experiment())).json()
    paused = await client.patch(
        "/v1/experiments/exp-1", json={"status": "paused"}, headers={**role_keys["marketer"]}
    )
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    # a paused experiment keeps its share but serves none of it until it resumes
    assert paused.json() == {
        **running,
        "status": "paused",
        "version": running["version"] + 1,
        "effective_traffic": {**running["effective_traffic"], "effective": 0.0},
    }
    # the lifecycle rules hold for a patch as for a PUT
    frozen = await client.patch(
        "/v1/experiments/exp-1", json={"traffic": 0.5}, headers=role_keys["marketer"]
    )
    assert frozen.status_code == 409
    assert frozen.json()["error"]["field"] == "traffic"


# -- ETag, If-Match and concurrent editors ----------------------------------------------------


async def test_two_marketers_editing_one_offer_cannot_overwrite_each_other(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await create(client, role_keys, "/v1/offers/o-1", OFFER)
    got = await client.get("/v1/offers/o-1", headers=role_keys["marketer"])
    tag = got.headers["ETag"]
    alice = {**got.json(), "name": "Alice's name"}
    bob = {**got.json(), "value": 42.0}
    answers = await asyncio.gather(
        *(
            client.put(
                "/v1/offers/o-1", json=body, headers={**role_keys["marketer"], "If-Match": tag}
            )
            for body in (alice, bob)
        )
    )
    assert sorted(r.status_code for r in answers) == [200, 412]
    stale = next(r for r in answers if r.status_code == 412)
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert stale.json()["error"]["field"] == "If-Match"
    winner = next(r for r in answers if r.status_code == 200).json()
    final = (await client.get("/v1/offers/o-1", headers=role_keys["marketer"])).json()
    assert final == winner  # the loser wrote nothing


async def test_the_version_in_a_document_read_earlier_is_a_precondition(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await create(client, role_keys, "/v1/segments/s-1", SEGMENT)
    read = (await client.get("/v1/segments/s-1", headers=role_keys["marketer"])).json()
    await client.patch("/v1/segments/s-1", json={"name": "Other"}, headers=role_keys["marketer"])
    r = await client.put(
        "/v1/segments/s-1", json={**read, "description": "x"}, headers=role_keys["marketer"]
    )
    assert r.status_code == 412
    assert r.json()["error"]["field"] == "version"
    assert (await client.get("/v1/segments/s-1", headers=role_keys["marketer"])).json()[
        "name"
    ] == "Other"


async def test_concurrent_patches_without_if_match_all_land(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    """Each patch is applied to the version it read and written only if that is still stored:
    racing patches of different members never undo each other."""
    expected = (await create(client, role_keys, "/v1/offers/o-1", OFFER)).json()
    patches: list[dict[str, Any]] = [
        {"name": "New name"},
        {"description": "New description"},
        {"value": 12.5},
        {"weight": 2.0},
        {"placements": ["cart"]},
        {"caps": {"lifetime": 9}},
    ]
    answers = await asyncio.gather(
        *(client.patch("/v1/offers/o-1", json=p, headers=role_keys["marketer"]) for p in patches)
    )
    assert [r.status_code for r in answers] == [200] * len(patches)
    final = (await client.get("/v1/offers/o-1", headers=role_keys["marketer"])).json()
    for patch in patches:
        expected = merge_patch(expected, patch)
    assert final == {**expected, "version": 1 + len(patches)}


@pytest.mark.parametrize(
    ("headers", "status", "field"),
    [
        ({"If-Match": '"1"'}, 200, None),
        ({"If-Match": '"7", "1"'}, 200, None),
        ({"If-Match": "*"}, 200, None),
        ({"If-Match": '"2"'}, 412, "If-Match"),
        ({"If-Match": 'W/"1"'}, 412, "If-Match"),  # writes compare strongly
        ({"If-Match": "1"}, 422, "If-Match"),  # not an entity tag
        ({"If-None-Match": "*"}, 412, "If-None-Match"),
    ],
)
async def test_preconditions_on_an_existing_offer(
    client: httpx.AsyncClient,
    role_keys: Roles,
    headers: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    await create(client, role_keys, "/v1/offers/o-1", OFFER)
    r = await client.put(
        "/v1/offers/o-1", json={**OFFER, "name": "B"}, headers={**role_keys["marketer"], **headers}
    )
    assert r.status_code == status, r.text
    if field is not None:
        assert r.json()["error"]["field"] == field
    name = (await client.get("/v1/offers/o-1", headers=role_keys["marketer"])).json()["name"]
    assert name == ("B" if status == 200 else OFFER["name"])


async def test_create_only_and_if_match_on_a_missing_document(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    create_only = {**role_keys["marketer"], "If-None-Match": "*"}
    r = await client.put("/v1/segments/s-1", json=SEGMENT, headers=create_only)
    assert r.status_code == 200
    again = await client.put("/v1/segments/s-1", json=SEGMENT, headers=create_only)
    assert again.status_code == 412
    for tag in ("*", '"1"'):
        r = await client.put(
            "/v1/segments/s-2", json=SEGMENT, headers={**role_keys["marketer"], "If-Match": tag}
        )
        assert r.status_code == 412
    assert (await client.get("/v1/segments/s-2", headers=role_keys["marketer"])).status_code == 404


async def test_stale_if_match_on_delete(client: httpx.AsyncClient, role_keys: Roles) -> None:
    await create(client, role_keys, "/v1/offers/o-1", OFFER)
    await client.patch("/v1/offers/o-1", json={"name": "B"}, headers=role_keys["marketer"])
    stale = {**role_keys["marketer"], "If-Match": '"1"'}
    assert (await client.delete("/v1/offers/o-1", headers=stale)).status_code == 412
    fresh = {**role_keys["marketer"], "If-Match": '"2"'}
    assert (await client.delete("/v1/offers/o-1", headers=fresh)).status_code == 204
    # a re-created offer never repeats a version, so an old ETag cannot match it
    recreated = await create(client, role_keys, "/v1/offers/o-1", OFFER)
    assert recreated.json()["version"] == 3


async def test_the_store_checks_and_writes_in_one_step(store: RedisStore) -> None:
    assert await store.put_offer("o-1", b'{"name": "x"}', expected=0) == 1
    results = await asyncio.gather(
        *(store.put_offer("o-1", f'{{"name": "{i}"}}'.encode(), expected=1) for i in range(8))
    )
    assert sorted(results, key=lambda v: v or 0) == [None] * 7 + [2]
    assert await store.delete_segment("s-1") is False  # nothing there
    assert await store.delete_segment("s-1", expected=3) is None  # not the version expected
    assert await store.put_segment("s-1", b'{"name": "s"}', expected=1) is None
    assert await store.put_segment("s-1", b'{"name": "s"}') == 1


async def test_relearned_segments_get_a_new_version(store: RedisStore, raw: redis.Redis) -> None:
    await store.replace_segment_model("m", b'{"segment_ids": ["m-0"]}', {"m-0": b"{}"})
    await store.replace_segment_model("m", b'{"segment_ids": ["m-0"]}', {"m-0": b"{}"})
    assert await raw.hget(keys.SEGMENT_VERSIONS, "m-0") == "2"


# -- DELETE of experiments --------------------------------------------------------------------


async def test_draft_experiments_are_deleted_and_their_id_reusable(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    await create(client, role_keys, "/v1/experiments/exp-1", experiment(status="draft"))
    r = await client.delete("/v1/experiments/exp-1", headers=role_keys["marketer"])
    assert r.status_code == 204
    assert (
        await client.get("/v1/experiments/exp-1", headers=role_keys["analyst"])
    ).status_code == 404
    assert (
        await client.delete("/v1/experiments/exp-1", headers=role_keys["marketer"])
    ).status_code == 404
    await create(client, role_keys, "/v1/experiments/exp-1", experiment(status="draft"))


@pytest.mark.parametrize("status", ["running", "paused"])
async def test_live_experiments_cannot_be_deleted(
    client: httpx.AsyncClient, role_keys: Roles, status: str
) -> None:
    await create(client, role_keys, "/v1/experiments/exp-1", experiment())
    if status == "paused":
        await client.patch(
            "/v1/experiments/exp-1", json={"status": "paused"}, headers=role_keys["marketer"]
        )
    r = await client.delete("/v1/experiments/exp-1", headers=role_keys["marketer"])
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "status"
    got = await client.get("/v1/experiments/exp-1", headers=role_keys["analyst"])
    assert got.json()["status"] == status
    r = await client.delete("/v1/experiments/exp-1", headers=role_keys["analyst"])
    assert r.status_code == 403


async def test_deleting_a_stopped_experiment_deletes_its_results_and_retires_its_id(
    client: httpx.AsyncClient, role_keys: Roles, raw: redis.Redis
) -> None:
    await create(client, role_keys, "/v1/experiments/exp-1", experiment())
    await raw.hset(keys.experiment_cells("exp-1"), "1|control|all||n", 5)
    stopped = await client.patch(
        "/v1/experiments/exp-1", json={"status": "stopped"}, headers=role_keys["marketer"]
    )
    assert stopped.status_code == 200
    stale = {**role_keys["marketer"], "If-Match": '"1"'}
    assert (await client.delete("/v1/experiments/exp-1", headers=stale)).status_code == 412
    r = await client.delete(
        "/v1/experiments/exp-1",
        headers={**role_keys["marketer"], "If-Match": stopped.headers["ETag"]},
    )
    assert r.status_code == 204
    assert await raw.exists(keys.experiment_cells("exp-1")) == 0
    assert (
        await client.get("/v1/experiments/exp-1/results", headers=role_keys["analyst"])
    ).status_code == 404
    # customers' assignment records still name it: the id is not used again
    again = await client.put(
        "/v1/experiments/exp-1", json=experiment(), headers=role_keys["marketer"]
    )
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "experiment_id"
