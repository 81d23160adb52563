"""One decision: read, eligibility and contact policy, scoring, arbitration, commit, log.

The path a request takes (see DESIGN.md section 2): one pipelined read brings the customer,
the catalog and model versions and any earlier answer to the same request_id; everything else
up to the commit runs in memory on frozen snapshots; the commit reserves caps and writes the
decision record atomically (Lua, customer slot); the log entry follows in one pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.catalog.cache import CatalogCache
from engine.catalog.experiments import Assignment, assign_for_decision
from engine.config import Settings
from engine.customers.service import CUSTOMER_ID_PATTERN, decode_attributes
from engine.decision.arbitration import ArbitrationMode, Selection, expected_values, select
from engine.decision.eligibility import admissible
from engine.domain.catalog import Catalog, ParsedOffer
from engine.domain.channels import CHANNEL_CODES, Channel
from engine.domain.contacts import parse_contact_history
from engine.domain.idempotency import conflict, fingerprint, split_stamped, stamped
from engine.domain.profiles import compute_features
from engine.domain.segments import memberships
from engine.domain.values import Scalar, WholeNumber
from engine.errors import StoreUnavailable
from engine.learning.learner import stream_fields
from engine.learning.policies import PolicyConfig, Scorer
from engine.learning.registry import ModelRegistry, scope_for
from engine.metrics import DECISIONS, FALLBACKS
from engine.store import keys
from engine.store.ports import DecisionPort
from engine.store.records import DecisionCommit, DecisionRecord, LogRecord
from experiments.cells import exposure_increments

__all__ = ["Decision", "DecisionEngine", "DecisionRequest", "decision_token"]

log = logging.getLogger("nbo.decisions")

Cells = dict[str, dict[str, float]]
ContextKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MAX_COMMIT_ATTEMPTS = 3


class DecisionRequest(BaseModel):
    """``POST /v1/decisions``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)

    customer_id: str = Field(pattern=CUSTOMER_ID_PATTERN)
    channel: Channel
    placement: str = Field(default="default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    context: dict[ContextKey, Scalar] = Field(default_factory=dict, max_length=64)
    limit: WholeNumber = Field(default=1, ge=1, le=10)
    exclude_offers: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=100
    )
    request_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


class _RandomBits:
    """Operating-system randomness drawn 4 KiB at a time: as unguessable as ``secrets``, without
    a system call per decision. A forked child starts with a fresh draw."""

    DRAW = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._position = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        # a fork while another thread held the lock would leave it held in the child
        self._lock = threading.Lock()
        self._pool, self._position = b"", 0

    def hex(self, nbytes: int) -> str:
        with self._lock:
            start = self._position
            if start + nbytes > len(self._pool):
                self._pool, start = os.urandom(self.DRAW), 0
            self._position = start + nbytes
            return self._pool[start : start + nbytes].hex()


_random_bits = _RandomBits()


def decision_token() -> str:
    """Time-ordered and unguessable: milliseconds then 40 random bits."""
    return f"{int(time.time() * 1000):x}{_random_bits.hex(5)}"


@dataclass(frozen=True, slots=True)
class Decision:
    body: dict[str, Any]
    replayed: bool = False
    encoded: bytes | None = None  # the body as JSON, when it was encoded already

    def json(self) -> bytes:
        return self.encoded if self.encoded is not None else orjson.dumps(self.body)


@dataclass(slots=True)
class _Candidate:
    parsed: ParsedOffer
    matched_segments: list[str]


@dataclass(slots=True)
class DecisionLogQueue:
    """Log records not yet written: waiting for the next group write, or for the store to
    come back (entries stay queued through an outage, the oldest dropped past ``maxlen``)."""

    entries: deque[LogRecord] = field(default_factory=lambda: deque(maxlen=100_000))
    dropped: int = 0
    # queued fallback decisions: their records exist only here until written, so an event for
    # one of them can have the queue written first instead of being refused as unknown
    fallback_ids: set[str] = field(default_factory=set)


LOG_BATCH = 500  # records per pipeline when the queue has a backlog
LOG_LINGER_SECONDS = 0.002
LOG_RETRY_SECONDS = 0.5  # how often a backlog is retried while no request flushes it


