"""`nbo serve` as a user runs it: embedded store, data kept across restarts, stopped on exit."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from engine.store import keys
from tests.conftest import free_port

ADMIN = "cli-admin-key-0123456789"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def serving(data_dir: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBO_")}
    env.update(NBO_DATA_DIR=str(data_dir), NBO_ADMIN_KEY=ADMIN, NBO_LOG_LEVEL="warning")
    nbo = Path(sys.executable).with_name("nbo")
    proc = subprocess.Popen(
        [str(nbo), "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


def embedded_port(data_dir: Path) -> int:
    match = re.search(r"^port (\d+)$", (data_dir / "valkey.conf").read_text(), re.MULTILINE)
    assert match
    return int(match.group(1))


def test_serve_keeps_data_across_restarts_and_stops_its_store(tmp_path: Path) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with serving(tmp_path) as (base, proc):
        r = httpx.put(
            f"{base}/v1/customers/c-1", json={"attributes": {"tier": "gold"}}, headers=auth
        )
        assert r.status_code == 200
        docs = httpx.get(f"{base}/openapi.json").json()
        assert "/v1/customers/{customer_id}" in docs["paths"]
        store_port = embedded_port(tmp_path)
        assert port_open(store_port)
    assert proc.returncode == 0
    assert not port_open(store_port)
    with serving(tmp_path) as (base, _):
        view = httpx.get(f"{base}/v1/customers/c-1", headers=auth).json()
        assert view["attributes"] == {"tier": "gold"}


def test_commands_run_while_serving_use_the_running_store(tmp_path: Path) -> None:
    """A second embedded server on the same append-only file would corrupt it."""
    with serving(tmp_path) as (base, _):
        store_port = embedded_port(tmp_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NBO_")}
        env["NBO_DATA_DIR"] = str(tmp_path)
        nbo = Path(sys.executable).with_name("nbo")
        done = subprocess.run(
            [str(nbo), "keys", "create", "--role", "analyst", "--name", "ops"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        key = done.stdout.strip().splitlines()[-1]
        assert "starting embedded Valkey" not in done.stderr
        assert embedded_port(tmp_path) == store_port
        r = httpx.get(f"{base}/v1/customers/c-1", headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200  # the key was written to the store the server reads


def test_serve_runs_its_learner_in_a_process_of_its_own_and_stops_it(tmp_path: Path) -> None:
    """Training holds Python's interpreter lock for tens of milliseconds per commit: `nbo serve`
    runs the learner beside the API, as a consumer of the learners' group, and stops it."""
    import psutil  # type: ignore[import-untyped]
    import redis

    with serving(tmp_path) as (_, proc):
        children = psutil.Process(proc.pid).children(recursive=True)
        learners = [c for c in children if "learner" in c.cmdline()]
        assert len(learners) == 1
        assert learners[0].cmdline()[-2:] == ["api.cli", "learner"]
        client = redis.Redis(port=embedded_port(tmp_path), decode_responses=True)
        try:
            client.sadd(keys.MODEL_SCOPES, "web")  # a scope decisions were logged under
            deadline = time.monotonic() + 30
            while not client.exists(keys.model_key("web", "rewards")):
                # the learner creates its consumer group on the scope's stream
                assert time.monotonic() < deadline, "the learner never joined its group"
                time.sleep(0.2)
            assert client.xinfo_groups(keys.model_key("web", "rewards"))[0]["name"] == "learners"
        finally:
            client.close()
    assert proc.returncode == 0
    assert not learners[0].is_running() or learners[0].status() == psutil.STATUS_ZOMBIE


def test_the_deprecated_embedded_learner_setting_still_chooses_the_learner(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.config import Settings

    monkeypatch.delenv("NBO_LEARNER", raising=False)
    monkeypatch.setenv("NBO_EMBEDDED_LEARNER", "false")
    assert Settings().learner == "off"  # learners run elsewhere: none is added
    monkeypatch.setenv("NBO_EMBEDDED_LEARNER", "true")
    assert Settings().learner == "in_process"
    monkeypatch.setenv("NBO_LEARNER", "process")
    assert Settings().learner == "process"  # the new setting wins
    monkeypatch.delenv("NBO_EMBEDDED_LEARNER")
    monkeypatch.delenv("NBO_LEARNER")
    assert Settings().learner == "process"
