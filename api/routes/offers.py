"""The offer catalog (marketers write, analysts may read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import Marketer, Reader, ServicesDep
from api.documents import (
    DocumentId,
    DocumentKind,
    Edit,
    EditDep,
    MergePatch,
    check_id,
    patched,
    read_only_version,
    tagged,
)
from engine.domain.catalog import Catalog, Offer, OfferStatus, ParsedOffer, validate_offer
from engine.domain.segments import ID_PATTERN

router = APIRouter(prefix="/v1/offers", tags=["offers"])


def _stored_version(catalog: Catalog, offer_id: str) -> int:
    parsed = catalog.offers.get(offer_id)
    return 0 if parsed is None else parsed.version


OFFERS = DocumentKind("offer", "offer_id", lambda catalog: catalog.offers, _stored_version)


class OfferOut(Offer):
    offer_id: str
    version: int


class OfferIn(Offer):
    """An offer, or the document GET returned: its read-only members may come back unchanged."""

    offer_id: str | None = Field(default=None, description="Read-only: the path's id.")
    version: int | None = Field(
        default=None,
        ge=1,
        description="Read-only: the version this edit is based on; another is refused with 412.",
    )


def _out(parsed: ParsedOffer) -> OfferOut:
    return OfferOut(offer_id=parsed.offer_id, version=parsed.version, **parsed.offer.model_dump())


async def _write(
    edit: Edit,
    offer_id: str,
    *,
    body: OfferIn | None = None,
    patch: dict[str, Any] | None = None,
) -> OfferOut:
    """PUT (``body``) and PATCH (``patch``): one validation, the write conditioned on the version
    it is based on (a patch: always the one it was applied to)."""
    read_only = {"offer_id", "version"}

    async def write(catalog: Catalog, expected: int | None) -> OfferOut | None:
        offer = body
        if offer is None:
            offer = patched(OfferIn, _out(OFFERS.find(catalog, offer_id)), patch)
        check_id(offer.offer_id, offer_id, "offer_id")
        validate_offer(offer, set(catalog.segments), catalog.field_types, catalog.allowed_values)
        version = await edit.services.store.put_offer(
            offer_id, offer.model_dump_json(exclude=read_only).encode(), expected
        )
        if version is None:
            return None
        return OfferOut(offer_id=offer_id, version=version, **offer.model_dump(exclude=read_only))

    given = body.version if body is not None else read_only_version(patch or {})
    return await OFFERS.write(edit, offer_id, write, given=given, reads_current=patch is not None)


class OfferPage(BaseModel):
    items: list[OfferOut]
    next_cursor: str | None
    total: int


@router.put("/{offer_id}", summary="Create or replace an offer (its version increments)")
async def put_offer(offer_id: DocumentId, _: Marketer, body: OfferIn, edit: EditDep) -> OfferOut:
    return await _write(edit, offer_id, body=body)


@router.patch(
    "/{offer_id}",
    summary="Change some members of an offer (JSON Merge Patch)",
)
async def patch_offer(
    offer_id: DocumentId, _: Marketer, patch: MergePatch, edit: EditDep
) -> OfferOut:
    return await _write(edit, offer_id, patch=patch)


@router.get("/{offer_id}", summary="One offer")
async def get_offer(
    offer_id: DocumentId, services: ServicesDep, response: Response, _: Reader
) -> OfferOut:
    catalog = await services.catalog.get()
    return tagged(response, _out(OFFERS.find(catalog, offer_id)))


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
    items = [_out(catalog.offers[oid]) for oid in page]
    more = start + limit < len(ids)
    return OfferPage(items=items, next_cursor=page[-1] if more and page else None, total=len(ids))


@router.delete("/{offer_id}", status_code=204, summary="Remove an offer from the catalog")
async def delete_offer(offer_id: DocumentId, _: Marketer, edit: EditDep) -> Response:
    async def delete(catalog: Catalog, expected: int | None) -> bool | None:
        return await edit.services.store.delete_offer(offer_id, expected)

    return await OFFERS.delete(edit, offer_id, delete, reads_current=False)
