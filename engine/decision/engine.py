"""One decision: read, eligibility and contact policy, scoring, arbitration, commit, log.

The path a request takes (see ARCHITECTURE.md, One decision): one pipelined read brings the
customer, the catalog and model versions and any earlier answer to the same request_id;
everything else up to the commit runs in memory on frozen snapshots; the commit reserves caps
and writes the decision record atomically (Lua, customer slot); the log entry follows in one
pipeline. :meth:`DecisionEngine.decide` runs the steps in that order, each in its module:
``request`` (what is asked), ``treatment`` (which policy decides), ``candidates`` (eligibility
and contact policy), ``choice`` (scoring and arbitration; ``response`` builds the answer),
``record`` (what the commit and the log write), ``log_queue`` (the log, after the response);
``fallback`` answers while the store is away.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import numpy as np
import orjson

from engine.catalog.cache import CatalogCache
from engine.config import Settings
from engine.decision.candidates import Candidate, eligible_candidates
from engine.decision.choice import Choice, choose
from engine.decision.customer import CustomerAtDecision, customer_at_decision
from engine.decision.facts import DecisionFacts
from engine.decision.fallback import fallback_decision
from engine.decision.log_queue import DecisionLogQueue, DecisionLogWriter
from engine.decision.record import decision_log_record, first_exposure_record, record_fields
from engine.decision.request import DecisionRequest
from engine.decision.response import Decision, decision_body, replayed_decision
from engine.decision.treatment import AppliedTreatment, treatment_for, variant_scopes
from engine.domain.catalog import Catalog
from engine.domain.channels import CHANNEL_CODES
from engine.domain.idempotency import conflict, fingerprint, stamped
from engine.errors import StoreUnavailable
from engine.learning.registry import ModelRegistry, scope_for
from engine.metrics import DECISIONS, FALLBACKS
from engine.store import keys
from engine.store.ports import DecisionPort
from engine.store.records import DecisionCommit

__all__ = ["DecisionEngine", "decision_token"]

MAX_COMMIT_ATTEMPTS = 3


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
        writer = DecisionLogWriter(store, self.pending_log, settings)
        # the writer's own methods, bound once: a flush after each response costs no extra call
        self.flush_log = writer.flush_log
        self.keep_flushing = writer.keep_flushing
        self.write_pending = writer.write_pending
        self._response_ranked = frozenset(settings.response_ranked_placements)

    async def decide(self, request: DecisionRequest, *, defer_log: bool = False) -> Decision:
        """Decide; the log is written before returning unless ``defer_log``.

        With ``defer_log`` the caller promises to call :meth:`flush_log` soon (the API does it
        after the response is sent), so the log write leaves the response path and concurrent
        decisions share one pipeline (group commit). The steps that wait on the store are
        awaited here; every other step is a plain call, so a decision costs no extra await.
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
                return replayed_decision(read.replay, digest, request.request_id)
        catalog = await self.catalog.get(read.record.catalog_version)
        customer = customer_at_decision(read, catalog, request, now)
        treatment = treatment_for(customer.assignment, scope, self.models.policy)
        scorer, model_version = await self.models.scorer(
            treatment.scope,
            read.model_versions.get(treatment.scope, 0),
            catalog.vectorizer.size,
            treatment.policy,
            catalog.feature_spec.version,
        )
        candidates = eligible_candidates(catalog, request, treatment, customer, now)
        facts = self._facts(request, now, digest, catalog, customer, treatment, model_version)
        for _ in range(MAX_COMMIT_ATTEMPTS):
            choice = choose(facts, candidates, scorer, self.rng)
            encoded = orjson.dumps(choice.body)
            fields = record_fields(facts, choice)
            status, reasons = await self.store.commit_decision(
                self._commit(facts, choice, fields, encoded)
            )
            if status == "ok":
                break
            answered = self._answered_elsewhere(facts, status, reasons)
            if answered is not None:
                return answered
            candidates = _without_refused(candidates, choice.served, reasons)
        else:  # every attempt was refused: answer without an offer (nothing committed)
            choice = choose(facts, [], scorer, self.rng)
            encoded = orjson.dumps(choice.body)
        self.pending_log.enqueue(decision_log_record(facts, candidates, choice, fields))
        if not defer_log:
            await self.flush_log(wait=True)
        DECISIONS.labels(channel=request.channel, fallback="false").inc()
        return Decision(choice.body, encoded=encoded)

    def _facts(
        self,
        request: DecisionRequest,
        now: float,
        digest: str,
        catalog: Catalog,
        customer: CustomerAtDecision,
        treatment: AppliedTreatment,
        model_version: int,
    ) -> DecisionFacts:
        """What every commit attempt shares: the decision's id, treatment, model and vector."""
        features = customer.features
        token = decision_token()
        return DecisionFacts(
            now=now,
            request=request,
            token=token,
            decision_id=keys.decision_id(request.customer_id, token),
            digest=digest,
            treatment=treatment,
            assignment=customer.assignment,
            model_version=model_version,
            spec_version=catalog.feature_spec.version,
            window=self.settings.attribution_window(request.channel),
            x=catalog.vectorizer.vector(
                request.channel, request.context, features, customer.attributes, customer.segments
            ),
            segments=customer.segments,
            mode="response" if request.placement in self._response_ranked else "expected_value",
            pre_revenue=float(features.get("revenue_90d") or 0.0),
            pre_converted=1.0 if (features.get("purchases_90d") or 0) else 0.0,
        )

    def _commit(
        self, facts: DecisionFacts, choice: Choice, fields: dict[str, str], encoded: bytes
    ) -> DecisionCommit:
        """What the commit reserves and writes: caps, the record, the first exposure, the
        answer kept for a replay of the request id."""
        request = facts.request
        return DecisionCommit(
            customer_id=request.customer_id,
            token=facts.token,
            offers=[(c.parsed.offer_id, c.parsed.offer.caps.script_args()) for c in choice.served],
            channel_code=CHANNEL_CODES[request.channel],
            now=int(facts.now),
            fields=fields,
            response=stamped(facts.digest, encoded) if request.request_id is not None else b"",
            request_id=request.request_id,
            decision_ttl=facts.window + self.settings.late_event_grace_seconds,
            request_ttl=self.settings.request_id_ttl_seconds,
            assignment=first_exposure_record(facts),
            fingerprint=facts.digest,
        )

    def _answered_elsewhere(
        self, facts: DecisionFacts, status: str, reasons: list[str]
    ) -> Decision | None:
        """The answer when the commit found one already (erased customer, a concurrent
        request with this request_id); None when it refused offers, to choose again."""
        request_id = facts.request.request_id
        if status == "erased":
            return self._erased(facts)
        if status == "replay" and request_id is not None:
            return replayed_decision(reasons[0], facts.digest, request_id)
        if status == "conflict" and request_id is not None:
            # a concurrent request with another body took the key first
            raise conflict("request_id", request_id)
        return None

    def _erased(self, facts: DecisionFacts) -> Decision:
        """The customer was erased while this decision was being made (or moments before).

        Nothing is committed or logged, so nothing of the customer comes back; the channel gets
        an answer it already handles, no offer, rather than an error for a customer it knew.
        """
        request = facts.request
        DECISIONS.labels(channel=request.channel, fallback="false").inc()
        body = decision_body(
            request, facts.decision_id, [], policy="none", segments=[], reason="customer_erased"
        )
        return Decision(body)

    def _fallback(self, request: DecisionRequest, now: float, scope: str) -> Decision:
        """The store is unreachable: see :mod:`engine.decision.fallback`."""
        body, record = fallback_decision(
            request, now, scope, self.catalog.current, self.settings, decision_token()
        )
        self.pending_log.enqueue_fallback(record)
        FALLBACKS.labels(channel=request.channel).inc()
        DECISIONS.labels(channel=request.channel, fallback="true").inc()
        return Decision(body)


def _without_refused(
    candidates: list[Candidate], served: list[Candidate], reasons: list[str]
) -> list[Candidate]:
    """A concurrent decision took the last contact a cap allowed: drop those and choose again."""
    refused = {c.parsed.offer_id for c, r in zip(served, reasons, strict=True) if r}
    return [c for c in candidates if c.parsed.offer_id not in refused]
