"""What the routes share: settings, the producer, the database and the auth caches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pymongo.asynchronous.database import AsyncDatabase

from adapters.api.auth import AdminAuth, KeyAuth
from adapters.mongo import Doc
from adapters.repos import OrgRepo
from core.settings import ApiSettings, KafkaSettings


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
