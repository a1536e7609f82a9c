from __future__ import annotations

import random

import pytest

from core.breaker import CircuitBreaker
from core.delivery import MAX_PARK_S, Action, EndpointGate, HttpResult, decide, pool_share, prune_signals
from core.retry import nearest_wait_step

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


def test_a_crowded_endpoint_that_answers_gets_its_tasks_back_soon() -> None:
    gate = EndpointGate(2, None, CircuitBreaker(), stall_timeout_s=15)
    for t in (10.0, 10.1, 10.2, 10.3):
        assert gate.admit(t) == 0
        gate.release(True, t + 0.01)
    assert gate.drain_rate(10.5) == pytest.approx(4 / 0.49, rel=0.01)
    gate.waiting = gate.max_waiting
    assert gate.park_for(10.5) == 1.0  # 4 ahead at ~8/s: half a second, and 1 s is the least
    assert gate.park_for(10.5, parks=5) == 1.0  # draining: no backoff for a task parked before
    assert gate.park_for(10.5, parks=5, backoff=True) == 32.0  # paused or open: backoff


def test_a_fresh_endpoint_is_not_taken_for_a_hanging_one() -> None:
    gate = EndpointGate(2, None, CircuitBreaker(), stall_timeout_s=15)
    assert gate.admit(100.0) == 0 and gate.admit(100.0) == 0
    gate.waiting = gate.max_waiting
    assert gate.drain_rate(100.5) is None
    assert gate.park_for(100.5) == 1.0


def test_a_hanging_endpoint_parks_its_overflow_for_as_long_as_it_needs() -> None:
    gate = EndpointGate(4, None, CircuitBreaker(), stall_timeout_s=15)
    for _ in range(4):
        assert gate.admit(0.0) == 0
    gate.waiting = gate.max_waiting  # 8 queued behind 4 calls that never come back
    assert gate.drain_rate(2.0) == pytest.approx(4 / 15)
    assert gate.park_for(2.0) == pytest.approx(12 / (4 / 15))  # 45 s: not every second
    assert gate.park_for(2.0, parks=20) == MAX_PARK_S


def test_each_park_of_the_same_task_at_least_doubles_the_wait() -> None:
    gate = EndpointGate(2, None, CircuitBreaker())
    assert [gate.park_for(0.0, parks) for parks in range(4)] == [1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize(
    ("cap", "pool", "shares"),
    [(32, 2, [16, 16]), (3, 2, [2, 1]), (1, 3, [1, 0, 0]), (10, 4, [3, 3, 2, 2])],
)
def test_a_cap_is_split_over_the_pool_without_overshoot(cap: int, pool: int, shares: list[int]) -> None:
    got = [pool_share(cap, pool, i) for i in range(pool)]
    assert got == shares and sum(got) == cap


def test_a_worker_without_a_share_always_finds_the_endpoint_crowded() -> None:
    assert EndpointGate(0, None, CircuitBreaker()).crowded()


@pytest.mark.parametrize(
    ("delay", "step"),
    [(0.2, 1), (1, 1), (3.9, 1), (4, 5), (29.5, 30), (45, 30), (120, 30), (250, 300), (1e6, 36000)],
)
def test_a_congestion_park_takes_one_wait_step(delay: float, step: float) -> None:
    assert nearest_wait_step(delay) == step


def test_signals_are_forgotten_once_they_no_longer_matter() -> None:
    paused = {"wh_ended": 99.0, "wh_pausing": 101.0}
    disabled = {"wh_caught_up": 3, "wh_behind": 5, "wh_gone": 2}
    versions = {"wh_caught_up": 3, "wh_behind": 4}
    prune_signals(paused, disabled, 100.0, versions.get)
    assert paused == {"wh_pausing": 101.0}
    assert disabled == {"wh_behind": 5}  # our snapshot still has it enabled at version 4
