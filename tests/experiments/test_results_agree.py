"""The results an analyst takes away agree with each other number for number: the API's JSON,
its CSV and its Parquet, `nbo results`' Parquet, and the HTML report's table of numbers.

The experiment is real (a store, decisions, events, a holdout, CUPED covariates); the CSV and
Parquet are read back with the csv module and pyarrow, and the report's cells (labelled with
the table's column names) are parsed from the text a person sees, so a rounding, a swapped
column or a dropped row in any of them fails here.
"""

from __future__ import annotations

import csv
import io
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from experiments.tables import COLUMNS, CSV_COLUMNS, PARQUET_MEDIA_TYPE
from tests.experiments.conftest import NboCli
from tests.experiments.test_cuped_conversion import bought_before
from tests.experiments.test_experiment_results import Roles, start_experiment
from tests.experiments.test_results_decisions import EXPERIMENT as THREE_VARIANTS

EXPERIMENT_ID = "exp-agree"
# the three-variant experiment with a holdout, with every built-in metric declared
BODY = {**THREE_VARIANTS, "secondary_metrics": ["click_rate", "revenue_per_unit"]}


async def _traffic(client: httpx.AsyncClient, roles: Roles, customers: int) -> None:
    rng = np.random.default_rng(3)
    for i in range(customers):
        customer = f"ag-{i}"
        if i % 3 == 0:
            await bought_before(client, roles, customer)
        if i % 4 == 0:
            r = await client.put(
                f"/v1/customers/{customer}",
                json={"attributes": {"tier": "gold"}},
                headers=roles["decide"],
            )
            assert r.status_code == 200, r.text
        r = await client.post(
            "/v1/decisions",
            json={"customer_id": customer, "channel": "web"},
            headers=roles["decide"],
        )
        assert r.status_code == 200, r.text
        decision = r.json()
        if not decision["offers"]:
            continue  # the holdout: nothing shown, nothing to click
        offer = decision["offers"][0]["offer_id"]
        for kind, chance in (("click", 0.3), ("conversion", 0.12 + 0.2 * (i % 3 == 0))):
            if rng.random() < chance:
                event: dict[str, Any] = {
                    "event_id": f"{kind}-{customer}",
                    "decision_id": decision["decision_id"],
                    "offer_id": offer,
                    "type": kind,
                }
                if kind == "conversion":
                    event["value"] = round(float(rng.uniform(5, 80)), 2)
                r = await client.post("/v1/events", json=event, headers=roles["decide"])
                assert r.status_code == 200, r.text


