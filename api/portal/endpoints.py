"""Endpoint pages: list, create, show, edit, enable, disable, delete, and the signing secret
(reveal on demand, rotate). Each action is the JSON route's function (`api.webhooks`) with the
form read as that route's body, so its checks and its refusals are the API's own; a refusal is
shown at the field it names, with the form as it was filled in.
"""

import dataclasses
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from api import webhooks
from api.pings import DEFAULT_TYPE
from api.portal import forms, snippets
from api.portal.examples import example
from api.portal.session import PATH, Session
from api.portal.web import PageRoute, Portal, changing, form_of, redirect, render, session
from api.schemas import ID_PATTERN, MAX_PAGE, WebhookCreate, WebhookPatch, page_of
from api.webhooks import WebhookId, current_secret
from core.errors import InvalidInput
from core.models import Webhook
from core.rules import RuleSnapshot

PAGE = 50
# What the rotate form offers for how long the old secret keeps signing, in seconds.
OVERLAPS = ((0, "stop now"), (3600, "1 hour"), (86_400, "24 hours"), (7 * 86_400, "7 days"))


async def test_choices(portal: Portal, wh: Webhook) -> dict[str, Any]:
    """Event types a test of this endpoint may take (those of the catalog it subscribes to,
    then its exact subscriptions), each with an example `data` from its schema."""
    docs = await portal.ctx.event_types.list_page(wh.org, limit=MAX_PAGE)
    # Subscription matching is the rule engine's: ask it rather than restate the wildcard rules.
    rules = RuleSnapshot(1, {wh.id: dataclasses.replace(wh, enabled=True, filter=None)})
    examples: dict[str, Any] = {}
    for doc in docs:
        bucket = rules.candidates(wh.org, doc["name"])
        if bucket.plain:
            schema = orjson.loads(doc["schema"]) if isinstance(doc.get("schema"), str) else None
            examples[doc["name"]] = example(schema) if schema else {"hello": "world"}
    for pattern in wh.event_types:
        if "*" not in pattern:
            examples.setdefault(pattern, {"hello": "world"})
    examples.setdefault(DEFAULT_TYPE, {"hello": "world"})
    return examples


