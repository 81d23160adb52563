"""A trained model frozen for serving: plain arrays, read by every API worker without pickle.

Bytes layout: ``MAGIC`` (8 bytes), the JSON header's length (4 bytes, big-endian), the JSON
header (format, policy, version, arms, n_features), then a ``numpy.savez`` archive of the
arrays. Loading never unpickles (``allow_pickle=False``), so a snapshot read from a shared
store cannot execute code in a worker.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from engine.learning.policies._config import PolicyConfig

__all__ = ["ModelSnapshot", "array_layout", "prior_a_inv"]

MAGIC: Final = b"NBOSNAP\x00"
FORMAT: Final = 1
_HEADER_LENGTH_BYTES: Final = 4
_MAX_HEADER_BYTES: Final = 16 * 1024 * 1024

_FLOAT: Final = np.dtype(np.float64)
_BOOL: Final = np.dtype(np.bool_)


def array_layout(
    policy: PolicyConfig, n_arms: int, n_features: int
) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Name -> (shape, dtype) of every array a snapshot of this policy holds, in arm order.

    ``trained`` marks arms that have seen at least one reward (MABWiser's ``is_trained``).
    Linear policies hold ``beta`` (K, d) and ``a_inv`` (K, d, d); epsilon-greedy and softmax
    hold each arm's reward ``mean`` and ``count`` (softmax derives its probabilities from the
    means and ``tau``, as MABWiser does); Thompson sampling holds the Beta posterior's
    ``success`` and ``failure`` counts (both start at 1); random and rules hold nothing more.
    """
    k, d = n_arms, n_features
    layout: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {"trained": ((k,), _BOOL)}
    match policy.name:
        case "linucb" | "lints":
            layout["beta"] = ((k, d), _FLOAT)
            layout["a_inv"] = ((k, d, d), _FLOAT)
        case "epsilon_greedy" | "softmax":
            layout["mean"] = ((k,), _FLOAT)
            layout["count"] = ((k,), _FLOAT)
        case "thompson":
            layout["success"] = ((k,), _FLOAT)
            layout["failure"] = ((k,), _FLOAT)
        case "random" | "rules":
            pass
    return layout


def prior_a_inv(config: PolicyConfig, n_features: int) -> npt.NDArray[np.float64]:
    """A⁻¹ of an arm without data, exactly as MABWiser initialises it.

    MABWiser's ``_RidgeRegression.init`` sets ``A = l2_lambda * I`` and ``A_inv = A.copy()``,
    i.e. ``l2_lambda * I`` rather than the ridge posterior's ``I / l2_lambda`` (the two agree
    only at ``l2_lambda = 1``; the first observation replaces it by ``inv(A)``). Cold arms
    are scored with MABWiser's value so that a cold offer and an added-but-untrained arm score
    alike and both match MABWiser's ``predict_expectations``. With a penalty above 1 the
    width of a cold arm is wider still than the posterior's, so a new offer is served first
    until the learner's next commit includes its exposures: exploration of new offers at once.
    """
    return config.l2_lambda * np.identity(n_features)


