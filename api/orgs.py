"""Organisations and their API keys: the minimal management surface.

`POST /v1/orgs` takes the operator's admin key; everything under `/v1/orgs/me` takes the org's
own API key. A key's plaintext is in the response that creates it and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from adapters.repos import public_key
from api import errors
from api.context import ApiContext
from core.models import rfc3339

KEY_ID_PATTERN = r"^[A-Za-z0-9_]{1,64}$"


class OrgCreate(BaseModel):
    # Printable, without leading or trailing space: names show up in listings and logs.
    name: str = Field(
        min_length=1, max_length=100, pattern=r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
    )


class KeyOut(BaseModel):
    id: str
    prefix: str
    created_at: str
    revoked_at: str | None = None


class KeyCreated(KeyOut):
    api_key: str = Field(description="shown once; only its hash is stored")


class OrgOut(BaseModel):
    id: str
    name: str
    created_at: str
    keys: list[KeyOut]


class OrgCreated(BaseModel):
    id: str
    name: str
    api_key: str = Field(description="shown once; only its hash is stored")
    key_id: str


def _ts(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def _key_out(key: dict[str, Any]) -> KeyOut:
    k = public_key(key)
    return KeyOut(
        id=k["id"], prefix=k["prefix"], created_at=rfc3339(k["created_at"]), revoked_at=_ts(k["revoked_at"])
    )


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["orgs"])

    async def require_admin(request: Request) -> None:
        # A dependency, so a caller without the admin key hears 401 before any body complaint.
        ctx.admin.check(request.headers.get("authorization"))

    @r.post(
        "/v1/orgs",
        status_code=201,
        response_model=OrgCreated,
        responses=errors.responses(400, 401, 413, 422, 503),
        summary="Create an org and its first API key (admin key)",
        dependencies=[Depends(require_admin)],
        openapi_extra={"security": [{"adminKey": []}]},
    )
    async def create_org(body: OrgCreate) -> OrgCreated:
        doc, plaintext = await ctx.orgs.create(body.name)
        return OrgCreated(id=doc["_id"], name=doc["name"], api_key=plaintext, key_id=doc["keys"][0]["id"])

    @r.get("/v1/orgs/me", response_model=OrgOut, responses=errors.responses(401, 503), summary="Your org")
    async def get_org(request: Request) -> OrgOut:
        who = await ctx.keys.authenticate(request.headers.get("authorization"))
        doc = await ctx.orgs.get(who.org)
        return OrgOut(
            id=doc["_id"],
            name=doc.get("name", ""),
            created_at=rfc3339(doc["created_at"]),
            keys=[_key_out(k) for k in doc.get("keys") or ()],
        )

    @r.post(
        "/v1/orgs/me/keys",
        status_code=201,
        response_model=KeyCreated,
        responses=errors.responses(401, 503),
        summary="Issue another API key",
    )
    async def add_key(request: Request) -> KeyCreated:
        who = await ctx.keys.authenticate(request.headers.get("authorization"))
        key, plaintext = await ctx.orgs.add_key(who.org)
        return KeyCreated(**_key_out(key).model_dump(), api_key=plaintext)

    @r.delete(
        "/v1/orgs/me/keys/{key_id}",
        response_model=KeyOut,
        responses=errors.responses(401, 404, 422, 503),
        summary="Revoke an API key (idempotent); other API servers honour it within key_cache_s",
    )
    async def revoke_key(request: Request, key_id: Annotated[str, Path(pattern=KEY_ID_PATTERN)]) -> KeyOut:
        who = await ctx.keys.authenticate(request.headers.get("authorization"))
        key = await ctx.orgs.revoke_key(who.org, key_id)
        ctx.keys.forget_org(who.org)
        return _key_out(key)

    return r
