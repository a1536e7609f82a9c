"""The FastAPI app factory: ingest, orgs, webhooks, event types, deliveries and health, behind
one body-size cap.

Its settings come in one `ApiConfig` (tests pass their own topic and database names); a
producer and a database may be injected, otherwise the app makes its own and closes them on
shutdown.
`/metrics` belongs to observability: pass its router in `extra_routers` and an `ApiHooks`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

from adapters import mongo
from adapters.api_keys import KeyLookup, ProducerKeyRepo
from adapters.audit import AuditLog
from adapters.backlog import Backlog
from adapters.dead_letters import Replayer
from adapters.delivery_log import DeliveryRepo
from adapters.event_lookup import KafkaEventLookup
from adapters.kafka_producer import AsyncProducer
from adapters.mongo import Doc
from adapters.repos import EventTypeRepo, OrgRepo, WebhookRepo
from adapters.secret_keys import SecretBox
from api import audit, deliveries, errors, event_types, events, ingest, keys, orgs, pings, portal, webhooks
from api.auth import AdminAuth, KeyAuth
from api.config import ApiConfig
from api.context import ApiContext, ApiHooks, EventProducer, NoHooks
from api.fastpath import ApiApp
from api.limits import BodyLimit
from api.schema_cache import EventSchemas
from api.tenants import Tenants
from core.errors import BrokerUnavailable
from core.ssrf import Guard

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 2.0
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


def create_app(
    config: ApiConfig,
    *,
    producer: EventProducer | None = None,
    db: AsyncDatabase[Doc] | None = None,
    hooks: ApiHooks | None = None,
    extra_routers: Sequence[APIRouter] = (),
    fast_ingest_path: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> ApiApp:
    """`clock` times the in-process caches (API keys, event-type schemas)."""
    api = config.api
    owned_producer = producer is None
    owned_db = db is None
    the_producer: EventProducer = producer if producer is not None else AsyncProducer(config.kafka)
    the_db = db if db is not None else mongo.database(config.mongo)
    org_repo = OrgRepo(the_db)
    type_repo = EventTypeRepo(the_db)
    replayer = Replayer(config.rabbit)
    backlog = Backlog(
        config.rabbit,
        api.backpressure_messages,
        api.backpressure_max_wait_s,
        api.backpressure_poll_s,
        api.backpressure_idle_poll_s,
    )
    ctx = ApiContext(
        api=api,
        kafka=config.kafka,
        producer=the_producer,
        db=the_db,
        orgs=org_repo,
        keys=KeyAuth(KeyLookup(the_db), api.key_cache_s, clock),
        admin=AdminAuth(config.admin),
        hooks=hooks or NoHooks(),
        webhooks=WebhookRepo(the_db, SecretBox(config.secrets)),
        event_types=type_repo,
        deliveries=DeliveryRepo(the_db),
        guard=Guard(config.delivery.ssrf_allowlist),
        event_schemas=EventSchemas(type_repo, api.event_type_cache_s, clock),
        replayer=replayer,
        backlog=backlog,
        producer_keys=ProducerKeyRepo(the_db),
        tenants=Tenants(org_repo, api.key_cache_s, clock),
        audit=AuditLog(the_db),
        events=KafkaEventLookup(config.kafka),
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        backlog.start()
        yield
        await backlog.close()
        await replayer.close()
        if owned_producer:
            await asyncio.to_thread(the_producer.close)
        if owned_db:
            await the_db.client.close()

    app = ApiApp(
        title="events-distribution-platform",
        version="0.1.0",
        description="Send events; every webhook whose rules match gets them, signed, with retries.",
        lifespan=lifespan,
        # /v1/webhooks/ is not /v1/webhooks: a 404, not a 307 that some clients follow as a GET.
        redirect_slashes=False,
    )
    app.state.ctx = ctx
    errors.install(app)
    fast_ingest = ingest.Ingest(ctx)
    app.include_router(ingest.router(fast_ingest, api.max_batch_events))
    app.include_router(orgs.router(ctx))
    app.include_router(keys.router(ctx))
    app.include_router(webhooks.router(ctx))
    app.include_router(event_types.router(ctx))
    app.include_router(deliveries.router(ctx))
    app.include_router(pings.router(ctx))
    app.include_router(events.router(ctx))
    app.include_router(audit.router(ctx))
    portal.install(app, ctx, config)
    app.include_router(_health_router(ctx))
    for extra in extra_routers:
        app.include_router(extra)
    app.add_middleware(BodyLimit, max_bytes=api.max_body_bytes)
    if fast_ingest_path:
        app.enable_fast_ingest(fast_ingest, api.max_body_bytes)
    _declare_security(app)
    app.add_exception_handler(405, _method_not_allowed)
    return app


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    """405 with `Allow` naming every method of the path. Starlette stops at the first route whose
    path matches, so with GET and POST as two routes its `Allow` would name only one of them."""
    app: FastAPI = request.app
    allowed = _documented_methods(app.openapi(), request.url.path) or [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in app.router.routes
        )
    ]
    return errors.error_response(
        405, "method_not_allowed", "Method Not Allowed", None, {"Allow": ", ".join(allowed)}
    )


def _documented_methods(spec: dict[str, Any], path: str) -> list[str]:
    """The methods the OpenAPI document gives `path`, path parameters checked against their
    patterns: `/v1/events/batch` has the shape of `/v1/events/{event_id}`, but `batch` is no
    event id, so GET is not one of its methods."""
    found: set[str] = set()
    for template, operations in spec.get("paths", {}).items():
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        match = re.fullmatch(regex, path)
        if match is None:
            continue
        for method, op in operations.items():
            patterns = [
                (p["name"], p.get("schema", {}).get("pattern"))
                for p in op.get("parameters", [])
                if p.get("in") == "path"
            ]
            if all(not rule or re.search(rule, match.group(name)) for name, rule in patterns):
                found.add(method.upper())
    return [m for m in _METHODS if m in found]


def _health_router(ctx: ApiContext) -> APIRouter:
    r = APIRouter(tags=["health"])
    open_route: dict[str, Any] = {"security": []}

    @r.get("/healthz", response_model=Health, openapi_extra=open_route, summary="The process is alive")
    async def healthz() -> Health:
        return Health(status="ok")

    @r.get(
        "/readyz",
        response_model=Health,
        responses={503: {"model": errors.ErrorResponse, "description": "Kafka or MongoDB is not answering"}},
        openapi_extra=open_route,
        summary="Kafka and MongoDB answer",
    )
    async def readyz() -> Health | Response:
        kafka_ok, mongo_ok = await asyncio.gather(_kafka_ok(ctx), _mongo_ok(ctx))
        checks = {"kafka": kafka_ok, "mongo": mongo_ok}
        failed = {k: v for k, v in checks.items() if v != "ok"}
        if failed:
            message = "; ".join(f"{k}: {v}" for k, v in failed.items())
            return errors.error_response(503, "not_ready", message)
        return Health(status="ready", checks=checks)

    return r


async def _kafka_ok(ctx: ApiContext) -> str:
    try:
        await asyncio.to_thread(ctx.producer.ping, ctx.kafka.topic, READY_TIMEOUT_S)
    except BrokerUnavailable as exc:
        return str(exc)
    return "ok"


async def _mongo_ok(ctx: ApiContext) -> str:
    try:
        await asyncio.wait_for(ctx.db.command("ping"), READY_TIMEOUT_S)
    except Exception as exc:  # any failure here is "not ready", never a 500
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _declare_security(app: FastAPI) -> None:
    """Bearer schemes in the OpenAPI document, so clients and schemathesis know what to send."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "an org API key"},
            "adminKey": {"type": "http", "scheme": "bearer", "description": "EDP_ADMIN_KEY"},
        }
        schema["security"] = [{"apiKey": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
