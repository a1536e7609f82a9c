"""The attempt log: every attempt, newest first, narrowed like `GET /v1/attempts` and paged by
its cursor; an attempt's detail (the request as far as it is known, the response); replay of a
dead delivery and recovery of an endpoint's since a time, through `api.deliveries`.

On FerretDB every listing is a pass over the whole attempt log (it answers only a lone `_id`
from SQLite; docs/portal.md has the figures), so the listing pages are streamed: filters and
layout at once, rows when they come. A single attempt is read by its `_id` alone, the one
query SQLite answers itself.
"""

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from starlette.responses import Response

from api import deliveries
from api.deliveries import MAX_CURSOR, AttemptQuery, attempt_out, list_attempts_page
from api.portal import forms
from api.portal.as_sent import request_as_sent
from api.portal.endpoints import endpoint_page
from api.portal.session import PATH, Session
from api.portal.web import Loaded, PageRoute, Portal, changing, form_of, loaded, redirect, session, stream
from api.schemas import ID_PATTERN, MAX_PAGE, AttemptPage, Outcome, Rfc3339
from api.webhooks import WebhookId
from core.errors import InvalidInput, NotFound

PAGE = 50
WINDOWS = {
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
}
OUTCOMES = ("success", "retry", "dead", "dropped")
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
SINCE = TypeAdapter(Rfc3339)


class Filters(BaseModel):
    """The listing's query string: `GET /v1/attempts`'s parameters plus a time window."""

    model_config = ConfigDict(extra="ignore")

    webhook_id: Id | None = None
    event_id: Id | None = None
    delivery_id: Id | None = None
    outcome: Outcome | None = None
    status_code: Annotated[int, Field(ge=100, le=599)] | None = None
    window: Literal["15m", "1h", "24h", "7d"] | None = None
    since: Rfc3339 | None = None
    until: Rfc3339 | None = None
    after: Annotated[str, StringConstraints(max_length=MAX_CURSOR)] | None = None

    def query(self, now: datetime) -> AttemptQuery:
        since = self.since or (now - WINDOWS[self.window] if self.window else None)
        return AttemptQuery(
            self.webhook_id,
            self.event_id,
            self.delivery_id,
            self.outcome,
            self.status_code,
            since,
            self.until,
        )


def router(portal: Portal) -> APIRouter:
    r = APIRouter(prefix=PATH, route_class=PageRoute, include_in_schema=False)
    Who = Annotated[Session, Depends(session)]
    Changing = Annotated[Session, Depends(changing)]
    ctx = portal.ctx

    @r.get("/deliveries")
    async def attempt_log(request: Request, who: Who) -> Response:
        given = {k: v for k, v in request.query_params.items() if v != "" and k != "done"}
        errors: dict[str, str] = {}
        try:
            filters = Filters.model_validate(given)
        except ValidationError as exc:
            errors, filters = forms.validation_errors(exc, tuple(Filters.model_fields)), Filters()
        hooks = await ctx.webhooks.list_page(who.org, limit=MAX_PAGE)
        query = filters.query(portal.now())

        async def load_page() -> Loaded[AttemptPage]:
            if errors:
                return Loaded(error="fix the filters above")
            return await loaded(list_attempts_page(ctx, who.org, query, PAGE, filters.after))

        keep = {k: v for k, v in given.items() if k != "after"}
        return stream(
            request,
            "deliveries.html",
            who,
            nav="deliveries",
            hooks={w.id: w for w in hooks},
            given=given,
            keep=keep,
            errors=errors,
            outcomes=OUTCOMES,
            windows=WINDOWS,
            load_page=load_page,
            recover_since=(portal.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    @r.get("/attempts/{attempt_id}")
    async def attempt_page(
        request: Request, who: Who, attempt_id: Annotated[str, Path(pattern=ID_PATTERN)]
    ) -> Response:
        row = await portal.store.attempt(who.org, attempt_id)
        if row is None:
            raise NotFound(f"no attempt {attempt_id} in your organisation")
        try:
            wh = await ctx.webhooks.get(who.org, row["webhook_id"])
        except NotFound:
            wh = None  # deleted since
        dead = await ctx.deliveries.dead_letter(who.org, row["delivery_id"])
        event = await portal.store.dead_event(who.org, row["delivery_id"]) if dead else None
        query = AttemptQuery(delivery_id=row["delivery_id"])

        async def load_others() -> Loaded[AttemptPage]:
            return await loaded(list_attempts_page(ctx, who.org, query, 20, None))

        return stream(
            request,
            "attempt.html",
            who,
            nav="deliveries",
            a=attempt_out(row),
            wh=wh,
            dead=dead,
            sent=request_as_sent(row, wh, event),
            load_others=load_others,
        )

    @r.post("/deliveries/{delivery_id}/replay")
    async def replay(who: Changing, delivery_id: Annotated[str, Path(pattern=ID_PATTERN)]) -> Response:
        await deliveries.retry(ctx, who.org, who.actor, delivery_id)
        return redirect(f"{PATH}/deliveries?delivery_id={delivery_id}&done=replayed")

    @r.post("/endpoints/{webhook_id}/recover")
    async def recover(request: Request, who: Changing, webhook_id: WebhookId) -> Response:
        wh = await ctx.webhooks.get(who.org, webhook_id)
        text = (await form_of(request)).get("since", "").strip()
        try:
            since = SINCE.validate_python(text)
        except ValidationError as exc:
            message = exc.errors()[0].get("msg", "invalid") if exc.errors() else "invalid"
            return await endpoint_page(portal, request, who, wh, 422, errors={"since": f"since: {message}"})
        try:
            n = await deliveries.recover(ctx, who.org, who.actor, webhook_id, since)
        except InvalidInput as exc:
            return await endpoint_page(portal, request, who, wh, 422, errors={"since": str(exc)})
        return redirect(f"{PATH}/deliveries?webhook_id={webhook_id}&outcome=dead&done=recovered&n={n}")

    return r
