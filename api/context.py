"""What the routes share: settings, the producer, the database, the repos and the caches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Depends
from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request

from adapters.api_keys import ProducerKeyRepo
from adapters.audit import AuditLog
from adapters.backlog import Backlog
from adapters.dead_letters import Replayer
from adapters.delivery_log import DeliveryRepo
from adapters.mongo import Doc
from adapters.repos import EventTypeRepo, OrgRepo, WebhookRepo
from api.auth import AdminAuth, KeyAuth, Principal
from api.schema_cache import EventSchemas
from api.tenants import Tenants
from core.models import Event
from core.settings import ApiSettings, KafkaSettings
from core.ssrf import Guard


class EventProducer(Protocol):
    """What the API needs from Kafka (adapters.kafka_producer.AsyncProducer)."""

    async def produce(self, topic: str, key: bytes, value: bytes) -> None: ...

    async def produce_many(self, topic: str, records: list[tuple[bytes, bytes]]) -> None: ...

    def ping(self, topic: str, timeout_s: float = 2.0) -> None: ...

    def close(self, timeout_s: float = 10.0) -> None: ...


class ApiHooks(Protocol):
    """Where metrics plug in (observability owns `/metrics`); called on the hot path, keep it cheap."""

    def events_accepted(self, org: str, count: int) -> None: ...

    def events_throttled(self, org: str, count: int) -> None: ...


class NoHooks:
    def events_accepted(self, org: str, count: int) -> None:
        pass

    def events_throttled(self, org: str, count: int) -> None:
        pass


@dataclass(slots=True)
class ApiContext:
    api: ApiSettings
    kafka: KafkaSettings
    producer: EventProducer
    db: AsyncDatabase[Doc]
    orgs: OrgRepo
    keys: KeyAuth
    admin: AdminAuth
    hooks: ApiHooks
    webhooks: WebhookRepo
    event_types: EventTypeRepo
    deliveries: DeliveryRepo
    # The same allowlist as the delivery workers' (DeliverySettings.ssrf_allowlist): a URL
    # accepted here must not be refused at send time for a reason known now.
    guard: Guard
    event_schemas: EventSchemas
    replayer: Replayer
    backlog: Backlog
    producer_keys: ProducerKeyRepo
    tenants: Tenants  # orgs' existence and quotas, cached for ingest
    audit: AuditLog
    events: EventLookup
    clock: Callable[[], float]  # monotonic: the caches' TTLs and the quotas' buckets


class EventLookup(Protocol):
    """Where `GET /v1/events/{id}` reads an event (adapters.event_lookup.KafkaEventLookup)."""

    async def find(self, event_id: str, org: str, around_ms: int | None = None) -> Event | None: ...


def admin_only(ctx: ApiContext) -> dict[str, Any]:
    """Route options for an operator's route: the admin key is checked as a dependency, so a
    caller without it hears 401 before any complaint about the body."""

    async def require_admin(request: Request) -> None:
        ctx.admin.check(request.headers.get("authorization"))

    return {"dependencies": [Depends(require_admin)], "openapi_extra": {"security": [{"adminKey": []}]}}


def caller(ctx: ApiContext, scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency giving the request's API key if it holds `scope`, so a caller without
    a valid key hears 401, and one without the scope 403 naming it, before any complaint about
    the body. A producer key holds only events:publish: every management route refuses it."""

    async def who(request: Request) -> Principal:
        principal = await ctx.keys.authenticate(request.headers.get("authorization"))
        principal.require(scope)
        return principal

    return who
