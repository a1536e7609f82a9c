"""The control plane against the whole pipeline on Ray: webhook secrets sealed at rest keep
signing while the secrets key rotates under load (every delivery verified with the official
Standard Webhooks library, none lost), and an event matched by three webhooks, one failing,
shows each one's state through GET /v1/events/{id}/deliveries."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook as SWVerifier

from adapters import mongo
from adapters.mongo import WEBHOOKS
from adapters.repos import OrgRepo
from adapters.secret_keys import SecretBox, write_key_file
from adapters.secret_sweep import key_usage
from api.app import create_app
from api.config import ApiConfig
from cluster.supervisor import Supervisor
from core.ids import new_id
from core.models import Secret, Webhook, utcnow
from core.sealing import new_master_key
from core.settings import AdminSettings, SecretsSettings
from core.signing import new_secret
from jobs.secrets import rotate
from testkit.pipeline import PipelineWorld, namespaced_config, rules_synced, wait_until
from testkit.receiver.runner import ReceiversThread
from testkit.receiver.state import Mode

pytestmark = [pytest.mark.services, pytest.mark.ray, pytest.mark.slow, pytest.mark.receivers(3)]

RATE = 20  # events per second while the key rotates
SECONDS = 12


@pytest.fixture
def sealed_world(ray_local: None, tmp_path: Path) -> Iterator[tuple[PipelineWorld, SecretsSettings]]:
    key_file = tmp_path / "secrets-key"
    write_key_file(key_file, [new_master_key()])
    secrets = SecretsSettings(key=None, previous_keys=None, key_file=str(key_file))
    # Retries a minute apart: the failing webhook is still "retrying" when the test looks. No
    # breaker: the failing receiver must see every event's first attempt within the wait.
    config = dataclasses.replace(
        namespaced_config(
            filters=1,
            deliveries=1,
            schedule=(60.0,),
            breaker_failures=1_000_000,
            breaker_min_requests=1_000_000,
        ),
        secrets=secrets,
    )
    world = PipelineWorld(config)
    yield world, secrets
    world.cleanup()


def add_sealed(world: PipelineWorld, box: SecretBox, org: str, url: str) -> Webhook:
    wh = Webhook(new_id("wh"), org, url, ("A",), secrets=(Secret(new_secret()),), updated_at=utcnow())
    world.db[WEBHOOKS].insert_one(box.seal(wh.to_doc()))  # as the API's repo writes it
    world.webhooks.append(wh)
    return wh


def test_deliveries_verify_through_a_key_rotation_and_three_webhooks_show_their_states(
    sealed_world: tuple[PipelineWorld, SecretsSettings], receivers: ReceiversThread
) -> None:
    world, secrets = sealed_world
    box = SecretBox(secrets)
    ok_a, ok_b, failing = receivers.ports
    receivers.receivers.states[failing].mode = Mode(status=500, fail_until=time.time() + 3600)
    org = asyncio.run(_org(world))
    hooks = {
        p: add_sealed(world, box, org["id"], receivers.receivers.url(p, "/hook")) for p in receivers.ports
    }
    for port, wh in hooks.items():
        receivers.receivers.states[port].set_secrets([s.key for s in wh.secrets])
    assert "whsec_" not in repr(list(world.db[WEBHOOKS].find({})))

    sup = Supervisor(world.config, detached=False)
    sup.start()
    try:
        assert wait_until(lambda: rules_synced(sup, 3), 20)
        first_key = box.current
        rotated: dict[str, Any] = {}
        rotation = threading.Thread(target=lambda: rotated.update(rotate(world.db, secrets, settle_s=2.0)))
        sent = []
        started = time.monotonic()
        for i in range(RATE * SECONDS):
            if i == RATE * 3:
                rotation.start()  # three seconds into the load
            (event,) = world.events(1, [org["id"]], ["A"])
            world.produce([event])
            sent.append(event)
            time.sleep(max(0.0, started + (i + 1) / RATE - time.monotonic()))
        rotation.join(60)
        assert rotated["current"] != first_key and key_usage(world.db) == {rotated["current"]: 3}
        expected = {e["id"] for e in sent}
        for port in (ok_a, ok_b):
            state = receivers.receivers.states[port]
            assert wait_until(lambda s=state: len(s.first_seen) >= len(expected), 60), len(state.first_seen)  # type: ignore[misc]
            assert state.verdicts["invalid"] == 0 and state.duplicates == 0
            verifier = SWVerifier(hooks[port].secrets[0].key)
            for rec in state.ring:
                verifier.verify(rec["body"].encode(), rec["headers"])
        bad = receivers.receivers.states[failing]
        assert wait_until(lambda: bad.outcomes["failed"] >= len(expected), 60), bad.outcomes["failed"]

        states = asyncio.run(_deliveries(world, secrets, org["key"], sent[-1]["id"]))
        assert states == {
            hooks[ok_a].id: "delivered",
            hooks[ok_b].id: "delivered",
            hooks[failing].id: "retrying",
        }
    finally:
        sup.stop()


async def _org(world: PipelineWorld) -> dict[str, str]:
    client = mongo.client(world.config.mongo)
    try:
        doc, key = await OrgRepo(client[world.config.mongo.database]).create("rotating")
        return {"id": doc["_id"], "key": key}
    finally:
        await client.close()


async def _deliveries(
    world: PipelineWorld, secrets: SecretsSettings, key: str, event_id: str
) -> dict[str, str]:
    c = world.config
    config = ApiConfig(kafka=c.kafka, mongo=c.mongo, rabbit=c.rabbit, secrets=secrets,
                       admin=AdminSettings(admin_key=SecretStr("unused")))  # fmt: skip
    app = create_app(config)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http,
    ):
        auth = {"Authorization": f"Bearer {key}"}
        got = await http.get(f"/v1/events/{event_id}", headers=auth)
        assert got.status_code == 200 and got.json()["id"] == event_id, got.text
        deadline = time.monotonic() + 20
        while True:
            r = await http.get(f"/v1/events/{event_id}/deliveries", headers=auth)
            assert r.status_code == 200, r.text
            states = {d["webhook_id"]: d["state"] for d in r.json()["data"]}
            if "pending" not in states.values() or time.monotonic() > deadline:
                for d in r.json()["data"]:
                    if d["state"] == "retrying":
                        assert d["next_attempt_at"] and d["attempts"][0]["status_code"] == 500
                return states
            await asyncio.sleep(0.5)
