"""API keys: an org's own keys (scoped, optionally expiring) and the platform's producer keys.

`/v1/orgs/me/keys` takes an org key with keys:read or keys:write; a key issues keys with at
most its own scopes. `/v1/producer-keys` takes the admin key: a producer key publishes for the
orgs it lists (or every org, `["*"]`) and can do nothing else. A key's plaintext is in the
response that creates it and nowhere else; listings never show it, nor its hash. Every change
is in the audit log.
"""

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from adapters.api_keys import public_key
from adapters.audit import ADMIN_ACTOR
from api import errors
from api.auth import Principal
from api.context import ApiContext, admin_only, caller
from core.errors import InvalidInput
from core.models import rfc3339, utcnow
from core.scopes import ANY_ORG, KEYS_READ, KEYS_WRITE, ORG_SCOPES, check_scopes, granted, may_grant

KEY_ID_PATTERN = r"^[A-Za-z0-9_]{1,64}$"
ORG_REF_PATTERN = r"^(\*|[A-Za-z0-9_]{1,64})$"
MAX_EXPIRY_S = 10 * 365 * 24 * 3600
KeyId = Annotated[str, Path(pattern=KEY_ID_PATTERN)]
Name = Annotated[str, Field(max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")]
ExpiresIn = Annotated[int, Field(ge=1, le=MAX_EXPIRY_S, description="seconds from now; none: never")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeyCreate(_Strict):
    name: Name = ""
    scopes: list[str] | None = Field(
        default=None, max_length=len(ORG_SCOPES), description=f"of {', '.join(ORG_SCOPES)}; none: all"
    )
    expires_in_s: ExpiresIn | None = None


class ProducerKeyCreate(_Strict):
    name: Name = ""
    orgs: list[Annotated[str, Field(pattern=ORG_REF_PATTERN)]] = Field(
        min_length=1, max_length=1000, description='org ids the key publishes for, or ["*"] for every org'
    )
    expires_in_s: ExpiresIn | None = None


class KeyOut(BaseModel):
    id: str
    name: str = ""
    prefix: str
    scopes: list[str]
    orgs: list[str] | None = Field(default=None, description="a producer key's orgs")
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None


class KeyCreated(KeyOut):
    api_key: str = Field(description="shown once; only its hash is stored")


def _ts(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def key_out(key: dict[str, Any]) -> KeyOut:
    k = public_key(key)
    scopes = granted(k.get("scopes"))
    return KeyOut(
        id=k["id"],
        name=k.get("name") or "",
        prefix=k["prefix"],
        scopes=[s for s in ORG_SCOPES if s in scopes],
        orgs=k.get("orgs"),
        created_at=rfc3339(k["created_at"]),
        expires_at=_ts(k.get("expires_at")),
        revoked_at=_ts(k.get("revoked_at")),
    )


def _expiry(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    at = utcnow() + timedelta(seconds=seconds)
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["keys"])
    Reader = Annotated[Principal, Depends(caller(ctx, KEYS_READ))]
    Writer = Annotated[Principal, Depends(caller(ctx, KEYS_WRITE))]

    admin = admin_only(ctx)

    @r.get(
        "/v1/orgs/me/keys",
        response_model=list[KeyOut],
        responses=errors.responses(401, 403, 503),
        summary="Your org's API keys (never their secret)",
    )
    async def list_keys(who: Reader) -> list[KeyOut]:
        doc = await ctx.orgs.get(who.org)
        return [key_out(k) for k in doc.get("keys") or ()]

    @r.post(
        "/v1/orgs/me/keys",
        status_code=201,
        response_model=KeyCreated,
        responses=errors.responses(400, 401, 403, 413, 422, 503),
        summary="Issue another API key, with scopes (at most the caller's) and an expiry",
    )
    async def add_key(who: Writer, body: Annotated[KeyCreate | None, Body()] = None) -> KeyCreated:
        spec = body or KeyCreate()
        scopes = check_scopes(spec.scopes) if spec.scopes is not None else who.scopes
        may_grant(who.scopes, scopes)
        stored = None if spec.scopes is None and scopes == granted(None) else sorted(scopes)
        key, plaintext = await ctx.orgs.add_key(
            who.org, name=spec.name, scopes=stored, expires_at=_expiry(spec.expires_in_s)
        )
        out = key_out(key)
        await ctx.audit.record(who.org, who.key_id, "key.create", out.id, None, out.model_dump())
        return KeyCreated(**out.model_dump(), api_key=plaintext)

    @r.delete(
        "/v1/orgs/me/keys/{key_id}",
        response_model=KeyOut,
        responses=errors.responses(401, 403, 404, 422, 503),
        summary="Revoke an API key (idempotent); other API servers honour it within key_cache_s",
    )
    async def revoke_key(who: Writer, key_id: KeyId) -> KeyOut:
        key = await ctx.orgs.revoke_key(who.org, key_id)
        ctx.keys.forget_org(who.org)
        out = key_out(key)
        await ctx.audit.record(who.org, who.key_id, "key.revoke", key_id, None, out.model_dump())
        return out

    @r.post(
        "/v1/producer-keys",
        status_code=201,
        response_model=KeyCreated,
        responses=errors.responses(400, 401, 413, 422, 503),
        summary="Issue a producer key (admin key): it publishes for the orgs it lists, nothing else",
        **admin,
    )
    async def add_producer_key(body: ProducerKeyCreate) -> KeyCreated:
        orgs = list(dict.fromkeys(body.orgs))
        if ANY_ORG in orgs and len(orgs) > 1:
            raise InvalidInput("orgs", '"*" stands alone: every org')
        for i, org in enumerate(orgs):
            if org != ANY_ORG and await ctx.orgs.find(org) is None:
                raise InvalidInput(f"orgs.{i}", f"no org {org}")
        key, plaintext = await ctx.producer_keys.create(body.name, orgs, _expiry(body.expires_in_s))
        out = key_out(key)
        for org in orgs:  # each org can see who may publish for it
            await ctx.audit.record(org, ADMIN_ACTOR, "producer_key.create", out.id, None, out.model_dump())
        return KeyCreated(**out.model_dump(), api_key=plaintext)

    @r.get(
        "/v1/producer-keys",
        response_model=list[KeyOut],
        responses=errors.responses(401, 503),
        summary="Every producer key (admin key; never their secret)",
        **admin,
    )
    async def list_producer_keys() -> list[KeyOut]:
        return [key_out(k) for k in await ctx.producer_keys.list()]

    @r.delete(
        "/v1/producer-keys/{key_id}",
        response_model=KeyOut,
        responses=errors.responses(401, 404, 422, 503),
        summary="Revoke a producer key (admin key; idempotent)",
        **admin,
    )
    async def revoke_producer_key(key_id: KeyId) -> KeyOut:
        before, after = await ctx.producer_keys.revoke(key_id)
        ctx.keys.forget_key(key_id)
        out = key_out(after)
        for org in after.get("orgs") or ():
            await ctx.audit.record(
                org,
                ADMIN_ACTOR,
                "producer_key.revoke",
                key_id,
                key_out(before).model_dump(),
                out.model_dump(),
            )
        return out

    return r
