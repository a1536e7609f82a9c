"""An asyncio face on `confluent_kafka.Producer`: await until the broker has acknowledged.

librdkafka batches and retries on its own threads; delivery callbacks are served by one
background poll thread of ours and hand the result to the event loop with
`call_soon_threadsafe`. A batch shares one future, so 500 events cost one loop wake-up,
not 500. With acks=all and idempotence on, an awaited `produce` means the event is durable
on the in-sync replicas and was written exactly once despite librdkafka's own retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from core.errors import BrokerUnavailable
from core.settings import KafkaSettings

log = logging.getLogger(__name__)

# librdkafka's default is 5 minutes; an HTTP client should get its 503 long before that.
DEFAULT_MESSAGE_TIMEOUT_MS = 10_000
_QUEUE_FULL_WAIT_S = 0.005


class _Pending:
    """Counts down the deliveries of one produce call; resolves its future once.

    Only the poll thread touches `remaining` (callbacks are served there, or by `flush` after
    the thread has stopped), so it needs no lock.
    """

    __slots__ = ("error", "future", "loop", "on_timeout", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int, on_timeout: Callable[[], None]) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.remaining = count
        self.error: KafkaError | None = None
        self.on_timeout = on_timeout

    def delivered(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None and self.error is None:
            self.error = err
            if err.code() == KafkaError._MSG_TIMED_OUT:
                self.on_timeout()
        self.remaining -= 1
        if self.remaining == 0:
            # RuntimeError: the loop has closed, so nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if self.future.done():  # cancelled: the client went away
            return
        if self.error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(BrokerUnavailable(f"kafka delivery failed: {self.error.str()}"))


class AsyncProducer:
    """`await produce(...)` returns once Kafka has the record on every in-sync replica.

    A librdkafka producer can stay stuck after a broker restart, its records never answered
    although the broker is back (confluentinc/librdkafka#4976 and relatives): every request
    would then get a 503 until the process restarts. So a record that timed out retires the
    producer: the next call goes through a new one (at most one new producer per
    `rebuild_interval_s`, so a long outage does not churn them), and the old one is polled
    until its last record is answered or timed out.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        message_timeout_ms: int = DEFAULT_MESSAGE_TIMEOUT_MS,
        overrides: Mapping[str, Any] | None = None,
        rebuild_interval_s: float = 5.0,
    ) -> None:
        conf: dict[str, Any] = {
            "bootstrap.servers": settings.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": settings.linger_ms,
            "message.timeout.ms": message_timeout_ms,
            "compression.type": "lz4",
            "client.id": "edp-api",
            "error_cb": self._on_error,
            "logger": log,  # librdkafka's own log lines go to logging, not raw stderr
        }
        conf.update(overrides or {})
        self._conf = conf
        self._message_timeout_s = float(conf["message.timeout.ms"]) / 1000
        self.rebuilds = 0
        self._producer = self._new_producer()
        self._retired: tuple[Producer, ...] = ()  # replaced, still answering their last records
        self._retire_lock = threading.Lock()
        self._timed_out = False
        self._rebuild_interval_s = rebuild_interval_s
        self._built_at = time.monotonic()
        self._closed = threading.Event()
        self._last_error_log = 0.0
        self._thread = threading.Thread(target=self._poll_forever, name="kafka-producer-poll", daemon=True)
        self._thread.start()

    def _new_producer(self) -> Producer:
        return Producer(self._conf)

    def _poll_forever(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)
            if self._retired:
                with self._retire_lock:
                    for old in self._retired:
                        old.poll(0)
                    self._retired = tuple(p for p in self._retired if len(p) > 0)

    def _record_timed_out(self) -> None:
        self._timed_out = True

    def _fresh_if_stuck(self) -> None:
        """On the event loop, before producing: replace a producer whose records time out."""
        if not self._timed_out or time.monotonic() - self._built_at < self._rebuild_interval_s:
            return
        self._timed_out = False
        old, self._producer = self._producer, self._new_producer()
        self._built_at = time.monotonic()
        with self._retire_lock:
            self._retired = (*self._retired, old)
        self.rebuilds += 1
        log.warning("kafka producer records timed out: new producer (%d so far)", self.rebuilds)

    def _on_error(self, err: KafkaError) -> None:
        # librdkafka repeats "all brokers down" every few seconds while it reconnects.
        now = time.monotonic()
        if now - self._last_error_log > 10:
            self._last_error_log = now
            log.warning("kafka producer error=%s", err.str())

    async def produce(self, topic: str, key: bytes, value: bytes) -> None:
        """Send one record and wait for the broker's acknowledgement.

        Raises:
            BrokerUnavailable: the record was not acknowledged within message.timeout.ms.
        """
        await self.produce_many(topic, ((key, value),))

    async def produce_many(self, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
        """Send every (key, value) record, then wait for all acknowledgements together."""
        if self._closed.is_set():
            raise BrokerUnavailable("kafka producer is closed")
        items = records if isinstance(records, list | tuple) else list(records)
        if not items:
            return
        self._fresh_if_stuck()
        pending = _Pending(asyncio.get_running_loop(), len(items), self._record_timed_out)
        deadline = time.monotonic() + self._message_timeout_s
        for key, value in items:
            while True:
                try:
                    self._producer.produce(topic, value, key, on_delivery=pending.delivered)
                    break
                except BufferError:
                    # The local queue is full: the poll thread drains it as the broker acks.
                    if time.monotonic() > deadline:
                        raise BrokerUnavailable("kafka producer queue stayed full") from None
                    await asyncio.sleep(_QUEUE_FULL_WAIT_S)
                except KafkaException as exc:
                    raise BrokerUnavailable(f"kafka produce failed: {exc}") from exc
        await pending.future

    def ping(self, topic: str, timeout_s: float = 2.0) -> None:
        """Fetch the topic's metadata (blocking). Raises BrokerUnavailable if Kafka does not answer."""
        try:
            meta = self._producer.list_topics(topic=topic, timeout=timeout_s)
        except KafkaException as exc:
            raise BrokerUnavailable(f"kafka metadata: {exc}") from exc
        info = meta.topics.get(topic)
        if info is None or info.error is not None:
            raise BrokerUnavailable(f"kafka topic {topic!r}: {info.error if info else 'missing'}")
        if not meta.brokers:
            raise BrokerUnavailable("kafka: no brokers in metadata")

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop polling and flush what is still queued (their futures resolve if loops still run)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._thread.join()
        for old in self._retired:
            old.flush(timeout_s)
        remaining = self._producer.flush(timeout_s)
        if remaining:
            log.warning("kafka producer closed with undelivered=%d", remaining)
