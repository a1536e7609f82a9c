"""Supervisor: creates the pipeline's actors, pins partitions, sizes the pool, heals.

Ray restarts a crashed actor by itself (max_restarts=-1), on another node if its node died; the
actor's constructor arguments (its partitions) come with it, and its loop restarts from the
committed offsets. The supervisor covers what Ray does not: an actor that is gone for good
(killed without restart, or its restarts exhausted) is created again with the same partitions,
and `resize` re-pins partitions when the number of filter actors changes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError

from adapters import kafka_io
from core.logsetup import configure_logging
from core.routing import Chunking

from .assignment import assign_partitions
from .config import PipelineConfig

log = logging.getLogger(__name__)


class Supervisor:
    filter_actor: Any = None  # the actor class its filters are made of (default: cluster.remote's)

    def __init__(self, config: PipelineConfig, detached: bool = True, check_interval_s: float = 2.0) -> None:
        self.config = config
        self._detached = detached
        self._interval = check_interval_s
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self.rule_cache: Any = None
        self.filters: list[Any] = []
        self.deliveries: list[Any] = []
        self.recreated = 0
        self._filter_count = config.filter.actors
        self._delivery_count = config.delivery.actors
        self._monitor: threading.Thread | None = None
        self._rules_name = f"{config.prefix}-rules"
        self.retention: Any = None
        # The actor classes wrap the plain ones in cluster.remote, which imports this module.
        from cluster import remote

        self._remote = remote
        self._filter_actor = self.filter_actor or remote.FilterActor

    def _opts(self, name: str) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "name": f"{self.config.prefix}-{name}",
            "namespace": self.config.namespace,
            "get_if_exists": True,
            "num_cpus": self.config.actor_cpus,
        }
        if self._detached:
            opts["lifetime"] = "detached"
        return opts

    def _new_rule_cache(self) -> Any:
        c = self.config
        return self._remote.RuleCacheActor.options(**self._opts("rules")).remote(c.mongo, c.rules, c.secrets)

    def _new_retention(self) -> Any:
        c = self.config
        return self._remote.RetentionActor.options(**self._opts("retention")).remote(c.mongo, c.retention)

    def _new_filter(self, i: int, partitions: list[int]) -> Any:
        c = self.config
        return self._filter_actor.options(**self._opts(f"filter-{i}"), scheduling_strategy="SPREAD").remote(
            i,
            partitions,
            c.kafka,
            c.rabbit,
            c.filter,
            self._rules_name,
            c.namespace,
            self._chunking(),
            c.mongo,
        )

    def _chunking(self) -> Chunking:
        d = self.config.delivery
        return Chunking(
            self.config.filter.max_tasks_per_message, self._delivery_count, d.per_endpoint_concurrency
        )

    def _new_delivery(self, i: int) -> Any:
        c = self.config
        return self._remote.DeliveryActor.options(
            **self._opts(f"delivery-{i}"), scheduling_strategy="SPREAD"
        ).remote(
            i,
            self._delivery_count,
            c.rabbit,
            c.mongo,
            c.delivery,
            self._rules_name,
            c.filter.snapshot_wait_s,
            c.namespace,
        )

    def start(self, timeout: float = 120) -> dict[str, Any]:
        with self._lock:
            kafka_io.ensure_topic(self.config.kafka)
            self.rule_cache = self._new_rule_cache()
            ray.get(self.rule_cache.ready.remote(), timeout=timeout)
            self._assignment = assign_partitions(self.config.kafka.partitions, self._filter_count)
            self.filters = [self._new_filter(i, p) for i, p in enumerate(self._assignment)]
            self.deliveries = [self._new_delivery(i) for i in range(self._delivery_count)]
            self.retention = self._new_retention()
            ray.get([a.ready.remote() for a in self.filters + self.deliveries], timeout=timeout)
        if self._monitor is None:
            self._monitor = threading.Thread(target=self._watch, name="supervisor", daemon=True)
            self._monitor.start()
        return self.status()

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.heal()
            except Exception as exc:
                log.warning("supervisor heal failed error=%r", exc)

    def heal(self) -> int:
        """Recreate actors that are gone for good. Returns how many were recreated."""
        fixed = 0
        with self._lock:
            if not _alive(self.rule_cache):
                self.rule_cache = self._new_rule_cache()
                fixed += 1
            if self.retention is not None and not _alive(self.retention):
                self.retention = self._new_retention()
                fixed += 1
            for i, actor in enumerate(self.filters):
                if not _alive(actor):
                    log.warning("filter=%d gone, recreating partitions=%s", i, self._assignment[i])
                    self.filters[i] = self._new_filter(i, self._assignment[i])
                    fixed += 1
            for i, actor in enumerate(self.deliveries):
                if not _alive(actor):
                    log.warning("delivery=%d gone, recreating", i)
                    self.deliveries[i] = self._new_delivery(i)
                    fixed += 1
            self.recreated += fixed
        return fixed

    def resize(
        self, filters: int | None = None, deliveries: int | None = None, timeout: float = 120
    ) -> dict[str, Any]:
        """Change the pool sizes. Filters are stopped before partitions are re-pinned, so no
        partition ever has two owners."""
        with self._lock:
            if filters is not None and filters != self._filter_count:
                ray.get([a.stop.remote() for a in self.filters])
                for a in self.filters:
                    ray.kill(a, no_restart=True)
                self._filter_count = filters
                self._assignment = assign_partitions(self.config.kafka.partitions, filters)
                # Named actors are released asynchronously after kill; wait for the names.
                time.sleep(1.0)
                self.filters = [self._new_filter(i, p) for i, p in enumerate(self._assignment)]
            if deliveries is not None and deliveries != self._delivery_count:
                ray.get([a.stop.remote() for a in self.deliveries])
                for a in self.deliveries:
                    ray.kill(a, no_restart=True)
                self._delivery_count = deliveries
                time.sleep(1.0)
                self.deliveries = [self._new_delivery(i) for i in range(deliveries)]
            ray.get([a.ready.remote() for a in self.filters + self.deliveries], timeout=timeout)
        return self.status()

    def status(self) -> dict[str, Any]:
        def safe(actor: Any) -> Any:
            try:
                return ray.get(actor.status.remote(), timeout=5)
            except (RayActorError, GetTimeoutError) as exc:
                return {"error": type(exc).__name__}

        with self._lock:
            return {
                "rules": safe(self.rule_cache),
                "filters": [safe(a) for a in self.filters],
                "deliveries": [safe(a) for a in self.deliveries],
                "retention": safe(self.retention) if self.retention is not None else None,
                "recreated": self.recreated,
            }

    def handles(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": self.rule_cache,
                "filters": list(self.filters),
                "deliveries": list(self.deliveries),
            }

    def stop(self) -> None:
        """Graceful: filters stop after their current batch; workers finish in-flight deliveries."""
        self._stop.set()
        with self._lock:
            actors = self.filters + self.deliveries
            try:
                ray.get([a.stop.remote() for a in actors], timeout=60)
            except (RayActorError, GetTimeoutError) as exc:
                log.warning("stop: %r", exc)
            for a in [*actors, self.rule_cache, self.retention]:
                if a is not None:
                    ray.kill(a, no_restart=True)


def _alive(actor: Any) -> bool:
    if actor is None:
        return False
    try:
        ray.get(actor.status.remote(), timeout=10)
        return True
    except ActorDiedError:
        return False
    except (RayActorError, GetTimeoutError):
        return True  # busy, unavailable or restarting: Ray is on it


class SupervisorProcess(Supervisor):
    """The supervisor as an actor (cluster.remote.SupervisorActor) owns its process, so it sets
    up that process's logging."""

    def __init__(self, config: PipelineConfig, detached: bool = True, check_interval_s: float = 2.0) -> None:
        configure_logging("supervisor")
        super().__init__(config, detached, check_interval_s)
