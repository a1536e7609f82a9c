"""MongoDB clients, collection names and indexes.

Works against FerretDB v1 (SQLite backend) as well as MongoDB: plain CRUD and unique indexes
only; no change streams, TTL indexes or transactions. FerretDB v1 also does not enforce a unique
index on a field inside an array (`orgs.keys.hash`); MongoDB does, and key hashes are 256 random
bits, so the index is a safety net there rather than a guarantee we lean on.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, MongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.database import Database

from adapters.dead_letters import DEAD_LETTERS
from adapters.dead_letters import INDEXES as DEAD_LETTER_INDEXES
from core.settings import MongoSettings

ORGS = "orgs"
WEBHOOKS = "webhooks"
ATTEMPTS = "attempts"
EVENT_TYPES = "event_types"

Doc = dict[str, Any]

# A request that cannot reach the database should fail within seconds (503), not pymongo's 30 s.
_CLIENT_OPTIONS: dict[str, Any] = {
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 3000,
    # Without it a query to a server that stopped answering waits forever: a rule cache whose
    # poll hangs serves stale rules for good while looking alive. Nothing on the hot path or
    # behind the API takes seconds; the retention purge (long deletes) asks for more.
    "socketTimeoutMS": 30_000,
    "appname": "edp",
    # Datetimes come back aware (UTC), so what a repo returns compares equal to what it wrote.
    "tz_aware": True,
}

INDEXES: dict[str, list[IndexModel]] = {
    ORGS: [IndexModel([("keys.hash", ASCENDING)], unique=True, name="keys_hash_unique")],
    WEBHOOKS: [
        IndexModel([("updated_at", ASCENDING)], name="updated_at"),
        IndexModel([("org", ASCENDING), ("_id", ASCENDING)], name="org_id"),
    ],
    # What the queries need on MongoDB: one org's attempts newest first, per webhook, per
    # delivery, per event. No index of its own on `at`: retention deletes by `_id`, which is
    # ordered by time (core.ids).
    ATTEMPTS: [
        IndexModel([("org", ASCENDING), ("webhook_id", ASCENDING), ("at", ASCENDING)], name="org_webhook_at"),
        IndexModel([("delivery_id", ASCENDING)], name="delivery_id"),
        IndexModel([("event_id", ASCENDING)], name="event_id"),
        # GET /v1/attempts without a webhook filter: one org's newest first.
        IndexModel([("org", ASCENDING), ("at", DESCENDING)], name="org_at"),
    ],
    # Unique per org; the _id is "<org>:<name>" too, so the guarantee holds where a server does
    # not enforce compound unique indexes.
    EVENT_TYPES: [IndexModel([("org", ASCENDING), ("name", ASCENDING)], unique=True, name="org_name")],
    DEAD_LETTERS: DEAD_LETTER_INDEXES,
}


def client(settings: MongoSettings, **overrides: Any) -> AsyncMongoClient[Doc]:
    """An asyncio client. Use it only on the event loop that first uses it."""
    return AsyncMongoClient(settings.url.get_secret_value(), **{**_CLIENT_OPTIONS, **overrides})


def sync_client(settings: MongoSettings, **overrides: Any) -> MongoClient[Doc]:
    return MongoClient(settings.url.get_secret_value(), **{**_CLIENT_OPTIONS, **overrides})


def database(settings: MongoSettings, mongo: AsyncMongoClient[Doc] | None = None) -> AsyncDatabase[Doc]:
    return (mongo or client(settings))[settings.database]


def sync_database(settings: MongoSettings, mongo: MongoClient[Doc] | None = None) -> Database[Doc]:
    return (mongo or sync_client(settings))[settings.database]


# FerretDB v1 (SQLite) answers every query but a lone `_id` equality by reading the whole
# collection and filtering and sorting in Go (its SQLite backend pushes nothing else down; see
# docs/architecture.md). It still keeps every index up to date on every write, about 10 us of
# its CPU per index per row, for nothing. So against FerretDB only the unique indexes are made
# (SQLite enforces those), and our own other indexes are dropped if an earlier version made
# them; MongoDB gets them all.
#
# One index per call, and only the missing ones: FerretDB 1.24 drops the connection (a panic on
# its side) when one createIndexes call repeats several indexes that already exist.


def reads_indexes(build_info: Doc) -> bool:
    """Whether the server behind `buildInfo` uses secondary indexes for queries."""
    return "ferretdbVersion" not in build_info


def _wanted(model: IndexModel, secondary: bool) -> bool:
    return secondary or bool(model.document.get("unique"))


def ensure_indexes(db: Database[Doc]) -> None:
    """Create the indexes every component relies on; a no-op when they exist."""
    secondary = reads_indexes(db.client.admin.command("buildInfo"))
    for name, models in INDEXES.items():
        existing = db[name].index_information()
        for model in models:
            index = model.document["name"]
            if not _wanted(model, secondary):
                if index in existing:
                    db[name].drop_index(index)
            elif index not in existing:
                db[name].create_indexes([model])


async def ensure_indexes_async(db: AsyncDatabase[Doc]) -> None:
    secondary = reads_indexes(await db.client.admin.command("buildInfo"))
    for name, models in INDEXES.items():
        existing = await db[name].index_information()
        for model in models:
            index = model.document["name"]
            if not _wanted(model, secondary):
                if index in existing:
                    await db[name].drop_index(index)
            elif index not in existing:
                await db[name].create_indexes([model])


# Deleting months of attempts can take minutes on a big collection.
PURGE_OPTIONS: dict[str, Any] = {"socketTimeoutMS": 600_000}
