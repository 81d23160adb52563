"""``nbo export``: the decision log joined with rewards."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from api.cli.common import console, store_url
from engine.config import Settings
from engine.errors import NboError
from engine.store.redis import RedisStore


def export(
    output: Annotated[Path, typer.Option(help="File to write ('-' for stdout)")],
    format: Annotated[str, typer.Option(help="jsonl (JSON lines) or parquet")] = "jsonl",
    include_open: Annotated[
        bool,
        typer.Option(
            help="Also export decisions whose attribution window is still open, with the reward "
            "so far (column open = true)"
        ),
    ] = False,
) -> None:
    """Write the decision log joined with rewards, one row per served offer.

    Closed decisions only, unless --include-open; what is still open, and until when, is said.
    """
    from engine.offline.export import (
        ExportFormat,
        ExportSummary,
        export_rows,
        write_jsonl,
        write_parquet,
    )

    try:
        chosen = ExportFormat(format)
    except ValueError as exc:
        choices = ", ".join(f.value for f in ExportFormat)
        raise typer.BadParameter(f"format must be one of {choices}", param_hint="--format") from exc
    settings = Settings()
    summary = ExportSummary()
    write = write_parquet if chosen is ExportFormat.PARQUET else write_jsonl

    async def main(url: str, sink: BinaryIO) -> None:
        store = RedisStore.from_settings(settings, url)
        try:
            await write(export_rows(store, include_open=include_open, summary=summary), sink)
        finally:
            await store.close()

    try:
        with (
            store_url(settings) as url,
            open(output, "wb") if str(output) != "-" else os.fdopen(1, "wb", closefd=False) as sink,
        ):
            asyncio.run(main(url, sink))
    except NboError as exc:
        console.print(f"[red]cannot export:[/red] {exc.message}")
        raise typer.Exit(1) from exc
    decisions = summary.closed_decisions
    console.print(
        f"{summary.rows} rows written ({decisions} closed decision{'s' if decisions != 1 else ''}"
        + (f", {summary.open_exported} rows of open ones" if include_open else "")
        + ")",
        highlight=False,
    )
    note = summary.describe_open(include_open)
    if note is not None:
        console.print(note, highlight=False, soft_wrap=True)
