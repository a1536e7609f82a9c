"""Where did my event go: the event read back from Kafka by its id, and each matching webhook's
delivery state from the attempt log, against the real services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from adapters.event_lookup import predicted_partition
from core.ids import delivery_id, new_id
from core.settings import KafkaSettings
from tests.integration.api.control_support import ControlEnv, control_env

pytestmark = pytest.mark.services


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


def attempt(
    org: str, event_id: str, webhook_id: str, n: int, outcome: str, at: datetime, **kw: object
) -> dict[str, object]:
    return {
        "_id": new_id("att", int(at.timestamp() * 1000)),
        "delivery_id": delivery_id(event_id, webhook_id),
        "event_id": event_id,
        "webhook_id": webhook_id,
        "org": org,
        "attempt": n,
        "status_code": 200 if outcome == "success" else 500,
        "outcome": outcome,
        "latency_ms": 3.0,
        "at": at,
        **kw,
    }


async def test_an_event_reads_back_as_accepted_and_only_by_its_org(env: ControlEnv) -> None:
    for i in range(20):  # others' events around it in the same topic
        await env.http.post("/v1/events", json={"type": "EVENT_B", "data": {"i": i}}, headers=env.b.auth)
    r = await env.http.post(
        "/v1/events", json={"type": "EVENT_A", "data": {"amount": 70}}, headers=env.a.auth
    )
    event_id = r.json()["id"]
    got = await env.http.get(f"/v1/events/{event_id}", headers=env.a.auth)
    assert got.status_code == 200, got.text
    event = got.json()
    assert event["id"] == event_id and event["org"] == env.a.id and event["data"] == {"amount": 70}
    assert got.content == orjson.dumps(event)  # the bytes a webhook is sent
    assert (await env.http.get(f"/v1/events/{event_id}", headers=env.b.auth)).status_code == 404
    assert (await env.http.get(f"/v1/events/{new_id('evt')}", headers=env.a.auth)).status_code == 404
    r = await env.http.get("/v1/events/evt_" + "0" * 26, headers=env.a.auth)  # a time long gone
    assert r.status_code == 404


async def test_three_matching_webhooks_one_failing_show_their_states(env: ControlEnv) -> None:
    ok = await env.webhook()
    failing = await env.webhook()
    waiting = await env.webhook()
    await env.webhook(event_types=["EVENT_B"])  # does not match
    r = await env.http.post("/v1/events", json={"type": "EVENT_A", "data": {}}, headers=env.a.auth)
    event_id = r.json()["id"]
    t0 = datetime.now(UTC).replace(microsecond=0)
    due = t0 + timedelta(seconds=300)
    await env.db["attempts"].insert_many(  # type: ignore[arg-type]
        [
            attempt(env.a.id, event_id, ok["id"], 1, "success", t0),
            attempt(
                env.a.id, event_id, failing["id"], 1, "retry", t0, next_attempt_at=t0 + timedelta(seconds=5)
            ),
            attempt(
                env.a.id, event_id, failing["id"], 2, "retry", t0 + timedelta(seconds=5), next_attempt_at=due
            ),
        ]
    )
    r = await env.http.get(f"/v1/events/{event_id}/deliveries", headers=env.a.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["event_found"] is True
    states = {d["webhook_id"]: d for d in body["data"]}
    assert {k: d["state"] for k, d in states.items()} == {
        ok["id"]: "delivered",
        failing["id"]: "retrying",
        waiting["id"]: "pending",
    }
    assert states[failing["id"]]["next_attempt_at"] == due.isoformat().replace("+00:00", ".000Z")
    assert [a["attempt"] for a in states[failing["id"]]["attempts"]] == [1, 2]
    assert states[waiting["id"]]["attempts"] == [] and states[ok["id"]]["delivery_id"] == delivery_id(
        event_id, ok["id"]
    )
    assert (await env.http.get(f"/v1/events/{event_id}/deliveries", headers=env.b.auth)).status_code == 404


async def test_an_idempotency_keyed_event_is_found_through_its_first_attempt(env: ControlEnv) -> None:
    hook = await env.webhook()
    r = await env.http.post(
        "/v1/events", json={"type": "EVENT_A", "id": "order-42", "data": {}}, headers=env.a.auth
    )
    event_id = r.json()["id"]
    assert (
        await env.http.get(f"/v1/events/{event_id}", headers=env.a.auth)
    ).status_code == 404  # no time in it
    await env.db["attempts"].insert_one(  # type: ignore[arg-type]
        attempt(env.a.id, event_id, hook["id"], 1, "dead", datetime.now(UTC))
    )
    got = await env.http.get(f"/v1/events/{event_id}", headers=env.a.auth)
    assert got.status_code == 200 and got.json()["id"] == event_id
    r = await env.http.get(f"/v1/events/{event_id}/deliveries", headers=env.a.auth)
    assert [d["state"] for d in r.json()["data"]] == ["dead_lettered"]


def test_the_predicted_partition_is_the_one_librdkafka_picks(
    kafka_topic: Callable[..., KafkaSettings],
) -> None:
    settings = kafka_topic(partitions=4)
    producer = Producer({"bootstrap.servers": settings.bootstrap})
    landed: dict[bytes, int] = {}

    def report(err: object, msg: Any) -> None:
        assert err is None
        landed[msg.key()] = msg.partition()

    keys = [f"org_{i}".encode() for i in range(40)]
    for key in keys:
        producer.produce(settings.topic, b"{}", key, on_delivery=report)
    producer.flush(15)
    assert landed == {k: predicted_partition(k, 4) for k in keys}
    assert set(landed.values()) == {0, 1, 2, 3}
