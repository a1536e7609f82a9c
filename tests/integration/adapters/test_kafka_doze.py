"""adapters.kafka_doze against a real broker: a quiet consumer stops fetching, its doorbell wakes
it for the next record, and no hand-over skips or repeats a record."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from adapters import kafka_io
from adapters.kafka_doze import Doze, doorbell
from core.settings import KafkaSettings

pytestmark = pytest.mark.services


@pytest.fixture
def settings(unique: str, kafka_topic: Callable[..., KafkaSettings]) -> KafkaSettings:
    return kafka_topic(partitions=2, consumer_group=f"test-doze-{unique}")


class FetchCount:
    """Fetch requests the consumer sent, from librdkafka's statistics (cumulative per broker)."""

    def __init__(self) -> None:
        self.fetches = 0

    def __call__(self, stats_json: str) -> None:
        stats = json.loads(stats_json)
        self.fetches = sum(
            b.get("req", {}).get("Fetch", 0)
            for name, b in stats["brokers"].items()
            if "bootstrap" not in name
        )


def _consumer(s: KafkaSettings, count: FetchCount) -> Any:
    # The filter's consumer, with statistics every 100 ms (served by poll).
    return kafka_io.consumer(s, "test-doze", {"statistics.interval.ms": 100, "stats_cb": count})


def _produce(s: KafkaSettings, partition: int, n: int = 1) -> None:
    p = kafka_io.producer(s, "test-doze", linger_ms=0)
    for i in range(n):
        p.produce(s.topic, value=b"r%d" % i, partition=partition)
    assert p.flush(15) == 0


def _take_until(doze: Doze, want: int, seconds: float) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        got += [m for m in doze.take(100, 0.05) if m.error() is None]
    return got


def test_a_quiet_consumer_stops_fetching_and_its_next_record_still_comes_at_once(
    settings: KafkaSettings,
) -> None:
    count = FetchCount()
    consumer = _consumer(settings, count)
    kafka_io.assign(consumer, settings.topic, [0, 1])
    doze = Doze(consumer, doorbell(settings, "test-doze"), settings.topic, [0, 1], doze_after_s=1.0)
    producer = kafka_io.producer(settings, "test-doze", linger_ms=0)
    try:
        _produce(settings, 0, 3)
        assert len(_take_until(doze, 3, 15)) == 3
        assert not doze.dozing

        awake_from = count.fetches
        started = time.monotonic()
        while not doze.dozing:
            assert doze.take(100, 0.05) == []
            assert time.monotonic() - started < 5, "never dozed"
        awake = (count.fetches - awake_from) / (time.monotonic() - started)

        def idle_for(seconds: float) -> None:
            until = time.monotonic() + seconds
            while time.monotonic() < until:
                assert doze.take(100, 0.05) == []
                consumer.poll(0)  # serves the statistics callback; its partitions are paused

        idle_for(0.5)  # the fetch in flight at the pause, and the statistics about it
        asleep_from = count.fetches
        idle_for(2.0)
        asleep = count.fetches - asleep_from
        print(f"fetches/s awake and idle {awake:.0f}; fetches in 2 s dozing {asleep}")
        assert awake >= 10  # every 10 ms on an idle broker (46-92 measured); fewer only when starved
        assert asleep == 0
        assert doze.dozing

        sent = time.monotonic()
        producer.produce(settings.topic, value=b"after", partition=1)
        producer.flush(15)
        got = _take_until(doze, 1, 10)
        took_ms = (time.monotonic() - sent) * 1000
        print(f"first record after the quiet spell: {took_ms:.0f} ms")
        assert [(m.partition(), m.offset()) for m in got] == [(1, 0)], got
        assert not doze.dozing
        assert took_ms < 2000  # the doorbell rang: a missed one waits for the stall check
    finally:
        doze.close()
        consumer.close()


def test_many_quiet_spells_neither_skip_nor_repeat_a_record(settings: KafkaSettings) -> None:
    """Records produced at random moments around the hand-overs, some in bursts: each offset
    of each partition is taken exactly once, in order."""
    consumer = kafka_io.consumer(settings, "test-doze")
    kafka_io.assign(consumer, settings.topic, [0, 1])
    doze = Doze(consumer, doorbell(settings, "test-doze"), settings.topic, [0, 1], doze_after_s=0.02)
    sent = {0: 0, 1: 0}
    rng = random.Random(7)

    def produce() -> None:
        p = kafka_io.producer(settings, "test-doze", linger_ms=0)
        for _ in range(60):
            partition, burst = rng.randrange(2), rng.choice([1, 1, 1, 5, 20])
            for _ in range(burst):
                p.produce(settings.topic, value=b"x", partition=partition)
                sent[partition] += 1
            p.flush(15)
            time.sleep(rng.choice([0.0, 0.01, 0.03, 0.08, 0.2]))

    producer = threading.Thread(target=produce)
    try:
        producer.start()
        got: dict[int, list[int]] = {0: [], 1: []}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for m in doze.take(100, 0.02):
                assert m.error() is None, m.error()
                got[m.partition()].append(m.offset())
            if not producer.is_alive() and all(len(got[p]) == sent[p] for p in got):
                break
        producer.join()
        print(f"sent {sent}, quiet spells {doze.dozes}, missed rings {doze.missed}")
        assert {p: len(o) for p, o in got.items()} == sent
        assert all(o == list(range(len(o))) for o in got.values()), "a record skipped or repeated"
        assert doze.dozes >= 10
    finally:
        doze.close()
        consumer.close()


def test_a_doorbell_that_misses_a_record_is_overruled_by_the_stall_check(settings: KafkaSettings) -> None:
    consumer = kafka_io.consumer(settings, "test-doze")
    kafka_io.assign(consumer, settings.topic, [0, 1])
    bell = doorbell(settings, "test-doze")
    doze = Doze(consumer, bell, settings.topic, [0, 1], doze_after_s=0.2)
    try:
        started = time.monotonic()
        while not doze.dozing and time.monotonic() - started < 5:
            doze.take(100, 0.05)
        assert doze.dozing
        bell.pause([TopicPartition(settings.topic, 0), TopicPartition(settings.topic, 1)])  # deaf
        _produce(settings, 0, 2)
        assert _take_until(doze, 1, 1.5) == []  # nobody rang

        nexts, highs = kafka_io.read_positions(consumer, settings.topic, [0, 1])
        assert doze.wake_if_waiting(nexts, highs)
        assert [m.offset() for m in _take_until(doze, 2, 10)] == [0, 1]
        assert doze.missed == 1
        assert not doze.wake_if_waiting(*kafka_io.read_positions(consumer, settings.topic, [0, 1]))
    finally:
        doze.close()
        consumer.close()
