"""The customer portal in a real browser (Debian's Chromium, driven by Playwright), against the
app behind uvicorn and a whole pipeline on Ray: a link opens the org's portal; an endpoint made
there gets a test event from the delivery workers; a failing receiver's failure and response
show in the log, and its replay succeeds once the receiver is back; the secret rotates while the
old one keeps signing; expired links, used links and another org's ids open nothing.

With EDP_PORTAL_SCREENSHOTS=<dir> the main pages are saved there as PNG (docs/portal/ holds the
ones in the docs).
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr

from api.app import create_app
from api.config import ApiConfig
from cluster.supervisor import Supervisor
from core.ids import new_id
from core.sealing import is_sealed, new_master_key
from core.settings import AdminSettings, SecretsSettings
from testkit.browser import chromium
from testkit.pipeline import PipelineWorld, namespaced_config, rules_synced, wait_until
from testkit.receiver.runner import ReceiversThread
from testkit.receiver.state import Mode, PortState
from testkit.serving import serving

pytestmark = [pytest.mark.services, pytest.mark.ray]

ADMIN_KEY = "portal-e2e-" + uuid.uuid4().hex
SHOTS = os.environ.get("EDP_PORTAL_SCREENSHOTS")
SCHEMA = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {"amount": {"type": "integer", "minimum": 1}, "currency": {"enum": ["EUR", "USD"]}},
}


@dataclass
class Portal:
    url: str
    world: PipelineWorld
    pipeline: Supervisor
    receiver: PortState
    hook_url: str
    org_key: str
    other_key: str

    def api(self, method: str, path: str, key: str | None = None, **kw: Any) -> Any:
        with httpx.Client(base_url=self.url, trust_env=False) as http:
            r = http.request(method, path, headers={"Authorization": f"Bearer {key or self.org_key}"}, **kw)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def link(self, key: str | None = None, **body: Any) -> str:
        url: str = self.api("POST", "/v1/orgs/me/portal-links", key, json=body or None)["url"]
        return url


@pytest.fixture(scope="module")
def portal(ray_local: None) -> Iterator[Portal]:
    # Secrets sealed at rest, as in production: the API seals with the key the workers open with.
    secrets = SecretsSettings(key=SecretStr(new_master_key()), previous_keys=None, key_file=None)
    world = PipelineWorld(
        dataclasses.replace(
            namespaced_config(partitions=1, filters=1, deliveries=1, schedule=(0.2, 0.2)), secrets=secrets
        )
    )
    cfg = world.config
    config = ApiConfig(
        kafka=cfg.kafka,
        mongo=cfg.mongo,
        rabbit=cfg.rabbit,
        delivery=cfg.delivery,
        admin=AdminSettings(admin_key=SecretStr(ADMIN_KEY)),
        secrets=secrets,
    )
    sup = Supervisor(cfg, detached=False)
    sup.start()
    try:
        with ReceiversThread([0]) as receivers, serving(create_app(config)) as url:
            port = receivers.ports[0]
            keys = []
            with httpx.Client(base_url=url, trust_env=False) as http:
                for name in ("acme", "globex"):
                    r = http.post(
                        "/v1/orgs", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
                    )
                    assert r.status_code == 201, r.text
                    keys.append(r.json()["api_key"])
            state = receivers.receivers.states[port]
            yield Portal(url, world, sup, state, receivers.receivers.url(port, "/hook"), keys[0], keys[1])
    finally:
        sup.stop()
        world.cleanup()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the confirm() of delete and rotate
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sign_in(page: Page, link: str) -> None:
    page.goto(link)
    page.wait_for_url(re.compile(r"/portal$"))
    expect(page.locator("h1")).to_have_text("Overview")


def send_test(page: Page) -> None:
    """From an endpoint's page."""
    page.click("#send-test")
    page.wait_for_url(re.compile(r"/tests/evt_"))


