"""The API's in-process caches (keys, event-type schemas) on an injected clock: no database, no
sleeping past a TTL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast

import pytest

from adapters.api_keys import KeyLookup, StoredKey
from adapters.repos import EventTypeRepo
from api.auth import KeyAuth
from api.schema_cache import EventSchemas
from core.errors import InvalidInput, Unauthorized
from core.keys import hash_key
from core.models import Event
from core.scopes import ALL_ORG_SCOPES, PUBLISH, WEBHOOKS_READ, MissingScope


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Orgs:
    def __init__(self) -> None:
        self.active = {hash_key("k1"): StoredKey({"id": "key_1"}, "org_1", "acme")}
        self.reads = 0

    async def find(self, digest: str) -> StoredKey | None:
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
    auth = KeyAuth(cast(KeyLookup, orgs), 5.0, clock)
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


async def test_an_expired_key_is_refused_even_while_cached() -> None:
    orgs, clock = Orgs(), Clock()
    wall = Clock()
    expires = datetime.fromtimestamp(wall.now + 10, UTC)
    orgs.active[hash_key("k2")] = StoredKey({"id": "key_2", "expires_at": expires}, "org_1", "acme")
    auth = KeyAuth(cast(KeyLookup, orgs), 60.0, clock, wall)
    assert (await auth.authenticate("Bearer k2")).key_id == "key_2"
    wall.now += 10
    with pytest.raises(Unauthorized, match="expired"):
        await auth.authenticate("Bearer k2")


async def test_a_producer_key_publishes_and_nothing_else() -> None:
    orgs = Orgs()
    doc = {"id": "key_p", "name": "bus", "orgs": ["org_a", "org_b"], "scopes": ["events:publish"]}
    orgs.active[hash_key("kp")] = StoredKey(doc, None)
    who = await KeyAuth(cast(KeyLookup, orgs), 5.0, Clock()).authenticate("Bearer kp")
    assert who.org == "" and who.producer_orgs == frozenset({"org_a", "org_b"})
    who.require(PUBLISH)
    with pytest.raises(MissingScope, match="webhooks:read"):
        who.require(WEBHOOKS_READ)


async def test_a_key_without_scopes_of_its_own_has_every_org_scope() -> None:
    who = await KeyAuth(cast(KeyLookup, Orgs()), 5.0, Clock()).authenticate("Bearer k1")
    assert who.scopes == ALL_ORG_SCOPES and who.producer_orgs is None
