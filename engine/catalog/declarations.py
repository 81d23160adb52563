"""Declaring an attribute against the catalog in force: its type and the rules already written."""

from __future__ import annotations

from engine.domain.attributes import AttributeDeclaration, allowed_sets, validate_declaration
from engine.domain.catalog import Catalog
from engine.domain.rules import parse_conditions, parse_rule
from engine.errors import Conflict, ValidationFailed
from engine.store.ports import CatalogWriter

__all__ = ["declare_attribute", "stranded_rules"]


def stranded_rules(catalog: Catalog, name: str, declaration: AttributeDeclaration) -> list[str]:
    """Segments and offers whose rules compare ``name`` with a value it would no longer allow.

    Such a rule would be refused if written now; refusing the declaration instead keeps every
    stored rule one that could be written, so a catalog reload never has to drop one.
    """
    allowed = allowed_sets({name: declaration})
    if not allowed:
        return []
    fields = catalog.field_types
    stranded = []
    for segment_id, segment in catalog.segments.items():
        if segment.stored.rule is None:
            continue
        try:
            parse_rule(segment.stored.rule, fields, allowed=allowed)
        except ValidationFailed:
            stranded.append(f"segment '{segment_id}'")
    for offer_id, parsed in catalog.offers.items():
        try:
            parse_conditions(parsed.offer.eligibility.rules, fields, "rules", allowed)
        except ValidationFailed:
            stranded.append(f"offer '{offer_id}'")
    return stranded


async def declare_attribute(
    store: CatalogWriter, catalog: Catalog, name: str, declaration: AttributeDeclaration
) -> None:
    """Declare (or redeclare) an attribute; its type, once in force, never changes."""
    validate_declaration(name, declaration)
    held = catalog.attribute_types.get(name)
    if held is not None and held != declaration.type:
        raise Conflict(
            f"'{name}' already holds {held} values; its type cannot change", field="type"
        )
    stranded = stranded_rules(catalog, name, declaration)
    if stranded:
        raise Conflict(
            f"rules of {', '.join(stranded)} compare '{name}' with a value not in allowed_values",
            field="allowed_values",
        )
    doc = declaration.model_dump_json(exclude_none=True).encode()
    in_force = await store.declare_attribute(name, declaration.type, doc)
    if in_force != declaration.type:  # a customer write fixed another type meanwhile
        raise Conflict(
            f"'{name}' already holds {in_force} values; its type cannot change", field="type"
        )
