"""`GET /v1/events/{id}` reads the event from Kafka itself: nothing is written per event to find it.

An event id made by the platform carries the time it was made (core.ids.id_time_ms), and the
API produced its record right after (the record's CreateTime; the backpressure wait is at most
`ApiSettings.backpressure_max_wait_s`). So the lookup asks the broker for the first offset at
that time (`offsets_for_times`) in the partition the org's key hashes to, then reads forward a
short window and picks the record by id. An id from an idempotency key is a hash with no time:
its caller passes the time of the event's first delivery attempt instead (the event is at most
`LOOKBACK_MS` before it). The ingest hot path pays nothing; a lookup reads the window's records
(≈ tens of ms at a thousand events a second). Events older than the topic's retention are gone.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import zlib
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from core.errors import BrokerUnavailable
from core.ids import id_time_ms
from core.models import Event
from core.settings import KafkaSettings

BEFORE_MS = 1_000  # the record's CreateTime is after the id's time; a margin for clock steps
AFTER_MS = 30_000  # backpressure (2 s), a producer rebuild and its retries, with room to spare
LOOKBACK_MS = 60_000  # from an event's first attempt back to when it was accepted
MAX_RECORDS = 200_000  # a lookup reads at most this many records per partition
PLAUSIBLE_PAST_MS = 400 * 24 * 3600 * 1000  # beyond any retention: a hash, not a time
POLL_S = 1.0


def predicted_partition(key: bytes, partitions: int) -> int:
    """Where librdkafka's default partitioner (consistent_random: CRC32 of the key) puts `key`."""
    return zlib.crc32(key) % partitions


def plausible_time(event_id: str, now_ms: int) -> int | None:
    """The id's creation time if it can be one (not the random "time" of a hashed id)."""
    t = id_time_ms(event_id)
    if t is None or not now_ms - PLAUSIBLE_PAST_MS <= t <= now_ms + 60_000:
        return None
    return t


class KafkaEventLookup:
    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings

    async def find(self, event_id: str, org: str, around_ms: int | None = None) -> Event | None:
        """The event as accepted, or None. `around_ms`: when the event was first attempted (for
        ids without a time); otherwise the id's own time is used."""
        if around_ms is not None:
            window = (around_ms - LOOKBACK_MS, around_ms + BEFORE_MS)
        else:
            t = plausible_time(event_id, int(time.time() * 1000))
            if t is None:
                return None
            window = (t - BEFORE_MS, t + AFTER_MS)
        return await asyncio.to_thread(self._find, event_id, org, window)

    def _find(self, event_id: str, org: str, window: tuple[int, int]) -> Event | None:
        topic = self._settings.topic
        consumer = Consumer(
            {
                "bootstrap.servers": self._settings.bootstrap,
                "group.id": f"edp-event-lookup-{uuid.uuid4().hex[:8]}",  # never commits: no group state
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 10,
            }
        )
        try:
            meta = consumer.list_topics(topic, timeout=5)
            count = len(meta.topics[topic].partitions) if topic in meta.topics else 0
            if count == 0:
                return None
            first = predicted_partition(org.encode(), count)
            for p in [first, *(q for q in range(count) if q != first)]:
                found = _scan(consumer, topic, p, window, event_id, org)
                if found is not None:
                    return found
            return None
        except KafkaException as exc:
            raise BrokerUnavailable(f"kafka: {exc}") from exc
        finally:
            consumer.close()


def _scan(
    consumer: Any, topic: str, partition: int, window: tuple[int, int], event_id: str, org: str
) -> Event | None:
    start, end = window
    (at,) = consumer.offsets_for_times([TopicPartition(topic, partition, start)], timeout=5)
    if at.offset < 0:  # no record at or after `start` in this partition
        return None
    consumer.assign([TopicPartition(topic, partition, at.offset)])
    needle = b'"id":"' + event_id.encode() + b'"'
    read = 0
    try:
        while read < MAX_RECORDS:
            batch = consumer.consume(500, POLL_S)
            if not batch:
                return None
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        return None
                    raise BrokerUnavailable(f"kafka: {err}")
                read += 1
                if msg.timestamp()[1] > end:
                    return None
                value = msg.value()
                if value and needle in value:
                    event = orjson.loads(value)
                    if event.get("id") == event_id and event.get("org") == org:
                        return event  # type: ignore[no-any-return]
        return None
    finally:
        consumer.unassign()
