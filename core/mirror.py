"""The rule cache's bookkeeping: a versioned mirror of the webhooks collection, and deltas; and
the event types that asked for a derived per-type topic.

The mirror applies webhook documents as they are polled (idempotently: a document is only a
change if its own version or updated_at moved) and keeps a short change log so readers can ask
"what changed since version N" instead of copying a million webhooks every time. A reader whose
epoch differs (the cache restarted) or whose version fell off the log gets a full copy.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from core.models import Webhook

# (org, event type) pairs whose events the filters copy to a derived per-type topic.
Derived = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class Changes:
    epoch: str
    version: int
    full: bool
    upserts: tuple[Webhook, ...]
    deletes: tuple[str, ...]
    derived: Derived = frozenset()  # always the whole set: it is small (only types that ask)


class RuleMirror:
    def __init__(self, log_size: int = 1024, epoch: str | None = None) -> None:
        self.epoch = epoch or os.urandom(8).hex()
        self.version = 0
        self.webhooks: dict[str, Webhook] = {}
        self.derived: Derived = frozenset()
        self._log: deque[tuple[int, frozenset[str]]] = deque(maxlen=log_size)

    def apply(self, webhooks: Iterable[Webhook], full: bool = False) -> bool:
        """Apply polled webhooks; with `full`, anything not in them is deleted. True if anything moved."""
        touched: set[str] = set()
        seen: set[str] = set()
        for wh in webhooks:
            seen.add(wh.id)
            current = self.webhooks.get(wh.id)
            if wh.deleted:
                if current is not None:
                    del self.webhooks[wh.id]
                    touched.add(wh.id)
                continue
            if current is None or (wh.version, wh.updated_at) != (current.version, current.updated_at):
                self.webhooks[wh.id] = wh
                touched.add(wh.id)
        if full:
            for gone in [i for i in self.webhooks if i not in seen]:
                del self.webhooks[gone]
                touched.add(gone)
        if not touched:
            return False
        self.version += 1
        self._log.append((self.version, frozenset(touched)))
        return True

    def set_derived(self, pairs: Iterable[tuple[str, str]]) -> bool:
        """The event types that want a derived topic now; True (a new version) if that changed."""
        new = frozenset(pairs)
        if new == self.derived:
            return False
        self.derived = new
        self.version += 1
        self._log.append((self.version, frozenset()))
        return True

    def changes_since(self, epoch: str | None, version: int) -> Changes | None:
        """None when the reader is up to date."""
        if epoch == self.epoch and version == self.version:
            return None
        oldest = self._log[0][0] if self._log else self.version + 1
        if epoch != self.epoch or version > self.version or version < oldest - 1:
            return Changes(self.epoch, self.version, True, tuple(self.webhooks.values()), (), self.derived)
        ids: set[str] = set()
        for v, touched in self._log:
            if v > version:
                ids |= touched
        upserts = tuple(self.webhooks[i] for i in ids if i in self.webhooks)
        deletes = tuple(i for i in ids if i not in self.webhooks)
        return Changes(self.epoch, self.version, False, upserts, deletes, self.derived)
