"""Scoped API keys against the real database and Kafka: producer keys publish for their orgs and
nothing else, scopes are enforced per route (403 naming the scope), revoked and expired keys 401."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.integration.api.control_support import ControlEnv, admin_auth, control_env
from tests.integration.api.support import consume

pytestmark = pytest.mark.services

INGEST = {"/v1/events", "/v1/events/batch"}
ADMIN_ONLY = {("POST", "/v1/orgs"), ("PUT", "/v1/orgs/{org_id}/quota")}


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


async def producer_key(env: ControlEnv, orgs: list[str], **body: Any) -> dict[str, Any]:
    r = await env.http.post(
        "/v1/producer-keys", json={"name": "bus", "orgs": orgs, **body}, headers=admin_auth()
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_producer_key_publishes_for_its_two_orgs_only(env: ControlEnv) -> None:
    third = await env.org("gamma")
    key = (await producer_key(env, [env.a.id, env.b.id]))["api_key"]
    auth = bearer(key)
    for org in (env.a.id, env.b.id):
        r = await env.http.post("/v1/events", json={"type": "EVENT_A", "org": org, "data": {}}, headers=auth)
        assert r.status_code == 202, r.text
    r = await env.http.post("/v1/events", json={"type": "EVENT_A", "org": third.id, "data": {}}, headers=auth)
    assert r.status_code == 403 and third.id in r.json()["error"]["message"]
    r = await env.http.post("/v1/events", json={"type": "EVENT_A", "data": {}}, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "org"
    mixed = {
        "events": [
            {"type": "EVENT_B", "org": o, "data": {"i": i}} for i, o in enumerate([env.a.id, env.b.id])
        ]
    }
    assert (await env.http.post("/v1/events/batch", json=mixed, headers=auth)).status_code == 202
    mixed["events"].append({"type": "EVENT_B", "org": third.id, "data": {}})
    r = await env.http.post("/v1/events/batch", json=mixed, headers=auth)
    assert r.status_code == 403 and "events.2.org" in r.json()["error"]["message"]
    assert env.kafka is not None
    records = await asyncio.to_thread(consume, env.kafka, 4)
    assert sorted((k.decode(), orjson.loads(v)["org"]) for k, v in records) == sorted(
        [(env.a.id, env.a.id), (env.b.id, env.b.id)] * 2
    )  # keyed by the event's org, as an org key's events are


async def test_a_producer_key_is_refused_by_every_management_route(env: ControlEnv) -> None:
    auth = bearer((await producer_key(env, ["*"]))["api_key"])
    # A producer key for every org publishes for any org that exists, and not for one that does not.
    r = await env.http.post("/v1/events", json={"type": "T", "org": env.b.id, "data": {}}, headers=auth)
    assert r.status_code == 202, r.text
    r = await env.http.post("/v1/events", json={"type": "T", "org": "org_nope", "data": {}}, headers=auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "org"
    checked = 0
    for template, operations in env.app.openapi()["paths"].items():
        if template in INGEST or not template.startswith("/v1/"):
            continue
        for method in (m.upper() for m in operations):
            # Plausible ids; an event id must look like one (`evt_`), or the path matches no route.
            path = template.replace("{event_id}", "evt_x1")
            path = path.replace("{", "").replace("}", "").replace("_id", "_x1")
            r = await env.http.request(method, path, json={}, headers=auth)
            admin_route = (method, template) in ADMIN_ONLY or template.startswith("/v1/producer-keys")
            expected = 401 if admin_route else 403
            assert r.status_code == expected, (method, template, r.status_code, r.text)
            if expected == 403:
                assert "lacks the scope" in r.json()["error"]["message"], r.text
            checked += 1
    assert checked >= 25


async def test_a_key_without_webhooks_write_cannot_change_a_webhook(env: ControlEnv) -> None:
    hook = await env.webhook()
    r = await env.http.post(
        "/v1/orgs/me/keys", json={"name": "ro", "scopes": ["webhooks:read"]}, headers=env.a.auth
    )
    assert r.status_code == 201, r.text
    assert r.json()["scopes"] == ["webhooks:read"]
    ro = bearer(r.json()["api_key"])
    assert (await env.http.get(f"/v1/webhooks/{hook['id']}", headers=ro)).status_code == 200
    for method, path, body in [
        ("PATCH", f"/v1/webhooks/{hook['id']}", {"enabled": False}),
        ("DELETE", f"/v1/webhooks/{hook['id']}", None),
        ("POST", "/v1/webhooks", {"url": "https://93.184.215.14/x", "event_types": ["A"]}),
        ("POST", f"/v1/webhooks/{hook['id']}/secret/rotate", None),
        ("GET", f"/v1/webhooks/{hook['id']}/secret", None),
        ("POST", f"/v1/webhooks/{hook['id']}/test", None),
        ("POST", "/v1/orgs/me/portal-links", None),  # a portal session can change webhooks
    ]:
        r = await env.http.request(method, path, json=body, headers=ro)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["message"] == "this API key lacks the scope webhooks:write"
    after = (await env.http.get(f"/v1/webhooks/{hook['id']}", headers=env.a.auth)).json()
    assert after["enabled"] is True and after["version"] == hook["version"]
    r = await env.http.get("/v1/attempts", headers=ro)
    assert r.status_code == 403 and "attempts:read" in r.text


async def test_revoked_and_expired_keys_answer_401(env: ControlEnv) -> None:
    r = await env.http.post("/v1/orgs/me/keys", json={"expires_in_s": 1}, headers=env.a.auth)
    short = r.json()
    assert r.status_code == 201 and short["expires_at"] is not None
    assert (await env.http.get("/v1/webhooks", headers=bearer(short["api_key"]))).status_code == 200
    await asyncio.sleep(1.1)
    r = await env.http.get("/v1/webhooks", headers=bearer(short["api_key"]))
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]

    other = (await env.http.post("/v1/orgs/me/keys", headers=env.a.auth)).json()
    assert (await env.http.delete(f"/v1/orgs/me/keys/{other['id']}", headers=env.a.auth)).status_code == 200
    assert (await env.http.get("/v1/webhooks", headers=bearer(other["api_key"]))).status_code == 401

    prod = await producer_key(env, [env.a.id])
    r = await env.http.delete(f"/v1/producer-keys/{prod['id']}", headers=admin_auth())
    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    r = await env.http.post(
        "/v1/events", json={"type": "T", "org": env.a.id, "data": {}}, headers=bearer(prod["api_key"])
    )
    assert r.status_code == 401


async def test_keys_are_listed_without_secrets_and_scopes_cannot_be_widened(env: ControlEnv) -> None:
    r = await env.http.post(
        "/v1/orgs/me/keys", json={"scopes": ["keys:write", "keys:read"]}, headers=env.a.auth
    )
    keys_only = bearer(r.json()["api_key"])
    r = await env.http.post("/v1/orgs/me/keys", json={"scopes": ["webhooks:write"]}, headers=keys_only)
    assert r.status_code == 403 and "webhooks:write" in r.text
    r = await env.http.post("/v1/orgs/me/keys", json={"scopes": ["webhooks:admin"]}, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "scopes.0"
    listed = await env.http.get("/v1/orgs/me/keys", headers=keys_only)
    assert listed.status_code == 200 and len(listed.json()) == 2
    assert all("api_key" not in k and "hash" not in k for k in listed.json())
    await producer_key(env, [env.a.id])
    prods = (await env.http.get("/v1/producer-keys", headers=admin_auth())).json()
    assert len(prods) == 1 and prods[0]["orgs"] == [env.a.id] and prods[0]["scopes"] == ["events:publish"]
    assert "api_key" not in prods[0] and "hash" not in prods[0]
    r = await env.http.post("/v1/producer-keys", json={"orgs": ["org_nope"]}, headers=admin_auth())
    assert r.status_code == 422 and r.json()["error"]["field"] == "orgs.0"
    assert (await env.http.get("/v1/producer-keys", headers=env.a.auth)).status_code == 401
