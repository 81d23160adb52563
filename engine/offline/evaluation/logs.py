"""Logged bandit feedback and the readers of the logs it comes from: the Open Bandit Dataset's
CSV and the decision log ``nbo export`` writes."""

from __future__ import annotations

import csv
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# OBD's user features are hashed categories whose value sets differ between files; hashing them
# into fixed buckets gives every file the same context columns, so a model fitted on one log
# can score another. Collisions only merge categories.
_OBD_HASH_BUCKETS = 32
_OBD_AFFINITY = "user-item_affinity_"
_OBD_USER = "user_feature_"


@dataclass(frozen=True, eq=False)
class LoggedFeedback:
    """Logged bandit feedback: one row per served action, with the logging probability.

    Parameters
    ----------
    actions : ndarray of int, shape (n,)
        Index into ``action_ids`` of the action served in each row.
    action_ids : tuple of str, length K
        The action space (offer ids, OBD item ids); the columns of every target matrix.
    positions : ndarray of int, shape (n,)
        0-based slot the action was shown in; target policies are read at this position.
    rewards : ndarray of float, shape (n,)
        Observed reward (click 0/1, conversion value, ...).
    propensities : ndarray of float, shape (n,)
        Probability the logging policy gave the served action at its position, in (0, 1].
    contexts : ndarray of float, shape (n, d), optional
        The context vector the reward model learns from.
    segments : tuple of tuple of str, length n, optional
        Segments each row belonged to at decision time; a row may be in several or none.
    estimated_propensity : ndarray of bool, shape (n,), optional
        True where the logging probability was estimated rather than known exactly, so a
        report can say how much of the log rests on estimated propensities.
    eligible : ndarray of bool, shape (n, K), optional
        Actions that could have been served in each row; the logged action is always eligible.

    Raises
    ------
    ValueError
        On inconsistent shapes, out-of-range indices, non-finite values or propensities
        outside (0, 1]. Arrays are copied and made read-only, so the value really is frozen.
    """

    actions: IntArray
    action_ids: tuple[str, ...]
    positions: IntArray
    rewards: FloatArray
    propensities: FloatArray
    contexts: FloatArray | None = None
    segments: tuple[tuple[str, ...], ...] | None = None
    estimated_propensity: BoolArray | None = None
    eligible: BoolArray | None = None

    def __post_init__(self) -> None:
        k = len(self.action_ids)
        if k == 0:
            raise ValueError("action_ids is empty: a log needs at least one action")
        if len(set(self.action_ids)) != k:
            raise ValueError("action_ids holds duplicates")
        actions = _index_vector("actions", self.actions)
        n = actions.shape[0]
        if n and (actions.min() < 0 or actions.max() >= k):
            raise ValueError(f"actions must be indices in [0, {k}) into action_ids")
        positions = _index_vector("positions", self.positions, n)
        if n and positions.min() < 0:
            raise ValueError("positions are 0-based and must be >= 0")
        rewards = _float_array("rewards", self.rewards, (n,))
        propensities = _float_array("propensities", self.propensities, (n,))
        if n and (propensities.min() <= 0.0 or propensities.max() > 1.0):
            raise ValueError("propensities must lie in (0, 1]")
        _freeze(self, "actions", actions)
        _freeze(self, "positions", positions)
        _freeze(self, "rewards", rewards)
        _freeze(self, "propensities", propensities)
        if self.contexts is not None:
            contexts = np.array(self.contexts, dtype=np.float64)
            if contexts.ndim != 2 or contexts.shape[0] != n:
                raise ValueError(f"contexts must have shape (n, d) with n = {n}")
            if not np.isfinite(contexts).all():
                raise ValueError("contexts must be finite")
            _freeze(self, "contexts", contexts)
        if self.segments is not None:
            if len(self.segments) != n:
                raise ValueError(f"segments must have one entry per row ({n})")
            if not all(
                isinstance(row, tuple | list) and all(isinstance(s, str) for s in row)
                for row in self.segments
            ):
                raise ValueError("segments must hold one tuple of segment names (str) per row")
            object.__setattr__(self, "segments", tuple(tuple(row) for row in self.segments))
        if self.estimated_propensity is not None:
            _freeze(self, "estimated_propensity", _bool_array(self.estimated_propensity, (n,)))
        if self.eligible is not None:
            eligible = _bool_array(self.eligible, (n, k))
            if n and not eligible[np.arange(n), actions].all():
                raise ValueError("every logged action must be marked eligible in its row")
            _freeze(self, "eligible", eligible)

    @property
    def n(self) -> int:
        """Number of logged rows."""
        return int(self.actions.shape[0])

    @property
    def n_actions(self) -> int:
        """Size ``K`` of the action space."""
        return len(self.action_ids)

    @property
    def n_positions(self) -> int:
        """One more than the largest logged position (0 for an empty log)."""
        return int(self.positions.max()) + 1 if self.n else 0

    def subset(self, rows: npt.NDArray[np.integer[Any]] | BoolArray) -> LoggedFeedback:
        """The same log restricted to ``rows`` (indices or a boolean mask), same action space."""
        index = np.arange(self.n)[rows]
        return LoggedFeedback(
            actions=self.actions[index],
            action_ids=self.action_ids,
            positions=self.positions[index],
            rewards=self.rewards[index],
            propensities=self.propensities[index],
            contexts=None if self.contexts is None else self.contexts[index],
            segments=None if self.segments is None else tuple(self.segments[i] for i in index),
            estimated_propensity=(
                None if self.estimated_propensity is None else self.estimated_propensity[index]
            ),
            eligible=None if self.eligible is None else self.eligible[index],
        )


