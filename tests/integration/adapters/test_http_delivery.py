"""The delivery HTTP client against real receivers on 127.0.0.1: SSRF guard at send time,
no redirects, bounded timeouts, signatures the official library accepts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook as SWVerifier

from adapters import http_delivery
from core.delivery import HttpResult
from core.settings import DeliverySettings
from core.signing import headers as sign_headers
from core.signing import new_secret
from core.ssrf import Guard
from testkit.receiver.runner import Receivers, start_receivers
from testkit.receiver.state import Mode

SETTINGS = DeliverySettings(connect_timeout_s=0.5, total_timeout_s=0.8)
LOOPBACK = Guard(("127.0.0.1/32",))


@pytest.fixture
async def recv() -> AsyncIterator[Receivers]:
    r = await start_receivers([0])
    yield r
    await r.stop()


async def post(
    guard: Guard, url: str, body: bytes = b'{"id":"evt_1"}', secret: str | None = None
) -> HttpResult:
    secrets = [secret or new_secret()]
    hdrs = sign_headers("dlv_1", int(time.time()), body, secrets)
    async with http_delivery.session(SETTINGS, guard) as s:
        return await http_delivery.post(s, guard, url, body, hdrs, 4096)


async def test_delivers_and_the_official_library_verifies(recv: Receivers) -> None:
    secret = new_secret()
    recv.states[recv.ports[0]].set_secrets([secret])
    res = await post(LOOPBACK, recv.url(recv.ports[0], "/hook"), secret=secret)
    assert res.status == 200 and res.error is None
    rec = recv.states[recv.ports[0]].ring[-1]
    assert rec["verdict"] == "verified"
    SWVerifier(secret).verify(rec["body"].encode(), rec["headers"])


async def test_loopback_refused_without_allowlist_by_ip_and_by_name(recv: Receivers) -> None:
    port = recv.ports[0]
    for url in (f"http://127.0.0.1:{port}/hook", f"http://localhost:{port}/hook"):
        res = await post(Guard(()), url)
        assert res.error == "refused_destination", (url, res)
    assert recv.states[port].requests == 0


async def test_timeout_is_bounded_against_a_hanging_endpoint(recv: Receivers) -> None:
    recv.states[recv.ports[0]].mode = Mode(hang=True)
    started = time.monotonic()
    res = await post(LOOPBACK, recv.url(recv.ports[0], "/hook"))
    assert res.error == "timeout" and time.monotonic() - started < 2.0


async def test_redirects_are_not_followed() -> None:
    async def redirect(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.1:1/elsewhere")

    app = web.Application()
    app.router.add_post("/hook", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        res = await post(LOOPBACK, f"http://127.0.0.1:{port}/hook")
        assert res.status == 302
    finally:
        await runner.cleanup()


async def test_connection_refused_is_a_retryable_transport_error() -> None:
    res = await post(LOOPBACK, "http://127.0.0.1:1/hook")
    assert res.status is None and res.error == "connect"
