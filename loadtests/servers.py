"""The processes a session measures: the embedded Valkey, the demo, the floor and ``nbo serve``.

Everything here starts something and guarantees it stops (SIGTERM, then SIGKILL), pinned to
the server's CPUs where the plan says so; what is measured against them lives in
:mod:`loadtests.locust_run`. :func:`issue_key` is shared with ``bench/decision_cpu.py``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil  # type: ignore[import-untyped]
import redis

from engine.store.embedded import embedded_valkey
from loadtests.plan import Plan, RunFailed, console

__all__ = [
    "ROOT",
    "Servers",
    "descendants",
    "issue_key",
    "pinning",
    "started",
    "stop",
    "tail",
]

ROOT = Path(__file__).resolve().parent.parent


def pinning(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    """A preexec function pinning the child before exec, so all its threads inherit it."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _pin_process(pid: int, cpus: frozenset[int] | None) -> None:
    """Pin every thread of an already running process (Valkey starts its own threads)."""
    if cpus is None:
        return
    tasks = Path(f"/proc/{pid}/task")
    for tid in [int(p.name) for p in tasks.iterdir()] if tasks.exists() else [pid]:
        with suppress(OSError):  # a thread may have exited meanwhile
            os.sched_setaffinity(tid, cpus)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def _service(
    cmd: Sequence[str], env: dict[str, str], log: Path, cpus: frozenset[int] | None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, stopped (SIGTERM, then SIGKILL) on exit; see :func:`_wait_ready`."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            list(cmd),
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=pinning(cpus),
        )
    try:
        yield proc
    finally:
        stop(proc)


def _wait_ready(name: str, proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RunFailed(f"{name} exited with {proc.returncode}:\n{tail(log)}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RunFailed(f"{name} did not become ready:\n{tail(log)}")
        time.sleep(0.1)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "api.cli", *args]


def _base_env(redis_url: str, log_level: str) -> dict[str, str]:
    """The caller's environment (NBO_POLICY etc. pass through) with the store and logs fixed."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NBO_REDIS_URL", "NBO_ADMIN_KEY", "NBO_WORKERS", "NBO_HOST", "NBO_PORT")
    }
    env.update(
        NBO_REDIS_URL=redis_url,
        NBO_LOG_LEVEL=log_level,
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
    )
    return env


def _demo_has_offers_option() -> bool:
    """Whether this checkout's ``nbo demo`` takes ``--offers`` (the 100-offer catalog)."""
    from typer.main import get_command

    from api.cli import app as nbo

    demo = getattr(get_command(nbo), "commands", {}).get("demo")
    return demo is not None and any("--offers" in param.opts for param in demo.params)


def _load_demo(demo_cmd: Sequence[str], env: dict[str, str], log: Path) -> None:
    with open(log, "wb") as sink:
        demo = subprocess.Popen(
            list(demo_cmd), cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            demo.wait(timeout=3600)
        finally:
            stop(demo, timeout=5)
    if demo.returncode != 0:
        raise RunFailed(f"nbo demo failed:\n{tail(log)}")


def issue_key(redis_url: str) -> str:
    """A ``decide`` key, the role apps hold (what ``nbo keys create --role decide`` does)."""
    from engine.access.api_keys import KeyRing
    from engine.config import Settings
    from engine.store.redis import RedisStore

    async def issue() -> str:
        store = RedisStore.from_settings(Settings(redis_url=redis_url))
        try:
            _, secret = await KeyRing(store, None).issue("decide", "loadtest")
            return secret
        finally:
            await store.close()

    return asyncio.run(issue())


def descendants(pid: int | None) -> list[int]:
    if pid is None:
        return []
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _store_facts(redis_url: str) -> tuple[int, int]:
    """Valkey's pid (to pin it) and the number of active offers the demo loaded."""
    from engine.store import keys

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        pid = int(client.info("server")["process_id"])
        offers: dict[str, str] = client.hgetall(keys.OFFERS)  # type: ignore[assignment]
    finally:
        client.close()
    active = sum(1 for doc in offers.values() if orjson.loads(doc).get("status") == "active")
    return pid, active


@dataclass(frozen=True)
class Servers:
    """What the runs need of the started session: where to send load and which pids to watch."""

    floor_base: str
    server_base: str
    floor_pid: int | None  # None when no run targets the floor
    server_pid: int
    store_pid: int
    key: str
    offers_option: bool  # whether the demo took --offers
    active_offers: int


def _demo_cmd(plan: Plan, offers_option: bool) -> list[str]:
    cmd = _cli("demo", "--customers", str(plan.customers), "--seed", str(plan.seed))
    if offers_option:
        cmd += ["--offers", str(plan.offers)]
    console.print(
        f"loading the demo: {plan.customers:,} customers"
        + (f", {plan.offers} offers" if offers_option else " (default catalog)")
    )
    return cmd


@contextmanager
def started(plan: Plan, with_floor: bool) -> Iterator[Servers]:
    """Valkey in a temp dir with the demo loaded, ``nbo serve`` and (if asked) the floor, ready;
    all stopped, and the temp dir removed, on exit."""
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nbo-loadtest-")))
        redis_url = stack.enter_context(embedded_valkey(data_dir, persist=plan.persist))
        env = _base_env(redis_url, plan.log_level)
        offers_option = plan.offers > 0 and _demo_has_offers_option()
        demo_cmd = _demo_cmd(plan, offers_option)
        # the servers start while the demo loads: neither reads the catalog before a request
        floor_port, server_port = _free_port(), _free_port()
        floor_base = f"http://127.0.0.1:{floor_port}"
        server_base = f"http://127.0.0.1:{server_port}"
        floor_log, server_log = plan.out / "floor.log", plan.out / "server.log"
        floor_cmd = [sys.executable, "-m", "loadtests.floor", "--port", str(floor_port)]
        server_cmd = _cli("serve", "--port", str(server_port), "--workers", "1")
        cpus = plan.server_cpus
        floor = (
            stack.enter_context(_service(floor_cmd, env, floor_log, cpus)) if with_floor else None
        )
        server = stack.enter_context(_service(server_cmd, env, server_log, cpus))
        key = issue_key(redis_url)
        _load_demo(demo_cmd, env, plan.out / "setup.log")
        store_pid, active_offers = _store_facts(redis_url)
        _pin_process(store_pid, cpus)
        if floor is not None:
            _wait_ready("floor", floor, floor_base, floor_log)
        _wait_ready("server", server, server_base, server_log)
        console.print(f"{active_offers} active offers; server and floor ready")
        yield Servers(
            floor_base,
            server_base,
            None if floor is None else floor.pid,
            server.pid,
            store_pid,
            key,
            offers_option,
            active_offers,
        )
