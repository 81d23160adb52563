"""Segment definitions (marketers write, analysts may read)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, model_validator

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
from api.openapi import errors
from engine.domain.catalog import Catalog
from engine.domain.rules import parse_rule
from engine.domain.segments import SegmentDefinition, StoredSegment
from engine.errors import Conflict

router = APIRouter(prefix="/v1/segments", tags=["segments"])

SEGMENTS = DocumentKind(
    "segment",
    "segment_id",
    lambda catalog: catalog.segments,
    lambda catalog, segment_id: catalog.segment_versions.get(segment_id, 0),
)


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


def _out(segment_id: str, stored: StoredSegment, version: int) -> SegmentOut:
    # a learned segment's cluster is the model's own index: the centroid says what it is
    return SegmentOut(
        segment_id=segment_id, version=version, **stored.model_dump(exclude={"cluster"})
    )


def _current(catalog: Catalog, segment_id: str) -> SegmentOut:
    """The segment as GET answers it (a segment stored before versions were kept: version 1)."""
    stored = SEGMENTS.find(catalog, segment_id).stored
    return _out(segment_id, stored, catalog.segment_versions.get(segment_id, 1))


async def _write(
    edit: Edit,
    segment_id: str,
    *,
    body: SegmentIn | None = None,
    patch: dict[str, Any] | None = None,
) -> SegmentOut:
    """PUT (``body``) and PATCH (``patch``): one validation, the write conditioned on the version
    it is based on (a patch: always the one it was applied to)."""

    async def write(catalog: Catalog, expected: int | None) -> SegmentOut | None:
        segment = body
        if segment is None:
            segment = patched(SegmentIn, _current(catalog, segment_id), patch)
        check_id(segment.segment_id, segment_id, "segment_id")
        parse_rule(segment.rule, catalog.field_types, allowed=catalog.allowed_values)
        stored = StoredSegment(
            name=segment.name, description=segment.description, kind="rule", rule=segment.rule
        )
        version = await edit.services.store.put_segment(
            segment_id, stored.model_dump_json(exclude_none=True).encode(), expected
        )
        return None if version is None else _out(segment_id, stored, version)

    given = body.version if body is not None else read_only_version(patch or {})
    return await SEGMENTS.write(
        edit, segment_id, write, given=given, reads_current=patch is not None
    )


@router.put("/{segment_id}", summary="Create or replace a rule segment")
async def put_segment(
    segment_id: DocumentId, _: Marketer, body: SegmentIn, edit: EditDep
) -> SegmentOut:
    return await _write(edit, segment_id, body=body)


@router.patch(
    "/{segment_id}",
    summary="Change some members of a rule segment (JSON Merge Patch)",
)
async def patch_segment(
    segment_id: DocumentId, _: Marketer, patch: MergePatch, edit: EditDep
) -> SegmentOut:
    return await _write(edit, segment_id, patch=patch)


@router.get("/{segment_id}", summary="One segment")
async def get_segment(
    segment_id: DocumentId, services: ServicesDep, response: Response, _: Reader
) -> SegmentOut:
    return tagged(response, _current(await services.catalog.get(), segment_id))


@router.get("", summary="All segments")
async def list_segments(services: ServicesDep, _: Reader) -> list[SegmentOut]:
    catalog = await services.catalog.get()
    return [_current(catalog, segment_id) for segment_id in catalog.segments]


@router.delete(
    "/{segment_id}",
    status_code=204,
    summary="Delete a segment no offer uses",
    responses=errors(409),
)
async def delete_segment(segment_id: DocumentId, _: Marketer, edit: EditDep) -> Response:
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
        return await edit.services.store.delete_segment(segment_id, expected)

    return await SEGMENTS.delete(edit, segment_id, delete, reads_current=False)
