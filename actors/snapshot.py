"""Keeps a local RuleSnapshot in step with the RuleCache actor, never with a call per event.

One long poll at a time in the background: the rule cache answers as soon as its version moves
(or after `wait_s` with "no change"), so a change reaches every follower within the cache's own
poll of MongoDB, and a quiet platform makes one small Ray call per follower per `wait_s`
instead of several a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import ray
from ray.exceptions import ActorDiedError

from adapters import metrics
from core.errors import BrokerUnavailable
from core.mirror import Changes, Derived
from core.models import Webhook
from core.rules import RuleSnapshot

log = logging.getLogger(__name__)

RETRY_S = 1.0  # after a failed long poll (the cache restarting, say), ask again this soon


class SnapshotFollower:
    """Follows the rule cache by name, so a rule cache recreated by the supervisor is found again."""

    def __init__(self, rule_cache: str, wait_s: float, namespace: str | None = None) -> None:
        self._name = rule_cache
        self._namespace = namespace
        self._cache: Any = None
        self.wait_s = wait_s
        self._epoch: str | None = None
        self.snapshot = RuleSnapshot(version=0, webhooks={})
        self.derived: Derived = frozenset()  # (org, type) whose events get a derived-topic copy
        self.lanes: set[str] = set()  # webhooks with an ordered lane (core.ordering)
        self.refreshed_at = 0.0

    def report(self, stage: str) -> None:
        """The snapshot's version, freshness and size, as this stage's rule metrics."""
        metrics.rules(
            stage, version=self.snapshot.version, refreshed_at=self.refreshed_at, webhooks=len(self.snapshot)
        )

    def get(self, webhook_id: str) -> Webhook | None:
        """The webhook as the newest snapshot has it (the snapshot object changes on refresh)."""
        return self.snapshot.get(webhook_id)

    def version_of(self, webhook_id: str) -> int | None:
        """The newest snapshot's version of a webhook; None when it is not there."""
        wh = self.snapshot.get(webhook_id)
        return None if wh is None else wh.version

    def apply(self, changes: Changes | None) -> RuleSnapshot:
        if changes is not None:
            if changes.full:
                self.snapshot = RuleSnapshot(changes.version, {w.id: w for w in changes.upserts})
                self.lanes = {w.id for w in changes.upserts if w.ordered_lane}
            else:
                self.snapshot = self.snapshot.with_changes(changes.upserts, changes.deletes, changes.version)
                self.lanes.difference_update(changes.deletes)
                for w in changes.upserts:
                    (self.lanes.add if w.ordered_lane else self.lanes.discard)(w.id)
            self.derived = changes.derived
            self._epoch = changes.epoch
            log.debug("snapshot version=%d full=%s", changes.version, changes.full)
        self.refreshed_at = time.time()
        return self.snapshot

    async def refresh(self) -> RuleSnapshot:
        """Ask now, answered at once. Raises BrokerUnavailable while the cache has no rules loaded
        yet (nothing to match with: a session must not start on an empty snapshot)."""
        snapshot = self.apply(await self._ask(0.0))
        if self._epoch is None:
            raise BrokerUnavailable(f"rule cache {self._name} has no rules loaded yet")
        return snapshot

    def follow(self) -> asyncio.Task[None]:
        """Keep the snapshot current from now on, on the running loop (cancel the task to stop)."""
        return asyncio.get_running_loop().create_task(self._follow(), name=f"follow-{self._name}")

    async def _follow(self) -> None:
        while True:
            try:
                self.apply(await self._ask(self.wait_s))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the cache restarting or gone: keep the snapshot, ask again
                log.warning("rule snapshot not refreshed cache=%s error=%r", self._name, exc)
                await asyncio.sleep(RETRY_S)

    async def _ask(self, wait_s: float) -> Changes | None:
        if self._cache is None:
            self._cache = ray.get_actor(self._name, namespace=self._namespace)
        try:
            changes: Changes | None = await self._cache.changes_since.remote(
                self._epoch, self.snapshot.version, wait_s
            )
            return changes
        except ActorDiedError:
            self._cache = None  # gone for good: look the name up again next time
            raise
