"""RuleCache: a named, detached actor mirroring MongoDB's `webhooks` collection.

FerretDB has no change streams, so the cache polls `updated_at` (looking back `overlap_s` to
catch writes committed slightly out of timestamp order) when the rules clock moved
(adapters/rules_clock.py) or `scan_interval_s` passed; it polls more slowly after a quiet
spell (`RuleCacheSettings.interval`), and reloads everything every `full_reload_s`. Readers long-poll
it (`changes_since` with `wait_s`): a change reaches them as soon as a poll sees it. It is a
threaded actor (cluster.remote), one thread per waiting reader. Where the server has change
streams (MongoDB replica set), polling still runs; it is cheap and it is the one path that is
tested here.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from pymongo.errors import PyMongoError

from actors.process import normal_priority
from adapters import metrics, rules_clock
from adapters import mongo as mongo_clients
from adapters.mongo import EVENT_TYPES, WEBHOOKS
from adapters.secret_keys import SecretBox
from core.logsetup import configure_logging
from core.mirror import Changes, RuleMirror
from core.models import Webhook, utcnow
from core.sealing import SecretsKeyError
from core.settings import MongoSettings, RuleCacheSettings, SecretsSettings

log = logging.getLogger(__name__)


class RuleCache:
    def __init__(
        self, mongo: MongoSettings, settings: RuleCacheSettings, secrets: SecretsSettings | None = None
    ) -> None:
        normal_priority()
        configure_logging("rules")
        self._settings = settings
        # Secrets are opened here, once per change, and travel to the filters and delivery
        # actors in memory over Ray: nothing downstream holds a key or meets a ciphertext.
        self._box = SecretBox(secrets or SecretsSettings(key=None, previous_keys=None, key_file=None))
        self._client = mongo_clients.sync_client(mongo, serverSelectionTimeoutMS=3000)
        self._db = self._client[mongo.database]
        self._coll = self._db[WEBHOOKS]
        # Event types that asked for a derived per-type topic: few, read whole every poll.
        self._types = self._db[EVENT_TYPES]
        self._mirror = RuleMirror()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # long polls wait on it (changes_since)
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._last_poll = 0.0
        self._errors = 0
        self._thread = threading.Thread(target=self._run, name="rule-cache-poll", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        since = None
        last_full = last_scan = 0.0
        last_change = time.monotonic()
        clock = -1
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                full = since is None or started - last_full >= self._settings.full_reload_s
                reading = rules_clock.read(self._db)  # before the scan: see adapters/rules_clock
                scan = full or reading != clock or started - last_scan >= self._settings.scan_interval_s
                poll_start = utcnow()
                if full:
                    docs = list(self._coll.find({}))
                    last_full = started
                elif scan:
                    docs = list(self._coll.find({"updated_at": {"$gte": since}}))
                else:
                    docs = []
                if scan:
                    clock, last_scan = reading, started
                webhooks = self._opened(docs)
                derived = [(d["org"], d["name"]) for d in self._types.find({"derived_topic": True})]
                with self._changed:
                    changed = self._mirror.apply(webhooks, full=full)
                    changed = self._mirror.set_derived(derived) or changed
                    if changed:
                        self._changed.notify_all()
                if changed:
                    last_change = started
                    log.info(
                        "rules version=%d webhooks=%d full=%s",
                        self._mirror.version,
                        len(self._mirror.webhooks),
                        full,
                    )
                if scan:
                    since = poll_start - timedelta(seconds=self._settings.overlap_s)
                self._last_poll = time.time()
                self._loaded.set()
            except PyMongoError as exc:
                self._errors += 1
                log.warning("rules poll failed error=%r", exc)
            metrics.rules(
                "rule_cache",
                version=self._mirror.version,
                refreshed_at=self._last_poll,
                webhooks=len(self._mirror.webhooks),
            )
            interval = self._settings.interval(quiet_s=started - last_change)
            self._stop.wait(max(0.0, interval - (time.monotonic() - started)))

    def _opened(self, docs: list[dict[str, Any]]) -> list[Webhook]:
        """The polled documents as webhooks, secrets opened. One whose secret does not open (its
        key is not in the keyring yet) keeps the version the mirror has, rather than failing the
        poll for everyone or, on a full reload, vanishing from the snapshot."""
        out: list[Webhook] = []
        for doc in docs:
            try:
                out.append(Webhook.from_doc(self._box.open(doc)))
            except SecretsKeyError as exc:
                self._errors += 1
                log.error("webhook secrets do not open webhook=%s error=%s", doc.get("_id"), exc)
                known = self._mirror.webhooks.get(str(doc.get("_id")))
                if known is not None:
                    out.append(known)
        return out

    def changes_since(self, epoch: str | None, version: int, wait_s: float = 0.0) -> Changes | None:
        """What changed since the reader's (epoch, version); with `wait_s`, a long poll: the answer
        comes as soon as something changes, or after `wait_s` as None ("no change")."""
        # Until the first poll succeeds the mirror is empty, which is not "no webhooks": handing it
        # out would make every reader match nothing, and the filters would commit past events
        # they never published (a cache restarted while MongoDB is down lost them all). None
        # keeps each reader's current snapshot; a reader without one waits (SnapshotFollower).
        if not self._loaded.wait(timeout=max(wait_s, 30.0)):
            return None
        with self._changed:
            mirror = self._mirror
            self._changed.wait_for(lambda: (epoch, version) != (mirror.epoch, mirror.version), wait_s)
            return self._mirror.changes_since(epoch, version)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "epoch": self._mirror.epoch,
                "version": self._mirror.version,
                "webhooks": len(self._mirror.webhooks),
                "loaded": self._loaded.is_set(),
                "last_poll": self._last_poll,
                "poll_errors": self._errors,
            }

    def ready(self) -> bool:
        return self._loaded.wait(timeout=30)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.close()
