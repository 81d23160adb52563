"""What a load-test session reports: the issue's targets, a table and a chart."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loadtests.workload import NAME_ACTIVITIES, NAME_DECISIONS, NAME_EVENT_BATCHES, NAME_EVENTS

__all__ = ["chart", "print_table", "targets"]


def targets(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, checked where this session measured what they need."""
    by_name = {r["name"]: r for r in records}
    out: list[dict[str, Any]] = []

    def add(what: str, value: float | None, limit: float, higher_is_better: bool) -> None:
        met = None
        if value is not None and not math.isnan(value):
            met = value >= limit if higher_is_better else value <= limit
        out.append({"target": what, "value": value, "limit": limit, "met": met})

    if "decisions" in by_name:
        add(
            "decision saturation / floor >= 0.60", by_name["decisions"]["ratio_to_floor"], 0.6, True
        )
    if "rate-500" in by_name:
        run = by_name["rate-500"]
        decisions = run["endpoints"].get(NAME_DECISIONS, {})
        add("500 decisions/s: client p50 <= 3 ms", decisions.get("p50_ms"), 3.0, False)
        add("500 decisions/s: client p99 <= 10 ms", decisions.get("p99_ms"), 10.0, False)
        add("500 decisions/s: failed requests == 0", run["total"]["failures"], 0, False)
        add("500 decisions/s: achieved", 1.0 if run["achieved"] else 0.0, 1.0, True)
        server = run["server_side"].get(NAME_DECISIONS, {})
        add("500 decisions/s: server p99 <= 2 ms", server.get("p99_ms"), 2.0, False)
    if "events" in by_name:
        add(
            "event ingestion >= 3000/s, one per request",
            by_name["events"]["events_per_s"],
            3000,
            True,
        )
    if "event-batches" in by_name:
        run = by_name["event-batches"]
        add(
            f"event ingestion >= 3000/s, batches of {run['events_per_request']}",
            run["events_per_s"],
            3000,
            True,
        )
    return out


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _notes(run: dict[str, Any]) -> list[str]:
    """What the table's last column warns of, and the mix a mixed run actually sent."""
    notes = []
    if run["achieved"] is False:
        notes.append("not achieved")
    if run["generator_bound"]:
        notes.append("generator-bound")
    if run["core_contended"]:
        notes.append("server core not busy: contended or unsaturated")
    if run["name"] in ("mix",) or run["kind"] == "fixed":
        mix = run["mix"]
        notes.append(
            "mix D/E/A "
            + "/".join(
                f"{100 * mix.get(n, 0):.0f}" for n in (NAME_DECISIONS, NAME_EVENTS, NAME_ACTIVITIES)
            )
            + "%"
        )
    return notes


def print_table(summary: dict[str, Any], out: Console) -> None:
    settings = summary["settings"]
    table = Table(
        title=f"nbo load test: floor {_fmt(summary['floor_per_s'], ',.0f')} decisions/s"
        + (f" (drift {summary['floor_drift']:+.0%})" if summary["floor_drift"] is not None else "")
        + "; "
        f"{settings['active_offers']} active offers, {settings['customers']:,} customers; "
        f"{settings['duration_s']:g} s measured after {settings['warmup_s']:g} s warm-up; "
        "latencies in ms, client-side unless 'server'",
        title_justify="left",
    )
    columns = (
        "run", "what", "users", "offered/s", "achieved/s", "÷ floor", "p50", "p95", "p99",
        "server p99", "failed", "CPU gen/srv/lrn/store", "note",
    )  # fmt: skip
    for header in columns:
        table.add_column(header, justify="left" if header in ("run", "what", "note") else "right")
    for run in summary["runs"]:
        primary = run["endpoints"].get(run["primary"], {})
        server = run["server_side"].get(run["primary"], {})
        cpu = run["cpu_share"]
        table.add_row(
            run["name"],
            "events"
            if run["primary"] == NAME_EVENTS
            else "event batches"
            if run["primary"] == NAME_EVENT_BATCHES
            else "decisions",
            str(run["users"]),
            _fmt(run["offered_decisions_per_s"], ",.0f"),
            _fmt(run["throughput_per_s"], ",.0f"),
            _fmt(run["ratio_to_floor"], ".2f"),
            _fmt(primary.get("p50_ms")),
            _fmt(primary.get("p95_ms")),
            _fmt(primary.get("p99_ms")),
            _fmt(server.get("p99_ms")),
            str(run["total"]["failures"]),
            "/".join(
                f"{100 * cpu[r]:.0f}" if r in cpu else "-"
                for r in ("load", "server", "learner", "store")
            )
            + "%",
            ", ".join(_notes(run)),
        )
    out.print(table)
    for target in summary["targets"]:
        mark = {True: "[green]met[/green]", False: "[red]missed[/red]", None: "-"}[target["met"]]
        out.print(f"  {target['target']}: {_fmt(target['value'], '.3g')} {mark}")


def chart(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    ladder = [r for r in summary["runs"] if r["kind"] == "fixed"]
    fig, ax = plt.subplots(figsize=(8, 5))
    if ladder:
        x = [r["offered_decisions_per_s"] for r in ladder]
        for key, style in (("p50_ms", "o-"), ("p95_ms", "s-"), ("p99_ms", "^-")):
            y = [r["endpoints"].get(NAME_DECISIONS, {}).get(key, math.nan) for r in ladder]
            ax.plot(x, y, style, label=f"client {key[:3]}")
        server = [r["server_side"].get(NAME_DECISIONS, {}).get("p99_ms") for r in ladder]
        ax.plot(
            x, [math.nan if v is None else v for v in server], "k--", label="server p99 (histogram)"
        )
        for r in ladder:
            if r["achieved"] is False:
                p99 = r["endpoints"].get(NAME_DECISIONS, {}).get("p99_ms", math.nan)
                ax.annotate("not achieved", (r["offered_decisions_per_s"], p99), fontsize=8)
    by_name = {r["name"]: r for r in summary["runs"]}
    if "decisions" in by_name:
        rate = by_name["decisions"]["throughput_per_s"]
        ratio = by_name["decisions"]["ratio_to_floor"]
        label = f"decision saturation {rate:,.0f}/s" + (f" ({ratio:.0%} of floor)" if ratio else "")
        ax.axvline(rate, color="tab:red", linestyle="--", label=label)
    if summary["floor_per_s"]:
        ax.axvline(
            summary["floor_per_s"],
            color="tab:gray",
            linestyle=":",
            label=f"floor saturation {summary['floor_per_s']:,.0f}/s",
        )
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(ScalarFormatter())
    ax.set_xlabel("offered decisions/s (realistic mix; 80% of requests are decisions)")
    ax.set_ylabel("/v1/decisions latency, ms")
    ax.set_title("nbo: decision latency versus offered load (one API worker)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
