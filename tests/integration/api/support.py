"""Helpers for the API tests (no tests here): an app wired to a topic and a database of its own.

Every environment gets a fresh Kafka topic and MongoDB database (never the defaults), so these
tests run beside each other and beside a running platform.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from adapters import kafka_io, mongo
from adapters.kafka_producer import AsyncProducer
from adapters.mongo import Doc
from adapters.repos import OrgRepo
from api.app import create_app
from api.config import ApiConfig
from core.sealing import new_master_key
from core.settings import AdminSettings, ApiSettings, KafkaSettings, MongoSettings, SecretsSettings

ADMIN_KEY = "test-admin-key-" + uuid.uuid4().hex
# The key that seals webhook secrets in these tests' databases (from settings, as in production).
SECRETS = SecretsSettings(key=SecretStr(new_master_key()), previous_keys=None, key_file=None)


class FakeClock:
    """A monotonic clock that moves only when told: the app's cache TTLs pass without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def require_services(kafka: bool = True) -> None:
    for port, name in ((9092, "Kafka"), (27017, "FerretDB"))[0 if kafka else 1 :]:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            pytest.fail(f"{name} is not answering on 127.0.0.1:{port}: run `make services`")


def namespace() -> tuple[KafkaSettings, MongoSettings]:
    tag = uuid.uuid4().hex[:10]
    return KafkaSettings(topic=f"t{tag}.events", partitions=1), MongoSettings(database=f"t{tag}")


def delete_topic(kafka: KafkaSettings) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.delete_topics([kafka.topic], operation_timeout=10)[kafka.topic].result(15)


def consume(kafka: KafkaSettings, count: int, timeout_s: float = 15.0) -> list[tuple[bytes, bytes]]:
    """(key, value) of the first `count` records of the topic, in partition order."""
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap,
            "group.id": f"g{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(kafka.topic, p, 0) for p in range(kafka.partitions)])
    out: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(out) < count and time.monotonic() < deadline:
            for msg in consumer.consume(count - len(out), timeout=0.5):
                key, value = msg.key(), msg.value()
                if msg.error() is None and key is not None and value is not None:
                    out.append((key, value))
    finally:
        consumer.close()
    return out


def topic_size(kafka: KafkaSettings) -> int:
    """Records in the topic so far (sum of high watermarks)."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"g{uuid.uuid4().hex}"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(kafka.topic, p), timeout=10)[1]
            for p in range(kafka.partitions)
        )
    finally:
        consumer.close()


@dataclass
class ApiEnv:
    app: FastAPI
    http: httpx.AsyncClient
    kafka: KafkaSettings
    mongo: MongoSettings
    db: AsyncDatabase[Doc]
    org: str
    org_name: str
    api_key: str

    def auth(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}


@asynccontextmanager
async def api_env(
    *,
    producer_overrides: dict[str, Any] | None = None,
    message_timeout_ms: int = 10_000,
    fast_ingest_path: bool = True,
    clock: Callable[[], float] = time.monotonic,
    **api: Any,
) -> AsyncIterator[ApiEnv]:
    require_services()
    kafka, mongo_settings = namespace()
    await asyncio.to_thread(kafka_io.ensure_topic, kafka)
    client = mongo.client(mongo_settings)
    db = client[mongo_settings.database]
    producer = AsyncProducer(kafka, message_timeout_ms=message_timeout_ms, overrides=producer_overrides)
    try:
        await mongo.ensure_indexes_async(db)
        org_doc, key = await OrgRepo(db).create("acme")
        config = ApiConfig(
            api=ApiSettings(**api),
            kafka=kafka,
            mongo=mongo_settings,
            admin=AdminSettings(admin_key=SecretStr(ADMIN_KEY)),
            secrets=SECRETS,
        )
        app = create_app(
            config,
            producer=producer,
            db=db,
            fast_ingest_path=fast_ingest_path,
            clock=clock,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
            yield ApiEnv(app, http, kafka, mongo_settings, db, org_doc["_id"], "acme", key)
    finally:
        await asyncio.to_thread(producer.close, 2.0)
        await client.drop_database(mongo_settings.database)
        await client.close()
        await asyncio.to_thread(delete_topic, kafka)
