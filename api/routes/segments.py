"""Segment definitions (marketers write, analysts may read)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field, model_validator

from api.deps import ServicesDep, allow
from api.documents import (
    MergePatch,
    PreconditionDep,
    check_id,
    read_only_version,
    validate_as,
)
from api.openapi import errors
from engine.access.api_keys import ApiKey
from engine.catalog.documents import Precondition, etag, merge_patch, write_document
from engine.domain.catalog import Catalog
from engine.domain.rules import parse_rule
from engine.domain.segments import ID_PATTERN, SegmentDefinition, StoredSegment
from engine.errors import Conflict, NotFound

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
    version: int


class SegmentIn(SegmentDefinition):
    """A rule segment, or the document GET returned: its read-only members may come back."""

    segment_id: str | None = Field(default=None, description="Read-only: the path's id.")
    version: int | None = Field(
        default=None,
        ge=1,
        description="Read-only: the version this edit is based on; another is refused with 412.",
    )
    kind: Literal["rule", "learned"] | None = Field(default=None, description="Read-only.")
    model_id: str | None = Field(default=None, description="Read-only (learned segments).")
    centroid: dict[str, float] | None = Field(default=None, description="Read-only.")
    size: int | None = Field(default=None, description="Read-only.")

    @model_validator(mode="after")
    def _a_rule_segment(self) -> SegmentIn:
        learned = {
            "kind": self.kind == "learned",
            "model_id": self.model_id is not None,
            "centroid": self.centroid is not None,
            "size": self.size is not None,
        }
        name = next((name for name, given in learned.items() if given), None)
        if name is not None:
            raise ValueError(
                f"{name}: learned segments are written by segment learning; PUT and PATCH "
                "write rule segments"
            )
        return self


_READ_ONLY = {"segment_id", "version", "kind", "model_id", "centroid", "size"}


def _version(segment_id: str) -> Callable[[Catalog], int]:
    def version(catalog: Catalog) -> int:
        return catalog.segment_versions.get(segment_id, 0)

    return version


def _out(segment_id: str, stored: StoredSegment, version: int) -> SegmentOut:
    return SegmentOut(
        segment_id=segment_id,
        version=version,
        name=stored.name,
        description=stored.description,
        kind=stored.kind,
        rule=stored.rule,
        model_id=stored.model_id,
        centroid=stored.centroid,
        size=stored.size,
    )


async def _write(
    services: ServicesDep,
    segment_id: str,
    precondition: Precondition,
    response: Response,
    *,
    body: SegmentIn | None = None,
    patch: dict[str, Any] | None = None,
) -> SegmentOut:
    """PUT (``body``) and PATCH (``patch``): one validation, the write conditioned on the version
    it is based on (a patch: always the one it was applied to)."""

    async def write(catalog: Catalog, expected: int | None) -> SegmentOut | None:
        segment = body
        if segment is None:
            current = catalog.segments.get(segment_id)
            if current is None:
                raise NotFound(f"no segment '{segment_id}'", field="segment_id")
            out = _out(segment_id, current.stored, catalog.segment_versions.get(segment_id, 1))
            segment = validate_as(SegmentIn, merge_patch(out.model_dump(mode="json"), patch))
        check_id(segment.segment_id, segment_id, "segment_id")
        parse_rule(segment.rule, catalog.field_types, allowed=catalog.allowed_values)
        stored = StoredSegment(
            name=segment.name, description=segment.description, kind="rule", rule=segment.rule
        )
        version = await services.store.put_segment(
            segment_id, stored.model_dump_json(exclude_none=True).encode(), expected
        )
        return None if version is None else _out(segment_id, stored, version)

    given = body.version if body is not None else read_only_version(patch or {})
    out = await write_document(
        services.catalog,
        "segment",
        _version(segment_id),
        write,
        replace(precondition, version=given),
        reads_current=patch is not None,
    )
    response.headers["ETag"] = etag(out.version)
    return out


@router.put("/{segment_id}", summary="Create or replace a rule segment")
async def put_segment(
    segment_id: SegmentId,
    _: Marketer,
    body: SegmentIn,
    services: ServicesDep,
    precondition: PreconditionDep,
    response: Response,
) -> SegmentOut:
    return await _write(services, segment_id, precondition, response, body=body)


@router.patch(
    "/{segment_id}",
    summary="Change some members of a rule segment (JSON Merge Patch)",
)
async def patch_segment(
    segment_id: SegmentId,
    _: Marketer,
    patch: MergePatch,
    services: ServicesDep,
    precondition: PreconditionDep,
    response: Response,
) -> SegmentOut:
    return await _write(services, segment_id, precondition, response, patch=patch)


@router.get("/{segment_id}", summary="One segment")
async def get_segment(
    segment_id: SegmentId, services: ServicesDep, response: Response, _: Reader
) -> SegmentOut:
    catalog = await services.catalog.get()
    segment = catalog.segments.get(segment_id)
    if segment is None:
        raise NotFound(f"no segment '{segment_id}'", field="segment_id")
    version = catalog.segment_versions.get(segment_id, 1)
    response.headers["ETag"] = etag(version)
    return _out(segment_id, segment.stored, version)


@router.get("", summary="All segments")
async def list_segments(services: ServicesDep, _: Reader) -> list[SegmentOut]:
    catalog = await services.catalog.get()
    return [
        _out(sid, seg.stored, catalog.segment_versions.get(sid, 1))
        for sid, seg in catalog.segments.items()
    ]


@router.delete(
    "/{segment_id}",
    status_code=204,
    summary="Delete a segment no offer uses",
    responses=errors(409),
)
async def delete_segment(
    segment_id: SegmentId,
    _: Marketer,
    services: ServicesDep,
    precondition: PreconditionDep,
) -> Response:
    async def delete(catalog: Catalog, expected: int | None) -> bool | None:
        users = sorted(
            oid
            for oid, parsed in catalog.offers.items()
            if segment_id in parsed.offer.eligibility.segments_any
            or segment_id in parsed.offer.eligibility.segments_none
        )
        if users:
            raise Conflict(
                f"segment '{segment_id}' is used by offers: {', '.join(users)}",
                field="segment_id",
            )
        return await services.store.delete_segment(segment_id, expected)

    if not await write_document(
        services.catalog, "segment", _version(segment_id), delete, precondition, reads_current=False
    ):
        raise NotFound(f"no segment '{segment_id}'", field="segment_id")
    return Response(status_code=204)
