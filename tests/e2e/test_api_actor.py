"""Two ApiServer actors share one port through SO_REUSEPORT and survive a kill (Ray restarts it)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
from pydantic import SecretStr

from actors.api_server import ApiServerActor
from adapters import kafka_io, mongo
from adapters.repos import OrgRepo
from core.settings import AdminSettings, ApiSettings, KafkaSettings, MongoSettings
from tests.integration.test_api_support import delete_topic, namespace, require_services

pytestmark = [pytest.mark.ray, pytest.mark.services]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _create_org(settings: MongoSettings) -> str:
    client = mongo.client(settings)
    try:
        db = client[settings.database]
        await mongo.ensure_indexes_async(db)
        _, key = await OrgRepo(db).create("e2e")
        return key
    finally:
        await client.close()


async def _drop(settings: MongoSettings) -> None:
    client = mongo.client(settings)
    await client.drop_database(settings.database)
    await client.close()


@pytest.fixture
def stack(ray_local: None) -> Iterator[tuple[KafkaSettings, MongoSettings, str]]:
    require_services()
    kafka, mongo_settings = namespace()
    kafka_io.ensure_topic(kafka)
    key = asyncio.run(_create_org(mongo_settings))
    yield kafka, mongo_settings, key
    asyncio.run(_drop(mongo_settings))
    delete_topic(kafka)


def post_event(url: str, key: str, attempts: int = 5) -> int:
    """One request on a fresh connection. A connection that lands on a socket whose process just
    died is reset by the kernel; a client retries it, as any client of a restarting service must."""
    for attempt in range(attempts):
        try:
            r = httpx.post(
                f"{url}/v1/events",
                json={"type": "EVENT_A", "data": {"n": attempt}},
                headers={"Authorization": f"Bearer {key}", "Connection": "close"},
                timeout=10,
            )
            return r.status_code
        except httpx.TransportError:
            time.sleep(0.1)
    return 0


def test_two_actors_share_the_port_and_survive_a_kill(
    stack: tuple[KafkaSettings, MongoSettings, str],
) -> None:
    kafka, mongo_settings, key = stack
    api = ApiSettings(port=free_port(), key_cache_s=5)
    admin = AdminSettings(admin_key=SecretStr("e2e-admin"))
    tag = uuid.uuid4().hex[:8]
    actors: list[Any] = [
        ApiServerActor.options(name=f"test-api-{tag}-{i}").remote(api, kafka, mongo_settings, admin)
        for i in range(2)
    ]
    url = f"http://127.0.0.1:{api.port}"
    try:
        assert ray.get([a.ready.remote() for a in actors], timeout=60) == [True, True]
        assert [post_event(url, key) for _ in range(20)] == [202] * 20

        ray.kill(actors[0], no_restart=False)
        assert [post_event(url, key) for _ in range(20)] == [202] * 20

        # Ray brings it back, bound to the same port again; then it alone serves.
        assert ray.get(actors[0].ready.remote(), timeout=60) is True
        ray.kill(actors[1], no_restart=True)
        time.sleep(0.5)
        assert [post_event(url, key) for _ in range(20)] == [202] * 20
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
    finally:
        for a in actors:
            ray.kill(a, no_restart=True)