class DecisionEngine:
    """Serves decisions; shared by every request of a worker (holds no per-request state)."""

    def __init__(
        self,
        store: DecisionPort,
        catalog: CatalogCache,
        models: ModelRegistry,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.models = models
        self.settings = settings
        self.clock = clock
        self.rng = rng or np.random.default_rng()
        self.pending_log = DecisionLogQueue()
        self._flushing = asyncio.Lock()
        self._response_ranked = frozenset(settings.response_ranked_placements)

    async def decide(self, request: DecisionRequest, *, defer_log: bool = False) -> Decision:
        """Decide; the log is written before returning unless ``defer_log``.

        With ``defer_log`` the caller promises to call :meth:`flush_log` soon (the API does it
        after the response is sent), so the log write leaves the response path and concurrent
        decisions share one pipeline (group commit).
        """
        now = self.clock()
        scope = scope_for(self.settings.model_scope, request.channel, request.placement)
        scopes = [scope, *variant_scopes(self.catalog.current, scope)]
        try:
            read = await self.store.read_for_decision(
                request.customer_id, request.request_id, scopes
            )
        except StoreUnavailable:
            return self._fallback(request, now, scope)
        digest = ""
        if request.request_id is not None:
            digest = fingerprint(request, exclude=("request_id",))
            if read.replay is not None:
                return _replay(read.replay, digest, request.request_id)
        catalog = await self.catalog.get(read.record.catalog_version)
        vectorizer = catalog.vectorizer
        record = read.record
        attributes = decode_attributes(record.attributes)
        features = compute_features(record.activity, now)
        values = {**attributes, **features}
        segments = memberships(values, list(catalog.segments.values()), catalog.models)
        segment_set = set(segments)
        contacts = parse_contact_history(record.contacts)
        assignment = assign_for_decision(
            catalog,
            request.customer_id,
            request.channel,
            segments,
            read.assignments,
            request.placement,
        )
        treatment = treatment_for(assignment, scope, self.models.policy)
        scorer, model_version = await self.models.scorer(
            treatment.scope,
            read.model_versions.get(treatment.scope, 0),
            vectorizer.size,
            treatment.policy,
            catalog.feature_spec.version,
        )
        excluded = set(request.exclude_offers)
        candidates = []
        for parsed in catalog.by_channel.get(request.channel, ()):
            if parsed.offer_id in excluded or not treatment.admits(parsed.offer_id):
                continue
            matched = admissible(
                parsed,
                request.channel,
                request.placement,
                values,
                segment_set,
                contacts,
                record.budget_spent,
                now,
            )
            if matched is not None:
                candidates.append(_Candidate(parsed, matched))
        x = vectorizer.vector(request.channel, request.context, features, attributes, segments)
        pre_revenue = float(features.get("revenue_90d") or 0.0)
        pre_converted = 1.0 if (features.get("purchases_90d") or 0) else 0.0
        token = decision_token()
        decision_id = keys.decision_id(request.customer_id, token)
        encoded = None
        for _ in range(MAX_COMMIT_ATTEMPTS):
            body, selection, served = self._choose(
                request, decision_id, candidates, scorer, model_version, x, treatment, segments
            )
            encoded = orjson.dumps(body)
            fields = self._record_fields(
                now, request, treatment, catalog, model_version, x, served, selection
            )
            status, reasons = await self.store.commit_decision(
                DecisionCommit(
                    customer_id=request.customer_id,
                    token=token,
                    offers=[(c.parsed.offer_id, c.parsed.offer.caps.script_args()) for c in served],
                    channel_code=CHANNEL_CODES[request.channel],
                    now=int(now),
                    fields=fields,
                    # kept for replays of the request id
                    response=stamped(digest, encoded) if request.request_id is not None else b"",
                    request_id=request.request_id,
                    decision_ttl=self.settings.attribution_window(request.channel)
                    + self.settings.late_event_grace_seconds,
                    request_ttl=self.settings.request_id_ttl_seconds,
                    assignment=(
                        (
                            assignment.experiment_id,
                            assignment.record(now, pre_revenue, pre_converted),
                        )
                        if assignment is not None and assignment.first_exposure
                        else None
                    ),
                    fingerprint=digest,
                )
            )
            if status == "erased":
                return self._erased(request, decision_id)
            if status == "replay" and request.request_id is not None:
                return _replay(reasons[0], digest, request.request_id)
            if status == "conflict" and request.request_id is not None:
                # a concurrent request with another body took the key first
                raise conflict("request_id", request.request_id)
            if status == "ok":
                break
            # a concurrent decision took the last contact a cap allowed: drop and choose again
            refused = {c.parsed.offer_id for c, r in zip(served, reasons, strict=True) if r}
            candidates = [c for c in candidates if c.parsed.offer_id not in refused]
        else:
            body, selection, served = self._choose(
                request, decision_id, [], scorer, model_version, x, treatment, segments
            )
            encoded = None
        entry = self._log_entry(
            now,
            request,
            decision_id,
            treatment,
            catalog,
            model_version,
            candidates,
            served,
            selection,
            segments,
            [round(v, 5) for v in x.tolist()],
        )
        close_at = now + self.settings.attribution_window(request.channel)
        cells = None
        if assignment is not None and assignment.first_exposure:
            cells = exposure_increments(
                assignment.experiment_id,
                assignment.experiment.phase,
                assignment.variant.id,
                assignment.segments,
                pre_revenue,
                pre_converted,
                now,
            )
        exposures = [
            stream_fields(
                "exposure",
                decision_id,
                candidate.parsed.offer_id,
                "0.0",
                fields["x"],
                fields["sv"],
                fields["ts"],
                fields["pol"],
            )
            for candidate in served
        ]
        self._enqueue(LogRecord(entry, treatment.scope, decision_id, close_at, cells, exposures))
        if not defer_log:
            await self.flush_log(wait=True)
        DECISIONS.labels(channel=request.channel, fallback="false").inc()
        return Decision(body, encoded=encoded)

    def _choose(
        self,
        request: DecisionRequest,
        decision_id: str,
        candidates: list[_Candidate],
        scorer: Scorer,
        model_version: int,
        x: np.ndarray[Any, np.dtype[np.float64]],
        treatment: Treatment,
        segments: list[str],
    ) -> tuple[dict[str, Any], Selection, list[_Candidate]]:
        policy = treatment.policy
        offer_ids = [c.parsed.offer_id for c in candidates]
        arms = scorer.arm_indices(offer_ids)
        values = np.array([c.parsed.offer.value for c in candidates], dtype=float)
        weights = np.array([c.parsed.offer.weight for c in candidates], dtype=float)
        mode: ArbitrationMode = (
            "response" if request.placement in self._response_ranked else "expected_value"
        )
        if policy.name == "rules":
            response = np.ones(len(candidates))
        else:
            response = scorer.score(x, arms, self.rng)
        arbitrated = expected_values(response, values, weights, mode)
        resample = None
        if scorer.stochastic and policy.name not in ("rules", "random") and candidates:

            def resample(draws: int) -> np.ndarray[Any, np.dtype[np.float64]]:
                samples = scorer.sample(x, arms, self.rng, draws)
                return expected_values(samples, values, weights, mode)

        epsilon = 1.0 if policy.name == "random" else treatment.epsilon
        selection = select(arbitrated, request.limit, epsilon, self.rng, resample, draws=128)
        served = [candidates[i] for i in selection.order]
        expected = scorer.expected(x, arms) if candidates else np.zeros(0)
        offers = []
        for rank, (index, propensity) in enumerate(
            zip(selection.order, selection.propensities, strict=True), start=1
        ):
            candidate = candidates[index]
            offer = candidate.parsed.offer
            offers.append(
                {
                    "offer_id": candidate.parsed.offer_id,
                    "rank": rank,
                    "score": round(float(arbitrated[index]), 6),
                    "propensity": round(float(propensity), 6),
                    "creative": offer.channels[request.channel].model_dump(exclude_none=True),
                    "explanation": {
                        "segments": candidate.matched_segments,
                        "policy": policy.name,
                        "explored": selection.explored,
                        "components": {
                            "response": round(float(response[index]), 6),
                            "expected_response": round(float(expected[index]), 6),
                            "value": offer.value,
                            "weight": offer.weight,
                            "arbitration": mode,
                        },
                    },
                }
            )
        body: dict[str, Any] = {
            "decision_id": decision_id,
            "customer_id": request.customer_id,
            "channel": request.channel,
            "placement": request.placement,
            "offers": offers,
            "policy": {"name": policy.name, "version": model_version},
            "experiment": treatment.experiment,
            "fallback": False,
            "propensity_estimated": selection.estimated,
            "segments": segments,
        }
        if not offers:
            body["reason"] = treatment.empty_reason
        return body, selection, served

    def _record_fields(
        self,
        now: float,
        request: DecisionRequest,
        treatment: Treatment,
        catalog: Catalog,
        model_version: int,
        x: np.ndarray[Any, np.dtype[np.float64]],
        served: list[_Candidate],
        selection: Selection,
    ) -> dict[str, str]:
        experiment = treatment.experiment or {}
        fields = {
            "ts": repr(now),
            "ch": request.channel,
            "pl": request.placement,
            "sc": treatment.scope,
            "mv": str(model_version),
            "sv": str(catalog.feature_spec.version),
            "pol": treatment.policy.name,
            "exp": experiment.get("experiment_id", ""),
            "var": experiment.get("variant", ""),
            "win": str(self.settings.attribution_window(request.channel)),
            "x": orjson.dumps(x.tolist()).decode(),
            "xp": "1",  # exposures go to the learner with the log: the sweep need not send 0s
        }
        for rank, (candidate, propensity) in enumerate(
            zip(served, selection.propensities, strict=True), start=1
        ):
            fields[f"o:{candidate.parsed.offer_id}"] = f"{rank}|{float(propensity)!r}"
        return fields

    def _log_entry(
        self,
        now: float,
        request: DecisionRequest,
        decision_id: str,
        treatment: Treatment,
        catalog: Catalog,
        model_version: int,
        candidates: list[_Candidate],
        served: list[_Candidate],
        selection: Selection,
        segments: list[str],
        features: list[float],
    ) -> dict[str, str]:
        return {
            "decision_id": decision_id,
            "customer_id": request.customer_id,
            "ts": repr(now),
            "channel": request.channel,
            "placement": request.placement,
            "scope": treatment.scope,
            "context": orjson.dumps(request.context).decode(),
            "feature_spec": str(catalog.feature_spec.version),
            "eligible": orjson.dumps([c.parsed.offer_id for c in candidates]).decode(),
            "served": orjson.dumps(
                [
                    {"offer_id": c.parsed.offer_id, "rank": i + 1, "propensity": float(p)}
                    for i, (c, p) in enumerate(zip(served, selection.propensities, strict=True))
                ]
            ).decode(),
            "propensity_estimated": "1" if selection.estimated else "0",
            "explored": "1" if selection.explored else "0",
            "policy": treatment.policy.name,
            "model_version": str(model_version),
            "experiment": (treatment.experiment or {}).get("experiment_id", ""),
            "variant": (treatment.experiment or {}).get("variant", ""),
            "segments": orjson.dumps(segments).decode(),
            "features": orjson.dumps(features).decode(),
            "fallback": "0",
        }

    async def flush_log(self, wait: bool = False) -> None:
        """Write every queued log record, in as few pipelines as the backlog needs.

        One flush at a time. Without ``wait`` a call while another runs returns at once: the
        running one loops until the queue is empty, so it takes records queued meanwhile too.
        With ``wait`` the call returns only once its records are written (or the store failed).
        On a store outage the records stay queued for the next flush.
        """
        queue = self.pending_log.entries
        if not queue or (self._flushing.locked() and not wait):
            return
        async with self._flushing:
            if not wait and len(queue) < LOG_BATCH:
                # after a response: linger so decisions answered meanwhile share the pipeline
                await asyncio.sleep(LOG_LINGER_SECONDS)
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), LOG_BATCH))]
                try:
                    await self.store.log_decisions(batch, self.settings.decision_log_maxlen)
                except StoreUnavailable:
                    queue.extendleft(reversed(batch))
                    return
                fallback_ids = self.pending_log.fallback_ids
                if fallback_ids:
                    fallback_ids.difference_update(r.decision_id for r in batch)

    async def keep_flushing(self, stop: asyncio.Event, every: float = LOG_RETRY_SECONDS) -> None:
        """Until ``stop``: retry a backlog left by an outage without waiting for a request.

        Only requests flush otherwise, so after an outage with no traffic the fallback
        decisions' records would stay in memory and their events be refused as unknown.
        """
        while not stop.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            if self.pending_log.entries:
                try:
                    await self.flush_log()
                except Exception:  # a failed retry is retried; it must not end the loop
                    log.exception("decision_log_flush_failed")

    async def write_pending(self, decision_ids: Collection[str]) -> bool:
        """Write the queue now if it holds one of these fallback decisions; whether any was
        written (an event for it can then join)."""
        waiting = self.pending_log.fallback_ids
        queued = waiting.intersection(decision_ids)
        if not queued:
            return False
        await self.flush_log(wait=True)
        return not queued <= waiting

    def _enqueue(self, record: LogRecord) -> None:
        queue = self.pending_log
        if len(queue.entries) == queue.entries.maxlen:
            queue.dropped += 1
            queue.fallback_ids.discard(queue.entries[0].decision_id)
            log.error("decision_log_buffer_full", extra={"dropped": queue.dropped})
        queue.entries.append(record)

    def _erased(self, request: DecisionRequest, decision_id: str) -> Decision:
        """The customer was erased while this decision was being made (or moments before).

        Nothing is committed or logged, so nothing of the customer comes back; the channel gets
        an answer it already handles, no offer, rather than an error for a customer it knew.
        """
        DECISIONS.labels(channel=request.channel, fallback="false").inc()
        body: dict[str, Any] = {
            "decision_id": decision_id,
            "customer_id": request.customer_id,
            "channel": request.channel,
            "placement": request.placement,
            "offers": [],
            "policy": {"name": "none", "version": 0},
            "experiment": None,
            "fallback": False,
            "propensity_estimated": False,
            "segments": [],
            "reason": "customer_erased",
        }
        return Decision(body)

    def _fallback(self, request: DecisionRequest, now: float, scope: str) -> Decision:
        """The store is unreachable: serve only what is safe without customer data, flagged.

        Safe means: active, in schedule, a creative for the channel, no targeting, no caps and
        no budget (none of which can be checked now), ranked by value x weight. Its record
        goes with its log entry once the store is back, so its events join then; it carries
        no feature vector, so the learner learns nothing from it.
        """
        catalog = self.catalog.current
        safe = [
            p
            for p in catalog.by_channel.get(request.channel, ())
            if _safe_without_store(p, now, request.placement)
            and p.offer_id not in request.exclude_offers
        ]
        safe.sort(key=lambda p: (-p.offer.value * p.offer.weight, p.offer_id))
        token = decision_token()
        decision_id = keys.decision_id(request.customer_id, token)
        offers = [
            {
                "offer_id": p.offer_id,
                "rank": rank,
                "score": p.offer.value * p.offer.weight,
                "propensity": 1.0,
                "creative": p.offer.channels[request.channel].model_dump(exclude_none=True),
                "explanation": {"segments": [], "policy": "fallback", "explored": False},
            }
            for rank, p in enumerate(safe[: request.limit], start=1)
        ]
        body: dict[str, Any] = {
            "decision_id": decision_id,
            "customer_id": request.customer_id,
            "channel": request.channel,
            "placement": request.placement,
            "offers": offers,
            "policy": {"name": "fallback", "version": 0},
            "experiment": None,
            "fallback": True,
            "propensity_estimated": False,
            "segments": [],
            "reason": "store_unavailable",
        }
        entry = {
            "decision_id": decision_id,
            "customer_id": request.customer_id,
            "ts": repr(now),
            "channel": request.channel,
            "placement": request.placement,
            "scope": scope,
            "context": orjson.dumps(request.context).decode(),
            "served": orjson.dumps(
                [{"offer_id": o["offer_id"], "rank": o["rank"], "propensity": 1.0} for o in offers]
            ).decode(),
            "policy": "fallback",
            "fallback": "1",
        }
        window = self.settings.attribution_window(request.channel)
        fields = {
            "ts": repr(now),
            "ch": request.channel,
            "pl": request.placement,
            "sc": scope,
            "mv": "0",
            "sv": str(catalog.feature_spec.version),
            "pol": "fallback",
            "exp": "",
            "var": "",
            "win": str(window),
            "x": "[]",
            "xp": "1",  # nothing to send the learner at window close: no exposure to learn
        }
        for o in offers:
            fields[f"o:{o['offer_id']}"] = f"{o['rank']}|1.0"
        expire_at = int(now) + window + self.settings.late_event_grace_seconds
        record = DecisionRecord(request.customer_id, token, fields, expire_at)
        self._enqueue(LogRecord(entry, scope, decision_id, now + window, record=record))
        self.pending_log.fallback_ids.add(decision_id)
        FALLBACKS.labels(channel=request.channel).inc()
        DECISIONS.labels(channel=request.channel, fallback="true").inc()
        return Decision(body)


