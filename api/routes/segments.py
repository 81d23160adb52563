"""Segment definitions (marketers write, analysts may read)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel

from api.deps import ServicesDep, allow
from api.openapi import errors
from engine.auth import ApiKey
from engine.errors import Conflict, NotFound
from engine.rules import parse_rule
from engine.segments import ID_PATTERN, SegmentDefinition, StoredSegment

router = APIRouter(prefix="/v1/segments", tags=["segments"])

SegmentId = Annotated[str, Path(pattern=ID_PATTERN, description="Letters, digits and _.- (max 64)")]
Marketer = Annotated[ApiKey, Depends(allow("marketer"))]
Reader = Annotated[ApiKey, Depends(allow("marketer", "analyst"))]


class SegmentOut(BaseModel):
    segment_id: str
    name: str
    description: str
    kind: Literal["rule", "learned"]
    rule: dict[str, Any] | None = None
    model_id: str | None = None
    centroid: dict[str, float] | None = None
    size: int | None = None


def _out(segment_id: str, stored: StoredSegment) -> SegmentOut:
    return SegmentOut(
        segment_id=segment_id,
        name=stored.name,
        description=stored.description,
        kind=stored.kind,
        rule=stored.rule,
        model_id=stored.model_id,
        centroid=stored.centroid,
        size=stored.size,
    )


@router.put("/{segment_id}", summary="Create or replace a rule segment")
async def put_segment(
    segment_id: SegmentId, body: SegmentDefinition, services: ServicesDep, _: Marketer
) -> SegmentOut:
    catalog = await services.catalog.get()
    parse_rule(body.rule, catalog.field_types, allowed=catalog.allowed_values)
    stored = StoredSegment(
        name=body.name, description=body.description, kind="rule", rule=body.rule
    )
    await services.store.put_segment(segment_id, stored.model_dump_json(exclude_none=True).encode())
    return _out(segment_id, stored)


@router.get("/{segment_id}", summary="One segment")
async def get_segment(segment_id: SegmentId, services: ServicesDep, _: Reader) -> SegmentOut:
    catalog = await services.catalog.get()
    segment = catalog.segments.get(segment_id)
    if segment is None:
        raise NotFound(f"no segment '{segment_id}'", field="segment_id")
    return _out(segment_id, segment.stored)


@router.get("", summary="All segments")
async def list_segments(services: ServicesDep, _: Reader) -> list[SegmentOut]:
    catalog = await services.catalog.get()
    return [_out(sid, seg.stored) for sid, seg in catalog.segments.items()]


@router.delete(
    "/{segment_id}",
    status_code=204,
    summary="Delete a segment no offer uses",
    responses=errors(409),
)
async def delete_segment(segment_id: SegmentId, services: ServicesDep, _: Marketer) -> Response:
    catalog = await services.catalog.get()
    users = sorted(
        oid
        for oid, parsed in catalog.offers.items()
        if segment_id in parsed.offer.eligibility.segments_any
        or segment_id in parsed.offer.eligibility.segments_none
    )
    if users:
        raise Conflict(
            f"segment '{segment_id}' is used by offers: {', '.join(users)}", field="segment_id"
        )
    if not await services.store.delete_segment(segment_id):
        raise NotFound(f"no segment '{segment_id}'", field="segment_id")
    return Response(status_code=204)
