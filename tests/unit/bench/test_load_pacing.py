"""The open-loop generator: its schedule, its config bounds, and a short run against an
in-process server on 127.0.0.1 (no platform services)."""

from __future__ import annotations

import itertools
import random
import socket

import orjson
import pytest
from aiohttp import web

from bench.load import open_loop, payload
from bench.load.open_loop import OpenLoopConfig, due_count, due_time
from bench.load.shape import ramp_users


def test_due_count_follows_the_fixed_rate() -> None:
    assert due_count(-0.1, 100.0, 50) == 0
    assert due_count(0.0, 100.0, 50) == 1  # request 0 is due at once
    assert due_count(0.0099, 100.0, 50) == 1
    assert due_count(0.01, 100.0, 50) == 2
    assert due_count(0.2, 100.0, 50) == 21
    assert due_count(100.0, 100.0, 50) == 50  # never more than the total
    assert due_time(21, 100.0) == pytest.approx(0.21)


def test_due_count_never_skips_or_repeats() -> None:
    # Whatever the tick times, each request is launched once and in order.
    rng = random.Random(1)
    t, launched = 0.0, 0
    while launched < 1000:
        t += rng.uniform(0, 0.05)
        due = due_count(t, 333.0, 1000)
        assert due >= launched
        assert due <= 1 + t * 333.0 + 1e-6
        launched = due
    assert launched == 1000


def test_config_counts_requests_and_bounds_runs() -> None:
    cfg = OpenLoopConfig(url="http://127.0.0.1:1", keys=("k",), rate=1000, duration_s=10, batch=10)
    assert cfg.request_rate == 100
    assert cfg.total_requests == 1000
    with pytest.raises(ValueError):
        OpenLoopConfig(url="http://127.0.0.1:1", keys=(), rate=1, duration_s=1)
    with pytest.raises(ValueError):
        OpenLoopConfig(url="http://127.0.0.1:1", keys=("k",), rate=0, duration_s=1)
    with pytest.raises(ValueError):
        OpenLoopConfig(url="http://127.0.0.1:1", keys=("k",), rate=1e6, duration_s=3600)


def test_ramp_shape_matches_k6_single_stage() -> None:
    assert ramp_users(0.0, 1000, 240) == 1
    assert ramp_users(120.0, 1000, 240) == 500
    assert ramp_users(239.9, 1000, 240) == 1000
    assert ramp_users(240.0, 1000, 240) is None


def test_payloads() -> None:
    rng = random.Random(0)
    ev = payload.event(rng, 7)
    assert ev["type"] in payload.EVENT_TYPES and ev["data"]["n"] == 7
    assert orjson.loads(payload.body([ev])) == ev
    assert orjson.loads(payload.body([ev, ev])) == {"events": [ev, ev]}
    assert payload.path(1) == "/v1/events" and payload.path(5) == "/v1/events/batch"
    assert payload.accepted_ids(202, b'{"id": "evt_1"}') == ["evt_1"]
    assert payload.accepted_ids(202, b'{"ids": ["evt_1", "evt_2"]}') == ["evt_1", "evt_2"]
    assert payload.accepted_ids(503, b'{"id": "evt_1"}') == []
    assert payload.accepted_ids(202, b"not json") == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_open_loop_against_a_local_stub() -> None:
    counter = itertools.count()
    auth_seen: set[str] = set()

    async def one(request: web.Request) -> web.Response:
        auth_seen.add(request.headers["Authorization"])
        doc = orjson.loads(await request.read())
        if doc["data"]["n"] % 10 == 9:
            return web.json_response({"error": "busy"}, status=503)
        return web.json_response({"id": f"evt_{next(counter)}"}, status=202)

    async def batch(request: web.Request) -> web.Response:
        doc = orjson.loads(await request.read())
        return web.json_response({"ids": [f"evt_{next(counter)}" for _ in doc["events"]]}, status=202)

    app = web.Application()
    app.router.add_post("/v1/events", one)
    app.router.add_post("/v1/events/batch", batch)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}"
        seconds: list[int] = []
        cfg = OpenLoopConfig(url=url, keys=("a", "b"), rate=100, duration_s=0.5)
        res = await open_loop.run(cfg, lambda _t, new: seconds.append(len(new)))
        assert len(res.samples) == 50
        assert {s.status for s in res.samples} == {202, 503}
        assert auth_seen == {"Bearer a", "Bearer b"}
        doc = open_loop.summary(res)
        assert doc["ok"] == 45 and doc["errors"] == {"503": 5}
        assert doc["accepted_events"] == 45
        assert doc["latency_ms"]["count"] == 45
        assert sum(seconds) == 50  # the progress callback saw every sample once

        res = await open_loop.run(OpenLoopConfig(url=url, keys=("a",), rate=200, duration_s=0.5, batch=10))
        assert len(res.samples) == 10
        assert all(len(s.ids) == 10 and len(s.types) == 10 for s in res.samples)
    finally:
        await runner.cleanup()
