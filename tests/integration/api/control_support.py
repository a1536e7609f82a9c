"""Helpers for the control-plane tests (no tests here): the app with two orgs, over a Kafka topic,
a MongoDB database and RabbitMQ names of its own, with loopback allowlisted as `make run` does."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import orjson
import pika
import pytest
from confluent_kafka import KafkaException
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase

from adapters import kafka_io, mongo
from adapters.kafka_producer import AsyncProducer
from adapters.mongo import Doc
from adapters.repos import OrgRepo
from api.app import create_app
from api.config import ApiConfig
from core.models import DeliveryTask
from core.retry import WAIT_LADDER_S, wait_queue_name
from core.settings import (
    AdminSettings,
    ApiSettings,
    DeliverySettings,
    KafkaSettings,
    MongoSettings,
    RabbitSettings,
)
from testkit.serving import serving
from tests.integration.api.support import ADMIN_KEY, SECRETS, delete_topic, namespace, require_services

log = logging.getLogger(__name__)

PUBLIC_URL = "https://93.184.215.14/hook"  # a literal public address: no DNS needed to pass the guard
LOOPBACK_URL = "http://127.0.0.1:9/hook"  # allowlisted here, as in the local profile


@dataclass
class Org:
    id: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class ControlEnv:
    http: httpx.AsyncClient
    db: AsyncDatabase[Doc]
    rabbit: RabbitSettings
    a: Org
    b: Org
    app: Any
    kafka: KafkaSettings | None = None

    async def org(self, name: str) -> Org:
        """One more org, made through the admin API."""
        r = await self.http.post("/v1/orgs", json={"name": name}, headers=admin_auth())
        assert r.status_code == 201, r.text
        return Org(r.json()["id"], r.json()["api_key"])

    async def webhook(self, org: Org | None = None, **body: Any) -> dict[str, Any]:
        payload = {"url": PUBLIC_URL, "event_types": ["EVENT_A"], **body}
        r = await self.http.post("/v1/webhooks", json=payload, headers=(org or self.a).auth)
        assert r.status_code == 201, r.text
        doc: dict[str, Any] = r.json()
        return doc


def admin_auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_KEY}"}


def require_rabbit() -> None:
    require_services()
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        pytest.fail("RabbitMQ is not answering on 127.0.0.1:5672: run `make services`")


def delete_rabbit(settings: RabbitSettings) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(settings.url.get_secret_value()))
    try:
        ch = conn.channel()
        for q in [
            settings.queue,
            settings.dead_queue,
            *(wait_queue_name(settings.retry_prefix, t) for t in WAIT_LADDER_S),
        ]:
            ch.queue_delete(q)
        ch.exchange_delete(settings.exchange)
    finally:
        conn.close()


async def drain(env: ControlEnv, expect: int, timeout_s: float = 5.0) -> list[DeliveryTask]:
    """The tasks on the work queue (what a delivery worker would get); none if the app never
    declared it (it does on its first publish)."""
    conn = await aio_pika.connect(env.rabbit.url.get_secret_value())
    got: list[DeliveryTask] = []
    try:
        channel = await conn.channel()
        try:
            queue = await channel.get_queue(env.rabbit.queue)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return got
        deadline = asyncio.get_running_loop().time() + timeout_s
        while len(got) < expect and asyncio.get_running_loop().time() < deadline:
            msg = await queue.get(fail=False)
            if msg is None:
                await asyncio.sleep(0.05)
                continue
            got.append(orjson.loads(msg.body))
            await msg.ack()
        await asyncio.sleep(0.2)
        while (extra := await queue.get(fail=False)) is not None:
            got.append(orjson.loads(extra.body))
            await extra.ack()
    finally:
        await conn.close()
    return got


def control_config(
    kafka: KafkaSettings, mongo_settings: MongoSettings, rabbit: RabbitSettings, **api: Any
) -> ApiConfig:
    """The app's settings here: names of this test's own, loopback allowlisted as `make run` does."""
    return ApiConfig(
        api=ApiSettings(**api),
        kafka=kafka,
        mongo=mongo_settings,
        rabbit=rabbit,
        delivery=DeliverySettings(ssrf_allowlist=("127.0.0.1/32",)),
        admin=AdminSettings(admin_key=SecretStr(ADMIN_KEY)),
        secrets=SECRETS,
    )


@asynccontextmanager
async def control_env(
    clock: Callable[[], float] = time.monotonic, hooks: Any = None, **api: Any
) -> AsyncIterator[ControlEnv]:
    require_rabbit()
    kafka, mongo_settings = namespace()
    tag = uuid.uuid4().hex[:10]
    rabbit = RabbitSettings(exchange=f"t{tag}.webhooks", queue=f"t{tag}.deliveries")
    await asyncio.to_thread(kafka_io.ensure_topic, kafka)
    client = mongo.client(mongo_settings)
    db = client[mongo_settings.database]
    producer = AsyncProducer(kafka, message_timeout_ms=10_000)
    try:
        await mongo.ensure_indexes_async(db)
        orgs = OrgRepo(db)
        (doc_a, key_a), (doc_b, key_b) = await orgs.create("alpha"), await orgs.create("beta")
        config = control_config(kafka, mongo_settings, rabbit, **api)
        app = create_app(config, producer=producer, db=db, clock=clock, hooks=hooks)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://api.test") as http,
        ):
            yield ControlEnv(http, db, rabbit, Org(doc_a["_id"], key_a), Org(doc_b["_id"], key_b), app, kafka)
    finally:
        await asyncio.to_thread(producer.close, 2.0)
        await client.drop_database(mongo_settings.database)
        await client.close()
        await asyncio.to_thread(delete_topic, kafka)
        await asyncio.to_thread(delete_rabbit, rabbit)


@dataclass
class Served:
    """The app behind a real uvicorn on a free 127.0.0.1 port (owning its Kafka producer and
    MongoDB client, as in production), and an org created through the admin API."""

    url: str
    admin_key: str
    org: Org
    other: Org
    mongo: MongoSettings
    rabbit: RabbitSettings


@contextmanager
def served(**api: Any) -> Iterator[Served]:
    require_rabbit()
    kafka, mongo_settings = namespace()
    tag = uuid.uuid4().hex[:10]
    rabbit = RabbitSettings(exchange=f"t{tag}.webhooks", queue=f"t{tag}.deliveries")
    kafka_io.ensure_topic(kafka)
    sync_db = mongo.sync_database(mongo_settings)
    mongo.ensure_indexes(sync_db)
    app = create_app(control_config(kafka, mongo_settings, rabbit, **api))
    try:
        with serving(app) as url:
            orgs = []
            with httpx.Client(base_url=url, trust_env=False) as http:
                for name in ("served", "other"):
                    r = http.post(
                        "/v1/orgs", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
                    )
                    assert r.status_code == 201, r.text
                    orgs.append(Org(r.json()["id"], r.json()["api_key"]))
            yield Served(url, ADMIN_KEY, orgs[0], orgs[1], mongo_settings, rabbit)
    finally:
        sync_db.client.drop_database(mongo_settings.database)
        sync_db.client.close()
        try:
            delete_topic(kafka)
        except KafkaException as exc:  # already gone (a broker restart): the test's verdict stands
            log.warning("could not delete topic=%s error=%s", kafka.topic, exc)
        delete_rabbit(rabbit)
