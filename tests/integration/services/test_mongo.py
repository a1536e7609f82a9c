"""MongoDB wire protocol (FerretDB locally, MongoDB under Docker): CRUD and a unique index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from core.settings import MongoSettings

pytestmark = pytest.mark.services


@pytest.fixture
def db(unique: str) -> Iterator[Database[dict[str, Any]]]:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        MongoSettings().url.get_secret_value(), serverSelectionTimeoutMS=5000
    )
    name = f"edp_test_{unique}"
    yield client[name]
    client.drop_database(name)
    client.close()


def test_insert_find_update(db: Database[dict[str, Any]]) -> None:
    hooks = db["webhooks"]
    hooks.insert_many(
        [
            {"_id": "wh_1", "org": "helpdev", "event_types": ["EVENT_A"], "version": 1, "enabled": True},
            {"_id": "wh_2", "org": "helpdev", "event_types": ["EVENT_B"], "version": 1, "enabled": False},
            {"_id": "wh_3", "org": "github", "event_types": ["EVENT_A"], "version": 1, "enabled": True},
        ]
    )
    found = list(hooks.find({"org": "helpdev", "enabled": True}))
    assert [d["_id"] for d in found] == ["wh_1"]
    assert {d["_id"] for d in hooks.find({"event_types": "EVENT_A"})} == {"wh_1", "wh_3"}

    result = hooks.update_one({"_id": "wh_2"}, {"$set": {"enabled": True}, "$inc": {"version": 1}})
    assert result.matched_count == 1 and result.modified_count == 1
    doc = hooks.find_one({"_id": "wh_2"})
    assert doc is not None and doc["enabled"] is True and doc["version"] == 2

    by_version = list(hooks.find({}, sort=[("version", pymongo.DESCENDING), ("_id", pymongo.ASCENDING)]))
    assert [d["_id"] for d in by_version] == ["wh_2", "wh_1", "wh_3"]
    assert hooks.delete_many({"org": "github"}).deleted_count == 1
    assert hooks.count_documents({}) == 2


def test_unique_index_rejects_duplicates(db: Database[dict[str, Any]]) -> None:
    keys = db["api_keys"]
    keys.create_index([("hash", pymongo.ASCENDING)], unique=True, name="hash_unique")
    assert "hash_unique" in keys.index_information()
    keys.insert_one({"hash": "abc", "org": "helpdev"})
    with pytest.raises(DuplicateKeyError):
        keys.insert_one({"hash": "abc", "org": "github"})
    assert keys.count_documents({"hash": "abc"}) == 1
