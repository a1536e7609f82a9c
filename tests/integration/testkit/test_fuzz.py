"""Bad input at volume: a short testkit/fuzz run against the app behind a real uvicorn (real Kafka,
FerretDB, RabbitMQ), and regression tests for what fuzzing found."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from testkit.fuzz.requests import Ctx, build
from testkit.fuzz.run import Result, run
from tests.integration.api.control_support import LOOPBACK_URL, ControlEnv, control_env, served

pytestmark = pytest.mark.services

SEED = 20261128
REQUESTS = 3000  # about 15 s here; `python -m testkit.fuzz` sends 20,000 to `make run`


def test_thousands_of_hostile_requests_get_only_2xx_4xx_and_the_api_stays_up() -> None:
    with served() as api:
        result: Result = asyncio.run(run(api.url, api.admin_key, requests=REQUESTS, seed=SEED, concurrency=8))
    doc = result.to_doc()
    print({k: doc[k] for k in ("requests", "seconds", "by_status", "failure_count", "health_detail")})
    assert result.requests == REQUESTS
    assert result.failures == [], result.failures[:5]
    assert result.healthy_after, result.health_detail
    # The run reached past the front door: accepted writes and ingest, and every refusal kind.
    for status in ("200", "201", "202", "400", "401", "404", "413", "422"):
        assert result.by_status[status] > 0, status


def test_requests_are_reproducible_from_seed_and_index() -> None:
    ctx = Ctx(org_key="k", admin_key="a", webhook_id="wh_1", event_type="fz.schema")
    assert [build(7, i, ctx) for i in range(50)] == [build(7, i, ctx) for i in range(50)]
    assert build(7, 1, ctx) != build(8, 1, ctx)


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


@pytest.mark.parametrize(
    ("pattern", "text"),
    [("(a+)+$", "a" * 24 + "!"), ("a*b", "a" * 100_000)],  # Python's re: 4 s and 24 s here
    ids=["exponential", "quadratic"],
)
async def test_a_schema_pattern_cannot_hold_the_api(env: ControlEnv, pattern: str, text: str) -> None:
    """Found by the fuzz run: `pattern` was checked at ingest with Python's backtracking `re`, on
    the event loop, so one event froze the whole API process (every org) for minutes."""
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": pattern}}}
    r = await env.http.post("/v1/event-types", json={"name": "t.re", "schema": schema}, headers=env.a.auth)
    assert r.status_code in (200, 201), r.text
    started = time.monotonic()
    r = await env.http.post("/v1/events", json={"type": "t.re", "data": {"s": text}}, headers=env.a.auth)
    elapsed = time.monotonic() - started
    assert r.status_code == 422 and r.json()["error"]["field"] == "data.s", r.text
    assert elapsed < 1.5, f"checking one event took {elapsed:.1f} s"
    ok = await env.http.post("/v1/events", json={"type": "t.re", "data": {"s": "b"}}, headers=env.a.auth)
    assert ok.status_code == 202 if pattern == "a*b" else ok.status_code == 422, ok.text


async def test_a_schema_that_cannot_be_built_is_refused_when_written(env: ControlEnv) -> None:
    for schema in ({"$ref": "#/definitions/missing"}, {"$dynamicRef": "#nowhere"}):
        r = await env.http.post("/v1/event-types", json={"name": "t.x", "schema": schema}, headers=env.a.auth)
        assert r.status_code == 422 and r.json()["error"]["field"] == "schema", r.text


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/webhooks", {"event_types": ["*"], "filter": {"$not": {"a": 2**64}}}, "filter"),
        ("/v1/event-types", {"name": "t.big", "schema": {"required": 10**30}}, "schema"),
    ],
    ids=["filter", "schema"],
)
async def test_integers_past_64_bits_are_422_not_500(
    env: ControlEnv, path: str, body: dict[str, object], field: str
) -> None:
    """Found by the fuzz run: the size check encoded them with orjson, which raised: a 500."""
    if path == "/v1/webhooks":
        body = {"url": LOOPBACK_URL, **body}
    r = await env.http.post(path, json=body, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == field, r.text
