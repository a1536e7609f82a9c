"""Retention against the real MongoDB-wire server (FerretDB has no TTL indexes)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pymongo
import pytest
from pymongo.database import Database

from adapters.retention import purge
from core.ids import new_id
from core.models import utcnow
from core.settings import MongoSettings, RetentionSettings

pytestmark = pytest.mark.services


@pytest.fixture
def db() -> Iterator[Database[dict[str, Any]]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        MongoSettings().url.get_secret_value(), tz_aware=True
    )
    name = f"t{uuid.uuid4().hex[:10]}"
    yield client[name]
    client.drop_database(name)
    client.close()


def test_purge_removes_only_what_outlived_its_retention(db: Database[dict[str, Any]]) -> None:
    now = utcnow()
    old, fresh = now - timedelta(days=40), now - timedelta(days=1)
    a_old, a_new = (new_id("att", int(t.timestamp() * 1000)) for t in (old, fresh))
    db.attempts.insert_many([{"_id": a_old, "at": old}, {"_id": a_new, "at": fresh}])
    db.dead_letters.insert_many([{"_id": "d_old", "dead_at": old}, {"_id": "d_new", "dead_at": fresh}])
    db.webhooks.insert_many(
        [
            {"_id": "w_tomb_old", "deleted": True, "updated_at": now - timedelta(days=2)},
            {"_id": "w_tomb_new", "deleted": True, "updated_at": now},
            {"_id": "w_live_old", "deleted": False, "updated_at": old},
        ]
    )
    removed = purge(db, RetentionSettings(attempts_days=30, dead_letters_days=30, tombstones_days=1))
    assert removed == {"attempts": 1, "dead_letters": 1, "tombstones": 1}
    assert [d["_id"] for d in db.attempts.find()] == [a_new]
    assert [d["_id"] for d in db.dead_letters.find()] == ["d_new"]
    assert sorted(d["_id"] for d in db.webhooks.find()) == ["w_live_old", "w_tomb_new"]
