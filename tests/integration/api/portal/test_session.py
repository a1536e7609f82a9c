"""Getting into the portal: links made with the org's key open one session for that org, once,
for a short time; the session cookie is HttpOnly and SameSite; every change needs the CSRF token;
signing out ends it. Against the app with real FerretDB, Kafka and RabbitMQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from api.app import create_app
from core.settings import PortalSettings
from tests.integration.api.control_support import ControlEnv, admin_auth, control_env
from tests.integration.api.portal.support import link, open_link, token_of, visitor

pytestmark = pytest.mark.services


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


async def test_a_link_is_short_lived_and_points_at_the_portal(env: ControlEnv) -> None:
    r = await env.http.post("/v1/orgs/me/portal-links", headers=env.a.auth)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["url"].startswith("http://api.test/portal/login#token=")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert 890 <= (expires - datetime.now(UTC)).total_seconds() <= 900  # 15 minutes by default
    r = await env.http.post("/v1/orgs/me/portal-links", json={"expires_in_s": 60}, headers=env.a.auth)
    assert r.status_code == 201 and r.json()["url"] != body["url"]
    too_long = {"expires_in_s": 2 * 86_400}
    r = await env.http.post("/v1/orgs/me/portal-links", json=too_long, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "expires_in_s"
    r = await env.http.post("/v1/orgs/me/portal-links")
    assert r.status_code == 401


async def test_a_link_takes_webhooks_write_and_no_producer_key(env: ControlEnv) -> None:
    """A portal session can change the org's webhooks, so a key that may not cannot make one;
    a producer key, which may only publish, neither."""
    r = await env.http.post(
        "/v1/orgs/me/keys",
        json={"name": "ro", "scopes": ["webhooks:read", "attempts:read"]},
        headers=env.a.auth,
    )
    assert r.status_code == 201, r.text
    read_only = {"Authorization": f"Bearer {r.json()['api_key']}"}
    r = await env.http.post("/v1/orgs/me/portal-links", headers=read_only)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["message"] == "this API key lacks the scope webhooks:write"
    r = await env.http.post(
        "/v1/producer-keys", json={"name": "bus", "orgs": [env.a.id]}, headers=admin_auth()
    )
    assert r.status_code == 201, r.text
    producer = {"Authorization": f"Bearer {r.json()['api_key']}"}
    r = await env.http.post("/v1/orgs/me/portal-links", headers=producer)
    assert r.status_code == 403 and "lacks the scope webhooks:write" in r.text
    assert await env.db["portal_links"].count_documents({}) == 0

    r = await env.http.post(
        "/v1/orgs/me/keys", json={"name": "portal", "scopes": ["webhooks:write"]}, headers=env.a.auth
    )
    writer = {"Authorization": f"Bearer {r.json()['api_key']}"}
    made = await env.http.post("/v1/orgs/me/portal-links", headers=writer)
    assert made.status_code == 201, made.text
    stored = await env.db["portal_links"].find_one({})
    assert stored is not None and stored["created_by"] == r.json()["id"]


async def test_the_session_cookie_is_httponly_samesite_and_scoped(env: ControlEnv) -> None:
    async with visitor(env) as v:
        r = await open_link(v.http, await link(env, env.a))
        assert r.status_code == 303 and r.headers["location"] == "/portal"
        cookie = r.headers["set-cookie"].lower()
        assert "edp_portal=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert "path=/portal" in cookie and "max-age=3600" in cookie and "secure" not in cookie
        assert env.a.key not in r.text and env.a.key not in str(v.http.cookies)
        page = await v.get("/portal")
        assert page.status_code == 200 and "alpha" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_a_link_opens_once_even_when_raced(env: ControlEnv) -> None:
    url = await link(env, env.a)
    async with visitor(env) as one, visitor(env) as two:
        answers = await asyncio.gather(open_link(one.http, url), open_link(two.http, url))
        locations = sorted(a.headers["location"] for a in answers)
        assert locations == ["/portal", "/portal/login/refused?why=used&detail="]
        page = await one.http.get(locations[1])
        assert page.status_code == 410 and "This link has been used already" in page.text


async def test_expired_tampered_and_foreign_links_open_nothing(env: ControlEnv) -> None:
    short = await link(env, env.a, expires_in_s=1)
    await asyncio.sleep(1.1)
    async with visitor(env) as v:
        r = await open_link(v.http, short)
        assert r.headers["location"].startswith("/portal/login/refused?why=expired&detail=20")
        page = await v.http.get(r.headers["location"])
        assert page.status_code == 410 and "This link has expired" in page.text
        assert "edp_portal=" not in r.headers.get("set-cookie", "")

        good = token_of(await link(env, env.a))
        for bad in (good[:-3] + "abc", good[: len(good) // 2], "", "x" * 2000):
            r = await v.http.post(
                "/portal/login", data={"token": bad, "nonce": "n"}, cookies={"edp_portal_login": "n"}
            )
            assert r.headers["location"] == "/portal/login/refused?why=tampered&detail=", bad
        assert (await v.get("/portal")).status_code == 401


async def test_a_link_posted_from_another_site_is_refused(env: ControlEnv) -> None:
    """Without the nonce cookie of the link's own page (SameSite=Strict keeps it from other
    sites' forms) a posted link signs nobody in, so a site cannot sign a browser in to an org."""
    async with visitor(env) as v:
        r = await v.http.post(
            "/portal/login", data={"token": token_of(await link(env, env.b)), "nonce": "guess"}
        )
        assert r.headers["location"].startswith("/portal/login/refused?why=login")
        assert (await v.get("/portal")).status_code == 401


