"""Token bucket on an injected clock."""

from __future__ import annotations

import pytest

from core.ratelimit import TokenBucket


def test_burst_then_rate() -> None:
    b = TokenBucket(rate=10, burst=5)
    assert all(b.try_take(0) for _ in range(5))
    assert not b.try_take(0)
    assert b.wait_time(0) == pytest.approx(0.1)
    assert b.try_take(0.1) and not b.try_take(0.1)
    assert b.wait_time(0.1, n=3) == pytest.approx(0.3)
    assert b.try_take(10, n=5) and not b.try_take(10)  # refill is capped at the burst


def test_rate_over_a_long_run() -> None:
    b = TokenBucket(rate=100, burst=1)
    taken = sum(b.try_take(i / 1000) for i in range(10_000))  # 10 s polled every ms
    assert 999 <= taken <= 1002


def test_clock_going_back_grants_nothing() -> None:
    b = TokenBucket(rate=1, burst=1)
    assert b.try_take(100)
    assert not b.try_take(50) and not b.try_take(100.5)
    assert b.try_take(101)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=2).wait_time(0, n=3)
