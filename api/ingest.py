"""Ingest: `POST /v1/events` and `POST /v1/events/batch`, answered 202 once Kafka has acknowledged.

The raw body is read once (capped), parsed with orjson and checked by hand, several times
cheaper than a pydantic model per event; `fastpath.ApiApp` also skips FastAPI's routing for
these two paths. The OpenAPI description is declared by hand and must be kept in step with
`build_event` (schemathesis checks the two against each other).
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel
from starlette.responses import Response

from api import errors
from api.auth import Principal
from api.context import ApiContext
from api.errors import MalformedBody
from core.errors import Forbidden, InvalidInput, RateLimited
from core.ids import event_id
from core.models import Event, encode_event, rfc3339, utcnow
from core.quota import Quota, QuotaBook
from core.scopes import PUBLISH, may_publish_for
from core.validation import EVENT_TYPE_RE, json_depth, validate_event_type

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"


class Accepted(BaseModel):
    id: str


class BatchAccepted(BaseModel):
    ids: list[str]


def parse_json(body: bytes) -> Any:
    if not body:
        raise MalformedBody("body", "body is empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc):
            raise InvalidInput("body", "nested too deeply") from None
        raise MalformedBody("body", f"not valid JSON: {exc}") from None


def build_event(
    obj: Any, who: Principal, default_key: str | None, timestamp: str, max_depth: int, where: str = ""
) -> Event:
    """Check one event object from a request and turn it into the Kafka event.

    The event's id is stable when the client names it: its own `id` first, else `default_key`
    (from the Idempotency-Key header); otherwise it is new. A producer key must name the `org`
    it publishes for (one of its orgs); an org key may name its own org only.
    """
    prefix = f"{where}." if where else ""
    if type(obj) is not dict:
        raise InvalidInput(where or "body", "must be a JSON object")
    etype = obj.get("type")
    if etype is None:
        raise InvalidInput(prefix + "type", "is required")
    validate_event_type(etype, prefix + "type")
    if "data" not in obj:
        raise InvalidInput(prefix + "data", "is required")
    data = obj["data"]
    if type(data) is not dict:
        raise InvalidInput(prefix + "data", "must be a JSON object")
    json_depth(data, max_depth, prefix + "data")
    org = who.org
    if "org" in obj:
        named = obj["org"]
        if not isinstance(named, str):
            raise InvalidInput(prefix + "org", "must be a string")
        if who.producer_orgs is not None:
            if not may_publish_for(who.producer_orgs, named):
                raise Forbidden(f"{prefix}org: this producer key may not publish for org {named}")
            org = named
        elif named not in (who.org, who.name):
            raise Forbidden(f"{prefix}org: the API key belongs to another org")
    elif who.producer_orgs is not None:
        raise InvalidInput(prefix + "org", "is required with a producer key")
    key = default_key
    if "id" in obj:
        key = obj["id"]
        if not isinstance(key, str) or not EVENT_TYPE_RE.match(key):
            raise InvalidInput(prefix + "id", "must be 1-128 characters of A-Z a-z 0-9 _ . : -")
    return {"id": event_id(org, key), "org": org, "type": etype, "timestamp": timestamp, "data": data}


def check_idempotency_key(key: str | None) -> str | None:
    if key is not None and not EVENT_TYPE_RE.match(key):
        raise InvalidInput("Idempotency-Key", "must be 1-128 characters of A-Z a-z 0-9 _ . : -")
    return key


class Ingest:
    """The two ingest operations on raw inputs, shared by the FastAPI routes and `fastpath`.

    Each returns the 202 body once Kafka has acknowledged, or raises a `core.errors` error.
    """

    def __init__(self, ctx: ApiContext) -> None:
        self._ctx = ctx
        self._topic = ctx.kafka.topic
        self._max_depth = ctx.api.max_json_depth
        self._max_events = ctx.api.max_batch_events
        self._schemas = ctx.event_schemas  # event types' JSON Schemas, cached per org
        self._quotas = QuotaBook(ctx.api.servers)
        self._clock = ctx.clock

    async def _quota(self, org: str, where: str) -> Quota | None:
        tenant = await self._ctx.tenants.get(org)  # cached: a dict lookup
        if tenant is None:  # only a producer key can name an org that is not there
            raise InvalidInput(where, f"no org {org}")
        return tenant.quota

    def _admit(self, demand: dict[str, tuple[Quota | None, int]]) -> None:
        wait = self._quotas.admit(self._clock(), demand)
        if wait > 0:
            for org, (_, n) in demand.items():
                self._ctx.hooks.events_throttled(org, n)
            raise RateLimited(wait)

    async def one(self, authorization: str | None, idempotency_key: str | None, body: bytes) -> bytes:
        ctx = self._ctx
        who = await ctx.keys.authenticate(authorization)
        who.require(PUBLISH)
        key = check_idempotency_key(idempotency_key)
        event = build_event(parse_json(body), who, key, rfc3339(utcnow()), self._max_depth)
        org = event["org"]
        quota = await self._quota(org, "org")
        if quota is not None:
            self._admit({org: (quota, 1)})
        await self._schemas.check(org, [event])
        await ctx.backlog.room()
        record_key = who.org_key if who.producer_orgs is None else org.encode()
        await ctx.producer.produce(self._topic, record_key, encode_event(event))
        ctx.hooks.events_accepted(org, 1)
        return orjson.dumps({"id": event["id"]})

    async def batch(self, authorization: str | None, idempotency_key: str | None, body: bytes) -> bytes:
        ctx = self._ctx
        who = await ctx.keys.authenticate(authorization)
        who.require(PUBLISH)
        key = check_idempotency_key(idempotency_key)
        obj = parse_json(body)
        if type(obj) is not dict:
            raise InvalidInput("body", "must be a JSON object")
        items = obj.get("events")
        if type(items) is not list:
            raise InvalidInput("events", "must be a list of events")
        if not items or len(items) > self._max_events:
            raise InvalidInput("events", f"must hold 1 to {self._max_events} events")
        ts = rfc3339(utcnow())
        depth = self._max_depth
        events = [
            build_event(item, who, f"{key}:{i}" if key else None, ts, depth, f"events.{i}")
            for i, item in enumerate(items)
        ]
        if who.producer_orgs is None:
            await self._one_org_batch(who.org, events)
            records = [(who.org_key, encode_event(e)) for e in events]
        else:  # a producer's batch may mix orgs: each org's quota, schemas and record key
            await self._mixed_batch(events)
            records = [(e["org"].encode(), encode_event(e)) for e in events]
        await ctx.backlog.room()
        await ctx.producer.produce_many(self._topic, records)
        for org, n in _counts(events).items():
            ctx.hooks.events_accepted(org, n)
        return orjson.dumps({"ids": [e["id"] for e in events]})

    async def _one_org_batch(self, org: str, events: list[Event]) -> None:
        quota = await self._quota(org, "org")
        if quota is not None:
            self._admit({org: (quota, len(events))})
        await self._schemas.check(org, events, "events.")

    async def _mixed_batch(self, events: list[Event]) -> None:
        first: dict[str, int] = {}
        for i, e in enumerate(events):
            first.setdefault(e["org"], i)
        counts = _counts(events)
        demand = {org: (await self._quota(org, f"events.{i}.org"), counts[org]) for org, i in first.items()}
        self._admit(demand)
        for i, e in enumerate(events):
            await self._schemas.check(e["org"], [e], "events.", first=i)


def _counts(events: list[Event]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in events:
        counts[e["org"]] = counts.get(e["org"], 0) + 1
    return counts


def _accepted(body: bytes) -> Response:
    return Response(body, 202, media_type="application/json")


def router(ingest: Ingest, max_events: int) -> APIRouter:
    """The documented routes. `fastpath` answers the same paths first when the app serves them;
    these stay the reference behaviour and what the OpenAPI description is generated from."""
    r = APIRouter(tags=["ingest"])
    failures = errors.responses(400, 401, 403, 413, 422, 429, 503)

    @r.post(
        "/v1/events",
        status_code=202,
        response_model=None,
        responses={202: {"model": Accepted, "description": "Accepted: Kafka has the event"}, **failures},
        openapi_extra=_openapi(_EVENT_SCHEMA, "Event"),
        summary="Send one event",
    )
    async def ingest_event(request: Request) -> Response:
        headers = request.headers
        return _accepted(
            await ingest.one(
                headers.get("authorization"), headers.get("idempotency-key"), await request.body()
            )
        )

    @r.post(
        "/v1/events/batch",
        status_code=202,
        response_model=None,
        responses={202: {"model": BatchAccepted, "description": "Accepted: Kafka has all"}, **failures},
        openapi_extra=_openapi(_batch_schema(max_events), "Batch"),
        summary="Send up to max_batch_events events; all are accepted or none",
    )
    async def ingest_batch(request: Request) -> Response:
        headers = request.headers
        body = await request.body()
        return _accepted(
            await ingest.batch(headers.get("authorization"), headers.get("idempotency-key"), body)
        )

    return r


_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "data"],
    "properties": {
        "type": {"type": "string", "pattern": ID_PATTERN, "description": "event type, e.g. EVENT_A"},
        "data": {"type": "object", "description": "the payload; nested at most max_json_depth deep"},
        "id": {
            "type": "string",
            "pattern": ID_PATTERN,
            "description": "idempotency key: the same id from the same org gives the same event id",
        },
        "org": {
            "type": "string",
            "description": "with an org key optional, and then its own org (id or name), else 403; "
            "with a producer key required: the id of an org the key may publish for",
        },
    },
}


def _batch_schema(max_events: int) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {"type": "array", "minItems": 1, "maxItems": max_events, "items": _EVENT_SCHEMA}
        },
    }


def _openapi(schema: dict[str, Any], title: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {**schema, "title": title}}},
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": ID_PATTERN},
                "description": "stable event id when the body has no `id` (batch: key + ':' + index)",
            }
        ],
    }
