"""Admission without Ray or a broker (core/admission.py): real asyncio, a clock of our own."""

from __future__ import annotations

import asyncio

import pytest

from core.admission import Admission, Drop, Park, before_gate, hold_back
from core.gates import FRESH_WAITING, EndpointGate, GateBook
from core.models import DeliveryTask, Webhook


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def task(**kw: object) -> DeliveryTask:
    t: DeliveryTask = {
        "delivery_id": "dlv_1",
        "event": {"id": "evt_1", "org": "o", "type": "A", "timestamp": "2026-12-01T00:00:00Z", "data": {}},
        "webhook_id": "wh_1",
        "attempt": 1,
        "first_attempt_at": 1000.0,
        "not_before": 0.0,
    }
    t.update(kw)  # type: ignore[typeddict-item]
    return t


def webhook(**kw: object) -> Webhook:
    return Webhook(id="wh_1", org="o", url="http://example.com/h", event_types=("A",), **kw)  # type: ignore[arg-type]


def book(pool: int = 1, cap: int = 2) -> GateBook:
    return GateBook(pool, 0, cap, breaker_failures=2, breaker_cooldown_s=10, stall_timeout_s=15)


def test_what_is_decided_before_the_gate() -> None:
    b = book()
    assert before_gate(task(not_before=1005.0), webhook(), 1000.0, b) == Park(5.0)
    assert before_gate(task(not_before=1000.04), webhook(), 1000.0, b) is None  # due within 50 ms
    assert before_gate(task(), None, 1005.0, b) == Park(1.0)  # the snapshot may not have it yet
    assert before_gate(task(), None, 1011.0, b) == Drop("webhook_gone", None)
    off = webhook(enabled=False)
    assert before_gate(task(), off, 1000.0, b) == Drop("webhook_disabled", off)


def test_a_worker_without_a_share_hands_the_task_back_in_a_second_without_backoff() -> None:
    assert hold_back(EndpointGate(0, None, book().gate(webhook()).breaker), task(parks=5), 0.0) == Park(1.0)


async def test_calls_wait_for_a_slot_and_never_exceed_the_cap() -> None:
    clock = Clock()
    b = book(cap=2)
    admission = Admission(b, lambda _id: None, clock, clock.sleep)
    in_flight, peak, release = 0, 0, asyncio.Event()

    async def attempt(_wh: Webhook, gate: EndpointGate) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await release.wait()
        in_flight -= 1
        gate.release(True, clock())

    runs = [asyncio.create_task(admission.through(task(), webhook(), attempt)) for _ in range(4)]
    await asyncio.sleep(0.01)
    gate = b.gate(webhook())
    assert (in_flight, gate.waiting) == (2, 2)  # two on the wire, two queued for a slot
    release.set()
    assert await asyncio.gather(*runs) == [None] * 4
    assert peak == 2 and gate.in_flight == 0


async def test_a_crowded_endpoint_parks_what_it_cannot_take_soon() -> None:
    clock = Clock()
    b = book(cap=1)
    gate = b.gate(webhook())
    gate.waiting = FRESH_WAITING * gate.max_waiting
    refused = await Admission(b, lambda _id: None, clock, clock.sleep).through(task(), webhook(), _never)
    assert refused == Park(1.0, congested=True)


async def test_a_short_wait_is_waited_and_a_long_one_parks() -> None:
    clock = Clock()
    b = book()
    admission = Admission(b, lambda _id: None, clock, clock.sleep)
    b.gate(webhook()).paused_until = clock.now + 0.5
    ran: list[str] = []

    async def attempt(wh: Webhook, gate: EndpointGate) -> None:
        ran.append(wh.id)
        gate.release(True, clock())

    assert await admission.through(task(), webhook(), attempt) is None
    assert ran == ["wh_1"] and clock.slept == [pytest.approx(0.5)]
    b.gate(webhook()).paused_until = clock.now + 30
    refused = await admission.through(task(), webhook(), attempt)
    assert isinstance(refused, Park) and refused.congested and refused.delay == 30  # a ladder step
    assert ran == ["wh_1"] and b.gate(webhook()).in_flight == 0


async def test_a_webhook_disabled_while_its_task_waited_is_not_called() -> None:
    clock = Clock()
    b = book()
    now_disabled = webhook(enabled=False, version=2)
    admission = Admission(b, lambda _id: now_disabled, clock, clock.sleep)
    assert await admission.through(task(), webhook(), _never) == Drop("webhook_disabled", now_disabled)
    assert b.gate(webhook()).in_flight == 0  # the admission was undone


async def test_a_task_waiting_for_a_slot_is_parked_once_the_endpoint_stops_answering() -> None:
    clock = Clock()
    b = book(cap=1)
    admission = Admission(b, lambda _id: None, clock, clock.sleep, recheck_s=0.01)
    hanging = asyncio.Event()

    async def hang(_wh: Webhook, _gate: EndpointGate) -> None:
        hanging.set()
        await asyncio.sleep(3600)

    stuck = asyncio.create_task(admission.through(task(), webhook(), hang))
    await hanging.wait()
    waiting = asyncio.create_task(admission.through(task(), webhook(), _never))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the endpoint is not known to hang yet: it waits
    clock.now += 2.0  # a call on the wire and nothing back for two seconds
    refused = await asyncio.wait_for(waiting, 1.0)
    assert isinstance(refused, Park) and refused.congested
    assert b.gate(webhook()).waiting == 0
    stuck.cancel()


async def _never(_wh: Webhook, _gate: EndpointGate) -> None:
    raise AssertionError("the endpoint must not be called")


def test_an_open_breaker_parks_even_when_its_cooldown_is_short() -> None:
    """A cooldown under admission's in-memory wait must still park: otherwise a failing
    endpoint's tasks take turns at the probe inside the worker and fill its prefetch."""
    clock = Clock()
    b = GateBook(1, 0, 32, breaker_failures=1, breaker_cooldown_s=0.5, stall_timeout_s=15)
    gate = b.gate(webhook())
    assert gate.admit(clock.now) == 0
    gate.release(False, clock.now)  # one failure opens it
    ran: list[str] = []

    async def attempt(wh: Webhook, g: EndpointGate) -> None:
        ran.append(wh.id)

    refused = asyncio.run(
        Admission(b, lambda _id: webhook(), clock, clock.sleep).through(task(), webhook(), attempt)
    )
    assert isinstance(refused, Park) and refused.congested  # to a wait queue, not held here
    assert ran == [] and clock.slept == []
