"""The filter's stall watch against a real broker: `kafka_io.read_positions` + `PartitionWatch`
name the partition whose records wait unread (here: paused, as librdkafka#5153 leaves one after
a broker restart), and only that one."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition

from adapters import kafka_io
from core.progress import PartitionWatch
from core.settings import KafkaSettings

pytestmark = pytest.mark.services


@pytest.fixture
def settings(unique: str, kafka_topic: Callable[..., KafkaSettings]) -> KafkaSettings:
    return kafka_topic(partitions=3, consumer_group=f"test-stall-{unique}")


def _produce(s: KafkaSettings, per_partition: dict[int, int]) -> None:
    p = kafka_io.producer(s, "test-stall")
    for partition, n in per_partition.items():
        for i in range(n):
            p.produce(s.topic, value=b"x%d" % i, partition=partition)
    assert p.flush(15) == 0


def _drain(c: Consumer, seconds: float) -> int:
    got, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += len([m for m in c.consume(100, 0.2) if m.error() is None])
    return got


def test_positions_start_at_the_committed_offset_before_anything_is_read(settings: KafkaSettings) -> None:
    _produce(settings, {0: 5, 1: 3, 2: 0})
    c = kafka_io.consumer(settings, "test-stall")
    try:
        c.commit(offsets=[TopicPartition(settings.topic, 0, 2)], asynchronous=False)
        kafka_io.assign(c, settings.topic, [0, 1, 2])
        nexts, highs = kafka_io.read_positions(c, settings.topic, [0, 1, 2])
        # committed 2 in partition 0; nothing committed elsewhere: the log start.
        assert nexts == {0: 2, 1: 0, 2: 0}
        assert highs == {0: 5, 1: 3, 2: 0}
    finally:
        c.close()


def test_the_watch_names_the_partition_left_unread_and_clears_once_it_moves(settings: KafkaSettings) -> None:
    c = kafka_io.consumer(settings, "test-stall")
    try:
        kafka_io.assign(c, settings.topic, [0, 1, 2])
        c.pause([TopicPartition(settings.topic, 1)])
        _produce(settings, {0: 20, 1: 20, 2: 0})
        assert _drain(c, 2.0) == 20  # partition 0 only
        watch = PartitionWatch(timeout_s=1.0)
        first = kafka_io.read_positions(c, settings.topic, [0, 1, 2])
        assert watch.observe(time.monotonic(), *first) == {}
        time.sleep(1.2)
        _produce(settings, {0: 5})
        assert _drain(c, 1.0) == 5
        nexts, highs = kafka_io.read_positions(c, settings.topic, [0, 1, 2])
        stalled = watch.observe(time.monotonic(), nexts, highs)
        assert list(stalled) == [1], (nexts, highs)  # 0 moved, 2 has nothing to read
        assert (nexts[1], highs[1]) == (0, 20)

        c.resume([TopicPartition(settings.topic, 1)])
        assert _drain(c, 2.0) == 20
        assert watch.observe(time.monotonic(), *kafka_io.read_positions(c, settings.topic, [0, 1, 2])) == {}
    finally:
        c.close()
