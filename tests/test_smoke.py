import httpx


async def test_health(client: httpx.AsyncClient, role_keys: dict[str, dict[str, str]]) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    r = await client.put(
        "/v1/customers/c-1",
        json={"attributes": {"tier": "gold", "age": 30}},
        headers=role_keys["decide"],
    )
    print(r.json())
    assert r.status_code == 200
    r = await client.post(
        "/v1/customers/c-1/activities",
        json={"type": "purchase", "channel": "web", "value": 12.5},
        headers=role_keys["decide"],
    )
    print(r.json())
    r = await client.get("/v1/customers/c-1", headers=role_keys["analyst"])
    print(r.json())
    r = await client.get("/metrics")
    print([x for x in r.text.splitlines() if "nbo_http" in x][:5])
