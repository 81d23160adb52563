"""The offers this decision may serve: the channel's offers the treatment admits, not excluded
by the request, that pass eligibility, contact policy and budget (the fast path of
:func:`engine.decision.eligibility.admissible`)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.decision.customer import CustomerAtDecision
from engine.decision.eligibility import admissible
from engine.decision.request import DecisionRequest
from engine.decision.treatment import AppliedTreatment
from engine.domain.catalog import Catalog, ParsedOffer

__all__ = ["Candidate", "eligible_candidates"]


@dataclass(slots=True)
class Candidate:
    parsed: ParsedOffer
    matched_segments: list[str]


def eligible_candidates(
    catalog: Catalog,
    request: DecisionRequest,
    treatment: AppliedTreatment,
    customer: CustomerAtDecision,
    now: float,
) -> list[Candidate]:
    """In the catalog's order for the channel, so arbitration's ties break the same way."""
    excluded = set(request.exclude_offers)
    values, contacts, spent = customer.values, customer.contacts, customer.budget_spent
    segments = set(customer.segments)
    candidates = []
    for parsed in catalog.by_channel.get(request.channel, ()):
        if parsed.offer_id in excluded or not treatment.admits(parsed.offer_id):
            continue
        matched = admissible(
            parsed,
            request.channel,
            request.placement,
            values,
            segments,
            contacts,
            spent,
            now,
        )
        if matched is not None:
            candidates.append(Candidate(parsed, matched))
    return candidates
