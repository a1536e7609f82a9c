"""confluent-kafka consumers and producers as the pipeline uses them.

The filter stage never lets the client commit on its own (`enable.auto.commit=false`) and
never uses the group protocol for assignment (`assign()`, not `subscribe()`): the supervisor
decides which actor owns which partition, and offsets are committed only once everything
derived from them is safely elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer as _Consumer
from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic

from core.errors import BrokerUnavailable
from core.settings import KafkaSettings

log = logging.getLogger(__name__)


def consumer(
    settings: KafkaSettings, client_id: str, overrides: Mapping[str, Any] | None = None
) -> _Consumer:
    """The filter's consumer; `overrides` adds or replaces librdkafka settings (tests: statistics)."""
    return _Consumer(
        {
            "bootstrap.servers": settings.bootstrap,
            "group.id": settings.consumer_group,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            # The broker answers a fetch once it has 64 KiB or 10 ms have passed: under load a
            # fetch is a batch, and at a trickle it costs at most 10 ms of latency. Measured
            # against answering at the first record (min 1 byte, 200 ms wait): that saved the
            # broker 2.7 % of a core per idle consumer but, at 300 events/s, made one fetch and
            # one RabbitMQ message per event where this makes one per ~3, and cost more CPU per
            # delivery in Kafka, RabbitMQ and the filter than it saved (README, Speed).
            "fetch.wait.max.ms": 10,
            "fetch.min.bytes": 65536,
            "queued.max.messages.kbytes": 32768,
            "on_commit": _committed,
            **(overrides or {}),
        }
    )


def assign(c: _Consumer, topic: str, partitions: Iterable[int]) -> None:
    # Without an explicit offset the consumer starts at the group's committed offset, else at
    # auto.offset.reset: exactly "resume where the last owner stopped".
    c.assign([TopicPartition(topic, p) for p in partitions])


def take(c: _Consumer, max_records: int, timeout_s: float) -> list[Message]:
    """What the consumer holds now, up to `max_records`, waiting up to `timeout_s` for the first.

    `Consumer.consume(n, timeout)` waits until it has n records or the timeout passes, so with a
    trickle of events every record would wait out the timeout (a latency floor of up to
    `timeout_s`). Here the wait ends with the first record, and the rest is what librdkafka has
    already fetched: batches are as large as the load makes them, latency stays a fetch.
    """
    first = c.poll(timeout_s)
    if first is None:
        return []
    return [first, *c.consume(max_records - 1, 0)] if max_records > 1 else [first]


def commit(c: _Consumer, topic: str, offsets: Mapping[int, int]) -> None:
    """Asynchronous on purpose: a synchronous commit in flight while the broker restarts can
    wait forever (confluent-kafka-python#1801; the chaos suite's Kafka restart froze a filter
    for good). Nothing is lost either way: only offsets of confirmed work are committed, and a
    commit that fails is superseded by the next one or, if the session ends first, replayed
    from the last committed offset (duplicates, never gaps). Failures are logged by `_committed`."""
    if not offsets:
        return
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=True)
    except KafkaException as exc:
        raise BrokerUnavailable(f"kafka commit: {exc}") from exc


def _committed(err: KafkaError | None, partitions: list[TopicPartition]) -> None:
    if err is not None:
        log.warning("kafka commit failed error=%s partitions=%s", err, [p.partition for p in partitions])


def committed(c: _Consumer, topic: str, partitions: Iterable[int], timeout: float = 10) -> dict[int, int]:
    tps = c.committed([TopicPartition(topic, p) for p in partitions], timeout=timeout)
    return {tp.partition: tp.offset for tp in tps}


def read_positions(
    c: _Consumer, topic: str, partitions: Iterable[int], timeout: float = 5.0
) -> tuple[dict[int, int], dict[int, int]]:
    """(next offset to read, broker's high watermark) per partition, for the stall watch.

    The next offset is the consumer's position once it has returned a record of that partition,
    else the group's committed offset, else the log start (auto.offset.reset=earliest). A
    partition the broker does not answer for has no high watermark, and the watch skips it:
    no answer is no verdict.
    """
    tps = [TopicPartition(topic, p) for p in partitions]
    nexts = {tp.partition: tp.offset for tp in c.position(tps) if tp.offset >= 0}
    marks: dict[int, tuple[int, int]] = {}
    for tp in tps:
        try:
            marks[tp.partition] = c.get_watermark_offsets(tp, timeout=timeout, cached=False)
        except KafkaException as exc:
            log.debug("watermarks unavailable partition=%d error=%s", tp.partition, exc)
    unread = [tp for tp in tps if tp.partition not in nexts and tp.partition in marks]
    if unread:
        try:
            for tp in c.committed(unread, timeout=timeout):
                if tp.error is None:
                    low = marks[tp.partition][0]
                    nexts[tp.partition] = max(tp.offset, low)  # none, or deleted: the log start
        except KafkaException as exc:
            log.debug("committed offsets unavailable error=%s", exc)
    return nexts, {p: high for p, (_low, high) in marks.items()}


def producer(settings: KafkaSettings, client_id: str, linger_ms: int = 5) -> Producer:
    return Producer(
        {
            "bootstrap.servers": settings.bootstrap,
            "client.id": client_id,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": linger_ms,
            "compression.type": "lz4",
            "message.timeout.ms": 30000,
        }
    )


class DeliveryTracker:
    """Collects per-message delivery reports so a batch can be checked after flush()."""

    def __init__(self) -> None:
        self.failed: list[KafkaError] = []

    def __call__(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self.failed.append(err)


def produce_all(p: Producer, records: Iterable[tuple[str, bytes | None, bytes]], timeout: float = 30) -> int:
    """Produce and wait until the broker acknowledged all of them (acks=all), else raise."""
    tracker = DeliveryTracker()
    n = 0
    for topic, key, value in records:
        while True:
            try:
                p.produce(topic, value=value, key=key, on_delivery=tracker)
                break
            except BufferError:
                p.poll(0.05)  # local queue full: let deliveries drain
        n += 1
    if n:
        remaining = p.flush(timeout)
        if remaining or tracker.failed:
            raise BrokerUnavailable(f"kafka produce: {remaining} unflushed, errors={tracker.failed[:3]}")
    return n


def ensure_topic(settings: KafkaSettings, topic: str | None = None, partitions: int | None = None) -> None:
    """Create the topic (or grow its partitions) so that it has at least the configured count."""
    name = topic or settings.topic
    want = partitions or settings.partitions
    admin = AdminClient({"bootstrap.servers": settings.bootstrap})
    meta = admin.list_topics(timeout=10)
    existing = meta.topics.get(name)
    if existing is None or existing.error is not None:
        fut = admin.create_topics([NewTopic(name, num_partitions=want, replication_factor=1)])[name]
        try:
            fut.result(15)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BrokerUnavailable(f"kafka create topic {name}: {exc}") from exc
    elif len(existing.partitions) < want:
        admin.create_partitions([NewPartitions(name, want)])[name].result(15)
