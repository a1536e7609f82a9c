"""Orgs and API keys over the real database: admin key, key issue and revocation, key cache."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.repos import OrgRepo
from tests.integration.api.support import ADMIN_KEY, ApiEnv, FakeClock, api_env

pytestmark = pytest.mark.services

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
EVENT = {"type": "EVENT_A", "data": {}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def env(clock: FakeClock) -> AsyncIterator[ApiEnv]:
    async with api_env(key_cache_s=0.3, clock=clock) as e:
        yield e


async def test_admin_creates_an_org_whose_key_works(env: ApiEnv) -> None:
    r = await env.http.post("/v1/orgs", json={"name": "Help Dev"}, headers=ADMIN)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("org_") and body["name"] == "Help Dev" and body["key_id"].startswith("key_")
    key = body["api_key"]

    me = await env.http.get("/v1/orgs/me", headers=env.auth(key))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == body["id"]
    [shown] = me.json()["keys"]
    assert shown["id"] == body["key_id"] and key.startswith(shown["prefix"]) and shown["revoked_at"] is None
    assert "hash" not in shown and key not in me.text

    r = await env.http.post("/v1/events", json=EVENT, headers=env.auth(key))
    assert r.status_code == 202, r.text


async def test_only_the_hash_is_stored(env: ApiEnv) -> None:
    key = (await env.http.post("/v1/orgs", json={"name": "x"}, headers=ADMIN)).json()["api_key"]
    async for doc in env.db["orgs"].find({}):
        assert key not in str(doc)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {ADMIN_KEY}x"},
        {"Authorization": ADMIN_KEY},
    ],
)
async def test_wrong_admin_key_is_401(env: ApiEnv, headers: dict[str, str]) -> None:
    r = await env.http.post("/v1/orgs", json={"name": "x"}, headers=headers)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"


async def test_an_org_key_is_not_an_admin_key(env: ApiEnv) -> None:
    r = await env.http.post("/v1/orgs", json={"name": "x"}, headers=env.auth())
    assert r.status_code == 401


async def test_admin_key_unset_disables_org_creation() -> None:
    async with api_env() as env:
        env.app.state.ctx.admin._digest = None  # as if EDP_ADMIN_KEY were unset
        r = await env.http.post("/v1/orgs", json={"name": "x"}, headers=ADMIN)
        assert r.status_code == 401
        assert "EDP_ADMIN_KEY" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("content", "status"),
    [(b'{"name": ""}', 422), (b'{"name": " padded "}', 422), (b"{}", 422), (b"[]", 422), (b"{", 400)],
)
async def test_bad_org_bodies(env: ApiEnv, content: bytes, status: int) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    r = await env.http.post("/v1/orgs", content=content, headers=headers)
    assert r.status_code == status, r.text
    assert set(r.json()["error"]) == {"code", "message", "field"}


async def test_deeply_nested_org_body_is_4xx(env: ApiEnv) -> None:
    body = b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = await env.http.post("/v1/orgs", content=body, headers={**ADMIN, "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500, r.text


async def test_issue_and_revoke_keys(env: ApiEnv) -> None:
    r = await env.http.post("/v1/orgs/me/keys", headers=env.auth())
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["api_key"] != env.api_key and second["revoked_at"] is None
    assert (
        await env.http.post("/v1/events", json=EVENT, headers=env.auth(second["api_key"]))
    ).status_code == 202

    r = await env.http.delete(f"/v1/orgs/me/keys/{second['id']}", headers=env.auth())
    assert r.status_code == 200, r.text
    revoked_at = r.json()["revoked_at"]
    assert revoked_at is not None
    # Revoked through this server: refused at once, no cache delay.
    r = await env.http.post("/v1/events", json=EVENT, headers=env.auth(second["api_key"]))
    assert r.status_code == 401

    again = await env.http.delete(f"/v1/orgs/me/keys/{second['id']}", headers=env.auth())
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked_at

    assert (await env.http.delete("/v1/orgs/me/keys/key_unknown", headers=env.auth())).status_code == 404
    assert (await env.http.delete("/v1/orgs/me/keys/bad%20id", headers=env.auth())).status_code == 422
    keys = (await env.http.get("/v1/orgs/me", headers=env.auth())).json()["keys"]
    assert [k["revoked_at"] is not None for k in keys] == [False, True]


async def test_key_revoked_elsewhere_stops_within_the_cache_time(env: ApiEnv, clock: FakeClock) -> None:
    repo = OrgRepo(env.db)
    key_doc, key = await repo.add_key(env.org)
    assert (await env.http.post("/v1/events", json=EVENT, headers=env.auth(key))).status_code == 202
    await repo.revoke_key(env.org, key_doc["id"])  # as another API server would
    assert (await env.http.post("/v1/events", json=EVENT, headers=env.auth(key))).status_code == 202
    clock.advance(0.35)
    assert (await env.http.post("/v1/events", json=EVENT, headers=env.auth(key))).status_code == 401


async def test_openapi_documents_every_route(env: ApiEnv) -> None:
    doc = (await env.http.get("/openapi.json")).json()
    assert {"/v1/events", "/v1/events/batch", "/v1/orgs", "/v1/orgs/me", "/healthz", "/readyz"} <= set(
        doc["paths"]
    )
    post = doc["paths"]["/v1/events"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == ["type", "data"]
    assert {"202", "400", "401", "403", "413", "422", "503"} <= set(post["responses"])
    assert set(doc["components"]["securitySchemes"]) == {"apiKey", "adminKey"}
