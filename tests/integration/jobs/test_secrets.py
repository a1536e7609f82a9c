"""Webhook secrets at rest, against the real database: no plain text in any document after the
start-up sweep, and a live rotation through the key file that readers follow without a restart."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from adapters import mongo
from adapters.mongo import WEBHOOKS
from adapters.repos import WebhookRepo
from adapters.secret_keys import SecretBox, read_key_file, write_key_file
from adapters.secret_sweep import key_usage, reseal
from core.models import Secret, Webhook
from core.sealing import new_master_key, sealed_key_id
from core.settings import MongoSettings, SecretsSettings
from core.signing import new_secret
from jobs.secrets import rotate
from jobs.seed import seed

pytestmark = pytest.mark.services


@pytest.fixture
def db() -> Iterator[Any]:
    settings = MongoSettings(database=f"t{uuid.uuid4().hex[:10]}")
    database = mongo.sync_database(settings)
    try:
        yield database
    finally:
        database.client.drop_database(settings.database)
        database.client.close()


def raw_text(db: Any) -> str:
    return repr(list(db[WEBHOOKS].find({})))


def plain_doc(secret: str) -> dict[str, Any]:
    wh = Webhook(
        f"wh_{uuid.uuid4().hex[:12]}", "org_1", "https://93.184.215.14/x", ("A",), secrets=(Secret(secret),)
    )
    return wh.to_doc()


def test_the_start_up_sweep_seals_plain_secrets_and_the_repo_reads_them(db: Any) -> None:
    secrets = [new_secret() for _ in range(3)]
    db[WEBHOOKS].insert_many([plain_doc(s) for s in secrets])  # as written before sealing existed
    box = SecretBox(SecretsSettings(key=SecretStr(new_master_key()), previous_keys=None, key_file=None))
    assert reseal(db, box) == 3 and reseal(db, box) == 0
    text = raw_text(db)
    assert "whsec_" not in text and not any(s in text for s in secrets)
    assert key_usage(db) == {box.current: 3}
    opened = sorted(box.open(d)["secrets"][0]["key"] for d in db[WEBHOOKS].find({}))
    assert opened == sorted(secrets)


def test_the_seed_job_writes_sealed_secrets(db: Any, tmp_path: Path) -> None:
    settings = MongoSettings(database=db.name)
    secrets = SecretsSettings(key=SecretStr(new_master_key()), previous_keys=None, key_file=None)
    _, hooks = asyncio.run(seed(settings, tmp_path / "keys.json", [], secrets))
    assert hooks and "whsec_" not in raw_text(db)
    assert all(s.key.startswith("whsec_") for wh in hooks for s in wh.secrets)


def test_a_live_rotation_reseals_everything_and_old_readers_follow(db: Any, tmp_path: Path) -> None:
    key_file = tmp_path / "secrets-key"
    write_key_file(key_file, [new_master_key()])
    settings = SecretsSettings(key=None, previous_keys=None, key_file=str(key_file))
    writer = SecretBox(settings)  # an API server's, made before the rotation
    reader = SecretBox(settings)  # the rule cache's
    old_id = writer.current
    secrets = [new_secret() for _ in range(5)]
    repo = WebhookRepo(mongo.database(MongoSettings(database=db.name)), writer)

    async def create() -> None:
        try:
            for s in secrets:
                await repo.create(
                    Webhook(
                        f"wh_{uuid.uuid4().hex[:12]}",
                        "org_1",
                        "https://93.184.215.14/x",
                        ("A",),
                        secrets=(Secret(s),),
                    )
                )
        finally:
            await repo._hooks.database.client.close()

    asyncio.run(create())
    assert key_usage(db) == {old_id: 5}
    result = rotate(db, settings, settle_s=0.0)
    assert result["current"] != old_id and result["resealed_webhooks"] == 5
    assert key_usage(db) == {result["current"]: 5}
    assert len(read_key_file(key_file)) == 1  # the old key is dropped once nothing needs it
    for doc in db[WEBHOOKS].find({}):  # the reader never restarted: it reads the file again
        assert sealed_key_id(doc["secrets"][0]["key"]) == result["current"]
        assert reader.open(doc)["secrets"][0]["key"] in secrets
    assert "whsec_" not in raw_text(db)


def test_no_secret_reaches_a_log_line(db: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # pymongo's own DEBUG command log prints whole documents (the plain ones of before sealing
    # too): it is off unless asked for (core.logsetup), and left out here.
    caplog.set_level(logging.INFO, logger="pymongo")
    secret = new_secret()
    db[WEBHOOKS].insert_one(plain_doc(secret))
    box = SecretBox(SecretsSettings(key=SecretStr(new_master_key()), previous_keys=None, key_file=None))
    reseal(db, box)
    logging.getLogger("test").info("webhook %s", Webhook.from_doc(box.open(db[WEBHOOKS].find_one({}) or {})))
    assert secret not in caplog.text and "whsec_" not in caplog.text
