"""Backpressure for ingest: how much delivery work already waits in the broker.

Ingest needs far less CPU per event than delivering it, so on a machine shared by both (and in
any closed loop of producers) accepting as fast as possible only grows a backlog that every
later event then waits behind: seconds of end-to-end latency, all of it queueing. The API reads
the work queue's ready messages (every delivery actor's prefetch already full) over AMQP (a
passive declare: no message is touched): every `poll_s` while events arrive or any wait, every
`idle_poll_s` while neither (an idle platform should not ask 20 times a second, and a burst is
seen within one slow poll, before it can build a backlog). While more than `max_ready` wait it
holds new events for up to `max_wait_s` before accepting them. Producers slow to what the
delivery side drains; at a normal load nothing waits and nothing changes. If the broker cannot
be read, nothing is held (ingest must not depend on RabbitMQ being up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aio_pika.abc import AbstractConnection

from adapters import rabbit
from core.settings import RabbitSettings

log = logging.getLogger(__name__)

RETRY_S = 1.0  # after the broker could not be read, try again this soon
CLOSE_S = 0.5
BUSY_FOR_S = 1.0  # after the last event this long, the queue is read at the fast pace


class Backlog:
    def __init__(
        self, settings: RabbitSettings, max_ready: int, max_wait_s: float, poll_s: float, idle_poll_s: float
    ) -> None:
        self._settings = settings
        self.max_ready = max_ready
        self.max_wait_s = max_wait_s
        self.poll_s = poll_s
        self.idle_poll_s = max(idle_poll_s, poll_s)
        self._asked_at = 0.0  # monotonic time of the last `room()`: an event arrived
        self.ready = 0  # ready messages in the work queue at the last reading
        self.held_s = 0.0  # time events were held, in all (a counter for the metrics)
        self._task: asyncio.Task[None] | None = None
        self._room: asyncio.Event | None = None  # set while the backlog is within its bound
        self._closing = False

    @property
    def enabled(self) -> bool:
        return self.max_ready > 0

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._room = asyncio.Event()
            self._room.set()
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="backlog")

    def _read(self, ready: int) -> None:
        self.ready = ready
        if self._room is not None:
            if ready <= self.max_ready:
                self._room.set()
            else:
                self._room.clear()

    async def room(self) -> float:
        """Wait while the backlog is over its bound, up to `max_wait_s`; the seconds waited."""
        self._asked_at = time.monotonic()
        if self._room is None or self._room.is_set():
            return 0.0
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._room.wait(), self.max_wait_s)
        waited = time.monotonic() - started
        self.held_s += waited
        return waited

    def _next_poll_s(self, now: float) -> float:
        busy = self.ready > 0 or now - self._asked_at < BUSY_FOR_S
        return self.poll_s if busy else self.idle_poll_s

    async def _watch(self) -> None:
        connection: AbstractConnection | None = None
        try:
            while not self._closing:
                try:
                    if connection is None or connection.is_closed:
                        connection = await rabbit.connect(self._settings, "edp-api-backlog")
                    channel = await connection.channel()
                    while not channel.is_closed and not self._closing:
                        queue = await channel.declare_queue(self._settings.queue, passive=True)
                        self._read(int(queue.declaration_result.message_count or 0))
                        await asyncio.sleep(self._next_poll_s(time.monotonic()))
                except Exception as exc:  # no queue yet, broker down: hold nothing, look again soon
                    self._read(0)
                    log.debug("work queue depth unavailable error=%r", exc)
                    await asyncio.sleep(RETRY_S)
        finally:
            if connection is not None and not connection.is_closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), CLOSE_S)

    async def close(self) -> None:
        if self._task is not None:
            # A flag as well as the cancel: a cancel that lands while aio-pika's connect is
            # finishing can be swallowed (asyncio.wait_for in Python 3.11), and the loop must end.
            self._closing = True
            self._task.cancel()
            # Bounded: a broker that stopped answering must not hold the API's shutdown.
            await asyncio.wait({self._task}, timeout=2 * CLOSE_S)
            self._task = None
