"""Event types' compiled schemas per org, cached in the process, so ingest makes no database
call per event.

An org's validators are kept for `ApiSettings.event_type_cache_s` (like API keys): a schema
written through another API server applies here within that time, through this one at once
(its route calls `forget`). What a schema means is core/event_schemas.py. The clock is
injected, as in `auth.KeyAuth`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import orjson

from adapters.repos import EventTypeRepo
from api.ttl_cache import TtlCache
from core.errors import BrokerUnavailable
from core.event_schemas import CompiledSchema
from core.models import Event

log = logging.getLogger(__name__)


class EventSchemas:
    """Per-org compiled validators, cached; concurrent misses for one org share one query."""

    def __init__(
        self, repo: EventTypeRepo, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._repo = repo
        self._cache: TtlCache[Mapping[str, CompiledSchema]] = TtlCache(self._fetch, ttl_s, clock)

    async def check(self, org: str, events: list[Event], prefix: str = "", first: int = 0) -> None:
        """Validate each event's `data` against its type's schema, if the type has one; with
        `prefix`, fields are named `<prefix><first + index>.data`."""
        schemas = await self._cache.get(org)
        if not schemas:
            return
        for i, event in enumerate(events):
            compiled = schemas.get(event["type"])
            if compiled is not None:
                compiled.check(event["data"], f"{prefix}{first + i}.data" if prefix else "data")

    def forget(self, org: str) -> None:
        self._cache.forget(org)

    async def _fetch(self, org: str) -> Mapping[str, CompiledSchema]:
        try:
            rows = await self._repo.schemas(org)
        except BrokerUnavailable:
            stale = self._cache.peek(org)
            if stale is None:
                raise
            # Keep checking with what we knew rather than refuse every event while MongoDB is away.
            log.warning("event type schemas stale org=%s: database unavailable", org)
            return stale
        compiled: dict[str, CompiledSchema] = {}
        for name, text in rows:
            try:
                compiled[name] = CompiledSchema(orjson.loads(text))
            except Exception as exc:  # written by another tool; ingest must not fail on it
                log.warning("event type schema skipped org=%s type=%s error=%r", org, name, exc)
        return compiled
