"""The ``nbo`` command line: serve the API, load demo data, learn segments, manage keys."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from engine.auth import ROLES, KeyRing
from engine.config import Settings
from engine.embedded import embedded_valkey
from engine.store import RedisStore

app = typer.Typer(help="nbo: next-best-offer decisioning engine.", no_args_is_help=True)
segments_app = typer.Typer(help="Segments.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(segments_app, name="segments")
app.add_typer(keys_app, name="keys")
console = Console(stderr=True)


@contextmanager
def store_url(settings: Settings) -> Iterator[str]:
    """``NBO_REDIS_URL`` when set; otherwise an embedded Valkey for the block's duration."""
    if settings.redis_url:
        yield settings.redis_url
        return
    console.print(f"[dim]starting embedded Valkey (data in {settings.data_dir})[/dim]")
    with embedded_valkey(settings.data_dir) as url:
        yield url


async def _issue_key(settings: Settings, url: str, role: str, name: str) -> str:
    store = RedisStore.from_settings(settings, url)
    try:
        _, secret = await KeyRing(store, None).issue(role, name)  # type: ignore[arg-type]
        return secret
    finally:
        await store.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [NBO_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [NBO_PORT]")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [NBO_WORKERS]")] = None,
    demo: Annotated[
        bool, typer.Option(help="Load the demo data first (once) and print an admin key")
    ] = False,
) -> None:
    """Serve the HTTP API."""
    settings = Settings()
    with store_url(settings) as url:
        os.environ["NBO_REDIS_URL"] = url
        settings = Settings()
        bind_host = host or settings.host
        bind_port = port or settings.port
        if demo:
            from engine.demo import DemoConfig, load_demo

            asyncio.run(load_demo(settings, url, DemoConfig(), console, only_if_absent=True))
            secret = asyncio.run(_issue_key(settings, url, "admin", "demo"))
            base = f"http://{bind_host}:{bind_port}"
            console.print("\n[bold]Demo admin key[/bold] (shown once):", soft_wrap=True)
            console.print(f"  {secret}", soft_wrap=True, highlight=False)
            console.print(
                f"Try:\n  curl -H 'Authorization: Bearer {secret}' {base}/v1/customers/c-42\n"
                f"  open {base}/docs\n",
                soft_wrap=True,
                highlight=False,
            )
        # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown; turn them into a
        # normal exit so the embedded store is stopped on the way out.
        signal.signal(signal.SIGTERM, _exit_quietly)
        signal.signal(signal.SIGINT, _exit_quietly)
        with suppress(_Stop):
            _run_uvicorn(settings, bind_host, bind_port, workers)


class _Stop(Exception):
    pass


def _exit_quietly(signum: int, frame: object) -> None:
    raise _Stop


def _run_uvicorn(settings: Settings, host: str, port: int, workers: int | None) -> None:
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        access_log=False,
        log_level=settings.log_level,
    )


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, help="How many synthetic customers")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
) -> None:
    """Load the demo catalog, segments and customers into the configured store."""
    from engine.demo import DemoConfig, load_demo

    settings = Settings()
    with store_url(settings) as url:
        asyncio.run(load_demo(settings, url, DemoConfig(customers=customers, seed=seed), console))


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}")],
    name: Annotated[str, typer.Option(help="Who or what holds the key")],
) -> None:
    """Issue an API key and print it (it is shown only once)."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}", param_hint="--role")
    settings = Settings()
    with store_url(settings) as url:
        typer.echo(asyncio.run(_issue_key(settings, url, role, name)))


@segments_app.command("learn")
def segments_learn(
    k: Annotated[int, typer.Option(min=2, max=20, help="Number of segments")] = 5,
    model_id: Annotated[str, typer.Option(help="Name of this segmentation")] = "learned",
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    sample: Annotated[int, typer.Option(min=10, help="Customers to fit on, at most")] = 200_000,
) -> None:
    """Cluster customers on behavioural features into k named segments."""
    from engine.segment_learning import learn_segments

    settings = Settings()
    with store_url(settings) as url:
        result = asyncio.run(
            learn_segments(settings, url, k=k, model_id=model_id, seed=seed, sample=sample)
        )
    for segment_id, name, size in result:
        console.print(f"{segment_id:32} {size:8d}  {name}")


if __name__ == "__main__":  # pragma: no cover
    app()
