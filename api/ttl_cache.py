"""A small in-process cache with a TTL, shared by the API's hot-path lookups (API keys, orgs).

A hit costs one dict lookup and a clock read. Concurrent misses for one key share a single
load; answers are cached whether positive or negative (a flood of unknown keys must not become
a flood of queries), and the bound keeps such a flood from growing memory without end. The
clock is injected, so tests let the TTL pass without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")

MAX_ENTRIES = 100_000


class TtlCache(Generic[V]):
    def __init__(self, load: Callable[[str], Awaitable[V]], ttl_s: float, clock: Callable[[], float]) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, V]] = {}
        self._inflight: dict[str, asyncio.Task[V]] = {}

    async def get(self, key: str) -> V:
        hit = self._cache.get(key)
        if hit is not None and hit[0] > self._clock():
            return hit[1]
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._fetch(key))
            self._inflight[key] = task
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return await asyncio.shield(task)

    async def _fetch(self, key: str) -> V:
        value = await self._load(key)
        if self._ttl_s > 0:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = (self._clock() + self._ttl_s, value)
        return value

    def peek(self, key: str) -> V | None:
        """The cached value even past its TTL (a loader's fallback while its source is down)."""
        hit = self._cache.get(key)
        return hit[1] if hit is not None else None

    def forget(self, key: str) -> None:
        self._cache.pop(key, None)

    def forget_where(self, doomed: Callable[[V], bool]) -> None:
        for key in [k for k, (_, v) in self._cache.items() if doomed(v)]:
            del self._cache[key]
