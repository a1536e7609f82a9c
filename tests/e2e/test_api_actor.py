"""Two ApiServer actors share one port through SO_REUSEPORT and survive a kill (Ray restarts it)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import ray
from pydantic import SecretStr

from adapters import kafka_io, mongo
from adapters.repos import OrgRepo
from api.config import ApiConfig
from cluster.remote import ApiServerActor
from core.settings import AdminSettings, ApiSettings, KafkaSettings, MongoSettings
from tests.integration.api.support import delete_topic, namespace, require_services

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


# No keep-alive: every request opens a connection, so the kernel picks a server for each one.
_HTTP = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)


def post_event(url: str, key: str, attempts: int = 5) -> int:
    """One request on a fresh connection. A connection that lands on a socket whose process just
    died is reset by the kernel; a client retries it, as any client of a restarting service must."""
    for attempt in range(attempts):
        try:
            r = _HTTP.post(
                f"{url}/v1/events",
                json={"type": "EVENT_A", "data": {"n": attempt}},
                headers={"Authorization": f"Bearer {key}"},
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
    config = ApiConfig(api=api, kafka=kafka, mongo=mongo_settings, admin=admin)
    actors: list[Any] = [ApiServerActor.options(name=f"test-api-{tag}-{i}").remote(config) for i in range(2)]
    url = f"http://127.0.0.1:{api.port}"
    try:
        assert ray.get([a.ready.remote() for a in actors], timeout=60) == [True, True]
        assert [post_event(url, key) for _ in range(20)] == [202] * 20
        served = ray.get([a.requests_served.remote() for a in actors])
        assert sum(served) == 20 and min(served) > 0, served  # the kernel spreads connections

        ray.kill(actors[0], no_restart=False)
        assert [post_event(url, key) for _ in range(20)] == [202] * 20

        # Ray brings it back, bound to the same port again; then it alone serves.
        assert ray.get(actors[0].ready.remote(), timeout=60) is True
        ray.kill(actors[1], no_restart=True)
        time.sleep(0.5)
        assert [post_event(url, key) for _ in range(20)] == [202] * 20
        assert _HTTP.get(f"{url}/readyz").status_code == 200
    finally:
        for a in actors:
            ray.kill(a, no_restart=True)


def test_api_job_starts_named_servers_once(
    stack: tuple[KafkaSettings, MongoSettings, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from jobs import api as api_job

    kafka, mongo_settings, key = stack
    port = free_port()
    for name, value in {
        "EDP_API_PORT": str(port),
        "EDP_KAFKA_TOPIC": kafka.topic,
        "EDP_MONGO_DATABASE": mongo_settings.database,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(ray, "init", lambda *a, **kw: None)  # already connected to the test cluster
    try:
        assert api_job.main(["--servers", "2"]) == 0
        first = [ray.get_actor(api_job.actor_name(i), namespace=api_job.NAMESPACE) for i in range(2)]
        assert api_job.main(["--servers", "2"]) == 0  # idempotent: the same actors, no second bind
        again = [ray.get_actor(api_job.actor_name(i), namespace=api_job.NAMESPACE) for i in range(2)]
        assert [a._actor_id for a in first] == [a._actor_id for a in again]
        assert post_event(f"http://127.0.0.1:{port}", key) == 202
    finally:
        for i in range(2):
            with contextlib.suppress(ValueError):
                ray.kill(ray.get_actor(api_job.actor_name(i), namespace=api_job.NAMESPACE), no_restart=True)
