"""Experiment cells keep days for "all" only; cells kept per day for every segment read the same.

A results query reads every cell of an experiment, so segments are no longer split by day (the
daily chart uses "all"). Experiments written before keep their per-day segment cells, and their
results must not change: both layouts are written here from the same events and compared.
"""

from __future__ import annotations

import numpy as np
import orjson
import redis.asyncio as redis

from engine.offline.results import experiment_results
from engine.store import keys
from engine.store.redis import RedisStore
from experiments import Experiment
from experiments.cells import (
    ALL,
    activity_increments,
    conversion_increments,
    day_of,
    exposure_increments,
)
from tests.experiments.documents import policy_variants

EXPERIMENT = Experiment.model_validate(
    {
        "name": "Layout",
        "status": "running",
        "variants": policy_variants(("a", 0.5, "rules"), ("b", 0.5, "bandit")),
        "control": "a",
        "secondary_metrics": ["click_rate", "revenue_per_unit", "activity:purchase"],
        "minimum_detectable_effect": 0.1,
    }
)
START = 1_790_000_000.0


def events(experiment_id: str, units: int) -> list[tuple[float, dict[str, dict[str, float]]]]:
    rng = np.random.default_rng(3)
    out = []
    for unit in range(units):
        variant = "ab"[unit % 2]
        segments = [s for s in ("s1", "s2", "s3") if rng.random() < 0.4]
        ts = START + float(rng.integers(0, 9)) * 86_400 + 3600
        pre = float(rng.choice([0.0, 25.5]))
        record = {"variant": variant, "phase": 1, "segments": segments, "pre": pre, "pre_c": 1.0}
        out.append((ts, exposure_increments(experiment_id, 1, variant, segments, pre, 1.0, ts)))
        if rng.random() < 0.3:
            out.append(
                (ts, conversion_increments(experiment_id, variant, record, "k", True, 0, 0, ts))
            )
        if rng.random() < 0.15:
            value = float(rng.uniform(5, 90))
            cells = conversion_increments(experiment_id, variant, record, "c", True, value, 0, ts)
            out.append((ts, cells))
            out.append((ts, activity_increments(experiment_id, record, "purchase", ts)))
    return out


def with_days(ts: float, cells: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """The layout before: every segment's cell under the event's day."""
    out: dict[str, dict[str, float]] = {}
    for key, fields in cells.items():
        for name, amount in fields.items():
            phase, variant, segment, day, stat = name.split("|")
            dated = f"{phase}|{variant}|{segment}|{day or day_of(ts)}|{stat}"
            out.setdefault(key, {})[dated] = amount
    return out


async def test_segments_are_not_split_by_day_and_old_cells_read_the_same(
    store: RedisStore,
    raw: redis.Redis,
) -> None:
    for _, cells in events("now", 400):
        await store.add_experiment_cells(cells)
    for ts, cells in events("before", 400):
        await store.add_experiment_cells(with_days(ts, cells))
    now = await store.read_experiment_cells("now")
    before = await store.read_experiment_cells("before")
    days = {name.split("|")[3] for name in now}
    assert len(days) == 10  # nine days for "all", and none ("") for the segments
    assert all(name.split("|")[3] == "" for name in now if name.split("|")[2] != ALL)
    assert len(before) > 2 * len(now)
    for metric in (None, "click_rate", "revenue_per_unit", "activity:purchase"):
        ours = await experiment_results(store, "now", EXPERIMENT, metric)
        theirs = await experiment_results(store, "before", EXPERIMENT, metric)
        ours.pop("experiment_id")
        theirs.pop("experiment_id")
        assert orjson.dumps(ours) == orjson.dumps(theirs), metric
        assert len(ours["daily"]) == 2 * 9
        assert {s["segment"] for s in ours["segments"]} == {"s1", "s2", "s3"}
    assert await raw.exists(keys.experiment_cells("now"))
