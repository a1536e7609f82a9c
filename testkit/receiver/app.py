"""The aiohttp application of one receiver port: the webhook endpoint plus its control API.

The webhook handler is the benchmark's hot path (5-10k deliveries/s on a 2-core machine):
no logging, no allocation beyond one record, one HMAC per known secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from testkit.receiver.signature import verify
from testkit.receiver.state import Mode, PortState

STATE_KEY = web.AppKey("state", PortState)
REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)
HANG_S = 3600.0
_CONTROL = "/_control/"
# Kept in each delivery record: what a test wants to assert about the request we were sent.
_KEPT_PREFIXES = ("webhook-", "x-", "content-type", "user-agent")


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json")


def _bad(message: str) -> web.Response:
    return _json({"error": message}, status=400)


async def _hook(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path.startswith(_CONTROL):
        raise web.HTTPNotFound()
    st = request.app[STATE_KEY]
    st.begin(path)
    try:
        return await _answer(request, st, path)
    finally:  # also when a hung handler is cancelled by its client going away
        st.end(path)


async def _answer(request: web.Request, st: PortState, path: str) -> web.StreamResponse:
    body = await request.read()
    h = request.headers
    now = time.time()
    wid = h.get("webhook-id")
    verdict = verify(st.keys, wid, h.get("webhook-timestamp"), h.get("webhook-signature"), body, now=now)
    st.requests += 1
    st.verdicts[verdict] += 1
    mode = st.mode
    failure = mode.take_failure(now)
    rejected = failure is None and verdict == "invalid" and st.reject_invalid
    seq = h.get("webhook-sequence")
    sequence = int(seq) if seq is not None and seq.isdigit() else None
    st.record_call(now, path, wid, failure or (401 if rejected else mode.success_status), sequence)
    if mode.delay_ms:
        await asyncio.sleep(mode.delay_ms / 1000)
    if failure is not None:
        st.outcomes["failed"] += 1
        if mode.hang:
            # Until the client gives up: aiohttp cancels this handler when it disconnects.
            await asyncio.sleep(HANG_S)
        headers = {"Retry-After": mode.retry_after} if mode.retry_after is not None else None
        return web.Response(status=failure, text="injected failure", headers=headers)
    if rejected:
        st.outcomes["rejected"] += 1
        return web.Response(status=401, text="invalid signature")
    st.outcomes[verdict] += 1
    kept = {lk: v for k, v in h.items() if (lk := k.lower()).startswith(_KEPT_PREFIXES)}
    st.record_delivery(wid, path, verdict, kept, body, now=now)
    return web.Response(status=mode.success_status, text="ok")


async def _stats(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].stats())


def _since_limit(request: web.Request, default_limit: int) -> tuple[float, int]:
    """`?since=<unix s>&limit=<n>` of the record listings; ValueError when malformed."""
    try:
        since = float(request.query.get("since", "0"))
        limit = int(request.query.get("limit", str(default_limit)))
    except ValueError:
        raise ValueError("since must be a number and limit an integer") from None
    return since, max(0, limit)


async def _deliveries(request: web.Request) -> web.Response:
    try:
        since, limit = _since_limit(request, 1000)
    except ValueError as exc:
        return _bad(str(exc))
    return _json(request.app[STATE_KEY].deliveries(since, limit))


async def _calls(request: web.Request) -> web.Response:
    """Every request (any answer), oldest first: `?since=<unix s>&limit=<n>&path=/hook`."""
    try:
        since, limit = _since_limit(request, 10_000)
    except ValueError as exc:
        return _bad(str(exc))
    return _json(request.app[STATE_KEY].calls_since(since, limit, request.query.get("path")))


async def _concurrency(request: web.Request) -> web.Response:
    return _json(request.app[STATE_KEY].concurrency())


async def _arrivals(request: web.Request) -> web.StreamResponse:
    first_seen = request.app[STATE_KEY].first_seen
    if request.query.get("format") != "ndjson":
        return _json(first_seen)
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    items = list(first_seen.items())  # a snapshot: deliveries may arrive while we stream
    for start in range(0, len(items), 10_000):
        chunk = items[start : start + 10_000]
        await resp.write(
            b"".join(orjson.dumps({"webhook_id": k, "received_at": t}) + b"\n" for k, t in chunk)
        )
    await resp.write_eof()
    return resp


async def _event_ids(request: web.Request) -> web.Response:
    return _json(list(request.app[STATE_KEY].event_ids))


async def _read_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    doc = orjson.loads(raw) if raw.strip() else {}
    if not isinstance(doc, dict):
        raise ValueError("body must be a JSON object")
    return doc


async def _put_mode(request: web.Request) -> web.Response:
    st = request.app[STATE_KEY]
    try:
        st.mode = Mode.parse(await _read_object(request), time.time())
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        return _bad(str(exc))
    return _json(st.mode.describe(time.time()))


async def _put_secrets(request: web.Request) -> web.Response:
    """PUT replaces the known secrets."""
    return await _secrets(request, replace=True)


async def _post_secrets(request: web.Request) -> web.Response:
    """POST adds to them: a new webhook's secret, without forgetting the demo's."""
    return await _secrets(request, replace=False)


async def _secrets(request: web.Request, replace: bool) -> web.Response:
    st = request.app[STATE_KEY]
    try:
        secrets = (await _read_object(request)).get("secrets")
        if not (isinstance(secrets, list) and all(isinstance(s, str) for s in secrets)):
            raise ValueError("secrets must be a list of strings")
        st.set_secrets(secrets if replace else [*st.secrets, *(s for s in secrets if s not in st.secrets)])
    except ValueError as exc:
        return _bad(str(exc))
    return _json({"secrets": len(st.keys)})


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return _json({"reset": True})


async def _metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _healthz(request: web.Request) -> web.Response:
    return _json({"ok": True, "port": request.app[STATE_KEY].port})


class _PortCollector(Collector):
    """Reads the port's own counters at scrape time, so the hot path pays nothing for metrics."""

    def __init__(self, state: PortState) -> None:
        self._state = state

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        st = self._state
        port = str(st.port)
        requests = CounterMetricFamily(
            "edp_receiver_requests", "Webhook requests by outcome", labels=["port", "outcome"]
        )
        for outcome, n in st.outcomes.items():
            requests.add_metric([port, outcome], n)
        dups = CounterMetricFamily(
            "edp_receiver_duplicates", "2xx-answered deliveries whose webhook-id was seen", labels=["port"]
        )
        dups.add_metric([port], st.duplicates)
        unique = GaugeMetricFamily("edp_receiver_unique_deliveries", "Distinct webhook-ids", labels=["port"])
        unique.add_metric([port], len(st.first_seen))
        return [requests, dups, unique]


def build_app(state: PortState) -> web.Application:
    """One app per port. Each /metrics serves only its own port's series (a registry per port),
    so scraping all receivers never counts a request twice."""
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[STATE_KEY] = state
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_PortCollector(state))
    app[REGISTRY_KEY] = registry
    r = app.router
    r.add_get("/_control/stats", _stats)
    r.add_get("/_control/deliveries", _deliveries)
    r.add_get("/_control/arrivals", _arrivals)
    r.add_get("/_control/calls", _calls)
    r.add_get("/_control/concurrency", _concurrency)
    r.add_get("/_control/event_ids", _event_ids)
    r.add_put("/_control/mode", _put_mode)
    r.add_put("/_control/secrets", _put_secrets)
    r.add_post("/_control/secrets", _post_secrets)
    r.add_post("/_control/reset", _reset)
    r.add_get("/metrics", _metrics)
    r.add_get("/healthz", _healthz)
    r.add_post("/{tail:.*}", _hook)
    return app
