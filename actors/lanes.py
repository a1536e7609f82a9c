"""A delivery actor's ordered lanes: one consumer on the lane of every webhook that has one, and
each lane's tasks delivered one at a time, in their sequence (core.ordering, docs/ordering.md).

The broker gives a lane to one of the pool's consumers at a time (single active consumer) and
one message at a time (prefetch 1 per consumer). A message's tasks go in sequence order; a
task repeated from before a crash (its number at or below the cursor) is skipped. A failed
attempt is retried here, on the webhook's own schedule, while the rest of the lane waits: never
through a wait queue, which would let later tasks overtake it. A pause the endpoint asked for,
an open breaker or a rate limit is waited out here too. The cursor is saved before the message
is acked, and before the next task starts, so after any crash the lane's new consumer repeats
at most the delivery in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from datetime import UTC, datetime

import orjson
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage

from adapters import rabbit
from adapters.lanes import LaneStore
from adapters.requeue import Requeue
from core.delivery import Action, Decision, HttpResult
from core.gates import GateBook
from core.models import DeliveryTask, Webhook, tasks_of
from core.ordering import PAUSE, Cursor, lane_queue
from core.settings import RabbitSettings

from .attempts import Attempts
from .snapshot import SnapshotFollower

log = logging.getLogger(__name__)

HOLD_S = 1.0  # a held lane (paused, gate closed) looks again this often
SKIPPED = "ordered: dead-lettered; the next delivery goes on (ordered_failure=skip)"
PAUSED = "ordered: dead-lettered; the lane holds until POST /v1/webhooks/{id}/resume"


class Lanes:
    def __init__(
        self,
        follower: SnapshotFollower,
        book: GateBook,
        tries: Attempts,
        store: LaneStore,
        requeue: Requeue,
    ) -> None:
        self._follower = follower
        self._book = book
        self._tries = tries
        self._store = store
        self._requeue = requeue
        self._cursors: dict[str, Cursor] = {}  # per lane, once loaded in this session
        self._consuming: dict[str, str] = {}  # lane webhook id -> consumer tag
        # Lanes this actor paused, by the version its write made: held at once, before the
        # snapshot shows the pause (a quarter second later), and until it shows it ended.
        self._held: dict[str, int] = {}
        self.repeats = 0  # tasks skipped as repeats from before a crash
        self._running: set[asyncio.Task[None]] = set()

    async def open(
        self, channel: AbstractChannel, settings: RabbitSettings, exchange: AbstractExchange
    ) -> None:
        self._channel, self._settings, self._exchange = channel, settings, exchange
        await channel.set_qos(prefetch_count=1)  # per consumer: one task's message in hand

    async def follow(self) -> None:
        """Consume every lane the snapshot knows of; stop consuming those of deleted webhooks."""
        wanted = self._follower.lanes
        for wid in wanted - self._consuming.keys():
            queue = await rabbit.declare_lane(self._channel, self._settings, self._exchange, wid)
            self._consuming[wid] = await queue.consume(functools.partial(self._spawn, wid))
        for wid in self._consuming.keys() - wanted:
            queue = await self._channel.get_queue(lane_queue(self._settings.queue, wid))
            await queue.cancel(self._consuming.pop(wid))
            self._cursors.pop(wid, None)

    async def _spawn(self, wid: str, message: AbstractIncomingMessage) -> None:
        task = asyncio.create_task(self._on_message(wid, message))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def close(self) -> None:
        """End every lane's work now (the session is ending): its message goes back to the head
        of its lane, for whichever consumer the broker picks next. Nothing of a lane may still
        be sent by this actor once another may have it."""
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.wait(list(self._running), timeout=5)

    async def _on_message(self, wid: str, message: AbstractIncomingMessage) -> None:
        try:
            cursor = self._cursors.get(wid)
            if cursor is None:
                cursor = self._cursors[wid] = await self._store.cursor(wid)
            for task in sorted(tasks_of(orjson.loads(message.body)), key=lambda t: t.get("seq", 0)):
                if cursor.is_repeat(task.get("seq", 0)):
                    self.repeats += 1
                    continue
                await self._deliver(wid, task, cursor)
            await message.ack()
        except Exception as exc:
            self._cursors.pop(wid, None)  # read it again: it may be ahead of what was saved
            if message.channel.is_closed:
                log.warning("lane=%s channel closed, message left to the broker error=%r", wid, exc)
                return
            log.exception("lane=%s failed, message back to the lane error=%r", wid, exc)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)  # back to the head of its lane

    async def _deliver(self, wid: str, task: DeliveryTask, cursor: Cursor) -> None:
        seq = task["seq"]
        task["attempt"] = cursor.attempts_made(seq) + 1
        if cursor.head_seq == seq and cursor.head_next_at is not None:
            await _until(cursor.head_next_at.timestamp())  # a retry a consumer before us set
        while True:
            webhook = await self._admitted(wid)
            if webhook is None:
                why = "webhook_gone" if self._follower.get(wid) is None else "webhook_disabled"
                self._tries.drop(task, why)
                return await self._done(wid, seq, cursor)
            result, decision = await self._tries.attempt(task, webhook, self._book.gate(webhook), _seq(seq))
            if decision.action is Action.ACK:
                self._tries.record(task, result, decision)
                return await self._done(wid, seq, cursor)
            if decision.action is Action.DEAD:
                return await self._dead(wid, task, webhook, result, decision.reason, cursor)
            assert decision.delay is not None  # RETRY: the lane waits for it
            self._tries.record(task, result, decision)
            next_at = time.time() + decision.delay
            cursor.failed(seq, task["attempt"], datetime.fromtimestamp(next_at, UTC))
            await self._store.save_cursor(wid, cursor)
            await _until(next_at)
            task["attempt"] += 1

    async def _admitted(self, wid: str) -> Webhook | None:
        """The webhook once its lane may send: not paused, its gate open. None: gone or disabled."""
        while True:
            webhook = self._follower.get(wid)
            if webhook is None or self._book.is_disabled(webhook):
                return None
            if not webhook.ordered_paused and self._held.get(wid, 0) <= webhook.version:
                wait = self._book.gate(webhook).admit(time.time())
                if wait <= 0:
                    return webhook
            else:
                wait = HOLD_S
            await asyncio.sleep(min(wait, HOLD_S))

    async def _dead(
        self, wid: str, task: DeliveryTask, webhook: Webhook, result: HttpResult, reason: str, cursor: Cursor
    ) -> None:
        pause = webhook.ordered_failure == PAUSE
        self._tries.record(task, result, Decision(Action.DEAD, reason=reason), PAUSED if pause else SKIPPED)
        await self._requeue.dead(task, reason)
        if pause:
            self._held[wid] = webhook.version + 1
            await self._tries.pause_lane(webhook, f"delivery {task['delivery_id']} dead-lettered: {reason}")
        await self._done(wid, task["seq"], cursor)

    async def _done(self, wid: str, seq: int, cursor: Cursor) -> None:
        cursor.done(seq)
        await self._store.save_cursor(wid, cursor)


def _seq(seq: int) -> dict[str, str]:
    """The position header: consecutive per webhook, so a receiver sees a gap or a repeat."""
    return {"webhook-sequence": str(seq)}


async def _until(at: float) -> None:
    delay = at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
