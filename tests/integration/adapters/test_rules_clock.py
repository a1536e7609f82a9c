"""The rule cache scans the webhooks when the rules clock moved, and every scan_interval_s for
writes made around the repository."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from actors.rule_cache import RuleCache
from adapters import mongo
from adapters.mongo import WEBHOOKS, Doc
from adapters.repos import WebhookRepo
from core.settings import MongoSettings, RuleCacheSettings
from tests.integration.adapters.test_repos import BOX, hook
from tests.integration.api.support import namespace, require_services

pytestmark = pytest.mark.services


@pytest.fixture
async def world() -> AsyncIterator[tuple[AsyncDatabase[Doc], MongoSettings]]:
    require_services(kafka=False)
    _, settings = namespace()
    client = mongo.client(settings)
    try:
        yield client[settings.database], settings
    finally:
        await client.drop_database(settings.database)
        await client.close()


async def seen_within(cache: RuleCache, webhook_id: str, timeout_s: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        changes = cache.changes_since(None, 0)
        if changes is not None and webhook_id in {w.id for w in changes.upserts}:
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    return None


async def test_a_write_through_the_repository_is_seen_at_once_one_around_it_at_the_next_scan(
    world: tuple[AsyncDatabase[Doc], MongoSettings],
) -> None:
    db, settings = world
    rules = RuleCacheSettings(poll_interval_s=0.05, scan_interval_s=3.0, full_reload_s=600.0)
    cache = RuleCache(settings, rules, secrets=None)
    try:
        assert cache.ready()
        await asyncio.sleep(0.3)  # past the first (full) load
        through = await WebhookRepo(db, BOX).create(hook(org="org_repo", secrets=()))
        fast = await seen_within(cache, through.id, 1.0)
        assert fast is not None and fast < 0.5, fast  # the tick, not the 3 s scan, found it
        around = hook(org="org_direct", secrets=())
        await db[WEBHOOKS].insert_one(around.to_doc())  # no tick: only the periodic scan finds it
        slow = await seen_within(cache, around.id, rules.scan_interval_s + 1.0)
        assert slow is not None
    finally:
        cache.stop()