def _freeze(obj: object, name: str, value: npt.NDArray[Any]) -> None:
    value.setflags(write=False)
    object.__setattr__(obj, name, value)


def _index_vector(name: str, value: Any, n: int | None = None) -> IntArray:
    array = np.asarray(value)
    if array.ndim != 1 or (n is not None and array.shape[0] != n):
        raise ValueError(f"{name} must have shape (n,)" + ("" if n is None else f" with n = {n}"))
    integral = array.dtype.kind in "iu" or (
        array.dtype.kind == "f" and bool(np.all(np.isfinite(array) & (array == np.round(array))))
    )
    if not integral:
        raise ValueError(f"{name} must be integers")
    return np.array(array, dtype=np.int64)


def _float_array(name: str, value: Any, shape: tuple[int, ...]) -> FloatArray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers") from exc
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}; expected {shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


def _bool_array(value: Any, shape: tuple[int, ...]) -> BoolArray:
    array = np.asarray(value)
    if array.shape != shape or array.dtype.kind != "b":
        raise ValueError(
            f"expected a boolean array of shape {shape}, got {array.dtype} {array.shape}"
        )
    return np.array(array, dtype=np.bool_)


def load_obd_csv(
    path: str | PathLike[str], *, segment_by: str | None = "user_feature_0"
) -> LoggedFeedback:
    """Read an Open Bandit Dataset log (``timestamp,item_id,position,click,...`` CSV).

    Actions are ``item_id`` (action ids ``"0"`` .. ``"K-1"``, ``K`` taken from the number of
    ``user-item_affinity_*`` columns so logs of the same campaign share one action space),
    positions ``position - 1``, rewards ``click``, propensities ``propensity_score``. Contexts
    are the affinity columns followed by the ``user_feature_*`` categories hashed into 32
    one-hot buckets each (fixed columns across files). Each row's segment is
    ``("<segment_by>=<value>",)``. ``estimated_propensity`` is left unset: OBD does not say
    which propensities were computed (BTS's come from Monte Carlo simulation). With
    ``segment_by=None`` the rows have no segments.

    A missing column or an unparsable value raises ``ValueError``.
    """
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file")
        rows = [row for row in reader if row]
    column = {name: i for i, name in enumerate(header)}
    required = ["item_id", "position", "click", "propensity_score"]
    if segment_by is not None:
        required.append(segment_by)
    missing = [name for name in required if name not in column]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    affinity = sorted(
        (name for name in header if name.startswith(_OBD_AFFINITY)),
        key=lambda name: int(name[len(_OBD_AFFINITY) :]),
    )
    users = sorted(name for name in header if name.startswith(_OBD_USER))

    def numbers(names: Sequence[str]) -> FloatArray:
        indices = [column[name] for name in names]
        try:
            return np.array([[row[i] for i in indices] for row in rows], dtype=np.float64).reshape(
                len(rows), len(indices)
            )
        except (ValueError, IndexError) as exc:
            raise ValueError(f"{path}: unparsable value in {list(names)[:3]}...: {exc}") from exc

    core = numbers(["item_id", "position", "click", "propensity_score"])
    items = core[:, 0]
    k = len(affinity) if affinity else int(items.max(initial=0)) + 1
    if rows and (items.min() < 0 or items.max() >= k):
        raise ValueError(f"{path}: item_id outside [0, {k})")
    context_parts: list[FloatArray] = []
    if affinity:
        context_parts.append(numbers(affinity))
    for name in users:
        hashed = np.zeros((len(rows), _OBD_HASH_BUCKETS))
        i = column[name]
        for r, row in enumerate(rows):
            hashed[r, zlib.crc32(f"{name}={row[i]}".encode()) % _OBD_HASH_BUCKETS] = 1.0
        context_parts.append(hashed)
    segments = None
    if segment_by is not None:
        i = column[segment_by]
        segments = tuple((f"{segment_by}={row[i]}",) for row in rows)
    return LoggedFeedback(
        actions=items.astype(np.int64),
        action_ids=tuple(str(a) for a in range(k)),
        positions=core[:, 1].astype(np.int64) - 1,
        rewards=core[:, 2],
        propensities=core[:, 3],
        contexts=np.hstack(context_parts) if context_parts else None,
        segments=segments,
    )


def load_log(path: str | PathLike[str]) -> LoggedFeedback:
    """Read a log by its file type: ``.csv`` is Open Bandit Dataset, anything else JSON lines.

    Raises
    ------
    ValueError
        As :func:`load_obd_csv` or :func:`load_decision_log`.
    """
    if Path(path).suffix.lower() == ".csv":
        return load_obd_csv(path)
    with open(path, "rb") as handle:
        return load_decision_log(handle)


def load_decision_log(lines: Iterable[bytes | str]) -> LoggedFeedback:
    """Read our decision-log export: one JSON object per served offer.

    Fields: ``position`` (1-based), ``action`` (offer id), ``probability``, ``reward``,
    optionally ``propensity_estimated`` (default false), ``features`` (the model's context
    vector; all rows must agree on its length), ``segments`` and ``eligible`` (offer ids).
    ``decision_id``, ``timestamp``, ``channel``, ``placement`` and ``policy`` are accepted and
    ignored here. The action space is every offer id served or listed as eligible, sorted. Rows
    without ``eligible`` count every action as eligible; blank lines are skipped. ``lines`` may
    be an open file.

    A malformed record raises ``ValueError`` naming its 1-based line, as does a log with no
    records.
    """
    records: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"line {number}: not JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"line {number}: expected a JSON object")
        records.append((number, record))
    if not records:
        raise ValueError("the decision log holds no records")

    actions: list[str] = []
    positions: list[int] = []
    rewards: list[float] = []
    probabilities: list[float] = []
    estimated: list[bool] = []
    features: list[list[float] | None] = []
    segments: list[tuple[str, ...]] = []
    eligible: list[list[str] | None] = []
    for number, record in records:
        action = record.get("action")
        if not isinstance(action, str) or not action:
            raise ValueError(f"line {number}: 'action' must be a non-empty string")
        position = record.get("position")
        if not isinstance(position, int) or isinstance(position, bool) or position < 1:
            raise ValueError(f"line {number}: 'position' must be an integer >= 1")
        probability = _number(record, "probability", number)
        if not 0.0 < probability <= 1.0:
            raise ValueError(f"line {number}: 'probability' must lie in (0, 1]")
        flag = record.get("propensity_estimated", False)
        if not isinstance(flag, bool):
            raise ValueError(f"line {number}: 'propensity_estimated' must be true or false")
        actions.append(action)
        positions.append(position - 1)
        rewards.append(_number(record, "reward", number))
        probabilities.append(probability)
        estimated.append(flag)
        features.append(_optional_numbers(record, "features", number))
        segments.append(tuple(_optional_strings(record, "segments", number) or ()))
        # An empty list means "not recorded": the served action is always eligible.
        eligible.append(_optional_strings(record, "eligible", number) or None)

    action_ids = tuple(sorted(set(actions).union(*(e for e in eligible if e is not None))))
    index = {a: i for i, a in enumerate(action_ids)}
    return LoggedFeedback(
        actions=np.array([index[a] for a in actions], dtype=np.int64),
        action_ids=action_ids,
        positions=np.array(positions, dtype=np.int64),
        rewards=np.array(rewards),
        propensities=np.array(probabilities),
        contexts=_contexts(features, [n for n, _ in records]),
        segments=tuple(segments),
        estimated_propensity=np.array(estimated, dtype=np.bool_),
        eligible=_eligible_mask(eligible, actions, index, [n for n, _ in records]),
    )


def _number(record: Mapping[str, Any], name: str, line: int) -> float:
    value = record.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"line {line}: {name!r} must be a finite number")
    return float(value)