def test_the_whole_round(portal: Portal, page: Page) -> None:
    order = {"name": "order.created", "description": "An order was placed.", "schema": SCHEMA}
    portal.api("POST", "/v1/event-types", json=order)
    theirs = {"url": "https://93.184.215.14/theirs", "event_types": ["*"]}
    theirs_id = portal.api("POST", "/v1/webhooks", portal.other_key, json=theirs)["id"]

    sign_in(page, portal.link())
    expect(page.locator(".card.empty h2")).to_have_text("No endpoints yet")
    endpoint_url, secret = create_endpoint(portal, page)
    wid = endpoint_url.rsplit("/", 1)[1]
    fail_and_replay(portal, page, endpoint_url)
    new_secret = rotate(portal, page, endpoint_url, secret)
    sealed_and_audited(portal, wid, (secret, new_secret))
    views(portal, page, wid)

    # Another org's endpoint is an unknown id: a page that says so, none of its data.
    page.goto(f"{portal.url}/portal/endpoints/{theirs_id}")
    expect(page.locator("h1")).to_have_text("Not found")
    assert "93.184.215.14" not in page.content()
    page.goto(f"{portal.url}/portal/deliveries?webhook_id={theirs_id}")
    expect(page.locator("#attempt-log")).to_have_count(0)


def create_endpoint(portal: Portal, page: Page) -> tuple[str, str]:
    """The filter compiler's refusal shows at the field; then the endpoint is made, its secret
    revealed and given to the receiver, and a test event arrives. Returns (page URL, secret)."""
    page.click("text=Add your first endpoint")
    page.fill("#url", portal.hook_url)
    page.fill("#event_types", "order.*")
    page.fill("#filter", '{"data.amount": {"$where": "1"}}')
    page.click("text=Create endpoint")
    expect(page.locator("#filter-error")).to_contain_text("filter.data.amount.$where")
    shot(page, "endpoint-new")
    page.fill("#filter", '{"data.amount": {"$gte": 1}}')
    page.click("text=Create endpoint")
    expect(page.locator(".flash")).to_contain_text("Endpoint created")
    endpoint_url = page.url.split("?")[0]

    page.click("#reveal")
    secret = page.locator("#secret-value").inner_text().strip()
    assert secret.startswith("whsec_") and secret in page.locator("#snippet-python").inner_text()
    portal.receiver.set_secrets([secret])  # it answers 401 to what it cannot verify
    assert wait_until(lambda: rules_synced(portal.pipeline, 2), 15)

    expect(page.locator("#test-type")).to_have_value("order.created")  # the catalogue's, by order.*
    send_test(page)
    expect(page.locator(".verdict-success")).to_contain_text("answered 200", timeout=30_000)
    shot(page, "test-event")
    assert len(portal.receiver.first_seen) == 1 and portal.receiver.verdicts["verified"] == 1
    return endpoint_url, secret


def fail_and_replay(portal: Portal, page: Page, endpoint_url: str) -> None:
    """A failing receiver: the failure and its response excerpt are in the log; the replay
    succeeds once the receiver is back."""
    portal.receiver.mode = Mode(status=500, fail_count=1_000_000)
    page.goto(endpoint_url)
    send_test(page)
    expect(page.locator(".verdict-dead")).to_contain_text("out of retries", timeout=30_000)
    page.goto(f"{portal.url}/portal/deliveries?webhook_id={endpoint_url.rsplit('/', 1)[1]}&outcome=dead")
    page.locator("#attempt-log tbody tr a").first.click()
    expect(page.locator("#status")).to_have_text("500")
    expect(page.locator("#excerpt")).to_have_text("injected failure")
    expect(page.locator("#request-body")).to_contain_text('"type":"order.created"')
    shot(page, "attempt")
    portal.receiver.mode = Mode()
    page.click("#replay")
    expect(page.locator(".flash")).to_contain_text("Replayed")
    delivered = page.locator('#attempt-log tr[data-outcome="success"]')
    for _ in range(30):
        if delivered.count():
            break
        time.sleep(0.5)
        page.reload()
    expect(delivered).to_have_count(1)


def rotate(portal: Portal, page: Page, endpoint_url: str, old: str) -> str:
    """A new secret; the old keeps signing for its overlap, so the receiver, which knows only
    the old one, still verifies the next delivery."""
    page.goto(endpoint_url)
    page.select_option("#expire_old_in_s", "3600")
    page.click("#rotate")
    expect(page.locator(".flash")).to_contain_text("New signing secret")
    new = page.locator("#secret-value").inner_text().strip()
    assert new.startswith("whsec_") and new != old
    expect(page.locator(".previous-secret")).to_contain_text("keeps signing too until")
    shot(page, "endpoint")
    verified = portal.receiver.verdicts["verified"]
    send_test(page)
    expect(page.locator(".verdict-success")).to_be_visible(timeout=30_000)
    assert portal.receiver.verdicts["verified"] == verified + 1
    return new


