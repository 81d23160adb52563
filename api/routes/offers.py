"""The offer catalog (marketers write, analysts may read)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel

from api.deps import ServicesDep, allow
from engine.auth import ApiKey
from engine.catalog import Offer, OfferStatus, validate_offer
from engine.errors import NotFound
from engine.segments import ID_PATTERN

router = APIRouter(prefix="/v1/offers", tags=["offers"])

OfferId = Annotated[str, Path(pattern=ID_PATTERN, description="Letters, digits and _.- (max 64)")]
Marketer = Annotated[ApiKey, Depends(allow("marketer"))]
Reader = Annotated[ApiKey, Depends(allow("marketer", "analyst"))]


class OfferOut(Offer):
    offer_id: str
    version: int


class OfferPage(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None
    total: int


@router.put("/{offer_id}", summary="Create or replace an offer (its version increments)")
async def put_offer(offer_id: OfferId, body: Offer, services: ServicesDep, _: Marketer) -> OfferOut:
    catalog = await services.catalog.get()
    validate_offer(body, set(catalog.segments), catalog.field_types, catalog.allowed_values)
    version = await services.store.put_offer(offer_id, body.model_dump_json().encode())
    return OfferOut(offer_id=offer_id, version=version, **body.model_dump())


@router.get("/{offer_id}", summary="One offer")
async def get_offer(offer_id: OfferId, services: ServicesDep, _: Reader) -> OfferOut:
    catalog = await services.catalog.get()
    parsed = catalog.offers.get(offer_id)
    if parsed is None:
        raise NotFound(f"no offer '{offer_id}'", field="offer_id")
    return OfferOut(offer_id=offer_id, version=parsed.version, **parsed.offer.model_dump())


@router.get("", summary="Offers, paged by id")
async def list_offers(
    services: ServicesDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=ID_PATTERN, description="`next_cursor` of the previous page (an offer id)"),
    ] = None,
    status: Annotated[OfferStatus | None, Query()] = None,
) -> OfferPage:
    catalog = await services.catalog.get()
    ids = [
        oid
        for oid, parsed in catalog.offers.items()
        if status is None or parsed.offer.status == status
    ]
    ids.sort()
    start = (
        0 if cursor is None else next((i for i, oid in enumerate(ids) if oid > cursor), len(ids))
    )
    page = ids[start : start + limit]
    items = [
        OfferOut(
            offer_id=oid,
            version=catalog.offers[oid].version,
            **catalog.offers[oid].offer.model_dump(),
        )
        for oid in page
    ]
    more = start + limit < len(ids)
    return OfferPage(items=items, next_cursor=page[-1] if more and page else None, total=len(ids))


@router.delete("/{offer_id}", status_code=204, summary="Remove an offer from the catalog")
async def delete_offer(offer_id: OfferId, services: ServicesDep, _: Marketer) -> Response:
    if not await services.store.delete_offer(offer_id):
        raise NotFound(f"no offer '{offer_id}'", field="offer_id")
    return Response(status_code=204)
