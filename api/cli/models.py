"""``nbo snapshot``: the model a scope serves now, saved to a file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import console, store_url
from engine.config import Settings
from engine.store.redis import RedisStore


def current_snapshot(scope: str) -> Any:
    """The snapshot a scope serves now; ValueError while none has been learned."""
    from engine.learning.policies import ModelSnapshot

    settings = Settings()

    async def read(url: str) -> bytes | None:
        store = RedisStore.from_settings(settings, url)
        try:
            found = await store.read_snapshot(scope)
            return None if found is None else found[1]
        finally:
            await store.close()

    with store_url(settings) as url:
        blob = asyncio.run(read(url))
    if blob is None:
        raise ValueError(f"no model has been learned for scope '{scope}' yet")
    return ModelSnapshot.from_bytes(blob)


def save_snapshot(
    output: Annotated[Path, typer.Option(help="File to write the model snapshot to")],
    scope: Annotated[str, typer.Option(help="Model scope")] = "global",
) -> None:
    """Save the model a scope serves now (to compare later with `nbo evaluate --snapshot`)."""
    try:
        served = current_snapshot(scope)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    output.write_bytes(served.to_bytes())
    console.print(f"saved scope {scope} version {served.version} ({len(served.arms)} offers)")
