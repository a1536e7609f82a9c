"""Readings taken from the brokers' clients: Kafka consumer lag, RabbitMQ queue depth."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from .catalog import FILTER_LAG
from .registry import set_gauge, tags

log = logging.getLogger(__name__)


def partition_lag(low: int, high: int, position: int) -> int | None:
    """Records between the consumer's position and the partition end; None while unknown.

    librdkafka reports a negative offset (OFFSET_INVALID) for what it does not know yet: the high
    watermark before the first fetch, the position before the first record.
    """
    if high < 0:
        return None
    if position < 0:
        return high - low if low >= 0 else None
    return max(0, high - position)


def set_lag(partition: int, lag: int) -> None:
    set_gauge(FILTER_LAG, lag, tags("partition", str(partition)), partition)


class LagSource(Protocol):
    """The two local calls (no broker round trip) of `confluent_kafka.Consumer` that lag needs."""

    def position(self, partitions: list[Any]) -> list[Any]: ...

    def get_watermark_offsets(
        self, partition: Any, timeout: float = ..., cached: bool = ...
    ) -> tuple[int, int] | None: ...


_tps: dict[tuple[str, tuple[int, ...]], list[Any]] = {}


def filter_lag(consumer: LagSource, topic: str, partitions: Sequence[int]) -> dict[int, int]:
    """Set each assigned partition's lag gauge from librdkafka's cached watermarks (the high one is
    refreshed by every fetch response); a few µs per partition, so call it after every consume,
    idle ones included: that is how the gauge falls back to 0."""
    key = (topic, tuple(partitions))
    tps = _tps.get(key)
    if tps is None:
        from confluent_kafka import TopicPartition

        tps = _tps[key] = [TopicPartition(topic, p) for p in partitions]
    lags: dict[int, int] = {}
    for tp in consumer.position(tps):
        marks = consumer.get_watermark_offsets(tp, cached=True)
        lag = partition_lag(marks[0], marks[1], tp.offset) if marks else None
        if lag is not None:
            lags[tp.partition] = lag
            set_lag(tp.partition, lag)
    return lags


async def queue_depth(connection: Any, queue: str) -> int | None:
    """Messages ready in `queue`, over an aio-pika connection; None if it cannot be read.

    A passive declare on a channel of its own: a missing queue closes that channel only, never
    the caller's publishing or consuming channel.
    """
    try:
        channel = await connection.channel()
        try:
            q = await channel.declare_queue(queue, passive=True)
            return int(q.declaration_result.message_count or 0)
        finally:
            await channel.close()
    except Exception as exc:  # a depth we cannot read is just not reported this time
        log.debug("queue depth unavailable queue=%s error=%r", queue, exc)
        return None