async def endpoint_page(
    portal: Portal, request: Request, who: Session, wh: Webhook, status: int = 200, **values: Any
) -> Response:
    """An endpoint's page; `values` may carry the test form as it was sent, with its errors."""
    reveal = request.query_params.get("reveal") == "1"
    current = current_secret(wh)
    secret = current.key if reveal and current is not None else None
    examples = await test_choices(portal, wh)
    test_type = values.pop("test_type", next(iter(examples)))
    example_data = orjson.dumps(examples.get(test_type, {}), option=orjson.OPT_INDENT_2).decode()
    return await render(
        request,
        "endpoint.html",
        who,
        status,
        nav="endpoints",
        wh=wh,
        out=webhooks.webhook_out(wh),
        secret=secret,
        expiring=[s for s in wh.secrets if s.expires_at is not None],
        python=snippets.python(secret),
        javascript=snippets.javascript(secret),
        overlaps=OVERLAPS,
        examples=examples,
        test_type=test_type,
        test_data=values.pop("test_data", example_data),
        errors=values.pop("errors", {}),
        recover_since=(portal.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **values,
    )


def router(portal: Portal) -> APIRouter:
    r = APIRouter(prefix=f"{PATH}/endpoints", route_class=PageRoute, include_in_schema=False)
    Who = Annotated[Session, Depends(session)]
    Changing = Annotated[Session, Depends(changing)]
    ctx = portal.ctx
    repo = ctx.webhooks

    async def form_page(request: Request, who: Session, status: int, **values: Any) -> Response:
        return await render(
            request,
            "endpoint_form.html",
            who,
            status,
            nav="endpoints",
            default_schedule=", ".join(f"{s:g}" for s in portal.config.delivery.schedule),
            **values,
        )

    @r.get("")
    async def list_endpoints(
        request: Request, who: Who, after: Annotated[str | None, Query(pattern=ID_PATTERN)] = None
    ) -> Response:
        listed = await repo.list_page(who.org, limit=PAGE + 1, after=after)
        hooks, next_cursor = page_of(listed, PAGE, lambda w: w.id)
        return await render(request, "endpoints.html", who, nav="endpoints", hooks=hooks, next=next_cursor)

    @r.get("/new")
    async def new_endpoint(request: Request, who: Who) -> Response:
        values = forms.form_values({"event_types": ["*"], "enabled": True})
        return await form_page(request, who, 200, wh=None, values=values, errors={})

    @r.post("")
    async def create_endpoint(request: Request, who: Changing) -> Response:
        form = await form_of(request)
        body, errors = forms.webhook_body(form, create=True)
        if not errors:
            try:
                created, _ = await webhooks.create(
                    ctx, who.org, who.actor, WebhookCreate.model_validate(body)
                )
            except (ValidationError, InvalidInput) as exc:
                errors = forms.refusal(exc)
            else:
                return redirect(f"{PATH}/endpoints/{created.id}?done=created")
        return await form_page(request, who, 422, wh=None, values=forms.typed(form), errors=errors)

    @r.get("/{webhook_id}")
    async def show_endpoint(request: Request, who: Who, webhook_id: WebhookId) -> Response:
        return await endpoint_page(portal, request, who, await repo.get(who.org, webhook_id))

    @r.get("/{webhook_id}/edit")
    async def edit_endpoint(request: Request, who: Who, webhook_id: WebhookId) -> Response:
        wh = await repo.get(who.org, webhook_id)
        values = forms.form_values(forms.current_body(wh))
        return await form_page(request, who, 200, wh=wh, values=values, errors={})

    @r.post("/{webhook_id}")
    async def update_endpoint(request: Request, who: Changing, webhook_id: WebhookId) -> Response:
        wh = await repo.get(who.org, webhook_id)
        form = await form_of(request)
        body, errors = forms.webhook_body(form, create=False)
        if not errors:
            try:
                changes = await webhooks.patch_changes(
                    ctx, WebhookPatch.model_validate(forms.changed(body, wh))
                )
                await webhooks.update(ctx, who.org, who.actor, webhook_id, changes)
            except (ValidationError, InvalidInput) as exc:
                errors = forms.refusal(exc)
            else:
                return redirect(f"{PATH}/endpoints/{webhook_id}?done=saved")
        return await form_page(request, who, 422, wh=wh, values=forms.typed(form), errors=errors)

    return r


def actions(portal: Portal) -> APIRouter:
    """The buttons of an endpoint's page."""
    r = APIRouter(prefix=f"{PATH}/endpoints", route_class=PageRoute, include_in_schema=False)
    Changing = Annotated[Session, Depends(changing)]
    ctx = portal.ctx

    async def set_enabled(who: Session, webhook_id: str, enabled: bool) -> Response:
        changes = await webhooks.patch_changes(ctx, WebhookPatch(enabled=enabled))
        await webhooks.update(ctx, who.org, who.actor, webhook_id, changes)
        return redirect(f"{PATH}/endpoints/{webhook_id}?done={'enabled' if enabled else 'disabled'}")

    @r.post("/{webhook_id}/enable")
    async def enable_endpoint(who: Changing, webhook_id: WebhookId) -> Response:
        return await set_enabled(who, webhook_id, True)

    @r.post("/{webhook_id}/disable")
    async def disable_endpoint(who: Changing, webhook_id: WebhookId) -> Response:
        return await set_enabled(who, webhook_id, False)

    @r.post("/{webhook_id}/resume")
    async def resume_endpoint(who: Changing, webhook_id: WebhookId) -> Response:
        await webhooks.resume(ctx, who.org, who.actor, webhook_id)
        return redirect(f"{PATH}/endpoints/{webhook_id}?done=resumed")

    @r.post("/{webhook_id}/delete")
    async def delete_endpoint(who: Changing, webhook_id: WebhookId) -> Response:
        await webhooks.delete(ctx, who.org, who.actor, webhook_id)
        return redirect(f"{PATH}/endpoints?done=deleted")

    @r.post("/{webhook_id}/rotate")
    async def rotate_secret(request: Request, who: Changing, webhook_id: WebhookId) -> Response:
        overlap = (await form_of(request)).get("expire_old_in_s", "86400")
        allowed = {str(seconds) for seconds, _ in OVERLAPS}
        if overlap not in allowed:
            raise InvalidInput("expire_old_in_s", f"must be one of {sorted(allowed)}")
        await webhooks.rotate(ctx, who.org, who.actor, webhook_id, float(overlap))
        return redirect(f"{PATH}/endpoints/{webhook_id}?reveal=1&done=rotated#secret")

    return r
