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
from collections import deque
from collections.abc import Callable, Sequence
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

    Limits are per worker: the pool splits a webhook's concurrency cap and rate limit between its
    actors (`pool_share`), so the whole pool honours them without a remote call per delivery.
    """

    def __init__(
        self,
        concurrency: int,
        rate: float | None,
        breaker: CircuitBreaker,
        stall_timeout_s: float = 15.0,
    ) -> None:
        self.concurrency = concurrency  # 0: this worker's share of a small cap is nothing
        self.in_flight = 0  # calls on the wire
        self.waiting = 0  # tasks queued for a concurrency slot (the worker's semaphore)
        # Beyond this many queued tasks the endpoint is not keeping up: new tasks are parked on a
        # wait queue instead of holding prefetch slots that other endpoints need.
        self.max_waiting = 2 * max(1, concurrency)
        self.bucket = TokenBucket(rate, burst=max(1.0, rate)) if rate else None
        self.breaker = breaker
        self.stall_timeout_s = stall_timeout_s
        self.paused_until = 0.0  # set by 429/503 with Retry-After: the endpoint asked us to wait
        self.first_call: float | None = None
        self._done: deque[float] = deque(maxlen=64)  # recent completion times: the drain rate

    @property
    def last_done(self) -> float | None:
        """When a call last came back, whatever its outcome."""
        return self._done[-1] if self._done else None

    def crowded(self) -> bool:
        return self.concurrency == 0 or self.waiting >= self.max_waiting

    def stalled(self, now: float) -> bool:
        """Calls on the wire and nothing back for a second: taken to be hanging."""
        since = self.last_done if self.last_done is not None else self.first_call
        return bool(self.in_flight) and since is not None and now - since > 1.0

    def drain_rate(self, now: float) -> float | None:
        """Calls per second this endpoint completes here lately; None when there is no evidence.
        A stalled endpoint is assumed to hold every slot until the timeout."""
        return self._drain_rate(now, self.stalled(now))

    def _drain_rate(self, now: float, stalled: bool) -> float | None:
        if stalled:
            return max(1, self.concurrency) / self.stall_timeout_s
        recent = [t for t in self._done if now - t <= 10.0]
        if len(recent) < 2 or now <= recent[0]:
            return None
        return len(recent) / (now - recent[0])

    def park_for(self, now: float, parks: int = 0, backoff: bool = False) -> float:
        """How long to park a task that cannot go now (endpoint crowded, paused or open).

        About as long as the endpoint needs for the tasks ahead of it. When it is not visibly
        draining (hanging, no evidence yet) or the caller says it must wait anyway (`backoff`:
        paused, circuit open), at least doubling with each park of the same task (1, 2, 4 ...
        300 s): every park is a publish, a broker round trip and an ack that the healthy
        endpoints pay for in CPU, so a dead endpoint's backlog must not cycle through the pool.
        """
        ahead = self.waiting + self.in_flight
        stalled = self.stalled(now)
        rate = self._drain_rate(now, stalled)
        estimate = ahead / rate if rate else 1.0
        answering = rate is not None and not stalled
        floor = 1.0 if answering and not backoff else min(MAX_PARK_S, 2.0**parks)
        return max(1.0, floor, min(MAX_PARK_S, estimate))

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
        if self.first_call is None:
            self.first_call = now
        return 0.0

    def cancel(self) -> None:
        """Undo an admission whose call will not be made after all."""
        self.in_flight -= 1

    def release(self, success: bool, now: float, pause_s: float | None = None) -> None:
        self.in_flight -= 1
        self._done.append(now)
        self.breaker.record(success, now)
        if pause_s:
            self.paused_until = max(self.paused_until, now + pause_s)


MAX_PARK_S = 300.0


def pool_share(total: int, pool: int, index: int) -> int:
    """This worker's part of a cap of `total` split over `pool` workers: the parts sum to
    `total` exactly (the first `total % pool` workers take one more); it can be 0 when the cap
    is smaller than the pool, and that worker then parks the endpoint's tasks for the others."""
    pool = max(1, pool)
    return total // pool + (1 if index % pool < total % pool else 0)


def prune_signals(
    paused: dict[str, float],
    disabled: dict[str, int],
    now: float,
    current_version: Callable[[str], int | None],
) -> None:
    """Forget what other delivery actors told us once it no longer matters, or a long-running
    actor keeps one entry per endpoint that ever paused or webhook that was ever disabled: a
    pause that has ended, a disable our snapshot has caught up with (its version is there), a
    webhook the snapshot no longer has. `current_version` is the snapshot's version of a
    webhook, None when it is gone."""
    for wid in [w for w, until in paused.items() if until <= now]:
        del paused[wid]
    for wid, version in list(disabled.items()):
        have = current_version(wid)
        if have is None or have >= version:
            del disabled[wid]


def utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)
