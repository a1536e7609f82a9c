"""DeliveryWorker: consumes delivery tasks from RabbitMQ and calls the customers' webhooks.

Per message: resolve the webhook from the local rule snapshot, wait for the endpoint's gate
(concurrency cap, rate limit, circuit breaker), POST the event signed per Standard Webhooks,
then ack on 2xx, or publish the next attempt to a wait queue (confirmed) and only then ack,
or dead-letter. A message is never acked before its outcome is safely recorded on the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractIncomingMessage

from adapters import dead_letters, http_delivery, metrics, rabbit
from adapters import mongo as mongo_clients
from adapters.attempt_log import AttemptLog
from core.breaker import CircuitBreaker, State
from core.delivery import (
    Action,
    Decision,
    EndpointGate,
    HttpResult,
    decide,
    pool_share,
    prune_signals,
    utc,
)
from core.ids import new_id
from core.logsetup import configure_logging
from core.models import Attempt, DeliveryTask, Webhook, utcnow
from core.retry import nearest_wait_step, pick_wait_queue
from core.rules import RuleSnapshot
from core.settings import DeliverySettings, MongoSettings, RabbitSettings
from core.signing import headers as sign_headers
from core.ssrf import Guard

from .loop import run_sessions
from .priority import normal_priority
from .snapshot import SnapshotFollower

log = logging.getLogger(__name__)

UNKNOWN_WEBHOOK_GRACE_S = 10.0  # a webhook the filter just matched may not be in our snapshot yet
PRUNE_EVERY_S = 30.0  # forget ended pauses and disables the snapshot has caught up with


class DeliveryWorker:
    def __init__(
        self,
        index: int,
        pool_size: int,
        rabbit_settings: RabbitSettings,
        mongo: MongoSettings,
        settings: DeliverySettings,
        rule_cache: str,
        snapshot_poll_s: float = 0.25,
        namespace: str | None = None,
    ) -> None:
        normal_priority()
        configure_logging("delivery")
        self.index = index
        self._pool = max(1, pool_size)
        self._rabbit = rabbit_settings
        self._mongo = mongo
        self._settings = settings
        self._guard = Guard(settings.ssrf_allowlist)
        self._follower = SnapshotFollower(rule_cache, snapshot_poll_s, namespace)
        self._rng = random.Random()
        self._gates: dict[str, EndpointGate] = {}
        # What other delivery actors told us (rabbit.signals): endpoint pauses, and webhooks they
        # disabled, by the version the disable wrote, until our snapshot catches up.
        self._paused: dict[str, float] = {}
        self._disabled: dict[str, int] = {}
        self._me = f"{index}:{uuid.uuid4().hex[:8]}"
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self.stats: dict[str, float] = {
            "success": 0,
            "retry": 0,
            "dead": 0,
            "dropped": 0,
            "parked": 0,
            "errors": 0,
            "in_flight": 0,
        }
        self._thread = threading.Thread(target=self._run, name=f"delivery-{index}", daemon=True)
        self._thread.start()

    # -- lifecycle -------------------------------------------------------------------------
    def _run(self) -> None:
        run_sessions(self._session, self._stop, self._failed)

    def _failed(self, exc: Exception, backoff: float) -> None:
        # Unacked messages go back to the queue; the next session starts over.
        self.stats["errors"] += 1
        metrics.restarted("delivery")
        log.warning("delivery=%d failed, restarting in %.1fs error=%r", self.index, backoff, exc)
        self._ready.clear()

    async def _session(self) -> None:
        name = f"edp-delivery-{self.index}"
        mongo = mongo_clients.client(self._mongo, serverSelectionTimeoutMS=3000)
        self._webhooks = mongo[self._mongo.database]["webhooks"]
        self._dead = mongo[self._mongo.database][dead_letters.DEAD_LETTERS]
        attempts = AttemptLog(
            mongo, self._mongo.database, self._settings.attempt_flush_s, self._settings.attempt_batch
        )
        connection = await rabbit.connect(self._rabbit, name)
        http = http_delivery.session(self._settings, self._guard)
        closed = asyncio.get_running_loop().create_future()
        connection.close_callbacks.add(lambda *_: None if closed.done() else closed.set_result(None))
        try:
            publish_channel = await rabbit.confirm_channel(connection)
            self._topology = await rabbit.declare(publish_channel, self._rabbit)
            consume_channel = await connection.channel()
            await consume_channel.set_qos(prefetch_count=self._settings.prefetch)
            work = await consume_channel.get_queue(self._rabbit.queue)
            self._signal_exchange, signal_queue = await rabbit.signals(consume_channel, self._rabbit)
            await signal_queue.consume(self._on_signal, no_ack=True)
            await self._follower.refresh(force=True)
            self._http, self._attempts = http, attempts
            attempts.start()
            await work.consume(self._on_message)
            self._ready.set()
            log.info(
                "delivery=%d consuming queue=%s prefetch=%d",
                self.index,
                self._rabbit.queue,
                self._settings.prefetch,
            )
            due: dict[str, float] = {}
            while not self._stop.is_set() and not closed.done():
                await asyncio.sleep(self._follower.interval)
                if consume_channel.is_closed or publish_channel.is_closed:
                    # The broker closed a channel (not the connection): nothing would arrive on
                    # it again, yet the actor would look ready. A new session reopens both.
                    raise ConnectionError("rabbitmq channel closed")
                await self._tick(connection, due)
            if closed.done() and not self._stop.is_set():
                raise ConnectionError("rabbitmq connection closed")
        finally:
            self._ready.clear()
            await connection.close()
            if self._inflight:
                await asyncio.wait(list(self._inflight), timeout=self._settings.total_timeout_s)
            await http.close()
            await attempts.close()
            await mongo.close()

    async def _tick(self, connection: Any, due: dict[str, float]) -> None:
        """The session's housekeeping between messages: rules, gauges, forgetting old signals."""
        snapshot = await self._follower.refresh()
        now = time.time()
        open_ = sum(1 for g in self._gates.values() if g.breaker.state is State.OPEN)
        metrics.delivery_state(in_flight=len(self._inflight), circuits_open=open_)
        metrics.rules(
            "delivery",
            version=snapshot.version,
            refreshed_at=self._follower.refreshed_at,
            webhooks=len(snapshot),
        )
        if now >= due.get("prune", 0.0):
            due["prune"] = now + PRUNE_EVERY_S
            prune_signals(self._paused, self._disabled, now, _version_in(snapshot))
        if self.index == 0 and now >= due.get("depth", 0.0):  # one reader is enough for the DLQ depth
            due["depth"] = now + 5.0
            depth = await metrics.queue_depth(connection, self._rabbit.dead_queue)
            if depth is not None:
                metrics.dead_letter_depth(depth)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.create_task(self._handle(message))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    # -- one message -----------------------------------------------------------------------
    async def _handle(self, message: AbstractIncomingMessage) -> None:
        self.stats["in_flight"] += 1
        try:
            task: DeliveryTask = orjson.loads(message.body)
            await self._deliver(task)
            await message.ack()
        except Exception as exc:
            # Leave it unacked-then-requeued: the broker hands it out again.
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
            self.stats["in_flight"] -= 1

    async def _deliver(self, task: DeliveryTask) -> None:
        now = time.time()
        if task.get("not_before", 0) > now + 0.05:
            await self._park(task, task["not_before"] - now)
            return
        webhook = await self._webhook(task)
        if webhook is None:
            if now - task["first_attempt_at"] < UNKNOWN_WEBHOOK_GRACE_S:
                await self._park(task, 1.0)
            else:
                self._drop(task, None, "webhook_gone")
            return
        if self._is_disabled(webhook):
            self._drop(task, webhook, "webhook_disabled")
            return
        gate = self._gate(webhook)
        if gate.crowded():  # do not hold a prefetch slot for an endpoint that lags
            await self._hold_back(task, gate)
            return
        slots = self._slots[webhook.id]
        gate.waiting += 1
        try:
            await slots.acquire()
        finally:
            gate.waiting -= 1
        try:
            wait = gate.admit(time.time())
            while wait > 0:
                if wait > 1.0:  # paused, breaker open or rate-limited for a while: park it
                    await self._hold_back(task, gate, wait)
                    return
                await asyncio.sleep(wait)
                wait = gate.admit(time.time())
            # It may have waited a while: a disable since then (ours, another actor's, the API's)
            # must stop it, or a disabled endpoint keeps getting the calls that were queued.
            current = self._follower.snapshot.get(webhook.id) or webhook
            if self._is_disabled(current):
                gate.cancel()
                self._drop(task, current, "webhook_disabled")
                return
            await self._attempt(task, current, gate)
        finally:
            slots.release()

    async def _attempt(self, task: DeliveryTask, webhook: Webhook, gate: EndpointGate) -> None:
        result = await self._post(task, webhook)
        schedule = webhook.retry_schedule or self._settings.schedule
        decision = decide(
            task["attempt"],
            result,
            schedule,
            self._rng,
            self._settings.jitter,
            self._settings.max_retry_after_s,
        )
        ok = decision.action is Action.ACK
        pause = (result.retry_after or 1.0) if decision.slow_down else None
        gate.release(ok, time.time(), pause)
        if pause:
            await self._signal({"webhook_id": webhook.id, "paused_until": gate.paused_until})
        self._record(task, webhook, result, decision)
        self.stats[decision.action.value] += 1
        metrics.delivery_attempt(decision.action.value, result.latency_ms / 1000, result.status, result.error)
        if ok:
            metrics.delivered(task["event"]["timestamp"])
        if decision.action is Action.RETRY:
            assert decision.delay is not None
            await self._publish_next(task, decision.delay)
        elif decision.action is Action.DEAD:
            await self._dead_letter(task, decision.reason)
        if decision.disable_reason:
            await self._disable(webhook, decision.disable_reason)
        elif not ok and gate.breaker.should_disable(time.time(), self._settings.disable_after_s):
            await self._disable(webhook, f"failing continuously for {self._settings.disable_after_s:.0f}s")

    async def _post(self, task: DeliveryTask, webhook: Webhook) -> HttpResult:
        body = orjson.dumps(task["event"])
        signed = sign_headers(task["delivery_id"], int(time.time()), body, webhook.signing_keys(utcnow()))
        headers = http_delivery.signed_headers(signed, webhook.headers)
        return await http_delivery.post(
            self._http, self._guard, webhook.url, body, headers, self._settings.response_excerpt_bytes
        )

    def _drop(self, task: DeliveryTask, webhook: Webhook | None, why: str) -> None:
        self._record(task, webhook, HttpResult(None, why, 0.0), Decision(Action.DROP))
        self.stats["dropped"] += 1
        metrics.delivery_attempt("dropped", error=why)

    def _is_disabled(self, webhook: Webhook) -> bool:
        return not webhook.enabled or self._disabled.get(webhook.id, 0) > webhook.version

    # -- signals between the delivery actors ---------------------------------------------------
    async def _signal(self, doc: dict[str, Any]) -> None:
        body = orjson.dumps({**doc, "from": self._me})
        try:
            await self._signal_exchange.publish(aio_pika.Message(body), routing_key="")
        except Exception as exc:  # a hint: losing one costs a few extra calls, never a delivery
            log.warning("delivery=%d signal not sent error=%r", self.index, exc)

    async def _on_signal(self, message: AbstractIncomingMessage) -> None:
        try:
            doc = orjson.loads(message.body)
            if doc.get("from") == self._me:
                return
            wid = str(doc["webhook_id"])
            if "paused_until" in doc:
                until = float(doc["paused_until"])
                self._paused[wid] = max(self._paused.get(wid, 0.0), until)
                if (gate := self._gates.get(wid)) is not None:
                    gate.paused_until = max(gate.paused_until, until)
            if "disabled_version" in doc:
                self._disabled[wid] = max(self._disabled.get(wid, 0), int(doc["disabled_version"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("delivery=%d bad signal ignored error=%r", self.index, exc)

    async def _webhook(self, task: DeliveryTask) -> Webhook | None:
        wh = self._follower.snapshot.get(task["webhook_id"])
        if wh is None:
            await self._follower.refresh()
            wh = self._follower.snapshot.get(task["webhook_id"])
        return wh

    def _gate(self, webhook: Webhook) -> EndpointGate:
        gate = self._gates.get(webhook.id)
        rate = webhook.rate_limit / self._pool if webhook.rate_limit else None
        cap = webhook.max_concurrency or self._settings.per_endpoint_concurrency
        share = pool_share(cap, self._pool, self.index)
        if gate is None or (gate.bucket.rate if gate.bucket else None) != rate or gate.concurrency != share:
            breaker = (
                gate.breaker
                if gate
                else CircuitBreaker(
                    failure_threshold=self._settings.breaker_failures,
                    cooldown_s=self._settings.breaker_cooldown_s,
                )
            )
            # A pause the endpoint asked for holds across a rebuild, like its breaker.
            paused_until = max(self._paused.get(webhook.id, 0.0), gate.paused_until if gate else 0.0)
            gate = EndpointGate(share, rate, breaker, self._settings.total_timeout_s)
            gate.paused_until = paused_until
            self._gates[webhook.id] = gate
            # A changed cap gets a new semaphore; calls holding the old one finish on it.
            self._slots[webhook.id] = asyncio.Semaphore(max(1, share))
        return gate

    # -- broker writes (each confirmed before the message is acked) -------------------------
    async def _hold_back(self, task: DeliveryTask, gate: EndpointGate, wait: float = 0.0) -> None:
        """Park a task whose endpoint cannot take it now, for one wait-queue step: the exact due
        time does not matter here, and a step that is not on the ladder would cost several hops."""
        if gate.concurrency == 0:
            # Our share of a cap smaller than the pool is nothing, but the endpoint may be idle:
            # back in a second, likely to another actor, without the congestion backoff.
            await self._park(task, 1.0)
            return
        parks = task.get("parks", 0)
        delay = max(wait, gate.park_for(time.time(), parks, backoff=wait > 0))
        task["parks"] = parks + 1
        await self._park(task, nearest_wait_step(delay))

    async def _park(self, task: DeliveryTask, delay: float) -> None:
        self.stats["parked"] += 1
        metrics.delivery_attempt("parked")
        task["not_before"] = time.time() + delay
        await self._to_wait_queue(task, delay)

    async def _publish_next(self, task: DeliveryTask, delay: float) -> None:
        task["attempt"] += 1
        task.pop("parks", None)  # an attempt was made: congestion backoff starts over
        task["not_before"] = time.time() + delay
        await self._to_wait_queue(task, delay)
        metrics.retry_scheduled()

    async def _to_wait_queue(self, task: DeliveryTask, delay: float) -> None:
        ttl = pick_wait_queue(delay) or min(self._topology.wait_queues)
        queue = self._topology.wait_queues[ttl]
        msg = rabbit.message(orjson.dumps(task), task["delivery_id"])
        with metrics.publishing(1):
            await rabbit.publish_confirmed(self._topology.default_exchange, [(queue, msg)])

    async def _dead_letter(self, task: DeliveryTask, reason: str) -> None:
        headers: dict[str, object] = {
            "x-edp-reason": reason[:500],
            "x-edp-webhook": task["webhook_id"],
            "x-edp-dead-at": time.time(),
        }
        msg = rabbit.message(orjson.dumps(task), task["delivery_id"], headers)
        # Both before the ack: MongoDB is what replay reads, the queue is the operators' view.
        await dead_letters.record(self._dead, task, reason)
        with metrics.publishing(1):
            await rabbit.publish_confirmed(self._topology.default_exchange, [(self._rabbit.dead_queue, msg)])
        metrics.dead_lettered()

    async def _disable(self, webhook: Webhook, reason: str) -> None:
        log.warning("disabling webhook=%s org=%s reason=%s", webhook.id, webhook.org, reason)
        self._disabled[webhook.id] = webhook.version + 1  # what the update below writes
        await self._signal({"webhook_id": webhook.id, "disabled_version": webhook.version + 1})
        await self._webhooks.update_one(
            {"_id": webhook.id, "enabled": True},
            {
                "$set": {"enabled": False, "disabled_reason": reason, "updated_at": utcnow()},
                "$inc": {"version": 1},
            },
        )

    def _record(
        self, task: DeliveryTask, webhook: Webhook | None, result: HttpResult, decision: Decision
    ) -> None:
        next_at = utc(time.time() + decision.delay) if decision.delay is not None else None
        row: Attempt = {
            "_id": new_id("att"),
            "delivery_id": task["delivery_id"],
            "event_id": task["event"]["id"],
            "webhook_id": task["webhook_id"],
            "org": task["event"]["org"],
            "attempt": task["attempt"],
            "status_code": result.status,
            "outcome": decision.action.value,
            "error": result.error,
            "latency_ms": round(result.latency_ms, 3),
            "response_excerpt": result.excerpt,
            "at": utcnow(),
            "next_attempt_at": next_at,
        }
        self._attempts.add(row)

    # -- Ray-facing ------------------------------------------------------------------------
    def ready(self, timeout: float = 30) -> bool:
        return self._ready.wait(timeout)

    def status(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "ready": self._ready.is_set(),
            "rules_version": self._follower.snapshot.version,
            **self.stats,
        }

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._settings.total_timeout_s + 10)


def _version_in(snapshot: RuleSnapshot) -> Callable[[str], int | None]:
    def version(webhook_id: str) -> int | None:
        wh = snapshot.get(webhook_id)
        return None if wh is None else wh.version

    return version
