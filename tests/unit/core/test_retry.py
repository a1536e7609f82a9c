"""Retry schedule, Retry-After, the wait-queue ladder, and what each HTTP outcome means."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from core.retry import (
    DEFAULT_SCHEDULE,
    WAIT_LADDER_S,
    Outcome,
    next_delay,
    parse_retry_after,
    pick_wait_queue,
    verdict_for,
    wait_queue_name,
)


def test_default_schedule_gives_eight_attempts() -> None:
    rng = random.Random(1)
    delays = [next_delay(a, DEFAULT_SCHEDULE, None, rng, jitter=0) for a in range(1, 9)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    with pytest.raises(ValueError):
        next_delay(0, DEFAULT_SCHEDULE, None, rng)


def test_jitter_stays_in_bounds_and_varies() -> None:
    rng = random.Random(2)
    seen = {next_delay(2, DEFAULT_SCHEDULE, None, rng, jitter=0.2) for _ in range(200)}
    assert all(240 <= d <= 360 for d in seen if d is not None) and len(seen) > 100


def test_retry_after_wins_when_longer_and_is_clamped() -> None:
    rng = random.Random(3)
    assert next_delay(1, DEFAULT_SCHEDULE, 60, rng, jitter=0) == 60
    assert next_delay(2, DEFAULT_SCHEDULE, 60, rng, jitter=0) == 300  # shorter hint: schedule wins
    assert next_delay(1, DEFAULT_SCHEDULE, 10**9, rng, jitter=0, max_retry_after=3600) == 3600
    assert next_delay(1, DEFAULT_SCHEDULE, -5, rng, jitter=0) == 5
    assert next_delay(1, DEFAULT_SCHEDULE, float("inf"), rng, jitter=0) == 5
    assert next_delay(8, DEFAULT_SCHEDULE, 60, rng) is None  # no attempt left, whatever the hint


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    http_date = format_datetime(datetime.fromtimestamp(now + 120, UTC), usegmt=True)
    assert parse_retry_after("30", now) == 30
    assert parse_retry_after(" 0 ", now) == 0
    assert parse_retry_after(http_date, now) == pytest.approx(120)
    past = format_datetime(datetime.fromtimestamp(now - 120, UTC), usegmt=True)
    assert parse_retry_after(past, now) == 0
    for bad in (None, "", "-5", "1.5e3", "soon", "Wed, 99 Foo 2026 00:00:00 GMT", "٣"):
        assert parse_retry_after(bad, now) is None


@pytest.mark.parametrize(
    ("remaining", "expected"),
    [(0, None), (0.04, None), (0.06, 1), (0.9, 1), (1, 1), (4.9, 1), (5, 5), (299, 30), (301, 300),
     (7200, 7200), (10**6, 36000)],
)  # fmt: skip
def test_pick_wait_queue(remaining: float, expected: float | None) -> None:
    assert pick_wait_queue(remaining) == expected


def test_pick_wait_queue_never_overshoots_by_more_than_the_first_step() -> None:
    for tenth in range(1, 50_000):
        remaining = tenth / 10
        ttl = pick_wait_queue(remaining)
        assert ttl is not None and (ttl <= remaining or ttl == WAIT_LADDER_S[0])


def test_wait_queue_names() -> None:
    names = [wait_queue_name("deliveries.retry.", t) for t in WAIT_LADDER_S]
    assert names == [f"deliveries.retry.{s}" for s in ("1s", "5s", "30s", "5m", "30m", "2h", "5h", "10h")]
    assert wait_queue_name("deliveries.retry", 0.5) == "deliveries.retry.500ms"
    assert wait_queue_name("q.", 90) == "q.90s"
    with pytest.raises(ValueError):
        wait_queue_name("q.", 0)


@pytest.mark.parametrize(
    ("status", "error", "outcome", "slow"),
    [
        (200, None, Outcome.SUCCESS, False),
        (204, None, Outcome.SUCCESS, False),
        (299, None, Outcome.SUCCESS, False),
        (301, None, Outcome.RETRY, False),
        (400, None, Outcome.RETRY, False),
        (401, None, Outcome.RETRY, False),
        (404, None, Outcome.RETRY, False),
        (408, None, Outcome.RETRY, False),
        (410, None, Outcome.GONE, False),
        (429, None, Outcome.RETRY, True),
        (500, None, Outcome.RETRY, False),
        (502, None, Outcome.RETRY, True),
        (503, None, Outcome.RETRY, True),
        (504, None, Outcome.RETRY, True),
        (None, "timeout", Outcome.RETRY, False),
        (None, "connect", Outcome.RETRY, False),
        (None, None, Outcome.RETRY, False),
    ],
)
def test_verdict_for(status: int | None, error: str | None, outcome: Outcome, slow: bool) -> None:
    verdict = verdict_for(status, error)
    assert verdict.outcome is outcome and verdict.slow_down is slow
    got_outcome, got_slow = verdict  # unpacks
    assert (got_outcome, got_slow) == (outcome, slow)
