"""`nbo export` in JSON lines and Parquet, the empty export that says why, and the CSV of results.

Decisions are made through the API against the real store, closed by a real learner, and
exported by the real command; Parquet is read back by pyarrow (and pandas, where installed) as an
analyst's tool would read it, with no help from us.
"""

from __future__ import annotations

import asyncio
import csv
import io
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from api.cli import app
from engine.config import Settings
from engine.offline.export import ExportSummary, export_rows
from engine.store import keys
from experiments.tables import CSV_COLUMNS, render_csv
from tests.experiments.test_report import SEGMENTS, VARIANTS, make_results
from tests.feedback.test_events_learning import decide, event, new_learner
from tests.helpers import Service

Roles = dict[str, dict[str, str]]
FUTURE = 4_000_000_000.0


async def _decisions(service: Service, n: int) -> list[dict[str, Any]]:
    made = [await decide(service, customer=f"c-{i}") for i in range(n)]
    for _ in range(200):  # the log is written in the background, in batches
        if len(await service.store.read_log(keys.DECISION_LOG, None, n)) >= n:
            return made
        await asyncio.sleep(0.01)
    raise AssertionError("the decisions never reached the log")


async def _close_all(service: Service) -> None:
    learner = new_learner(service, clock=lambda: FUTURE)
    assert await learner.sweep_all("global") > 0


