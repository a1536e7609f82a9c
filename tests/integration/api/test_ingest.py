"""Ingest against real Kafka and FerretDB: what is answered 202 is in Kafka, byte for byte."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.integration.api.support import ApiEnv, api_env, consume, topic_size

pytestmark = pytest.mark.services

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# Every test runs through the bare-ASGI fast path and through the documented FastAPI routes.
@pytest.fixture(params=[True, False], ids=["fastpath", "routes"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[ApiEnv]:
    async with api_env(fast_ingest_path=request.param) as e:
        yield e


async def test_event_is_in_kafka_with_org_key_and_exact_shape(env: ApiEnv) -> None:
    data = {"n": 1, "nested": {"list": [1, 2.5, "x", None, True]}, "unicode": "ünï😀"}
    r = await env.http.post("/v1/events", json={"type": "EVENT_A", "data": data}, headers=env.auth())
    assert r.status_code == 202, r.text
    assert r.headers["content-type"] == "application/json"
    event_id = r.json()["id"]
    assert event_id.startswith("evt_")

    [(key, value)] = consume(env.kafka, 1)
    assert key == env.org.encode()
    event = orjson.loads(value)
    assert list(event) == ["id", "org", "type", "timestamp", "data"]
    assert event["id"] == event_id
    assert event["org"] == env.org
    assert event["type"] == "EVENT_A"
    assert TIMESTAMP.match(event["timestamp"])
    assert event["data"] == data
    assert orjson.dumps(event) == value  # re-encoding gives the same bytes: what is signed is sent


async def test_batch_lands_in_order(env: ApiEnv) -> None:
    events = [{"type": f"EVENT_{c}", "data": {"i": i}} for i, c in enumerate("ABC")]
    r = await env.http.post("/v1/events/batch", json={"events": events}, headers=env.auth())
    assert r.status_code == 202, r.text
    ids = r.json()["ids"]
    assert len(ids) == 3 and len(set(ids)) == 3

    records = consume(env.kafka, 3)
    got = [orjson.loads(v) for _, v in records]
    assert [e["id"] for e in got] == ids
    assert [e["type"] for e in got] == ["EVENT_A", "EVENT_B", "EVENT_C"]
    assert {k for k, _ in records} == {env.org.encode()}
    assert len({e["timestamp"] for e in got}) == 1


async def test_idempotency_key_gives_the_same_id(env: ApiEnv) -> None:
    body = {"type": "EVENT_A", "data": {}}
    headers = {**env.auth(), "Idempotency-Key": "order-42:created"}
    first = (await env.http.post("/v1/events", json=body, headers=headers)).json()["id"]
    second = (await env.http.post("/v1/events", json=body, headers=headers)).json()["id"]
    other = (await env.http.post("/v1/events", json=body, headers=env.auth())).json()["id"]
    assert first == second != other


async def test_client_id_gives_the_same_id_and_wins_over_the_header(env: ApiEnv) -> None:
    body = {"type": "EVENT_A", "data": {}, "id": "client-7"}
    a = (await env.http.post("/v1/events", json=body, headers=env.auth())).json()["id"]
    b = (await env.http.post("/v1/events", json=body, headers={**env.auth(), "Idempotency-Key": "k"})).json()[
        "id"
    ]
    assert a == b


async def test_batch_idempotency_key_is_per_position(env: ApiEnv) -> None:
    body = {"events": [{"type": "A", "data": {}}, {"type": "B", "data": {}}]}
    headers = {**env.auth(), "Idempotency-Key": "batch-1"}
    first = (await env.http.post("/v1/events/batch", json=body, headers=headers)).json()["ids"]
    again = (await env.http.post("/v1/events/batch", json=body, headers=headers)).json()["ids"]
    assert first == again and first[0] != first[1]


async def test_body_org_may_name_the_keys_org(env: ApiEnv) -> None:
    for org in (env.org, env.org_name):
        r = await env.http.post("/v1/events", json={"type": "A", "data": {}, "org": org}, headers=env.auth())
        assert r.status_code == 202, r.text


async def test_body_org_of_another_org_is_forbidden(env: ApiEnv) -> None:
    r = await env.http.post(
        "/v1/events", json={"type": "A", "data": {}, "org": "org_other"}, headers=env.auth()
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    batch = {"events": [{"type": "A", "data": {}}, {"type": "A", "data": {}, "org": "other"}]}
    r = await env.http.post("/v1/events/batch", json=batch, headers=env.auth())
    assert r.status_code == 403
    assert topic_size(env.kafka) == 0  # all or nothing


async def test_health_and_readiness(env: ApiEnv) -> None:
    assert (await env.http.get("/healthz")).json() == {"status": "ok", "checks": {}}
    r = await env.http.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"kafka": "ok", "mongo": "ok"}


@pytest.mark.parametrize("fast", [True, False], ids=["fastpath", "routes"])
async def test_unreachable_kafka_is_503_not_500(fast: bool) -> None:
    overrides = {"bootstrap.servers": "127.0.0.1:1"}
    async with api_env(producer_overrides=overrides, message_timeout_ms=1000, fast_ingest_path=fast) as env:
        r = await env.http.post("/v1/events", json={"type": "A", "data": {}}, headers=env.auth())
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "unavailable"
        assert r.headers["retry-after"] == "1"
        r = await env.http.post(
            "/v1/events/batch", json={"events": [{"type": "A", "data": {}}]}, headers=env.auth()
        )
        assert r.status_code == 503
        r = await env.http.get("/readyz")
        assert r.status_code == 503
        assert "kafka" in r.json()["error"]["message"]
