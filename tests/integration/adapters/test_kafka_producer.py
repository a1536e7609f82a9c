"""The ingest API's producer retires itself when its records time out (adapters/kafka_producer):
a librdkafka producer stuck after a broker restart would otherwise turn every request into a 503
until the process restarts. Stuck here = pointed at an address where nothing answers."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from adapters.kafka_producer import AsyncProducer
from core.errors import BrokerUnavailable
from core.settings import KafkaSettings

pytestmark = pytest.mark.services


@pytest.fixture
def kafka(kafka_topic: Callable[..., KafkaSettings]) -> KafkaSettings:
    return kafka_topic(partitions=1)


class _StuckFirst(AsyncProducer):
    built = 0

    def _new_producer(self) -> Producer:
        self.built += 1
        if self.built == 1:
            return Producer({**self._conf, "bootstrap.servers": "127.0.0.1:9"})
        return super()._new_producer()


def _records(s: KafkaSettings) -> int:
    c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "test-rebuild"})
    try:
        return int(c.get_watermark_offsets(TopicPartition(s.topic, 0), timeout=10)[1])
    finally:
        c.close()


async def test_a_producer_whose_records_time_out_is_replaced(kafka: KafkaSettings) -> None:
    p = _StuckFirst(kafka, message_timeout_ms=1000, rebuild_interval_s=0.0)
    try:
        with pytest.raises(BrokerUnavailable, match="timed out"):
            await p.produce(kafka.topic, b"k", b"lost")
        await p.produce(kafka.topic, b"k", b"after")  # through a new producer
        await p.produce_many(kafka.topic, [(b"k", b"a"), (b"k", b"b")])
        assert p.rebuilds == 1
        assert _records(kafka) == 3
    finally:
        p.close()


async def test_at_most_one_new_producer_per_interval(kafka: KafkaSettings) -> None:
    p = _StuckFirst(kafka, message_timeout_ms=500, rebuild_interval_s=3600.0)
    try:
        for _ in range(2):
            with pytest.raises(BrokerUnavailable):
                await p.produce(kafka.topic, b"k", b"x")
        assert p.rebuilds == 0  # the first producer is younger than the interval
    finally:
        p.close()


async def test_the_linger_setting_is_how_long_a_lone_record_waits(kafka: KafkaSettings) -> None:
    """EDP_KAFKA_LINGER_MS reaches librdkafka: a record with no company waits that long before it
    is sent, and an awaited produce returns only after the broker acknowledged it."""
    slow = AsyncProducer(kafka.model_copy(update={"linger_ms": 400}))
    quick = AsyncProducer(kafka.model_copy(update={"linger_ms": 0}))
    try:
        for p in (slow, quick):  # metadata and the idempotent producer id, before timing
            await p.produce(kafka.topic, b"k", b"warm")
        took = {}
        for name, p in (("slow", slow), ("quick", quick)):
            t0 = time.monotonic()
            await p.produce(kafka.topic, b"k", name.encode())
            took[name] = time.monotonic() - t0
        assert took["slow"] >= 0.38, took
        assert took["quick"] < took["slow"] - 0.2, took
        assert _records(kafka) == 4
    finally:
        slow.close()
        quick.close()
