"""RabbitMQ topology and publishing over aio-pika.

Topology (declared idempotently by every actor that uses it):
  exchange  <exchange>        topic, durable; routing key org.<org>
  queue     <queue>           durable work queue, bound with org.#
  queues    <queue>.retry.<d> one per wait-ladder step: fixed TTL, dead-letter back into <queue>
  queue     <queue>.dead      dead letters, kept for replay

Wait queues have fixed TTLs so expiry is never stuck behind a longer-lived head message; a task
carries its own `not_before` and is parked again if a step hands it back early.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, AbstractQueue

from core.errors import BrokerUnavailable
from core.ordering import lane_key, lane_queue
from core.retry import WAIT_LADDER_S, wait_queue_name
from core.settings import RabbitSettings

log = logging.getLogger(__name__)

JSON = "application/json"


@dataclass(frozen=True)
class Topology:
    exchange: AbstractExchange
    default_exchange: AbstractExchange
    work: AbstractQueue
    dead: AbstractQueue
    wait_queues: dict[float, str]  # ttl seconds -> queue name


async def connect(settings: RabbitSettings, name: str) -> AbstractConnection:
    try:
        return await aio_pika.connect(
            settings.url.get_secret_value(), timeout=10, client_properties={"connection_name": name}
        )
    except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
        raise BrokerUnavailable(f"rabbitmq: {exc!r}") from exc


async def confirm_channel(connection: AbstractConnection, prefetch: int | None = None) -> AbstractChannel:
    # on_return_raises: a mandatory publish that no queue takes must fail loudly, never vanish.
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    if prefetch:
        await channel.set_qos(prefetch_count=prefetch)
    return channel


async def declare(
    channel: AbstractChannel, settings: RabbitSettings, ladder: Sequence[float] = WAIT_LADDER_S
) -> Topology:
    exchange = await channel.declare_exchange(settings.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    work = await channel.declare_queue(settings.queue, durable=True)
    await work.bind(exchange, "org.#")
    waits: dict[float, str] = {}
    for ttl in ladder:
        name = wait_queue_name(settings.retry_prefix, ttl)
        await channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-message-ttl": int(ttl * 1000),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": settings.queue,
            },
        )
        waits[ttl] = name
    # Operators' view of dead letters, bounded; the replay store is MongoDB (adapters/dead_letters).
    dead = await channel.declare_queue(
        settings.dead_queue, durable=True, arguments={"x-max-length": 100_000, "x-overflow": "drop-head"}
    )
    return Topology(exchange, channel.default_exchange, work, dead, waits)


async def declare_lane(
    channel: AbstractChannel, settings: RabbitSettings, exchange: AbstractExchange, webhook_id: str
) -> AbstractQueue:
    """An ordered webhook's lane (core.ordering): durable, bound to its routing key, consumed by
    one delivery actor at a time (`x-single-active-consumer`: the broker hands the lane to
    another actor, unacked message first, when the active one goes)."""
    lane = await channel.declare_queue(
        lane_queue(settings.queue, webhook_id), durable=True, arguments={"x-single-active-consumer": True}
    )
    await lane.bind(exchange, lane_key(webhook_id))
    return lane


@dataclass(frozen=True)
class ConsumerChannels:
    """A consumer's two channels: one to consume on (prefetch set), one with confirms to publish
    on, so a publish waiting for its confirm never holds up deliveries."""

    consume: AbstractChannel
    publish: AbstractChannel
    topology: Topology
    closed: asyncio.Future[None]  # resolves when the connection closes

    @property
    def any_closed(self) -> bool:
        return self.consume.is_closed or self.publish.is_closed


async def consumer_channels(
    connection: AbstractConnection, settings: RabbitSettings, prefetch: int
) -> ConsumerChannels:
    closed = asyncio.get_running_loop().create_future()
    connection.close_callbacks.add(lambda *_: None if closed.done() else closed.set_result(None))
    publish = await confirm_channel(connection)
    topology = await declare(publish, settings)
    consume = await connection.channel()
    await set_prefetch(consume, prefetch)
    return ConsumerChannels(consume, publish, topology, closed)


async def set_prefetch(channel: AbstractChannel, prefetch: int) -> None:
    """The channel's limit of unacked messages, changed while its consumer runs.

    RabbitMQ applies a per-consumer prefetch (`global=false`) only to consumers started after
    it, so a retune sent that way never reaches the running consumer; the channel-wide limit
    (`global=true`) does, at once. The work queue's consumer is the channel's only one that
    acks (the pool's signals are consumed with no_ack and never count against it)."""
    await channel.set_qos(prefetch_count=prefetch, global_=True)


async def signals(
    channel: AbstractChannel, settings: RabbitSettings
) -> tuple[AbstractExchange, AbstractQueue]:
    """The delivery pool's signal fanout and this actor's own queue on it (exclusive, deleted with
    the connection). Signals are hints that make the pool act as one sooner (an endpoint asked
    for a pause, a webhook was disabled); nothing depends on them for correctness, so they are
    transient and unconfirmed."""
    exchange = await channel.declare_exchange(settings.signals_exchange, aio_pika.ExchangeType.FANOUT)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange)
    return exchange, queue


def message(body: bytes, message_id: str, headers: dict[str, object] | None = None) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        content_type=JSON,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id,
        headers=headers or {},  # type: ignore[arg-type]
    )


async def publish_confirmed(exchange: AbstractExchange, items: Iterable[tuple[str, aio_pika.Message]]) -> int:
    """Publish everything at once and wait for every confirm (pipelined, not one round trip each).

    Raises BrokerUnavailable if any message is nacked, returned or the channel fails; the caller
    then must not treat any of them as sent (at-least-once: it will publish them again).
    """
    return await publish_started(exchange, items)


def publish_started(
    exchange: AbstractExchange, items: Iterable[tuple[str, aio_pika.Message]]
) -> asyncio.Future[int]:
    """Start every publish now (in order, on the exchange's channel) and return what awaits
    their confirms: the count, or BrokerUnavailable as in `publish_confirmed`. The caller may do
    other work, and publish more, before awaiting it."""
    pending = [exchange.publish(msg, routing_key=key, mandatory=True) for key, msg in items]
    return asyncio.ensure_future(_confirms(asyncio.gather(*pending, return_exceptions=True), len(pending)))


async def _confirms(gathered: Awaitable[list[Any]], count: int) -> int:
    results = await gathered
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise BrokerUnavailable(f"rabbitmq: {len(errors)} of {count} publishes failed: {errors[0]!r}")
    return count