async def _nbo(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> str:
    monkeypatch.setenv("NBO_REDIS_URL", settings.redis_url or "")
    result = await asyncio.to_thread(CliRunner().invoke, app, ["export", *args])
    assert result.exit_code == 0, result.output
    return re.sub(r"\s+", " ", result.output)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _from_parquet(path: Path) -> list[dict[str, Any]]:
    """Parquet rows in the JSON lines' terms: times as unix seconds, context decoded."""
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        row["timestamp"] = _epoch(row["timestamp"])
        row["closes_at"] = _epoch(row["closes_at"])
        row["context"] = orjson.loads(row["context"])
    return rows


async def _setup(service: Service) -> list[Any]:
    await service.put_offer("o-a")
    await service.put_offer("o-b")
    made = await _decisions(service, 6)
    for decision in made[::2]:
        assert (await event(service, decision, "click")).status_code == 200
    return made


async def test_parquet_holds_the_same_rows_as_json_lines_with_stated_types(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _setup(service)
    await _close_all(service)
    jsonl, parquet = tmp_path / "log.jsonl", tmp_path / "log.parquet"
    await _nbo(monkeypatch, service.settings, "--output", str(jsonl))
    said = await _nbo(
        monkeypatch, service.settings, "--output", str(parquet), "--format", "parquet"
    )
    assert "6 rows written (6 closed decisions)" in said

    expected = _jsonl(jsonl)
    assert len(expected) == 6
    assert {r["decision_id"]: r["reward"] for r in expected} == {
        d["decision_id"]: 1.0 if i % 2 == 0 else 0.0 for i, d in enumerate(made)
    }
    assert all(r["open"] is False and r["closes_at"] is None for r in expected)
    assert _from_parquet(parquet) == expected

    schema = pq.read_schema(parquet)
    assert schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("closes_at").type == pa.timestamp("ms", tz="UTC")
    for name in ("position",):
        assert schema.field(name).type == pa.int64()
    assert schema.field("policy").type == pa.struct(
        [("name", pa.string()), ("version", pa.int64())]
    )
    for name in ("probability", "reward"):
        assert schema.field(name).type == pa.float64()
    assert schema.field("features").type == pa.list_(pa.float64())
    assert schema.field("open").type == pa.bool_()
    assert schema.field("context").type == pa.string()

    pandas = pytest.importorskip("pandas")
    frame = pandas.read_parquet(parquet)
    assert str(frame["position"].dtype) == "int64"
    assert str(frame["reward"].dtype) == "float64"
    assert str(frame["timestamp"].dtype) == "datetime64[ms, UTC]"
    assert frame["reward"].sum() == 3.0
    assert [ts.timestamp() for ts in frame["timestamp"]] == [r["timestamp"] for r in expected]


async def test_an_empty_parquet_export_is_a_file_with_the_schema(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "empty.parquet"
    said = await _nbo(monkeypatch, service.settings, "--output", str(target), "--format", "parquet")
    assert "0 rows written" in said
    assert "attribution window" not in said  # nothing is pending: nothing to explain
    table = pq.read_table(target)
    assert table.num_rows == 0
    assert table.schema.field("timestamp").type == pa.timestamp("ms", tz="UTC")


async def test_an_export_empty_because_windows_are_open_says_how_many_and_when(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await service.put_offer()
    await _decisions(service, 3)
    window = service.settings.attribution_window("web")
    times = [float(f["ts"]) for _, f in await service.raw.xrange(keys.DECISION_LOG)]
    first, last = (
        datetime.fromtimestamp(t + window, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        for t in (min(times), max(times))
    )

    target = tmp_path / "log.jsonl"
    said = await _nbo(monkeypatch, service.settings, "--output", str(target))
    assert target.read_bytes() == b""
    assert "0 rows written (0 closed decisions)" in said
    assert "3 decisions are still in their attribution window" in said
    assert f"close between {first} and {last}" in said
    assert "--include-open" in said
    assert "wait for the learner" not in said

    # the windows have passed but no learner closed them: say that, not "still open"
    summary = ExportSummary()
    assert [r async for r in export_rows(service.store, summary=summary, now=FUTURE)] == []
    assert (summary.open_decisions, summary.due, summary.rows) == (3, 3, 0)
    note = summary.describe_open(included=False)
    assert note is not None
    assert "3 of them have passed their window and wait for the learner" in note


async def test_include_open_exports_open_decisions_with_the_reward_so_far(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await _setup(service)
    window = service.settings.attribution_window("web")
    logged = {
        f["decision_id"]: float(f["ts"]) for _, f in await service.raw.xrange(keys.DECISION_LOG)
    }
    jsonl, parquet = tmp_path / "open.jsonl", tmp_path / "open.parquet"
    said = await _nbo(monkeypatch, service.settings, "--output", str(jsonl), "--include-open")
    await _nbo(
        monkeypatch,
        service.settings,
        "--output",
        str(parquet),
        "--format",
        "parquet",
        "--include-open",
    )
    assert "6 rows written (0 closed decisions, 6 rows of open ones)" in said
    assert "6 rows of them are exported with open = true" in said

    rows = _jsonl(jsonl)
    assert {r["decision_id"]: r["reward"] for r in rows} == {
        d["decision_id"]: 1.0 if i % 2 == 0 else 0.0 for i, d in enumerate(made)
    }
    for row in rows:
        assert row["open"] is True
        assert row["closes_at"] == pytest.approx(logged[row["decision_id"]] + window, abs=1e-3)
    assert _from_parquet(parquet) == rows

    # once closed they are exported as closed, with the same (now final) rewards
    await _close_all(service)
    closed = [r async for r in export_rows(service.store, include_open=True)]
    assert {r["decision_id"]: (r["reward"], r["open"]) for r in closed} == {
        r["decision_id"]: (r["reward"], False) for r in rows
    }


async def test_an_unknown_format_is_refused_naming_the_option(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBO_REDIS_URL", settings.redis_url or "")
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["export", "--output", str(tmp_path / "x"), "--format", "xlsx"]
    )
    assert result.exit_code == 2
    assert "--format" in result.output
    assert "jsonl, parquet" in result.output
    assert not (tmp_path / "x").exists()


# --- the CSV of experiment results -------------------------------------------------------------


def _csv_rows(results: dict[str, Any]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(render_csv(results))))


def test_csv_counts_are_integers() -> None:
    rows = _csv_rows(make_results())
    assert rows
    for row in rows:
        for column in ("units", "conversions"):
            assert re.fullmatch(r"\d+", row[column]), (column, row[column])
    results = make_results()
    results["overall"]["variants"][0]["units"] = 1049.0  # a count that travelled as a float
    assert _csv_rows(results)[0]["units"] == "1049"


def test_csv_error_column_says_why_an_estimate_is_missing() -> None:
    results = make_results()
    comparison = results["overall"]["comparisons"][0]
    comparison.update(relative_lift=None, relative_ci=[None, None], error="ZERO_VARIANCE")
    results["segments"][0]["comparisons"] = []
    rows = _csv_rows(results)
    # error and decision keep the positions readers by position know; later columns follow
    assert CSV_COLUMNS[20:22] == ("error", "decision")
    by_key = {(r["scope"], r["segment"], r["variant"]): r for r in rows}
    assert by_key[("overall", "", "bandit")]["error"] == "ZERO_VARIANCE"
    assert by_key[("overall", "", "bandit")]["relative_lift"] == ""
    assert by_key[("overall", "", "control")]["error"] == ""
    assert by_key[("overall", "", "holdout")]["error"] == ""
    assert by_key[("segment", SEGMENTS[0], "bandit")]["error"] == "NO_COMPARISON"


def _same(cell: str, value: Any) -> None:
    """One CSV cell holds exactly the JSON's number: integers as integers, floats unrounded."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        assert cell == ""
    elif isinstance(value, bool):
        assert cell == str(value).lower()
    elif isinstance(value, int):
        assert cell == str(value)
    else:
        assert float(cell) == value


def test_json_results_and_csv_agree_number_for_number() -> None:
    results = make_results()
    rows = _csv_rows(results)
    scopes = [("overall", "", results["overall"], results["srm"])] + [
        ("segment", s["segment"], s, s["srm"]) for s in results["segments"]
    ]
    assert len(rows) == len(scopes) * len(VARIANTS)
    checked = 0
    for (kind, segment, scope, srm), block in zip(
        scopes,
        [rows[i : i + len(VARIANTS)] for i in range(0, len(rows), len(VARIANTS))],
        strict=True,
    ):
        comparisons = {c["variant"]: c for c in scope["comparisons"]}
        for variant, row in zip(scope["variants"], block, strict=True):
            assert (row["scope"], row["segment"], row["variant"]) == (
                kind,
                segment,
                variant["variant"],
            )
            for column in ("units", "conversions", "value", "revenue"):
                _same(row[column], variant[column])
                checked += 1
            _same(row["srm_p_value"], srm["p_value"])
            _same(row["srm_mismatch"], srm["mismatch"])
            comparison = comparisons.get(variant["variant"])
            if comparison is None:
                continue
            for column in ("absolute_lift", "relative_lift", "p_value", "p_value_adjusted"):
                _same(row[column], comparison[column])
                checked += 1
            _same(row["chance_to_win"], comparison["chance_to_win"])
            for side, index in (("low", 0), ("high", 1)):
                _same(row[f"absolute_ci_{side}"], comparison["absolute_ci"][index])
                _same(row[f"relative_ci_{side}"], comparison["relative_ci"][index])
                checked += 2
    assert checked == len(rows) * 4 + (len(scopes) * (len(VARIANTS) - 1)) * 8


async def test_the_api_results_and_their_csv_agree_number_for_number(
    client: httpx.AsyncClient, role_keys: Roles
) -> None:
    from tests.experiments.test_experiment_results import send, start_experiment

    await start_experiment(client, role_keys, "exp-c")
    for i in range(60):
        await send(client, role_keys, f"v-{i}", "conversion" if i % 5 == 0 else "", value=9.5)
    url = "/v1/experiments/exp-c/results"
    results = (await client.get(url, headers=role_keys["analyst"])).json()
    text = (await client.get(url + "?format=csv", headers=role_keys["analyst"])).text
    rows = list(csv.DictReader(io.StringIO(text)))
    overall = [row for row in rows if row["scope"] == "overall"]
    assert [row["variant"] for row in overall] == [
        v["variant"] for v in results["overall"]["variants"]
    ]
    comparisons = {c["variant"]: c for c in results["overall"]["comparisons"]}
    for row, variant in zip(overall, results["overall"]["variants"], strict=True):
        for column in ("units", "conversions", "clicks", "value", "revenue"):
            _same(row[column], variant[column])
        comparison = comparisons.get(variant["variant"])
        if comparison is not None:
            for column in ("absolute_lift", "relative_lift", "p_value", "chance_to_win"):
                _same(row[column], comparison[column])
            assert row["error"] == (comparison["error"] or "")
    assert sum(int(row["units"]) for row in overall) == 60
