"""Retention: deletes what has outlived its retention (attempts, dead letters, tombstones).

FerretDB has no TTL indexes, so a small actor does it every `RetentionSettings.interval_s`,
first ten minutes after it starts (not during start-up). It runs at Ray's default worker
priority, below the pipeline's actors: it is background work. `python -m jobs.retention` runs
one purge by hand.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pymongo.errors import PyMongoError

from adapters import mongo as mongo_clients
from adapters.retention import purge
from core.logsetup import configure_logging
from core.settings import MongoSettings, RetentionSettings

log = logging.getLogger(__name__)

FIRST_PURGE_AFTER_S = 600.0  # not during start-up, nor a benchmark run right after it


class Retention:
    def __init__(
        self, mongo: MongoSettings, settings: RetentionSettings, first_after_s: float = FIRST_PURGE_AFTER_S
    ) -> None:
        configure_logging("retention")
        self._mongo = mongo
        self._settings = settings
        self._stop = threading.Event()
        self.last: dict[str, Any] = {}
        self._thread = threading.Thread(
            target=self._run, args=(first_after_s,), name="retention", daemon=True
        )
        self._thread.start()

    def _run(self, first_after_s: float) -> None:
        wait = first_after_s
        while not self._stop.wait(wait):
            self.purge_now()
            wait = self._settings.interval_s

    def purge_now(self) -> dict[str, Any]:
        client = mongo_clients.sync_client(self._mongo, **mongo_clients.PURGE_OPTIONS)
        try:
            self.last = purge(client[self._mongo.database], self._settings)
            log.info("retention removed=%s", self.last)
        except PyMongoError as exc:
            log.warning("retention failed error=%r", exc)
            self.last = {"error": repr(exc)}
        finally:
            client.close()
        return self.last

    def status(self) -> dict[str, Any]:
        return {"last": self.last, "interval_s": self._settings.interval_s}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
