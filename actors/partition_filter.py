"""PartitionFilter: owns fixed Kafka partitions, matches events, fans out delivery tasks.

Take what Kafka has (up to `poll_batch` records), plan (pure), publish every delivery task; the
batch then settles on its own: its publisher confirms arrive, the derived-topic copies are
produced (acks=all), its ordered lanes' positions are saved, and only then are its offsets
committable (committed at most every `commit_interval_s`). The
next batch is taken while that settles: a confirm takes a disk flush on the broker (5-6 ms
here), and waiting for it before reading on made every event queue behind the one before.
Batches settle strictly in order, at most `batches_in_flight` at a time, so what is committable
is exactly what a one-at-a-time loop would have made committable. Any failure ends the session
and rebuilds the clients: the consumer resumes at the committed offset, so records are
reprocessed, never skipped (at-least-once; delivery ids are stable, so the receiver sees the
same webhook-id twice at worst).

The loop runs in a thread of its own started by __init__, so when Ray restarts the actor
(max_restarts=-1) the loop restarts too, with the same partitions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any

from adapters import kafka_io, metrics, rabbit
from adapters import mongo as mongo_clients
from adapters.kafka_doze import Doze, doorbell
from adapters.lanes import LaneStore
from core.errors import BrokerUnavailable, PartitionStalled
from core.logsetup import configure_logging
from core.ordering import LaneBook, LaneMoved, Position
from core.progress import PartitionWatch
from core.routing import BatchPlan, Chunking, plan_batch
from core.rules import RuleSnapshot
from core.settings import FilterSettings, KafkaSettings, MongoSettings, RabbitSettings

from .loop import SessionActor
from .process import normal_priority, tune_gc
from .snapshot import SnapshotFollower

log = logging.getLogger(__name__)


class PartitionFilter(SessionActor):
    stage = "filter"

    def __init__(
        self,
        index: int,
        partitions: list[int],
        kafka: KafkaSettings,
        rabbit_settings: RabbitSettings,
        settings: FilterSettings,
        rule_cache: str,
        namespace: str | None = None,
        chunking: Chunking | None = None,
        mongo: MongoSettings | None = None,
    ) -> None:
        normal_priority()
        configure_logging("filter")
        self._chunking = chunking or Chunking(settings.max_tasks_per_message)
        self.index = index
        self.partitions = list(partitions)
        self._kafka = kafka
        self._rabbit = rabbit_settings
        self._settings = settings
        self._mongo = mongo or MongoSettings()  # where ordered lanes keep their positions
        self._follower = SnapshotFollower(rule_cache, settings.snapshot_wait_s, namespace)
        self._doze: Doze | None = None  # the session's consumer (adapters/kafka_doze.py)
        self.stats: dict[str, float] = {
            "events": 0,
            "tasks": 0,
            "derived": 0,
            "invalid": 0,
            "batches": 0,
            "errors": 0,
            "stalls": 0,
            "last_batch_s": 0.0,
        }
        self._start(stop_timeout_s=15)

    def _describe(self) -> str:
        # Any failure: the clients are rebuilt and reading resumes from the committed offsets.
        return f"filter={self.index} partitions={self.partitions}"

    async def _session(self) -> None:
        name = f"edp-filter-{self.index}"
        consumer = self._open(name)
        producer = kafka_io.producer(self._kafka, name) if self._kafka.derived_topics else None
        connection = await rabbit.connect(self._rabbit, name)
        mongo = mongo_clients.client(self._mongo, serverSelectionTimeoutMS=3000)
        self._lane_store = LaneStore(mongo[self._mongo.database])
        following: asyncio.Task[None] | None = None
        self._uncommitted: dict[int, int] = {}  # partition -> next offset, all of it confirmed
        self._committed_at = time.monotonic()
        self._settling: deque[asyncio.Task[None]] = deque()  # published batches, oldest first
        try:
            channel = self._channel = await rabbit.confirm_channel(connection)
            topology = await rabbit.declare(channel, self._rabbit)
            snapshot = await self._follower.refresh()
            following = self._follower.follow()
            await self._take_partitions(consumer, snapshot.version)
            tune_gc()
            self._ready.set()
            prefix = self._kafka.derived_prefix if producer is not None else None
            watch = PartitionWatch(self._settings.stall_timeout_s)
            next_check = time.monotonic() + self._settings.stall_check_s
            next_gauges = 0.0
            while not self._stop.is_set():
                self._settled()  # a batch that failed to settle ends the session here
                records = await self._take(consumer)
                now = time.monotonic()
                if now >= next_check:
                    await self._check_progress(consumer, watch)
                    next_check = time.monotonic() + self._settings.stall_check_s
                snapshot = self._follower.snapshot
                if now >= next_gauges:  # gauges once a second, not once a batch
                    next_gauges = now + 1.0
                    metrics.filter_lag(consumer, self._kafka.topic, self.partitions)
                    self._follower.report("filter")
                if records:
                    await self._batch(records, snapshot, topology.exchange, consumer, producer, prefix)
                self._commit(consumer, due=self._settings.commit_interval_s)
        finally:
            self._ready.clear()
            if following is not None:
                following.cancel()
            await self._abandon_settling()
            # What was confirmed is committed, whatever ended the session; a commit that fails
            # here only means those records are read again.
            with contextlib.suppress(Exception):
                self._commit(consumer, due=0.0)
            await connection.close()
            await mongo.close()
            _close_in_background([consumer, self._dozing()], self.index)
            if producer is not None:
                producer.flush(5)

    async def _take(self, consumer: Any) -> list[Any]:
        f = self._settings
        return await asyncio.get_running_loop().run_in_executor(
            None, self._dozing().take, f.poll_batch, f.poll_timeout_s
        )

    async def _plan(self, records: list[Any], snapshot: RuleSnapshot, prefix: str | None) -> BatchPlan:
        """plan_batch, with every ordered lane's position read first (core.ordering).

        A position is read from the store only once every earlier batch has settled: until then
        the store may not have what those batches numbered."""
        ordered = {w for w in self._follower.lanes if (wh := snapshot.get(w)) is not None and wh.ordered}
        unread = ordered - self._lanes.known
        if unread:
            await self._drain()
            await self._lane_store.load_positions(self._lanes, unread)
        while True:
            before = self._lanes.copy()
            try:
                return plan_batch(
                    records,
                    snapshot,
                    time.time(),
                    prefix,
                    self._chunking,
                    self._follower.derived,
                    self._lanes,
                )
            except LaneMoved as moved:
                self._lanes.restore(before)
                await self._drain()
                await self._lane_store.load_positions(self._lanes, [moved.webhook_id])

    async def _take_partitions(self, consumer: Any, rules_version: int) -> None:
        # Lanes numbered where the last owner of these partitions left them (core.ordering).
        self._lanes = LaneBook()
        self._declared: set[str] = set()  # lanes declared on the broker in this session
        kafka_io.assign(consumer, self._kafka.topic, self.partitions)
        log.info(
            "filter=%d assigned topic=%s partitions=%s rules_version=%d",
            self.index,
            self._kafka.topic,
            self.partitions,
            rules_version,
        )

    def _commit(self, consumer: Any, due: float) -> None:
        """Commit the confirmed offsets if `due` seconds passed since the last commit."""
        if self._uncommitted and time.monotonic() - self._committed_at >= due:
            kafka_io.commit(consumer, self._kafka.topic, self._uncommitted)  # asynchronous
            self._uncommitted = {}
            self._committed_at = time.monotonic()

    def _open(self, name: str) -> Any:
        """The session's consumer, and its doorbell for quiet spells (`self._doze`)."""
        k, consumer = self._kafka, self._consumer(name)
        self._doze = Doze(consumer, doorbell(k, name), k.topic, self.partitions, self._settings.doze_after_s)
        return consumer

    def _dozing(self) -> Doze:
        assert self._doze is not None, "set at the session's start"
        return self._doze

    def _consumer(self, client_id: str) -> Any:
        return kafka_io.consumer(self._kafka, client_id)

    async def _batch(
        self,
        records: list[Any],
        snapshot: RuleSnapshot,
        exchange: Any,
        consumer: Any,
        producer: Any,
        prefix: str | None,
    ) -> None:
        """Plan one polled batch and publish it; it settles in the background (`_settle`)."""
        started = time.perf_counter()
        errors = [r for r in records if r.error() is not None]
        if errors:
            raise BrokerUnavailable(f"kafka consume: {errors[0].error()}")
        plan = await self._plan(records, snapshot, prefix)
        for lane in {m.webhook_id for m in plan.messages if m.lane} - self._declared:
            await rabbit.declare_lane(self._channel, self._rabbit, exchange, lane)
            self._declared.add(lane)
        # What this batch numbered, as of this batch: a later batch numbers further before this
        # one's confirms arrive, and a saved position must never cover unconfirmed tasks.
        positions = {w: self._lanes.positions[w] for w in self._lanes.dirty}
        self._lanes.dirty.clear()
        # The frames go out now, in batch order on the one channel; only the confirms are awaited
        # later. gather() starts every publish before this returns.
        confirms = rabbit.publish_started(
            exchange, ((m.routing_key, rabbit.message(m.body, m.message_id)) for m in plan.messages)
        )
        while len(self._settling) >= self._settings.batches_in_flight:
            await asyncio.wait({self._settling[0]})
            self._settled()
        previous = self._settling[-1] if self._settling else None
        task = asyncio.create_task(self._settle(plan, confirms, positions, producer, previous, started))
        self._settling.append(task)

    async def _settle(
        self,
        plan: BatchPlan,
        confirms: Awaitable[int],
        positions: dict[str, Position],
        producer: Any,
        previous: asyncio.Task[None] | None,
        started: float,
    ) -> None:
        """Confirmed, copied, lanes saved, then committable: after the batch before it did all that."""
        with metrics.publishing(len(plan.messages)):
            await confirms
        if previous is not None:
            await previous  # raises if it failed: then nothing after it may become committable
        if producer is not None and plan.derived:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, kafka_io.produce_all, producer, plan.derived)
        if positions:  # before the offsets: a new owner must not number these again
            await self._lane_store.save_positions(positions)
        self._uncommitted.update(plan.commit)  # all of it confirmed: may be committed now
        if plan.invalid:
            log.warning("filter=%d skipped invalid records=%d", self.index, plan.invalid)
        s = self.stats
        s["events"] += plan.events
        s["tasks"] += plan.tasks
        s["derived"] += len(plan.derived)
        s["invalid"] += plan.invalid
        s["batches"] += 1
        s["last_batch_s"] = time.perf_counter() - started
        metrics.filter_batch(
            events=plan.events,
            matches=plan.tasks,
            invalid=plan.invalid,
            derived=len(plan.derived),
            seconds=s["last_batch_s"],
        )

    async def _abandon_settling(self, timeout_s: float = 5.0) -> None:
        """Session end: batches still settling get a moment to finish (their offsets become
        committable); any that do not are simply read again by the next session."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain(), timeout=timeout_s)
        for task in self._settling:
            task.cancel()
        self._settling.clear()

    def _settled(self) -> None:
        """Forget the batches that settled; re-raise the failure of one that did not."""
        while self._settling and self._settling[0].done():
            self._settling.popleft().result()

    async def _drain(self) -> None:
        """Wait until every published batch has settled (raises the first failure)."""
        while self._settling:
            await asyncio.wait({self._settling[0]})
            self._settled()

    async def _check_progress(self, consumer: Any, watch: PartitionWatch) -> None:
        nexts, highs = await asyncio.get_running_loop().run_in_executor(
            None, kafka_io.read_positions, consumer, self._kafka.topic, self.partitions
        )
        # Records waiting while it dozes: the doorbell missed them. Woken, the consumer moves
        # on at once; one that still does not is what the watch is for.
        self._dozing().wake_if_waiting(nexts, highs)
        stalled = watch.observe(time.monotonic(), nexts, highs)
        if stalled:
            self.stats["stalls"] += 1
            detail = {p: (nexts[p], highs[p], round(s, 1)) for p, s in stalled.items()}
            raise PartitionStalled(f"records waiting, consumer not moving (next, high, seconds): {detail}")

    def status(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "partitions": self.partitions,
            "ready": self._ready.is_set(),
            "rules_version": self._follower.snapshot.version,
            "dozing": self._doze is not None and self._doze.dozing,
            "dozes": self._doze.dozes if self._doze is not None else 0,
            "doorbell_missed": self._doze.missed if self._doze is not None else 0,
            **self.stats,
        }


def _close_in_background(consumers: list[Any], index: int, timeout_s: float = 10.0) -> None:
    """Close consumers without letting them hold the next session back: librdkafka's close can
    wait for a broker that is gone, and a stuck close would keep the partitions unread, the very
    thing a restart is for. After `timeout_s` they are left to finish (or not) on their own
    threads; they have no records to hand out and commit nothing more."""
    closers = [threading.Thread(target=c.close, name=f"filter-{index}-close", daemon=True) for c in consumers]
    for closer in closers:
        closer.start()
    deadline = time.monotonic() + timeout_s
    for closer in closers:
        closer.join(max(0.0, deadline - time.monotonic()))
    if any(closer.is_alive() for closer in closers):
        log.warning("filter=%d consumer close still waiting after %.0fs, left behind", index, timeout_s)
