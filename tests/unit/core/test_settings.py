"""Settings that carry a rule of their own, not just a value."""

from __future__ import annotations

import pytest

from core.settings import RuleCacheSettings


def test_rule_cache_polls_fast_after_a_change_and_slowly_when_quiet() -> None:
    s = RuleCacheSettings(poll_interval_s=0.25, idle_poll_interval_s=1.0, idle_after_s=30.0)
    assert s.interval(quiet_s=0.0) == 0.25
    assert s.interval(quiet_s=29.9) == 0.25
    assert s.interval(quiet_s=30.0) == 1.0
    assert s.interval(quiet_s=3600.0) == 1.0


@pytest.mark.parametrize("fast, idle", [(2.0, 1.0), (0.5, 0.5)])
def test_a_quiet_cache_never_polls_faster_than_a_busy_one(fast: float, idle: float) -> None:
    s = RuleCacheSettings(poll_interval_s=fast, idle_poll_interval_s=idle, idle_after_s=0.0)
    assert s.interval(quiet_s=10.0) == fast
