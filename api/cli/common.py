"""What every command shares: the store it talks to (``NBO_REDIS_URL`` or an embedded Valkey)
and the console its messages go to (stderr, so stdout carries only the output asked for)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from engine.config import Settings
from engine.store.embedded import embedded_valkey, running_embedded_url

console = Console(stderr=True)


@contextmanager
def store_url(settings: Settings) -> Iterator[str]:
    """``NBO_REDIS_URL`` when set; otherwise an embedded Valkey for the block's duration."""
    if settings.redis_url:
        yield settings.redis_url
        return
    running = running_embedded_url(settings.data_dir)
    if running is not None:  # `nbo serve` holds this data dir: use its store, never a second one
        yield running
        return
    console.print(f"[dim]starting embedded Valkey (data in {settings.data_dir})[/dim]")
    with embedded_valkey(settings.data_dir) as url:
        yield url
