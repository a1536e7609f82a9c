"""Delivery rules against real RabbitMQ, MongoDB and HTTP receivers, on Ray: retries keep the
webhook-id, exhausted tasks dead-letter and come back with recover, 410 disables, Retry-After
is honoured, and signatures verify with the official library while a secret rotates."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pika
import pytest
from pymongo import AsyncMongoClient
from standardwebhooks.webhooks import Webhook as SWVerifier

from adapters import dead_letters, rabbit
from cluster.supervisor import Supervisor
from core.ids import delivery_id
from core.models import Secret, utcnow
from core.signing import new_secret
from testkit.pipeline import PipelineWorld, rules_synced, wait_until
from testkit.receiver.runner import ReceiversThread
from testkit.receiver.state import Mode

pytestmark = [
    pytest.mark.services,
    pytest.mark.ray,
    pytest.mark.world(filters=1, deliveries=1, schedule=(0.2, 0.2)),
]


@pytest.fixture
def pipeline(world: PipelineWorld) -> Iterator[Supervisor]:
    sup = Supervisor(world.config, detached=False)
    sup.start()
    yield sup
    sup.stop()


def attempts(world: PipelineWorld, dlv: str) -> list[dict[str, object]]:
    return list(world.db.attempts.find({"delivery_id": dlv}).sort("attempt", 1))


def test_a_receiver_that_fails_then_recovers_gets_the_same_webhook_id(
    world: PipelineWorld, receivers: ReceiversThread, pipeline: Supervisor
) -> None:
    port = receivers.ports[0]
    state = receivers.receivers.states[port]
    state.mode = Mode(status=503, fail_count=2)
    wh = world.add_webhook("org_r", receivers.receivers.url(port, "/hook"), ["A"])
    assert wait_until(lambda: rules_synced(pipeline, 1), 10)
    (event,) = world.events(1, ["org_r"], ["A"])
    world.produce([event])
    dlv = delivery_id(event["id"], wh.id)
    assert wait_until(lambda: dlv in state.first_seen, 30)
    assert state.outcomes["failed"] == 2 and state.duplicates == 0
    assert wait_until(lambda: len(attempts(world, dlv)) == 3, 10)
    rows = attempts(world, dlv)
    assert [r["outcome"] for r in rows] == ["retry", "retry", "success"]
    assert [r["status_code"] for r in rows] == [503, 503, 200]
    assert rows[0]["next_attempt_at"] is not None


def test_exhausted_tasks_are_dead_lettered_and_recover_brings_them_back(
    world: PipelineWorld, receivers: ReceiversThread, pipeline: Supervisor
) -> None:
    port = receivers.ports[0]
    state = receivers.receivers.states[port]
    state.mode = Mode(status=500, fail_count=1_000_000)
    wh = world.add_webhook("org_d", receivers.receivers.url(port, "/hook"), ["A"])
    assert wait_until(lambda: rules_synced(pipeline, 1), 10)
    events = world.events(5, ["org_d"], ["A"])
    since = utcnow() - timedelta(seconds=1)
    world.produce(events)
    ids = {delivery_id(e["id"], wh.id) for e in events}
    assert wait_until(lambda: world.db.dead_letters.count_documents({}) == 5, 40)
    for doc in world.db.dead_letters.find():
        assert doc["_id"] in ids and doc["attempts"] == 3 and "500" in doc["reason"]
    assert queue_depth(world, world.config.rabbit.dead_queue) == 5
    assert not state.first_seen
    state.mode = Mode()  # the customer fixed their endpoint
    assert asyncio.run(recover(world, "org_d", wh.id, since)) == 5
    assert wait_until(lambda: set(state.first_seen) == ids, 30)
    assert asyncio.run(recover(world, "org_d", wh.id, since)) == 0  # replayed once only


def test_410_gone_disables_the_webhook(
    world: PipelineWorld, receivers: ReceiversThread, pipeline: Supervisor
) -> None:
    port = receivers.ports[0]
    receivers.receivers.states[port].mode = Mode(status=410, fail_count=1_000_000)
    wh = world.add_webhook("org_g", receivers.receivers.url(port, "/hook"), ["A"])
    assert wait_until(lambda: rules_synced(pipeline, 1), 10)
    world.produce(world.events(1, ["org_g"], ["A"]))

    def disabled() -> bool:
        doc = world.db.webhooks.find_one({"_id": wh.id})
        return doc is not None and doc["enabled"] is False

    assert wait_until(disabled, 30)
    doc = world.db.webhooks.find_one({"_id": wh.id})
    assert doc is not None and "410" in doc["disabled_reason"] and doc["version"] == 2


def test_retry_after_is_honoured(
    world: PipelineWorld, receivers: ReceiversThread, pipeline: Supervisor
) -> None:
    port = receivers.ports[0]
    state = receivers.receivers.states[port]
    state.mode = Mode(status=429, retry_after="3", fail_count=1)
    wh = world.add_webhook("org_t", receivers.receivers.url(port, "/hook"), ["A"])
    assert wait_until(lambda: rules_synced(pipeline, 1), 10)
    (event,) = world.events(1, ["org_t"], ["A"])
    world.produce([event])
    dlv = delivery_id(event["id"], wh.id)
    assert wait_until(lambda: dlv in state.first_seen, 30)
    assert wait_until(lambda: len(attempts(world, dlv)) == 2, 10)
    first, second = attempts(world, dlv)
    gap = (second["at"] - first["at"]).total_seconds()  # type: ignore[operator]
    assert gap >= 2.9, gap  # the schedule alone would have retried after 0.2 s


def test_signatures_verify_with_the_official_library_during_a_rotation(
    world: PipelineWorld, receivers: ReceiversThread, pipeline: Supervisor
) -> None:
    old, new = new_secret(), new_secret()
    port_old, port_new = receivers.ports
    receivers.receivers.states[port_old].set_secrets([old])  # a customer not yet on the new secret
    receivers.receivers.states[port_new].set_secrets([new])  # one that already switched
    rotating = (Secret(new), Secret(old, expires_at=utcnow() + timedelta(hours=24)))
    for port in receivers.ports:
        world.add_webhook("org_s", receivers.receivers.url(port, "/hook"), ["A"], secrets=rotating)
    assert wait_until(lambda: rules_synced(pipeline, 2), 10)
    world.produce(world.events(3, ["org_s"], ["A"]))
    for port, secret in ((port_old, old), (port_new, new)):
        state = receivers.receivers.states[port]
        assert wait_until(lambda s=state: len(s.first_seen) == 3, 30)  # type: ignore[misc]
        assert state.verdicts["verified"] == 3 and state.verdicts["invalid"] == 0
        for rec in state.ring:
            SWVerifier(secret).verify(rec["body"].encode(), rec["headers"])
            assert len(rec["headers"]["webhook-signature"].split()) == 2


def queue_depth(world: PipelineWorld, queue: str) -> int:
    conn = pika.BlockingConnection(pika.URLParameters(world.config.rabbit.url.get_secret_value()))
    try:
        return int(conn.channel().queue_declare(queue, passive=True).method.message_count)
    finally:
        conn.close()


async def recover(world: PipelineWorld, org: str, webhook_id: str, since: object) -> int:
    conn = await rabbit.connect(world.config.rabbit, "test-recover")
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(world.config.mongo.url.get_secret_value())
    try:
        channel = await rabbit.confirm_channel(conn)
        topology = await rabbit.declare(channel, world.config.rabbit)
        coll = mongo[world.config.mongo.database][dead_letters.DEAD_LETTERS]
        return await dead_letters.recover(coll, topology.exchange, org, webhook_id, since)  # type: ignore[arg-type]
    finally:
        await conn.close()
        await mongo.close()
