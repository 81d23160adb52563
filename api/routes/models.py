"""The feature spec the models read, and the models' versions."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import Admin, Reader, ServicesDep
from engine.domain.vectoriser import FeatureSpec, validate_spec

router = APIRouter(tags=["models"])


class FeatureSpecOut(BaseModel):
    spec: FeatureSpec
    features: list[str]
    size: int


class ModelOut(BaseModel):
    scope: str
    version: int


@router.get("/v1/feature-spec", summary="The declared feature spec and the vector it builds")
async def get_feature_spec(services: ServicesDep, _: Reader) -> FeatureSpecOut:
    catalog = await services.catalog.get()
    vectorizer = catalog.vectorizer
    return FeatureSpecOut(
        spec=catalog.feature_spec, features=vectorizer.names(), size=vectorizer.size
    )


@router.put(
    "/v1/feature-spec",
    summary="Replace the feature spec; its version increments and models start afresh",
)
async def put_feature_spec(body: FeatureSpec, services: ServicesDep, _: Admin) -> FeatureSpecOut:
    catalog = await services.catalog.get()
    validate_spec(body, catalog.attribute_types, set(catalog.segments))
    spec = body.model_copy(update={"version": catalog.feature_spec.version + 1})
    await services.store.put_feature_spec(spec.model_dump_json().encode())
    vectorizer = spec.vectorizer()
    return FeatureSpecOut(spec=spec, features=vectorizer.names(), size=vectorizer.size)


@router.get("/v1/models", summary="Model scopes and the version each serves")
async def get_models(services: ServicesDep, _: Reader) -> list[ModelOut]:
    versions = await services.store.model_versions()
    return [ModelOut(scope=scope, version=version) for scope, version in versions.items()]
