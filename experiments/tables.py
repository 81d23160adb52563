"""Experiment results as one table, for analysts who continue in a spreadsheet, pandas or
DuckDB: one row per scope x variant, written as CSV or as Parquet from the same rows.

Both files are built from :func:`result_rows`, so they cannot disagree with each other, and
the report's table of numbers is labelled with the same column names (``data-column``), so a
test can check that all of them say what the JSON says. Parquet keeps the types the CSV can
only hint at (counts as int64, measurements as float64, flags as bool, a missing number as
null) and carries the results' header (experiment, metric, control, alpha, ...) as file
metadata.

Pure: a results document in, text or bytes out; nothing from ``engine`` or ``api``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any, Final, Literal

from experiments._reading import mapping, mappings, number, pair, text

__all__ = [
    "COLUMNS",
    "CSV_COLUMNS",
    "NO_COMPARISON",
    "PARQUET_MEDIA_TYPE",
    "render_csv",
    "render_parquet",
    "result_rows",
]

ColumnKind = Literal["text", "count", "number", "flag"]
Cell = str | int | float | bool | None

COLUMNS: Final[tuple[tuple[str, ColumnKind], ...]] = (
    ("scope", "text"),
    ("segment", "text"),
    ("variant", "text"),
    ("is_control", "flag"),
    ("units", "count"),
    ("conversions", "count"),
    ("clicks", "count"),
    ("value", "number"),
    ("revenue", "number"),
    ("absolute_lift", "number"),
    ("absolute_ci_low", "number"),
    ("absolute_ci_high", "number"),
    ("relative_lift", "number"),
    ("relative_ci_low", "number"),
    ("relative_ci_high", "number"),
    ("p_value", "number"),
    ("p_value_adjusted", "number"),
    ("chance_to_win", "number"),
    ("srm_p_value", "number"),
    ("srm_mismatch", "flag"),
    ("error", "text"),
    ("decision", "text"),
    # added after ``decision``: readers of the earlier columns by position are not broken
    ("test", "text"),
    ("relative_interval_method", "text"),
    ("variance_reduction", "number"),
)
"""Every column, in order, with what it holds."""

CSV_COLUMNS: Final[tuple[str, ...]] = tuple(name for name, _ in COLUMNS)

NO_COMPARISON: Final = "NO_COMPARISON"
"""The ``error`` of a variant the results hold no comparison with control for."""

PARQUET_MEDIA_TYPE: Final = "application/vnd.apache.parquet"
"""IANA's media type for Parquet (registered 2024)."""

# Spreadsheet programs run cells starting with these as formulas (CSV injection).
_FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
_HEADER: Final = ("experiment_id", "metric", "control", "alpha", "analysis", "phase")


def _count(value: object) -> int | float | None:
    """A count as an integer (``1049``, never ``1049.0``, which spreadsheets and pandas read
    as a measurement); a fractional one, which no stored count is, is kept as it came."""
    found = number(value)
    if found is None:
        return None
    return int(found) if found.is_integer() else found


def result_rows(results: Mapping[str, Any]) -> list[dict[str, Cell]]:
    """One row per scope x variant, typed as :data:`COLUMNS` says.

    Overall rows have ``scope=overall`` and an empty segment, so a segment can be called
    anything without colliding with them. ``error`` says why a comparison's estimates are
    missing: the statistics' code (e.g. ``ZERO_VARIANCE``), or :data:`NO_COMPARISON`; it is
    empty for control, the baseline. ``decision`` is the overall comparison's decision
    (``experiments.verdict``); segments are not decided on. ``test`` and
    ``relative_interval_method`` say what produced the p-value and the relative interval;
    ``variance_reduction`` is CUPED's share of variance removed, where it ran.
    """
    control = text(results.get("control"))
    scopes: list[tuple[str, str, Mapping[str, Any]]] = [
        ("overall", "", mapping(results.get("overall")))
    ]
    scopes += [("segment", text(s.get("segment")), s) for s in mappings(results.get("segments"))]
    rows: list[dict[str, Cell]] = []
    for kind, segment, scope in scopes:
        srm = mapping(scope.get("srm") if kind == "segment" else results.get("srm"))
        mismatch = srm.get("mismatch")
        comparisons = {text(c.get("variant")): c for c in mappings(scope.get("comparisons"))}
        variants = mappings(scope.get("variants"))
        listed = {text(v.get("variant")) for v in variants}
        variants += [{"variant": name} for name in comparisons if name not in listed]
        for variant in variants:
            name = text(variant.get("variant"))
            comparison = comparisons.get(name, {})
            absolute = pair(comparison.get("absolute_ci"))
            relative = pair(comparison.get("relative_ci"))
            if name == control:
                error = ""
            elif not comparison:
                error = NO_COMPARISON
            else:
                error = text(comparison.get("error"))
            rows.append(
                {
                    "scope": kind,
                    "segment": segment,
                    "variant": name,
                    "is_control": name == control,
                    "units": _count(variant.get("units")),
                    "conversions": _count(variant.get("conversions")),
                    "clicks": _count(variant.get("clicks")),
                    "value": number(variant.get("value")),
                    "revenue": number(variant.get("revenue")),
                    "absolute_lift": number(comparison.get("absolute_lift")),
                    "absolute_ci_low": absolute[0],
                    "absolute_ci_high": absolute[1],
                    "relative_lift": number(comparison.get("relative_lift")),
                    "relative_ci_low": relative[0],
                    "relative_ci_high": relative[1],
                    "p_value": number(comparison.get("p_value")),
                    "p_value_adjusted": number(comparison.get("p_value_adjusted")),
                    "chance_to_win": number(comparison.get("chance_to_win")),
                    "srm_p_value": number(srm.get("p_value")),
                    "srm_mismatch": mismatch if isinstance(mismatch, bool) else None,
                    "error": error,
                    "decision": text(comparison.get("decision")) if kind == "overall" else "",
                    "test": text(comparison.get("test")),
                    "relative_interval_method": text(comparison.get("relative_interval_method")),
                    "variance_reduction": number(comparison.get("variance_reduction")),
                }
            )
    return rows


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""  # spreadsheets read an empty cell as a blank, not as text
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def render_csv(results: Mapping[str, Any]) -> str:
    """The rows of :func:`result_rows` as CSV: numbers unrounded, counts as integers, missing
    numbers as empty cells, and no user-typed name that a spreadsheet would run as a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in result_rows(results):
        writer.writerow([_csv_cell(row[name]) for name in CSV_COLUMNS])
    return buffer.getvalue()


def parquet_schema() -> Any:
    """The Parquet schema of :data:`COLUMNS` (a ``pyarrow.Schema``)."""
    import pyarrow as pa  # type: ignore[import-untyped]

    types = {"text": pa.string(), "count": pa.int64(), "number": pa.float64(), "flag": pa.bool_()}
    return pa.schema([pa.field(name, types[kind]) for name, kind in COLUMNS])


def render_parquet(results: Mapping[str, Any]) -> bytes:
    """The rows of :func:`result_rows` as a Parquet file (zstd), with the results' header in
    the file's key-value metadata under ``nbo.<field>``.

    A fractional count, which no stored count is, cannot be an int64 and is written as null
    rather than truncated.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    rows = result_rows(results)
    kinds = dict(COLUMNS)
    columns = {
        name: [
            row[name] if kinds[name] != "count" or isinstance(row[name], int) else None
            for row in rows
        ]
        for name in CSV_COLUMNS
    }
    metadata = {f"nbo.{field}": text(results.get(field)) for field in _HEADER}
    table = pa.Table.from_pydict(columns, schema=parquet_schema().with_metadata(metadata))
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
