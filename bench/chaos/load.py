"""Constant load: a thread that produces events to Kafka at a steady rate for a fixed time.

Only events Kafka acknowledged (acks=all) are expected to be delivered. The producer's message
timeout is long on purpose, so an event produced while Kafka restarts waits and lands afterwards
rather than being given up on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaError, Message, Producer

from core.ids import new_id
from core.models import Event, encode_event, rfc3339, utcnow
from core.settings import KafkaSettings

MESSAGE_TIMEOUT_MS = 300_000


class SteadyLoad(threading.Thread):
    """Produces `rate` events per second for `duration_s`, on schedule (not as fast as it can):
    a late tick is caught up at once, so the count is exact and the rate holds on average."""

    def __init__(
        self, kafka: KafkaSettings, rate: float, duration_s: float, orgs: list[str], types: list[str]
    ) -> None:
        super().__init__(name="chaos-load", daemon=True)
        self._kafka = kafka
        self._rate = rate
        self._total = max(1, round(rate * duration_s))
        self._orgs = orgs
        self._types = types
        self._lock = threading.Lock()
        self.acked: dict[str, tuple[Event, float]] = {}  # event id -> (event, produced at, epoch s)
        self.failed = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._produce_all()
        except BaseException as exc:  # surfaced by the harness, never swallowed
            self.error = exc

    def _produce_all(self) -> None:
        producer = Producer(
            {
                "bootstrap.servers": self._kafka.bootstrap,
                "client.id": "edp-chaos-load",
                "acks": "all",
                # Not idempotent: once, an idempotent producer never resumed after a Kafka
                # restart (the load must measure the pipeline, not that). A resent event has
                # the same id, hence the same delivery ids: it can only add duplicates.
                "enable.idempotence": False,
                "retries": 1_000_000,
                "linger.ms": 5,
                "message.timeout.ms": MESSAGE_TIMEOUT_MS,
            }
        )
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
            producer.produce(
                self._kafka.topic,
                encode_event(event),
                event["org"].encode(),
                on_delivery=self._on_delivery(event, time.time()),
            )
            producer.poll(0)
        left = producer.flush(MESSAGE_TIMEOUT_MS / 1000 + 10)
        if left:
            raise RuntimeError(f"{left} events never acknowledged by Kafka")

    def _on_delivery(self, event: Event, produced_at: float) -> Callable[[KafkaError | None, Message], None]:
        def done(err: KafkaError | None, _msg: Message) -> None:
            with self._lock:
                if err is None:
                    self.acked[event["id"]] = (event, produced_at)
                else:
                    self.failed += 1

        return done

    def produced(self) -> list[tuple[Event, float]]:
        with self._lock:
            return list(self.acked.values())
