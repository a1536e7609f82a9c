"""Endpoint pages: what a form changes is what the API would change, refused by the API's own
checks (SSRF guard, filter compiler, limits) at the field they name; the overview and every
page show the session's org only, and another org's ids are unknown ids. Against the app with
real FerretDB, Kafka and RabbitMQ."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.sealing import PREFIX, is_sealed
from tests.integration.api.control_support import LOOPBACK_URL, PUBLIC_URL, ControlEnv, control_env
from tests.integration.api.portal.support import Visitor, visitor

pytestmark = pytest.mark.services

FORM = {"url": LOOPBACK_URL, "event_types": "order.*, invoice.paid", "enabled": "on"}


@pytest.fixture
async def env() -> AsyncIterator[ControlEnv]:
    async with control_env() as e:
        yield e


def field_error(page: str, field: str) -> str:
    found = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', page)
    return found.group(1) if found else ""


async def create(v: Visitor, **form: str) -> str:
    r = await v.post("/portal/endpoints", {**FORM, **form})
    assert r.status_code == 303, r.text
    location: str = r.headers["location"]
    return location.rsplit("/", maxsplit=1)[-1].split("?", maxsplit=1)[0]


async def api_webhook(env: ControlEnv, wid: str) -> dict[str, Any]:
    r = await env.http.get(f"/v1/webhooks/{wid}", headers=env.a.auth)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def test_a_form_is_judged_by_the_apis_checks_at_its_field(env: ControlEnv) -> None:
    async with visitor(env, env.a) as v:
        cases = {
            "url": ({"url": "http://10.1.2.3/hook"}, "url:"),
            "filter": ({"filter": '{"data.amount": {"$where": "1"}}'}, "filter.data.amount.$where"),
            "headers": ({"headers": "webhook-id: mine"}, "headers"),
            "rate_limit": ({"rate_limit": "-3"}, "rate_limit"),
            "retry_schedule": ({"retry_schedule": "1, soon"}, "retry_schedule"),
            "ordered_failure": ({"ordered_failure": "never"}, "ordered_failure"),
        }
        for field, (form, expected) in cases.items():
            r = await v.post("/portal/endpoints", {**FORM, **form})
            assert r.status_code == 422, (field, r.text)
            assert expected in field_error(r.text, field), (field, field_error(r.text, field))
            assert f'value="{FORM["url"]}"' in r.text or field == "url"  # the form as it was sent
        listed = await env.http.get("/v1/webhooks", headers=env.a.auth)
        assert listed.json()["data"] == []


async def test_create_edit_disable_enable_delete(env: ControlEnv) -> None:
    async with visitor(env, env.a) as v:
        wid = await create(
            v,
            filter='{"data.amount": {"$gte": 50}}',
            headers="X-Team: billing",
            rate_limit="20",
            max_concurrency="4",
            retry_schedule="1, 5, 30",
            ordered="on",
            ordered_failure="pause",
        )
        wh = await api_webhook(env, wid)
        assert wh["event_types"] == ["order.*", "invoice.paid"] and wh["filter"] == {
            "data.amount": {"$gte": 50}
        }
        assert wh["headers"] == {"X-Team": "billing"} and wh["rate_limit"] == 20
        assert wh["max_concurrency"] == 4 and wh["retry_schedule"] == [1, 5, 30]
        assert wh["ordered"] is True and wh["ordered_failure"] == "pause"

        # Paused after a dead letter (as the delivery workers record it): shown, and resumed.
        await env.db["webhooks"].update_one({"_id": wid}, {"$set": {"ordered_paused": "dlv_x dead"}})
        assert 'id="resume"' in (await v.get(f"/portal/endpoints/{wid}")).text
        assert (await v.post(f"/portal/endpoints/{wid}/resume")).status_code == 303
        assert (await api_webhook(env, wid))["ordered_paused"] is None

        edit = await v.get(f"/portal/endpoints/{wid}/edit")
        assert 'value="order.*, invoice.paid"' in edit.text
        r = await v.post(f"/portal/endpoints/{wid}", {**FORM, "event_types": "*", "rate_limit": ""})
        assert r.status_code == 303
        wh = await api_webhook(env, wid)
        assert wh["event_types"] == ["*"] and wh["rate_limit"] is None and wh["filter"] is None
        assert wh["ordered"] is False  # the box left unticked

        assert (await v.post(f"/portal/endpoints/{wid}/disable")).status_code == 303
        assert (await api_webhook(env, wid))["enabled"] is False
        assert (await v.post(f"/portal/endpoints/{wid}/enable")).status_code == 303
        assert (await api_webhook(env, wid))["enabled"] is True

        page = await v.get(f"/portal/endpoints/{wid}?reveal=1")
        secret = (await env.http.get(f"/v1/webhooks/{wid}/secret", headers=env.a.auth)).json()["secret"]
        assert f'id="secret-value">{secret}<' in page.text
        assert secret not in (await v.get(f"/portal/endpoints/{wid}")).text  # only on demand

        assert (await v.post(f"/portal/endpoints/{wid}/delete")).status_code == 303
        assert (await env.http.get(f"/v1/webhooks/{wid}", headers=env.a.auth)).status_code == 404


async def test_another_orgs_endpoint_is_unknown_on_every_page_and_action(env: ControlEnv) -> None:
    theirs = await env.webhook(env.b, description="beta's own")
    mine = await env.webhook(env.a, url=PUBLIC_URL.replace("hook", "mine"))
    async with visitor(env, env.a) as v:
        overview = await v.get("/portal")
        assert mine["id"] in overview.text and theirs["id"] not in overview.text
        assert "beta's own" not in (await v.get("/portal/endpoints")).text
        for path in ("", "/edit", "?reveal=1"):
            r = await v.get(f"/portal/endpoints/{theirs['id']}{path}")
            assert r.status_code == 404 and "Not found" in r.text, path
            assert "beta's own" not in r.text and "whsec_" not in r.text
        for action in ("delete", "disable", "rotate", "test", "recover", "resume"):
            r = await v.post(f"/portal/endpoints/{theirs['id']}/{action}", {"since": "2026-01-01T00:00:00Z"})
            assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), action
        r = await v.post(f"/portal/endpoints/{theirs['id']}", FORM)
        assert r.status_code == 404
    after = await env.http.get(f"/v1/webhooks/{theirs['id']}", headers=env.b.auth)
    assert after.json()["enabled"] is True and after.json()["version"] == theirs["version"]
    assert after.json()["url"] == PUBLIC_URL


async def test_what_the_portal_changes_is_audited_as_its_session(env: ControlEnv) -> None:
    """Each change made in the portal is in the org's audit log, as the API's are, its actor the
    portal session of the key that made the link; the secret it reveals is sealed at rest."""
    keys = (await env.http.get("/v1/orgs/me/keys", headers=env.a.auth)).json()
    actor = f"portal:{keys[0]['id']}"
    async with visitor(env, env.a) as v:
        wid = await create(v)
        assert (await v.post(f"/portal/endpoints/{wid}", {**FORM, "event_types": "*"})).status_code == 303
        assert (await v.post(f"/portal/endpoints/{wid}/disable")).status_code == 303
        assert (await v.post(f"/portal/endpoints/{wid}/enable")).status_code == 303
        await env.db["webhooks"].update_one({"_id": wid}, {"$set": {"ordered_paused": "dlv_x dead"}})
        assert (await v.post(f"/portal/endpoints/{wid}/resume")).status_code == 303
        rotated = await v.post(f"/portal/endpoints/{wid}/rotate", {"expire_old_in_s": "3600"})
        assert rotated.status_code == 303
        page = await v.get(f"/portal/endpoints/{wid}?reveal=1")
        shown = re.search(r'id="secret-value">([^<]+)<', page.text)
        assert shown and shown.group(1).startswith("whsec_")
        raw = await env.db["webhooks"].find_one({"_id": wid})
        assert raw is not None and len(raw["secrets"]) == 2
        assert all(is_sealed(s["key"]) for s in raw["secrets"]), raw["secrets"]
        assert shown.group(1) not in str(raw)
        assert (await v.post(f"/portal/endpoints/{wid}/delete")).status_code == 303

    r = await env.http.get("/v1/audit", params={"limit": 100}, headers=env.a.auth)
    assert r.status_code == 200, r.text
    rows = [e for e in r.json()["data"] if e["target"] == wid]
    assert [e["action"] for e in reversed(rows)] == [
        "webhook.create",
        "webhook.update",  # the form's edit
        "webhook.update",  # disable
        "webhook.update",  # enable
        "webhook.resume",
        "webhook.rotate_secret",
        "webhook.delete",
    ]
    assert {e["actor"] for e in rows} == {actor}
    disabled = rows[-3]  # newest first: the third change, disable
    assert disabled["before"]["enabled"] is True and disabled["after"]["enabled"] is False
    assert "whsec_" not in str(rows) and PREFIX not in str(rows)
