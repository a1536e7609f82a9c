"""Webhooks through the API over the real database: create, list, get, patch, delete, secrets,
and every kind of bad input answered 422 naming the field (never a 500)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from adapters.secret_keys import SecretBox
from core.models import Webhook
from tests.integration.api.control_support import LOOPBACK_URL, PUBLIC_URL, ControlEnv, control_env
from tests.integration.api.support import SECRETS

pytestmark = pytest.mark.services


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


async def stored(env: ControlEnv, webhook_id: str) -> Webhook:
    doc = await env.db["webhooks"].find_one({"_id": webhook_id})
    assert doc is not None
    return Webhook.from_doc(SecretBox(SECRETS).open(doc))  # as the rule cache reads it


async def test_create_returns_the_secret_once_and_stores_what_the_pipeline_reads(env: ControlEnv) -> None:
    body = {
        "url": LOOPBACK_URL,
        "event_types": ["EVENT_A", "order.*", "EVENT_A"],
        "filter": {"data.amount": {"$gte": 50}},
        "headers": {"X-Team": "billing"},
        "rate_limit": 20,
        "max_concurrency": 4,
        "description": "orders over 50",
        "retry_schedule": [1, 60.5],
    }
    r = await env.http.post("/v1/webhooks", json=body, headers=env.a.auth)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"].startswith("wh_") and created["secret"].startswith("whsec_")
    assert created["event_types"] == ["EVENT_A", "order.*"]  # deduplicated, order kept
    assert created["filter"] == body["filter"] and created["version"] == 1 and created["enabled"]

    wh = await stored(env, created["id"])
    assert wh.org == env.a.id and wh.filter == body["filter"] and wh.retry_schedule == (1, 60.5)
    assert [s.key for s in wh.secrets] == [created["secret"]] and wh.headers == {"X-Team": "billing"}
    assert wh.rate_limit == 20 and wh.max_concurrency == 4 and created["max_concurrency"] == 4

    got = await env.http.get(f"/v1/webhooks/{created['id']}", headers=env.a.auth)
    listed = await env.http.get("/v1/webhooks", headers=env.a.auth)
    for text in (got.text, listed.text):
        assert created["secret"] not in text and "secret" not in text
    assert got.json() == {k: v for k, v in created.items() if k != "secret"}
    secret = await env.http.get(f"/v1/webhooks/{created['id']}/secret", headers=env.a.auth)
    assert secret.json() == {"secret": created["secret"]}


async def test_list_pages_with_a_cursor(env: ControlEnv) -> None:
    ids = [(await env.webhook())["id"] for _ in range(5)]
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        page = (await env.http.get("/v1/webhooks", params=params, headers=env.a.auth)).json()
        seen += [w["id"] for w in page["data"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert seen == ids and pages == 3
    deleted = await env.http.delete(f"/v1/webhooks/{ids[0]}", headers=env.a.auth)
    assert deleted.status_code == 204
    everything = (await env.http.get("/v1/webhooks", params={"limit": 100}, headers=env.a.auth)).json()
    assert [w["id"] for w in everything["data"]] == ids[1:] and everything["next"] is None


async def test_patch_bumps_version_and_updated_at(env: ControlEnv) -> None:
    created = await env.webhook(filter={"data.x": 1}, rate_limit=5, max_concurrency=2)
    wid = created["id"]
    r = await env.http.patch(
        f"/v1/webhooks/{wid}",
        json={
            "event_types": ["EVENT_B"],
            "filter": None,
            "rate_limit": None,
            "max_concurrency": None,
            "description": "d",
        },
        headers=env.a.auth,
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched["version"] == 2 and patched["event_types"] == ["EVENT_B"]
    assert patched["filter"] is None and patched["rate_limit"] is None and patched["description"] == "d"
    assert patched["max_concurrency"] is None
    assert datetime.fromisoformat(patched["updated_at"]) > datetime.fromisoformat(created["updated_at"])
    assert patched["url"] == created["url"]  # untouched fields stay
    wh = await stored(env, wid)
    assert wh.event_types == ("EVENT_B",) and wh.filter is None and wh.version == 2
    # An empty patch changes nothing, not even the version.
    same = await env.http.patch(f"/v1/webhooks/{wid}", json={}, headers=env.a.auth)
    assert same.json()["version"] == 2


async def test_re_enabling_clears_disabled_reason(env: ControlEnv) -> None:
    wid = (await env.webhook())["id"]
    # As the delivery worker does after a 410:
    await env.db["webhooks"].update_one(
        {"_id": wid}, {"$set": {"enabled": False, "disabled_reason": "410 Gone"}, "$inc": {"version": 1}}
    )
    got = (await env.http.get(f"/v1/webhooks/{wid}", headers=env.a.auth)).json()
    assert got["enabled"] is False and got["disabled_reason"] == "410 Gone"
    r = await env.http.patch(f"/v1/webhooks/{wid}", json={"enabled": True}, headers=env.a.auth)
    assert r.json()["enabled"] is True and r.json()["disabled_reason"] is None
    off = await env.http.patch(f"/v1/webhooks/{wid}", json={"enabled": False}, headers=env.a.auth)
    assert off.json()["enabled"] is False and off.json()["disabled_reason"]


async def test_delete_is_an_idempotent_tombstone(env: ControlEnv) -> None:
    wid = (await env.webhook())["id"]
    for _ in range(2):
        r = await env.http.delete(f"/v1/webhooks/{wid}", headers=env.a.auth)
        assert r.status_code == 204 and r.content == b""
    raw = await env.db["webhooks"].find_one({"_id": wid})
    assert raw is not None and raw["deleted"] is True and raw["version"] == 2  # what the rule cache sees
    for method in ("GET", "PATCH"):
        r = await env.http.request(method, f"/v1/webhooks/{wid}", json={}, headers=env.a.auth)
        assert r.status_code == 404, (method, r.text)
    assert (await env.http.get(f"/v1/webhooks/{wid}/secret", headers=env.a.auth)).status_code == 404
    assert (await env.http.delete("/v1/webhooks/wh_neverexisted", headers=env.a.auth)).status_code == 404


async def test_rotation_keeps_the_old_secret_for_a_while_and_only_two(env: ControlEnv) -> None:
    created = await env.webhook()
    wid, first = created["id"], created["secret"]
    r = await env.http.post(f"/v1/webhooks/{wid}/secret/rotate", headers=env.a.auth)
    assert r.status_code == 200, r.text
    second = r.json()["secret"]
    expires = datetime.fromisoformat(r.json()["previous_expires_at"])
    assert second != first and second.startswith("whsec_")
    assert (
        timedelta(hours=23, minutes=59)
        < expires - datetime.fromisoformat(created["updated_at"])
        < timedelta(hours=24, minutes=1)
    )
    wh = await stored(env, wid)
    assert [s.key for s in wh.secrets] == [second, first] and wh.secrets[1].expires_at == expires
    assert wh.signing_keys(wh.updated_at) == [second, first]  # both sign during the overlap

    r = await env.http.post(
        f"/v1/webhooks/{wid}/secret/rotate", json={"expire_old_in_s": 60}, headers=env.a.auth
    )
    third = r.json()["secret"]
    wh = await stored(env, wid)
    assert [s.key for s in wh.secrets] == [third, second] and wh.version == 3
    assert (await env.http.get(f"/v1/webhooks/{wid}/secret", headers=env.a.auth)).json()["secret"] == third

    r = await env.http.post(
        f"/v1/webhooks/{wid}/secret/rotate", json={"expire_old_in_s": 0}, headers=env.a.auth
    )
    wh = await stored(env, wid)
    assert wh.signing_keys(wh.updated_at + timedelta(milliseconds=1)) == [r.json()["secret"]]


LONG = "x" * 1025

BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"url": "ftp://93.184.215.14/x"}, "url"),
    ({"url": "https://93.184.215.14/" + "a" * 2048}, "url"),
    ({"url": "http://10.0.0.8/hook"}, "url"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
    ({"url": "http://[::1]:8080/"}, "url"),
    ({"url": "http://no-such-host.invalid/hook"}, "url"),
    ({"url": "http://user:pw@93.184.215.14/"}, "url"),
    ({"url": "http://93.184.215.14:99999/"}, "url"),
    ({"url": "http://" + "a" * 64 + ".example/"}, "url"),  # an IDNA error, not a 500
    ({"url": 5}, "url"),
    ({"event_types": []}, "event_types"),
    ({"event_types": ["ok"] * 51}, "event_types"),
    ({"event_types": ["has space"]}, "event_types.0"),
    ({"event_types": ["a.*.b"]}, "event_types.0"),
    ({"event_types": "EVENT_A"}, "event_types"),
    ({"filter": {"$where": "this.a == 1"}}, "filter.$where"),
    ({"filter": {"data.a": {"$foo": 1}}}, "filter.data.a.$foo"),
    ({"filter": {"data.a": {"$regex": "("}}}, "filter.data.a.$regex"),
    ({"filter": [1]}, "filter"),
    ({"filter": {"data.a": "x" * 20_000}}, "filter"),
    ({"headers": {"webhook-id": "x"}}, "headers.webhook-id"),
    ({"headers": {"Content-Type": "text/plain"}}, "headers.Content-Type"),
    ({"headers": {"Host": "evil"}}, "headers.Host"),
    ({"headers": {"X-A": "1", "x-a": "2"}}, "headers"),
    ({"headers": {"bad name": "x"}}, "headers"),
    ({"headers": {"X-A": "a\r\nX-Injected: 1"}}, "headers.X-A"),
    ({"headers": {"X-A": LONG}}, "headers.X-A"),
    ({"headers": {"X-" + "a" * 256: "x"}}, "headers"),
    ({"headers": {f"X-{i}": "v" for i in range(21)}}, "headers"),
    ({"rate_limit": 0}, "rate_limit"),
    ({"rate_limit": 10_001}, "rate_limit"),
    ({"rate_limit": "fast"}, "rate_limit"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"max_concurrency": 1001}, "max_concurrency"),
    ({"max_concurrency": 2.5}, "max_concurrency"),
    ({"retry_schedule": []}, "retry_schedule"),
    ({"retry_schedule": [0.05]}, "retry_schedule.0"),
    ({"retry_schedule": [86_401]}, "retry_schedule.0"),
    ({"retry_schedule": [1.0] * 21}, "retry_schedule"),
    ({"description": LONG}, "description"),
    ({"enabled": "yes please"}, "enabled"),
    ({"secret": "whsec_mine"}, "secret"),
    ({"id": "wh_mine"}, "id"),
]


@pytest.mark.parametrize(("change", "field"), BAD_CREATES, ids=[f for _, f in BAD_CREATES])
async def test_bad_input_is_422_naming_the_field(env: ControlEnv, change: dict[str, Any], field: str) -> None:
    body = {"url": PUBLIC_URL, "event_types": ["EVENT_A"], **change}
    r = await env.http.post("/v1/webhooks", json=body, headers=env.a.auth)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"].startswith(field), r.text
    wid = (await env.webhook())["id"]
    patch = {k: v for k, v in change.items() if k not in ("secret", "id")} or {"id": "wh_x"}
    r = await env.http.patch(f"/v1/webhooks/{wid}", json=patch, headers=env.a.auth)
    assert r.status_code == 422, r.text
    assert (await env.http.get(f"/v1/webhooks/{wid}", headers=env.a.auth)).json()["version"] == 1


@pytest.mark.parametrize("field", ["url", "event_types", "headers", "description", "enabled"])
async def test_patch_refuses_null_where_null_means_nothing(env: ControlEnv, field: str) -> None:
    wid = (await env.webhook())["id"]
    r = await env.http.patch(f"/v1/webhooks/{wid}", json={field: None}, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/webhooks/bad%20id", None),
        ("GET", "/v1/webhooks?limit=0", None),
        ("GET", "/v1/webhooks?limit=101", None),
        ("GET", "/v1/webhooks?after=%00", None),
        ("POST", "/v1/webhooks/wh_x/secret/rotate", {"expire_old_in_s": -1}),
        ("POST", "/v1/webhooks/wh_x/secret/rotate", {"expire_old_in_s": 10**9}),
    ],
)
async def test_bad_parameters_are_422(env: ControlEnv, method: str, path: str, body: Any) -> None:
    r = await env.http.request(method, path, json=body, headers=env.a.auth)
    assert r.status_code == 422, r.text


async def test_malformed_and_hostile_bodies_are_4xx(env: ControlEnv) -> None:
    headers = {**env.a.auth, "Content-Type": "application/json"}
    for content in (b"{", b"[]", b"null", b'{"url": "' + b"\xff" * 10 + b'"}', b"[" * 50_000 + b"]" * 50_000):
        r = await env.http.post("/v1/webhooks", content=content, headers=headers)
        assert 400 <= r.status_code < 500, (content[:20], r.text)
    deep: Any = {"$eq": 1}
    for _ in range(100):
        deep = {"$and": [deep]}
    r = await env.http.post(
        "/v1/webhooks", json={"url": PUBLIC_URL, "event_types": ["E"], "filter": deep}, headers=env.a.auth
    )
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("filter")


async def test_unknown_ids_are_404(env: ControlEnv) -> None:
    for method, path in [
        ("GET", "/v1/webhooks/wh_unknown"),
        ("PATCH", "/v1/webhooks/wh_unknown"),
        ("GET", "/v1/webhooks/wh_unknown/secret"),
        ("POST", "/v1/webhooks/wh_unknown/secret/rotate"),
    ]:
        r = await env.http.request(method, path, json={}, headers=env.a.auth)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "not_found"


async def test_ordered_delivery_is_set_patched_shown_and_resumed(env: ControlEnv) -> None:
    plain = await env.webhook()
    assert (plain["ordered"], plain["ordered_failure"], plain["ordered_paused"]) == (False, "skip", None)
    hook = await env.webhook(ordered=True, ordered_failure="pause")
    assert (hook["ordered"], hook["ordered_failure"]) == (True, "pause")
    doc = await env.db["webhooks"].find_one({"_id": hook["id"]})
    assert doc is not None and doc["ordered"] and doc["ordered_lane"]  # what the pipeline follows
    r = await env.http.patch(f"/v1/webhooks/{plain['id']}", json={"ordered": True}, headers=env.a.auth)
    assert r.status_code == 200 and r.json()["ordered"] is True
    r = await env.http.patch(f"/v1/webhooks/{plain['id']}", json={"ordered": False}, headers=env.a.auth)
    assert r.json()["ordered"] is False
    stored = await env.db["webhooks"].find_one({"_id": plain["id"]})
    assert stored is not None and stored["ordered_lane"] is True  # its lane is still drained
    await env.db["webhooks"].update_one({"_id": hook["id"]}, {"$set": {"ordered_paused": "dead letter"}})
    got = (await env.http.get(f"/v1/webhooks/{hook['id']}", headers=env.a.auth)).json()
    assert got["ordered_paused"] == "dead letter"
    r = await env.http.post(f"/v1/webhooks/{hook['id']}/resume", headers=env.a.auth)
    assert r.status_code == 200 and r.json()["ordered_paused"] is None
    r = await env.http.post(f"/v1/webhooks/{hook['id']}/resume", headers=env.b.auth)
    assert r.status_code == 404  # another org's webhook is unknown, as everywhere
    for body, field in (({"ordered": "yes"}, "ordered"), ({"ordered_failure": "retry"}, "ordered_failure")):
        r = await env.http.patch(f"/v1/webhooks/{hook['id']}", json=body, headers=env.a.auth)
        assert r.status_code == 422 and r.json()["error"]["field"].startswith(field), r.text
    r = await env.http.patch(f"/v1/webhooks/{hook['id']}", json={"ordered": None}, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "ordered"
