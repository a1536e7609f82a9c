"""The endpoint gate and the worker's book of gates (core/gates.py)."""

from __future__ import annotations

import pytest

from core.breaker import CircuitBreaker
from core.gates import FRESH_WAITING, MAX_PARK_S, EndpointGate, GateBook, pool_share, prune_signals
from core.models import Webhook
from core.settings import DeliverySettings


def test_gate_honours_pauses_and_says_when_it_is_crowded() -> None:
    gate = EndpointGate(2, None, CircuitBreaker(failure_threshold=2, cooldown_s=10))
    assert gate.admit(0) == 0 and gate.in_flight == 1
    gate.release(True, 1.0, pause_s=5)
    assert gate.admit(2.0) == 4.0  # the endpoint asked for a pause until 6.0
    assert gate.admit(6.1) == 0
    assert not gate.crowded(6.1)
    gate.waiting = gate.max_waiting  # more than a few queued behind a call out for 5 s: stalled
    assert gate.crowded(6.1)
    fresh = EndpointGate(2, None, CircuitBreaker())
    assert fresh.admit(10.0) == 0
    fresh.waiting = fresh.max_waiting  # no evidence yet: a new endpoint's first burst waits
    assert not fresh.crowded(10.2)
    fresh.waiting = FRESH_WAITING * fresh.max_waiting
    assert fresh.crowded(10.2)


def test_gate_opens_the_breaker_after_consecutive_failures() -> None:
    gate = EndpointGate(10, None, CircuitBreaker(failure_threshold=2, cooldown_s=10))
    for _ in range(2):
        assert gate.admit(0) == 0
        gate.release(False, 0)
    assert gate.admit(1) >= 2.0  # never waited in memory: parked (core.admission)
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
    assert EndpointGate(0, None, CircuitBreaker()).crowded(0.0)


def test_signals_are_forgotten_once_they_no_longer_matter() -> None:
    paused = {"wh_ended": 99.0, "wh_pausing": 101.0}
    disabled = {"wh_caught_up": 3, "wh_behind": 5, "wh_gone": 2}
    versions = {"wh_caught_up": 3, "wh_behind": 4}
    prune_signals(paused, disabled, 100.0, versions.get)
    assert paused == {"wh_pausing": 101.0}
    assert disabled == {"wh_behind": 5}  # our snapshot still has it enabled at version 4


def _webhook(**kw: object) -> Webhook:
    return Webhook(id="wh_1", org="o", url="http://example.com/h", event_types=("A",), **kw)  # type: ignore[arg-type]


def _book(pool: int = 2, index: int = 0) -> GateBook:
    return GateBook(pool, index, 32, breaker_failures=2, breaker_cooldown_s=10, stall_timeout_s=15)


def test_a_gate_is_rebuilt_when_the_limits_change_and_keeps_what_the_endpoint_taught() -> None:
    book = _book()
    gate = book.gate(_webhook())
    assert gate.concurrency == 16 and gate.bucket is None  # half of the default cap of 32
    assert book.gate(_webhook()) is gate  # same limits: the same gate
    for _ in range(2):
        assert gate.admit(0) == 0
        gate.release(False, 0)
    gate.paused_until = 30.0  # a 429 with Retry-After: 30
    rebuilt = book.gate(_webhook(max_concurrency=3, rate_limit=10))
    assert rebuilt is not gate
    assert (rebuilt.concurrency, rebuilt.bucket and rebuilt.bucket.rate) == (2, 5.0)  # index 0 of 2
    assert rebuilt.breaker is gate.breaker  # still open after two failures
    assert rebuilt.paused_until == gate.paused_until == 30
    assert rebuilt.slots is not gate.slots  # calls holding the old slots finish on them
    assert book.circuits_open() == 1


def test_what_other_workers_said_applies_at_once_and_across_a_rebuild() -> None:
    book = _book()
    gate = book.gate(_webhook())
    book.heard_pause("wh_1", 50.0)
    book.heard_pause("wh_1", 40.0)  # an older pause never shortens a newer one
    assert gate.paused_until == 50.0
    assert book.gate(_webhook(max_concurrency=4)).paused_until == 50.0
    assert not book.is_disabled(_webhook(version=3))
    book.heard_disable("wh_1", 4)
    assert book.is_disabled(_webhook(version=3))  # our snapshot has not seen the disable yet
    assert not book.is_disabled(_webhook(version=4))  # it has, and the webhook is enabled again
    assert book.is_disabled(_webhook(enabled=False))
    book.prune(60.0, {"wh_1": 4}.get)
    assert book.paused == {} and book.disabled == {}


def test_a_worker_gets_its_exact_share_of_the_pool() -> None:
    book = GateBook.for_worker(DeliverySettings(per_endpoint_concurrency=3), pool=2, index=1)
    assert book.gate(_webhook()).concurrency == 1
    assert book.gate(_webhook(max_concurrency=1)).crowded(0.0)  # worker 1 of 2 gets none of a cap of 1


def test_a_healthy_endpoints_backlog_waits_here_while_it_drains_within_two_seconds() -> None:
    gate = EndpointGate(4, None, CircuitBreaker(), stall_timeout_s=15)
    for i in range(40):  # 40 calls answered over 0.4 s: 100/s
        t = 10.0 + i * 0.01
        assert gate.admit(t) == 0
        gate.release(True, t + 0.005)
    now = 10.4
    gate.waiting = 190  # ~1.9 s of work at 100/s: waits here
    assert not gate.crowded(now)
    gate.waiting = 220  # 2.2 s: the next one is parked
    assert gate.crowded(now)


def test_a_stalled_endpoint_gets_no_more_than_a_few_waiting() -> None:
    gate = EndpointGate(2, None, CircuitBreaker(), stall_timeout_s=15)
    for t in (0.0, 0.1, 0.2, 0.3):
        assert gate.admit(t) == 0
        gate.release(True, t + 0.01)
    assert gate.admit(0.4) == 0 and gate.admit(0.4) == 0  # two calls that never come back
    gate.waiting = gate.max_waiting - 1
    assert not gate.crowded(2.0)  # a few queued behind the slots always wait
    gate.waiting = gate.max_waiting
    assert gate.stalled(2.0) and gate.crowded(2.0)


def test_the_book_gives_its_breakers_the_settings_failure_ratio_floor() -> None:
    book = GateBook(
        1, 0, 32, breaker_failures=100, breaker_cooldown_s=10, stall_timeout_s=15, breaker_min_requests=3
    )
    gate = book.gate(Webhook("wh_1", "o", "http://example.com/h", ("A",)))
    for _ in range(3):
        assert gate.admit(0) == 0
        gate.release(False, 0)
    assert gate.admit(0) > 0  # three results, all failed: the ratio opened it, not the count
