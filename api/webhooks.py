"""Webhooks: create, list, get, patch, delete (a tombstone), and their signing secrets.

What a route does beyond parsing is a function here (`create`, `patch_changes`, `update`,
`resume`, `delete`, `rotate`), so the customer portal (api/portal/) runs the very same checks
and writes, and each change is audited in one place, whoever made it: the function takes the
org and the actor (an API key's id, or the portal session's, `api.portal.session`).

Every write goes through `WebhookRepo`, which sets `updated_at` and bumps `version`: that is
how the rule cache, polling the collection, sees the change within its poll interval. A
webhook's secrets are shown by the create call and by `GET /v1/webhooks/{id}/secret` only.
"""

import dataclasses
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query
from starlette.responses import Response

from adapters.dns import check_url
from api import errors
from api.auth import Principal
from api.context import ApiContext, caller
from api.schemas import (
    ID_PATTERN,
    MAX_PAGE,
    Rotated,
    RotateRequest,
    SecretOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
    page_of,
)
from core.errors import BrokerUnavailable, InvalidInput, NotFound
from core.ids import new_id
from core.models import Secret, Webhook, rfc3339, utcnow
from core.scopes import WEBHOOKS_READ, WEBHOOKS_WRITE
from core.signing import new_secret
from core.validation import check_event_types, check_filter, check_headers

ROTATE_TRIES = 5

WebhookId = Annotated[str, Path(pattern=ID_PATTERN)]


def current_secret(webhook: Webhook) -> Secret | None:
    """The secret new deliveries are signed with first: the one without an expiry."""
    for secret in webhook.secrets:
        if secret.expires_at is None:
            return secret
    return webhook.secrets[0] if webhook.secrets else None


def webhook_out(wh: Webhook) -> WebhookOut:
    return WebhookOut(
        id=wh.id,
        url=wh.url,
        event_types=list(wh.event_types),
        filter=wh.filter,
        headers=wh.headers,
        rate_limit=wh.rate_limit,
        max_concurrency=wh.max_concurrency,
        description=wh.description,
        enabled=wh.enabled,
        disabled_reason=wh.disabled_reason,
        retry_schedule=list(wh.retry_schedule) if wh.retry_schedule else None,
        ordered=wh.ordered,
        ordered_failure="pause" if wh.ordered_failure == "pause" else "skip",
        ordered_paused=wh.ordered_paused,
        version=wh.version,
        updated_at=rfc3339(wh.updated_at),
    )


async def patch_changes(ctx: ApiContext, body: WebhookPatch) -> dict[str, Any]:
    """The document fields a PATCH sets, validated, in the shape `Webhook.to_doc` writes."""
    given = body.model_fields_set
    for name in ("url", "event_types", "headers", "description", "enabled", "ordered", "ordered_failure"):
        if name in given and getattr(body, name) is None:
            raise InvalidInput(name, "must not be null")
    changes: dict[str, Any] = {}
    if body.url is not None:
        await check_url(ctx.guard, body.url, ctx.api.dns_timeout_s)
        changes["url"] = body.url
    if body.event_types is not None:
        changes["event_types"] = check_event_types(body.event_types)
    if "filter" in given:
        spec = check_filter(body.filter)
        changes["filter"] = orjson.dumps(spec).decode() if spec else None
    if body.headers is not None:
        changes["headers"] = check_headers(body.headers)
    if "rate_limit" in given:
        changes["rate_limit"] = body.rate_limit
    if "max_concurrency" in given:
        changes["max_concurrency"] = body.max_concurrency
    if body.description is not None:
        changes["description"] = body.description
    if body.enabled is not None:
        changes["enabled"] = body.enabled
        changes["disabled_reason"] = None if body.enabled else "disabled through the API"
    if "retry_schedule" in given:
        changes["retry_schedule"] = body.retry_schedule
    if body.ordered is not None:
        changes["ordered"] = body.ordered
        if body.ordered:
            changes["ordered_lane"] = True  # sticky: its lane is drained even after ordered ends
    if body.ordered_failure is not None:
        changes["ordered_failure"] = body.ordered_failure
    return changes


