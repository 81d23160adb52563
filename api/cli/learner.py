"""``nbo learner``: a standalone learner."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from api.cli.common import console, store_url
from engine.config import Settings
from engine.store.redis import RedisStore


def learner(
    name: Annotated[str | None, typer.Option(help="Consumer name in the group")] = None,
) -> None:
    """Run a standalone learner (several may share the work) until interrupted."""
    from engine.learning.learner import Learner
    from engine.learning.policies import PolicyConfig

    settings = Settings()

    async def main(url: str) -> None:
        store = RedisStore.from_settings(settings, url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = Learner(store, settings, PolicyConfig.model_validate(settings.policy), name)
        console.print(f"learner {worker.name} running; Ctrl-C stops it")
        try:
            await worker.run(stop)
        finally:
            await store.close()
        console.print(f"learner stopped: {worker.applied} rewards applied")

    with store_url(settings) as url:
        asyncio.run(main(url))
