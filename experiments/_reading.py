"""Reading a results document defensively, for the renderers that turn it into files.

Results reach the report and the tables as JSON-shaped mappings that may come from an older
version, a hand-edited file or a partial query, so every field is read with a fallback
instead of trusted: a renderer shows a gap, never a traceback.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["mapping", "mappings", "number", "pair", "text"]


def number(value: object) -> float | None:
    """A finite float, or None: NaN, inf and bools are never shown as numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def mappings(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def text(value: object) -> str:
    return "" if value is None else str(value)


def pair(value: object) -> tuple[float | None, float | None]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        return None, None
    return number(value[0]), number(value[1])