async def audit(
    ctx: ApiContext,
    org: str,
    actor: str,
    action: str,
    wh_id: str,
    before: Webhook | None,
    after: Webhook | None,
) -> None:
    """One audit row: the webhook before and after as the API shows it (never a secret)."""
    out = [webhook_out(w).model_dump() if w is not None else None for w in (before, after)]
    await ctx.audit.record(org, actor, action, wh_id, *out)


async def create(ctx: ApiContext, org: str, actor: str, body: WebhookCreate) -> tuple[Webhook, str]:
    """Check and store a new webhook of `org`. Returns it and its first signing secret."""
    event_types = check_event_types(body.event_types)
    spec = check_filter(body.filter)
    headers = check_headers(body.headers)
    await check_url(ctx.guard, body.url, ctx.api.dns_timeout_s)
    secret = new_secret()
    created = await ctx.webhooks.create(
        Webhook(
            id=new_id("wh"),
            org=org,
            url=body.url,
            event_types=tuple(event_types),
            filter=spec,
            secrets=(Secret(secret),),
            headers=headers,
            rate_limit=body.rate_limit,
            max_concurrency=body.max_concurrency,
            enabled=body.enabled,
            description=body.description,
            retry_schedule=tuple(body.retry_schedule) if body.retry_schedule else None,
            ordered=body.ordered,
            ordered_failure=body.ordered_failure,
        )
    )
    await audit(ctx, org, actor, "webhook.create", created.id, None, created)
    return created, secret


async def update(ctx: ApiContext, org: str, actor: str, webhook_id: str, changes: dict[str, Any]) -> Webhook:
    """Apply `patch_changes`' result to the org's webhook; no changes: the webhook as it is."""
    before = await ctx.webhooks.get(org, webhook_id)
    if not changes:
        return before
    after = await ctx.webhooks.patch(org, webhook_id, changes)
    await audit(ctx, org, actor, "webhook.update", webhook_id, before, after)
    return after


async def resume(ctx: ApiContext, org: str, actor: str, webhook_id: str) -> Webhook:
    """An ordered webhook paused after a dead letter goes on with its next delivery."""
    before = await ctx.webhooks.get(org, webhook_id)
    after = await ctx.webhooks.patch(org, webhook_id, {"ordered_paused": None})
    await audit(ctx, org, actor, "webhook.resume", webhook_id, before, after)
    return after


async def delete(ctx: ApiContext, org: str, actor: str, webhook_id: str) -> None:
    """Tombstone the webhook; deleting it again is fine, any id that is not the org's is NotFound."""
    try:
        gone = await ctx.webhooks.delete(org, webhook_id)
    except NotFound:
        # Idempotent for the org's own webhooks; any other id is unknown, as everywhere else.
        if not await ctx.webhooks.is_tombstone(org, webhook_id):
            raise
        return
    await audit(ctx, org, actor, "webhook.delete", webhook_id, dataclasses.replace(gone, deleted=False), None)


