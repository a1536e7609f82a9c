"""Event types: a catalogue per org, each type optionally with a JSON Schema for its `data`.

Ingest checks an event's `data` against its type's schema (core/event_schemas.py), through the
per-org cache of compiled schemas (api/schema_cache.py) that a write here clears at once.
"""

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from adapters.mongo import Doc
from api import errors
from api.auth import Principal
from api.context import ApiContext, caller
from api.schemas import (
    EVENT_TYPE_PATTERN,
    MAX_PAGE,
    EventTypeIn,
    EventTypeOut,
    EventTypePage,
    page_of,
)
from core.errors import NotFound
from core.event_schemas import check_schema
from core.models import rfc3339
from core.scopes import EVENT_TYPES_READ, EVENT_TYPES_WRITE

Name = Annotated[str, Path(pattern=EVENT_TYPE_PATTERN)]


def event_type_out(doc: Doc) -> EventTypeOut:
    text = doc.get("schema")
    return EventTypeOut(
        name=doc["name"],
        description=doc.get("description") or "",
        schema=orjson.loads(text) if isinstance(text, str) else None,
        derived_topic=bool(doc.get("derived_topic")),
        created_at=rfc3339(doc["created_at"]),
        updated_at=rfc3339(doc["updated_at"]),
    )


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["event types"])
    Reader = Annotated[Principal, Depends(caller(ctx, EVENT_TYPES_READ))]
    Writer = Annotated[Principal, Depends(caller(ctx, EVENT_TYPES_WRITE))]

    async def before(org: str, name: str) -> Doc | None:
        try:
            return event_type_out(await repo.get(org, name)).model_dump(by_alias=True)
        except NotFound:
            return None

    repo = ctx.event_types

    @r.post(
        "/v1/event-types",
        status_code=201,
        response_model=EventTypeOut,
        responses={
            200: {"model": EventTypeOut, "description": "Replaced an existing event type"},
            **errors.responses(400, 401, 413, 422, 503),
        },
        summary="Create or replace an event type (by name), optionally with a JSON Schema for `data`",
    )
    async def put_event_type(who: Writer, body: EventTypeIn, response: Response) -> EventTypeOut:
        text = None
        if body.json_schema is not None:
            check_schema(body.json_schema, ctx.api.max_schema_bytes)
            text = orjson.dumps(body.json_schema).decode()
        old = await before(who.org, body.name)
        doc, created = await repo.put(who.org, body.name, body.description, text, body.derived_topic)
        ctx.event_schemas.forget(who.org)
        response.status_code = 201 if created else 200
        out = event_type_out(doc)
        await ctx.audit.record(
            who.org, who.key_id, "event_type.put", body.name, old, out.model_dump(by_alias=True)
        )
        return out

    @r.get(
        "/v1/event-types",
        response_model=EventTypePage,
        responses=errors.responses(401, 422, 503),
        summary="List event types by name",
    )
    async def list_event_types(
        who: Reader,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
        after: Annotated[str | None, Query(pattern=EVENT_TYPE_PATTERN)] = None,
    ) -> EventTypePage:
        docs, next_cursor = page_of(
            await repo.list_page(who.org, limit=limit + 1, after=after), limit, lambda d: str(d["name"])
        )
        return EventTypePage(data=[event_type_out(d) for d in docs], next=next_cursor)

    @r.get(
        "/v1/event-types/{name}",
        response_model=EventTypeOut,
        responses=errors.responses(401, 404, 422, 503),
        summary="One event type",
    )
    async def get_event_type(who: Reader, name: Name) -> EventTypeOut:
        return event_type_out(await repo.get(who.org, name))

    @r.delete(
        "/v1/event-types/{name}",
        status_code=204,
        response_class=Response,
        responses={204: {"description": "Deleted, or there was none"}, **errors.responses(401, 422, 503)},
        summary="Delete an event type (idempotent); its events are no longer checked",
    )
    async def delete_event_type(who: Writer, name: Name) -> Response:
        old = await before(who.org, name)
        if await repo.delete(who.org, name):
            await ctx.audit.record(who.org, who.key_id, "event_type.delete", name, old, None)
        ctx.event_schemas.forget(who.org)
        return Response(status_code=204)

    return r
