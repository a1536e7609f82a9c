"""One HTTP attempt of a delivery task, as both of a delivery actor's paths make it: the work
queue's tasks (any order, many in flight) and an ordered webhook's lane (one at a time).

An attempt: sign and POST the event (adapters.http_delivery), decide what its result means
(core.delivery.decide), release the endpoint's gate (breaker, Retry-After pause), tell the pool
about a pause, count it, and disable a webhook that answered 410 or failed for days. What
follows (a retry on a wait queue, a dead letter, the next in a lane) is the caller's.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping

import orjson

from adapters import http_delivery, metrics
from adapters.attempt_log import AttemptLog
from adapters.pool_signals import PoolSignals
from adapters.repos import WebhookRepo
from core.delivery import Action, Decision, HttpResult, attempt_row, decide
from core.gates import EndpointGate, GateBook
from core.models import DeliveryTask, Webhook, utcnow
from core.settings import DeliverySettings
from core.signing import request_headers

log = logging.getLogger(__name__)

STATS = ("success", "retry", "dead", "dropped", "parked", "errors", "in_flight")


class Attempts:
    def __init__(self, settings: DeliverySettings, book: GateBook, signals: PoolSignals) -> None:
        self._settings = settings
        self._book = book
        self._signals = signals
        self._rng = random.Random()
        self.stats: dict[str, float] = dict.fromkeys(STATS, 0)

    def bind(self, http: http_delivery.Transport, log_: AttemptLog, webhooks: WebhookRepo) -> None:
        """The session's clients (a new session, new clients)."""
        self._http, self._log, self._webhooks = http, log_, webhooks

    async def attempt(
        self, task: DeliveryTask, webhook: Webhook, gate: EndpointGate, extra: Mapping[str, str] | None = None
    ) -> tuple[HttpResult, Decision]:
        """POST it once (the gate admitted it), and what that means."""
        result = await self._post(task, webhook, extra)
        decision = decide(
            task["attempt"],
            result,
            webhook.retry_schedule or self._settings.schedule,
            self._rng,
            self._settings.jitter,
            self._settings.max_retry_after_s,
        )
        ok = decision.action is Action.ACK
        pause = (result.retry_after or 1.0) if decision.slow_down else None
        gate.release(ok, time.time(), pause)
        if pause:
            await self._signals.paused(webhook.id, gate.paused_until)
        self.stats[decision.action.value] += 1
        metrics.delivery_attempt(decision.action.value, result.latency_ms / 1000, result.status, result.error)
        if ok:
            metrics.delivered(task["event"]["timestamp"])
        if decision.disable_reason:
            await self.disable(webhook, decision.disable_reason)
        elif not ok and gate.breaker.should_disable(time.time(), self._settings.disable_after_s):
            await self.disable(webhook, f"failing continuously for {self._settings.disable_after_s:.0f}s")
        return result, decision

    def record(
        self, task: DeliveryTask, result: HttpResult, decision: Decision, note: str | None = None
    ) -> None:
        row = attempt_row(task, result, decision, time.time())
        if "seq" in task:
            row["seq"] = task["seq"]
        if note:
            row["note"] = note
        self._log.add(row)

    def drop(self, task: DeliveryTask, why: str) -> None:
        self.record(task, HttpResult(None, why, 0.0), Decision(Action.DROP))
        self.stats["dropped"] += 1
        metrics.delivery_attempt("dropped", error=why)

    async def disable(self, webhook: Webhook, reason: str) -> None:
        log.warning("disabling webhook=%s org=%s reason=%s", webhook.id, webhook.org, reason)
        self._book.heard_disable(webhook.id, webhook.version + 1)  # what the write below makes
        await self._signals.disabled(webhook.id, webhook.version + 1)
        await self._webhooks.disable(webhook.id, reason)

    async def pause_lane(self, webhook: Webhook, reason: str) -> None:
        """An ordered webhook set to pause after a dead letter: its lane holds until resumed."""
        log.warning("pausing ordered webhook=%s org=%s reason=%s", webhook.id, webhook.org, reason)
        await self._webhooks.pause_ordered(webhook.id, reason)

    async def _post(
        self, task: DeliveryTask, webhook: Webhook, extra: Mapping[str, str] | None
    ) -> HttpResult:
        body = orjson.dumps(task["event"])
        keys = webhook.signing_keys(utcnow())
        custom = {**webhook.headers, **extra} if extra else webhook.headers
        headers = request_headers(task["delivery_id"], int(time.time()), body, keys, custom)
        return await self._http.post(webhook.url, body, headers, self._settings.response_excerpt_bytes)
