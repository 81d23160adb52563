"""The benchmark suite: every micro and macro benchmark, one results file, the performance table.

Runs, one after another (they must not share the 2 cores): the micro benchmarks (scorer vs
MABWiser, assignment, eligibility with caps, learner, freshness), the scale figures (memory
per customer, bulk load, results on 1M exposures x 20 segments), the CPU of a decision in
process against the floor's, and the locust load tests against the floor. Each script writes
its own JSON under ``bench/out``; this collects them into ``bench/results.json`` and rewrites
the performance table of docs/performance.md between its markers, so the table always shows the last
measured run and the command behind every figure.

    .venv/bin/python bench/run_all.py [--quick] [--skip loadtest,scale]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results.json"
PERFORMANCE = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PY = sys.executable


def steps(quick: bool) -> dict[str, tuple[list[str], Path]]:
    """Name -> (command, JSON it writes): each benchmark runs as a module of ``bench`` with its
    full or its quick arguments, and writes ``bench/out/<name>.json``."""
    arguments = {
        "micro": [],
        "scorer": [],
        "learner": ["--rewards", "5000" if quick else "20000"],
        "freshness": ["--samples", "10" if quick else "60"],
        "scale": ["--customers", "20000"] if quick else [],
        "decision_cpu": ["--requests", "500" if quick else "2000"],
        "store_packing": ["--rounds", "500" if quick else "2000"],
    }
    commands = {
        name: ([PY, "-m", f"bench.{name}", *args], OUT / f"{name}.json")
        for name, args in arguments.items()
    }
    loadtest = [PY, "-m", "loadtests.run", "--profile", *(["--quick"] if quick else [])]
    return {**commands, "loadtest": (loadtest, OUT / "loadtest" / "summary.json")}


def run(names: list[str], quick: bool) -> dict[str, Any]:
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "quick": quick,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name, (command, output) in steps(quick).items():
        if name not in names:
            continue
        print(f"== {name}: {' '.join(Path(c).name if c == PY else c for c in command)}", flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, check=False)
        entry: dict[str, Any] = {
            "command": " ".join(".venv/bin/python" if c == PY else c for c in command),
            "seconds": round(time.perf_counter() - started, 1),
            "exit_code": done.returncode,
        }
        if done.returncode == 0 and output.exists():
            entry["result"] = json.loads(output.read_text())
        results[name] = entry
    return results


def _get(tree: Any, *path: str | int) -> Any:
    for part in path:
        try:
            tree = tree[part]
        except (KeyError, IndexError, TypeError):
            return None
    return tree


def _fmt(value: Any, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def table(results: dict[str, Any]) -> str:
    """The performance table, every row from this run's results."""
    rows: list[tuple[str, str, str, str]] = []

    def row(step: str, what: str, result: str, baseline: str) -> None:
        """A row of the table, shown with the command of the step that measured it."""
        rows.append((what, _get(results, step, "command"), result, baseline))

    scorer = _get(results, "scorer", "result", "results") or []
    for item in scorer:
        if item.get("policy") in ("linucb", "lints"):
            row(
                "scorer",
                f"scorer, {item['policy']}, 100 offers x 32 features",
                f"{_fmt(item.get('scorer_median_us'), 1)} µs per context",
                f"MABWiser one-context predict {_fmt(item.get('mabwiser_median_us'))} µs: "
                f"**{_fmt(item.get('speedup'), 1)}x faster**",
            )
    micro = _get(results, "micro", "result") or {}
    if "assignment" in micro:
        a = micro["assignment"]
        row(
            "micro",
            "experiment assignment (gbhash v2)",
            f"{_fmt(a['us_per_call'], 2)} µs per call",
            f"one FNV-1a hash {_fmt(a['baseline_us_per_call'], 2)} µs "
            f"(ratio {_fmt(a['ratio_to_baseline'], 1)})",
        )
    if "eligibility" in micro:
        e = micro["eligibility"]
        row(
            "micro",
            "eligibility and caps, 100 offers, one customer",
            f"{_fmt(e['us_per_decision'])} µs",
            f"explaining path {_fmt(e['baseline_us_per_decision'])} µs: "
            f"{_fmt(e['speedup'], 2)}x faster",
        )
    learner = _get(results, "learner", "result")
    if learner:
        row(
            "learner",
            "learner throughput, 100 arms x 32 features",
            f"**{_fmt(learner.get('learner_rewards_per_s'))} rewards/s** end to end",
            f"MABWiser partial_fit alone {_fmt(learner.get('mabwiser_only_rewards_per_s'))}/s "
            f"(ratio {_fmt(learner.get('ratio_to_mabwiser_only'), 2)})",
        )
    fresh = _get(results, "freshness", "result")
    if fresh:
        row(
            "freshness",
            "freshness: accepted reward → served model including it",
            f"p50 {_fmt(fresh.get('freshness_p50_ms'))} ms, "
            f"**p95 {_fmt(fresh.get('freshness_p95_ms'))} ms**",
            f"{_fmt(100 * (fresh.get('freshness_p95_share_of_2s_target') or 0))}% "
            "of the 2 s target",
        )
    scale = _get(results, "scale", "result") or {}
    memory = scale.get("memory") or {}
    if memory:
        row(
            "scale",
            "Redis memory per demo customer (MEMORY USAGE, every key)",
            f"**{_fmt(memory.get('memory_usage_mean_bytes'))} B mean**, "
            f"p95 {_fmt(memory.get('memory_usage_p95_bytes'))} B",
            f"INFO used_memory: {_fmt(memory.get('used_memory_delta_per_customer_bytes'))} B "
            "per customer; target 1,536 B",
        )
    load = scale.get("load") or {}
    if load:
        base = scale.get("baseline") or {}
        row(
            "scale",
            f"bulk load, `nbo demo --customers {_fmt(load.get('customers'))}`",
            f"**{_fmt(load.get('seconds'), 1)} s** "
            f"({_fmt(load.get('customers_per_second'))} customers/s)",
            f"per-customer script path {_fmt(base.get('customers_per_second'))}/s: "
            f"{_fmt(load.get('speedup_over_baseline'), 1)}x faster; target 120 s",
        )
    query = _get(scale, "results", "results") or {}
    for metric, figures in query.items():
        row(
            "scale",
            f"results, {metric}, {_fmt(_get(scale, 'results', 'exposures'))} exposures x "
            f"{_get(scale, 'results', 'segments')} segments",
            f"**median {_fmt(figures.get('median_ms'), 1)} ms**, "
            f"p95 {_fmt(figures.get('p95_ms'), 1)} ms",
            f"reading the cells alone: median "
            f"{_fmt(_get(scale, 'results', 'read_cells_only', 'median_ms'), 1)} ms; "
            "target 50 ms",
        )
    cpu = _get(results, "decision_cpu", "result", "cases") or {}
    if "decision" in cpu and "floor" in cpu:
        floor, commit, decision = cpu["floor"], cpu.get("floor-commit") or {}, cpu["decision"]
        row(
            "decision_cpu",
            "CPU per decision in process (ASGI app, no HTTP server), server + Valkey",
            f"{_fmt(decision['cpu_us'])} + {_fmt(decision['store_us'])} µs "
            f"(floor plus commit round trip: {_fmt(commit.get('cpu_us'))} + "
            f"{_fmt(commit.get('store_us'))} µs)",
            f"floor {_fmt(floor['cpu_us'])} + {_fmt(floor['store_us'])} µs: one core serves "
            f"**{_fmt(decision.get('core_rate_vs_floor'), 2)}** of the floor's rate "
            f"(with the commit round trip alone: {_fmt(commit.get('core_rate_vs_floor'), 2)})",
        )
    load = _get(results, "loadtest", "result")
    if load:
        floor = load.get("floor_per_s")
        for record in load.get("runs", []):
            if record["name"] in ("floor", "floor-end"):
                continue
            primary = record["endpoints"].get(record["primary"], {})
            server = _get(record, "server_side", record["primary"], "p99_ms")
            what = record["name"]
            if what == "floor-commit":
                what = "floor plus a decision-sized commit round trip (reference)"
            if record.get("offered_decisions_per_s"):
                what = f"fixed {record['offered_decisions_per_s']:g} decisions/s (mix)"
                if record.get("achieved") is False:
                    what += ", not achieved"
            events = record.get("events_per_request") or 1
            carried = f" (**{_fmt(record['events_per_s'])} events/s**)" if events > 1 else ""
            row(
                "loadtest",
                f"load test: {what}",
                f"{_fmt(record['throughput_per_s'])} {record['primary']}/s{carried}, "
                f"p50 {_fmt(primary.get('p50_ms'), 2)} ms, "
                f"p99 {_fmt(primary.get('p99_ms'), 2)} ms, "
                f"server p99 {_fmt(server, 2, ' ms')}, {record['total']['failures']} failed",
                f"floor {_fmt(floor)}/s: **{_fmt(record.get('ratio_to_floor'), 2)}**",
            )
    lines = [
        "| what | command | result | baseline (same run) |",
        "|---|---|---|---|",
        *(f"| {w} | `{c}` | {r} | {b} |" for w, c, r, b in rows),
    ]
    stamp = results.get("started_at", "")
    load_avg = _get(results, "machine", "load_average_at_start")
    note = f"Measured {stamp} by `make bench`"
    if load_avg:
        note += f" (load average at start {load_avg[0]:.2f})"
    return "\n".join([note + ".", "", *lines])


def update_performance_table(text: str) -> bool:
    document = PERFORMANCE.read_text()
    if START not in document or END not in document:
        return False
    head, _, rest = document.partition(START)
    _, _, tail = rest.partition(END)
    PERFORMANCE.write_text(f"{head}{START}\n{text}\n{END}{tail}")
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--skip", default="", help="comma-separated steps to skip")
    parser.add_argument(
        "--no-table", action="store_true", help="do not rewrite docs/performance.md's table"
    )
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    names = [name for name in steps(args.quick) if name not in skip]
    results = run(names, args.quick)
    RESULTS.write_text(json.dumps(results, indent=2))
    rendered = table(results)
    print(rendered)
    if not args.no_table and not args.quick and update_performance_table(rendered):
        table_path, results_path = PERFORMANCE.relative_to(ROOT), RESULTS.relative_to(ROOT)
        print(f"{table_path} table refreshed; results in {results_path}")


if __name__ == "__main__":
    main()
