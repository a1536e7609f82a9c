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
    async with http_delivery.Transport(SETTINGS, guard) as t:
        return await t.post(url, body, hdrs, 4096)


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


async def test_a_hostname_is_checked_then_pinned_to_the_checked_address(recv: Receivers) -> None:
    port = recv.ports[0]
    res = await post(LOOPBACK, f"http://localhost:{port}/hook")
    assert res.status == 200, res
    assert recv.states[port].requests == 1


class ScriptedDns(http_delivery.Transport):
    """The name's answers in turn: what a rebinding DNS server or a dual-stack host returns."""

    def __init__(self, guard: Guard, answers: list[tuple[str, ...]], dns_ttl_s: float = 0.0) -> None:
        super().__init__(SETTINGS, guard, dns_ttl_s=dns_ttl_s)
        self.answers = answers

    async def _lookup(self, host: str, port: int) -> tuple[str, ...]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


async def test_dns_rebinding_to_a_refused_address_is_refused_at_send_time(recv: Receivers) -> None:
    port = recv.ports[0]
    url = f"http://hooks.example.test:{port}/hook"
    async with ScriptedDns(LOOPBACK, [("127.0.0.1",), ("10.0.0.1",)]) as t:
        first = await t.post(url, b"{}", {}, 64)
        second = await t.post(url, b"{}", {}, 64)  # the TTL (0 here) passed: resolved again
    assert first.status == 200 and second.error == "refused_destination", (first, second)
    assert recv.states[port].requests == 1


async def test_after_a_connect_failure_the_next_address_of_the_host_is_tried(recv: Receivers) -> None:
    port = recv.ports[0]  # listening on 127.0.0.1 only: 127.0.0.2 refuses the connection
    url = f"http://hooks.example.test:{port}/hook"
    async with ScriptedDns(Guard(("127.0.0.0/8",)), [("127.0.0.2", "127.0.0.1")], dns_ttl_s=60.0) as t:
        results = [await t.post(url, b"{}", {}, 64) for _ in range(2)]
    assert [r.error for r in results] == ["connect", None] and results[1].status == 200, results


async def test_the_excerpt_is_bounded_and_retry_after_is_read() -> None:
    async def big(_: web.Request) -> web.Response:
        return web.Response(status=429, body=b"x" * 100_000, headers={"Retry-After": "7"})

    app = web.Application()
    app.router.add_post("/hook", big)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with http_delivery.Transport(SETTINGS, LOOPBACK) as t:
            res = await t.post(f"http://127.0.0.1:{runner.addresses[0][1]}/hook", b"{}", {}, 512)
    finally:
        await runner.cleanup()
    assert res.status == 429 and res.excerpt == "x" * 512 and res.retry_after == 7.0, res
