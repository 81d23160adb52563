"""The ``nbo`` command line: serve the API, load demo data, learn segments, manage keys.

Each command lives in the module of its name; this module assembles them into the ``nbo`` app
(the console script ``api.cli:app``), in the order ``nbo --help`` lists them.
"""

from __future__ import annotations

import typer

from api.cli.demo import demo
from api.cli.evaluate import evaluate
from api.cli.export import export
from api.cli.keys import keys_create
from api.cli.learner import learner
from api.cli.models import save_snapshot
from api.cli.results import report, results
from api.cli.segments import segments_learn
from api.cli.serve import serve
from api.cli.simulate import simulate

__all__ = ["app"]

app = typer.Typer(help="nbo: next-best-offer decisioning engine.", no_args_is_help=True)
segments_app = typer.Typer(help="Segments.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(segments_app, name="segments")
app.add_typer(keys_app, name="keys")

app.command()(serve)
app.command()(demo)
keys_app.command("create")(keys_create)
app.command()(learner)
app.command()(export)
app.command()(simulate)
app.command()(results)
app.command()(report)
segments_app.command("learn")(segments_learn)
app.command()(evaluate)
app.command("snapshot")(save_snapshot)
