"""Sending a test event from an endpoint's page, and watching for its result.

The event goes through `api.pings.send_test`, the JSON route's function. Its page then asks
for the delivery's attempts (by delivery id, as `GET /v1/attempts?delivery_id=` does) until
one is final: the script asks again no sooner than twice as long as the last answer took, so a
slow attempt log (FerretDB scans it whole) is not asked in a tight loop.
"""

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Request
from pydantic import ValidationError
from starlette.responses import Response

from api.deliveries import AttemptQuery, list_attempts_page
from api.pings import TestEventIn, send_test
from api.portal import forms
from api.portal.endpoints import endpoint_page
from api.portal.session import PATH, Session
from api.portal.web import (
    HEADERS,
    Loaded,
    PageRoute,
    Portal,
    changing,
    form_of,
    loaded,
    redirect,
    session,
    stream,
)
from api.schemas import ID_PATTERN, AttemptPage
from api.webhooks import WebhookId
from core.errors import InvalidInput
from core.ids import delivery_id

FINAL = frozenset({"success", "dead", "dropped"})
EventId = Annotated[str, Path(pattern=ID_PATTERN)]


def router(portal: Portal) -> APIRouter:
    r = APIRouter(prefix=f"{PATH}/endpoints", route_class=PageRoute, include_in_schema=False)
    Who = Annotated[Session, Depends(session)]
    Changing = Annotated[Session, Depends(changing)]
    ctx = portal.ctx

    @r.post("/{webhook_id}/test")
    async def send(request: Request, who: Changing, webhook_id: WebhookId) -> Response:
        wh = await ctx.webhooks.get(who.org, webhook_id)
        form = await form_of(request)
        errors: dict[str, str] = {}
        try:
            data = orjson.loads(form.get("data") or "{}")
            sent = await send_test(
                ctx, who.org, wh.id, TestEventIn.model_validate({"type": form.get("type"), "data": data})
            )
        except orjson.JSONDecodeError as exc:
            errors = {"data": f"data: not JSON ({exc})"}
        except ValidationError as exc:
            errors = {
                k if k in ("type", "data") else "data": v for k, v in forms.validation_errors(exc).items()
            }
        except InvalidInput as exc:
            field = exc.field or "data"
            errors = {"type" if field.startswith("type") else "data": f"{field}: {exc.message}"}
        else:
            return redirect(f"{PATH}/endpoints/{wh.id}/tests/{sent.event_id}")
        values = {"test_type": form.get("type", ""), "test_data": form.get("data", ""), "errors": errors}
        return await endpoint_page(portal, request, who, wh, 422, **values)

    async def attempts(org: str, webhook_id: str, event_id: str) -> AttemptPage:
        query = AttemptQuery(webhook_id=webhook_id, delivery_id=delivery_id(event_id, webhook_id))
        return await list_attempts_page(ctx, org, query, 20, None)

    @r.get("/{webhook_id}/tests/{event_id}")
    async def test_page(request: Request, who: Who, webhook_id: WebhookId, event_id: EventId) -> Response:
        wh = await ctx.webhooks.get(who.org, webhook_id)

        async def load_result() -> Loaded[AttemptPage]:
            return await loaded(attempts(who.org, wh.id, event_id))

        values = {"wh": wh, "event_id": event_id, "dlv": delivery_id(event_id, wh.id), "final": FINAL}
        return stream(request, "test_event.html", who, nav="endpoints", load_result=load_result, **values)

    @r.get("/{webhook_id}/tests/{event_id}/result")
    async def test_result(request: Request, who: Who, webhook_id: WebhookId, event_id: EventId) -> Response:
        wh = await ctx.webhooks.get(who.org, webhook_id)
        result = await loaded(attempts(who.org, wh.id, event_id))
        template = portal.env.get_template("_test_result.html")
        html = await template.render_async(result=result, final=FINAL, wh=wh)
        return Response(html, media_type="text/html; charset=utf-8", headers=HEADERS)

    return r
