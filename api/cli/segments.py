"""``nbo segments``: learned segments."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from api.cli.common import console, store_url
from engine.config import Settings


def segments_learn(
    k: Annotated[int, typer.Option(min=2, max=20, help="Number of segments")] = 5,
    model_id: Annotated[str, typer.Option(help="Name of this segmentation")] = "learned",
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    sample: Annotated[int, typer.Option(min=10, help="Customers to fit on, at most")] = 200_000,
) -> None:
    """Cluster customers on behavioural features into k named segments."""
    from engine.learning.segments import learn_segments

    settings = Settings()
    with store_url(settings) as url:
        result = asyncio.run(
            learn_segments(settings, url, k=k, model_id=model_id, seed=seed, sample=sample)
        )
    for segment_id, name, size in result:
        console.print(f"{segment_id:32} {size:8d}  {name}")
