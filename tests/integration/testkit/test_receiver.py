"""The sample webhook receiver over real HTTP on 127.0.0.1, on ports the OS picks.

Signatures are produced by the official `standardwebhooks` library, so the receiver is checked
against what every Standard Webhooks sender emits, not against its own signer.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from testkit.receiver import (
    ReceiverClient,
    ReceiverError,
    Receivers,
    ReceiversThread,
    start_receivers,
    verify,
)
from testkit.receiver.signature import Verdict, decode_secret

ROOT = Path(__file__).resolve().parents[3]
SECRET_A = "whsec_" + base64.b64encode(b"a" * 24).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 32).decode()
SECRET_C = "whsec_" + base64.b64encode(b"c" * 32).decode()


def event_body(n: int = 1, org: str = "helpdev") -> bytes:
    return orjson.dumps(
        {
            "id": f"evt_{n}",
            "org": org,
            "type": "EVENT_A",
            "timestamp": "2026-11-28T00:00:00Z",
            "data": {"n": n},
        }
    )


def signed_headers(body: bytes, msg_id: str, *secrets: str, ts: float | None = None) -> dict[str, str]:
    """Headers as a sender would send them, one signature per secret (a rotation sends two)."""
    when = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    sigs = [Webhook(s).sign(msg_id, when, body.decode()) for s in secrets]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(sigs),
        "content-type": "application/json",
    }


def library_verdict(known: list[str], body: bytes, headers: dict[str, str]) -> Verdict:
    if not known:
        return "unverified"
    for secret in known:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return "verified"
        except (WebhookVerificationError, ValueError):
            continue
    return "invalid"


SIG_CASES: dict[str, tuple[list[str], list[str], dict[str, Any]]] = {
    # name: (receiver knows, sender signs with, tweaks)
    "valid": ([SECRET_A], [SECRET_A], {}),
    "tampered body": ([SECRET_A], [SECRET_A], {"tamper": True}),
    "wrong secret": ([SECRET_A], [SECRET_B], {}),
    "rotation, receiver knows old and new": ([SECRET_A, SECRET_B], [SECRET_B], {}),
    "rotation, sender signs old and new": ([SECRET_B], [SECRET_A, SECRET_B], {}),
    "rotation, no overlap": ([SECRET_A, SECRET_B], [SECRET_C], {}),
    "expired timestamp": ([SECRET_A], [SECRET_A], {"ts_offset": -301}),
    "timestamp too new": ([SECRET_A], [SECRET_A], {"ts_offset": 301}),
    "timestamp within tolerance": ([SECRET_A], [SECRET_A], {"ts_offset": -290}),
    "no secret known": ([], [SECRET_A], {}),
    "missing signature": ([SECRET_A], [SECRET_A], {"drop": "webhook-signature"}),
    "unknown version only": ([SECRET_A], [SECRET_A], {"version": "v2"}),
}


@pytest.mark.parametrize("case", list(SIG_CASES))
def test_verify_agrees_with_standardwebhooks(case: str) -> None:
    known, signers, tweak = SIG_CASES[case]
    body = event_body()
    headers = signed_headers(body, "dlv_1", *signers, ts=time.time() + tweak.get("ts_offset", 0))
    if tweak.get("tamper"):
        body = body.replace(b'"n":1', b'"n":2')
    if "drop" in tweak:
        del headers[tweak["drop"]]
    if "version" in tweak:
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", tweak["version"] + ",")
    keys = [decode_secret(s) for s in known]
    msg_id, ts, sig = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    ours = verify(keys, msg_id, ts, sig, body)
    assert ours == library_verdict(known, body, headers)


# ---- over HTTP, in the test's own event loop ------------------------------------------------


@pytest.fixture
async def recv() -> AsyncIterator[Receivers]:
    receivers = await start_receivers([0, 0], secrets=[SECRET_A])
    yield receivers
    await receivers.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession,
    url: str,
    n: int = 1,
    msg_id: str | None = None,
    secret: str = SECRET_A,
    **kw: Any,
) -> aiohttp.ClientResponse:
    body = event_body(n)
    async with http.post(
        url, data=body, headers=signed_headers(body, msg_id or f"dlv_{n}", secret), **kw
    ) as r:
        await r.read()
        return r


async def control(
    http: aiohttp.ClientSession,
    recv: Receivers,
    method: str,
    path: str,
    body: Any = None,
    *,
    port: int | None = None,
) -> Any:
    url = recv.url(recv.ports[0] if port is None else port, path)
    async with http.request(method, url, data=None if body is None else orjson.dumps(body)) as r:
        assert r.status == 200, await r.text()
        return orjson.loads(await r.read())


async def test_signatures_over_http(recv: Receivers, http: aiohttp.ClientSession) -> None:
    a, b = recv.urls
    assert (await post(http, a + "hook", 1)).status == 200
    assert (await post(http, a + "hook", 2, secret=SECRET_B)).status == 401
    # Port b learns of a rotation: both secrets valid.
    await control(
        http, recv, "PUT", "/_control/secrets", {"secrets": [SECRET_B, SECRET_A]}, port=recv.ports[1]
    )
    assert (await post(http, b, 3, secret=SECRET_B)).status == 200
    assert (await post(http, b, 4, secret=SECRET_A)).status == 200
    await control(http, recv, "PUT", "/_control/secrets", {"secrets": []}, port=recv.ports[1])
    assert (await post(http, b, 5, secret=SECRET_C)).status == 200
    sa = await control(http, recv, "GET", "/_control/stats")
    sb = await control(http, recv, "GET", "/_control/stats", port=recv.ports[1])
    assert (sa["verified"], sa["invalid"], sa["rejected"], sa["received"]) == (1, 1, 1, 1)
    assert (sb["verified"], sb["unverified"], sb["received"], sb["unique"]) == (2, 1, 3, 3)
    async with http.put(recv.url(recv.ports[0], "/_control/secrets"), data=b'{"secrets": ["whsec_!!"]}') as r:
        assert r.status == 400


async def test_invalid_accepted_when_not_rejecting(http: aiohttp.ClientSession) -> None:
    recv = await start_receivers([0], secrets=[SECRET_A], reject_invalid=False)
    try:
        assert (await post(http, recv.urls[0], 1, secret=SECRET_B)).status == 200
        stats = await control(http, recv, "GET", "/_control/stats")
        assert (stats["invalid"], stats["received"], stats["rejected"]) == (1, 1, 0)
    finally:
        await recv.stop()


async def test_duplicates_by_webhook_id(recv: Receivers, http: aiohttp.ClientSession) -> None:
    url = recv.urls[0]
    for n, msg_id in [(1, "dlv_x"), (1, "dlv_x"), (2, "dlv_y"), (1, "dlv_x")]:
        assert (await post(http, url, n, msg_id)).status == 200
    stats = await control(http, recv, "GET", "/_control/stats")
    assert (stats["received"], stats["unique"], stats["duplicates"]) == (4, 2, 2)
    assert sorted(await control(http, recv, "GET", "/_control/event_ids")) == ["evt_1", "evt_2"]
    arrivals = await control(http, recv, "GET", "/_control/arrivals")
    assert set(arrivals) == {"dlv_x", "dlv_y"} and arrivals["dlv_x"] <= arrivals["dlv_y"]


async def test_status_and_retry_after(recv: Receivers, http: aiohttp.ClientSession) -> None:
    url = recv.urls[0]
    await control(http, recv, "PUT", "/_control/mode", {"status": 429, "retry_after": "2"})
    r = await post(http, url, 1)
    assert (r.status, r.headers.get("Retry-After")) == (429, "2")
    await control(http, recv, "PUT", "/_control/mode", {"status": 410})
    assert (await post(http, url, 2)).status == 410
    assert (await post(http, recv.urls[1], 3)).status == 200  # the other port is another customer
    stats = await control(http, recv, "GET", "/_control/stats")
    assert (stats["failed_responses"], stats["received"], stats["mode"]) == (2, 0, {"status": 410})
    await control(http, recv, "PUT", "/_control/mode", {})
    assert (await post(http, url, 4)).status == 200


async def test_fail_count_then_recover(recv: Receivers, http: aiohttp.ClientSession) -> None:
    await control(http, recv, "PUT", "/_control/mode", {"status": 500, "fail_count": 3})
    codes = [(await post(http, recv.urls[0], 7, "dlv_same")).status for _ in range(5)]
    assert codes == [500, 500, 500, 200, 200]
    stats = await control(http, recv, "GET", "/_control/stats")
    assert (stats["failed_responses"], stats["received"], stats["unique"], stats["duplicates"]) == (
        3,
        2,
        1,
        1,
    )


async def test_fail_for_seconds(recv: Receivers, http: aiohttp.ClientSession) -> None:
    await control(http, recv, "PUT", "/_control/mode", {"fail_for_s": 0.3})
    assert (await post(http, recv.urls[0], 1)).status == 503
    await asyncio.sleep(0.35)
    assert (await post(http, recv.urls[0], 2)).status == 200


async def test_hang_until_client_gives_up(recv: Receivers, http: aiohttp.ClientSession) -> None:
    await control(http, recv, "PUT", "/_control/mode", {"hang": True})
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await post(http, recv.urls[0], 1, timeout=aiohttp.ClientTimeout(total=0.5))
    assert 0.45 < time.monotonic() - started < 2
    await control(http, recv, "PUT", "/_control/mode", {})
    assert (await post(http, recv.urls[0], 2)).status == 200
    stats = await control(http, recv, "GET", "/_control/stats")
    assert (stats["failed_responses"], stats["received"]) == (1, 1)


async def test_delay(recv: Receivers, http: aiohttp.ClientSession) -> None:
    await control(http, recv, "PUT", "/_control/mode", {"delay_ms": 200})
    started = time.monotonic()
    assert (await post(http, recv.urls[0], 1)).status == 200
    assert time.monotonic() - started >= 0.19


async def test_bad_control_requests(recv: Receivers, http: aiohttp.ClientSession) -> None:
    base = recv.url(recv.ports[0])
    for body in (b'{"status": 99}', b'{"nope": 1}', b"[1]", b"{not json"):
        async with http.put(base + "_control/mode", data=body) as r:
            assert r.status == 400
    async with http.post(base + "_control/unknown", data=b"{}") as r:
        assert r.status == 404
    async with http.get(base + "_control/deliveries?since=x") as r:
        assert r.status == 400


async def test_metrics_and_healthz(recv: Receivers, http: aiohttp.ClientSession) -> None:
    url, port = recv.urls[0], recv.ports[0]
    await post(http, url, 1, "dlv_m")
    await post(http, url, 1, "dlv_m")
    await post(http, url, 2, secret=SECRET_B)
    async with http.get(recv.url(port, "/metrics")) as r:
        text = await r.text()
    assert f'edp_receiver_requests_total{{outcome="verified",port="{port}"}} 2.0' in text
    assert f'edp_receiver_requests_total{{outcome="rejected",port="{port}"}} 1.0' in text
    assert f'edp_receiver_duplicates_total{{port="{port}"}} 1.0' in text
    assert str(recv.ports[1]) not in text  # each port serves only its own series
    assert (await control(http, recv, "GET", "/healthz"))["ok"] is True


# ---- the synchronous client against receivers on a background thread -------------------------


@pytest.fixture
def threaded() -> Iterator[ReceiversThread]:
    with ReceiversThread([0, 0], secrets=[SECRET_A]) as receivers:
        yield receivers


def test_client_against_thread(threaded: ReceiversThread) -> None:
    import urllib.request

    client = ReceiverClient(threaded.urls[0])
    assert client.healthy()
    t0 = time.time()
    for n in range(1, 6):
        body = event_body(n)
        headers = signed_headers(body, f"dlv_{n}", SECRET_A) | {"X-Custom": "yes"}
        req = urllib.request.Request(threaded.urls[0] + "orders", data=body, method="POST", headers=headers)
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
    stats = client.wait_for(unique=5, timeout_s=5)
    assert (stats["received"], stats["verified"], stats["port"]) == (5, 5, threaded.ports[0])
    recs = client.deliveries(since=t0)
    assert [r["event_id"] for r in recs] == [f"evt_{n}" for n in range(1, 6)]
    first = recs[0]
    assert (first["webhook_id"], first["type"], first["org"], first["path"]) == (
        "dlv_1",
        "EVENT_A",
        "helpdev",
        "/orders",
    )
    assert first["headers"]["x-custom"] == "yes" and first["body"] == event_body(1).decode()
    assert [r["event_id"] for r in client.deliveries(since=recs[2]["received_at"], limit=1)] == ["evt_4"]
    assert set(client.arrivals()) == {f"dlv_{n}" for n in range(1, 6)}
    assert sorted(client.event_ids()) == [f"evt_{n}" for n in range(1, 6)]
    assert client.set_mode(status=503, retry_after=5, fail_count=2) == {
        "status": 503,
        "retry_after": "5",
        "fail_count": 2,
    }
    assert client.set_mode() == {}
    with pytest.raises(ReceiverError) as err:
        client.set_secrets(["whsec_"])
    assert err.value.status == 400
    client.reset()
    stats = client.stats()
    assert (stats["received"], stats["unique"], client.deliveries(), client.arrivals()) == (0, 0, [], {})
    assert "edp_receiver_requests_total" in client.metrics()
    assert ReceiverClient(threaded.urls[1]).stats()["port"] == threaded.ports[1]


# ---- throughput: receiver in its own process, aiohttp client with 64 in flight -----------------


@pytest.fixture
def receiver_process() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "testkit.receiver", "--ports", "0", "--secret", SECRET_A],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "urls=" in line, line
        yield line.split("urls=")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.slow
async def test_throughput(receiver_process: str, record_property: Any) -> None:
    url, duration, in_flight = receiver_process + "hook", 3.0, 64
    key_secret = SECRET_A
    done = 0
    bad = 0
    stop_at = time.monotonic() + duration

    async def worker(w: int, http: aiohttp.ClientSession) -> None:
        nonlocal done, bad
        i = 0
        while time.monotonic() < stop_at:
            i += 1
            body = event_body(i)
            async with http.post(
                url, data=body, headers=signed_headers(body, f"dlv_{w}_{i}", key_secret)
            ) as r:
                await r.read()
                done += 1
                bad += r.status != 200

    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.monotonic()
        await asyncio.gather(*(worker(w, http) for w in range(in_flight)))
        elapsed = time.monotonic() - started
    rate = done / elapsed
    record_property("receiver_req_per_s", round(rate))
    print(f"\nreceiver: {rate:.0f} req/s ({done} signed POSTs, {in_flight} in flight, {elapsed:.1f}s)")
    stats = ReceiverClient(receiver_process).stats()
    assert bad == 0 and stats["verified"] == stats["unique"] == done
    assert rate > 100  # a sanity floor only: the machine is shared, the figure is reported


async def test_post_adds_a_secret_and_keeps_the_others(recv: Receivers, http: aiohttp.ClientSession) -> None:
    a = recv.urls[0]
    added = await control(http, recv, "POST", "/_control/secrets", {"secrets": [SECRET_B, SECRET_A]})
    assert added == {"secrets": 2}  # SECRET_A was known already: not counted twice
    assert (await post(http, a + "hook", 1, secret=SECRET_A)).status == 200
    assert (await post(http, a + "hook", 2, secret=SECRET_B)).status == 200
    assert (await post(http, a + "hook", 3, secret=SECRET_C)).status == 401


async def test_concurrency_is_counted_per_port_and_per_path(
    recv: Receivers, http: aiohttp.ClientSession
) -> None:
    await control(http, recv, "PUT", "/_control/mode", {"delay_ms": 300})
    a = recv.urls[0]
    # 3 at once on /x, then 2 at once on /y while one more /x runs: the port peaks at 3.
    await asyncio.gather(*(post(http, a + "x", n) for n in range(3)))
    await asyncio.gather(post(http, a + "x", 10), *(post(http, a + "y", n) for n in range(20, 22)))
    doc = await control(http, recv, "GET", "/_control/concurrency")
    assert doc == {
        "in_flight": 0,
        "max_in_flight": 3,
        "paths": {"/x": {"in_flight": 0, "max_in_flight": 3}, "/y": {"in_flight": 0, "max_in_flight": 2}},
    }
    stats = await control(http, recv, "GET", "/_control/stats")
    assert (stats["in_flight"], stats["max_in_flight"]) == (0, 3)
    other = await control(http, recv, "GET", "/_control/concurrency", port=recv.ports[1])
    assert other == {"in_flight": 0, "max_in_flight": 0, "paths": {}}


async def test_a_hung_request_stays_in_flight_until_its_client_gives_up(
    recv: Receivers, http: aiohttp.ClientSession
) -> None:
    await control(http, recv, "PUT", "/_control/mode", {"hang": True})
    hung = asyncio.create_task(post(http, recv.urls[0] + "h", 1, timeout=aiohttp.ClientTimeout(total=0.5)))
    await asyncio.sleep(0.2)
    assert (await control(http, recv, "GET", "/_control/concurrency"))["paths"]["/h"]["in_flight"] == 1
    await control(http, recv, "POST", "/_control/reset", {})
    # A reset keeps what is still running as the new peak, and forgets the rest.
    assert await control(http, recv, "GET", "/_control/concurrency") == {
        "in_flight": 1,
        "max_in_flight": 1,
        "paths": {"/h": {"in_flight": 1, "max_in_flight": 1}},
    }
    with pytest.raises(asyncio.TimeoutError):
        await hung
    await asyncio.sleep(0.1)  # the server notices the disconnect and cancels the handler
    doc = await control(http, recv, "GET", "/_control/concurrency")
    assert (doc["in_flight"], doc["paths"]["/h"]["in_flight"]) == (0, 0)


async def test_calls_record_every_request_with_its_answer(
    recv: Receivers, http: aiohttp.ClientSession
) -> None:
    a = recv.urls[0]
    t0 = time.time()
    await control(http, recv, "PUT", "/_control/mode", {"status": 429, "retry_after": "1", "fail_count": 1})
    assert (await post(http, a + "p", 1, "dlv_1")).status == 429
    assert (await post(http, a + "p", 1, "dlv_1")).status == 200
    assert (await post(http, a + "q", 2, "dlv_2", secret=SECRET_B)).status == 401
    calls = await control(http, recv, "GET", "/_control/calls")
    assert [(c["path"], c["webhook_id"], c["status"]) for c in calls] == [
        ("/p", "dlv_1", 429),
        ("/p", "dlv_1", 200),
        ("/q", "dlv_2", 401),
    ]
    assert t0 <= calls[0]["at"] <= calls[1]["at"] <= calls[2]["at"] <= time.time()
    async with http.get(recv.url(recv.ports[0], "/_control/calls"), params={"path": "/q"}) as r:
        assert [c["webhook_id"] for c in orjson.loads(await r.read())] == ["dlv_2"]
    since = {"since": str(calls[0]["at"]), "limit": "1"}
    async with http.get(recv.url(recv.ports[0], "/_control/calls"), params=since) as r:
        assert [c["status"] for c in orjson.loads(await r.read())] == [200]
    async with http.get(recv.url(recv.ports[0], "/_control/calls?limit=x")) as r:
        assert r.status == 400
    await control(http, recv, "POST", "/_control/reset", {})
    assert await control(http, recv, "GET", "/_control/calls") == []


def test_client_reads_calls_and_concurrency(threaded: ReceiversThread) -> None:
    import urllib.request

    client = ReceiverClient(threaded.urls[0])
    client.set_mode(status=503, fail_count=1)
    for n in (1, 2):
        body = event_body(n)
        req = urllib.request.Request(
            threaded.urls[0] + "c",
            data=body,
            method="POST",
            headers=signed_headers(body, f"dlv_{n}", SECRET_A),
        )
        try:
            urllib.request.urlopen(req, timeout=5).close()
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
    assert [(c["webhook_id"], c["status"]) for c in client.calls()] == [("dlv_1", 503), ("dlv_2", 200)]
    assert [c["webhook_id"] for c in client.calls(path="/c", limit=1)] == ["dlv_1"]
    assert client.calls(path="/other") == []
    assert client.concurrency() == {
        "in_flight": 0,
        "max_in_flight": 1,
        "paths": {"/c": {"in_flight": 0, "max_in_flight": 1}},
    }