def _optional_numbers(record: Mapping[str, Any], name: str, line: int) -> list[float] | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
    ):
        raise ValueError(f"line {line}: {name!r} must be a list of finite numbers")
    return [float(v) for v in value]


def _optional_strings(record: Mapping[str, Any], name: str, line: int) -> list[str] | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"line {line}: {name!r} must be a list of strings")
    return list(value)


def _contexts(features: list[list[float] | None], lines: list[int]) -> FloatArray | None:
    present = [(line, f) for line, f in zip(lines, features, strict=True) if f]
    if not present:
        return None
    width = len(present[0][1])
    for line, f in zip(lines, features, strict=True):
        if not f or len(f) != width:
            raise ValueError(
                f"line {line}: 'features' has length {len(f or [])}, expected {width} "
                "(every row needs a context vector of the same length; split logs by policy "
                "version if the feature spec changed)"
            )
    return np.array(features, dtype=np.float64)


def _eligible_mask(
    eligible: list[list[str] | None],
    actions: list[str],
    index: Mapping[str, int],
    lines: list[int],
) -> BoolArray | None:
    if all(e is None for e in eligible):
        return None
    mask = np.ones((len(eligible), len(index)), dtype=np.bool_)
    for r, (line, ids, action) in enumerate(zip(lines, eligible, actions, strict=True)):
        if ids is None:
            continue
        if action not in ids:
            raise ValueError(f"line {line}: served action {action!r} is not in 'eligible'")
        mask[r] = False
        mask[r, [index[a] for a in ids]] = True
    return mask
