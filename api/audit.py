"""`GET /v1/audit`: the audit log, newest first, paged. An org key (audit:read) reads its own
org's; the admin key reads every org's, or one's with `org`."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from adapters.mongo import Doc
from api import errors
from api.context import ApiContext
from api.schemas import ID_PATTERN, MAX_PAGE, page_of
from core.models import rfc3339
from core.scopes import AUDIT_READ


class AuditEntry(BaseModel):
    id: str
    org: str
    actor: str = Field(
        description='the API key id that made the change, "admin", or "portal:<key id>" for a '
        "customer-portal session opened by a link that key made"
    )
    action: str = Field(description="e.g. webhook.update, key.revoke, org.quota")
    target: str = Field(description="the id (or name) of what changed")
    at: str
    before: Any = Field(default=None, description="as the API showed it before; never a secret")
    after: Any = Field(default=None, description="as the API shows it after; never a secret")


class AuditPage(BaseModel):
    data: list[AuditEntry]
    next: str | None = Field(description="pass as `after` for the next (older) page; null on the last")


def entry(row: Doc) -> AuditEntry:
    return AuditEntry(
        id=row["_id"],
        org=row.get("org", ""),
        actor=row.get("actor", ""),
        action=row.get("action", ""),
        target=row.get("target", ""),
        at=rfc3339(row["at"]),
        before=row.get("before"),
        after=row.get("after"),
    )


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["audit"])

    @r.get(
        "/v1/audit",
        response_model=AuditPage,
        responses=errors.responses(401, 403, 422, 503),
        summary="Changes made through the management API, newest first",
        openapi_extra={"security": [{"apiKey": []}, {"adminKey": []}]},
    )
    async def list_audit(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[str | None, Query(pattern=ID_PATTERN, description="`next` of the last page")] = None,
        org: Annotated[str | None, Query(pattern=ID_PATTERN, description="admin key only: one org")] = None,
    ) -> AuditPage:
        authorization = request.headers.get("authorization")
        if ctx.admin.is_admin(authorization):
            scope = org
        else:
            who = await ctx.keys.authenticate(authorization)
            who.require(AUDIT_READ)
            scope = who.org
        rows = await ctx.audit.page(scope, limit=limit + 1, before=after)
        page, next_cursor = page_of(rows, limit, lambda row: str(row["_id"]))
        return AuditPage(data=[entry(row) for row in page], next=next_cursor)

    return r
