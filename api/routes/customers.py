"""Customer profiles, activities, erasure and the eligibility view."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import Admin, Analyst, Decide, Reader, Services, ServicesDep
from api.openapi import errors
from api.schemas import (
    ActivitiesAccepted,
    ActivityBatch,
    ContactHistoryEntry,
    CustomerOut,
    CustomerUpsert,
    CustomerWritten,
    EligibilityOut,
    OfferEligibilityOut,
    ReasonOut,
)
from engine.customers.service import (
    CUSTOMER_ID_PATTERN,
    customer_view,
    record_activities,
    upsert_attributes,
)
from engine.decision.eligibility import evaluate_offers
from engine.domain.channels import Channel
from engine.domain.contacts import OfferContacts
from engine.domain.profiles import Activity

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerId = Annotated[
    str, Path(pattern=CUSTOMER_ID_PATTERN, description="Letters, digits and _.:@- (max 128)")
]


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()


def _history_entry(entry: OfferContacts, now: float) -> ContactHistoryEntry:
    day = int(now // 86_400)
    return ContactHistoryEntry(
        served=entry.served,
        impressions=entry.impressions,
        clicks=entry.clicks,
        conversions=entry.conversions,
        dismisses=entry.dismisses,
        served_today=entry.served_on(day),
        served_7d=entry.served_in_week(day),
        last_dismissed_at=_iso(entry.last_dismissed_at),
        last_shown_at={ch: _iso(ts) or "" for ch, ts in entry.last_shown_at.items()},
    )


@router.put(
    "/{customer_id}",
    summary="Upsert profile attributes (answers no profile data)",
    responses=errors(409),
)
async def put_customer(
    customer_id: CustomerId, body: CustomerUpsert, services: ServicesDep, _: Decide
) -> CustomerWritten:
    catalog = await services.catalog.get()
    await upsert_attributes(services.store, catalog, customer_id, body.attributes, time.time())
    return CustomerWritten(
        customer_id=customer_id,
        updated=sorted(name for name, value in body.attributes.items() if value is not None),
        removed=sorted(name for name, value in body.attributes.items() if value is None),
    )


async def _record(
    services: Services, customer_id: str, activities: Sequence[Activity], path: str | None
) -> ActivitiesAccepted:
    """Count ``activities`` all or nothing; ``path`` prefixes the field a refusal names."""
    outcome = await record_activities(services.store, customer_id, activities, time.time(), path)
    return ActivitiesAccepted(
        customer_id=customer_id, accepted=outcome.accepted, duplicates=outcome.duplicates
    )


@router.post("/{customer_id}/activities", summary="Record one activity", responses=errors(409))
async def post_activity(
    customer_id: CustomerId, body: Activity, services: ServicesDep, _: Decide
) -> ActivitiesAccepted:
    # one activity's refused field is named as the body's own, not as a batch member's
    return await _record(services, customer_id, [body], path=None)


@router.post(
    "/{customer_id}/activities:batch",
    summary="Record up to 500 activities at once",
    responses=errors(409),
)
async def post_activities(
    customer_id: CustomerId, body: ActivityBatch, services: ServicesDep, _: Decide
) -> ActivitiesAccepted:
    return await _record(services, customer_id, body.activities, path="activities")


async def _view(services: ServicesDep, customer_id: str, now: float) -> CustomerOut:
    record = await services.store.read_customer(customer_id)
    catalog = await services.catalog.get(record.catalog_version)
    view = customer_view(catalog, record, customer_id, now)
    return CustomerOut(
        customer_id=customer_id,
        known=view.known,
        attributes=view.attributes,
        features=view.features,
        segments=view.segments,
        contact_history={o: _history_entry(e, now) for o, e in sorted(view.contacts.items())},
    )


@router.get("/{customer_id}", summary="Profile, features, segments and contact history")
async def get_customer(customer_id: CustomerId, services: ServicesDep, _: Analyst) -> CustomerOut:
    return await _view(services, customer_id, time.time())


@router.delete("/{customer_id}", status_code=204, summary="Erase everything held about a customer")
async def delete_customer(customer_id: CustomerId, services: ServicesDep, _: Admin) -> Response:
    await services.store.erase_customer(customer_id)
    return Response(status_code=204)


@router.get(
    "/{customer_id}/eligibility",
    summary="Every offer with whether this customer may see it on a channel, and why not",
)
async def get_eligibility(
    customer_id: CustomerId,
    services: ServicesDep,
    _: Reader,
    channel: Annotated[Channel, Query(description="The channel to evaluate")],
    placement: Annotated[str | None, Query(max_length=64)] = None,
) -> EligibilityOut:
    now = time.time()
    record = await services.store.read_customer(customer_id)
    catalog = await services.catalog.get(record.catalog_version)
    view = customer_view(catalog, record, customer_id, now)
    values = {**view.attributes, **view.features}
    verdicts = evaluate_offers(
        catalog,
        channel,
        placement,
        values,
        set(view.segments),
        view.contacts,
        record.budget_spent,
        now,
    )
    return EligibilityOut(
        customer_id=customer_id,
        channel=channel,
        placement=placement,
        segments=view.segments,
        eligible_count=sum(v.eligible for v in verdicts),
        offers=[
            OfferEligibilityOut(
                offer_id=v.offer_id,
                name=catalog.offers[v.offer_id].offer.name,
                eligible=v.eligible,
                reasons=[ReasonOut(code=r.code, message=r.message) for r in v.reasons],
                matched_segments=v.matched_segments,
            )
            for v in verdicts
        ],
    )
