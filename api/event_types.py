"""Event types: a catalogue per org, each type optionally with a JSON Schema for its `data`.

Ingest checks an event's `data` against its type's schema. The compiled validators of an org
are cached in the process for `ApiSettings.event_type_cache_s` (like API keys), so in steady
state ingest makes no database call per event; a schema written through another API server
applies here within that time, through this one at once.
"""

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Annotated, Any

import jsonschema_rs
import orjson
from fastapi import APIRouter, Depends, Path, Query
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
from starlette.responses import Response

from adapters.mongo import Doc
from adapters.repos import EventTypeRepo
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
from core.errors import BrokerUnavailable, InvalidInput
from core.models import Event, rfc3339
from core.validation import json_depth

log = logging.getLogger(__name__)

MAX_SCHEMA_DEPTH = 32
MAX_MESSAGE = 300
# Bounds memory when many orgs send; a cleared cache only costs one query per org.
MAX_CACHED_ORGS = 100_000

Name = Annotated[str, Path(pattern=EVENT_TYPE_PATTERN)]


class CompiledSchema:
    """A schema ready to check `data`, by jsonschema-rs rather than the pure-Python jsonschema.

    Its regular expressions (`pattern`, `patternProperties`) run in linear time (Rust's regex
    crate; look-around and back-references under a backtracking limit), where Python's `re`
    backtracks: `(a+)+$` against 40 characters, or `a*b` against a 1 MB string, held the API's
    event loop for minutes (found by bench/fuzz). JSON Schema's patterns are ECMA-262 anyway.
    A schema that cannot be built (a `$ref` that resolves nowhere, written by another tool) is
    kept, and every check against it is refused with 422.
    """

    __slots__ = ("_error", "_validator")

    def __init__(self, schema: Any) -> None:
        self._validator: jsonschema_rs.Draft202012Validator | None = None
        self._error = ""
        try:
            self._validator = jsonschema_rs.Draft202012Validator(schema)
        except Exception as exc:  # the schema's fault: refused at write, 422 at ingest
            self._error = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:MAX_MESSAGE]

    @property
    def error(self) -> str:
        """Why the schema cannot be applied; empty if it can."""
        return self._error

    def check(self, data: Any, field: str) -> None:
        """Raise InvalidInput naming `field` plus the path of the first error."""
        if self._validator is None:
            raise InvalidInput(field, f"the event type's schema could not be applied: {self._error}")
        try:
            error = next(iter(self._validator.iter_errors(data)), None)
        except Exception as exc:  # the schema's fault, not a 500
            raise InvalidInput(field, f"the event type's schema could not be applied: {exc}") from None
        if error is None:
            return
        where = ".".join([field, *(str(p) for p in error.instance_path)])
        schema_path = "/".join(str(p) for p in error.schema_path)
        raise InvalidInput(where, f"{error.message[:MAX_MESSAGE]} (schema: /{schema_path})")


def check_schema(schema: dict[str, Any], max_bytes: int) -> CompiledSchema:
    """Refuse a schema that is too big, too deep, not valid JSON Schema 2020-12, or that refers
    outside itself (nothing is ever fetched), with a 422 naming `schema...`."""
    try:
        size = len(orjson.dumps(schema))
    except TypeError:  # an integer past 64 bits: neither orjson nor BSON can hold it (was a 500)
        raise InvalidInput("schema", "numbers must fit in 64 bits") from None
    if size > max_bytes:
        raise InvalidInput("schema", f"is larger than {max_bytes} bytes")
    json_depth(schema, MAX_SCHEMA_DEPTH, "schema")
    _local_refs_only(schema)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = ".".join(["schema", *(str(p) for p in exc.absolute_path)])
        raise InvalidInput(where, f"not a valid JSON Schema: {exc.message[:MAX_MESSAGE]}") from None
    except Exception as exc:  # the metaschema's format checks on hostile input
        raise InvalidInput("schema", f"not a valid JSON Schema: {exc}") from None
    compiled = CompiledSchema(schema)
    if compiled.error:  # a regex only Python's re reads, a $ref that resolves nowhere
        raise InvalidInput("schema", f"not a valid JSON Schema: {compiled.error}")
    return compiled


