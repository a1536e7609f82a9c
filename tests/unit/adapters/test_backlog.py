"""The backlog watch's pace: fast while events arrive or work waits, slow on an idle platform."""

from __future__ import annotations

import asyncio

from adapters.backlog import BUSY_FOR_S, Backlog
from core.settings import RabbitSettings


def backlog() -> Backlog:
    return Backlog(RabbitSettings(), max_ready=8, max_wait_s=2.0, poll_s=0.05, idle_poll_s=0.25)


def test_an_idle_platform_reads_the_queue_slowly() -> None:
    b = backlog()
    assert b._next_poll_s(now=1000.0) == 0.25


def test_events_arriving_keep_the_fast_pace_until_a_second_after_the_last() -> None:
    b = backlog()
    assert asyncio.run(b.room()) == 0.0  # nothing started: never holds, but notes the event
    asked = b._asked_at
    assert b._next_poll_s(now=asked + 0.1) == 0.05
    assert b._next_poll_s(now=asked + BUSY_FOR_S + 0.01) == 0.25


def test_waiting_work_keeps_the_fast_pace_without_events() -> None:
    b = backlog()
    b._read(3)
    assert b._next_poll_s(now=1000.0) == 0.05


def test_the_idle_pace_is_never_faster_than_the_busy_one() -> None:
    b = Backlog(RabbitSettings(), max_ready=8, max_wait_s=2.0, poll_s=0.5, idle_poll_s=0.1)
    assert b.idle_poll_s == 0.5
