"""Learned segments: k-means over customers' behavioural features, named by what sets them apart.

Training mirrors serving exactly: :meth:`LearnedSegmentModel.vector` log-scales each feature
with ``log1p(max(x, 0))`` and standardises it with the stored mean and scale, then the nearest
centroid wins. So the scaler is fitted in log space and the centroids are stored standardised;
anything else would make decision-time membership disagree with the clusters found here.

Names come from the centroid's largest standardised deviations ("app-first", "dormant",
"recent high spenders"), so a marketer can target a learned segment without reading numbers,
and relearning on similar data yields the same names, hence the same segment ids.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from engine.config import Settings
from engine.domain.profiles import compute_features
from engine.domain.segments import ID_PATTERN, LearnedSegmentModel, StoredSegment
from engine.errors import ValidationFailed
from engine.store.ports import SegmentPort
from engine.store.redis import RedisStore

__all__ = ["FEATURES", "FittedSegments", "fit_segments", "learn_segments", "learn_segments_in"]

# Behavioural features clustered on: recency, frequency, monetary, channel mix, support, tenure.
# Every one is defined for any customer with at least one activity (or counts zero), so training
# and serving see the same numbers. days_since_last_purchase is left out on purpose: it is
# missing for every customer who never bought, and serving reads a missing value as 0, i.e.
# "bought today"; purchases_90d and revenue_90d carry the buying signal without that trap.
FEATURES: tuple[str, ...] = (
    "days_since_last_activity",
    "tenure_days",
    "visits_30d",
    "purchases_90d",
    "revenue_90d",
    "avg_order_value",
    "support_contacts_30d",
    "engagement_web_30d",
    "engagement_mobile_app_30d",
    "engagement_email_30d",
    "engagement_push_30d",
    "engagement_sms_30d",
    "engagement_call_center_30d",
    "engagement_in_store_30d",
    "engagement_social_30d",
)

# A customer with no recorded activity has no recency. Zero would say "active today", the
# opposite of the truth, and would pull them into the most engaged cluster; a year says "long
# gone", which is what an empty history means. The model stores these fills, so serving
# (LearnedSegmentModel.vector) places such customers exactly as training did.
MISSING_RECENCY_DAYS = 365.0
FILL: tuple[float, ...] = tuple(
    MISSING_RECENCY_DAYS if name.startswith("days_since_") else 0.0 for name in FEATURES
)

_READ_BATCH = 1000
_NAME_THRESHOLD = 0.5  # |z| below this does not describe a cluster
_MAX_ID = 64


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    noun: bool = False  # a noun phrase ends the name; adjectives precede it


# (feature, direction) -> word; direction +1 when the centroid is above average. Adjectives
# read in this order ("new app-first", "dormant low spenders"); a noun phrase ends the name.
# Low visits or purchases get no word: next to "dormant" or "new" they only repeat it.
_WORDS: dict[tuple[str, int], _Word] = {
    ("days_since_last_activity", 1): _Word("dormant"),
    ("days_since_last_activity", -1): _Word("recent"),
    ("tenure_days", -1): _Word("new"),
    ("tenure_days", 1): _Word("long-standing"),
    ("support_contacts_30d", 1): _Word("support-heavy"),
    ("avg_order_value", 1): _Word("big-basket"),
    ("avg_order_value", -1): _Word("small-basket"),
    ("engagement_mobile_app_30d", 1): _Word("app-first"),
    ("engagement_in_store_30d", 1): _Word("store-first"),
    ("engagement_email_30d", 1): _Word("email-engaged"),
    ("engagement_push_30d", 1): _Word("push-responsive"),
    ("engagement_sms_30d", 1): _Word("sms-responsive"),
    ("engagement_social_30d", 1): _Word("social"),
    ("engagement_call_center_30d", 1): _Word("call-centre"),
    ("revenue_90d", 1): _Word("high spenders", noun=True),
    ("revenue_90d", -1): _Word("low spenders", noun=True),
    ("purchases_90d", 1): _Word("frequent buyers", noun=True),
    ("visits_30d", 1): _Word("frequent visitors", noun=True),
    ("engagement_web_30d", 1): _Word("web shoppers", noun=True),
}
_ORDER = {word: i for i, word in enumerate(_WORDS.values())}


def _feature_row(features: Mapping[str, Any]) -> list[float]:
    row = []
    for name, fill in zip(FEATURES, FILL, strict=True):
        value = features.get(name)
        row.append(float(value) if isinstance(value, int | float) else fill)
    return row


def _describe(z: Sequence[float], words: int) -> list[_Word]:
    """The ``words`` strongest descriptions of one centroid, at most one noun."""
    ranked = sorted(range(len(FEATURES)), key=lambda i: -abs(z[i]))
    chosen: list[_Word] = []
    for i in ranked:
        if abs(z[i]) < _NAME_THRESHOLD or len(chosen) == words:
            break
        word = _WORDS.get((FEATURES[i], 1 if z[i] > 0 else -1))
        if word is None or (word.noun and any(w.noun for w in chosen)):
            continue
        chosen.append(word)
    return chosen


def _compose(chosen: Sequence[_Word]) -> str:
    if not chosen:
        return "typical customers"
    adjectives = [w.text for w in sorted(chosen, key=_ORDER.__getitem__) if not w.noun]
    nouns = [w.text for w in chosen if w.noun]
    return " ".join([*adjectives, *(nouns or ["customers"])])


def _names(centroids: np.ndarray[Any, Any]) -> list[str]:
    """Unique names: two words each, more where two clusters would share a name."""
    names = [_compose(_describe(c, 2)) for c in centroids]
    for words in (3, 4):
        dupes = {n for n in names if names.count(n) > 1}
        if not dupes:
            break
        names = [
            _compose(_describe(c, words)) if n in dupes else n
            for c, n in zip(centroids, names, strict=True)
        ]
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    return unique


def _segment_ids(model_id: str, names: Sequence[str]) -> list[str]:
    ids: list[str] = []
    room = _MAX_ID - len(model_id) - 1
    for name in names:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:room].strip("-") or "segment"
        candidate, n = f"{model_id}-{slug}", 2
        while candidate in ids:
            suffix = f"-{n}"
            candidate, n = f"{model_id}-{slug[: room - len(suffix)]}{suffix}", n + 1
        ids.append(candidate)
    return ids


def _check_arguments(k: int, model_id: str) -> None:
    """Fail before scanning the store, and leave room in segment ids for a readable name."""
    if not re.match(ID_PATTERN, model_id) or len(model_id) > _MAX_ID - 8:
        raise ValidationFailed(
            "model_id must be letters, digits and _.- and at most 56 characters", field="model_id"
        )
    if k < 2:
        raise ValidationFailed("k must be at least 2", field="k")


@dataclass(frozen=True, slots=True)
class FittedSegments:
    model: LearnedSegmentModel
    segments: dict[str, StoredSegment]


def fit_segments(
    rows: Sequence[Sequence[float]], *, k: int, model_id: str, seed: int
) -> FittedSegments:
    """Cluster feature rows (in original units, ordered as :data:`FEATURES`) into k segments."""
    _check_arguments(k, model_id)
    if len(rows) < k:
        raise ValidationFailed(
            f"cannot learn {k} segments from {len(rows)} customers; load more customers or lower k",
            field="k",
        )
    logged = np.log1p(np.maximum(np.asarray(rows, dtype=float), 0.0))
    distinct = len(np.unique(logged, axis=0))
    if distinct < k:
        raise ValidationFailed(
            f"cannot learn {k} segments: customers show only {distinct} distinct behaviours",
            field="k",
        )
    scaler = StandardScaler().fit(logged)
    standardised = scaler.transform(logged)
    kmeans = KMeans(n_clusters=k, random_state=seed, n_init=10).fit(standardised)
    labels = np.asarray(kmeans.labels_)
    sizes = np.bincount(labels, minlength=k)
    order = sorted(range(k), key=lambda c: (-int(sizes[c]), c))  # largest segment first
    centroids = np.asarray(kmeans.cluster_centers_)[order]
    names = _names(centroids)
    ids = _segment_ids(model_id, names)
    mean = [float(v) for v in scaler.mean_]
    scale = [float(v) for v in scaler.scale_]  # zero variance is stored as 1, never 0
    model = LearnedSegmentModel(
        model_id=model_id,
        features=FEATURES,
        mean=tuple(mean),
        scale=tuple(scale),
        centroids=tuple(tuple(float(v) for v in c) for c in centroids),
        segment_ids=tuple(ids),
        fill=FILL,
    )
    segments = {}
    for rank, (cluster, segment_id, name) in enumerate(zip(order, ids, names, strict=True)):
        z = centroids[rank]
        original = {
            feature: round(max(0.0, math.expm1(float(z[i]) * scale[i] + mean[i])), 2)
            for i, feature in enumerate(FEATURES)
        }
        top = sorted(range(len(FEATURES)), key=lambda i: -abs(z[i]))[:3]
        what = ", ".join(f"{FEATURES[i]} {'above' if z[i] > 0 else 'below'} average" for i in top)
        segments[segment_id] = StoredSegment(
            name=name,
            description=f"Learned by k-means over {len(rows)} customers: {what}.",
            kind="learned",
            model_id=model_id,
            cluster=rank,
            centroid=original,
            size=int(sizes[cluster]),
        )
    return FittedSegments(model, segments)


async def _sample_ids(store: SegmentPort, sample: int, seed: int) -> list[str]:
    """A seeded sample of stored customer ids; sorted first, as SCAN order is arbitrary."""
    ids: set[str] = set()  # SCAN may return a key twice
    async for batch in store.scan_customer_ids():
        ids.update(batch)
    ordered = sorted(ids)
    if len(ordered) <= sample:
        return ordered
    picked = np.random.default_rng(seed).choice(len(ordered), size=sample, replace=False)
    return [ordered[i] for i in sorted(picked.tolist())]


async def learn_segments_in(
    store: SegmentPort, *, k: int, model_id: str, seed: int, sample: int, now: float
) -> list[tuple[str, str, int]]:
    """Fit on ``store``'s customers and replace model ``model_id`` and its segments."""
    _check_arguments(k, model_id)
    ids = await _sample_ids(store, sample, seed)
    rows: list[list[float]] = []
    for start in range(0, len(ids), _READ_BATCH):
        for raw in await store.read_activity_many(ids[start : start + _READ_BATCH]):
            rows.append(_feature_row(compute_features(raw, now)))
    fitted = await asyncio.to_thread(fit_segments, rows, k=k, model_id=model_id, seed=seed)
    await store.replace_segment_model(
        model_id,
        orjson.dumps(fitted.model.to_doc()),
        {
            sid: segment.model_dump_json(exclude_none=True).encode()
            for sid, segment in fitted.segments.items()
        },
    )
    return [(sid, s.name, s.size or 0) for sid, s in fitted.segments.items()]


async def learn_segments(
    settings: Settings,
    url: str,
    *,
    k: int,
    model_id: str,
    seed: int,
    sample: int,
    now: float | None = None,
) -> list[tuple[str, str, int]]:
    """(segment id, name, size) of the k segments learned from the customers at ``url``."""
    store = RedisStore.from_settings(settings, url)
    try:
        return await learn_segments_in(
            store,
            k=k,
            model_id=model_id,
            seed=seed,
            sample=sample,
            now=time.time() if now is None else now,
        )
    finally:
        await store.close()
