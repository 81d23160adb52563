"""Nothing outside the store package touches a redis client: no ``.client`` / ``.binary`` of a
store (the adapter keeps them private), and no private script or client reached from outside.

The import-linter contract forbids importing redis outside engine/store; this test catches the
other way in, an attribute of the adapter used where its ports should be.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("engine", "api", "experiments", "bench", "loadtests", "tests")
# a store (or anything named like one: services.store, self.store, loop_store) reaching
# through to a client, public or private, or to the adapter's private scripts
REACH_IN = re.compile(
    r"\b\w*store\w*\s*\.\s*(?:client|binary|_client|_binary|_scripts|_[a-z]+_script|"
    r"_reserve|_record|_event|_mark|_activities|_attributes|_outcome|_refs)\b"
)


def _sources() -> list[Path]:
    found = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.is_relative_to(ROOT / "engine" / "store"):
                continue  # the adapter itself
            found.append(path)
    return found


def test_the_scan_covers_the_callers() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _sources()}
    assert "engine/learning/learner.py" in names
    assert "api/routes/experiments.py" in names
    assert not any(name.startswith("engine/store/") for name in names)


def test_no_store_client_is_used_outside_the_store_package() -> None:
    uses = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if REACH_IN.search(line)
    ]
    assert uses == []


def test_no_caller_asks_which_adapter_it_was_given() -> None:
    """A caller that needs more of the store asks for it in its port, not by type checks."""
    checks = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        if path.parent != ROOT / "tests" / "store" and path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"isinstance\([^)]*,\s*RedisStore\b", line)
    ]
    assert checks == []


def test_the_pattern_catches_a_reach_in() -> None:
    for line in (
        "await store.client.get(key)",
        "blob = await self.store.binary.get(k)",
        "services.store._client.ping()",
        "self.store._mark",
    ):
        assert REACH_IN.search(line), line
    assert not REACH_IN.search("await store.read_snapshot(scope)")
