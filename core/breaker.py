"""Per-endpoint circuit breaker with an injected clock (any monotonic-enough float seconds).

closed -> open after `failure_threshold` consecutive failures, or when at least `min_requests`
results in the last `window_s` seconds failed at `failure_ratio` or more; open for `cooldown_s`;
then half-open, letting `half_open_probes` calls through; a success closes it, a failure opens
it again. `failing_since` is the start of the current unbroken run of failures, whatever the
state, so the caller can disable an endpoint that has failed for days.
"""

from __future__ import annotations

import enum
from collections import deque


class State(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_BUCKETS = 10  # the sliding window is kept as counts per tenth of it: O(1) memory at any rate


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        window_s: float = 60.0,
        min_requests: int = 20,
        failure_ratio: float = 0.5,
        half_open_probes: int = 1,
    ) -> None:
        if failure_threshold < 1 or half_open_probes < 1 or cooldown_s <= 0 or window_s <= 0:
            raise ValueError("thresholds, probes, cooldown and window must be positive")
        if not 0 < failure_ratio <= 1:
            raise ValueError("failure_ratio must be in (0, 1]")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self.window_s = window_s
        self.min_requests = min_requests
        self.failure_ratio = failure_ratio
        self.half_open_probes = half_open_probes
        self.state = State.CLOSED
        self.failing_since: float | None = None
        self.consecutive_failures = 0
        self._opened_at = 0.0
        self._probes = 0
        self._buckets: deque[list[float]] = deque()  # [bucket start, total, failures]
        self._total = 0
        self._failures = 0

    def allow(self, now: float) -> bool:
        """May a call go to the endpoint now? In half-open, each True takes one probe slot."""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            if now < self._opened_at + self.cooldown_s:
                return False
            self.state = State.HALF_OPEN
            self._opened_at = now  # reused as "half-open since", to recover lost probes
            self._probes = 0
        elif now >= self._opened_at + self.cooldown_s:
            # Probes whose results never came back (a crashed task) must not wedge the breaker.
            self._opened_at = now
            self._probes = 0
        if self._probes < self.half_open_probes:
            self._probes += 1
            return True
        return False

    def retry_in(self, now: float) -> float:
        """Seconds until `allow` may say yes again (0 when it would now)."""
        if self.state is State.CLOSED:
            return 0.0
        if self.state is State.HALF_OPEN and self._probes < self.half_open_probes:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown_s - now)

    def record(self, success: bool, now: float) -> None:
        if success:
            self.failing_since = None
            self.consecutive_failures = 0
        else:
            if self.failing_since is None:
                self.failing_since = now
            self.consecutive_failures += 1
        if self.state is State.HALF_OPEN:
            if success:
                self._close()
            else:
                self._open(now)
        elif self.state is State.CLOSED:
            self._count(success, now)
            if not success and self._tripped():
                self._open(now)
        # OPEN: a late result of a call made before opening changes nothing but the counters.

    def should_disable(self, now: float, disable_after_s: float) -> bool:
        return self.failing_since is not None and now - self.failing_since >= disable_after_s

    def _tripped(self) -> bool:
        if self.consecutive_failures >= self.failure_threshold:
            return True
        return self._total >= self.min_requests and self._failures >= self.failure_ratio * self._total

    def _count(self, success: bool, now: float) -> None:
        width = self.window_s / _BUCKETS
        buckets = self._buckets
        while buckets and buckets[0][0] <= now - self.window_s:
            _, total, failures = buckets.popleft()
            self._total -= int(total)
            self._failures -= int(failures)
        if not buckets or now >= buckets[-1][0] + width:
            buckets.append([now, 0, 0])
        buckets[-1][1] += 1
        self._total += 1
        if not success:
            buckets[-1][2] += 1
            self._failures += 1

    def _open(self, now: float) -> None:
        self.state = State.OPEN
        self._opened_at = now
        self._probes = 0

    def _close(self) -> None:
        self.state = State.CLOSED
        self._probes = 0
        self._buckets.clear()
        self._total = self._failures = 0
