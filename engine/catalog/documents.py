"""Read-modify-write of catalog documents (offers, segments, experiments) by several editors.

A marketer reads a document, changes it and writes it back; another may have written it in
between. Every document has a version in the store, reads carry it as a strong ETag, and a
write names the version it was based on (``If-Match``, or the ``version`` GET returned): the
store checks and writes in one atomic step (``lua/document.lua``), so a stale write is refused
instead of silently undoing someone else's change.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from engine.catalog.cache import CatalogCache
from engine.domain.catalog import Catalog
from engine.errors import Conflict, PreconditionFailed, ValidationFailed

__all__ = ["Precondition", "etag", "merge_patch", "parse_entity_tags", "write_document"]

T = TypeVar("T")

# A write that loses a race starts again from a fresh read; each loss is another writer's
# success, so this many attempts see through that many concurrent editors of one document.
ATTEMPTS = 10

_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


def etag(version: int) -> str:
    """Strong: two documents with one version are byte-identical (versions never repeat)."""
    return f'"{version}"'


def parse_entity_tags(value: str, header: str) -> frozenset[int] | None:
    """The versions an ``If-Match``/``If-None-Match`` header names; None for ``*``.

    Weak tags (``W/"3"``) and tags that are not versions of ours name nothing: the strong
    comparison RFC 9110 requires of writes never matches them.
    """
    if value.strip() == "*":
        return None
    versions: set[int] = set()
    position = 0
    while position < len(value):
        found = _ENTITY_TAG.match(value, position)
        if found is None or found.end() == position:
            raise ValidationFailed(
                f'{header}: expected entity tags such as "3" (from ETag) or *', field=header
            )
        weak, tag = found.groups()
        if not weak and tag.isascii() and tag.isdigit() and len(tag) <= 18:
            versions.add(int(tag))  # ours are ASCII digits, well inside 64 bits
        position = found.end()
    return frozenset(versions)


@dataclass(frozen=True, slots=True)
class Precondition:
    """What a writer requires of the stored document's version (0: there is none).

    ``if_match``/``if_none_match``: the versions the headers name (None: no header, or ``*``,
    which ``*_any`` records); ``version``: the body's ``version`` member, since a document GET
    returned and sent back is an edit of that version.
    """

    if_match: frozenset[int] | None = None
    if_match_any: bool = False
    if_none_match: frozenset[int] | None = None
    if_none_match_any: bool = False
    version: int | None = None

    @property
    def given(self) -> bool:
        return (
            self.if_match is not None
            or self.if_match_any
            or self.if_none_match is not None
            or self.if_none_match_any
            or self.version is not None
        )

    def check(self, version: int, what: str) -> None:
        stored = f"the stored {what} is version {version}" if version else f"no {what} exists"
        if self.if_match_any and not version:
            raise PreconditionFailed(f"If-Match: {stored}", field="If-Match")
        if self.if_match is not None and version not in self.if_match:
            raise PreconditionFailed(
                f"If-Match: {stored}; read it again and reapply the change", field="If-Match"
            )
        if self.if_none_match_any and version:
            raise PreconditionFailed(f"If-None-Match: {stored}", field="If-None-Match")
        if self.if_none_match is not None and version in self.if_none_match:
            raise PreconditionFailed(f"If-None-Match: {stored}", field="If-None-Match")
        if self.version is not None and version != self.version:
            raise PreconditionFailed(
                f"version: {stored}, this edit is based on version {self.version}; read it "
                "again and reapply the change",
                field="version",
            )


def merge_patch(target: Any, patch: Any) -> Any:
    """JSON Merge Patch (RFC 7396 section 2): null removes a member, objects merge, anything
    else replaces. Pure: neither argument is changed."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


async def write_document(
    catalogs: CatalogCache,
    what: str,
    version_of: Callable[[Catalog], int],
    write: Callable[[Catalog, int | None], Awaitable[T | None]],
    precondition: Precondition,
    *,
    reads_current: bool,
) -> T:
    """Check ``precondition`` against the version read, then ``write`` conditioned on it.

    ``write`` gets the catalog and the version the store must still hold (None: any) and
    returns None when the store held another. A write whose outcome depends on the current
    document (a patch, a lifecycle move: ``reads_current``) is always conditioned on the
    version it read; a plain replacement only when the client named one. Losing a race starts
    again from a fresh read, where the precondition is checked anew.
    """
    for _ in range(ATTEMPTS):
        catalog = await catalogs.get()
        version = version_of(catalog)
        precondition.check(version, what)
        expected = version if reads_current or precondition.given else None
        result = await write(catalog, expected)
        if result is not None:
            return result
    raise Conflict(f"the {what} kept changing while this was written; try again", field=None)
