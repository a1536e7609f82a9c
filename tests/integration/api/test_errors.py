"""Hostile and broken input: always a 4xx with a JSON error naming the field, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import EllipsisType
from typing import Any

import orjson
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.api.support import ApiEnv, api_env, topic_size

# One environment per module and path (the tests only read it), on one event loop.
pytestmark = [pytest.mark.services, pytest.mark.asyncio(loop_scope="module")]

MAX_BODY = 64 * 1024
MAX_BATCH = 10


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=[True, False], ids=["fastpath", "routes"])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[ApiEnv]:
    async with api_env(
        max_body_bytes=MAX_BODY, max_batch_events=MAX_BATCH, fast_ingest_path=request.param
    ) as e:
        yield e


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def assert_error(r: Any, status: int, field: str | EllipsisType | None = ...) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    if field is not ...:
        assert body["error"]["field"] == field, body


async def test_auth_is_required(env: ApiEnv) -> None:
    body = {"type": "A", "data": {}}
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
        env.auth("edp_live_nope"),
    ):
        r = await env.http.post("/v1/events", json=body, headers=headers)
        assert_error(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
    assert_error(await env.http.post("/v1/events", json=body, headers=env.auth("x" * 10_000)), 401)


BAD_JSON = [
    b"",
    b"{",
    b'{"type": "A", "data": {}',
    b'{"type": "A", "data": NaN}',
    b'{"type": "A", "data": {"x": Infinity}}',
    b'{"type": "A", "data": {"x": 1e999}}',
    b'{"type": "A", "data": {"x": "\xff\xfe"}}',
    b'{"type": "A", "data": {"x": "\\ud800"}}',
    b"\xef\xbb\xbf{}",
    b"{'type': 'A'}",
]


@pytest.mark.parametrize("body", BAD_JSON)
async def test_malformed_json_is_400(env: ApiEnv, body: bytes) -> None:
    for path in ("/v1/events", "/v1/events/batch"):
        r = await env.http.post(
            path, content=body, headers={**env.auth(), "Content-Type": "application/json"}
        )
        assert_error(r, 400)


INVALID: list[tuple[Any, str | None]] = [
    ([], "body"),
    ("just a string", "body"),
    (42, "body"),
    (None, "body"),
    ({"data": {}}, "type"),
    ({"type": None, "data": {}}, "type"),
    ({"type": 7, "data": {}}, "type"),
    ({"type": "", "data": {}}, "type"),
    ({"type": "has space", "data": {}}, "type"),
    ({"type": "EVENT_A\n", "data": {}}, "type"),
    ({"type": "x" * 129, "data": {}}, "type"),
    ({"type": "é", "data": {}}, "type"),
    ({"type": ["A"], "data": {}}, "type"),
    ({"type": "A"}, "data"),
    ({"type": "A", "data": None}, "data"),
    ({"type": "A", "data": [1, 2]}, "data"),
    ({"type": "A", "data": "text"}, "data"),
    ({"type": "A", "data": nested(33)}, "data"),
    (
        {"type": "A", "data": {"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}},
        "data",
    ),
    ({"type": "A", "data": {}, "id": ""}, "id"),
    ({"type": "A", "data": {}, "id": 5}, "id"),
    ({"type": "A", "data": {}, "id": None}, "id"),
    ({"type": "A", "data": {}, "id": "a/b"}, "id"),
    ({"type": "A", "data": {}, "org": 1}, "org"),
    ({"type": "A", "data": {}, "org": None}, "org"),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
async def test_invalid_event_is_422_naming_the_field(env: ApiEnv, body: Any, field: str) -> None:
    r = await env.http.post("/v1/events", content=orjson.dumps(body), headers=env.auth())
    assert_error(r, 422, field)
    r = await env.http.post("/v1/events/batch", json={"events": [body]}, headers=env.auth())
    assert_error(r, 422, "events.0" if field == "body" else f"events.0.{field}")


async def test_depth_past_the_parser_limit_is_422(env: ApiEnv) -> None:
    body = b'{"type": "A", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert_error(await env.http.post("/v1/events", content=body, headers=env.auth()), 422, "body")
    body = b'{"events": [{"type": "A", "data": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}]}"
    assert_error(await env.http.post("/v1/events/batch", content=body, headers=env.auth()), 422, "body")


async def test_bad_idempotency_key_is_422(env: ApiEnv) -> None:
    headers = {**env.auth(), "Idempotency-Key": "has space"}
    r = await env.http.post("/v1/events", json={"type": "A", "data": {}}, headers=headers)
    assert_error(r, 422, "Idempotency-Key")


BAD_BATCHES: list[tuple[Any, str]] = [
    ({}, "events"),
    ({"events": None}, "events"),
    ({"events": {"type": "A"}}, "events"),
    ({"events": []}, "events"),
    ({"events": [{"type": "A", "data": {}}] * (MAX_BATCH + 1)}, "events"),
    ({"events": [{"type": "A", "data": {}}, "x"]}, "events.1"),
    ({"events": [{"type": "A", "data": {}}, {"type": "bad type", "data": {}}]}, "events.1.type"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BATCHES)
async def test_invalid_batch_is_422_and_nothing_is_produced(env: ApiEnv, body: Any, field: str) -> None:
    before = topic_size(env.kafka)
    r = await env.http.post("/v1/events/batch", json=body, headers=env.auth())
    assert_error(r, 422, field)
    assert topic_size(env.kafka) == before


async def test_rejected_batch_produces_nothing(env: ApiEnv) -> None:
    before = topic_size(env.kafka)
    body = {"events": [{"type": "A", "data": {}}, {"type": "A", "data": []}]}
    assert_error(await env.http.post("/v1/events/batch", json=body, headers=env.auth()), 422, "events.1.data")
    assert topic_size(env.kafka) == before


async def test_oversized_bodies_are_413(env: ApiEnv) -> None:
    huge = b"x" * (10 * 1024 * 1024)
    r = await env.http.post("/v1/events", content=huge, headers=env.auth())
    assert_error(r, 413)
    big_string = orjson.dumps({"type": "A", "data": {"s": "y" * MAX_BODY}})
    assert_error(await env.http.post("/v1/events", content=big_string, headers=env.auth()), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap must hold while reading
        for _ in range(100):
            yield b"z" * 4096

    r = await env.http.post("/v1/events/batch", content=chunks(), headers=env.auth())
    assert_error(r, 413)
    # The admin routes parse with FastAPI's own reader; the cap holds there too.
    r = await env.http.post("/v1/orgs", content=chunks(), headers=env.auth())
    assert r.status_code in (401, 413)


async def test_string_just_under_the_cap_is_accepted(env: ApiEnv) -> None:
    body = orjson.dumps({"type": "A", "data": {"s": "y" * (MAX_BODY - 100)}})
    r = await env.http.post("/v1/events", content=body, headers=env.auth())
    assert r.status_code == 202, r.text


async def test_unknown_route_and_method_are_json(env: ApiEnv) -> None:
    assert_error(await env.http.get("/nope"), 404)
    assert_error(await env.http.get("/v1/events", headers=env.auth()), 405)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.text(max_size=10) | json_values,
        "data": json_values,
        "id": st.text(max_size=10) | json_values,
        "org": st.text(max_size=5) | json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, event_like, st.binary(max_size=64)))
async def test_fuzzed_bodies_never_500(env: ApiEnv, body: Any) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    for path, payload in (("/v1/events", raw), ("/v1/events/batch", b'{"events": [' + raw + b"]}")):
        r = await env.http.post(path, content=payload, headers=env.auth())
        assert r.status_code in (202, 400, 403, 422), r.text
        if r.status_code != 202:
            assert_error(r, r.status_code)
