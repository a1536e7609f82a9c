"""The dashboard's acceptance test: a burst through the whole platform on Ray (ingest API actor,
filters, delivery workers, a healthy and a failing receiver), then every query of every panel of
infra/grafana/dashboards/edp.json, asked of the live local Prometheus, must return data from this
very Ray session.

Ray writes its own service-discovery file only when its dashboard runs; the test cluster has none,
so this test lists its nodes' metrics agents in a file of its own under SD_DIR, which
infra/prometheus/prometheus.yml also reads. Ray's agent exports every ~10 s and Prometheus scrapes
every 5 s, so data shows up 10-20 s after it is recorded: the waits below are bounded polls.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray
from pydantic import SecretStr

from adapters import kafka_io
from cluster.supervisor import Supervisor
from core.settings import AdminSettings, ApiSettings
from testkit.pipeline import PipelineWorld, wait_until
from testkit.receiver.runner import ReceiversThread
from testkit.receiver.state import Mode

pytestmark = [
    pytest.mark.services,
    pytest.mark.ray,
    # The breaker would throttle the failing endpoint to a probe a second: dead letters must come
    # now. Neither its count of consecutive failures nor its failure ratio may open it.
    pytest.mark.world(breaker_failures=1_000_000, breaker_min_requests=1_000_000),
]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "infra" / "grafana" / "dashboards" / "edp.json"
PROMETHEUS = os.environ.get("EDP_PROMETHEUS_URL", "http://127.0.0.1:9090")
SD_DIR = Path(os.environ.get("EDP_PROMETHEUS_SD_DIR", "/tmp/edp-prometheus-sd"))
ADMIN_KEY = "dashboard-test-admin-" + os.urandom(8).hex()
# Panels that only have data after something went wrong that this burst does not cause.
# (Quotas: this burst's org has none, so nothing is throttled.)
ONLY_AFTER_FAILURES = {"ray_edp_restarts_total", "ray_edp_ingest_throttled_events_total"}
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "5m"}


def prom(expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=10)
    body = r.json()
    assert body.get("status") == "success", f"{expr}: {body}"
    return list(body["data"]["result"])


def finite(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(s["value"][1])) for s in result)


def scoped(expr: str, session: str) -> str:
    """Every `ray_*` selector narrowed to this Ray session (a `make run` cluster may export too)."""

    def narrow(m: re.Match[str]) -> str:
        inner = m.group(3)
        return f'{m.group(1)}{{SessionName="{session}"{"," + inner if inner else ""}}}'

    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return re.sub(r"\b(ray_[a-zA-Z0-9_]+)(\{([^}]*)\})?", narrow, expr)


def dashboard_targets() -> list[tuple[str, str, str]]:
    board = json.loads(DASHBOARD.read_text())
    out: list[tuple[str, str, str]] = []
    for panel in board["panels"]:
        for p in panel.get("panels", []) if panel["type"] == "row" else [panel]:
            out.extend((p["title"], t["refId"], t["expr"]) for t in p["targets"])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def session(ray_local: None) -> Iterator[str]:
    """This cluster's metrics agents as a Prometheus file_sd target list, removed afterwards."""
    name = ray.get_runtime_context().get_session_name()
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    targets = [f"{n['NodeManagerAddress']}:{n['MetricsExportPort']}" for n in nodes if n["Alive"]]
    SD_DIR.mkdir(parents=True, exist_ok=True)
    path = SD_DIR / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([{"labels": {"job": "ray"}, "targets": targets}]))
    tmp.replace(path)  # atomic: Prometheus never reads half a file

    def scraped() -> bool:
        active = httpx.get(f"{PROMETHEUS}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        up = {t["labels"].get("instance") for t in active if t["health"] == "up"}
        return set(targets) <= up

    try:
        assert wait_until(scraped, 40, 1.0), (
            f"Prometheus at {PROMETHEUS} does not scrape {targets}: infra/prometheus/prometheus.yml "
            f"must read {SD_DIR}/*.json in its `ray` job's file_sd_configs"
        )
        yield name
    finally:
        path.unlink(missing_ok=True)


@pytest.fixture
def api(world: PipelineWorld) -> Iterator[httpx.Client]:
    from api.config import ApiConfig
    from cluster.remote import ApiServerActor

    c = world.config
    settings = ApiSettings(port=free_port(), key_cache_s=0)
    config = ApiConfig(
        api=settings, kafka=c.kafka, mongo=c.mongo, admin=AdminSettings(admin_key=SecretStr(ADMIN_KEY))
    )
    actor: Any = ApiServerActor.options(num_cpus=0.01).remote(config)
    try:
        assert ray.get(actor.ready.remote(30), timeout=60), "API server actor did not start"
        with httpx.Client(base_url=f"http://{settings.host}:{settings.port}", timeout=10) as client:
            yield client
    finally:
        ray.kill(actor, no_restart=True)


def burst(world: PipelineWorld, api: httpx.Client, org: str, key: str, n: int) -> None:
    """n events straight to Kafka, n through the API, one invalid record, and bad requests."""
    world.produce(world.events(n, [org], ["EVENT_A", "EVENT_B"]))
    auth = {"Authorization": f"Bearer {key}"}
    batch = [{"type": ("EVENT_A", "EVENT_B")[i % 2], "data": {"i": i}} for i in range(n)]
    for i in range(0, n, 50):
        answer = api.post("/v1/events/batch", json={"events": batch[i : i + 50]}, headers=auth)
        assert answer.status_code == 202, answer.text
    assert api.post("/v1/events", json={"type": "EVENT_A", "data": {}}, headers=auth).status_code == 202
    assert api.post("/v1/events", json={"type": "EVENT_A", "data": {}}).status_code == 401
    assert api.post("/v1/events", content=b"{", headers=auth).status_code == 400
    assert api.post("/v1/events", json={"type": "EVENT_A"}, headers=auth).status_code == 422
    kafka_io.produce_all(world._producer, [(world.config.kafka.topic, org.encode(), b"not json")])


def test_every_dashboard_query_returns_data(
    session: str, world: PipelineWorld, receivers: ReceiversThread, api: httpx.Client
) -> None:
    created = api.post("/v1/orgs", json={"name": "obs"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert created.status_code == 201, created.text
    org, key = created.json()["id"], created.json()["api_key"]
    # The second receiver fails every attempt: retries, DLQ. A 500, not a 503: a 503 also pauses
    # the endpoint for a second after each failure, and on a loaded CI machine that slowed its
    # dead letters so much that their rate panel had too few samples within the wait.
    receivers.receivers.states[receivers.ports[1]].mode = Mode(status=500)
    ok, failing = (receivers.receivers.url(p, "/hook") for p in receivers.ports)
    world.add_webhook(org, ok, ["*"])
    world.copy_to_derived_topic(org, "EVENT_A")  # the "derived" panel needs copies
    world.add_webhook(org, failing, ["EVENT_B"], retry_schedule=(0.2,))
    for port, state in receivers.receivers.states.items():
        state.set_secrets(s.key for w in world.webhooks if f":{port}/" in w.url for s in w.secrets)
    sup = Supervisor(world.config, detached=False, check_interval_s=1.0)
    sup.start()
    try:
        # Rates need two samples of a series that already exists: a first wave creates every
        # series, a second one, once Prometheus has them, makes every rate and quantile move.
        burst(world, api, org, key, 200)
        first = scoped("ray_edp_delivery_attempts_total", session)
        assert wait_until(lambda: bool(prom(first)), 60, 2.0), "no pipeline metrics reached Prometheus"
        burst(world, api, org, key, 200)

        targets = [(title, ref, scoped(expr, session)) for title, ref, expr in dashboard_targets()]
        pending = {(title, ref): expr for title, ref, expr in targets}

        def all_answered() -> bool:
            # Keep traffic flowing while we wait: a rate over a window with no new samples is 0
            # and a quantile of it is NaN, so a quiet pipeline would look like a missing panel.
            burst(world, api, org, key, 20)
            for (title, ref), expr in list(pending.items()):
                result = prom(expr)
                needs_data = not set(re.findall(r"ray_\w+", expr)) <= ONLY_AFTER_FAILURES
                if finite(result) or not needs_data:
                    pending.pop((title, ref))
            return not pending

        wait_until(all_answered, 90, 3.0)
        missing = "\n".join(f"  {title} [{ref}]: {expr}" for (title, ref), expr in pending.items())
        assert not pending, f"panels without data from session {session}:\n{missing}"
        for title, ref, expr in targets:
            print(f"{title} [{ref}]: {[s['value'][1] for s in prom(expr)][:6]}")
    finally:
        sup.stop()
