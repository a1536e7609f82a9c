"""The attempt log's pages: newest first, narrowed by the filters, paged; an attempt's detail; the
session's org only (another org's attempt is an unknown id); bad filters shown at their field.
Against the app with real FerretDB, Kafka and RabbitMQ; attempt rows inserted as the delivery
workers write them (core.delivery.attempt_row)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.mongo import ATTEMPTS
from core.ids import new_id
from tests.integration.api.control_support import ControlEnv, Org, control_env
from tests.integration.api.portal.support import visitor

pytestmark = pytest.mark.services

ROW = re.compile(r'<tr data-attempt="(att_[0-9a-z]+)"')


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


def row(
    org: Org, wid: str, minutes_ago: float, outcome: str = "success", status: int = 200
) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    doc: dict[str, Any] = {
        "_id": new_id("att", int(at.timestamp() * 1000)),
        "delivery_id": new_id("dlv"),
        "event_id": new_id("evt"),
        "webhook_id": wid,
        "org": org.id,
        "attempt": 1,
        "status_code": status,
        "outcome": outcome,
        "latency_ms": 12.5,
        "at": at,
    }
    if outcome != "success":
        doc["response_excerpt"] = "upstream says <no>"
    return doc


async def test_the_log_is_the_orgs_newest_first_filtered_and_paged(env: ControlEnv) -> None:
    mine = (await env.webhook(env.a))["id"]
    theirs = (await env.webhook(env.b))["id"]
    rows = [row(env.a, mine, m) for m in range(60)]
    rows += [row(env.a, mine, 90 + m, "dead", 503) for m in range(3)]
    foreign = row(env.b, theirs, 0.5, "dead", 500)
    await env.db[ATTEMPTS].insert_many([*rows, foreign])
    newest_first = [r["_id"] for r in sorted(rows, key=lambda r: r["at"], reverse=True)]

    async with visitor(env, env.a) as v:
        first = await v.get("/portal/deliveries")
        assert first.status_code == 200
        assert ROW.findall(first.text) == newest_first[:50] and foreign["_id"] not in first.text
        older = re.search(r'href="(/portal/deliveries\?[^"]*)" id="older"', first.text)
        assert older is not None
        second = await v.get(older.group(1).replace("&amp;", "&"))
        assert ROW.findall(second.text) == newest_first[50:]

        dead = await v.get("/portal/deliveries", params={"outcome": "dead", "webhook_id": mine})
        assert len(ROW.findall(dead.text)) == 3 and 'id="recover"' in dead.text
        assert len(ROW.findall((await v.get("/portal/deliveries?status_code=503")).text)) == 3
        assert len(ROW.findall((await v.get("/portal/deliveries?window=15m")).text)) == 15
        assert ROW.findall((await v.get(f"/portal/deliveries?webhook_id={theirs}")).text) == []

        bad = await v.get("/portal/deliveries?status_code=99&since=yesterday")
        assert bad.status_code == 200 and 'id="status_code-error"' in bad.text
        assert 'id="since-error"' in bad.text and ROW.findall(bad.text) == []


async def test_an_attempts_page_and_another_orgs(env: ControlEnv) -> None:
    mine = (await env.webhook(env.a))["id"]
    theirs = (await env.webhook(env.b))["id"]
    failed, foreign = row(env.a, mine, 1, "dead", 503), row(env.b, theirs, 1, "dead", 500)
    await env.db[ATTEMPTS].insert_many([failed, foreign])
    async with visitor(env, env.a) as v:
        page = await v.get(f"/portal/attempts/{failed['_id']}")
        assert page.status_code == 200 and 'id="status">503<' in page.text
        assert "upstream says &lt;no&gt;" in page.text  # escaped, as everything a receiver sends
        assert failed["delivery_id"] in page.text
        r = await v.get(f"/portal/attempts/{foreign['_id']}")
        assert r.status_code == 404 and foreign["delivery_id"] not in r.text
        r = await v.post(f"/portal/deliveries/{foreign['delivery_id']}/replay")
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
