"""``nbo serve``: the HTTP API, with the learner beside it in its own supervised process."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Annotated, Any

import typer
import uvicorn

from api.cli.common import console, store_url
from api.cli.keys import issue_key
from engine.config import Settings
from engine.metrics import LEARNER_RESTARTS, LEARNER_UP

log = logging.getLogger("nbo.serve")


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [NBO_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [NBO_PORT]")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [NBO_WORKERS]")] = None,
    demo: Annotated[
        bool, typer.Option(help="Load the demo data first (once) and print an admin key")
    ] = False,
) -> None:
    """Serve the HTTP API."""
    settings = Settings()
    with store_url(settings) as url:
        os.environ["NBO_REDIS_URL"] = url
        settings = Settings()
        bind_host = host or settings.host
        bind_port = port or settings.port
        if demo:
            from engine.synthetic.demo import DemoConfig, load_demo

            asyncio.run(load_demo(settings, url, DemoConfig(), console, only_if_absent=True))
            secret = asyncio.run(issue_key(settings, url, "admin", "demo"))
            base = f"http://{bind_host}:{bind_port}"
            console.print("\n[bold]Demo admin key[/bold] (shown once):", soft_wrap=True)
            console.print(f"  {secret}", soft_wrap=True, highlight=False)
            console.print(
                f"Try:\n  curl -H 'Authorization: Bearer {secret}' {base}/v1/customers/c-42\n"
                f"  open {base}/docs\n",
                soft_wrap=True,
                highlight=False,
            )
        # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; turn them into a
        # normal exit so the embedded store is stopped on the way out.
        signal.signal(signal.SIGTERM, _exit_quietly)
        signal.signal(signal.SIGINT, _exit_quietly)
        with _learner_process(settings), suppress(_Stop):
            _run_uvicorn(settings, bind_host, bind_port, workers)


class _Stop(Exception):
    pass


def _libc_prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


# looked up here, not in the child: a restart forks from the supervisor's thread while others
# run, and the child must not take the dynamic loader's lock between fork and exec
_PRCTL = _libc_prctl()


def _stop_with_parent() -> None:
    """In the child, before exec: SIGTERM when `nbo serve` dies, even killed (Linux only).

    Linux sends it when the thread that started the child ends: serve's main thread, or the
    supervisor's for a restart; both run as long as serve does."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _LearnerSupervisor:
    """Keeps `nbo learner` running beside the API: a learner that dies (killed, crashed) is
    started again after a backoff that doubles up to ``MAX_BACKOFF`` while it keeps dying
    and starts over once it has run ``STABLE`` seconds; each exit is logged and counted
    (``nbo_learner_restarts_total``, ``nbo_learner_up``). Without this a dead learner stayed
    dead until serve exited, and nothing learned."""

    FIRST_BACKOFF = 0.5
    MAX_BACKOFF = 30.0
    STABLE = 60.0

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._started = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="learner-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "learner"], preexec_fn=_stop_with_parent
        )
        self._started = time.monotonic()
        LEARNER_UP.set(1)

    def _watch(self) -> None:
        backoff = self.FIRST_BACKOFF
        while not self._stopping.is_set():
            assert self.process is not None
            try:
                code = self.process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            if self._stopping.is_set():
                return
            LEARNER_UP.set(0)
            if time.monotonic() - self._started >= self.STABLE:
                backoff = self.FIRST_BACKOFF
            log.error(
                "learner_exited",
                extra={"exit_code": code, "pid": self.process.pid, "restart_in_s": backoff},
            )
            console.print(
                f"[red]the learner process stopped (exit {code}); restarting in {backoff:g} s[/red]"
            )
            if self._stopping.wait(backoff):
                return
            self.restarts += 1
            LEARNER_RESTARTS.inc()
            self._spawn()
            backoff = min(backoff * 2, self.MAX_BACKOFF)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        learner = self.process
        if learner is None:
            return
        if learner.poll() is None:
            learner.terminate()
            try:
                learner.wait(timeout=10)
            except subprocess.TimeoutExpired:
                learner.kill()
                learner.wait()
        LEARNER_UP.set(0)


@contextmanager
def _learner_process(settings: Settings) -> Iterator[None]:
    """`nbo learner` beside the API for the duration of the block (``NBO_LEARNER=process``),
    supervised: restarted if it dies.

    A learner commit is tens of milliseconds of training and pickling, mostly holding the
    interpreter lock; in its own process the operating system shares the CPU out instead, and
    requests stop waiting for it. It inherits the environment, so the store URL too.
    """
    if settings.learner != "process":
        yield
        return
    supervisor = _LearnerSupervisor()
    supervisor.start()
    try:
        yield
    finally:
        supervisor.stop()


def _exit_quietly(signum: int, frame: object) -> None:
    raise _Stop


def _run_uvicorn(settings: Settings, host: str, port: int, workers: int | None) -> None:
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        access_log=False,
        log_level=settings.log_level,
    )
