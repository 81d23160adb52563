"""Debian's chromium, headless, as the tests drive it: a real browser, no downloaded build."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# no first-run work and no background connections: this machine reaches no outside host
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def headless_chromium(*arguments: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run chromium with ``arguments`` in a fresh profile; fails the test when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium package. "
            "Run `make chromium` (apt-get install chromium) or `make test`."
        )
    with tempfile.TemporaryDirectory(prefix="nbo-chromium-") as profile:
        return subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *arguments],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
