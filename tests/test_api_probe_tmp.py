import httpx


async def test_probe(client: httpx.AsyncClient, role_keys: dict[str, dict[str, str]]) -> None:
    m = role_keys["marketer"]
    d = role_keys["decide"]
    a = role_keys["analyst"]

    async def show(method, url, **kw):
        try:
            r = await client.request(method, url, **kw)
        except Exception as e:
            print(method, url, "CRASH", type(e).__name__, str(e)[:200])
            return
        print(method, url, r.status_code, r.text[:300])

    await show("PUT", "/v1/customers/c1", json={"attributes": {"x": 10**30}}, headers=d)
    await show("PUT", "/v1/customers/c1", json={"attributes": {"y": 10**18}}, headers=d)
    await show(
        "POST",
        "/v1/customers/c1/activities",
        json={"type": "purchase", "channel": "web", "value": 10**30},
        headers=d,
    )
    await show(
        "PUT",
        "/v1/segments/s1",
        json={"name": "s", "rule": {"field": "visits_7d", "op": "gte", "value": 10**30}},
        headers=m,
    )
    await show(
        "PUT",
        "/v1/offers/o1",
        json={
            "name": "s",
            "channels": {"web": {"title": "x"}},
            "eligibility": {"rules": [{"field": "visits_7d", "op": "gte", "value": 10**400}]},
        },
        headers=m,
    )
    await show("GET", "/v1/offers/o1", headers=m)
    await show("GET", "/v1/segments/s1", headers=m)
    await show("GET", "/v1/customers/c1/eligibility?channel=web", headers=m)
    await show(
        "PUT",
        "/v1/offers/o2",
        json={"name": "s", "channels": {"web": {"title": "x"}}, "caps": {"per_day": 10**30}},
        headers=m,
    )
    await show(
        "PUT",
        "/v1/offers/o3",
        json={"name": "s", "channels": {"web": {"title": "x"}}, "budget": {"conversions": 10**30}},
        headers=m,
    )
    await show(
        "PUT",
        "/v1/offers/o3",
        json={"name": "s", "channels": {"web": {"title": "x"}}, "tags": ["x" * 100000]},
        headers=m,
    )
    await show(
        "PUT",
        "/v1/offers/o4",
        json={"name": "s", "channels": {"web": {"title": "x"}}, "placements": ["x" * 10000]},
        headers=m,
    )
