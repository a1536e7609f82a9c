"""Two orgs against every endpoint: an org's key sees and changes only its own org; another org's
ids answer exactly as ids that do not exist (404), and nothing of the other org changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.integration.api.control_support import PUBLIC_URL, ControlEnv, control_env
from tests.integration.api.support import consume
from tests.integration.api.test_deliveries import attempt_row, seed_dead_letter

pytestmark = pytest.mark.services


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


async def snapshot(env: ControlEnv) -> dict[str, list[dict[str, Any]]]:
    """Everything org A owns, as stored."""
    out: dict[str, list[dict[str, Any]]] = {}
    for coll in ("orgs", "webhooks", "event_types", "attempts", "dead_letters"):
        field = "_id" if coll == "orgs" else "org"
        out[coll] = await env.db[coll].find({field: env.a.id}).sort("_id", 1).to_list(None)
    return out


async def test_every_endpoint_keeps_orgs_apart(env: ControlEnv) -> None:
    a, b = env.a, env.b
    hook = await env.webhook(a, filter={"data.x": 1})
    wid = hook["id"]
    await env.http.post(
        "/v1/event-types",
        json={"name": "order.created", "schema": {"type": "object", "required": ["n"]}},
        headers=a.auth,
    )
    row = attempt_row(a.id, wid, datetime(2026, 11, 1, tzinfo=UTC))
    await env.db["attempts"].insert_one(row)  # type: ignore[arg-type]
    dead = await seed_dead_letter(env, a.id, wid)
    a_key_id = (await env.http.get("/v1/orgs/me", headers=a.auth)).json()["keys"][0]["id"]
    before = await snapshot(env)

    # B's view of A's resources: 404, exactly as for ids that do not exist.
    unknown = "wh_doesnotexist"
    for method, path, body in [
        ("GET", "/v1/webhooks/{id}", None),
        ("PATCH", "/v1/webhooks/{id}", {"description": "mine now"}),
        ("PATCH", "/v1/webhooks/{id}", {}),
        ("DELETE", "/v1/webhooks/{id}", None),
        ("GET", "/v1/webhooks/{id}/secret", None),
        ("POST", "/v1/webhooks/{id}/secret/rotate", None),
        ("POST", "/v1/webhooks/{id}/recover", {"since": "2026-01-01T00:00:00Z"}),
    ]:
        for target in (wid, unknown):
            r = await env.http.request(method, path.format(id=target), json=body, headers=b.auth)
            assert r.status_code == 404, (method, path, target, r.text)
            assert r.json() == {
                "error": {"code": "not_found", "message": f"webhook {target} not found", "field": None}
            }
    r = await env.http.post(f"/v1/deliveries/{dead['delivery_id']}/retry", headers=b.auth)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == f"no dead letter {dead['delivery_id']}"
    assert (await env.http.delete(f"/v1/orgs/me/keys/{a_key_id}", headers=b.auth)).status_code == 404
    assert (await env.http.get("/v1/event-types/order.created", headers=b.auth)).status_code == 404
    assert (
        await env.http.delete("/v1/event-types/order.created", headers=b.auth)
    ).status_code == 204  # b's own: none

    # B's lists are B's only, whatever A's ids it filters by.
    assert (await env.http.get("/v1/webhooks", headers=b.auth)).json() == {"data": [], "next": None}
    assert (await env.http.get("/v1/event-types", headers=b.auth)).json() == {"data": [], "next": None}
    for params in (
        {},
        {"webhook_id": wid},
        {"event_id": row["event_id"]},
        {"delivery_id": row["delivery_id"]},
    ):
        got = (await env.http.get("/v1/attempts", params=params, headers=b.auth)).json()
        assert got == {"data": [], "next": None}, params
    me = (await env.http.get("/v1/orgs/me", headers=b.auth)).json()
    assert me["id"] == b.id and a_key_id not in str(me)

    # B's writes land in B: its webhook, event type and keys are B's, and A's schema does not apply.
    b_hook = await env.webhook(b)
    assert (await env.http.get(f"/v1/webhooks/{b_hook['id']}", headers=a.auth)).status_code == 404
    r = await env.http.post("/v1/event-types", json={"name": "order.created"}, headers=b.auth)
    assert r.status_code == 201  # the same name in another org is another event type
    new_key = (await env.http.post("/v1/orgs/me/keys", headers=b.auth)).json()
    assert (
        await env.http.get("/v1/orgs/me", headers={"Authorization": f"Bearer {new_key['api_key']}"})
    ).json()["id"] == b.id
    r = await env.http.post("/v1/events", json={"type": "order.created", "data": {}}, headers=b.auth)
    assert r.status_code == 202, r.text
    r = await env.http.post(
        "/v1/events", json={"type": "order.created", "data": {}, "org": a.id}, headers=b.auth
    )
    assert r.status_code == 403
    r = await env.http.post(
        "/v1/events/batch", json={"events": [{"type": "E", "data": {}, "org": a.id}]}, headers=b.auth
    )
    assert r.status_code == 403
    r = await env.http.post("/v1/events", json={"type": "order.created", "data": {}}, headers=a.auth)
    assert r.status_code == 422  # A's schema holds for A
    # An org key is not the admin key.
    assert (await env.http.post("/v1/orgs", json={"name": "x"}, headers=b.auth)).status_code == 401

    assert await snapshot(env) == before  # nothing of A changed


async def test_ingest_is_keyed_and_stamped_with_the_callers_org(env: ControlEnv) -> None:
    for org in (env.a, env.b):
        r = await env.http.post("/v1/events", json={"type": "E", "data": {"who": org.id}}, headers=org.auth)
        assert r.status_code == 202
    kafka = env.app.state.ctx.kafka
    records = consume(kafka, 2)
    assert sorted((k.decode(), orjson.loads(v)["org"]) for k, v in records) == sorted(
        [(env.a.id, env.a.id), (env.b.id, env.b.id)]
    )


async def test_without_a_key_every_management_endpoint_is_401(env: ControlEnv) -> None:
    doc = (await env.http.get("/openapi.json")).json()
    open_paths = {"/healthz", "/readyz"}
    checked = 0
    for path, ops in doc["paths"].items():
        if path in open_paths:
            continue
        for method in ops:
            concrete = path.replace("{webhook_id}", "wh_x").replace("{delivery_id}", "dlv_x")
            concrete = concrete.replace("{name}", "t.x").replace("{key_id}", "key_x")
            concrete = concrete.replace("{event_id}", "evt_x").replace("{org_id}", "org_x")
            body = {"url": PUBLIC_URL, "event_types": ["E"], "name": "n", "since": "2026-01-01T00:00:00Z"}
            for headers in ({}, {"Authorization": "Bearer nope"}):
                r = await env.http.request(method.upper(), concrete, json=body, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.text)
            checked += 1
    assert checked >= 17
