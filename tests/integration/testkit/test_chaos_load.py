"""The chaos suite's load generator keeps every event until Kafka acknowledged it: a producer
that cannot deliver (here: its broker address answers nothing, as a librdkafka producer stuck
after a broker restart behaves) is replaced, and its events go again through the new one."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from core.settings import KafkaSettings
from testkit.chaos.load import SteadyLoad

pytestmark = pytest.mark.services


@pytest.fixture
def kafka(kafka_topic: Callable[..., KafkaSettings]) -> KafkaSettings:
    return kafka_topic(partitions=2)


class _FirstProducerStuck(SteadyLoad):
    def _new_producer(self) -> Producer:
        if self.rebuilds == 0:  # nothing listens there: every record times out
            return Producer({"bootstrap.servers": "127.0.0.1:9", "message.timeout.ms": 1500})
        return super()._new_producer()


def _count(s: KafkaSettings) -> int:
    c = Consumer({"bootstrap.servers": s.bootstrap, "group.id": "test-load-count"})
    try:
        return sum(c.get_watermark_offsets(TopicPartition(s.topic, p), timeout=10)[1] for p in range(2))
    finally:
        c.close()


def test_events_of_a_producer_that_cannot_deliver_go_again_through_a_new_one(kafka: KafkaSettings) -> None:
    load = _FirstProducerStuck(kafka, rate=40, duration_s=1.0, orgs=["a", "b"], types=["T"])
    load.start()
    load.join(60)
    assert not load.is_alive()
    assert load.error is None
    assert load.rebuilds == 1
    assert len(load.produced()) == 40
    assert load.failed == 0
    assert _count(kafka) == 40  # the stuck producer wrote nothing; the new one wrote each once
