"""Event types and their JSON Schemas: checked when written, applied at ingest (both ingest
paths), cached per org so ingest makes no database call per event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.repos import EventTypeRepo
from core.errors import BrokerUnavailable
from tests.integration.api.control_support import ControlEnv, control_env
from tests.integration.api.support import FakeClock

pytestmark = pytest.mark.services

ORDER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["amount"],
    "properties": {
        "amount": {"type": "number", "minimum": 0},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
    },
    "$defs": {"item": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def env(clock: FakeClock) -> AsyncIterator[ControlEnv]:
    async with control_env(event_type_cache_s=0.3, clock=clock) as e:
        yield e


async def test_create_replace_get_list_delete(env: ControlEnv) -> None:
    body = {"name": "order.created", "description": "an order", "schema": ORDER_SCHEMA}
    r = await env.http.post("/v1/event-types", json=body, headers=env.a.auth)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "order.created" and created["schema"] == ORDER_SCHEMA  # "$" keys survive
    r = await env.http.post("/v1/event-types", json={"name": "order.created"}, headers=env.a.auth)
    assert (
        r.status_code == 200
        and r.json()["schema"] is None
        and r.json()["created_at"] == created["created_at"]
    )
    for name in ("a.one", "b.two", "c.three"):
        await env.http.post("/v1/event-types", json={"name": name}, headers=env.a.auth)
    page = (await env.http.get("/v1/event-types", params={"limit": 2}, headers=env.a.auth)).json()
    assert [t["name"] for t in page["data"]] == ["a.one", "b.two"] and page["next"] == "b.two"
    rest = (await env.http.get("/v1/event-types", params={"after": "b.two"}, headers=env.a.auth)).json()
    assert [t["name"] for t in rest["data"]] == ["c.three", "order.created"] and rest["next"] is None
    assert (await env.http.get("/v1/event-types/a.one", headers=env.a.auth)).status_code == 200
    for _ in range(2):
        assert (await env.http.delete("/v1/event-types/a.one", headers=env.a.auth)).status_code == 204
    assert (await env.http.get("/v1/event-types/a.one", headers=env.a.auth)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"name": "ok", "schema": {"type": "objekt"}}, "schema.type"),
        ({"name": "ok", "schema": {"minimum": "zero"}}, "schema.minimum"),
        ({"name": "ok", "schema": {"pattern": "("}}, "schema"),
        ({"name": "ok", "schema": {"$ref": "https://example.com/s.json"}}, "schema"),
        ({"name": "ok", "schema": {"properties": {"a": {"$ref": "http://169.254.169.254/"}}}}, "schema"),
        ({"name": "ok", "schema": {"description": "x" * 70_000}}, "schema"),
        ({"name": "ok", "schema": "not an object"}, "schema"),
        ({"name": "ok", "description": "x" * 1025}, "description"),
        ({"name": "ok", "extra": 1}, "extra"),
    ],
)
async def test_bad_event_types_are_422(env: ControlEnv, body: dict[str, Any], field: str) -> None:
    r = await env.http.post("/v1/event-types", json=body, headers=env.a.auth)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"].startswith(field), r.text


async def test_deep_schema_is_422(env: ControlEnv) -> None:
    schema: dict[str, Any] = {"type": "object"}
    for _ in range(40):
        schema = {"properties": {"a": schema}}
    r = await env.http.post("/v1/event-types", json={"name": "deep", "schema": schema}, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "schema"


@pytest.mark.parametrize("fast", [True, False], ids=["fast_path", "fastapi_route"])
async def test_ingest_checks_data_against_the_schema(env: ControlEnv, fast: bool) -> None:
    if not fast:
        env.app.fast_routes = {}  # the documented FastAPI routes answer instead
    await env.http.post(
        "/v1/event-types", json={"name": "order.created", "schema": ORDER_SCHEMA}, headers=env.a.auth
    )
    good = {"type": "order.created", "data": {"amount": 5, "items": [{"sku": "a"}]}}
    assert (await env.http.post("/v1/events", json=good, headers=env.a.auth)).status_code == 202

    r = await env.http.post(
        "/v1/events", json={"type": "order.created", "data": {"amount": -1}}, headers=env.a.auth
    )
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == "data.amount" and "minimum" in err["message"], err

    r = await env.http.post(
        "/v1/events", json={"type": "order.created", "data": {"amount": 1, "items": [{}]}}, headers=env.a.auth
    )
    assert r.json()["error"]["field"] == "data.items.0", r.text
    r = await env.http.post("/v1/events", json={"type": "order.created", "data": {}}, headers=env.a.auth)
    assert r.json()["error"]["field"] == "data" and "amount" in r.json()["error"]["message"]

    batch = {
        "events": [
            good,
            {"type": "other", "data": {"anything": True}},
            {"type": "order.created", "data": {"amount": "1"}},
        ]
    }
    r = await env.http.post("/v1/events/batch", json=batch, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "events.2.data.amount", r.text
    # Types without a schema, and other orgs' events of the same type, are not checked.
    assert (
        await env.http.post("/v1/events", json={"type": "other", "data": {}}, headers=env.a.auth)
    ).status_code == 202
    assert (
        await env.http.post("/v1/events", json={"type": "order.created", "data": {}}, headers=env.b.auth)
    ).status_code == 202


async def test_schemas_are_cached_per_org_and_follow_writes(env: ControlEnv, clock: FakeClock) -> None:
    bad = {"type": "t.x", "data": {"n": "one"}}
    assert (await env.http.post("/v1/events", json=bad, headers=env.a.auth)).status_code == 202
    # Written through this server: applies at once.
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    await env.http.post("/v1/event-types", json={"name": "t.x", "schema": schema}, headers=env.a.auth)
    assert (await env.http.post("/v1/events", json=bad, headers=env.a.auth)).status_code == 422

    # Written elsewhere (another API server): applies within event_type_cache_s.
    await EventTypeRepo(env.db).put(env.a.id, "t.x", "", None)
    assert (await env.http.post("/v1/events", json=bad, headers=env.a.auth)).status_code == 422
    clock.advance(0.35)
    assert (await env.http.post("/v1/events", json=bad, headers=env.a.auth)).status_code == 202

    # Steady state: no database read per event.
    schemas = env.app.state.ctx.event_schemas
    calls = 0
    real = EventTypeRepo(env.db).schemas

    async def counting(org: str) -> list[tuple[str, str]]:
        nonlocal calls
        calls += 1
        return await real(org)

    schemas._repo.schemas = counting
    for _ in range(20):
        await env.http.post("/v1/events", json=bad, headers=env.a.auth)
    assert calls <= 1


async def test_a_stored_schema_that_cannot_be_applied_is_422_not_500(env: ControlEnv) -> None:
    # Written by another tool, bypassing the API's checks: a $ref that resolves nowhere.
    await EventTypeRepo(env.db).put(env.a.id, "t.ref", "", '{"$ref": "#/$defs/missing"}')
    r = await env.http.post("/v1/events", json={"type": "t.ref", "data": {}}, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "data", r.text


async def test_schemas_stay_in_force_while_the_database_is_away(env: ControlEnv, clock: FakeClock) -> None:
    schema = {"type": "object", "required": ["n"]}
    await env.http.post("/v1/event-types", json={"name": "t.y", "schema": schema}, headers=env.a.auth)
    assert (
        await env.http.post("/v1/events", json={"type": "t.y", "data": {}}, headers=env.a.auth)
    ).status_code == 422
    schemas = env.app.state.ctx.event_schemas

    async def unavailable(org: str) -> list[tuple[str, str]]:
        raise BrokerUnavailable("mongo: down")

    schemas._repo.schemas = unavailable
    clock.advance(0.35)  # past event_type_cache_s
    r = await env.http.post("/v1/events", json={"type": "t.y", "data": {}}, headers=env.a.auth)
    assert r.status_code == 422, r.text  # the last known schema still applies
    assert (
        await env.http.post("/v1/events", json={"type": "t.y", "data": {"n": 1}}, headers=env.a.auth)
    ).status_code == 202


async def test_a_derived_topic_is_asked_for_per_event_type_and_off_by_default(env: ControlEnv) -> None:
    r = await env.http.post("/v1/event-types", json={"name": "order.paid"}, headers=env.a.auth)
    assert r.status_code == 201 and r.json()["derived_topic"] is False
    r = await env.http.post(
        "/v1/event-types", json={"name": "order.paid", "derived_topic": True}, headers=env.a.auth
    )
    assert r.status_code == 200 and r.json()["derived_topic"] is True
    stored = await env.db["event_types"].find_one({"_id": f"{env.a.id}:order.paid"})
    assert stored is not None and stored["derived_topic"] is True  # what the rule cache reads
    r = await env.http.post(
        "/v1/event-types", json={"name": "x", "derived_topic": "maybe"}, headers=env.a.auth
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "derived_topic", r.text


async def test_the_seed_asks_for_a_derived_topic_without_touching_the_rest(env: ControlEnv) -> None:
    repo = EventTypeRepo(env.db)
    await repo.put(env.a.id, "EVENT_A", "kept", '{"type": "object"}')
    await repo.copy_to_derived_topic(env.a.id, "EVENT_A")
    await repo.copy_to_derived_topic(env.a.id, "EVENT_B")
    a, b = await repo.get(env.a.id, "EVENT_A"), await repo.get(env.a.id, "EVENT_B")
    assert (a["description"], a["schema"], a["derived_topic"]) == ("kept", '{"type": "object"}', True)
    assert (b["org"], b.get("schema"), b["derived_topic"]) == (env.a.id, None, True)
