"""The adapter's catalog operations: offers, segments, experiments, the feature spec and
attribute types, each document written conditionally on the version its writer read
(``lua/document.lua``), every write moving the catalog version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson

from engine.errors import AttributeLimitReached, Conflict
from engine.store import keys
from engine.store._base import Adapter
from engine.store.connection import translate
from engine.store.records import RawCatalog
from engine.store.scripts import (
    DocumentWrite,
    attribute_types,
    attribute_types_args,
    declare_args,
    document_args,
)

__all__ = ["CatalogStore"]


class CatalogStore(Adapter):
    @translate("catalog_version")
    async def catalog_version(self) -> int:
        return int(await self._client.get(keys.CONFIG_VERSION) or 0)

    @translate("read_catalog")
    async def read_catalog(self) -> RawCatalog:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(keys.CONFIG_VERSION)
            pipe.hgetall(keys.OFFERS)
            pipe.hgetall(keys.OFFER_VERSIONS)
            pipe.hgetall(keys.SEGMENTS)
            pipe.hgetall(keys.SEGMENT_MODELS)
            pipe.hgetall(keys.SCHEMA)
            pipe.get(keys.FEATURE_SPEC)
            pipe.hgetall(keys.EXPERIMENTS)
            pipe.hgetall(keys.ATTRIBUTE_DECLARATIONS)
            pipe.hgetall(keys.SEGMENT_VERSIONS)
            pipe.hgetall(keys.EXPERIMENT_VERSIONS)
            results = await pipe.execute()
        version, offers, versions, segments, models, schema, spec, experiments, *more = results
        return RawCatalog(
            int(version or 0), offers, versions, segments, models, schema, spec, experiments, *more
        )

    async def _write_document(
        self,
        documents: str,
        versions: str,
        item_id: str,
        expected: int | None,
        doc: bytes | None,
        retired: str | None = None,
        retire: bool = False,
        catalog_version: int | None = None,
    ) -> DocumentWrite:
        """One conditional put (``doc``) or delete (``doc`` None), see ``lua/document.lua``."""
        script_keys = [documents, versions, keys.CONFIG_VERSION, *([retired] if retired else [])]
        args = document_args(item_id, expected, doc, retire, catalog_version)
        status, version = await self._scripts.document(keys=script_keys, args=args)
        return DocumentWrite(str(status), int(version))

    async def _put(
        self, documents: str, versions: str, item_id: str, doc: bytes, expected: int | None
    ) -> int | None:
        written = await self._write_document(documents, versions, item_id, expected, doc)
        return written.version if written.status == "ok" else None

    async def _delete(
        self, documents: str, versions: str, item_id: str, expected: int | None
    ) -> bool | None:
        written = await self._write_document(documents, versions, item_id, expected, None)
        return None if written.status == "stale" else written.status == "ok"

    @translate("put_offer")
    async def put_offer(self, offer_id: str, doc: bytes, expected: int | None = None) -> int | None:
        return await self._put(keys.OFFERS, keys.OFFER_VERSIONS, offer_id, doc, expected)

    @translate("delete_offer")
    async def delete_offer(self, offer_id: str, expected: int | None = None) -> bool | None:
        return await self._delete(keys.OFFERS, keys.OFFER_VERSIONS, offer_id, expected)

    @translate("put_segment")
    async def put_segment(
        self, segment_id: str, doc: bytes, expected: int | None = None
    ) -> int | None:
        return await self._put(keys.SEGMENTS, keys.SEGMENT_VERSIONS, segment_id, doc, expected)

    @translate("delete_segment")
    async def delete_segment(self, segment_id: str, expected: int | None = None) -> bool | None:
        return await self._delete(keys.SEGMENTS, keys.SEGMENT_VERSIONS, segment_id, expected)

    @translate("replace_segment_model")
    async def replace_segment_model(
        self, model_id: str, doc: bytes, segments: Mapping[str, bytes]
    ) -> None:
        """Swap a learned model and its segments in one transaction (WATCH guards a race)."""

        async def swap(pipe: Any) -> None:
            previous = await pipe.hget(keys.SEGMENT_MODELS, model_id)
            stale = set(orjson.loads(previous)["segment_ids"]) if previous else set()
            stale -= set(segments)
            pipe.multi()
            if stale:
                pipe.hdel(keys.SEGMENTS, *sorted(stale))
            pipe.hset(keys.SEGMENT_MODELS, model_id, doc)
            if segments:
                pipe.hset(keys.SEGMENTS, mapping={k: v for k, v in segments.items()})
            for segment_id in segments:  # a relearned segment is a new version (its ETag moves)
                pipe.hincrby(keys.SEGMENT_VERSIONS, segment_id, 1)
            pipe.incr(keys.CONFIG_VERSION)

        await self._client.transaction(swap, keys.SEGMENT_MODELS)

    @translate("read_experiment_cells")
    async def read_experiment_cells(self, experiment_id: str) -> dict[str, str]:
        return cast(
            dict[str, str], await self._client.hgetall(keys.experiment_cells(experiment_id))
        )

    @translate("put_experiment")
    async def put_experiment(
        self,
        experiment_id: str,
        doc: bytes,
        expected: int | None = None,
        *,
        catalog_version: int | None = None,
    ) -> int | None:
        written = await self._write_document(
            keys.EXPERIMENTS,
            keys.EXPERIMENT_VERSIONS,
            experiment_id,
            expected,
            doc,
            keys.EXPERIMENTS_RETIRED,
            catalog_version=catalog_version,
        )
        if written.status == "retired":
            raise Conflict(
                f"experiment '{experiment_id}' was deleted after it ran, and customers' "
                "assignments still name it: choose a new id",
                field="experiment_id",
            )
        return written.version if written.status == "ok" else None

    @translate("delete_experiment")
    async def delete_experiment(
        self, experiment_id: str, expected: int | None = None, *, ran: bool = False
    ) -> bool | None:
        """The definition goes atomically; its cells (another hash slot) right after."""
        written = await self._write_document(
            keys.EXPERIMENTS,
            keys.EXPERIMENT_VERSIONS,
            experiment_id,
            expected,
            None,
            keys.EXPERIMENTS_RETIRED,
            retire=ran,
        )
        if written.status == "ok":
            await self._client.delete(keys.experiment_cells(experiment_id))
        return None if written.status == "stale" else written.status == "ok"

    @translate("put_feature_spec")
    async def put_feature_spec(self, doc: bytes) -> None:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.set(keys.FEATURE_SPEC, doc)
            pipe.incr(keys.CONFIG_VERSION)
            await pipe.execute()

    @translate("model_versions")
    async def model_versions(self) -> dict[str, int]:
        scopes = sorted(cast(set[str], await self._client.smembers(keys.MODEL_SCOPES)))
        if not scopes:
            return {}
        values = await self._client.mget([keys.model_key(s, "version") for s in scopes])
        return {s: int(v or 0) for s, v in zip(scopes, values, strict=True)}

    @translate("register_attribute_types")
    async def register_attribute_types(self, types: Mapping[str, str]) -> dict[str, str]:
        result = await self._scripts.types(
            keys=[keys.SCHEMA, keys.ATTRIBUTE_DECLARATIONS, keys.CONFIG_VERSION],
            args=attribute_types_args(self.max_undeclared_attributes, types),
        )
        reply = attribute_types(result, list(types))
        if reply.refused is not None:
            raise AttributeLimitReached(reply.refused, self.max_undeclared_attributes)
        return reply.in_force

    @translate("declare_attribute")
    async def declare_attribute(self, name: str, kind: str, doc: bytes) -> str:
        held = await self._scripts.declare(
            keys=[keys.SCHEMA, keys.ATTRIBUTE_DECLARATIONS, keys.CONFIG_VERSION],
            args=declare_args(name, kind, doc),
        )
        return str(held)
