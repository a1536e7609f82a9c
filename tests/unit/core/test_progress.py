"""The filter's stall watch (core.progress): which partitions count as stuck, and when."""

from __future__ import annotations

from core.progress import PartitionWatch


def test_a_partition_with_records_waiting_and_no_movement_is_stalled_after_the_timeout() -> None:
    w = PartitionWatch(timeout_s=30)
    assert w.observe(0.0, {0: 10}, {0: 50}) == {}
    assert w.observe(29.9, {0: 10}, {0: 50}) == {}
    assert w.observe(30.0, {0: 10}, {0: 50}) == {0: 30.0}


def test_movement_restarts_the_clock() -> None:
    w = PartitionWatch(timeout_s=30)
    w.observe(0.0, {0: 10}, {0: 50})
    assert w.observe(25.0, {0: 11}, {0: 50}) == {}
    assert w.observe(50.0, {0: 11}, {0: 50}) == {}
    assert w.observe(55.0, {0: 11}, {0: 50}) == {0: 30.0}


def test_an_idle_partition_that_is_caught_up_is_never_stalled() -> None:
    w = PartitionWatch(timeout_s=30)
    for t in range(0, 300, 10):
        assert w.observe(float(t), {0: 50}, {0: 50}) == {}


def test_the_clock_starts_when_records_appear_not_at_the_last_movement() -> None:
    w = PartitionWatch(timeout_s=30)
    w.observe(0.0, {0: 50}, {0: 50})
    w.observe(100.0, {0: 50}, {0: 50})  # idle for 100 s, caught up
    assert w.observe(110.0, {0: 50}, {0: 60}) == {}  # records since the last look
    assert w.observe(130.0, {0: 50}, {0: 60}) == {0: 30.0}


def test_only_the_stuck_partition_is_named() -> None:
    w = PartitionWatch(timeout_s=10)
    w.observe(0.0, {0: 5, 1: 5, 2: 5}, {0: 9, 1: 9, 2: 5})
    assert w.observe(10.0, {0: 9, 1: 5, 2: 5}, {0: 12, 1: 12, 2: 5}) == {1: 10.0}


def test_an_unanswered_look_is_no_verdict_and_keeps_the_clock() -> None:
    w = PartitionWatch(timeout_s=10)
    w.observe(0.0, {0: 5}, {0: 9})
    assert w.observe(5.0, {0: 5}, {}) == {}  # the broker did not answer
    assert w.observe(10.0, {0: 5}, {0: 9}) == {0: 10.0}


def test_an_unknown_position_is_skipped() -> None:
    w = PartitionWatch(timeout_s=10)
    assert w.observe(0.0, {0: -1001}, {0: 9}) == {}
    assert w.observe(20.0, {0: -1001}, {0: 9}) == {}
    assert w.observe(21.0, {0: 5}, {0: 9}) == {}  # the first look at a known position