@dataclass(frozen=True, eq=False)
class ModelSnapshot:
    """One published model version: the arms it knows and their learned arrays.

    Arrays are copied and made read-only on construction, so a snapshot (and every
    :class:`Scorer` built on it) can be shared by concurrent requests without locks.
    Equality compares the arrays' values; it is meant for tests and restart checks.

    Parameters
    ----------
    policy : PolicyConfig
        The policy that produced the arrays (and that scoring follows).
    version : int
        Model version, >= 0 (0: the prior, before any reward).
    arms : tuple of str, length K
        Offer ids in MABWiser's arm order; row i of every array belongs to ``arms[i]``.
    n_features : int
        Length d of the context vector the model was trained on.
    arrays : Mapping[str, ndarray]
        Exactly the arrays named by :func:`array_layout` for this policy, K and d.

    Raises
    ------
    ValueError
        If arms repeat, an array is missing, extra, mis-shaped, of the wrong dtype or not finite.
    """

    policy: PolicyConfig
    version: int
    arms: tuple[str, ...]
    n_features: int
    arrays: Mapping[str, npt.NDArray[Any]]

    def __post_init__(self) -> None:
        if self.version < 0:
            raise ValueError("version must be >= 0")
        if self.n_features < 1:
            raise ValueError("n_features must be >= 1")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError("arms must be distinct")
        if not all(isinstance(arm, str) for arm in self.arms):
            raise ValueError("arms must be strings (offer ids)")
        layout = array_layout(self.policy, len(self.arms), self.n_features)
        if set(self.arrays) != set(layout):
            raise ValueError(
                f"{self.policy.name} snapshot arrays must be {sorted(layout)}, "
                f"got {sorted(self.arrays)}"
            )
        frozen: dict[str, npt.NDArray[Any]] = {}
        for name, (shape, dtype) in layout.items():
            value = np.asarray(self.arrays[name])
            if value.shape != shape:
                raise ValueError(f"array {name!r} must have shape {shape}, got {value.shape}")
            if value.dtype != dtype and not np.can_cast(value.dtype, dtype, "same_kind"):
                raise ValueError(f"array {name!r} must be {dtype}, got {value.dtype}")
            copy = np.array(value, dtype=dtype, order="C", copy=True)
            if dtype == _FLOAT and not np.all(np.isfinite(copy)):
                raise ValueError(f"array {name!r} must be finite")
            copy.setflags(write=False)
            frozen[name] = copy
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "arrays", MappingProxyType(frozen))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelSnapshot):
            return NotImplemented
        return (
            self.policy == other.policy
            and self.version == other.version
            and self.arms == other.arms
            and self.n_features == other.n_features
            and self.arrays.keys() == other.arrays.keys()
            and all(np.array_equal(a, other.arrays[name]) for name, a in self.arrays.items())
        )

    def __hash__(self) -> int:
        return hash((self.policy, self.version, self.arms, self.n_features))

    def to_bytes(self) -> bytes:
        """Serialise for the store: JSON header plus an ``.npz`` archive, no pickle."""
        header = json.dumps(
            {
                "format": FORMAT,
                "policy": self.policy.model_dump(mode="json"),
                "version": self.version,
                "arms": list(self.arms),
                "n_features": self.n_features,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        archive = io.BytesIO()
        # numeric arrays only: nothing is pickled (the cast: numpy's stub types **kwds as bool)
        np.savez(archive, **cast("dict[str, Any]", self.arrays))
        return b"".join(
            (MAGIC, len(header).to_bytes(_HEADER_LENGTH_BYTES, "big"), header, archive.getvalue())
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelSnapshot:
        """Read what :meth:`to_bytes` wrote.

        Raises
        ------
        ValueError
            If the bytes are not a snapshot of a known format, or its content is inconsistent.
        """
        view = memoryview(data)
        start = len(MAGIC) + _HEADER_LENGTH_BYTES
        if len(view) < start or bytes(view[: len(MAGIC)]) != MAGIC:
            raise ValueError("not a model snapshot (bad magic)")
        length = int.from_bytes(view[len(MAGIC) : start], "big")
        if length > _MAX_HEADER_BYTES or start + length > len(view):
            raise ValueError("model snapshot header is truncated")
        try:
            header = json.loads(bytes(view[start : start + length]))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"model snapshot header is not JSON: {exc}") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"unsupported model snapshot format (expected {FORMAT})")
        try:
            policy = PolicyConfig.model_validate(header["policy"])
            version = header["version"]
            arms = header["arms"]
            n_features = header["n_features"]
        except KeyError as exc:
            raise ValueError(f"model snapshot header lacks {exc}") from None
        if type(version) is not int or type(n_features) is not int:
            raise ValueError("model snapshot version and n_features must be integers")
        if not isinstance(arms, list):
            raise ValueError("model snapshot arms must be a list")
        try:
            with np.load(io.BytesIO(view[start + length :]), allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
            raise ValueError(f"model snapshot arrays are unreadable: {exc}") from None
        return cls(
            policy=policy,
            version=version,
            arms=tuple(arms),
            n_features=n_features,
            arrays=arrays,
        )
