"""The delivery actor's prefetch follows the size of its messages (core/flow.py)."""

from __future__ import annotations

from core.flow import Prefetch


def test_full_messages_get_a_small_prefetch_and_a_trickle_a_large_one() -> None:
    p = Prefetch(tasks=128, least=4, most=256)
    assert p.current == 32  # until something was seen
    for _ in range(10):
        p.received(32)
    assert p.retune() == 4 and p.current == 4  # 4 messages of 32: about 128 tasks in hand
    grown = []
    for _ in range(12):
        for _ in range(10):
            p.received(1)
        if (n := p.retune()) is not None:
            grown.append(n)
    assert grown == [6, 9, 14, 21, 32, 48, 72, 108]  # a trickle: back up, slowly, to ~128


def test_bounds_and_no_churn_for_small_changes() -> None:
    p = Prefetch(tasks=128, least=8, most=64)
    assert p.current == 32
    for _ in range(8):
        p.received(100)
    assert p.retune() == 8  # never below `least`
    for _ in range(8):
        p.received(15)  # 128 / 15 = 9: within a quarter of 8
    assert p.retune() is None and p.current == 8
    for _ in range(3):
        p.received(1)
    assert p.retune() is None  # too few seen to judge
