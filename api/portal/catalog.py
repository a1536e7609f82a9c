"""The event-type catalogue: every type of the org, its schema, and an example of what an
endpoint receives for it (the whole event, as delivered), made from the schema and checked
against it with the same compiled schema ingest uses."""

from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from api.event_types import event_type_out
from api.portal.examples import example
from api.portal.session import PATH, Session
from api.portal.web import PageRoute, Portal, render, session
from api.schemas import EVENT_TYPE_PATTERN, MAX_PAGE, EventTypeOut, page_of
from core.errors import InvalidInput
from core.event_schemas import CompiledSchema
from core.ids import new_id
from core.models import rfc3339


@dataclass(frozen=True, slots=True)
class Entry:
    type: EventTypeOut
    example: str  # the event as an endpoint gets it, pretty-printed
    valid: bool | None  # the example checked against the schema; None: there is none
    why: str = ""


def entry(doc: dict[str, Any], org: str, now: str) -> Entry:
    out = event_type_out(doc)
    data = example(out.json_schema) if out.json_schema else {"any": "object"}
    event = {"id": new_id("evt"), "org": org, "type": out.name, "timestamp": now, "data": data}
    valid: bool | None = None
    why = ""
    if out.json_schema is not None:
        try:
            CompiledSchema(out.json_schema).check(data, "data")
            valid = True
        except InvalidInput as exc:
            valid, why = False, f"{exc.field}: {exc.message}"
    return Entry(out, orjson.dumps(event, option=orjson.OPT_INDENT_2).decode(), valid, why)


def router(portal: Portal) -> APIRouter:
    r = APIRouter(prefix=PATH, route_class=PageRoute, include_in_schema=False)
    Who = Annotated[Session, Depends(session)]

    @r.get("/event-types")
    async def catalog(
        request: Request, who: Who, after: Annotated[str | None, Query(pattern=EVENT_TYPE_PATTERN)] = None
    ) -> Response:
        listed = await portal.ctx.event_types.list_page(who.org, limit=MAX_PAGE + 1, after=after)
        docs, next_cursor = page_of(listed, MAX_PAGE, lambda d: str(d["name"]))
        now = rfc3339(portal.now())
        entries = [entry(d, who.org, now) for d in docs]
        return await render(
            request, "event_types.html", who, nav="event-types", entries=entries, next=next_cursor
        )

    return r
