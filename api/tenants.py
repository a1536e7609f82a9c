"""What ingest needs to know of an org, cached in-process like API keys: that it exists (a
producer key names it in each event), and its ingest quota. One dict lookup per request; a
quota set through another API server applies here within `ApiSettings.key_cache_s`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from adapters.repos import OrgRepo
from api.ttl_cache import TtlCache
from core.quota import Quota


@dataclass(frozen=True, slots=True)
class Tenant:
    org: str
    quota: Quota | None


class Tenants:
    def __init__(self, orgs: OrgRepo, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._orgs = orgs
        self._cache: TtlCache[Tenant | None] = TtlCache(self._fetch, ttl_s, clock)

    async def get(self, org: str) -> Tenant | None:
        return await self._cache.get(org)

    def forget(self, org: str) -> None:
        self._cache.forget(org)

    async def _fetch(self, org: str) -> Tenant | None:
        doc = await self._orgs.find(org)  # a lone _id equality: FerretDB answers it from its key
        return Tenant(org, Quota.from_doc(doc.get("quota"))) if doc is not None else None
