"""Kafka (KRaft, one node): idempotent produce, assign()-based consume, committed offsets."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from core.settings import KafkaSettings

pytestmark = pytest.mark.services

BOOTSTRAP = KafkaSettings().bootstrap


@pytest.fixture
def topic(unique: str) -> Iterator[str]:
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    name = f"test.services.{unique}"
    admin.create_topics([NewTopic(name, num_partitions=3)])[name].result(15)
    yield name
    admin.delete_topics([name])[name].result(15)


def _consumer(group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": BOOTSTRAP,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )


def _take(consumer: Consumer, count: int, timeout_s: float = 15.0) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=count - len(got), timeout=0.5):
            err = msg.error()
            assert err is None or err.code() == KafkaError._PARTITION_EOF, err
            if err is None:
                got.append(msg)
    return got


def _produce(topic: str, per_partition: dict[int, int]) -> None:
    delivered: list[tuple[int, int]] = []
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            errors.append(err)
        else:
            partition, offset = msg.partition(), msg.offset()
            assert partition is not None and offset is not None
            delivered.append((partition, offset))

    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": True})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(
                topic,
                value=f"p{partition}-{i}".encode(),
                key=b"k",
                partition=partition,
                on_delivery=on_delivery,
            )
    assert producer.flush(15) == 0
    assert errors == []
    # Idempotent producer, one partition each: offsets are dense and in send order.
    for partition, count in per_partition.items():
        assert sorted(o for p, o in delivered if p == partition) == list(range(count))


def test_produce_assign_commit_resume(topic: str, unique: str) -> None:
    _produce(topic, {0: 10, 1: 10, 2: 3})
    group = f"test-group-{unique}"

    first = _consumer(group)
    # assign(), never subscribe(): the platform pins partitions to owners itself.
    first.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
    msgs = _take(first, 20)
    assert {m.partition() for m in msgs} == {0, 1}
    assert [m.value() for m in msgs if m.partition() == 0] == [f"p0-{i}".encode() for i in range(10)]
    # Commit partition 0 half way only: the next owner must resume exactly there.
    first.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 10)], asynchronous=False)
    first.close()

    second = _consumer(group)
    committed = second.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    assert [tp.offset for tp in committed] == [5, 10]
    second.assign([TopicPartition(topic, 0)])
    resumed = _take(second, 5)
    assert [m.offset() for m in resumed] == [5, 6, 7, 8, 9]
    assert resumed[0].value() == b"p0-5"
    assert _take(second, 1, timeout_s=1.0) == []
    second.close()


def test_platform_topic_exists() -> None:
    settings = KafkaSettings()
    topics = AdminClient({"bootstrap.servers": BOOTSTRAP}).list_topics(timeout=10).topics
    assert settings.topic in topics
    assert len(topics[settings.topic].partitions) == settings.partitions