def _json_rows(results: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The expected row of every scope x variant, read straight from the JSON document."""
    expected: dict[tuple[str, str, str], dict[str, Any]] = {}
    scopes = [("overall", "", results["overall"], results["srm"])]
    scopes += [("segment", s["segment"], s, s["srm"]) for s in results["segments"]]
    for kind, segment, scope, srm in scopes:
        comparisons = {c["variant"]: c for c in scope["comparisons"]}
        for variant in scope["variants"]:
            name = variant["variant"]
            c = comparisons.get(name, {})
            expected[(kind, segment, name)] = {
                "is_control": name == results["control"],
                "units": variant["units"],
                "conversions": variant["conversions"],
                "clicks": variant["clicks"],
                "value": variant["value"],
                "revenue": variant["revenue"],
                "absolute_lift": c.get("absolute_lift"),
                "absolute_ci_low": (c.get("absolute_ci") or [None, None])[0],
                "absolute_ci_high": (c.get("absolute_ci") or [None, None])[1],
                "relative_lift": c.get("relative_lift"),
                "relative_ci_low": (c.get("relative_ci") or [None, None])[0],
                "relative_ci_high": (c.get("relative_ci") or [None, None])[1],
                "p_value": c.get("p_value"),
                "p_value_adjusted": c.get("p_value_adjusted"),
                "chance_to_win": c.get("chance_to_win"),
                "srm_p_value": srm.get("p_value"),
                "srm_mismatch": srm.get("mismatch"),
                "error": c.get("error") or "",
                "decision": (c.get("decision") or "") if kind == "overall" else "",
                "test": c.get("test") or "",
                "relative_interval_method": c.get("relative_interval_method") or "",
                "variance_reduction": c.get("variance_reduction"),
            }
    return expected


def _csv_value(cell: str, kind: str) -> Any:
    if kind == "text":
        return cell
    if cell == "":
        return None
    if kind == "flag":
        assert cell in ("true", "false"), cell
        return cell == "true"
    if kind == "count":
        assert re.fullmatch(r"\d+", cell), f"a count written as {cell!r}"
        return int(cell)
    return float(cell)


class _NumbersTable(HTMLParser):
    """The report's cells: (scope, segment, variant) -> {data-column: the text shown}."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, str, str], dict[str, str]] = {}
        self.scope_p: list[str] = []
        self._row: dict[str, str] | None = None
        self._column: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "tr" and "data-variant" in found:
            key = (found["data-scope"], found["data-segment"], found["data-variant"])
            assert key not in self.rows, f"row {key} drawn twice"
            self._row = self.rows[key] = {}
        elif tag == "tr":
            self._row = None
        if tag == "span" and "data-column" in found:
            self._column, self._text = found["data-column"], []

    def handle_data(self, data: str) -> None:
        if self._column is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._column is not None:
            text = "".join(self._text)
            if self._column == "srm_p_value":
                self.scope_p.append(text)
            elif self._row is not None:
                self._row[self._column] = text
            self._column = None


def _shown_matches(text: str, value: Any, column: str) -> None:
    """``text`` is how a person reads ``value``: the same number to the digits shown."""
    if value is None:
        assert text == "\u2013", f"{column}: {text!r} shown for a missing number"
        return
    plain = text.replace("\u2212", "-").replace(",", "").strip()
    bound = re.fullmatch(r"([<>]) ([\d.]+)(%?)", plain)
    if bound:
        limit = float(bound.group(2)) / (100.0 if bound.group(3) else 1.0)
        assert value < limit if bound.group(1) == "<" else value > limit, (column, text, value)
        return
    found = re.fullmatch(r"([+-]?\d+(?:\.(\d+))?)( pp|%)?", plain)
    assert found, f"{column}: cannot read {text!r}"
    digits = len(found.group(2) or "")
    scale = 100.0 if found.group(3) else 1.0
    shown = float(found.group(1)) / scale
    assert abs(shown - value) <= 0.5 * 10.0**-digits / scale + 1e-12, (column, text, value)


async def test_json_csv_parquet_and_the_report_agree_number_for_number(
    client: httpx.AsyncClient, role_keys: Roles, tmp_path: Path, nbo: NboCli
) -> None:
    await start_experiment(client, role_keys, EXPERIMENT_ID, BODY)
    await _traffic(client, role_keys, 260)
    url = f"/v1/experiments/{EXPERIMENT_ID}/results"
    analyst = role_keys["analyst"]
    results = (await client.get(url, headers=analyst)).json()
    expected = _json_rows(results)
    kinds = dict(COLUMNS)
    overall = {c["variant"]: c for c in results["overall"]["comparisons"]}
    # the experiment exercised what the columns are for: a holdout, CUPED and a decision
    assert {k[2] for k in expected} == {"rules", "bandit", "holdout"}
    assert any(k[0] == "segment" for k in expected)
    assert overall["bandit"]["variance_reduction"] is not None
    assert overall["bandit"]["decision"]

    # CSV, as the API serves it
    r = await client.get(url, params={"format": "csv"}, headers=analyst)
    assert r.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(r.text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    from_csv = {
        (row["scope"], row["segment"], row["variant"]): {
            name: _csv_value(row[name], kinds[name]) for name in CSV_COLUMNS[3:]
        }
        for row in reader
    }
    assert from_csv == expected

    # Parquet, as the API serves it and as `nbo results` writes it
    r = await client.get(url, params={"format": "parquet"}, headers=analyst)
    assert r.headers["content-type"] == PARQUET_MEDIA_TYPE
    table = pq.read_table(io.BytesIO(r.content))
    assert table.schema.field("units").type == pa.int64()
    assert table.schema.field("is_control").type == pa.bool_()
    assert table.schema.metadata[b"nbo.metric"] == b"conversion_rate"
    from_parquet = {
        (row["scope"], row["segment"], row["variant"]): {n: row[n] for n in CSV_COLUMNS[3:]}
        for row in table.to_pylist()
    }
    assert from_parquet == expected
    target = tmp_path / "results.parquet"
    await nbo("results", EXPERIMENT_ID, "--format", "parquet", "--output", str(target))
    assert pq.read_table(target).to_pylist() == table.to_pylist()

    # the report, as `nbo report` writes it from the store
    page = tmp_path / "report.html"
    await nbo("report", EXPERIMENT_ID, "--output", str(page))
    parsed = _NumbersTable()
    parsed.feed(page.read_text(encoding="utf-8"))
    assert set(parsed.rows) == set(expected)
    shown_columns = (
        "units", "conversions", "value", "revenue", "absolute_lift", "absolute_ci_low",
        "absolute_ci_high", "relative_lift", "relative_ci_low", "relative_ci_high",
        "p_value", "p_value_adjusted", "chance_to_win",
    )  # fmt: skip
    checked = 0
    for key, row in expected.items():
        cells = parsed.rows[key]
        if row["is_control"]:
            assert set(cells) == {"units", "conversions", "value", "revenue"}
        for column in shown_columns:
            if column in cells:
                _shown_matches(cells[column], row[column], column)
                checked += 1
            else:  # only a missing comparison may leave a lift or a test out
                assert row["is_control"] or row[column] is None, (key, column)
        if row["variance_reduction"] is not None:
            _shown_matches(cells["variance_reduction"], row["variance_reduction"], "cuped")
    assert checked >= 13 * len(expected) - 9 * sum(r["is_control"] for r in expected.values())
    srm = [expected[k]["srm_p_value"] for k in expected if k[2] == "rules" and k[0] == "segment"]
    assert len(parsed.scope_p) == len(srm)
    for text, value in zip(parsed.scope_p, srm, strict=True):
        _shown_matches(text, value, "srm_p_value")
    assert math.isfinite(results["srm"]["p_value"])
