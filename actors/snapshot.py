"""Keeps a local RuleSnapshot in step with the RuleCache actor: one small Ray call per interval,
never one per event."""

from __future__ import annotations

import logging
import time
from typing import Any

import ray
from ray.exceptions import ActorDiedError

from adapters import metrics
from core.errors import BrokerUnavailable
from core.mirror import Changes
from core.models import Webhook
from core.rules import RuleSnapshot

log = logging.getLogger(__name__)


class SnapshotFollower:
    """Follows the rule cache by name, so a rule cache recreated by the supervisor is found again."""

    def __init__(self, rule_cache: str, interval_s: float, namespace: str | None = None) -> None:
        self._name = rule_cache
        self._namespace = namespace
        self._cache: Any = None
        self.interval = interval_s
        self._epoch: str | None = None
        self._next = 0.0
        self.snapshot = RuleSnapshot(version=0, webhooks={})
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
            else:
                self.snapshot = self.snapshot.with_changes(changes.upserts, changes.deletes, changes.version)
            self._epoch = changes.epoch
            log.debug("snapshot version=%d full=%s", changes.version, changes.full)
        self.refreshed_at = time.time()
        return self.snapshot

    async def refresh(self, force: bool = False) -> RuleSnapshot:
        now = time.monotonic()
        if not force and now < self._next:
            return self.snapshot
        self._next = now + self.interval
        if self._cache is None:
            self._cache = ray.get_actor(self._name, namespace=self._namespace)
        try:
            changes = await self._cache.changes_since.remote(self._epoch, self.snapshot.version)
        except ActorDiedError:
            self._cache = None  # gone for good: look the name up again next time
            raise
        snapshot = self.apply(changes)
        if self._epoch is None:  # the cache has not loaded the rules yet: nothing to match with
            raise BrokerUnavailable(f"rule cache {self._name} has no rules loaded yet")
        return snapshot
