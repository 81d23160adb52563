"""The settings every section reads the comparisons with."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReadOut:
    """Resolved once by the page and handed to each section whole, so no section can read a
    different alpha, control or holdout than another.

    Attributes
    ----------
    control : str
        The variant every other is compared with.
    metric : str
        The primary metric, which the verdicts are about.
    alpha : float
        The significance level verdicts compare p-values with.
    stopped : bool
        The experiment has stopped: a verdict is final rather than "so far".
    holdouts : frozenset[str]
        Variants that get no offer: baselines of the programme, not competitors.
    """

    control: str
    metric: str
    alpha: float
    stopped: bool
    holdouts: frozenset[str]
