"""The API's in-process caches (keys, event-type schemas) on an injected clock: no database, no
sleeping past a TTL."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from adapters.repos import EventTypeRepo, OrgRepo
from api.auth import KeyAuth
from api.schema_cache import EventSchemas
from core.errors import InvalidInput, Unauthorized
from core.keys import hash_key
from core.models import Event


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Orgs:
    def __init__(self) -> None:
        self.active = {hash_key("k1"): ("org_1", "acme")}
        self.reads = 0

    async def org_for_key_hash(self, digest: str) -> tuple[str, str] | None:
        self.reads += 1
        await asyncio.sleep(0)  # a real read yields: concurrent misses overlap
        return self.active.get(digest)


class Types:
    def __init__(self) -> None:
        self.rows = [("t.x", '{"type": "object", "required": ["n"]}')]
        self.reads = 0

    async def schemas(self, org: str) -> list[tuple[str, str]]:
        self.reads += 1
        return list(self.rows)


async def test_a_key_is_cached_for_its_ttl_and_read_again_after() -> None:
    orgs, clock = Orgs(), Clock()
    auth = KeyAuth(cast(OrgRepo, orgs), 5.0, clock)
    who = await asyncio.gather(*(auth.authenticate("Bearer k1") for _ in range(3)))
    assert {w.org for w in who} == {"org_1"} and orgs.reads == 1  # one read for concurrent misses
    orgs.active.clear()  # revoked elsewhere
    clock.now += 4.9
    assert (await auth.authenticate("Bearer k1")).org == "org_1" and orgs.reads == 1
    clock.now += 0.2
    with pytest.raises(Unauthorized):
        await auth.authenticate("Bearer k1")
    assert orgs.reads == 2


async def test_schemas_are_cached_per_org_for_their_ttl() -> None:
    types, clock = Types(), Clock()
    schemas = EventSchemas(cast(EventTypeRepo, types), 5.0, clock)
    bad: list[Event] = [{"id": "e", "org": "org_1", "type": "t.x", "timestamp": "", "data": {}}]
    with pytest.raises(InvalidInput):
        await schemas.check("org_1", bad)
    types.rows = []
    clock.now += 4.9
    with pytest.raises(InvalidInput):
        await schemas.check("org_1", bad)
    assert types.reads == 1
    clock.now += 0.2
    await schemas.check("org_1", bad)
    assert types.reads == 2
