"""The HTTP side of read-modify-write: precondition headers, merge-patch bodies, read-only ids.

See :mod:`engine.catalog.documents` for why every catalog write can name the version it is based on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Body, Depends, Header, Path, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from api.deps import Services, ServicesDep
from engine.catalog.documents import (
    Precondition,
    etag,
    merge_patch,
    parse_entity_tags,
    write_document,
)
from engine.domain.catalog import Catalog
from engine.domain.segments import ID_PATTERN
from engine.errors import NotFound, ValidationFailed

__all__ = [
    "MERGE_PATCH",
    "DocumentId",
    "DocumentKind",
    "Edit",
    "EditDep",
    "MergePatch",
    "PreconditionDep",
    "check_id",
    "patched",
    "read_only_version",
    "tagged",
    "validate_as",
]

M = TypeVar("M", bound=BaseModel)
S = TypeVar("S")
MERGE_PATCH = "application/merge-patch+json"

DocumentId = Annotated[
    str, Path(pattern=ID_PATTERN, description="Letters, digits and _.- (max 64)")
]


class Versioned(Protocol):
    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)


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


@dataclass(frozen=True, slots=True)
class Edit:
    """What every conditional write of a document needs: the store and catalog, the version the
    client requires, and the response whose ``ETag`` names the version written."""

    services: Services
    precondition: Precondition
    response: Response


async def edit(services: ServicesDep, precondition: PreconditionDep, response: Response) -> Edit:
    # async, as get_services: a plain ``def`` would cost a thread hop per request
    return Edit(services, precondition, response)


EditDep = Annotated[Edit, Depends(edit)]


def tagged(response: Response, document: V) -> V:
    """The document, its version in ``ETag``: what a later write names in ``If-Match``."""
    response.headers["ETag"] = etag(document.version)
    return document


@dataclass(frozen=True, slots=True)
class DocumentKind(Generic[S]):
    """One kind of catalog document, as its errors and preconditions name it.

    ``documents`` are the catalog's parsed ones by id; ``version`` is the stored version of one
    (0: none), what ``If-Match`` is compared with.
    """

    what: str
    field: str
    documents: Callable[[Catalog], Mapping[str, S]]
    version: Callable[[Catalog, str], int]

    def missing(self, document_id: str) -> NotFound:
        return NotFound(f"no {self.what} '{document_id}'", field=self.field)

    def find(self, catalog: Catalog, document_id: str) -> S:
        document = self.documents(catalog).get(document_id)
        if document is None:
            raise self.missing(document_id)
        return document

    def _version_of(self, document_id: str) -> Callable[[Catalog], int]:
        def version_of(catalog: Catalog) -> int:
            return self.version(catalog, document_id)

        return version_of

    async def write(
        self,
        edit: Edit,
        document_id: str,
        write: Callable[[Catalog, int | None], Awaitable[V | None]],
        *,
        given: int | None,
        reads_current: bool,
    ) -> V:
        """``write`` under the precondition and the ``version`` the body is based on (``given``),
        the version written in ``ETag``. See :func:`engine.catalog.documents.write_document`."""
        written = await write_document(
            edit.services.catalog,
            self.what,
            self._version_of(document_id),
            write,
            replace(edit.precondition, version=given),
            reads_current=reads_current,
        )
        return tagged(edit.response, written)

    async def delete(
        self,
        edit: Edit,
        document_id: str,
        delete: Callable[[Catalog, int | None], Awaitable[bool | None]],
        *,
        reads_current: bool,
    ) -> Response:
        """``delete`` under the precondition: 204, or 404 when the store held no such document."""
        deleted = await write_document(
            edit.services.catalog,
            self.what,
            self._version_of(document_id),
            delete,
            edit.precondition,
            reads_current=reads_current,
        )
        if not deleted:
            raise self.missing(document_id)
        return Response(status_code=204)


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


def patched(model: type[M], current: BaseModel, patch: Any) -> M:
    """``patch`` applied to the document GET returns, validated as the PUT body would be."""
    return validate_as(model, merge_patch(current.model_dump(mode="json"), patch))


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
