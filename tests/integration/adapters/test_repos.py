"""Org/key and webhook repositories against the real MongoDB-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pymongo
import pytest
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from adapters import mongo, rules_clock
from adapters.mongo import Doc
from adapters.repos import OrgRepo, WebhookRepo
from adapters.secret_keys import SecretBox
from core.errors import InvalidInput, NotFound
from core.ids import new_id
from core.keys import hash_key
from core.models import Secret, Webhook
from core.sealing import Keyring, new_master_key
from tests.integration.api.support import namespace, require_services

BOX = SecretBox.of(Keyring.of([new_master_key()]))

pytestmark = pytest.mark.services


@pytest.fixture
async def db() -> AsyncIterator[AsyncDatabase[Doc]]:
    require_services(kafka=False)
    _, settings = namespace()
    client = mongo.client(settings)
    database = client[settings.database]
    await mongo.ensure_indexes_async(database)
    try:
        yield database
    finally:
        await client.drop_database(settings.database)
        await client.close()


def hook(org: str = "org_a", **kw: object) -> Webhook:
    fields: dict[str, object] = {
        "id": new_id("wh"),
        "org": org,
        "url": "http://127.0.0.1:8080/webhook",
        "event_types": ("EVENT_A",),
        "secrets": (Secret("whsec_" + "a" * 32),),
    }
    fields.update(kw)
    return Webhook(**fields)  # type: ignore[arg-type]


async def test_ensure_indexes_is_idempotent(db: AsyncDatabase[Doc]) -> None:
    await mongo.ensure_indexes_async(db)
    info = await db[mongo.ORGS].index_information()
    assert info["keys_hash_unique"]["unique"] is True
    assert (await db[mongo.EVENT_TYPES].index_information())["org_name"]["unique"] is True
    if mongo.reads_indexes(await db.client.admin.command("buildInfo")):
        assert {"updated_at", "org_id"} <= set(await db[mongo.WEBHOOKS].index_information())
        assert {"org_webhook_at", "delivery_id", "event_id", "org_at"} <= set(
            await db[mongo.ATTEMPTS].index_information()
        )
    else:  # FerretDB reads no secondary index: only the unique ones are kept
        assert set(await db[mongo.ATTEMPTS].index_information()) <= {"_id_"}


async def test_on_ferretdb_indexes_an_earlier_version_made_are_dropped(db: AsyncDatabase[Doc]) -> None:
    if mongo.reads_indexes(await db.client.admin.command("buildInfo")):
        pytest.skip("MongoDB keeps every index")
    await db[mongo.ATTEMPTS].create_indexes([IndexModel([("event_id", 1)], name="event_id")])
    await mongo.ensure_indexes_async(db)
    assert "event_id" not in await db[mongo.ATTEMPTS].index_information()


async def test_org_keys_lifecycle(db: AsyncDatabase[Doc]) -> None:
    repo = OrgRepo(db)
    org, key = await repo.create("acme")
    assert org["_id"].startswith("org_")
    [stored] = org["keys"]
    assert stored["hash"] == hash_key(key) and stored["prefix"] == key[:12] and stored["revoked_at"] is None
    assert await repo.org_for_key(key) == org["_id"]
    assert await repo.org_for_key_hash(hash_key(key)) == (org["_id"], "acme")
    assert await repo.org_for_key("edp_live_unknown") is None

    second_doc, second = await repo.add_key(org["_id"])
    assert "hash" not in second_doc
    assert await repo.org_for_key(second) == org["_id"]

    revoked = await repo.revoke_key(org["_id"], second_doc["id"])
    assert revoked["revoked_at"] is not None
    assert await repo.org_for_key(second) is None
    assert await repo.org_for_key(key) == org["_id"]  # the other key is untouched
    assert (await repo.revoke_key(org["_id"], second_doc["id"]))["revoked_at"] == revoked["revoked_at"]

    with pytest.raises(NotFound):
        await repo.revoke_key(org["_id"], "key_nope")
    with pytest.raises(NotFound):
        await repo.add_key("org_nope")


async def test_stable_org_ids_are_unique(db: AsyncDatabase[Doc]) -> None:
    repo = OrgRepo(db)
    await repo.create("helpdev", "org_helpdev")
    with pytest.raises(InvalidInput):
        await repo.create("helpdev", "org_helpdev")
    assert (await repo.find_by_name("helpdev") or {})["_id"] == "org_helpdev"


async def test_key_hashes_are_unique(db: AsyncDatabase[Doc]) -> None:
    if "ferretdbVersion" in await db.client.admin.command("buildInfo"):
        pytest.skip("FerretDB v1 does not enforce unique indexes on fields inside arrays")
    doc = {"_id": "org_x", "name": "x", "keys": [{"id": "key_1", "hash": "h" * 64}]}
    await db[mongo.ORGS].insert_one(doc)
    with pytest.raises(DuplicateKeyError):
        await db[mongo.ORGS].insert_one({**doc, "_id": "org_y"})


async def test_webhook_writes_bump_version_and_updated_at(db: AsyncDatabase[Doc]) -> None:
    repo = WebhookRepo(db, BOX)
    created = await repo.create(hook())
    assert created.version == 1
    assert await repo.get("org_a", created.id) == created
    await asyncio.sleep(0.01)
    patched = await repo.patch(
        "org_a", created.id, {"url": "http://127.0.0.1:8081/webhook", "enabled": False}
    )
    assert patched.version == 2 and patched.updated_at > created.updated_at
    assert patched.url.endswith(":8081/webhook") and not patched.enabled
    with pytest.raises(InvalidInput):
        await repo.patch("org_a", created.id, {"version": 99})
    with pytest.raises(NotFound):
        await repo.patch("org_b", created.id, {"enabled": True})  # another org's webhook


async def test_delete_is_a_tombstone_that_pollers_see(db: AsyncDatabase[Doc]) -> None:
    repo = WebhookRepo(db, BOX)
    created = await repo.create(hook())
    await asyncio.sleep(0.01)
    gone = await repo.delete("org_a", created.id)
    assert gone.deleted and gone.version == 2 and gone.updated_at > created.updated_at
    raw = await db[mongo.WEBHOOKS].find_one({"updated_at": {"$gt": created.updated_at}})
    assert raw is not None and raw["deleted"] is True  # what a rule cache polling updated_at reads
    with pytest.raises(NotFound):
        await repo.get("org_a", created.id)
    with pytest.raises(NotFound):
        await repo.delete("org_a", created.id)
    assert await repo.list_page("org_a") == []

    revived = await repo.put(hook(id=created.id))
    assert revived.version == 3 and not revived.deleted


async def test_put_never_takes_another_orgs_webhook(db: AsyncDatabase[Doc]) -> None:
    repo = WebhookRepo(db, BOX)
    mine = await repo.create(hook("org_a"))
    with pytest.raises(InvalidInput):
        await repo.put(hook("org_b", id=mine.id))
    assert (await repo.get("org_a", mine.id)).org == "org_a"


async def test_list_pages_by_id(db: AsyncDatabase[Doc]) -> None:
    repo = WebhookRepo(db, BOX)
    ids = sorted([(await repo.create(hook(id=f"wh_{i:02d}"))).id for i in range(5)])
    await repo.create(hook("org_b"))
    first = await repo.list_page("org_a", limit=2)
    second = await repo.list_page("org_a", limit=2, after=first[-1].id)
    rest = await repo.list_page("org_a", limit=10, after=second[-1].id)
    assert [w.id for w in first + second + rest] == ids


async def test_every_webhook_write_moves_the_rules_clock_and_a_refused_one_does_not(
    db: AsyncDatabase[Doc],
) -> None:
    _, settings = namespace()
    sync: pymongo.MongoClient[Doc] = mongo.sync_client(settings)
    clock = sync[db.name]
    try:
        repo = WebhookRepo(db, BOX)
        readings = [rules_clock.read(clock)]
        created = await repo.create(hook())
        readings.append(rules_clock.read(clock))
        await repo.patch("org_a", created.id, {"enabled": True})
        readings.append(rules_clock.read(clock))
        assert await repo.disable(created.id, "gone") is True
        readings.append(rules_clock.read(clock))
        assert await repo.disable(created.id, "gone") is False  # nothing written: no tick
        readings.append(rules_clock.read(clock))
        await repo.pause_ordered(created.id, "dead letter")
        await repo.delete("org_a", created.id)
        readings.append(rules_clock.read(clock))
        with pytest.raises(NotFound):
            await repo.delete("org_a", created.id)
        readings.append(rules_clock.read(clock))
        assert readings == [0, 1, 2, 3, 3, 5, 5]
    finally:
        sync.close()
