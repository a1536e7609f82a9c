"""Metrics without Ray: the no-op backend, the recorded values through a test backend, the naming
rules, the lag arithmetic, and the dashboard kept in step with the metric catalogue."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # comes with ray

from adapters import metrics
from adapters.metrics import registry
from adapters.metrics.asgi import Message, Receive, Scope, Send

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "infra" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "edp.json"

UNBOUNDED_LABELS = {"id", "event_id", "delivery_id", "webhook_id", "webhook", "org", "url", "path", "key"}
UNITS = ("_seconds", "_bytes", "_ratio")
# Not ours, yet on the dashboard: rabbitmq_prometheus (aggregated and detailed) and Ray's own.
FOREIGN_METRICS = {
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_detailed_queue_messages",
    "ray_actors",
    "ray_node_cpu_utilization",
}

Call = tuple[str, float, dict[str, str] | None]


@pytest.fixture
def recorded() -> Iterator[list[Call]]:
    calls: list[Call] = []

    def factory(spec: metrics.Spec) -> registry.Recorder:
        def record(value: float, tags: dict[str, str] | None) -> None:
            calls.append((spec.name, value, dict(tags) if tags else None))

        return record

    metrics.set_backend(factory)
    yield calls
    metrics.set_backend(None)


def totals(calls: list[Call]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for name, value, tags in calls:
        key = (name, tuple(sorted((tags or {}).items())))
        out[key] = out.get(key, 0) + value
    return out


def test_noop_backend_without_ray() -> None:
    assert registry._backend() is None
    metrics.filter_batch(events=10, matches=3, invalid=1, derived=10, seconds=0.01)
    metrics.delivery_attempt("success", 0.02)
    metrics.delivered("2026-01-01T00:00:00Z")
    metrics.set_lag(0, 5)
    metrics.rules("filter", version=1, refreshed_at=0.0, webhooks=2)
    with metrics.publishing(3):
        pass
    metrics.flush()


def test_counters_are_summed_then_flushed(recorded: list[Call]) -> None:
    metrics.filter_batch(events=500, matches=800, invalid=0, derived=500, seconds=0.04)
    metrics.filter_batch(events=200, matches=0, invalid=2, seconds=0.01)
    assert [c[0] for c in recorded] == ["edp_filter_batch_seconds"] * 2  # counters wait for a flush
    metrics.flush()
    t = totals(recorded)
    assert t[("edp_filter_events_total", ())] == 700
    assert t[("edp_filter_matches_total", ())] == 800
    assert t[("edp_filter_invalid_total", ())] == 2
    assert t[("edp_filter_derived_total", ())] == 500
    # Ray refuses inc(0): a zero never reaches the backend.
    assert all(value > 0 for name, value, _ in recorded if name.endswith("_total"))


def test_delivery_labels_stay_bounded(recorded: list[Call]) -> None:
    metrics.delivery_attempt("success", 0.05)
    metrics.delivery_attempt("retry", 0.2, status=503)
    metrics.delivery_attempt("retry", 3.0, error="timeout")
    metrics.delivery_attempt("dead", 0.1, status=429)
    metrics.delivery_attempt("dropped", error="webhook_gone")
    metrics.delivery_attempt("parked")
    metrics.delivery_attempt("weird-outcome", error="ClientPayloadError: something")
    metrics.flush()
    t = totals(recorded)
    attempts = {dict(k[1])["outcome"]: v for k, v in t.items() if k[0] == "edp_delivery_attempts_total"}
    assert attempts == {"success": 1, "retry": 2, "dead": 1, "dropped": 1, "parked": 1, "other": 1}
    kinds = {dict(k[1])["kind"]: v for k, v in t.items() if k[0] == "edp_delivery_failures_total"}
    assert kinds == {"http_5xx": 1, "timeout": 1, "http_429": 1, "webhook_gone": 1, "other": 1}
    latencies = [c for c in recorded if c[0] == "edp_delivery_latency_seconds"]
    assert len(latencies) == 4  # only attempts that made an HTTP call


def test_end_to_end_from_event_timestamp(recorded: list[Call]) -> None:
    assert metrics.event_age_s("2026-01-01T00:00:00Z", 1767225601.5) == pytest.approx(1.5)
    assert metrics.event_age_s("not a time", 0) is None
    metrics.delivered("2026-01-01T00:00:00.250+00:00", now=1767225600.75)
    ((name, value, tags),) = recorded
    assert (name, tags) == ("edp_delivery_end_to_end_seconds", None)
    assert value == pytest.approx(0.5)


def test_publishing_tracks_unconfirmed_and_confirm_time(recorded: list[Call]) -> None:
    with metrics.publishing(5):
        metrics.flush()
        assert recorded[-1] == ("edp_publish_unconfirmed", 5, None)
    assert recorded[-1][0] == "edp_publish_confirm_seconds"
    metrics.flush()
    assert recorded[-1] == ("edp_publish_unconfirmed", 0, None)
    recorded.clear()
    with pytest.raises(RuntimeError), metrics.publishing(2):
        raise RuntimeError("nacked")
    metrics.flush()
    assert recorded == [("edp_publish_unconfirmed", 0, None)]  # no confirm time for a failure


def test_a_gauge_is_recorded_once_per_flush_with_its_last_value(recorded: list[Call]) -> None:
    for n in range(50):  # set per batch on the hot path: one record per flush, not 50
        metrics.delivery_state(in_flight=n, circuits_open=0)
    assert recorded == []
    metrics.flush()
    assert sorted(recorded) == [("edp_delivery_circuits_open", 0, None), ("edp_delivery_in_flight", 49, None)]
    recorded.clear()
    metrics.flush()
    assert recorded == []  # unchanged since: nothing until the refresh keeps it alive


def test_gauges_are_kept_alive_and_ages_keep_growing(recorded: list[Call]) -> None:
    metrics.rules("rule_cache", version=7, refreshed_at=1000.0, webhooks=3)
    metrics.delivery_state(in_flight=4, circuits_open=1)
    recorded.clear()
    registry._refresh_gauges()
    got = {(n, tuple((t or {}).items())): v for n, v, t in recorded}
    assert got[("edp_rules_version", (("stage", "rule_cache"),))] == 7
    assert got[("edp_rules_webhooks", (("stage", "rule_cache"),))] == 3
    assert got[("edp_rules_age_seconds", (("stage", "rule_cache"),))] > 1_000_000  # now - 1000
    assert got[("edp_delivery_in_flight", ())] == 4


def test_partition_lag() -> None:
    assert metrics.partition_lag(0, 100, 40) == 60
    assert metrics.partition_lag(0, 100, 100) == 0
    assert metrics.partition_lag(0, 100, 120) == 0  # position can pass a cached high watermark
    assert metrics.partition_lag(10, 100, -1001) == 90  # nothing consumed yet
    assert metrics.partition_lag(-1001, 100, -1001) is None
    assert metrics.partition_lag(0, -1001, 5) is None  # no fetch yet


class StubConsumer:
    """The two local calls of confluent_kafka.Consumer that lag needs (a stub of a library object)."""

    def __init__(self, positions: dict[int, int], marks: dict[int, tuple[int, int] | None]) -> None:
        self.positions = positions
        self.marks = marks

    def position(self, partitions: list[Any]) -> list[Any]:
        from confluent_kafka import TopicPartition

        return [TopicPartition(tp.topic, tp.partition, self.positions[tp.partition]) for tp in partitions]

    def get_watermark_offsets(
        self, partition: Any, timeout: float = 1.0, cached: bool = False
    ) -> tuple[int, int] | None:
        assert cached, "lag must come from cached watermarks, never a broker round trip"
        return self.marks[partition.partition]


def test_filter_lag_sets_one_gauge_per_known_partition(recorded: list[Call]) -> None:
    consumer = StubConsumer({0: 40, 1: -1001, 2: 7}, {0: (0, 100), 1: (-1001, -1001), 2: None})
    assert metrics.filter_lag(consumer, "events", [0, 1, 2]) == {0: 60}
    metrics.flush()
    assert recorded == [("edp_filter_consumer_lag", 60, {"partition": "0"})]


async def test_ingest_middleware_counts_ingest_routes_only(recorded: list[Call]) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        status = 202 if scope["path"] == "/v1/events" else 422
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(_: Message) -> None:
        pass

    mw = metrics.IngestMetricsMiddleware(app)
    for path in ("/v1/events", "/v1/events/batch", "/v1/orgs/me/keys/key_123"):
        await mw({"type": "http", "path": path}, receive, send)
    metrics.IngestHooks().events_accepted("org_secret", 3)
    metrics.flush()
    t = totals(recorded)
    assert t[("edp_ingest_requests_total", (("endpoint", "/v1/events"), ("status", "202")))] == 1
    assert t[("edp_ingest_requests_total", (("endpoint", "/v1/events/batch"), ("status", "422")))] == 1
    assert t[("edp_ingest_rejections_total", (("reason", "invalid"),))] == 1
    assert t[("edp_ingest_events_total", ())] == 3
    assert not any("orgs" in str(tags) or "org_secret" in str(tags) for _, _, tags in recorded)
    assert sum(1 for c in recorded if c[0] == "edp_ingest_latency_seconds") == 2


def test_names_follow_the_conventions() -> None:
    assert len(metrics.SPECS) >= 20
    for name, spec in metrics.SPECS.items():
        assert re.fullmatch(r"edp_[a-z][a-z0-9_]*[a-z0-9]", name), name
        assert spec.exported == "ray_" + name
        assert not (UNBOUNDED_LABELS & set(spec.labels)), f"{name} has an unbounded label"
        assert spec.help, name
        if spec.kind == "counter":
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), name
        if spec.kind == "histogram":
            assert name.endswith(UNITS), f"{name}: a histogram names its unit"
            assert spec.buckets and list(spec.buckets) == sorted(set(spec.buckets)), name
            assert spec.buckets[0] > 0, name
        else:
            assert not spec.buckets, name
        if "seconds" in name or "latency" in name:
            assert name.removesuffix("_total").endswith("_seconds"), f"{name}: unit at the end"


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def known_names() -> set[str]:
    names = set(FOREIGN_METRICS)
    for spec in metrics.SPECS.values():
        names.add(spec.exported)
        if spec.kind == "histogram":
            names |= {spec.exported + s for s in ("_bucket", "_sum", "_count")}
    return names


def test_dashboard_is_valid_and_in_step_with_the_catalogue() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used: set[str] = set()
    all_panels = list(panels(dashboard))
    assert len(all_panels) >= 12
    for panel in all_panels:
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, title
        assert panel["targets"], f"{title}: no query"
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == "prometheus", title
            expr = target["expr"]
            assert expr.strip(), title
            names = set(re.findall(r"\b((?:ray|rabbitmq)_[a-zA-Z0-9_]+)", expr))
            assert names, f"{title}: {expr} names no metric"
            unknown = names - known_names()
            assert not unknown, f"{title}: {sorted(unknown)} are not in adapters/metrics/catalog.py"
            used |= names
    ours = {s.exported for s in metrics.SPECS.values()}
    on_board = {n.removesuffix("_bucket") for n in used}
    assert ours <= on_board, f"metrics missing from the dashboard: {sorted(ours - on_board)}"


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = ds["datasources"]
    assert source["uid"] == "prometheus" and source["type"] == "prometheus"
    assert source["url"] == "http://127.0.0.1:9090"  # compose runs both with host networking
    boards = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    path = boards["providers"][0]["options"]["path"]
    compose = (ROOT / "infra" / "compose.yml").read_text()
    assert f"./grafana/dashboards:{path}" in compose, "compose.yml must mount the dashboards there"
