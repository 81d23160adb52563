"""The experiments package's own exception tree.

``experiments`` sits below ``engine`` in the dependency order, so it cannot raise the engine's
errors; the engine translates these once (``ExperimentInvalid`` -> ``ValidationFailed``,
``ExperimentConflict`` -> ``Conflict``, ``ExperimentOverlap`` -> its engine namesake), keeping
``message`` and ``field`` as they are.
"""

from __future__ import annotations

__all__ = [
    "CodedError",
    "ExperimentConflict",
    "ExperimentError",
    "ExperimentInvalid",
    "ExperimentOverlap",
]


class CodedError(Exception):
    """An error that carries what an API error body shows: ``code``, ``message`` and ``field``.

    Both exception trees (this package's and the engine's) derive from it, so the translation
    between them and the API's error shape read the same three attributes; it lives here, in
    the lowest layer, because the engine may import this package and not the reverse.
    """

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class ExperimentError(CodedError):
    """Base of every error this package raises on purpose.

    ``field`` is the JSON path of the culprit in the experiment document (``variants[1].weight``),
    or ``None`` when the document as a whole is at fault.
    """


class ExperimentInvalid(ExperimentError):
    """The document cannot describe any experiment, whatever was stored before."""

    code = "validation_error"


class ExperimentConflict(ExperimentError):
    """The document is valid alone but not as the next state of the stored experiment.

    Raised for lifecycle moves the state machine forbids, for edits that would change who is
    assigned to what without starting a new phase, and for overlapping layer ranges.
    """

    code = "conflict"


class ExperimentOverlap(ExperimentConflict):
    """Starting the experiment would let it compete with a live one for the same decisions.

    A decision applies one experiment, so the two would split the customers they share by id
    rather than by design; the message names the other experiment and the shared targeting.
    """

    code = "experiment_overlap"
