"""Retries as data: the schedule, the delay after a failed attempt, the wait-queue ladder, and
what an HTTP outcome means.

Which failures are retried: everything but 2xx and 410. Like Svix we retry 4xx too (401, 403,
404 ...): they are usually a customer's deploy or configuration mistake fixed within hours, the
schedule is bounded (about 1.5 days) and the task ends in the replayable DLQ either way. 3xx is
a failure because redirects are not followed (a redirect could point past the SSRF guard).
"""

from __future__ import annotations

import bisect
import enum
import math
import random
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import NamedTuple

# 8 attempts in all: the first one, then one retry after each of these delays.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)

# Fixed-TTL RabbitMQ wait queues (dead-lettering back into the work queue). Fixed TTLs per queue
# mean a message never waits behind a longer-lived head message; a task that comes back before
# its `not_before` is parked again on the step that fits the remaining time.
WAIT_LADDER_S: tuple[float, ...] = (1, 5, 30, 300, 1800, 7200, 18000, 36000)
DUE_NOW_S = 0.05


class Outcome(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"
    GONE = "gone"


class Verdict(NamedTuple):
    outcome: Outcome
    slow_down: bool  # the endpoint is overloaded: back off this endpoint, not only this task


_SLOW_DOWN = frozenset({429, 502, 503, 504})


def verdict_for(status: int | None, error: str | None) -> Verdict:
    """Map one attempt's result (HTTP status, or a transport error with no status) to a verdict."""
    if status is None:
        return Verdict(Outcome.RETRY, False)  # timeout, connection refused or reset, DNS
    if 200 <= status < 300:
        return Verdict(Outcome.SUCCESS, False)
    if status == 410:
        return Verdict(Outcome.GONE, False)
    return Verdict(Outcome.RETRY, status in _SLOW_DOWN)


def next_delay(
    attempt: int,
    schedule: Sequence[float],
    retry_after: float | None,
    rng: random.Random,
    *,
    jitter: float = 0.2,
    max_retry_after: float = 3600,
) -> float | None:
    """Seconds to wait after attempt number `attempt` (1-based) failed; None when none is left.

    The scheduled delay gets +-`jitter` (a fraction) so that endpoints that failed together do
    not come back together. An endpoint's Retry-After wins when it asks for longer, clamped to
    `max_retry_after` so a hostile header cannot park a task forever.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if attempt > len(schedule):
        return None
    delay = float(schedule[attempt - 1])
    if jitter:
        delay *= 1.0 + rng.uniform(-jitter, jitter)
    if retry_after is not None and math.isfinite(retry_after):
        delay = max(delay, min(max(retry_after, 0.0), max_retry_after))
    return delay


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now`: delta-seconds or an HTTP-date; None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; parsedate gives naive for "-0000"
        return None
    return max(0.0, when.timestamp() - now)


def pick_wait_queue(remaining_s: float, ladder: Sequence[float] = WAIT_LADDER_S) -> float | None:
    """The TTL of the wait queue to park a task in, given the seconds until it is due.

    The largest step not longer than `remaining_s`, so a task is never handed back late by
    more than one step of sub-second slack; None when it is due now (< 50 ms); the smallest step
    when less than that remains. `ladder` must be sorted ascending.
    """
    if remaining_s < DUE_NOW_S or not ladder:
        return None
    i = bisect.bisect_right(ladder, remaining_s)
    return ladder[i - 1] if i else ladder[0]


def nearest_wait_step(delay_s: float, ladder: Sequence[float] = WAIT_LADDER_S) -> float:
    """A ladder step for a delay whose exact length does not matter (a task held back from a
    busy endpoint): one hop instead of several; at most a quarter later than asked, or shorter."""
    i = bisect.bisect_left(ladder, delay_s)
    if i < len(ladder) and ladder[i] <= 1.25 * delay_s:
        return ladder[i]
    return ladder[i - 1] if i else ladder[0]


def wait_queue_name(prefix: str, ttl_s: float) -> str:
    """`deliveries.retry.` + `5s` / `30m` / `2h` (or `500ms`): readable in the RabbitMQ UI."""
    if prefix and not prefix.endswith("."):
        prefix += "."
    ms = round(ttl_s * 1000)
    if ms <= 0:
        raise ValueError("a wait queue needs a positive TTL")
    if ms % 3_600_000 == 0:
        return f"{prefix}{ms // 3_600_000}h"
    if ms % 60_000 == 0:
        return f"{prefix}{ms // 60_000}m"
    if ms % 1000 == 0:
        return f"{prefix}{ms // 1000}s"
    return f"{prefix}{ms}ms"
