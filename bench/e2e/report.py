"""The end-to-end benchmark's results document and its printed table."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from bench.e2e import measure as m
from bench.load.open_loop import RunResult
from bench.load.stats import summarize

E2E_KEYS = ("p50", "p90", "p99", "p99.9", "max")
PARAMS = ("rate", "duration", "webhooks", "orgs", "batch", "ports")


def result_doc(
    *,
    name: str,
    args: Mapping[str, Any],
    result: RunResult,
    sent: Sequence[m.SentEvent],
    expected: Mapping[str, float],
    arrivals: Mapping[str, float],
    receiver_stats: Mapping[int, Any],
    resources: dict[str, Any],
    client: dict[str, float],
    machine: dict[str, Any],
) -> dict[str, Any]:
    """Everything a reader of bench/results needs, headline keys first."""
    samples = result.samples
    t0, load_s = result.started_at, result.config.duration_s
    ok = [s for s in samples if s.status == 202]
    matched = m.match(expected, arrivals)
    duplicates = sum(int(s.get("duplicates", 0)) for s in receiver_stats.values())
    figures = m.delivery_figures(t0, load_s, expected, matched, duplicates)
    ingest = summarize((s.latency_s for s in ok), scale=1000.0)
    errors = Counter(str(s.status) if s.status else (s.error or "error") for s in samples if s.status != 202)
    accepted_span = max(max((s.sent_at for s in ok), default=t0) - t0, load_s, 1e-9)
    return {
        "name": name,
        "date": time.strftime("%Y-%m-%d", time.localtime(t0)),
        "started_at": t0,
        "deliveries_per_s": figures["deliveries_per_s"],
        "p99_ms": figures["p99_ms"],
        "lost": figures["lost"],
        "duplicates": duplicates,
        "accepted_events": len(sent),
        "accepted_events_per_s": len(sent) / accepted_span,
        "params": {**{k: args.get(k) for k in PARAMS}, "duration_s": load_s},
        "ingest": {
            "requests": len(samples),
            "ok": len(ok),
            "errors": dict(errors),
            "latency_ms": ingest,
            "max_generator_lag_ms": max((s.lag_s for s in samples), default=0.0) * 1000.0,
        },
        "delivery": figures,
        "lost_sample": matched.lost[:20],
        "receivers": {str(p): s for p, s in receiver_stats.items()},
        "resources": resources,
        "client": client,
        "machine": machine,
        "series": m.series(
            t0,
            sent,
            [(s.sent_at, s.latency_s) for s in ok],
            matched.latencies,
        ),
    }


def _fmt(lat: Mapping[str, float], keys: Sequence[str]) -> str:
    if not lat.get("count"):
        return "n/a"
    return "  ".join(f"{k} {lat[k]:.1f}" for k in keys if k in lat)


def format_report(doc: Mapping[str, Any]) -> str:
    p, ing, dlv = doc["params"], doc["ingest"], doc["delivery"]
    lines = [
        "",
        f"{doc['date']} {doc['name']}: {p['rate']:g} events/s for {p['duration_s']:g} s, "
        f"{p['webhooks']} webhooks over {p['orgs']} orgs, batch {p['batch']}",
        f"  ingest     {doc['accepted_events']} events accepted, {doc['accepted_events_per_s']:.1f}/s; "
        f"requests {ing['requests']} ok {ing['ok']} errors {ing['errors'] or 'none'}",
        f"             latency ms  {_fmt(ing['latency_ms'], ('p50', 'p90', 'p99', 'max'))}",
        f"  delivery   expected {dlv['expected_deliveries']}  received {dlv['received_deliveries']}  "
        f"lost {dlv['lost']}  duplicates {dlv['duplicates']}",
        f"             {dlv['deliveries_per_s']:.1f} deliveries/s (first event to last arrival), "
        f"{dlv['deliveries_per_s_during_load']:.1f}/s while loading; drained {dlv['drain_s']:.1f} s after",
        f"             ingest to receiver ms  {_fmt(dlv['e2e_latency_ms'], E2E_KEYS)}",
        "  resources  cpu s (% of one core) and peak RSS over the load and drain:",
    ]
    for group, r in doc["resources"].items():
        lines.append(
            f"             {group:<24} {r['cpu_s']:7.1f} s {r['cpu_pct']:5.0f} %  "
            f"{r['rss_mb_peak']:7.0f} MB  ({r['processes']} proc)"
        )
    c = doc["client"]
    lines.append(f"             {'benchmark client':<24} {c['cpu_s']:7.1f} s           {c['rss_mb']:7.0f} MB")
    return "\n".join(lines)
