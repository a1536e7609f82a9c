"""Isolation of endpoints, end to end: a pool of delivery actors on Ray, real Kafka, RabbitMQ,
MongoDB and HTTP receivers. Every limit is checked where it matters, at the customer's end: the
receiver's own count of requests in flight, its arrival times and the status it answered.

Two pipelines, one per class, each shared by its tests (a pipeline takes ~8 s to start here):
every test has receivers and webhooks of its own. Figures are printed (pytest -s) so a run can
be quoted; bounds are generous, but each is far below what the same run shows without the limit.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cluster.supervisor import Supervisor
from core.ids import delivery_id
from core.models import Event, Webhook
from testkit.pipeline import PipelineWorld, namespaced_config, rules_synced, wait_until
from testkit.receiver.client import ReceiverClient
from testkit.receiver.runner import ReceiversThread
from testkit.receiver.state import CallRecord, Mode, PortState

pytestmark = [pytest.mark.services, pytest.mark.ray]

POOL = 2  # delivery actors: every limit below must hold for the pool, not per actor
COOLDOWN_S = 1.0  # breaker cooldown in both pipelines
SIGNAL_S = 0.3  # time for what one actor learns about an endpoint to reach the others
SCHEDULE = (0.5,) * 10  # retries every ~1 s (the shortest wait queue): nothing dead-letters here


@dataclass
class Pool:
    world: PipelineWorld
    sup: Supervisor

    def webhook(self, receivers: ReceiversThread, port: int, path: str, org: str, **kw: Any) -> Webhook:
        """Adds a webhook for event type "A" and waits until every actor has it."""
        wh = self.world.add_webhook(org, receivers.receivers.url(port, path), ["A"], **kw)
        self.synced()
        return wh

    def rules_version(self) -> int:
        return int(self.sup.status()["rules"]["version"])

    def synced(self, newer_than: int | None = None) -> None:
        """Every actor has the rule cache's version; with `newer_than`, one the cache reached after
        that version (a change written to MongoDB, such as a disable, takes a poll to mirror)."""
        # The rule cache mirrors disabled webhooks too (the workers must see them disabled).
        known = self.world.db.webhooks.count_documents({"deleted": False})
        floor = -1 if newer_than is None else newer_than
        assert wait_until(lambda: rules_synced(self.sup, known) and self.rules_version() > floor, 15)

    def send(self, n: int, org: str) -> list[Event]:
        events = self.world.events(n, [org], ["A"])
        self.world.produce(events)
        return events


def pipeline(**delivery: Any) -> Iterator[Pool]:
    world = PipelineWorld(
        namespaced_config(
            filters=1, deliveries=POOL, schedule=SCHEDULE, breaker_cooldown_s=COOLDOWN_S, **delivery
        )
    )
    sup = Supervisor(world.config, detached=False)
    try:
        sup.start()
        yield Pool(world, sup)
    finally:
        sup.stop()
        world.cleanup()


def client(receivers: ReceiversThread, port: int) -> ReceiverClient:
    return ReceiverClient(receivers.receivers.url(port))


def most_in_window(times: list[float], width: float, starting_at: float = float("-inf")) -> int:
    """The most arrivals in any window [t, t + width) with t >= starting_at."""
    ts = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ts):
        if t < starting_at:
            continue
        j = max(j, i)
        while j < len(ts) and ts[j] < t + width:
            j += 1
        best = max(best, j - i)
    return best


def between(calls: list[CallRecord], start: float, end: float) -> list[CallRecord]:
    return [c for c in calls if start <= c["at"] < end]


def offsets(calls: list[CallRecord], t0: float) -> str:
    return ", ".join(f"+{c['at'] - t0:.2f}" for c in calls) or "-"


def ids(events: list[Event], wh: Webhook) -> set[str]:
    return {delivery_id(e["id"], wh.id) for e in events}


def all_arrive(state: PortState, expected: set[str], timeout: float = 40) -> None:
    assert wait_until(lambda: set(state.first_seen) >= expected, timeout), (
        f"{len(expected - set(state.first_seen))} of {len(expected)} deliveries missing"
    )


@dataclass
class CappedRun:
    cap: int
    seen: int  # the most calls in flight at the receiver
    span_s: float  # first to last arrival
    ideal_s: float  # the calls back to back, `cap` at a time


@dataclass
class DisableRun:
    doc: dict[str, Any]  # the disabled webhook, as stored
    rows: dict[str, list[dict[str, Any]]]  # its attempt log, per delivery, oldest first
    calls: list[CallRecord]  # at its endpoint
    expected: set[str]  # its deliveries of the events sent before it was disabled
    # A call already admitted may still be on its way, and the actors' snapshots follow MongoDB
    # within ~0.5 s: after this long nothing should reach a disabled webhook.
    grace_s: float = COOLDOWN_S + 1.0

    @property
    def disabled_at(self) -> float:
        return float(self.doc["updated_at"].timestamp())

    @property
    def late(self) -> list[CallRecord]:
        return between(self.calls, self.disabled_at + self.grace_s, float("inf"))


@dataclass
class RetryAfterRun:
    calls: list[CallRecord]  # at the endpoint that answered 429 once
    other: dict[str, float]  # the other endpoint: webhook-id -> arrival
    sent_at: dict[str, float]  # event id -> when it was produced
    slow: Webhook
    fast: Webhook
    retry_after_s: float


# ---- the default settings: per-endpoint cap 32, no rate limit ----------------------------------


class TestLimits:
    @pytest.fixture(scope="class")
    def pool(self, ray_local: None) -> Iterator[Pool]:
        yield from pipeline()

    @pytest.fixture(scope="class", params=[(3, 24, 200), (1, 10, 100)], ids=["cap3", "cap1"])
    def capped(self, request: pytest.FixtureRequest, pool: Pool) -> CappedRun:
        """A webhook with its own concurrency cap gets a backlog of calls that take a while.
        3 does not split evenly over 2 actors; 1 leaves one actor no share at all."""
        cap, n, delay_ms = request.param
        with ReceiversThread([0]) as receivers:
            port = receivers.ports[0]
            state = receivers.receivers.states[port]
            state.mode = Mode(delay_ms=delay_ms)
            org = f"org_c{cap}"
            wh = pool.webhook(receivers, port, "/capped", org, max_concurrency=cap)
            all_arrive(state, ids(pool.send(n, org), wh))
            assert state.duplicates == 0
            seen = client(receivers, port).concurrency()["paths"]["/capped"]["max_in_flight"]
            arrivals = sorted(state.first_seen.values())
        run = CappedRun(cap, seen, arrivals[-1] - arrivals[0], n * delay_ms / 1000 / cap)
        print(
            f"\nconcurrency: webhook cap {cap} over {POOL} actors, the receiver saw at most {seen} in "
            f"flight; {n} calls of {delay_ms} ms in {run.span_s:.2f} s (back to back: {run.ideal_s:.2f} s)"
        )
        return run

    def test_a_webhooks_concurrency_cap_holds_across_the_pool(self, capped: CappedRun) -> None:
        assert min(2, capped.cap) <= capped.seen <= capped.cap

    def test_splitting_a_webhooks_cap_over_the_pool_does_not_stall_it(self, capped: CappedRun) -> None:
        # The overflow is parked on 1 s wait-queue steps, and an actor with no share of cap 1 hands
        # its tasks back: a few hops (cap 1 here: ~5 s), not a backoff that doubles every time
        # (cap 1 with the doubling: 12 s).
        assert capped.span_s <= capped.ideal_s + 7.0

    def test_the_default_concurrency_cap_holds_across_the_pool(
        self, pool: Pool, receivers: ReceiversThread
    ) -> None:
        cap, n = pool.world.config.delivery.per_endpoint_concurrency, 80
        port = receivers.ports[0]
        state = receivers.receivers.states[port]
        state.mode = Mode(delay_ms=200)
        wh = pool.webhook(receivers, port, "/capped", "org_d")
        all_arrive(state, ids(pool.send(n, "org_d"), wh))
        seen = client(receivers, port).concurrency()["paths"]["/capped"]["max_in_flight"]
        print(
            f"\nconcurrency: default cap {cap} over {POOL} actors, the receiver saw at most {seen} in flight"
        )
        assert state.duplicates == 0
        # More than one actor's share: the actors were delivering at once, the pool's cap was met.
        assert cap // POOL < seen <= cap

    def test_circuit_breaker_spares_a_failing_endpoint_and_recovers(
        self, pool: Pool, receivers: ReceiversThread
    ) -> None:
        n, failing_s = 30, 6.0
        port = receivers.ports[0]
        state = receivers.receivers.states[port]
        state.mode = Mode(status=500, fail_count=1_000_000)
        wh = pool.webhook(receivers, port, "/broken", "org_b", max_concurrency=4)
        events = pool.send(n, "org_b")
        recv = client(receivers, port)
        assert wait_until(lambda: bool(recv.calls(limit=1)), 20)
        t0 = recv.calls(limit=1)[0]["at"]
        time.sleep(max(0.0, t0 + failing_s - time.time()))
        state.mode = Mode()  # the customer fixed their endpoint
        expected = ids(events, wh)
        all_arrive(state, expected)
        calls = recv.calls()
        # Each actor's breaker opens after 5 failures in a row, within the first ~0.1 s; from then
        # on each actor lets one half-open probe through per cooldown. Without a breaker all n
        # tasks would be retried about every second: ~n calls a second.
        window = (t0 + 1.5, t0 + failing_s - 0.5)
        width = window[1] - window[0]
        probes = between(calls, *window)
        failed = [c for c in calls if c["at"] < t0 + failing_s and c["status"] == 500]
        print(
            f"\nbreaker: {n} tasks; {len(failed)} calls while failing; {len(probes)} in the {width:.1f} s "
            f"the breaker was open (at {offsets(probes, t0)} s); every delivery arrived "
            f"{max(state.first_seen.values()) - (t0 + failing_s):.1f} s after the recovery"
        )
        assert all(c["status"] == 500 for c in probes)
        assert len(probes) <= POOL * (width / COOLDOWN_S + 1)
        # Probes kept coming while it was open: no gap much longer than a cooldown.
        edges = [window[0], *(c["at"] for c in probes), window[1]]
        assert max(b - a for a, b in itertools.pairwise(edges)) < 2 * COOLDOWN_S + 0.5
        # What failed came through after the recovery, under the same webhook-id, exactly once.
        failed_ids = {c["webhook_id"] for c in failed}
        assert failed_ids <= expected and state.duplicates == 0

        def retried() -> set[str]:
            rows = pool.world.db.attempts.find({"webhook_id": wh.id, "outcome": "retry"})
            return {r["delivery_id"] for r in rows}

        assert wait_until(lambda: retried() == failed_ids, 10), (retried(), failed_ids)

    def test_rate_limit_holds_across_the_pool(self, pool: Pool, receivers: ReceiversThread) -> None:
        rate, n = 10, 60
        port = receivers.ports[0]
        wh = pool.webhook(receivers, port, "/limited", "org_r", rate_limit=rate)
        all_arrive(receivers.receivers.states[port], ids(pool.send(n, "org_r"), wh))
        times = [c["at"] for c in client(receivers, port).calls(path="/limited")]
        assert len(times) == n
        first, span = min(times), max(times) - min(times)
        # A token bucket of rate R and burst B lets through at most B + R*T in any T seconds. Each
        # actor has R/POOL per second and a burst of one second of that: B = R for the pool. Slack
        # of 2 per actor at a window's edges: one token carried by a waiter that woke late, one
        # request whose trip to the receiver was quicker than the one before it.
        burst, slack = rate, 2 * POOL
        worst = {t: most_in_window(times, t) for t in (1.0, 2.0, 3.0)}
        # The whole backlog is there from the start, so the burst goes at once: once it is spent
        # any second sees the refill only.
        steady = most_in_window(times, 1.0, starting_at=first + 1.0)
        print(
            f"\nrate: limit {rate}/s over {POOL} actors; {n} deliveries in {span:.2f} s; most in any "
            f"1/2/3 s: {worst[1.0]}/{worst[2.0]}/{worst[3.0]}; in any second after the burst: {steady}"
        )
        for width, count in worst.items():
            assert count <= burst + rate * width + slack, (width, count)
        assert steady <= rate + slack
        assert span >= (n - burst) / rate - 0.5  # unlimited, all 60 arrive within ~0.2 s

    @pytest.fixture(scope="class")
    def retry_after_run(self, pool: Pool) -> RetryAfterRun:
        """Two endpoints get the same steady stream (10 events/s for 4 s); the slow one answers
        its first call 429 with Retry-After: 2 and is healthy afterwards."""
        retry_after = 2.0
        with ReceiversThread([0, 0]) as receivers:
            slow_port, fast_port = receivers.ports
            slow_state = receivers.receivers.states[slow_port]
            slow_state.mode = Mode(status=429, retry_after=f"{retry_after:.0f}", fail_count=1)
            slow = pool.webhook(receivers, slow_port, "/slow", "org_t")
            fast = pool.webhook(receivers, fast_port, "/fast", "org_t")
            sent_at: dict[str, float] = {}
            events: list[Event] = []
            for _ in range(40):
                events += pool.send(1, "org_t")
                sent_at[events[-1]["id"]] = time.time()
                time.sleep(0.1)
            fast_state = receivers.receivers.states[fast_port]
            all_arrive(slow_state, ids(events, slow))
            all_arrive(fast_state, ids(events, fast))
            assert fast_state.duplicates == slow_state.duplicates == 0
            return RetryAfterRun(
                client(receivers, slow_port).calls(),
                dict(fast_state.first_seen),
                sent_at,
                slow,
                fast,
                retry_after,
            )

    def test_retry_after_delays_that_delivery_and_slows_no_other_endpoint(
        self, retry_after_run: RetryAfterRun
    ) -> None:
        run = retry_after_run
        (refused,) = [c for c in run.calls if c["status"] == 429]
        t429 = refused["at"]
        again = [c["at"] for c in run.calls if c["webhook_id"] == refused["webhook_id"] and c["at"] > t429]
        # The other endpoint's deliveries of events sent while the slow one asked for a pause.
        lags = [
            run.other[delivery_id(eid, run.fast.id)] - sent
            for eid, sent in run.sent_at.items()
            if t429 <= sent < t429 + run.retry_after_s
        ]
        print(
            f"\nRetry-After {run.retry_after_s:.0f} s: the refused delivery came back after "
            f"{again[0] - t429:.2f} s; the other endpoint got the {len(lags)} events sent meanwhile "
            f"with lag max {max(lags):.3f} s"
        )
        assert again and again[0] - t429 >= run.retry_after_s - 0.05
        assert len(lags) >= 15 and max(lags) < 1.0

    def test_retry_after_pauses_the_endpoint_for_the_whole_pool(self, retry_after_run: RetryAfterRun) -> None:
        run = retry_after_run
        (refused,) = [c for c in run.calls if c["status"] == 429]
        t429 = refused["at"]
        # The actor that got the 429 tells the others over RabbitMQ (a few ms): until they hear,
        # each may still send what it had already admitted, about one call at this load.
        heard = t429 + SIGNAL_S
        early = [c for c in between(run.calls, t429, heard) if c is not refused]
        during = between(run.calls, heard, t429 + run.retry_after_s)
        print(
            f"\nRetry-After {run.retry_after_s:.0f} s: {len(early)} calls to that endpoint in the "
            f"{SIGNAL_S} s after the 429, {len(during)} in the rest of the pause"
        )
        assert len(early) <= POOL - 1
        assert during == []


# ---- auto-disable after 2 s of failures (its own pipeline: 2 s would disable the breaker test's) --

DISABLE_AFTER_S = 2.0


class TestAutoDisable:
    @pytest.fixture(scope="class")
    def pool(self, ray_local: None) -> Iterator[Pool]:
        yield from pipeline(disable_after_s=DISABLE_AFTER_S)

    @pytest.fixture(scope="class")
    def disable_run(self, pool: Pool) -> DisableRun:
        """Two webhooks get the same 10 events; one endpoint answers 500 to everything. Once it
        is disabled, 10 more events follow."""
        with ReceiversThread([0, 0]) as receivers:
            dead_port, live_port = receivers.ports
            receivers.receivers.states[dead_port].mode = Mode(status=500, fail_count=1_000_000)
            dead = pool.webhook(receivers, dead_port, "/dead", "org_x")
            live = pool.webhook(receivers, live_port, "/live", "org_x")
            before_disable = pool.rules_version()  # webhook() has synced
            first = pool.send(10, "org_x")

            def disabled() -> dict[str, Any] | None:
                doc = pool.world.db.webhooks.find_one({"_id": dead.id})
                return doc if doc is not None and doc["enabled"] is False else None

            assert wait_until(lambda: disabled() is not None, 30)
            doc = disabled()
            assert doc is not None
            pool.synced(newer_than=before_disable)  # the filters know it is disabled
            second = pool.send(10, "org_x")
            live_state = receivers.receivers.states[live_port]
            all_arrive(live_state, ids(first + second, live))
            assert live_state.duplicates == 0

            def rows() -> dict[str, list[dict[str, Any]]]:
                out: dict[str, list[dict[str, Any]]] = {}
                for r in pool.world.db.attempts.find({"webhook_id": dead.id}).sort("at", 1):
                    out.setdefault(r["delivery_id"], []).append(r)
                return out

            # Every task of the disabled webhook ends dropped, once out of its wait queue.
            expected = ids(first, dead)
            settled = wait_until(
                lambda: set(rows()) == expected and all(r[-1]["outcome"] != "retry" for r in rows().values()),
                30,
            )
            unsettled = {
                k: [r["outcome"] for r in v] for k, v in rows().items() if v[-1]["outcome"] == "retry"
            }
            assert settled, f"never attempted: {len(expected - set(rows()))}, still retrying: {unsettled}"
            run = DisableRun(doc, rows(), client(receivers, dead_port).calls(), expected)
        t = run.disabled_at
        grace = run.grace_s
        print(
            f"\nauto-disable: disabled {t - run.calls[0]['at']:.2f} s after the first failure "
            f"(disable_after_s={DISABLE_AFTER_S}), reason {doc['disabled_reason']!r}; {len(run.calls)} "
            f"calls in all, {len(between(run.calls, t, t + grace))} in the {grace:.0f} s after it, "
            f"{len(run.late)} later (at {offsets(run.late, t)} s)"
        )
        return run

    def test_a_webhook_failing_continuously_is_disabled_and_the_other_keeps_receiving(
        self, disable_run: DisableRun
    ) -> None:
        run = disable_run
        assert "failing continuously" in run.doc["disabled_reason"] and run.doc["version"] >= 2
        assert run.disabled_at - run.calls[0]["at"] >= DISABLE_AFTER_S
        assert all(r[-1]["outcome"] == "dropped" for r in run.rows.values())
        assert all(r[-1]["error"] == "webhook_disabled" for r in run.rows.values())
        # The events sent after the disable were not even queued for it.
        assert {c["webhook_id"] for c in run.calls} <= run.expected

    def test_a_disabled_webhook_gets_no_more_calls(self, disable_run: DisableRun) -> None:
        assert disable_run.late == []