async def test_every_change_needs_the_csrf_token(env: ControlEnv) -> None:
    async with visitor(env, env.a) as v, visitor(env, env.b) as other:
        body = {"url": "http://127.0.0.1:9/hook", "event_types": "A"}
        for token in ("", "wrong", other.csrf):
            r = await v.http.post("/portal/endpoints", data={**body, "csrf": token})
            assert r.status_code == 403 and "out of date" in r.text
        assert (await env.http.get("/v1/webhooks", headers=env.a.auth)).json()["data"] == []
        r = await v.post("/portal/endpoints", body)
        assert r.status_code == 303


async def test_signing_out_ends_the_session_for_good(env: ControlEnv) -> None:
    async with visitor(env, env.a) as v:
        kept = dict(v.http.cookies)
        r = await v.post("/portal/logout")
        assert r.status_code == 200 and "You have signed out" in r.text
        v.http.cookies.update(kept)  # the old cookie, replayed
        r = await v.get("/portal")
        assert r.status_code == 401 and "How to get a portal link" in r.text


async def test_without_a_session_every_page_says_how_to_get_a_link(env: ControlEnv) -> None:
    async with visitor(env) as v:
        for path in ("/portal", "/portal/", "/portal/endpoints", "/portal/deliveries", "/portal/event-types"):
            r = await v.get(path)
            assert r.status_code == 401 and r.headers["content-type"].startswith("text/html"), path
            assert "/v1/orgs/me/portal-links" in r.text
        r = await v.get("/portal/endpoints", cookies={"edp_portal": "forged"})
        assert r.status_code == 401
        r = await v.get("/portal/no/such/page")
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")


async def test_an_https_origin_marks_cookies_secure_and_links_use_it(env: ControlEnv) -> None:
    config = env.app.state.portal.config
    app = create_app(
        config.__class__(
            **{**config.__dict__, "portal": PortalSettings(public_url="https://portal.example")}
        ),
        producer=env.app.state.ctx.producer,
        db=env.db,
    )
    transport = httpx.ASGITransport(app=app)
    # https, as a browser behind that origin would be: Secure cookies are not sent over http.
    async with httpx.AsyncClient(transport=transport, base_url="https://api.test") as http:
        r = await http.post("/v1/orgs/me/portal-links", headers=env.a.auth)
        assert r.json()["url"].startswith("https://portal.example/portal/login#token=")
        started = time.monotonic()
        answer = await open_link(http, r.json()["url"])
        assert "secure" in answer.headers["set-cookie"].lower() and time.monotonic() - started < 5