async def rotate(ctx: ApiContext, org: str, actor: str, webhook_id: str, expire_old_in_s: float) -> Rotated:
    """A new current secret; the old one keeps signing for `expire_old_in_s` seconds."""
    repo = ctx.webhooks
    for _ in range(ROTATE_TRIES):
        wh = await repo.get(org, webhook_id)
        old = current_secret(wh)
        new = new_secret()
        expires_at = utcnow() + timedelta(seconds=expire_old_in_s)
        # New first; of the old ones only the last current survives: two secrets at most.
        secrets: list[dict[str, Any]] = [{"key": new, "expires_at": None}]
        if old is not None:
            secrets.append({"key": old.key, "expires_at": expires_at})
        try:
            after = await repo.patch(org, webhook_id, {"secrets": secrets}, if_version=wh.version)
        except NotFound:
            continue  # changed under us (or deleted): read again
        await audit(ctx, org, actor, "webhook.rotate_secret", webhook_id, wh, after)
        return Rotated(secret=new, previous_expires_at=rfc3339(expires_at) if old else None)
    raise BrokerUnavailable(f"webhook {webhook_id} kept changing during the rotation; try again")


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["webhooks"])
    Reader = Annotated[Principal, Depends(caller(ctx, WEBHOOKS_READ))]
    Writer = Annotated[Principal, Depends(caller(ctx, WEBHOOKS_WRITE))]
    repo = ctx.webhooks

    @r.post(
        "/v1/webhooks",
        status_code=201,
        response_model=WebhookCreated,
        responses=errors.responses(400, 401, 413, 422, 503),
        summary="Create a webhook; the response holds its signing secret",
    )
    async def create_webhook(who: Writer, body: WebhookCreate) -> WebhookCreated:
        created, secret = await create(ctx, who.org, who.key_id, body)
        return WebhookCreated(**webhook_out(created).model_dump(), secret=secret)

    @r.get(
        "/v1/webhooks",
        response_model=WebhookPage,
        responses=errors.responses(401, 422, 503),
        summary="List webhooks, oldest first",
    )
    async def list_webhooks(
        who: Reader,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[
            str | None, Query(pattern=ID_PATTERN, description="`next` of the previous page")
        ] = None,
    ) -> WebhookPage:
        page, next_cursor = page_of(
            await repo.list_page(who.org, limit=limit + 1, after=after), limit, lambda w: w.id
        )
        return WebhookPage(data=[webhook_out(w) for w in page], next=next_cursor)

    @r.get(
        "/v1/webhooks/{webhook_id}",
        response_model=WebhookOut,
        responses=errors.responses(401, 404, 422, 503),
        summary="One webhook (without its secret)",
    )
    async def get_webhook(who: Reader, webhook_id: WebhookId) -> WebhookOut:
        return webhook_out(await repo.get(who.org, webhook_id))

    @r.patch(
        "/v1/webhooks/{webhook_id}",
        response_model=WebhookOut,
        responses=errors.responses(400, 401, 404, 413, 422, 503),
        summary="Change a webhook; the pipeline follows within seconds",
    )
    async def patch_webhook(who: Writer, webhook_id: WebhookId, body: WebhookPatch) -> WebhookOut:
        changes = await patch_changes(ctx, body)
        return webhook_out(await update(ctx, who.org, who.key_id, webhook_id, changes))

    @r.post(
        "/v1/webhooks/{webhook_id}/resume",
        response_model=WebhookOut,
        responses=errors.responses(401, 404, 422, 503),
        summary="An ordered webhook paused after a dead letter goes on with the next delivery",
    )
    async def resume_webhook(who: Writer, webhook_id: WebhookId) -> WebhookOut:
        return webhook_out(await resume(ctx, who.org, who.key_id, webhook_id))

    @r.delete(
        "/v1/webhooks/{webhook_id}",
        status_code=204,
        response_class=Response,
        responses={
            204: {"description": "Deleted, or deleted already"},
            **errors.responses(401, 404, 422, 503),
        },
        summary="Delete a webhook (idempotent: deleting it again answers 204)",
    )
    async def delete_webhook(who: Writer, webhook_id: WebhookId) -> Response:
        await delete(ctx, who.org, who.key_id, webhook_id)
        return Response(status_code=204)

    secret_routes(r, ctx)
    return r


def secret_routes(r: APIRouter, ctx: ApiContext) -> None:
    # Secrets are credentials: reading one takes webhooks:write, as changing the webhook does.
    Writer = Annotated[Principal, Depends(caller(ctx, WEBHOOKS_WRITE))]
    repo = ctx.webhooks

    @r.get(
        "/v1/webhooks/{webhook_id}/secret",
        response_model=SecretOut,
        responses=errors.responses(401, 404, 422, 503),
        summary="The webhook's current signing secret",
    )
    async def get_secret(who: Writer, webhook_id: WebhookId) -> SecretOut:
        current = current_secret(await repo.get(who.org, webhook_id))
        if current is None:
            raise NotFound(f"webhook {webhook_id} has no secret; rotate to create one")
        return SecretOut(secret=current.key)

    @r.post(
        "/v1/webhooks/{webhook_id}/secret/rotate",
        response_model=Rotated,
        responses=errors.responses(400, 401, 404, 422, 503),
        summary="New secret now; the old one keeps signing until expire_old_in_s (default 24 h)",
    )
    async def rotate_secret(
        who: Writer, webhook_id: WebhookId, body: Annotated[RotateRequest | None, Body()] = None
    ) -> Rotated:
        return await rotate(ctx, who.org, who.key_id, webhook_id, (body or RotateRequest()).expire_old_in_s)
