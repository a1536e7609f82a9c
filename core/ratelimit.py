"""Token bucket with an injected clock: `rate` tokens per second, at most `burst` saved up."""

from __future__ import annotations

# Refills add up many small float steps (0.1 + 0.1 + ... lands just under 1.0); without this
# slack a caller polling on exact multiples of 1/rate would get one token a step too late.
_EPS = 1e-9


class TokenBucket:
    __slots__ = ("_last", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self.tokens = burst  # a new endpoint may use its burst at once
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        if self._last is None:
            self._last = now
        elif now > self._last:  # a clock that steps back grants nothing and takes nothing
            self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
            self._last = now

    def try_take(self, now: float, n: float = 1) -> bool:
        self._refill(now)
        if self.tokens >= n - _EPS:
            self.tokens = max(0.0, self.tokens - n)
            return True
        return False

    def wait_time(self, now: float, n: float = 1) -> float:
        """Seconds until `try_take(n)` would succeed; raises if `n` exceeds the burst (never)."""
        if n > self.burst:
            raise ValueError(f"cannot take {n} tokens from a bucket of {self.burst}")
        self._refill(now)
        return 0.0 if self.tokens >= n - _EPS else (n - self.tokens) / self.rate
