"""The synthetic world's tables (personas, offers, segments, the world's effects and contexts).

They are data, kept as JSON beside the code (``data/``, shipped as package data), so that the
world can be read and changed without reading the code that draws from it. Each file is read
once; every call parses it afresh, so a caller may change what it gets without changing what
the next caller gets.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

__all__ = ["table"]


@cache
def _text(name: str) -> str:
    return files(__package__).joinpath("data", f"{name}.json").read_text(encoding="utf-8")


def table(name: str) -> Any:
    """``data/<name>.json`` as plain JSON values (dicts, lists, str, int, float, bool)."""
    return json.loads(_text(name))
