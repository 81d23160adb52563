"""``nbo keys``: API keys."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from api.cli.common import store_url
from engine.access.api_keys import ROLES, KeyRing
from engine.config import Settings
from engine.store.redis import RedisStore


async def issue_key(settings: Settings, url: str, role: str, name: str) -> str:
    """A key issued straight in the store: how the first admin key comes to exist."""
    store = RedisStore.from_settings(settings, url)
    try:
        _, secret = await KeyRing(store, None).issue(role, name)  # type: ignore[arg-type]
        return secret
    finally:
        await store.close()


def keys_create(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
    name: Annotated[str, typer.Option(help="Who or what holds the key")],
) -> None:
    """Issue an API key and print it (it is shown only once)."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    settings = Settings()
    with store_url(settings) as url:
        typer.echo(asyncio.run(issue_key(settings, url, role, name)))
