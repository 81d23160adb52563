"""A bandit variant's model scope: built by serving, parsed by the learner, both here.

A running experiment's bandit variant learns in a scope of its own, ``<base>~<experiment>~
<variant>``, so its model never mixes with the default policy's. Decisions build the string when
they read and write that model; the learner parses it back to learn with the variant's policy.
Experiment and variant ids never contain ``~`` (their patterns forbid it), so the last two parts
are always theirs, whatever the base scope.
"""

from __future__ import annotations

__all__ = ["variant_of_scope", "variant_scope"]

SEPARATOR = "~"


def variant_scope(scope: str, experiment_id: str, variant_id: str) -> str:
    """The model scope of one experiment variant on top of the request's ``scope``."""
    return f"{scope}{SEPARATOR}{experiment_id}{SEPARATOR}{variant_id}"


def variant_of_scope(scope: str) -> tuple[str, str] | None:
    """``(experiment_id, variant_id)`` of a variant's scope; None for a base scope."""
    parts = scope.split(SEPARATOR)
    if len(parts) < 3:
        return None
    return parts[-2], parts[-1]
