"""The HTTP side of read-modify-write: precondition headers, merge-patch bodies, read-only ids.

See :mod:`engine.catalog.documents` for why every catalog write can name the version it is based on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Body, Depends, Header
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from engine.catalog.documents import Precondition, parse_entity_tags
from engine.errors import ValidationFailed

__all__ = [
    "MERGE_PATCH",
    "MergePatch",
    "PreconditionDep",
    "check_id",
    "read_only_version",
    "validate_as",
]

M = TypeVar("M", bound=BaseModel)
MERGE_PATCH = "application/merge-patch+json"


async def preconditions(
    if_match: Annotated[
        str | None,
        Header(description='The ETag this write is based on ("3"), or * for any existing one.'),
    ] = None,
    if_none_match: Annotated[
        str | None, Header(description="* to create only: refused when the document exists.")
    ] = None,
) -> Precondition:
    matching = None if if_match is None else parse_entity_tags(if_match, "If-Match")
    avoiding = None if if_none_match is None else parse_entity_tags(if_none_match, "If-None-Match")
    return Precondition(
        if_match=matching,
        if_match_any=if_match is not None and matching is None,
        if_none_match=avoiding,
        if_none_match_any=if_none_match is not None and avoiding is None,
    )


PreconditionDep = Annotated[Precondition, Depends(preconditions)]


MergePatch = Annotated[
    dict[str, Any],
    Body(
        media_type=MERGE_PATCH,
        description="JSON Merge Patch (RFC 7396): members replace, null removes a member, "
        "objects merge recursively, arrays are replaced whole.",
    ),
]


def validate_as(model: type[M], document: Any) -> M:
    """Validate a patched document exactly as the PUT body, errors in the same shape."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def check_id(given: str | None, path_id: str, field: str) -> None:
    """A read-only id may come back in a body unchanged; another id is refused, never used."""
    if given is not None and given != path_id:
        raise ValidationFailed(
            f"{field}: '{given}' contradicts the path's '{path_id}' (read-only; the path names "
            "the document)",
            field=field,
        )


def read_only_version(document: Mapping[str, Any]) -> int | None:
    """The ``version`` member of a body that is a plain mapping (as GET returned it)."""
    value = document.get("version")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationFailed(
            "version: the integer version GET returned (or leave it out)", field="version"
        )
    return value
