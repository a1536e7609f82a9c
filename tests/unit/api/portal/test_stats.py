"""The overview's figures and the endpoint state it reports, from attempt rows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from api.portal.stats import by_endpoint, endpoint_state, endpoint_stats, percentile
from core.models import Webhook

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WH = Webhook(id="wh_1", org="org_a", url="https://example.com/", event_types=("*",))
LIMITS: dict[str, Any] = {"breaker_failures": 5, "breaker_cooldown_s": 30.0, "max_retry_after_s": 3600.0}


def row(
    ago_s: float, outcome: str = "success", status: int | None = 200, latency: float = 10.0
) -> dict[str, Any]:
    return {
        "webhook_id": "wh_1",
        "at": NOW - timedelta(seconds=ago_s),
        "outcome": outcome,
        "status_code": status,
        "latency_ms": latency,
    }


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50 and percentile(values, 0.99) == 99
    assert percentile([7.0], 0.99) == 7.0 and percentile([], 0.5) is None


def test_counts_rate_latency_and_hourly_buckets() -> None:
    rows = [row(60 * i, latency=float(i)) for i in range(1, 61)]  # one a minute for the last hour
    rows += [row(3 * 3600, "retry", 503), row(3 * 3600 + 1, "dead", 500), row(2 * 86400)]  # last too old
    rows.append(row(10, "dropped", None))  # made no call: not counted
    stats = endpoint_stats(rows, NOW)
    assert (stats.last_hour, stats.last_day) == (60, 62)
    assert stats.success_rate == 60 / 62
    assert stats.p50_ms == 29.0 and stats.p99_ms == 60.0  # 1..60 and two 10s: the 31st is 29
    assert len(stats.hourly) == 24 and sum(ok + bad for ok, bad in stats.hourly) == 62
    assert stats.hourly[-1] == (60, 0) and stats.hourly[20] == stats.hourly[21] == (0, 1)


def test_no_rows_no_figures() -> None:
    stats = endpoint_stats([], NOW)
    assert stats.last_day == 0 and stats.success_rate is None and stats.p99_ms is None


def test_rows_are_grouped_per_endpoint_oldest_first() -> None:
    a, b = row(5), {**row(50), "webhook_id": "wh_2"}
    grouped = by_endpoint([a, b, row(100)])
    assert [r["at"] for r in grouped["wh_1"]] == [NOW - timedelta(seconds=100), a["at"]]
    assert grouped["wh_2"] == [b]


def test_disabled_is_the_webhooks_own_record() -> None:
    off = dataclasses.replace(WH, enabled=False, disabled_reason="endpoint answered 410 Gone")
    state = endpoint_state(off, [row(5)], NOW, **LIMITS)
    assert (state.kind, state.detail, state.estimated) == ("disabled", "endpoint answered 410 Gone", False)


def test_five_failures_in_a_row_read_as_an_open_circuit_until_the_cooldown() -> None:
    failures = [row(10 - i, "retry", 500) for i in range(5)]
    state = endpoint_state(WH, failures, NOW, **LIMITS)
    assert state.kind == "circuit_open" and state.estimated
    later = endpoint_state(WH, failures, NOW + timedelta(seconds=60), **LIMITS)
    assert later.kind == "failing"


def test_a_last_answer_asking_to_slow_down_is_reported() -> None:
    state = endpoint_state(WH, [row(100), row(50, "retry", 429)], NOW, **LIMITS)
    assert state.kind == "slowing_down" and "429" in state.detail and state.estimated
    old = endpoint_state(WH, [row(7200, "retry", 429)], NOW, **LIMITS)
    assert old.kind == "failing"


def test_healthy_and_idle() -> None:
    assert endpoint_state(WH, [row(5, "retry", 500), row(1)], NOW, **LIMITS).kind == "healthy"
    assert endpoint_state(WH, [row(1, "dropped", None)], NOW, **LIMITS).kind == "idle"
