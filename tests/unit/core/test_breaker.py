"""Circuit breaker on an injected clock."""

from __future__ import annotations

import pytest

from core.breaker import CircuitBreaker, State


def state(b: CircuitBreaker) -> State:
    return b.state  # a call, so mypy does not narrow the state across asserts


def test_opens_after_consecutive_failures_then_half_opens_and_closes() -> None:
    b = CircuitBreaker(failure_threshold=3, cooldown_s=10, min_requests=100)
    for t in range(3):
        assert b.allow(t)
        b.record(False, t)
    assert state(b) is State.OPEN and not b.allow(5) and b.retry_in(5) == 7
    assert b.allow(12)  # the one probe
    assert state(b) is State.HALF_OPEN
    assert not b.allow(12.5) and b.retry_in(12.5) > 0
    b.record(True, 13)
    assert state(b) is State.CLOSED and b.allow(13) and b.retry_in(13) == 0
    assert b.failing_since is None


def test_failed_probe_reopens() -> None:
    b = CircuitBreaker(failure_threshold=1, cooldown_s=10, half_open_probes=2)
    b.record(False, 0)
    assert b.allow(10) and b.allow(10) and not b.allow(10)
    b.record(False, 11)
    assert state(b) is State.OPEN and not b.allow(20) and b.allow(21)


def test_lost_probes_do_not_wedge_it() -> None:
    b = CircuitBreaker(failure_threshold=1, cooldown_s=10)
    b.record(False, 0)
    assert b.allow(10) and not b.allow(15)
    assert b.allow(20)  # the first probe never reported back; a new one may go


def test_successes_reset_the_consecutive_count() -> None:
    b = CircuitBreaker(failure_threshold=3, min_requests=1000)
    for t in range(100):
        b.record(t % 3 != 0, t)
    assert state(b) is State.CLOSED


def test_failure_ratio_over_the_window() -> None:
    b = CircuitBreaker(failure_threshold=100, window_s=60, min_requests=10, failure_ratio=0.5)
    for i in range(9):
        b.record(i % 2 == 0, i)  # 4 failures of 9: under the minimum volume anyway
    assert state(b) is State.CLOSED
    b.record(False, 9)  # 5 of 10 fail
    assert state(b) is State.OPEN


def test_old_results_leave_the_window() -> None:
    b = CircuitBreaker(failure_threshold=100, window_s=60, min_requests=10, failure_ratio=0.5)
    for i in range(9):
        b.record(False, i)
    for i in range(10):
        b.record(True, 200 + i)  # the failures are out of the window by now
    b.record(False, 210)
    assert state(b) is State.CLOSED


def test_failing_since_tracks_the_unbroken_run() -> None:
    b = CircuitBreaker(failure_threshold=2, cooldown_s=1)
    b.record(False, 100)
    b.record(False, 101)
    b.record(False, 500)  # late result while open still counts for failing_since
    assert b.failing_since == 100
    assert b.should_disable(100 + 3600, 3600) and not b.should_disable(100 + 3599, 3600)
    b.record(True, 600)
    assert b.failing_since is None and not b.should_disable(10**9, 1)


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker(failure_ratio=0)
