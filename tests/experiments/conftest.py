"""Fixtures the experiment tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from typer.testing import CliRunner, Result

from engine.config import Settings

NboCli = Callable[..., Awaitable[Result]]


@pytest.fixture
def nbo(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> NboCli:
    """Runs the ``nbo`` command line against the test store, failing the test if it fails.

    In a thread, because the command runs its own event loop and the test already has one.
    """
    from api.cli import app  # here, so the statistics tests never import the API

    monkeypatch.setenv("NBO_REDIS_URL", settings.redis_url or "")

    async def run(*args: str) -> Result:
        result = await asyncio.to_thread(CliRunner().invoke, app, list(args))
        assert result.exit_code == 0, result.output
        return result

    return run
