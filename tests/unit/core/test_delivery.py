from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from core.delivery import Action, Decision, HttpResult, attempt_row, decide, parked, retried
from core.models import DeliveryTask
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


@pytest.mark.parametrize(
    ("delay", "step"),
    [(0.2, 1), (1, 1), (3.9, 1), (4, 5), (29.5, 30), (45, 30), (120, 30), (250, 300), (1e6, 36000)],
)
def test_a_congestion_park_takes_one_wait_step(delay: float, step: float) -> None:
    assert nearest_wait_step(delay) == step


def _task() -> DeliveryTask:
    return {
        "delivery_id": "dlv_1",
        "event": {"id": "evt_1", "org": "o", "type": "A", "timestamp": "2026-12-01T00:00:00Z", "data": {}},
        "webhook_id": "wh_1",
        "attempt": 2,
        "first_attempt_at": 10.0,
        "not_before": 0.0,
        "parks": 3,
    }


def test_an_attempt_row_says_what_happened_and_when_the_next_attempt_is() -> None:
    result = HttpResult(503, None, 12.3456, "busy")
    row = attempt_row(_task(), result, Decision(Action.RETRY, delay=300.0), 1_764_547_200.0)
    assert row["_id"].startswith("att_")
    assert {k: row[k] for k in ("delivery_id", "event_id", "webhook_id", "org", "attempt")} == {  # type: ignore[literal-required]
        "delivery_id": "dlv_1",
        "event_id": "evt_1",
        "webhook_id": "wh_1",
        "org": "o",
        "attempt": 2,
    }
    assert (row["status_code"], row["outcome"], row["latency_ms"], row["response_excerpt"]) == (
        503,
        "retry",
        12.346,
        "busy",
    )
    assert row["at"] == datetime(2025, 12, 1, tzinfo=UTC)
    assert row["next_attempt_at"] == datetime(2025, 12, 1, 0, 5, tzinfo=UTC)
    ok = attempt_row(_task(), HttpResult(200, None, 1.0), Decision(Action.ACK), 0.0)
    assert not {"next_attempt_at", "error", "response_excerpt"} & set(ok)  # empty: left out


def test_a_retry_is_the_next_attempt_and_starts_the_congestion_backoff_over() -> None:
    t = retried(_task(), 5.0, 100.0)
    assert (t["attempt"], t["not_before"], "parks" in t) == (3, 105.0, False)


def test_only_a_congestion_park_counts_towards_the_backoff() -> None:
    assert parked(_task(), 1.0, 100.0)["parks"] == 3
    t = parked(_task(), 2.0, 100.0, congested=True)
    assert (t["parks"], t["not_before"], t["attempt"]) == (4, 102.0, 2)
