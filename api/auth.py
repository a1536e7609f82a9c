"""Who is calling: org API keys (cached in-process) and the admin key.

A key is looked up by its SHA-256 and the answer, positive or negative, is cached for
`ApiSettings.key_cache_s` seconds, so the hot path costs one hash and one dict lookup. The
price: a revoked key keeps working for up to that long on API servers other than the one
that revoked it. Concurrent misses for one key share a single database read. The clock is
injected (time.monotonic in the app), so tests let the TTL pass without sleeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.repos import OrgRepo
from core.errors import Unauthorized
from core.keys import hash_key
from core.settings import AdminSettings

MAX_TOKEN_CHARS = 256
# Unknown keys are cached too (a flood of bad keys must not become a flood of queries); the
# bound keeps such a flood from growing memory without end.
MAX_CACHED_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Principal:
    org: str
    name: str
    key_hash: str
    org_key: bytes = field(repr=False)  # the Kafka record key, encoded once


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer <API key>")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization must be: Bearer <API key>")
    if len(token) > MAX_TOKEN_CHARS or not token.isascii() or not token.isprintable():
        raise Unauthorized("unknown or revoked API key")
    return token


class KeyAuth:
    def __init__(self, orgs: OrgRepo, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._orgs = orgs
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._inflight: dict[str, asyncio.Task[Principal | None]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        digest = hash_key(bearer_token(authorization))
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > self._clock():
            principal = hit[1]
        else:
            task = self._inflight.get(digest)
            if task is None:
                task = asyncio.ensure_future(self._fetch(digest))
                self._inflight[digest] = task
                task.add_done_callback(lambda _t: self._inflight.pop(digest, None))
            principal = await asyncio.shield(task)
        if principal is None:
            raise Unauthorized("unknown or revoked API key")
        return principal

    async def _fetch(self, digest: str) -> Principal | None:
        found = await self._orgs.org_for_key_hash(digest)
        principal = Principal(found[0], found[1], digest, found[0].encode()) if found else None
        if self._ttl_s > 0:
            if len(self._cache) >= MAX_CACHED_KEYS:
                self._cache.clear()
            self._cache[digest] = (self._clock() + self._ttl_s, principal)
        return principal

    def forget_org(self, org: str) -> None:
        """Drop an org's cached keys in this process, so a key revoked here stops at once."""
        for digest in [d for d, (_, p) in self._cache.items() if p is not None and p.org == org]:
            del self._cache[digest]


class AdminAuth:
    """The operator's key (EDP_ADMIN_KEY), compared by hash in constant time."""

    def __init__(self, settings: AdminSettings) -> None:
        secret = settings.admin_key.get_secret_value() if settings.admin_key else ""
        self._digest = hashlib.sha256(secret.encode()).digest() if secret else None

    def check(self, authorization: str | None) -> None:
        if self._digest is None:
            raise Unauthorized("admin API disabled: EDP_ADMIN_KEY is not set")
        given = hashlib.sha256(bearer_token(authorization).encode()).digest()
        if not hmac.compare_digest(given, self._digest):
            raise Unauthorized("wrong admin key")
