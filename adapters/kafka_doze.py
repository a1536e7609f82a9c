"""A filter's consumer that stops fetching while its partitions are quiet, and a doorbell that
wakes it.

The filter's consumer asks the broker for records every 10 ms (fetch.min.bytes 64 KiB,
fetch.wait.max.ms 10: under load a fetch is a batch, at a trickle it costs at most 10 ms). Kafka
has no "answer at the first record, then wait 10 ms for more", so an idle platform sends the
broker ~100 fetches a second per filter, for nothing. Waiting on events instead of a timer:

- after `doze_after_s` without a record, the consumer's partitions are paused (librdkafka sends
  no fetch for a paused partition) and a second consumer, the doorbell, is assigned the same
  partitions at the positions the first will read next. The doorbell long-polls: the broker
  answers it at the first byte or after `BELL_WAIT_MS`, so ~2 requests a second while idle;
- the doorbell's first record (or error) resumes the consumer, which reads from its own
  position: the doorbell's records are only a signal, never handed on, and it never commits.
  Nothing is read twice or skipped by the hand-over; the first record after a quiet spell
  waits one more fetch of the consumer (~10 ms; see `_nudge`);
- if the doorbell misses a record anyway (a broker restart can leave a partition unfetched,
  librdkafka#5153), the filter's stall check, which compares positions with the broker's high
  watermarks every few seconds, wakes the consumer (`wake_if_waiting`).

One thread at a time: every call comes from the filter's loop, one after another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_STORED, KafkaException, TopicPartition
from confluent_kafka import Consumer as _Consumer

from core.settings import KafkaSettings

from . import kafka_io

log = logging.getLogger(__name__)

BELL_WAIT_MS = 500  # the broker holds an idle doorbell fetch this long: 2 requests a second


def doorbell(settings: KafkaSettings, client_id: str) -> _Consumer:
    """The doorbell: the filter's consumer (same group, so an assignment at OFFSET_STORED starts
    at the group's committed offset; it never commits), answered at the first byte, fetching
    little."""
    return kafka_io.consumer(
        settings,
        f"{client_id}-doorbell",
        {
            "fetch.min.bytes": 1,
            "fetch.wait.max.ms": BELL_WAIT_MS,
            # One record is enough to ring: keep what a burst's first fetch brings small. (Not
            # queued.min.messages: a full local queue backs fetches off for a second.)
            "fetch.message.max.bytes": 4096,
            "queued.max.messages.kbytes": 256,
        },
    )


class Doze:
    def __init__(
        self, consumer: _Consumer, bell: _Consumer, topic: str, partitions: list[int], doze_after_s: float
    ) -> None:
        self.consumer = consumer
        self._bell = bell
        self._tps = [TopicPartition(topic, p) for p in partitions]
        self._after = doze_after_s
        self._last_record = time.monotonic()
        self.dozing = False
        # In the filter's status: quiet spells this session, and wakes by the stall check
        # because the doorbell did not ring.
        self.dozes = 0
        self.missed = 0

    def take(self, max_records: int, timeout_s: float) -> list[Any]:
        """`kafka_io.take` on the consumer; while dozing, wait on the doorbell instead."""
        if self.dozing:
            if self._bell.poll(timeout_s) is None:
                return []
            self.wake()  # a record or an error: either way the consumer looks for itself
        records = kafka_io.take(self.consumer, max_records, timeout_s)
        now = time.monotonic()
        if records:
            self._last_record = now
        elif self._after > 0 and now - self._last_record >= self._after:
            self._doze()
        return records

    def wake(self) -> None:
        if not self.dozing:
            return
        self.dozing = False
        self._bell.unassign()  # drops what it fetched: only the consumer's records count
        self.consumer.resume(self._tps)
        _nudge(self.consumer, self._tps[0])
        self._last_record = time.monotonic()

    def wake_if_waiting(self, next_offsets: Mapping[int, int], highs: Mapping[int, int]) -> bool:
        """The stall check's look (kafka_io.read_positions): records past the consumer's
        position while it dozes mean the doorbell missed them; wake. True if it woke."""
        if self.dozing and any(highs.get(p, -1) > o >= 0 for p, o in next_offsets.items()):
            log.info("records arrived while dozing and the doorbell did not ring: waking")
            self.missed += 1
            self.wake()
            return True
        return False

    def _doze(self) -> None:
        # Where the consumer will read next: its position once it has returned a record of a
        # partition, else where it started, the group's committed offset (it commits only what
        # it returned). The doorbell starts there too, so a record the consumer fetched after
        # its last empty poll (dropped by the pause, read again after the resume) rings it.
        starts = [
            TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_STORED)
            for tp in self.consumer.position(self._tps)
        ]
        self.consumer.pause(self._tps)
        self._bell.assign(starts)
        _nudge(self._bell, self._tps[0])
        self.dozing = True
        self.dozes += 1

    def close(self) -> None:
        self._bell.close()


def _nudge(consumer: _Consumer, tp: TopicPartition) -> None:
    """Make the consumer's broker thread look at its partitions now. librdkafka applies a
    resume or a new assignment when that thread next wakes, which while it has nothing to fetch
    is up to ~1 s later (measured: the first record after a resume took 0.5-1.0 s). A request
    to the same broker wakes it: with this the record comes with the next fetch, ~10 ms."""
    try:
        consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
    except KafkaException as exc:  # the broker is away: the thread finds the change itself
        log.debug("kafka nudge failed error=%s", exc)
