"""Running a simulation against a server over HTTP: the same world, setup through the API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console

from engine.errors import NboError
from engine.synthetic.population import Customer
from engine.synthetic.simulate.run import (
    Reporter,
    Serving,
    SimulationOptions,
    StoreNotEmpty,
    Trace,
)
from engine.synthetic.simulate.world import Population, Requests

if TYPE_CHECKING:
    import httpx


class _Api:
    """The server's HTTP API as the simulation calls it: JSON in and out, errors raised."""

    def __init__(self, client: httpx.AsyncClient, concurrency: int) -> None:
        self.client = client
        self.concurrency = concurrency

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, path, json=body)
        if response.status_code >= 400:
            raise NboError(
                f"{method} {path} answered {response.status_code}: {response.text[:300]}"
            )
        return response.json() if response.content else None

    async def gather(self, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> None:
        """Run the jobs ``concurrency`` at a time."""
        queue = iter(jobs)

        async def worker() -> None:
            for job in queue:
                await job()

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))


async def _refuse_unless_fresh(api: _Api, url: str, population: Population) -> None:
    ready = await api.client.get("/readyz")
    if ready.status_code != 200:
        raise NboError(f"{url} is not ready: GET /readyz answered {ready.status_code}")
    offers = await api.call("GET", "/v1/offers?limit=1")
    models = await api.call("GET", "/v1/models")
    first = await api.call("GET", f"/v1/customers/{population.customers[0].customer_id}")
    if offers["total"] or any(m["version"] > 0 for m in models) or first["known"]:
        raise StoreNotEmpty(
            f"the server at {url} already holds offers, trained models or simulated "
            "customers; the simulation needs a fresh one (start `nbo serve` with "
            "NBO_DATA_DIR on an empty directory)"
        )


async def _load_world_over_http(api: _Api, population: Population) -> None:
    """Customers (``concurrency`` at a time), segments, offers and the feature spec."""

    def put_customer(c: Customer) -> Callable[[], Awaitable[Any]]:
        async def job() -> None:
            await api.call("PUT", f"/v1/customers/{c.customer_id}", {"attributes": c.attributes})
            for start in range(0, len(c.activities), 500):
                batch = [
                    a.model_dump(mode="json", exclude_none=True)
                    for a in c.activities[start : start + 500]
                ]
                await api.call(
                    "POST",
                    f"/v1/customers/{c.customer_id}/activities:batch",
                    {"activities": batch},
                )

        return job

    scenario = population.scenario
    await api.gather([put_customer(c) for c in population.customers])
    for s in scenario.segments:
        await api.call("PUT", f"/v1/segments/{s.segment_id}", {"name": s.name, "rule": s.rule})
    for offer_id, offer in scenario.catalog_offers().items():
        await api.call("PUT", f"/v1/offers/{offer_id}", offer.model_dump(mode="json"))
    spec = scenario.feature_spec().model_dump(mode="json")
    await api.call("PUT", "/v1/feature-spec", spec)


async def _serve_over_http(api: _Api, i: int, serving: Serving) -> None:
    """Decision ``i``, then its impression and, when the draw says so, its click, in one batch."""
    body = await api.call("POST", "/v1/decisions", serving.decision(i))
    batch = serving.events(i, body)
    if batch:
        await api.call("POST", "/v1/events:batch", {"events": batch})


async def run_http(
    population: Population,
    requests: Requests,
    options: SimulationOptions,
    url: str,
    key: str,
    console: Console,
) -> Trace:
    """The same run against a server: setup through the API, ``concurrency`` requests in flight.

    The server's learner (its process, under `nbo serve`) does the learning, on the server's
    attribution windows: an
    unclicked offer is learned only when its window closes, so start the server with short ones
    (``NBO_ATTRIBUTION_WINDOWS``, e.g. 2 s per channel: events follow decisions within
    milliseconds here) or it is learned an hour late. The key must be an admin key (it writes
    the feature spec). Only a fresh server is accepted: offers, models or an earlier run's
    customers would mix into the measurement.
    """
    try:
        import httpx
    except ImportError as exc:  # pragma: no cover - httpx ships with the test extra
        raise NboError("the HTTP mode needs httpx: pip install httpx") from exc

    limits = httpx.Limits(
        max_connections=options.concurrency, max_keepalive_connections=options.concurrency
    )
    serving = Serving(population, requests)
    trace = serving.trace
    async with httpx.AsyncClient(
        base_url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=httpx.Timeout(30.0),
    ) as client:
        api = _Api(client, options.concurrency)
        await _refuse_unless_fresh(api, url, population)
        console.print(f"loading {len(population.customers):,} customers and the catalog over HTTP")
        await _load_world_over_http(api, population)
        reporter = Reporter(console, requests, trace, options)
        indices = iter(range(len(requests)))
        started = time.perf_counter()

        async def decide_worker() -> None:
            for i in indices:
                try:
                    await _serve_over_http(api, i, serving)
                except (NboError, httpx.HTTPError) as exc:
                    trace.errors += 1
                    if trace.errors > max(10, len(requests) // 100):
                        raise NboError(f"too many failed requests; last: {exc}") from exc
                reporter.advance()

        with reporter.progress:
            await asyncio.gather(*(decide_worker() for _ in range(options.concurrency)))
        trace.seconds = time.perf_counter() - started
        models = await api.call("GET", "/v1/models")
        trace.model_version = max((m["version"] for m in models), default=0)
    return trace
