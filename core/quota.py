"""Per-org ingest quotas: a token bucket per org in each API server process, for its share.

An org's quota is `rate` events per second with `burst` saved up, for the whole platform; each
of the `servers` API processes (connections are spread over them by SO_REUSEPORT) enforces
`1/servers` of it, so no process asks another anything per request. A request takes all its
events' tokens or none: a batch is admitted whole, or answered 429 with how long to wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import InvalidInput
from core.ratelimit import TokenBucket

MAX_BUCKETS = 100_000


@dataclass(frozen=True, slots=True)
class Quota:
    rate: float  # events per second, across the platform
    burst: float  # events at once, across the platform

    @classmethod
    def from_doc(cls, doc: Mapping[str, float] | None) -> Quota | None:
        if not doc:
            return None
        rate = float(doc["rate"])
        return cls(rate, float(doc.get("burst") or rate))


class QuotaBook:
    """This process's buckets, one per org that has a quota (rebuilt when the quota changes)."""

    def __init__(self, servers: int) -> None:
        self._servers = max(1, servers)
        self._buckets: dict[str, tuple[Quota, TokenBucket]] = {}

    def _bucket(self, org: str, quota: Quota) -> TokenBucket:
        held = self._buckets.get(org)
        if held is None or held[0] != quota:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()
            share = TokenBucket(quota.rate / self._servers, max(1.0, quota.burst / self._servers))
            self._buckets[org] = held = (quota, share)
        return held[1]

    def admit(self, now: float, demand: Mapping[str, tuple[Quota | None, int]]) -> float:
        """Take `n` tokens from each org's bucket, or none: 0.0 when admitted, otherwise the
        seconds until the request would be. A request larger than a bucket can ever hold is
        refused as invalid (waiting would not help)."""
        wait = 0.0
        buckets: list[tuple[TokenBucket, int]] = []
        for org, (quota, n) in demand.items():
            if quota is None:
                continue
            bucket = self._bucket(org, quota)
            if n > bucket.burst:
                raise InvalidInput(
                    "events", f"{n} events at once exceed org {org}'s quota burst here ({bucket.burst:g})"
                )
            wait = max(wait, bucket.wait_time(now, n))
            buckets.append((bucket, n))
        if wait > 0:
            return wait
        for bucket, n in buckets:
            bucket.try_take(now, n)
        return 0.0
