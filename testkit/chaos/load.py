"""Constant load: a thread that produces events to Kafka at a steady rate for a fixed time.

Only events Kafka acknowledged (acks=all) are expected to be delivered. The load stands in for
producers that keep an event until it is acknowledged: an event whose delivery fails (Kafka
was down longer than the message timeout) is sent again, with the same id.

After a broker restart a librdkafka producer can stay stuck for good, with records that never
get an answer (confluentinc/librdkafka#4976 and relatives; in CI once for over four minutes),
whether idempotent or not. So a failed delivery also retires the producer: every event it still
holds goes again through a new one. The load measures the pipeline, not that client bug; the
number of rebuilds is reported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, Message, Producer

from core.ids import new_id
from core.models import Event, encode_event, rfc3339, utcnow
from core.settings import KafkaSettings

log = logging.getLogger(__name__)

MESSAGE_TIMEOUT_MS = 20_000  # then the event goes again, through a new producer
GIVE_UP_S = 240.0  # after the last event was first sent: the suite's per-test limit is 300 s


class SteadyLoad(threading.Thread):
    """Produces `rate` events per second for `duration_s`, on schedule (not as fast as it can):
    a late tick is caught up at once, so the count is exact and the rate holds on average."""

    def __init__(
        self,
        kafka: KafkaSettings,
        rate: float,
        duration_s: float,
        orgs: list[str],
        types: list[str],
        message_timeout_ms: int = MESSAGE_TIMEOUT_MS,
    ) -> None:
        super().__init__(name="chaos-load", daemon=True)
        self._kafka = kafka
        self._message_timeout_ms = message_timeout_ms
        self._rate = rate
        self._total = max(1, round(rate * duration_s))
        self._orgs = orgs
        self._types = types
        self._lock = threading.Lock()
        self.acked: dict[str, tuple[Event, float]] = {}  # event id -> (event, first sent at, epoch s)
        # event id -> (partition, offset) where Kafka first took it: the order it was accepted in
        self.offsets: dict[str, tuple[int, int]] = {}
        self._sent_at: dict[str, float] = {}
        self._unacked: dict[str, Event] = {}  # sent through the current producer, no answer yet
        self._generation = 0
        self._broken = False  # a delivery of the current producer failed
        self.rebuilds = 0
        self.failed = 0  # events given up on (never acknowledged)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._produce_all()
        except BaseException as exc:  # surfaced by the harness, never swallowed
            self.error = exc

    def _new_producer(self) -> Producer:
        return Producer(
            {
                "bootstrap.servers": self._kafka.bootstrap,
                "client.id": "edp-chaos-load",
                "acks": "all",
                # Not idempotent: a resent event has the same id, hence the same delivery ids, so
                # it can only add duplicates; and a fresh producer needs no producer id first.
                "enable.idempotence": False,
                "retries": 1_000_000,
                "linger.ms": 5,
                "message.timeout.ms": self._message_timeout_ms,
            }
        )

    def _produce_all(self) -> None:
        producer = self._new_producer()
        start = time.monotonic()
        for i in range(self._total):
            pause = start + i / self._rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            event: Event = {
                "id": new_id("evt"),
                "org": self._orgs[i % len(self._orgs)],
                "type": self._types[i % len(self._types)],
                "timestamp": rfc3339(utcnow()),
                "data": {"i": i},
            }
            self._send(producer, event)
            producer.poll(0)
            producer = self._replace_if_broken(producer)
        give_up = time.monotonic() + GIVE_UP_S
        while True:
            producer.flush(1.0)
            producer = self._replace_if_broken(producer)
            with self._lock:
                left = len(self._unacked)
            if not left:
                return
            if time.monotonic() > give_up:
                with self._lock:
                    self.failed = left
                raise RuntimeError(
                    f"{left} events never acknowledged by Kafka ({self.rebuilds} producers rebuilt)"
                )

    def _send(self, producer: Producer, event: Event) -> None:
        with self._lock:
            self._unacked[event["id"]] = event
            self._sent_at.setdefault(event["id"], time.time())
            generation = self._generation
        producer.produce(
            self._kafka.topic,
            encode_event(event),
            event["org"].encode(),
            on_delivery=self._on_delivery(event, generation),
        )

    def _replace_if_broken(self, producer: Producer) -> Producer:
        with self._lock:
            if not self._broken:
                return producer
            self._broken = False
            self._generation += 1  # answers from the old producer no longer count
            resend = list(self._unacked.values())
            self.rebuilds += 1
        log.warning("load producer failed a delivery: new producer, %d events sent again", len(resend))
        producer.purge()
        producer.flush(0)
        fresh = self._new_producer()
        for event in resend:
            self._send(fresh, event)
        return fresh

    def _on_delivery(self, event: Event, generation: int) -> Callable[[KafkaError | None, Message], None]:
        def done(err: KafkaError | None, msg: Message) -> None:
            with self._lock:
                if err is None:  # an older producer's record, answered late, is in Kafka too
                    self.offsets.setdefault(event["id"], (msg.partition() or 0, msg.offset() or 0))
                if generation != self._generation:
                    return
                if err is None:
                    self.acked[event["id"]] = (event, self._sent_at[event["id"]])
                    self._unacked.pop(event["id"], None)
                else:
                    self._broken = True

        return done

    def accepted_order(self, org: str) -> list[str]:
        """The org's event ids in the order Kafka took them (one partition: its offsets)."""
        with self._lock:
            mine = [
                (self.offsets[i], i)
                for i, (e, _) in self.acked.items()
                if e["org"] == org and i in self.offsets
            ]
        return [i for _, i in sorted(mine)]

    def produced(self) -> list[tuple[Event, float]]:
        with self._lock:
            return list(self.acked.values())
