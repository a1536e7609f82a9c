"""Organisations: create (admin key), read your own, and set an org's ingest quota (admin key).

`POST /v1/orgs` and `PUT /v1/orgs/{id}/quota` take the operator's admin key; `GET /v1/orgs/me`
takes the org's own API key (keys:read: it lists the keys). API keys themselves are
api/keys.py. A key's plaintext is in the response that creates it and nowhere else.
"""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from adapters.audit import ADMIN_ACTOR
from api import errors
from api.auth import Principal
from api.context import ApiContext, admin_only, caller
from api.keys import KeyOut, key_out
from core.models import rfc3339
from core.scopes import KEYS_READ

ORG_ID_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
MAX_RATE = 1_000_000
MIN_RATE = 0.001  # an event every ~17 minutes: the slowest quota that means anything


class OrgCreate(BaseModel):
    # Printable, without leading or trailing space: names show up in listings and logs.
    name: str = Field(
        min_length=1, max_length=100, pattern=r"^[^\s\x00-\x1f\x7f]([^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
    )


class QuotaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(ge=MIN_RATE, le=MAX_RATE, description="events per second, across the platform")
    burst: float | None = Field(
        default=None, ge=1, le=MAX_RATE, description="events at once; default: one second's worth"
    )


class QuotaOut(BaseModel):
    rate: float
    burst: float


class OrgOut(BaseModel):
    id: str
    name: str
    created_at: str
    keys: list[KeyOut]
    quota: QuotaOut | None = None


class OrgCreated(BaseModel):
    id: str
    name: str
    api_key: str = Field(description="shown once; only its hash is stored")
    key_id: str


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["orgs"])

    admin = admin_only(ctx)

    @r.post(
        "/v1/orgs",
        status_code=201,
        response_model=OrgCreated,
        responses=errors.responses(400, 401, 413, 422, 503),
        summary="Create an org and its first API key (admin key)",
        **admin,
    )
    async def create_org(body: OrgCreate) -> OrgCreated:
        doc, plaintext = await ctx.orgs.create(body.name)
        after = {"id": doc["_id"], "name": doc["name"], "key_id": doc["keys"][0]["id"]}
        await ctx.audit.record(doc["_id"], ADMIN_ACTOR, "org.create", doc["_id"], None, after)
        return OrgCreated(id=doc["_id"], name=doc["name"], api_key=plaintext, key_id=doc["keys"][0]["id"])

    @r.get(
        "/v1/orgs/me", response_model=OrgOut, responses=errors.responses(401, 403, 503), summary="Your org"
    )
    async def get_org(who: Annotated[Principal, Depends(caller(ctx, KEYS_READ))]) -> OrgOut:
        doc = await ctx.orgs.get(who.org)
        quota = doc.get("quota")
        return OrgOut(
            id=doc["_id"],
            name=doc.get("name", ""),
            created_at=rfc3339(doc["created_at"]),
            keys=[key_out(k) for k in doc.get("keys") or ()],
            quota=QuotaOut(**quota) if quota else None,
        )

    @r.put(
        "/v1/orgs/{org_id}/quota",
        response_model=QuotaOut | None,
        responses=errors.responses(400, 401, 404, 413, 422, 503),
        summary="Set an org's ingest quota, or clear it with null (admin key)",
        **admin,
    )
    async def set_quota(
        org_id: Annotated[str, Path(pattern=ORG_ID_PATTERN)],
        body: Annotated[QuotaIn | None, Body()] = None,
    ) -> QuotaOut | None:
        quota = None if body is None else {"rate": body.rate, "burst": body.burst or max(1.0, body.rate)}
        before, after = await ctx.orgs.set_quota(org_id, quota)
        ctx.tenants.forget(org_id)
        await ctx.audit.record(org_id, ADMIN_ACTOR, "org.quota", org_id, before, after)
        return QuotaOut(**after) if after else None

    return r
