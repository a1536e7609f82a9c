"""Test events: one delivery task for the one endpoint on the real work queue, the event built
and checked as ingest does (type, payload, the org's schema), and nothing for other orgs' ids."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.ids import delivery_id
from tests.integration.api.control_support import ControlEnv, control_env, drain

pytestmark = pytest.mark.services


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


async def test_a_test_event_is_one_task_for_that_endpoint_only(env: ControlEnv) -> None:
    target = await env.webhook(event_types=["order.*"])
    await env.webhook(event_types=["*"])  # would match through Kafka; must get nothing
    r = await env.http.post(
        f"/v1/webhooks/{target['id']}/test",
        json={"type": "order.created", "data": {"amount": 70}},
        headers=env.a.auth,
    )
    assert r.status_code == 202, r.text
    sent = r.json()
    assert sent["delivery_id"] == delivery_id(sent["event_id"], target["id"])
    [task] = await drain(env, 1)
    assert task["delivery_id"] == sent["delivery_id"] and task["webhook_id"] == target["id"]
    assert task["attempt"] == 1
    event = task["event"]
    assert event["id"] == sent["event_id"] and event["org"] == env.a.id
    assert (event["type"], event["data"]) == ("order.created", {"amount": 70})


async def test_without_a_body_it_sends_a_webhook_test_event(env: ControlEnv) -> None:
    wid = (await env.webhook())["id"]
    r = await env.http.post(f"/v1/webhooks/{wid}/test", headers=env.a.auth)
    assert r.status_code == 202, r.text
    [task] = await drain(env, 1)
    assert (task["event"]["type"], task["event"]["data"]) == ("webhook.test", {})


async def test_the_org_event_type_schema_applies(env: ControlEnv) -> None:
    wid = (await env.webhook())["id"]
    schema = {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "integer"}}}
    r = await env.http.post(
        "/v1/event-types", json={"name": "order.created", "schema": schema}, headers=env.a.auth
    )
    assert r.status_code == 201, r.text
    bad = {"type": "order.created", "data": {"amount": "x"}}
    r = await env.http.post(f"/v1/webhooks/{wid}/test", json=bad, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "data.amount", r.text
    deep: dict[str, object] = {}
    for _ in range(40):
        deep = {"x": deep}
    r = await env.http.post(f"/v1/webhooks/{wid}/test", json={"data": deep}, headers=env.a.auth)
    assert r.status_code == 422 and r.json()["error"]["field"] == "data", r.text
    assert await drain(env, 0, timeout_s=0.3) == []


async def test_another_orgs_webhook_is_404_and_sends_nothing(env: ControlEnv) -> None:
    theirs = await env.webhook(env.b)
    r = await env.http.post(f"/v1/webhooks/{theirs['id']}/test", headers=env.a.auth)
    assert r.status_code == 404, r.text
    r = await env.http.post("/v1/webhooks/wh_unknown/test", headers=env.a.auth)
    assert r.status_code == 404, r.text
    assert await drain(env, 0, timeout_s=0.3) == []
