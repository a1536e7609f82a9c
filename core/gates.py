"""When one endpoint may be called, inside one delivery worker: its gate, and the book of gates.

`EndpointGate` keeps one endpoint from hurting the others: a concurrency cap (the worker's
slots), a token bucket, a circuit breaker, the pause an endpoint asked for, and the drain-rate
estimate that says how long to park what cannot go now. `GateBook` is the worker's set of gates
and of what the other workers told it (pauses, disables): it rebuilds a gate when the webhook's
limits change, keeping what the endpoint taught us (breaker, pause), and forgets signals once
they no longer matter. Pure bookkeeping: no I/O, unit-tested without Ray or a broker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from core.breaker import CircuitBreaker, State
from core.models import Webhook
from core.ratelimit import TokenBucket
from core.settings import DeliverySettings


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
        # This worker's slots for calls to the endpoint. A rebuilt gate (cap or rate changed)
        # gets new ones; calls holding the old gate's finish on it.
        self.slots = asyncio.Semaphore(max(1, concurrency))
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

    def crowded(self, now: float) -> bool:
        """Too much is queued here for the endpoint to take it soon: the next task is parked on a
        wait queue rather than held. A few queued behind the slots always wait; beyond that, a
        healthy endpoint's backlog waits here (it costs nothing within prefetch) while the
        endpoint visibly drains it within MAX_QUEUED_S. One with no evidence yet (new, or idle
        for a while, and its first calls are out) gets FRESH_WAITING times the few: parking a
        new endpoint's first burst would cost every task of it a second, and if the endpoint
        then hangs, admission parks what waits as soon as it looks stalled. A stalled endpoint
        gets no more than the few."""
        if self.concurrency == 0:
            return True
        if self.waiting < self.max_waiting:
            return False
        if self.stalled(now):
            return True
        rate = self._drain_rate(now, stalled=False)
        if rate is None:
            return self.waiting >= FRESH_WAITING * self.max_waiting
        return (self.waiting + self.in_flight) / rate > MAX_QUEUED_S

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
            # Never short enough to be waited in memory (core.admission waits up to a second),
            # however short the cooldown: a failing endpoint's tasks would sit in the prefetch,
            # with a cap as large as the prefetch all of it, and starve every healthy endpoint
            # of this worker while they take turns at the probe. They are parked instead.
            return max(OPEN_BREAKER_WAIT_S, self.breaker.retry_in(now))
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
OPEN_BREAKER_WAIT_S = 2.0  # more than admission's LONGEST_WAIT_HERE_S: see EndpointGate.admit
# A healthy endpoint's backlog waits in memory while it drains within this (see `crowded`).
# Its rate is measured over the last 64 calls, a few tens of milliseconds for a fast endpoint,
# so a scheduling hiccup of the receiver (or of this machine) halves it for a moment: at 1 s,
# a fast endpoint with a full hand (512 tasks at ~1,000/s) was parked on every such dip and its
# parked tasks arrived a second late (side-by-side 5000x1: p99 1.4 s from parking alone).
MAX_QUEUED_S = 2.0
FRESH_WAITING = 8


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


class GateBook:
    """One delivery worker's gates, by webhook id, and the signals it heard from the others."""

    def __init__(
        self,
        pool: int,
        index: int,
        default_concurrency: int,
        *,
        breaker_failures: int,
        breaker_cooldown_s: float,
        stall_timeout_s: float,
        breaker_min_requests: int = 20,
    ) -> None:
        self.pool = max(1, pool)
        self.index = index
        self._default_concurrency = default_concurrency
        self._breaker_failures = breaker_failures
        self._breaker_cooldown_s = breaker_cooldown_s
        self._breaker_min_requests = breaker_min_requests
        self._stall_timeout_s = stall_timeout_s
        self.gates: dict[str, EndpointGate] = {}
        # What other workers told us: endpoint pauses (until when), and webhooks they disabled
        # (by the version the disable wrote), until our snapshot catches up.
        self.paused: dict[str, float] = {}
        self.disabled: dict[str, int] = {}

    @classmethod
    def for_worker(cls, settings: DeliverySettings, pool: int, index: int) -> GateBook:
        """Worker `index` of a pool of `pool`; a call that hangs is taken to last the timeout."""
        return cls(
            pool,
            index,
            settings.per_endpoint_concurrency,
            breaker_failures=settings.breaker_failures,
            breaker_cooldown_s=settings.breaker_cooldown_s,
            stall_timeout_s=settings.total_timeout_s,
            breaker_min_requests=settings.breaker_min_requests,
        )

    def gate(self, webhook: Webhook) -> EndpointGate:
        """The webhook's gate, rebuilt when its share of the cap or of the rate limit changed."""
        gate = self.gates.get(webhook.id)
        rate = webhook.rate_limit / self.pool if webhook.rate_limit else None
        cap = webhook.max_concurrency or self._default_concurrency
        share = pool_share(cap, self.pool, self.index)
        if gate is None or (gate.bucket.rate if gate.bucket else None) != rate or gate.concurrency != share:
            breaker = (
                gate.breaker
                if gate
                else CircuitBreaker(
                    failure_threshold=self._breaker_failures,
                    cooldown_s=self._breaker_cooldown_s,
                    min_requests=self._breaker_min_requests,
                )
            )
            # A pause the endpoint asked for holds across a rebuild, like its breaker.
            paused_until = max(self.paused.get(webhook.id, 0.0), gate.paused_until if gate else 0.0)
            gate = EndpointGate(share, rate, breaker, self._stall_timeout_s)
            gate.paused_until = paused_until
            self.gates[webhook.id] = gate
        return gate

    def is_disabled(self, webhook: Webhook) -> bool:
        """Disabled in the snapshot, or by a worker whose disable the snapshot has not seen yet."""
        return not webhook.enabled or self.disabled.get(webhook.id, 0) > webhook.version

    def heard_pause(self, webhook_id: str, until: float) -> None:
        self.paused[webhook_id] = max(self.paused.get(webhook_id, 0.0), until)
        if (gate := self.gates.get(webhook_id)) is not None:
            gate.paused_until = max(gate.paused_until, until)

    def heard_disable(self, webhook_id: str, version: int) -> None:
        self.disabled[webhook_id] = max(self.disabled.get(webhook_id, 0), version)

    def prune(self, now: float, current_version: Callable[[str], int | None]) -> None:
        prune_signals(self.paused, self.disabled, now, current_version)

    def circuits_open(self) -> int:
        return sum(1 for g in self.gates.values() if g.breaker.state is State.OPEN)