def sealed_and_audited(portal: Portal, wid: str, shown: tuple[str, ...]) -> None:
    """The secrets the portal revealed are sealed in the database, and what the session changed
    is in the org's audit log, named as the portal session of the key that made the link."""
    doc = portal.world.db.webhooks.find_one({"_id": wid})
    assert doc is not None and len(doc["secrets"]) == 2
    raw = [s["key"] for s in doc["secrets"]]
    assert all(is_sealed(k) for k in raw) and not set(raw) & set(shown)
    entries = portal.api("GET", "/v1/audit", params={"limit": 100})["data"]
    mine = [(e["action"], e["actor"]) for e in entries if e["target"] == wid]
    (key,) = portal.api("GET", "/v1/orgs/me/keys")  # the org's first key made every link
    assert {"webhook.create", "webhook.rotate_secret"} <= {action for action, _ in mine}, mine
    assert {actor for _, actor in mine} == {f"portal:{key['id']}"}, mine
    assert not any(s in str(entries) for s in shown)


def views(portal: Portal, page: Page, wid: str) -> None:
    """The log, the overview and the catalogue show this org's, and only this org's."""
    page.goto(f"{portal.url}/portal/deliveries")
    expect(page.locator("#attempt-log tbody tr")).to_have_count(6)  # 1, 3 failed, the replay, 1
    shot(page, "deliveries")
    page.click("text=Overview")
    expect(page.locator("#endpoints article")).to_have_count(1)
    expect(page.locator("#endpoints article .url")).to_have_text(portal.hook_url)
    expect(page.locator(f'[data-endpoint="{wid}"] .figures')).to_contain_text("24 h")
    assert "theirs" not in page.content()
    if SHOTS:
        seed_history(portal, wid)
        page.reload()
    shot(page, "overview")
    page.click("text=Endpoints")
    shot(page, "endpoints")
    page.click("text=Event types")
    expect(page.locator("#type-order\\.created .example")).to_contain_text('"currency": "EUR"')
    shot(page, "event-types")


def test_links_open_once_and_expire(portal: Portal, browser: Browser, page: Page) -> None:
    fresh = browser.new_context()
    try:
        other = fresh.new_page()
        assert (response := other.goto(f"{portal.url}/portal")) is not None and response.status == 401
        expect(other.locator("h2")).to_have_text("How to get a portal link")
        shot(other, "signed-out")
    finally:
        fresh.close()

    link = portal.link()
    sign_in(page, link)
    page.context.clear_cookies()
    page.goto(link)
    expect(page.locator("h1")).to_have_text("This link has been used already")

    short = portal.link(expires_in_s=1)
    time.sleep(1.2)
    page.goto(short)
    expect(page.locator("h1")).to_have_text("This link has expired")
    shot(page, "link-expired")

    page.goto(link.replace("#token=", "#token=x"))
    expect(page.locator("h1")).to_have_text("This link is not valid")


def seed_history(portal: Portal, wid: str) -> None:
    """Screenshots only: a day of synthetic attempt rows (shaped as core.delivery.attempt_row
    writes them) so the overview's chart and percentiles have something to show."""
    org = portal.api("GET", "/v1/orgs/me")["id"]
    now = datetime.now(UTC)
    rows = []
    for i in range(1, 24 * 12):
        at = now - timedelta(minutes=5 * i)
        failed = 9 <= i // 12 <= 10
        rows.append(
            {
                "_id": new_id("att", int(at.timestamp() * 1000)),
                "delivery_id": new_id("dlv"),
                "event_id": new_id("evt"),
                "webhook_id": wid,
                "org": org,
                "attempt": 1,
                "status_code": 503 if failed else 200,
                "outcome": "retry" if failed else "success",
                "latency_ms": 20.0 + (i * 37) % 90,
                "at": at,
            }
        )
    portal.world.db.attempts.insert_many(rows)
