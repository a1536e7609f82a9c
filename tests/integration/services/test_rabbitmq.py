"""RabbitMQ: publisher confirms, manual acks with redelivery, and a dead-letter round trip
through a TTL queue (the shape of the platform's retry queues)."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pika
import pytest
from pika.adapters.blocking_connection import BlockingChannel

from core.settings import RabbitSettings

pytestmark = pytest.mark.services


@pytest.fixture
def channel() -> Iterator[BlockingChannel]:
    params = pika.URLParameters(RabbitSettings().url.get_secret_value())
    params.socket_timeout = 5
    connection = pika.BlockingConnection(params)
    ch = connection.channel()
    ch.confirm_delivery()
    yield ch
    connection.close()


def _get(ch: BlockingChannel, queue: str, timeout_s: float = 5.0) -> tuple[Any, Any, bytes]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        method, props, body = ch.basic_get(queue, auto_ack=False)
        if method is not None:
            return method, props, body
        time.sleep(0.05)
    raise AssertionError(f"nothing arrived on {queue} within {timeout_s}s")


def test_confirmed_publish_and_manual_ack(channel: BlockingChannel, unique: str) -> None:
    queue = f"test.work.{unique}"
    channel.queue_declare(queue, durable=True, auto_delete=False)
    try:
        # With confirms on, basic_publish returns only once the broker has taken the message
        # (and raises on a nack or, with mandatory, on an unroutable message).
        channel.basic_publish(
            "", queue, b"task-1", pika.BasicProperties(delivery_mode=2, message_id="dlv_1"), mandatory=True
        )
        method, props, body = _get(channel, queue)
        assert body == b"task-1" and props.message_id == "dlv_1" and not method.redelivered
        channel.basic_reject(method.delivery_tag, requeue=True)

        method, _, body = _get(channel, queue)
        assert body == b"task-1" and method.redelivered
        channel.basic_ack(method.delivery_tag)
        assert channel.queue_declare(queue, passive=True).method.message_count == 0
    finally:
        channel.queue_delete(queue)


def test_unroutable_publish_is_reported(channel: BlockingChannel, unique: str) -> None:
    with pytest.raises(pika.exceptions.UnroutableError):
        channel.basic_publish("", f"test.nowhere.{unique}", b"x", mandatory=True)


def test_dead_letter_round_trip_through_ttl_queue(channel: BlockingChannel, unique: str) -> None:
    work, retry = f"test.work.{unique}", f"test.work.{unique}.retry.200ms"
    channel.queue_declare(work, durable=True)
    # A retry queue has no consumer: messages wait out the TTL, then dead-letter back to work.
    channel.queue_declare(
        retry,
        durable=True,
        arguments={"x-message-ttl": 200, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": work},
    )
    try:
        sent = time.monotonic()
        channel.basic_publish("", retry, b"attempt-2", pika.BasicProperties(delivery_mode=2), mandatory=True)
        method, props, body = _get(channel, work)
        assert time.monotonic() - sent >= 0.15
        assert body == b"attempt-2"
        death = props.headers["x-death"][0]
        assert death["queue"] == retry and death["reason"] == "expired" and death["count"] == 1
        channel.basic_ack(method.delivery_tag)
    finally:
        channel.queue_delete(retry)
        channel.queue_delete(work)


def test_management_api_knows_the_edp_user() -> None:
    request = urllib.request.Request("http://127.0.0.1:15672/api/whoami")
    request.add_header("Authorization", "Basic " + base64.b64encode(b"edp:edp").decode())
    with urllib.request.urlopen(request, timeout=5) as response:
        me = json.load(response)
    assert me["name"] == "edp"
    assert "administrator" in str(me["tags"])
