"""``nbo evaluate``: off-policy evaluation of candidate policies on logged traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from api.cli.common import console
from api.cli.models import current_snapshot


def evaluate(
    log: Annotated[
        Path,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="decision log JSON lines (from `nbo export`) or an Open Bandit Dataset CSV",
        ),
    ],
    baseline_log: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="a second log whose per-position action distribution is a candidate (OBD)",
        ),
    ] = None,
    format: Annotated[str, typer.Option(help="Output: table or json")] = "table",
    alpha: Annotated[float, typer.Option(help="1 - alpha is the intervals' coverage")] = 0.05,
    by_segment: Annotated[bool, typer.Option(help="Also evaluate every segment")] = True,
    current_model: Annotated[
        bool, typer.Option(help="Add the model the store serves now (scope --scope)")
    ] = False,
    snapshot: Annotated[
        list[Path] | None,
        typer.Option(exists=True, dir_okay=False, help="Add a saved model (`nbo snapshot`)"),
    ] = None,
    scope: Annotated[str, typer.Option(help="Model scope for --current-model")] = "global",
    epsilon: Annotated[float, typer.Option(help="Exploration of model candidates")] = 0.05,
) -> None:
    """Estimate offline what candidate policies would earn on logged traffic (IPS, SNIPS, DR)."""
    import math

    import orjson
    from rich.table import Table

    from engine.learning.policies import ModelSnapshot
    from engine.offline.evaluation import candidate_policies, load_log, model_candidate
    from engine.offline.evaluation import evaluate as evaluate_policies

    if format not in ("table", "json"):
        raise typer.BadParameter("format must be table or json", param_hint="--format")
    if not 0.0 < alpha < 1.0:
        raise typer.BadParameter("alpha must lie in (0, 1)", param_hint="--alpha")
    try:
        feedback = load_log(log)
        baseline = load_log(baseline_log) if baseline_log is not None else None
        extra = {}
        for path in snapshot or []:
            saved = ModelSnapshot.from_bytes(path.read_bytes())
            extra[f"snapshot:{path.stem}:v{saved.version}"] = model_candidate(saved, epsilon)
        if current_model:
            served = current_snapshot(scope)
            extra[f"current:{scope}:v{served.version}"] = model_candidate(served, epsilon)
        candidates = candidate_policies(feedback, baseline_log=baseline, extra_candidates=extra)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot evaluate:[/red] {exc}")
        raise typer.Exit(1) from exc
    report = evaluate_policies(feedback, candidates, by_segment=by_segment, alpha=alpha)
    if format == "json":
        typer.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return

    def number(value: float) -> str:
        return f"{value:.4g}" if math.isfinite(value) else "-"

    out = Console()
    out.print(f"Off-policy evaluation of {log.name}: {100 * (1 - alpha):g}% intervals")
    for result in (report.overall, *report.segments):
        table = Table(title=f"{result.segment or 'all rows'}: n = {result.n}", title_justify="left")
        for header in ("policy", "estimator", "value", "interval", "ESS", "note"):
            table.add_column(header, justify="right" if header in ("value", "ESS") else "left")
        rows = [("logged", result.logged)] + [
            (candidate, estimate)
            for candidate, by_estimator in result.estimates.items()
            for estimate in by_estimator.values()
        ]
        for policy, estimate in rows:
            ess = estimate.effective_sample_size
            table.add_row(
                policy,
                estimate.estimator,
                number(estimate.value),
                f"[{number(estimate.ci_low)}, {number(estimate.ci_high)}]",
                f"{ess:,.0f}" if math.isfinite(ess) else "-",
                estimate.error or "",
            )
        out.print(table)
    out.print("static_best is picked and scored on the same log, so its estimate is optimistic.")
    estimated = feedback.estimated_propensity
    if estimated is not None and estimated.any():
        out.print(f"{100 * estimated.mean():.1f}% of rows have estimated propensities.")
