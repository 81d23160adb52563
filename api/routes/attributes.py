"""Attribute declarations (marketers declare, analysts may read) and the attributes in force."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from api.deps import Marketer, Reader, ServicesDep
from api.openapi import errors
from engine.catalog.declarations import declare_attribute
from engine.domain.attributes import (
    ATTRIBUTE_NAME,
    AttributeDeclaration,
    AttributeType,
    AttributeValue,
)
from engine.domain.catalog import Catalog
from engine.errors import NotFound

router = APIRouter(prefix="/v1/attributes", tags=["attributes"])

AttributeName = Annotated[
    str, Path(pattern=ATTRIBUTE_NAME.pattern, description="lower_snake_case, 1-64 characters")
]


class AttributeOut(BaseModel):
    name: str
    type: AttributeType
    declared: bool
    description: str = ""
    allowed_values: list[AttributeValue] | None = None


def _out(catalog: Catalog, name: str) -> AttributeOut:
    declaration = catalog.declarations.get(name)
    if declaration is None:
        # the types in force hold only the three type names (see engine.customers.service)
        kind: AttributeType = catalog.attribute_types[name]  # type: ignore[assignment]
        return AttributeOut(name=name, type=kind, declared=False)
    return AttributeOut(
        name=name,
        type=declaration.type,
        declared=True,
        description=declaration.description,
        allowed_values=declaration.allowed_values,
    )


@router.put(
    "/{name}",
    summary="Declare an attribute before (or after) customer data has it",
    responses=errors(409),
)
async def put_attribute(
    name: AttributeName, body: AttributeDeclaration, services: ServicesDep, _: Marketer
) -> AttributeOut:
    catalog = await services.catalog.get()
    await declare_attribute(services.store, catalog, name, body)
    return _out(await services.catalog.get(), name)


@router.get("/{name}", summary="One attribute, declared or seen in customer data")
async def get_attribute(name: AttributeName, services: ServicesDep, _: Reader) -> AttributeOut:
    catalog = await services.catalog.get()
    if name not in catalog.attribute_types and name not in catalog.declarations:
        raise NotFound(f"no attribute '{name}'", field="name")
    return _out(catalog, name)


@router.get("", summary="Every attribute in force, declared or seen in customer data")
async def list_attributes(services: ServicesDep, _: Reader) -> list[AttributeOut]:
    catalog = await services.catalog.get()
    return [_out(catalog, n) for n in sorted({*catalog.attribute_types, *catalog.declarations})]
