"""API keys (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import Admin, ServicesDep
from api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyInfo

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post("", status_code=201, summary="Issue a key; the secret is shown once")
async def create_key(body: ApiKeyCreate, services: ServicesDep, _: Admin) -> ApiKeyCreated:
    record, secret = await services.keys.issue(body.role, body.name)
    return ApiKeyCreated(
        key_id=record.key_id,
        name=record.name,
        role=record.role,
        created_at=record.created_at,
        key=secret,
    )


@router.get("", summary="List keys (never their secrets)")
async def list_keys(services: ServicesDep, _: Admin) -> list[ApiKeyInfo]:
    return [
        ApiKeyInfo(key_id=k.key_id, name=k.name, role=k.role, created_at=k.created_at)
        for k in await services.keys.list()
    ]


@router.delete("/{key_id}", status_code=204, summary="Revoke a key")
async def revoke_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")], services: ServicesDep, _: Admin
) -> Response:
    await services.keys.revoke(key_id)
    return Response(status_code=204)
