"""What to do after one HTTP attempt, and when an endpoint may be called: pure decisions.

`decide` turns an attempt's result into ack / retry-after-delay / dead-letter, following the
Standard Webhooks conventions the best services use: 2xx succeeds, 410 disables the webhook,
everything else is retried on the schedule, `Retry-After` is honoured (clamped), and after the
last attempt the task is dead-lettered. `EndpointGate` keeps one endpoint from hurting the others:
a concurrency cap, a token bucket and a circuit breaker.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from core.breaker import CircuitBreaker
from core.ratelimit import TokenBucket
from core.retry import Outcome, classify, next_delay


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int | None
    error: str | None  # an error class such as "timeout", "connect", "refused_destination"
    latency_ms: float
    excerpt: str = ""
    retry_after: float | None = None


class Action(enum.Enum):
    ACK = "success"
    RETRY = "retry"
    DEAD = "dead"
    DROP = "dropped"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay: float | None = None
    disable_reason: str | None = None
    slow_down: bool = False
    reason: str = ""


def decide(
    attempt: int,
    result: HttpResult,
    schedule: Sequence[float],
    rng: random.Random,
    jitter: float,
    max_retry_after: float,
) -> Decision:
    verdict = classify(result.status, result.error)
    if verdict.outcome is Outcome.SUCCESS:
        return Decision(Action.ACK)
    reason = f"http {result.status}" if result.status is not None else (result.error or "error")
    if verdict.outcome is Outcome.GONE:
        return Decision(Action.DEAD, disable_reason="endpoint answered 410 Gone", reason=reason)
    if result.error == "refused_destination":
        # The SSRF guard refused the resolved address: retrying will not change that soon enough.
        return Decision(Action.DEAD, reason="destination refused by the SSRF guard")
    delay = next_delay(
        attempt, schedule, result.retry_after, rng, jitter=jitter, max_retry_after=max_retry_after
    )
    if delay is None:
        return Decision(Action.DEAD, slow_down=verdict.slow_down, reason=f"{reason}; attempts exhausted")
    return Decision(Action.RETRY, delay=delay, slow_down=verdict.slow_down, reason=reason)


class EndpointGate:
    """Admission for one endpoint inside one delivery worker.

    Limits are per worker: the pool divides a webhook's concurrency cap and rate limit by its
    size, so the whole pool honours them without a remote call per delivery.
    """

    def __init__(
        self,
        concurrency: int,
        rate: float | None,
        breaker: CircuitBreaker,
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.in_flight = 0  # calls on the wire
        self.waiting = 0  # tasks queued for a concurrency slot (the worker's semaphore)
        # Beyond this many queued tasks the endpoint is not keeping up: new tasks are parked on a
        # wait queue instead of holding prefetch slots that other endpoints need.
        self.max_waiting = 2 * self.concurrency
        self.bucket = TokenBucket(rate, burst=max(1.0, rate)) if rate else None
        self.breaker = breaker
        self.paused_until = 0.0  # set by 429/503 with Retry-After: the endpoint asked us to wait
        self.last_done = 0.0  # when a call to the endpoint last came back, whatever its outcome

    def crowded(self) -> bool:
        return self.waiting >= self.max_waiting

    def park_for(self, now: float) -> float:
        """How long to park a task that found the endpoint crowded. An endpoint that has not
        answered anything for a second (hanging until the timeout) gets its tasks back less often:
        every park is a publish and an ack that the healthy endpoints pay for in CPU."""
        return 5.0 if now - self.last_done > 1.0 else 1.0

    def admit(self, now: float) -> float:
        """0 if the call may go now (it is then counted in flight), else seconds to wait.

        Concurrency is not decided here: the caller holds one of `concurrency` slots already.
        """
        if now < self.paused_until:
            return self.paused_until - now
        if not self.breaker.allow(now):
            return max(0.5, self.breaker.retry_in(now))
        if self.bucket is not None and not self.bucket.try_take(now):
            return max(0.001, self.bucket.wait_time(now))
        self.in_flight += 1
        return 0.0

    def release(self, success: bool, now: float, pause_s: float | None = None) -> None:
        self.in_flight -= 1
        self.last_done = now
        self.breaker.record(success, now)
        if pause_s:
            self.paused_until = max(self.paused_until, now + pause_s)


def utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
