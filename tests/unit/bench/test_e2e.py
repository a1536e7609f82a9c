"""The end-to-end benchmark's pure parts: which deliveries a run must produce, how arrivals are
matched to them, the per-second series, the webhook plan, receiver secrets, the process
classifier and the results document. No services."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.e2e import measure as m
from bench.e2e.procs import group_of, pid_files
from bench.e2e.report import format_report, result_doc
from bench.e2e.setup import MARK, plan_webhooks, secrets_by_port, subscriptions, tombstone_update
from bench.load.open_loop import OpenLoopConfig, RunResult, Sample
from bench.plot import plot_result
from core.ids import delivery_id

SUBS = [
    m.Subscription("wh_a1", "org_1", frozenset({"EVENT_A"})),
    m.Subscription("wh_a2", "org_1", frozenset({"EVENT_A", "EVENT_B"})),
    m.Subscription("wh_c", "org_2", frozenset({"EVENT_C"})),
]


def test_expected_deliveries_fan_out_by_org_and_type() -> None:
    events = [
        m.SentEvent("evt_1", "org_1", "EVENT_A", 10.0),  # two webhooks
        m.SentEvent("evt_2", "org_1", "EVENT_B", 11.0),  # one
        m.SentEvent("evt_3", "org_1", "EVENT_C", 12.0),  # none: org_1 has no EVENT_C webhook
        m.SentEvent("evt_4", "org_2", "EVENT_A", 13.0),  # none: another org's types do not count
        m.SentEvent("evt_5", "org_2", "EVENT_C", 14.0),  # one
    ]
    exp = m.expected_deliveries(events, SUBS)
    assert exp == {
        delivery_id("evt_1", "wh_a1"): 10.0,
        delivery_id("evt_1", "wh_a2"): 10.0,
        delivery_id("evt_2", "wh_a2"): 11.0,
        delivery_id("evt_5", "wh_c"): 14.0,
    }


def test_match_counts_lost_and_ignores_foreign_arrivals() -> None:
    exp = {"dlv_a": 10.0, "dlv_b": 10.5, "dlv_c": 11.0}
    arrivals = {"dlv_a": 10.02, "dlv_c": 11.5, "dlv_other": 9.0}
    got = m.match(exp, arrivals)
    assert got.received == 2
    assert got.lost == ["dlv_b"]
    lat = sorted(got.latencies)
    assert [t for t, _ in lat] == [10.02, 11.5]
    assert [x for _, x in lat] == pytest.approx([0.02, 0.5])


def _sample(status: int, sent_at: float, key: int, types: tuple[str, ...], ids: tuple[str, ...]) -> Sample:
    return Sample(0.0, sent_at, 0.0, 0.004, status, key, types, ids)


def test_sent_events_pair_batch_ids_with_their_types() -> None:
    samples = [
        _sample(202, 1.0, 0, ("EVENT_A", "EVENT_B"), ("evt_1", "evt_2")),
        _sample(503, 1.1, 1, ("EVENT_C",), ()),
        _sample(202, 1.2, 1, ("EVENT_C",), ("evt_3",)),
    ]
    got = m.sent_events(samples, ["org_1", "org_2"])
    assert got == [
        m.SentEvent("evt_1", "org_1", "EVENT_A", 1.0),
        m.SentEvent("evt_2", "org_1", "EVENT_B", 1.0),
        m.SentEvent("evt_3", "org_2", "EVENT_C", 1.2),
    ]


def test_series_bins_by_second() -> None:
    t0 = 1000.0
    sent = [m.SentEvent(f"evt_{i}", "o", "EVENT_A", t0 + i * 0.5) for i in range(4)]  # 0, .5, 1, 1.5
    ingest = [(e.sent_at, 0.010) for e in sent]
    delivered = [(t0 + 0.2, 0.2), (t0 + 1.1, 0.1), (t0 + 2.5, 1.0)]
    rows = m.series(t0, sent, ingest, delivered)
    assert [r["t"] for r in rows] == [0.0, 1.0, 2.0]
    assert [r["accepted_per_s"] for r in rows] == [2, 2, 0]
    assert [r["deliveries_per_s"] for r in rows] == [1, 1, 1]
    assert rows[0]["e2e_p99_ms"] == pytest.approx(200.0)
    assert rows[2]["ingest_p50_ms"] is None and rows[2]["e2e_p50_ms"] == pytest.approx(1000.0)


def test_delivery_figures() -> None:
    t0 = 100.0
    exp = {"a": 100.0, "b": 100.5, "c": 101.0, "d": 101.0}
    matched = m.match(exp, {"a": 100.1, "b": 100.7, "c": 103.0})
    f = m.delivery_figures(t0, 2.0, exp, matched, duplicates=1)
    assert f["lost"] == 1 and f["received_deliveries"] == 3 and f["duplicates"] == 1
    assert f["deliveries_per_s"] == pytest.approx(3 / 3.0)
    assert f["deliveries_per_s_during_load"] == pytest.approx(2 / 2.0)
    assert f["drain_s"] == pytest.approx(1.0)
    assert f["p50_ms"] == pytest.approx(200.0)


def test_plan_covers_every_type_in_every_org() -> None:
    hooks = plan_webhooks(["org_1", "org_2"], 6, "run1", [8080, 8081, 8082], secret=lambda: "whsec_x")
    assert len({h.id for h in hooks}) == 6
    for org in ("org_1", "org_2"):
        assert sorted(t for h in hooks if h.org == org for t in h.event_types) == [
            "EVENT_A",
            "EVENT_B",
            "EVENT_C",
        ]
    assert {h.url for h in hooks} == {f"http://127.0.0.1:{p}/bench/run1" for p in (8080, 8081, 8082)}
    assert all(h.description == f"{MARK}run1" and h.secrets[0].key == "whsec_x" for h in hooks)
    subs = subscriptions(hooks)
    assert [s.webhook_id for s in subs] == [h.id for h in hooks]
    doc = hooks[0].to_doc()
    assert doc["deleted"] is False and doc["version"] == 1


def test_receivers_get_every_live_secret_on_their_port() -> None:
    docs: list[dict[str, Any]] = [
        {"url": "http://127.0.0.1:8080/webhook", "secrets": [{"key": "whsec_demo"}]},
        {"url": "http://127.0.0.1:8080/bench/x", "secrets": [{"key": "whsec_b1"}, {"key": "whsec_b2"}]},
        {"url": "http://127.0.0.1:8081/bench/x", "secrets": [{"key": "whsec_gone"}], "deleted": True},
        {"url": "http://localhost:8082/w", "secrets": [{"key": "whsec_c"}]},
        {"url": "http://127.0.0.1:9999/w", "secrets": [{"key": "whsec_elsewhere"}]},
        {"url": "https://example.com:8080/w", "secrets": [{"key": "whsec_remote"}]},
    ]
    assert secrets_by_port(docs, [8080, 8081, 8082]) == {
        8080: ["whsec_demo", "whsec_b1", "whsec_b2"],
        8081: [],  # still told: its old secrets go away
        8082: ["whsec_c"],
    }


def test_tombstone_is_the_repos_delete() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    assert tombstone_update(now) == {"$set": {"deleted": True, "updated_at": now}, "$inc": {"version": 1}}


@pytest.mark.parametrize(
    ("cmdline", "name", "group"),
    [
        ("ray::PartitionFilter.run", "ray::PartitionF", "ray::PartitionFilter"),
        ("ray::DeliveryWorker", "ray::DeliveryW", "ray::DeliveryWorker"),
        ("ray::ApiServer.serve", "ray::ApiServer", "ray::ApiServer"),
        ("ray::RuleCache", "ray::RuleCache", "ray::RuleCache"),
        ("ray::IDLE", "ray::IDLE", "ray::IDLE"),
        (
            "/venv/lib/python3.11/site-packages/ray/core/src/ray/raylet/raylet --gcs-address=x",
            "raylet",
            "ray-system",
        ),
        (
            "python /venv/site-packages/ray/dashboard/dashboard.py --gcs-address=127.0.0.1:6380",
            "python",
            "ray-system",
        ),
        ("java -Xmx1G -cp .local/kafka/libs/* kafka.Kafka .local/kafka/server.properties", "java", "kafka"),
        ("/usr/lib/erlang/erts-13.1.5/bin/beam.smp -W w -- -root /usr/lib/erlang", "beam.smp", "rabbitmq"),
        (".local/bin/ferretdb-edp --listen-addr=127.0.0.1:27017", "ferretdb-edp", "ferretdb"),
        (".venv/bin/python -m testkit.receiver --ports 8080-8082", "python", "receivers"),
        ("python -m jobs.pipeline", "python", "job:pipeline"),
        ("prometheus --config.file=x", "prometheus", "prometheus"),
        ("bash /dev/fd/3", "bash", None),
        ("python -m pytest tests/unit", "python", None),
    ],
)
def test_group_of(cmdline: str, name: str, group: str | None) -> None:
    assert group_of(cmdline, name) == group


def test_pid_files(tmp_path: Path) -> None:
    (tmp_path / "kafka.pid").write_text("123\n")
    (tmp_path / "broken.pid").write_text("not a pid")
    (tmp_path / "notes.txt").write_text("456")
    assert pid_files(tmp_path) == {123: "kafka"}
    assert pid_files(tmp_path / "missing") == {}


def test_result_doc_has_the_headline_keys_and_plots(tmp_path: Path) -> None:
    t0 = 1_800_000_000.0
    cfg = OpenLoopConfig(url="http://127.0.0.1:1", keys=("k",), rate=4, duration_s=1.0)
    samples = [
        Sample(i * 0.25, t0 + i * 0.25, 0.0, 0.005, 202, 0, ("EVENT_A",), (f"evt_{i}",)) for i in range(4)
    ]
    res = RunResult(config=cfg, started_at=t0, elapsed_s=1.0, samples=samples)
    sent = m.sent_events(samples, ["org_1"])
    exp = m.expected_deliveries(sent, SUBS)
    arrivals = {d: t + 0.05 for d, t in list(exp.items())[:-1]}  # one lost
    doc = result_doc(
        name="unit",
        args={"rate": 4.0, "duration": 1.0, "webhooks": 3, "orgs": 2, "batch": 1, "ports": "8080"},
        result=res,
        sent=sent,
        expected=exp,
        arrivals=arrivals,
        receiver_stats={8080: {"duplicates": 2, "unique": 7}},
        resources={"kafka": {"cpu_s": 1.5, "cpu_pct": 30.0, "rss_mb_peak": 400.0, "processes": 1}},
        client={"cpu_s": 0.3, "rss_mb": 80.0},
        machine={"cpus": 2},
    )
    assert doc["lost"] == 1 and doc["duplicates"] == 2
    assert doc["accepted_events"] == 4 and doc["delivery"]["expected_deliveries"] == 8
    assert doc["p99_ms"] == pytest.approx(50.0)
    assert doc["deliveries_per_s"] > 0
    orjson.dumps(doc)  # JSON-ready as it is
    text = format_report(doc)
    assert "lost 1" in text and "kafka" in text
    png = plot_result(doc, tmp_path / "unit.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A run where nothing was delivered still reports and plots.
    empty = {**doc, "series": [], "p99_ms": None}
    assert plot_result(empty, tmp_path / "empty.png").exists()


def test_locust_csv_parsing() -> None:
    from bench.load.send_events import aggregated_row, choose_tool, locust_summary

    text = (
        "Type,Name,Request Count,Failure Count,Requests/s,50%,90%,95%,99%,99.9%,100%\n"
        "POST,/v1/events,10,1,5.0,6,10,11,12,30,31\n"
        ",Aggregated,10,1,5.0,6,10,11,12,1300,1310\n"
    )
    row = aggregated_row(text)
    assert row is not None
    doc = locust_summary(row, batch=2)
    assert doc["requests"] == 10 and doc["failures"] == 1 and doc["events_per_s"] == 10.0
    assert doc["latency_ms"]["p99.9"] == 1300.0
    assert doc["thresholds_broken"] == ["p99.9 1300.0 ms >= 1200 ms"]
    assert aggregated_row("Type,Name\n") is None
    assert choose_tool("auto", "ramp", k6_available=True) == "k6"
    assert choose_tool("auto", "ramp", k6_available=False) == "locust"
    assert choose_tool("auto", "rate", k6_available=False) == "open_loop"
    assert choose_tool("locust", "rate", k6_available=True) == "locust"
