"""The overview's figures per endpoint, from one day of attempt rows: pure.

Counts, success rate and latency percentiles are exact over the rows given. The state of an
endpoint is partly a guess, and says so: enabled or disabled (and why) is the webhook's own
record, but whether the delivery workers hold its circuit open or pause it for a Retry-After
lives only in their memory. Here the day's attempts are replayed through the workers' own
`CircuitBreaker` with their settings, and a last answer that asks to slow down (429, 502-504,
`core.retry.verdict_for`) is reported as such; what the workers decided is not visible here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.breaker import CircuitBreaker, State
from core.models import Webhook
from core.retry import verdict_for

HOURS = 24
# Outcomes that are an HTTP attempt (or its transport failure); "dropped" made no call.
ATTEMPTED = frozenset({"success", "retry", "dead"})


@dataclass(frozen=True, slots=True)
class EndpointStats:
    last_hour: int = 0
    last_day: int = 0
    success_rate: float | None = None  # successes / attempts made, last day
    p50_ms: float | None = None
    p99_ms: float | None = None
    hourly: tuple[tuple[int, int], ...] = ((0, 0),) * HOURS  # (succeeded, failed) per hour, oldest first


@dataclass(frozen=True, slots=True)
class EndpointState:
    kind: str  # healthy | idle | disabled | paused | circuit_open | slowing_down | failing
    label: str
    detail: str = ""
    estimated: bool = False


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least `q` of all at or below it."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def by_endpoint(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows per webhook id, oldest first."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row.get("webhook_id")), []).append(row)
    for group in out.values():
        group.sort(key=lambda r: r["at"])
    return out


def endpoint_stats(rows: Sequence[Mapping[str, Any]], now: datetime) -> EndpointStats:
    """Figures over one endpoint's rows of the last day (older ones are ignored)."""
    day_ago, hour_ago = now - timedelta(hours=HOURS), now - timedelta(hours=1)
    hourly = [[0, 0] for _ in range(HOURS)]
    latencies: list[float] = []
    made = succeeded = in_day = in_hour = 0
    for row in rows:
        at: datetime = row["at"]
        if at < day_ago or row.get("outcome") not in ATTEMPTED:
            continue
        in_day += 1
        in_hour += at >= hour_ago
        ok = row.get("outcome") == "success"
        made += 1
        succeeded += ok
        latencies.append(float(row.get("latency_ms") or 0.0))
        slot = min(HOURS - 1, int((at - day_ago) / timedelta(hours=1)))
        hourly[slot][0 if ok else 1] += 1
    latencies.sort()
    return EndpointStats(
        last_hour=in_hour,
        last_day=in_day,
        success_rate=succeeded / made if made else None,
        p50_ms=percentile(latencies, 0.50),
        p99_ms=percentile(latencies, 0.99),
        hourly=tuple((ok, failed) for ok, failed in hourly),
    )


def endpoint_state(
    webhook: Webhook,
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
    *,
    breaker_failures: int,
    breaker_cooldown_s: float,
    max_retry_after_s: float,
) -> EndpointState:
    """What is known, then what the attempt log suggests, about one endpoint now."""
    if not webhook.enabled:
        return EndpointState("disabled", "Disabled", webhook.disabled_reason or "")
    if webhook.ordered_paused:  # the webhook's own record, as enabled is
        return EndpointState("paused", "Paused", f"ordered, after a dead letter: {webhook.ordered_paused}")
    attempts = [r for r in rows if r.get("outcome") in ATTEMPTED]
    if not attempts:
        return EndpointState("idle", "Enabled", "no attempts in the last day")
    breaker = CircuitBreaker(failure_threshold=breaker_failures, cooldown_s=breaker_cooldown_s)
    for row in attempts:
        breaker.record(row.get("outcome") == "success", row["at"].timestamp())
    ts = now.timestamp()
    if breaker.state is State.OPEN and breaker.retry_in(ts) > 0:
        until = now + timedelta(seconds=breaker.retry_in(ts))
        detail = (
            f"{breaker.consecutive_failures} failures in a row; calls wait until about {until:%H:%M:%S} UTC"
        )
        return EndpointState("circuit_open", "Circuit open", detail, estimated=True)
    last = attempts[-1]
    status = last.get("status_code")
    recent = (now - last["at"]).total_seconds() < max_retry_after_s
    if recent and status is not None and verdict_for(status, last.get("error")).slow_down:
        detail = (
            f"the last answer (HTTP {status} at {last['at']:%H:%M:%S} UTC) asks the pool to wait, "
            "for its Retry-After if it sent one (the attempt log does not keep that header)"
        )
        return EndpointState("slowing_down", "Asked to slow down", detail, estimated=True)
    if breaker.failing_since is not None:
        since = datetime.fromtimestamp(breaker.failing_since, now.tzinfo)
        detail = f"every attempt since {since:%Y-%m-%d %H:%M:%S} UTC failed"
        return EndpointState("failing", "Failing", detail)
    return EndpointState("healthy", "Enabled", "delivering")
