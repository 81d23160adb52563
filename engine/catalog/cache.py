"""The in-process catalog snapshot of one worker, reloaded when the store's version moves."""

from __future__ import annotations

import asyncio

from engine.domain.catalog import Catalog, build_catalog
from engine.store.ports import CatalogReader

__all__ = ["CatalogCache"]


class CatalogCache:
    """Holds the current :class:`Catalog`; cheap to ask, reloads at most once per version."""

    def __init__(self, store: CatalogReader) -> None:
        self._store = store
        self._catalog = Catalog(version=-1)
        self._lock = asyncio.Lock()

    @property
    def current(self) -> Catalog:
        return self._catalog

    async def get(self, version: int | None = None) -> Catalog:
        """The catalog at ``version`` (from a read already made) or the store's latest."""
        if version is None:
            version = await self._store.catalog_version()
        if version == self._catalog.version:
            return self._catalog
        async with self._lock:
            if version != self._catalog.version:
                raw = await self._store.read_catalog()
                self._catalog = build_catalog(
                    raw.version,
                    raw.offers,
                    raw.offer_versions,
                    raw.segments,
                    raw.models,
                    raw.attribute_types,
                    raw.feature_spec,
                    raw.experiments,
                    raw.attribute_declarations,
                    raw.segment_versions,
                    raw.experiment_versions,
                )
        return self._catalog
