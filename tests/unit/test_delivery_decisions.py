from __future__ import annotations

import random

from core.breaker import CircuitBreaker
from core.delivery import Action, EndpointGate, HttpResult, decide

SCHEDULE = (5.0, 300.0)


def d(
    status: int | None, attempt: int = 1, error: str | None = None, retry_after: float | None = None
) -> Action:
    res = HttpResult(status, error, 1.0, retry_after=retry_after)
    return decide(attempt, res, SCHEDULE, random.Random(1), 0.2, 3600).action


def test_status_mapping() -> None:
    assert d(200) is Action.ACK and d(204) is Action.ACK
    assert d(500) is Action.RETRY and d(302) is Action.RETRY and d(None, error="timeout") is Action.RETRY
    assert d(410) is Action.DEAD
    assert d(None, error="refused_destination") is Action.DEAD


def test_last_attempt_goes_to_the_dead_letter_queue() -> None:
    assert d(500, attempt=2) is Action.RETRY
    assert d(500, attempt=3) is Action.DEAD


def test_410_disables_and_429_slows_down_with_retry_after() -> None:
    gone = decide(1, HttpResult(410, None, 1.0), SCHEDULE, random.Random(1), 0.2, 3600)
    assert gone.disable_reason
    slow = decide(1, HttpResult(429, None, 1.0, retry_after=60), SCHEDULE, random.Random(1), 0.2, 3600)
    assert slow.slow_down and slow.delay is not None and slow.delay >= 60


def test_gate_honours_pauses_and_says_when_it_is_crowded() -> None:
    gate = EndpointGate(2, None, CircuitBreaker(failure_threshold=2, cooldown_s=10))
    assert gate.admit(0) == 0 and gate.in_flight == 1
    gate.release(True, 1.0, pause_s=5)
    assert gate.admit(2.0) == 4.0  # the endpoint asked for a pause until 6.0
    assert gate.admit(6.1) == 0
    assert not gate.crowded()
    gate.waiting = gate.max_waiting  # as many queued for a slot as the worker allows
    assert gate.crowded()


def test_gate_opens_the_breaker_after_consecutive_failures() -> None:
    gate = EndpointGate(10, None, CircuitBreaker(failure_threshold=2, cooldown_s=10))
    for _ in range(2):
        assert gate.admit(0) == 0
        gate.release(False, 0)
    assert gate.admit(1) >= 0.5
    assert gate.admit(11) == 0  # half-open probe


def test_gate_rate_limit() -> None:
    gate = EndpointGate(100, 2.0, CircuitBreaker())
    assert gate.admit(0) == 0 and gate.admit(0) == 0
    assert 0 < gate.admit(0) <= 0.5


def test_a_crowded_endpoint_that_stopped_answering_gets_its_tasks_back_less_often() -> None:
    gate = EndpointGate(2, None, CircuitBreaker())
    assert gate.admit(10.0) == 0
    gate.release(True, 10.0)
    assert gate.park_for(10.5) == 1.0  # answering: come back soon
    assert gate.park_for(12.0) == 5.0  # nothing back for over a second: hanging
