"""Admission: whether a delivery task goes to its endpoint now, waits a moment, or is parked.

A task goes when it is due, its webhook is known and enabled, the endpoint is not crowded, one
of the worker's slots for the endpoint is free and its gate admits it (no pause, breaker
closed or probing, a token in the bucket). A healthy endpoint's backlog waits here for its
slots (core.gates.EndpointGate.crowded); a wait of up to a second for a pause or a token is
waited here too. Anything longer, an endpoint that lags or stops answering while tasks wait,
parks the task on a wait queue for about as long as the endpoint needs, so it does not hold a
prefetch slot that other endpoints need. The decisions are pure;
the caller does the I/O (`Park` -> a wait queue, `Drop` -> an attempt row).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.gates import EndpointGate, GateBook
from core.models import DeliveryTask, Webhook
from core.retry import DUE_NOW_S, nearest_wait_step

UNKNOWN_WEBHOOK_GRACE_S = 10.0  # a webhook the filter just matched may not be in our snapshot yet
LONGEST_WAIT_HERE_S = 1.0  # longer than this for a pause, an open breaker or a token: park
SLOT_RECHECK_S = 1.0  # a task waiting for a slot looks again this often whether the endpoint hangs


@dataclass(frozen=True, slots=True)
class Park:
    """Put the task on a wait queue for `delay` seconds. `congested`: because of the endpoint
    (counts towards the task's backoff), rather than because the task is not due yet."""

    delay: float
    congested: bool = False


@dataclass(frozen=True, slots=True)
class Drop:
    """Do not deliver: the webhook is gone or disabled. Recorded, then acked."""

    reason: str
    webhook: Webhook | None


Refusal = Park | Drop


def before_gate(task: DeliveryTask, webhook: Webhook | None, now: float, book: GateBook) -> Refusal | None:
    """What can be decided before the endpoint's gate: not due yet, unknown, or disabled."""
    if task.get("not_before", 0) > now + DUE_NOW_S:
        return Park(task["not_before"] - now)
    if webhook is None:
        if now - task["first_attempt_at"] < UNKNOWN_WEBHOOK_GRACE_S:
            return Park(1.0)
        return Drop("webhook_gone", None)
    if book.is_disabled(webhook):
        return Drop("webhook_disabled", webhook)
    return None


def hold_back(gate: EndpointGate, task: DeliveryTask, now: float, wait: float = 0.0) -> Park:
    """Park a task whose endpoint cannot take it now, for one wait-queue step: the exact due
    time does not matter here, and a step that is not on the ladder would cost several hops."""
    if gate.concurrency == 0:
        # Our share of a cap smaller than the pool is nothing, but the endpoint may be idle:
        # back in a second, likely to another actor, without the congestion backoff.
        return Park(1.0)
    delay = max(wait, gate.park_for(now, task.get("parks", 0), backoff=wait > 0))
    return Park(nearest_wait_step(delay), congested=True)


Attempt = Callable[[Webhook, EndpointGate], Awaitable[None]]


class Admission:
    """Takes a task through its endpoint's gate and runs `attempt` while holding a slot.

    `current` gives the webhook as the worker's snapshot has it now: a task may wait for a slot
    a while, and a disable since then (ours, another worker's, the API's) must stop it, or a
    disabled endpoint keeps getting the calls that were queued.
    """

    def __init__(
        self,
        book: GateBook,
        current: Callable[[str], Webhook | None],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        recheck_s: float = SLOT_RECHECK_S,
    ) -> None:
        self._recheck_s = recheck_s
        self._book = book
        self._current = current
        self._clock = clock
        self._sleep = sleep

    async def through(self, task: DeliveryTask, webhook: Webhook, attempt: Attempt) -> Refusal | None:
        """None once `attempt` ran; a Park or Drop if it did not."""
        gate = self._book.gate(webhook)
        if gate.crowded(self._clock()):  # do not hold a prefetch slot for an endpoint that lags
            return hold_back(gate, task, self._clock())
        gate.waiting += 1
        try:
            while True:
                if not gate.slots.locked():  # a free slot: no timer, no task (the common case)
                    await gate.slots.acquire()
                    break
                try:
                    await asyncio.wait_for(gate.slots.acquire(), self._recheck_s)
                    break
                except TimeoutError:
                    # Waiting while the endpoint stopped answering: its calls will take the full
                    # timeout each, so this task goes to a wait queue rather than hold a slot
                    # of the prefetch for that long.
                    if gate.stalled(self._clock()):
                        return hold_back(gate, task, self._clock())
        finally:
            gate.waiting -= 1
        try:
            wait = gate.admit(self._clock())
            while wait > 0:
                if wait > LONGEST_WAIT_HERE_S:  # paused, breaker open or rate-limited a while
                    return hold_back(gate, task, self._clock(), wait)
                await self._sleep(wait)
                wait = gate.admit(self._clock())
            current = self._current(webhook.id) or webhook
            if self._book.is_disabled(current):
                gate.cancel()
                return Drop("webhook_disabled", current)
            await attempt(current, gate)
            return None
        finally:
            gate.slots.release()
