"""``python -m api.cli``: how `nbo serve` starts its learner process."""

from api.cli import app

app()
