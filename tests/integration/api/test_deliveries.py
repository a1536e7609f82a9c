"""Attempts listing (filters, newest first, cursor) and replay of dead letters through real
RabbitMQ: what the API publishes is what a delivery worker would consume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters import dead_letters
from core.ids import delivery_id, new_id
from core.models import Attempt, DeliveryTask
from tests.integration.api.control_support import ControlEnv, control_env, drain

pytestmark = pytest.mark.services

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


def attempt_row(org: str, webhook_id: str, at: datetime, outcome: str = "success", **kw: Any) -> Attempt:
    event_id = kw.pop("event_id", new_id("evt"))
    row: Attempt = {
        "_id": new_id("att"),
        "delivery_id": delivery_id(event_id, webhook_id),
        "event_id": event_id,
        "webhook_id": webhook_id,
        "org": org,
        "attempt": 1,
        "status_code": 200 if outcome == "success" else 503,
        "outcome": outcome,
        "latency_ms": 12.5,
        "response_excerpt": "ok",
        "at": at,
    }
    row.update(kw)  # type: ignore[typeddict-item]
    return row


async def seed_attempts(env: ControlEnv, org: str, webhook_id: str, n: int) -> list[Attempt]:
    rows = [attempt_row(org, webhook_id, T0 + timedelta(seconds=i // 2)) for i in range(n)]  # ties on `at`
    await env.db["attempts"].insert_many(rows)  # type: ignore[arg-type]
    return rows


async def seed_dead_letter(env: ControlEnv, org: str, webhook_id: str) -> DeliveryTask:
    event_id = new_id("evt")
    task: DeliveryTask = {
        "delivery_id": delivery_id(event_id, webhook_id),
        "event": {
            "id": event_id,
            "org": org,
            "type": "EVENT_A",
            "timestamp": "2026-11-01T12:00:00.000Z",
            "data": {},
        },
        "webhook_id": webhook_id,
        "attempt": 4,
        "first_attempt_at": 1.0,
        "not_before": 99.0,
    }
    await dead_letters.record(env.db[dead_letters.DEAD_LETTERS], task, "exhausted")
    return task


async def test_attempts_newest_first_with_a_cursor(env: ControlEnv) -> None:
    wid = (await env.webhook())["id"]
    rows = await seed_attempts(env, env.a.id, wid, 7)
    expected = [r["_id"] for r in sorted(rows, key=lambda r: (r["at"], r["_id"]), reverse=True)]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = (await env.http.get("/v1/attempts", params=params, headers=env.a.auth)).json()
        seen += [a["id"] for a in page["data"]]
        if page["next"] is None:
            break
        params["after"] = page["next"]
    assert seen == expected
    first = (await env.http.get("/v1/attempts", params={"limit": 1}, headers=env.a.auth)).json()["data"][0]
    assert first["webhook_id"] == wid and first["outcome"] == "success" and first["at"].endswith("Z")


async def test_attempt_filters(env: ControlEnv) -> None:
    w1, w2 = (await env.webhook())["id"], (await env.webhook())["id"]
    a = attempt_row(env.a.id, w1, T0, "success")
    b = attempt_row(env.a.id, w1, T0 + timedelta(minutes=1), "retry", error="503")
    c = attempt_row(env.a.id, w2, T0 + timedelta(minutes=2), "dead", status_code=410)
    await env.db["attempts"].insert_many([a, b, c])  # type: ignore[list-item]

    async def ids(**params: Any) -> list[str]:
        r = await env.http.get("/v1/attempts", params=params, headers=env.a.auth)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()["data"]]

    assert await ids(webhook_id=w1) == [b["_id"], a["_id"]]
    assert await ids(outcome="dead") == [c["_id"]]
    assert await ids(status_code=410) == [c["_id"]]
    assert await ids(event_id=a["event_id"]) == [a["_id"]]
    assert await ids(delivery_id=b["delivery_id"]) == [b["_id"]]
    assert await ids(since="2026-11-01T12:01:00Z") == [c["_id"], b["_id"]]
    assert await ids(until="2026-11-01T12:01:00Z") == [a["_id"]]
    assert await ids(since="2026-11-01T13:00:30+01:00", until="2026-11-01T12:02:00Z") == [b["_id"]]


@pytest.mark.parametrize(
    "params",
    [
        {"outcome": "great"},
        {"since": "yesterday"},
        {"since": "2026-11-01T12:00:00"},  # no offset: ambiguous
        {"status_code": 99},
        {"limit": 0},
        {"limit": 101},
        {"after": "not a cursor!"},
        {"after": "bm9jb2xvbg"},  # base64 of "nocolon"
        {"after": "OTk5OTk5OTk5OTk5OTk5OTk5OTk6YXR0X3g"},  # a time out of range
        {"webhook_id": "wh x"},
    ],
)
async def test_bad_attempt_queries_are_422(env: ControlEnv, params: dict[str, Any]) -> None:
    r = await env.http.get("/v1/attempts", params=params, headers=env.a.auth)
    assert r.status_code == 422, r.text


async def test_retry_publishes_the_dead_letter_again_with_a_fresh_schedule(env: ControlEnv) -> None:
    wid = (await env.webhook())["id"]
    task = await seed_dead_letter(env, env.a.id, wid)
    r = await env.http.post(f"/v1/deliveries/{task['delivery_id']}/retry", headers=env.a.auth)
    assert r.status_code == 202, r.text
    assert r.json() == {"replayed": 1}
    [replayed] = await drain(env, 1)
    assert replayed["delivery_id"] == task["delivery_id"] and replayed["event"] == task["event"]
    assert replayed["attempt"] == 1 and replayed["not_before"] == 0.0
    again = await env.http.post(f"/v1/deliveries/{task['delivery_id']}/retry", headers=env.a.auth)
    assert again.json() == {"replayed": 0}  # already replayed; a new death would record it afresh
    missing = await env.http.post("/v1/deliveries/dlv_unknown/retry", headers=env.a.auth)
    assert missing.status_code == 404


async def test_recover_replays_a_webhooks_failures_since_t(env: ControlEnv) -> None:
    wid, other = (await env.webhook())["id"], (await env.webhook())["id"]
    tasks = [await seed_dead_letter(env, env.a.id, wid) for _ in range(3)]
    await seed_dead_letter(env, env.a.id, other)
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await env.http.post(f"/v1/webhooks/{wid}/recover", json={"since": future}, headers=env.a.auth)
    assert r.status_code == 202 and r.json() == {"replayed": 0}
    r = await env.http.post(
        f"/v1/webhooks/{wid}/recover", json={"since": "2026-01-01T00:00:00Z"}, headers=env.a.auth
    )
    assert r.status_code == 202 and r.json() == {"replayed": 3}, r.text
    got = await drain(env, 3)
    assert sorted(t["delivery_id"] for t in got) == sorted(t["delivery_id"] for t in tasks)
    for body in (
        {},
        {"since": "2026-01-01T00:00:00"},
        {"since": "x"},
        {"since": "2026-01-01T00:00:00Z", "x": 1},
    ):
        bad = await env.http.post(f"/v1/webhooks/{wid}/recover", json=body, headers=env.a.auth)
        assert bad.status_code == 422, (body, bad.text)
    missing = await env.http.post(
        "/v1/webhooks/wh_unknown/recover", json={"since": future}, headers=env.a.auth
    )
    assert missing.status_code == 404


async def test_replay_reconnects_after_the_broker_connection_drops(env: ControlEnv) -> None:
    wid = (await env.webhook())["id"]
    first = await seed_dead_letter(env, env.a.id, wid)
    assert (
        await env.http.post(f"/v1/deliveries/{first['delivery_id']}/retry", headers=env.a.auth)
    ).status_code == 202
    replayer = env.app.state.ctx.replayer
    connection = replayer._connection
    assert connection is not None
    await connection.close()  # as if RabbitMQ restarted
    second = await seed_dead_letter(env, env.a.id, wid)
    r = await env.http.post(f"/v1/deliveries/{second['delivery_id']}/retry", headers=env.a.auth)
    assert r.status_code == 202 and r.json() == {"replayed": 1}, r.text
    assert replayer._connection is not connection
    assert {t["delivery_id"] for t in await drain(env, 2)} == {first["delivery_id"], second["delivery_id"]}
