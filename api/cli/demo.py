"""``nbo demo``: load the demo data."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from api.cli.common import console, store_url
from engine.config import Settings


def demo(
    customers: Annotated[int, typer.Option(min=1, help="How many synthetic customers")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    offers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Active offers (default: the hand-written ones); more are generated on all "
            "8 channels. A paused example offer comes on top",
        ),
    ] = None,
) -> None:
    """Load the demo catalog, segments and customers into the configured store."""
    from engine.synthetic.demo import DemoConfig, load_demo
    from engine.synthetic.demo_offers import HANDWRITTEN_ACTIVE_OFFERS

    try:
        config = DemoConfig(
            customers=customers, seed=seed, offers=offers or HANDWRITTEN_ACTIVE_OFFERS
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--offers") from exc
    settings = Settings()
    with store_url(settings) as url:
        asyncio.run(load_demo(settings, url, config, console))
