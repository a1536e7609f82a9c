"""DeliveryWorker: consumes delivery tasks from RabbitMQ and calls the customers' webhooks.

A message holds one webhook's tasks (core.models.TaskBatch). Per task: resolve the webhook from
the local rule snapshot, take it through the endpoint's gate (core.admission: concurrency cap,
rate limit, circuit breaker, pauses), POST the event signed per Standard Webhooks; a failed
attempt's next one, or a task that cannot go now, is put on a wait queue, a last failure is
dead-lettered. The message is acked once every task of it is done that way, the wait-queue
writes confirmed: never before its outcome is safely recorded on the broker. This class wires
those pieces to RabbitMQ, MongoDB and Ray.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import orjson
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from adapters import http_delivery, metrics, rabbit
from adapters import mongo as mongo_clients
from adapters.attempt_log import AttemptLog
from adapters.dead_letters import DEAD_LETTERS
from adapters.lanes import LaneStore
from adapters.pool_signals import PoolSignals
from adapters.repos import WebhookRepo
from adapters.requeue import Requeue
from core.admission import Admission, Drop, Park, Refusal, before_gate
from core.delivery import Action, Later, parked, retried
from core.flow import Prefetch
from core.gates import EndpointGate, GateBook
from core.logsetup import configure_logging
from core.models import DeliveryTask, Webhook, tasks_of
from core.settings import DeliverySettings, MongoSettings, RabbitSettings
from core.ssrf import Guard

from .attempts import Attempts
from .lanes import Lanes
from .loop import SessionActor
from .process import normal_priority, tune_gc
from .snapshot import SnapshotFollower

log = logging.getLogger(__name__)

TICK_S = 1.0  # the session's housekeeping (gauges, signals to forget); rules arrive by themselves
# The prefetch is retuned as messages arrive, at most this often: message sizes change within a
# burst (one-task messages first, full ones a moment later), and a prefetch set for the first
# holds several times `tasks_in_hand` once the full ones come.
RETUNE_S = 0.1
PRUNE_EVERY_S = 30.0  # forget ended pauses and disables the snapshot has caught up with


class DeliveryWorker(SessionActor):
    stage = "delivery"

    def __init__(
        self,
        index: int,
        pool_size: int,
        rabbit_settings: RabbitSettings,
        mongo: MongoSettings,
        settings: DeliverySettings,
        rule_cache: str,
        snapshot_wait_s: float = 5.0,
        namespace: str | None = None,
    ) -> None:
        normal_priority()
        configure_logging("delivery")
        self.index = index
        self._rabbit = rabbit_settings
        self._mongo = mongo
        self._settings = settings
        self._guard = Guard(settings.ssrf_allowlist)
        self._follower = SnapshotFollower(rule_cache, snapshot_wait_s, namespace)
        self._book = GateBook.for_worker(settings, pool_size, index)
        self._admission = Admission(self._book, self._follower.get)
        self._signals = PoolSignals(
            f"{index}:{uuid.uuid4().hex[:8]}", self._book.heard_pause, self._book.heard_disable
        )
        self._inflight: set[asyncio.Task[None]] = set()
        self._retuned_at = 0.0
        self._qos: asyncio.Future[Any] | None = None  # a basic.qos on its way
        self._lanes: Lanes | None = None  # this session's ordered lanes
        self._tries = Attempts(settings, self._book, self._signals)
        self.stats = self._tries.stats
        self._start(stop_timeout_s=settings.total_timeout_s + 10)

    async def _session(self) -> None:
        mongo = mongo_clients.client(self._mongo, serverSelectionTimeoutMS=3000)
        db = mongo[self._mongo.database]
        s = self._settings
        self._attempts = AttemptLog(mongo, self._mongo.database, s.attempt_flush_s, s.attempt_batch)
        connection = await rabbit.connect(self._rabbit, f"edp-delivery-{self.index}")
        self._http = http_delivery.Transport(s, self._guard)
        self._tries.bind(self._http, self._attempts, WebhookRepo(db))
        following: asyncio.Task[None] | None = None
        lanes = self._lanes = None
        try:
            self._prefetch = Prefetch(s.tasks_in_hand, least=4, most=s.prefetch)
            channels = await rabbit.consumer_channels(connection, self._rabbit, self._prefetch.current)
            self._consume = channels.consume
            self._requeue = Requeue(channels.topology, self._rabbit, db[DEAD_LETTERS])
            await self._signals.open(channels.consume, self._rabbit)
            lane_channel = await connection.channel()
            lanes = self._lanes = Lanes(self._follower, self._book, self._tries, LaneStore(db), self._requeue)
            await lanes.open(lane_channel, self._rabbit, channels.topology.exchange)
            await self._follower.refresh()
            following = self._follower.follow()
            self._attempts.start()
            await lanes.follow()
            work = await channels.consume.get_queue(self._rabbit.queue)
            tune_gc()
            await work.consume(self._on_message)
            self._ready.set()
            log.info(
                "delivery=%d consuming queue=%s prefetch=%d", self.index, work.name, self._prefetch.current
            )
            due: dict[str, float] = {}
            while not self._stop.is_set() and not channels.closed.done():
                await asyncio.sleep(TICK_S)
                if channels.any_closed or lane_channel.is_closed:
                    # The broker closed a channel (not the connection): nothing would arrive on
                    # it again, yet the actor would look ready. A new session reopens both.
                    raise ConnectionError("rabbitmq channel closed")
                await self._tick(connection, due)
            if channels.closed.done() and not self._stop.is_set():
                raise ConnectionError("rabbitmq connection closed")
        finally:
            self._ready.clear()
            if following is not None:
                following.cancel()
            if lanes is not None:
                await lanes.close()  # before the connection: a lane must not be sent to after
            await connection.close()
            if self._inflight:
                await asyncio.wait(list(self._inflight), timeout=s.total_timeout_s)
            await self._http.close()
            await self._attempts.close()
            await mongo.close()

    async def _tick(self, connection: AbstractConnection, due: dict[str, float]) -> None:
        """The session's housekeeping between messages: rules, gauges, forgetting old signals."""
        now = time.time()
        if self._lanes is not None:
            await self._lanes.follow()
        self._retune(time.monotonic())
        metrics.delivery_state(in_flight=len(self._inflight), circuits_open=self._book.circuits_open())
        self._follower.report("delivery")
        if now >= due.get("prune", 0.0):
            due["prune"] = now + PRUNE_EVERY_S
            self._book.prune(now, self._follower.version_of)
        if self.index == 0 and now >= due.get("depth", 0.0):  # one reader is enough for the DLQ depth
            due["depth"] = now + 5.0
            depth = await metrics.queue_depth(connection, self._rabbit.dead_queue)
            if depth is not None:
                metrics.dead_letter_depth(depth)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.create_task(self._handle(message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    def _retune(self, now: float) -> None:
        """Ask the broker for the prefetch that keeps about `tasks_in_hand` tasks, if it changed."""
        if now - self._retuned_at < RETUNE_S or (self._qos is not None and not self._qos.done()):
            return
        self._retuned_at = now
        if (prefetch := self._prefetch.retune()) is not None:
            # basic.qos is a broker round trip: not in the message's own path.
            self._qos = asyncio.create_task(rabbit.set_prefetch(self._consume, prefetch))
            self._qos.add_done_callback(_log_qos_failure)

    # -- one message -----------------------------------------------------------------------
    async def _handle(self, message: AbstractIncomingMessage) -> None:
        tasks: list[DeliveryTask] = []
        try:
            tasks = tasks_of(orjson.loads(message.body))
            self._prefetch.received(len(tasks))
            self._retune(time.monotonic())
            self.stats["in_flight"] += len(tasks)
            later: Later = []  # what goes to a wait queue
            if len(tasks) == 1:
                await self._deliver(tasks[0], later)
            else:
                done = await asyncio.gather(*(self._deliver(t, later) for t in tasks), return_exceptions=True)
                failed = [r for r in done if isinstance(r, BaseException)]
                if failed:
                    raise failed[0]
            if later:
                await self._requeue.later(later)
            await message.ack()  # every task of it delivered, on a wait queue or dead-lettered
        except Exception as exc:
            # Leave it unacked-then-requeued: the broker hands it out again, every task of it.
            self.stats["errors"] += 1
            if message.channel.is_closed:
                # The connection is gone: the broker requeues every unacked message by itself,
                # and the session restarts. One line, not a traceback per in-flight message.
                log.warning(
                    "delivery=%d channel closed, message left to the broker error=%r", self.index, exc
                )
                return
            log.exception("delivery=%d failed to handle message error=%r", self.index, exc)
            with contextlib.suppress(Exception):  # closed meanwhile: same as above
                await message.nack(requeue=True)
        finally:
            self.stats["in_flight"] -= len(tasks)

    async def _deliver(self, task: DeliveryTask, later: Later) -> None:
        webhook = self._follower.get(task["webhook_id"])
        refused: Refusal | None = before_gate(task, webhook, time.time(), self._book)
        if refused is None:
            assert webhook is not None
            refused = await self._admission.through(
                task, webhook, lambda wh, gate: self._attempt(task, wh, gate, later)
            )
        if isinstance(refused, Park):
            self.stats["parked"] += 1
            metrics.delivery_attempt("parked")
            later.append(
                (parked(task, refused.delay, time.time(), congested=refused.congested), refused.delay)
            )
        elif isinstance(refused, Drop):
            self._tries.drop(task, refused.reason)

    async def _attempt(self, task: DeliveryTask, webhook: Webhook, gate: EndpointGate, later: Later) -> None:
        result, decision = await self._tries.attempt(task, webhook, gate)
        self._tries.record(task, result, decision)
        if decision.action is Action.RETRY:
            assert decision.delay is not None
            later.append((retried(task, decision.delay, time.time()), decision.delay))
            metrics.retry_scheduled()
        elif decision.action is Action.DEAD:
            await self._requeue.dead(task, decision.reason)

    # -- Ray-facing ------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "ready": self._ready.is_set(),
            "rules_version": self._follower.snapshot.version,
            "lane_repeats": self._lanes.repeats if self._lanes is not None else 0,
            **self.stats,
        }


def _log_qos_failure(task: asyncio.Future[Any]) -> None:
    # A channel closing meanwhile: the session restarts and asks for a prefetch again.
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("prefetch change failed error=%r", exc)