@dataclass(frozen=True, slots=True)
class Treatment:
    """What decides this request: the default policy or an experiment variant's treatment."""

    policy: PolicyConfig
    scope: str
    epsilon: float
    experiment: dict[str, str] | None = None
    only_offer: str | None = None
    holdout: bool = False

    def admits(self, offer_id: str) -> bool:
        if self.holdout:
            return False
        return self.only_offer is None or offer_id == self.only_offer

    @property
    def empty_reason(self) -> str:
        return "holdout" if self.holdout else "no_eligible_offer"


def variant_scope(scope: str, experiment_id: str, variant_id: str) -> str:
    return f"{scope}~{experiment_id}~{variant_id}"  # ids never contain '~'


def variant_scopes(catalog: Catalog, scope: str) -> list[str]:
    """Model scopes of the bandit variants of running experiments (read with the customer)."""
    return [
        variant_scope(scope, eid, variant.id)
        for eid, experiment in catalog.experiments.items()
        if experiment.status == "running"
        for variant in experiment.variants
        if variant.treatment.policy == "bandit"
    ]


def treatment_for(assignment: Assignment | None, scope: str, default: PolicyConfig) -> Treatment:
    if assignment is None:
        return Treatment(default, scope, default.epsilon)
    experiment = {"experiment_id": assignment.experiment_id, "variant": assignment.variant.id}
    spec = assignment.variant.treatment
    if spec.policy == "bandit":
        policy = PolicyConfig.of_treatment(spec)
        own = variant_scope(scope, assignment.experiment_id, assignment.variant.id)
        return Treatment(policy, own, policy.epsilon, experiment)
    if spec.policy == "random":
        return Treatment(PolicyConfig(name="random"), scope, 1.0, experiment)
    if spec.policy == "static":
        return Treatment(PolicyConfig(name="rules"), scope, 0.0, experiment, spec.offer_id)
    if spec.policy == "holdout":
        return Treatment(PolicyConfig(name="rules"), scope, 0.0, experiment, holdout=True)
    return Treatment(PolicyConfig(name="rules"), scope, 0.0, experiment)


def _replay(stored: str, digest: str, request_id: str) -> Decision:
    """The earlier answer to this request_id, if it answered this very body."""
    kept, answer = split_stamped(stored)
    if kept is not None and kept != digest:
        raise conflict("request_id", request_id)
    return Decision(orjson.loads(answer), replayed=True, encoded=answer.encode())


def _safe_without_store(parsed: ParsedOffer, now: float, placement: str) -> bool:
    offer = parsed.offer
    caps = offer.caps
    return (
        (parsed.start_ts is None or now >= parsed.start_ts)
        and (parsed.end_ts is None or now < parsed.end_ts)
        and (not offer.placements or placement in offer.placements)
        and not offer.eligibility.segments_any
        and not offer.eligibility.segments_none
        and not offer.eligibility.rules
        and caps.per_day is None
        and caps.per_week is None
        and caps.lifetime is None
        and caps.cooldown_after_dismiss_hours is None
        and offer.budget.conversions is None
        and offer.budget.impressions is None
    )
