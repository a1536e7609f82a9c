"""Event types' compiled schemas per org, cached in the process, so ingest makes no database
call per event.

An org's validators are kept for `ApiSettings.event_type_cache_s` (like API keys): a schema
written through another API server applies here within that time, through this one at once
(its route calls `forget`). What a schema means is core/event_schemas.py. The clock is
injected, as in `auth.KeyAuth`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import orjson

from adapters.repos import EventTypeRepo
from core.errors import BrokerUnavailable
from core.event_schemas import CompiledSchema
from core.models import Event

log = logging.getLogger(__name__)

# Bounds memory when many orgs send; a cleared cache only costs one query per org.
MAX_CACHED_ORGS = 100_000


class EventSchemas:
    """Per-org compiled validators, cached; concurrent misses for one org share one query."""

    def __init__(
        self, repo: EventTypeRepo, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._repo = repo
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Mapping[str, CompiledSchema]]] = {}
        self._inflight: dict[str, asyncio.Task[Mapping[str, CompiledSchema]]] = {}

    def cached(self, org: str) -> Mapping[str, CompiledSchema] | None:
        hit = self._cache.get(org)
        return hit[1] if hit is not None and hit[0] > self._clock() else None

    async def load(self, org: str) -> Mapping[str, CompiledSchema]:
        task = self._inflight.get(org)
        if task is None:
            task = asyncio.ensure_future(self._fetch(org))
            self._inflight[org] = task
            task.add_done_callback(lambda _t: self._inflight.pop(org, None))
        return await asyncio.shield(task)

    async def check(self, org: str, events: list[Event], prefix: str = "") -> None:
        """Validate each event's `data` against its type's schema, if the type has one."""
        schemas = self.cached(org)
        if schemas is None:
            schemas = await self.load(org)
        if not schemas:
            return
        for i, event in enumerate(events):
            compiled = schemas.get(event["type"])
            if compiled is not None:
                compiled.check(event["data"], f"{prefix}{i}.data" if prefix else "data")

    def forget(self, org: str) -> None:
        self._cache.pop(org, None)

    async def _fetch(self, org: str) -> Mapping[str, CompiledSchema]:
        try:
            rows = await self._repo.schemas(org)
        except BrokerUnavailable:
            stale = self._cache.get(org)
            if stale is None:
                raise
            # Keep checking with what we knew rather than refuse every event while MongoDB is away.
            log.warning("event type schemas stale org=%s: database unavailable", org)
            self._cache[org] = (self._clock() + self._ttl_s, stale[1])
            return stale[1]
        compiled: dict[str, CompiledSchema] = {}
        for name, text in rows:
            try:
                compiled[name] = CompiledSchema(orjson.loads(text))
            except Exception as exc:  # written by another tool; ingest must not fail on it
                log.warning("event type schema skipped org=%s type=%s error=%r", org, name, exc)
        if self._ttl_s > 0:
            if len(self._cache) >= MAX_CACHED_ORGS:
                self._cache.clear()
            self._cache[org] = (self._clock() + self._ttl_s, compiled)
        return compiled
