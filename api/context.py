"""What the routes share: settings, the producer, the database, the repos and the caches."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase
from starlette.requests import Request

from adapters.backlog import Backlog
from adapters.dead_letters import Replayer
from adapters.mongo import Doc
from adapters.repos import DeliveryRepo, EventTypeRepo, OrgRepo, WebhookRepo
from api.auth import AdminAuth, KeyAuth, Principal
from api.schema_cache import EventSchemas
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


class NoHooks:
    def events_accepted(self, org: str, count: int) -> None:
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


def caller(ctx: ApiContext) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency giving the org of the request's API key, so a caller without a valid
    key hears 401 before any complaint about the body."""

    async def who(request: Request) -> Principal:
        return await ctx.keys.authenticate(request.headers.get("authorization"))

    return who
