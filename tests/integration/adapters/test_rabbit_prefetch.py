"""A delivery actor retunes its prefetch while its consumer runs (core/flow.py): the new limit
must reach that running consumer. RabbitMQ applies a per-consumer `basic.qos` only to consumers
started after it, so this fails if `rabbit.set_prefetch` goes back to `global=false`: the
consumer would keep the 32 unacked messages it started with."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from adapters import rabbit
from core.settings import RabbitSettings

pytestmark = pytest.mark.services


async def _settle(held: list[AbstractIncomingMessage], quiet_s: float = 0.3) -> int:
    """The number of unacked messages the broker handed over, once no more come."""
    while True:
        before = len(held)
        await asyncio.sleep(quiet_s)
        if len(held) == before:
            return before


async def test_a_lower_prefetch_reaches_the_running_consumer(unique: str) -> None:
    settings = RabbitSettings()
    connection = await rabbit.connect(settings, f"test-prefetch-{unique}")
    try:
        producer = await connection.channel()
        consume = await connection.channel()
        queue = await consume.declare_queue(f"test.prefetch.{unique}", auto_delete=True)
        for i in range(200):
            await producer.default_exchange.publish(aio_pika.Message(str(i).encode()), routing_key=queue.name)
        await rabbit.set_prefetch(consume, 32)
        held: list[AbstractIncomingMessage] = []

        async def keep(message: AbstractIncomingMessage) -> None:
            held.append(message)

        await queue.consume(keep)
        assert await _settle(held) == 32

        await rabbit.set_prefetch(consume, 4)  # fewer than in hand: nothing more until acks
        for m in held[:30]:
            await m.ack()
        assert await _settle(held) == 34  # 2 left unacked, the limit 4: 2 more, no further

        await rabbit.set_prefetch(consume, 50)  # and raised: it fills up to the new limit
        assert await _settle(held) - 30 == 50
    finally:
        await connection.close()
