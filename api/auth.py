"""Who is calling: API keys (cached in-process) and the admin key.

A key is looked up by its SHA-256 and the answer, positive or negative, is cached for
`ApiSettings.key_cache_s` seconds, so the hot path costs one hash, one dict lookup, an expiry
comparison and a scope's set lookup. The price: a revoked key keeps working for up to that long
on API servers other than the one that revoked it (an expired one stops everywhere at once).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from adapters.api_keys import KeyLookup, StoredKey
from api.ttl_cache import TtlCache
from core.errors import Unauthorized
from core.keys import hash_key
from core.scopes import PRODUCER_SCOPES, granted, require
from core.settings import AdminSettings

MAX_TOKEN_CHARS = 256


@dataclass(frozen=True, slots=True)
class Principal:
    org: str  # "" for a producer key: it belongs to no org
    name: str
    key_hash: str
    org_key: bytes = field(repr=False)  # the Kafka record key, encoded once
    key_id: str = ""
    scopes: frozenset[str] = field(default_factory=lambda: granted(None))
    expires_at: float | None = None  # unix seconds
    # A producer key's orgs (core.scopes.ANY_ORG for all); None for an org key.
    producer_orgs: frozenset[str] | None = None

    def require(self, scope: str) -> None:
        """403 naming `scope` unless the key holds it."""
        require(self.scopes, scope)


def principal_of(digest: str, found: StoredKey) -> Principal:
    key = found.key
    expires: datetime | None = key.get("expires_at")
    expires_at = expires.timestamp() if expires is not None else None
    if found.org is None:
        return Principal(
            "", str(key.get("name", "")), digest, b"", str(key.get("id", "")), PRODUCER_SCOPES,
            expires_at, frozenset(key.get("orgs") or ()),
        )  # fmt: skip
    return Principal(
        found.org, found.org_name, digest, found.org.encode(), str(key.get("id", "")),
        granted(key.get("scopes")), expires_at,
    )  # fmt: skip


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
    def __init__(
        self,
        keys: KeyLookup,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._wall = wall
        self._cache: TtlCache[Principal | None] = TtlCache(self._fetch, ttl_s, clock)

    async def authenticate(self, authorization: str | None) -> Principal:
        principal = await self._cache.get(hash_key(bearer_token(authorization)))
        if principal is None:
            raise Unauthorized("unknown or revoked API key")
        if principal.expires_at is not None and principal.expires_at <= self._wall():
            raise Unauthorized("API key expired")
        return principal

    async def _fetch(self, digest: str) -> Principal | None:
        found = await self._keys.find(digest)
        return principal_of(digest, found) if found is not None else None

    def forget_org(self, org: str) -> None:
        """Drop an org's cached keys in this process, so a key revoked here stops at once."""
        self._cache.forget_where(lambda p: p is not None and p.org == org)

    def forget_key(self, key_id: str) -> None:
        self._cache.forget_where(lambda p: p is not None and p.key_id == key_id)


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

    def is_admin(self, authorization: str | None) -> bool:
        try:
            self.check(authorization)
        except Unauthorized:
            return False
        return True
