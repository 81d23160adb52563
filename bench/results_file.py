"""Where a benchmark leaves its figures: ``bench/out/<name>.json`` for ``make bench`` to collect,
and the same figures printed as a table for whoever ran it by hand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def write_result(name: str, result: Mapping[str, Any], *, width: int = 40, digits: int = 2) -> Path:
    """Write ``result`` to ``bench/out/<name>.json`` and print it, floats to ``digits`` places."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"{'metric':{width}} value")
    for metric, value in result.items():
        shown = f"{value:,.{digits}f}" if isinstance(value, float) else str(value)
        print(f"{metric:{width}} {shown}")
    return path