def _local_refs_only(schema: dict[str, Any]) -> None:
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("$ref", "$dynamicRef"):
                ref = item.get(key)
                if isinstance(ref, str) and not ref.startswith("#"):
                    raise InvalidInput("schema", f"{key} must point inside the schema (#...): {ref[:100]}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class EventSchemas:
    """Per-org compiled validators, cached; concurrent misses for one org share one query."""

    def __init__(self, repo: EventTypeRepo, ttl_s: float) -> None:
        self._repo = repo
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Mapping[str, CompiledSchema]]] = {}
        self._inflight: dict[str, asyncio.Task[Mapping[str, CompiledSchema]]] = {}

    def cached(self, org: str) -> Mapping[str, CompiledSchema] | None:
        hit = self._cache.get(org)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    async def load(self, org: str) -> Mapping[str, CompiledSchema]:
        task = self._inflight.get(org)
        if task is None:
            task = asyncio.ensure_future(self._fetch(org))
            self._inflight[org] = task
            task.add_done_callback(lambda _t: self._inflight.pop(org, None))
        return await asyncio.shield(task)

    async def check(self, org: str, events: list[Event], prefix: str = "") -> None:
        """Validate each event's `data` against its type's schema, if the type has one."""
        schemas = self.cached(org)
        if schemas is None:
            schemas = await self.load(org)
        if not schemas:
            return
        for i, event in enumerate(events):
            compiled = schemas.get(event["type"])
            if compiled is not None:
                compiled.check(event["data"], f"{prefix}{i}.data" if prefix else "data")

    def forget(self, org: str) -> None:
        self._cache.pop(org, None)

    async def _fetch(self, org: str) -> Mapping[str, CompiledSchema]:
        try:
            rows = await self._repo.schemas(org)
        except BrokerUnavailable:
            stale = self._cache.get(org)
            if stale is None:
                raise
            # Keep checking with what we knew rather than refuse every event while MongoDB is away.
            log.warning("event type schemas stale org=%s: database unavailable", org)
            self._cache[org] = (time.monotonic() + self._ttl_s, stale[1])
            return stale[1]
        compiled: dict[str, CompiledSchema] = {}
        for name, text in rows:
            try:
                compiled[name] = CompiledSchema(orjson.loads(text))
            except Exception as exc:  # written by another tool; ingest must not fail on it
                log.warning("event type schema skipped org=%s type=%s error=%r", org, name, exc)
        if self._ttl_s > 0:
            if len(self._cache) >= MAX_CACHED_ORGS:
                self._cache.clear()
            self._cache[org] = (time.monotonic() + self._ttl_s, compiled)
        return compiled


def event_type_out(doc: Doc) -> EventTypeOut:
    text = doc.get("schema")
    return EventTypeOut(
        name=doc["name"],
        description=doc.get("description") or "",
        schema=orjson.loads(text) if isinstance(text, str) else None,
        created_at=rfc3339(doc["created_at"]),
        updated_at=rfc3339(doc["updated_at"]),
    )


def router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["event types"])
    Who = Annotated[Principal, Depends(caller(ctx))]
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
    async def put_event_type(who: Who, body: EventTypeIn, response: Response) -> EventTypeOut:
        text = None
        if body.json_schema is not None:
            check_schema(body.json_schema, ctx.api.max_schema_bytes)
            text = orjson.dumps(body.json_schema).decode()
        doc, created = await repo.put(who.org, body.name, body.description, text)
        ctx.event_schemas.forget(who.org)
        response.status_code = 201 if created else 200
        return event_type_out(doc)

    @r.get(
        "/v1/event-types",
        response_model=EventTypePage,
        responses=errors.responses(401, 422, 503),
        summary="List event types by name",
    )
    async def list_event_types(
        who: Who,
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
    async def get_event_type(who: Who, name: Name) -> EventTypeOut:
        return event_type_out(await repo.get(who.org, name))

    @r.delete(
        "/v1/event-types/{name}",
        status_code=204,
        response_class=Response,
        responses={204: {"description": "Deleted, or there was none"}, **errors.responses(401, 422, 503)},
        summary="Delete an event type (idempotent); its events are no longer checked",
    )
    async def delete_event_type(who: Who, name: Name) -> Response:
        await repo.delete(who.org, name)
        ctx.event_schemas.forget(who.org)
        return Response(status_code=204)

    return r
