"""The customer as this decision sees it: attributes, activity features, segments, contact
history, budget spent and experiment assignment, all from the one read that began it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.customers.service import decode_attributes
from engine.decision.request import DecisionRequest
from engine.domain.catalog import Catalog
from engine.domain.contacts import ContactHistory, parse_contact_history
from engine.domain.profiles import FeatureValue, compute_features
from engine.domain.segments import memberships
from engine.store.records import DecisionRead
from experiments.exposure import Assignment, assignment_for_request

__all__ = ["CustomerAtDecision", "customer_at_decision"]


@dataclass(frozen=True, slots=True)
class CustomerAtDecision:
    attributes: dict[str, Any]
    features: dict[str, FeatureValue]
    values: dict[str, Any]  # attributes and features, as rules and segments read them
    segments: list[str]
    contacts: ContactHistory
    budget_spent: Mapping[str, str]
    assignment: Assignment | None


def customer_at_decision(
    read: DecisionRead, catalog: Catalog, request: DecisionRequest, now: float
) -> CustomerAtDecision:
    record = read.record
    attributes = decode_attributes(record.attributes)
    features = compute_features(record.activity, now)
    values = {**attributes, **features}
    segments = memberships(values, list(catalog.segments.values()), catalog.models)
    assignment = assignment_for_request(
        catalog.experiments,
        request.customer_id,
        request.channel,
        request.placement,
        segments,
        read.assignments,
    )
    return CustomerAtDecision(
        attributes,
        features,
        values,
        segments,
        parse_contact_history(record.contacts),
        record.budget_spent,
        assignment,
    )
