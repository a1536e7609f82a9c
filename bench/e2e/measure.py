"""The benchmark's bookkeeping, pure: which deliveries a run must produce, which arrived, how
late, and the per-second series a plot draws. No I/O, so every figure is unit-tested.

A delivery's id is `core.ids.delivery_id(event_id, webhook_id)`, the `webhook-id` header the
receiver keys its arrivals by; so the ingest time of every delivery is known exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.load.stats import bin_counts, bin_quantiles, n_bins_for, summarize
from core.ids import delivery_id


@dataclass(frozen=True, slots=True)
class SentEvent:
    event_id: str
    org: str
    type: str
    sent_at: float  # unix time the ingest request left the client


@dataclass(frozen=True, slots=True)
class Subscription:
    """What the benchmark knows of a webhook it made: exact types, no filter."""

    webhook_id: str
    org: str
    event_types: frozenset[str]


@dataclass(frozen=True, slots=True)
class Matched:
    latencies: list[tuple[float, float]]  # (arrival unix time, ingest-to-receiver seconds)
    received: int
    lost: list[str]  # delivery ids that never arrived


def sent_events(
    samples: Iterable[Any], org_ids: Sequence[str], accepted_status: int = 202
) -> list[SentEvent]:
    """Accepted events from open-loop samples (`bench.load.open_loop.Sample`): a batch's ids come
    back in the order its events were sent, so ids and types pair up by position."""
    out: list[SentEvent] = []
    for s in samples:
        if s.status != accepted_status:
            continue
        org = org_ids[s.key_index]
        out.extend(SentEvent(eid, org, etype, s.sent_at) for eid, etype in zip(s.ids, s.types, strict=False))
    return out


def expected_deliveries(events: Iterable[SentEvent], subs: Iterable[Subscription]) -> dict[str, float]:
    """delivery id -> ingest send time, for every (event, webhook of its org subscribed to its type)."""
    by_org_type: dict[tuple[str, str], list[str]] = {}
    for sub in subs:
        for etype in sub.event_types:
            by_org_type.setdefault((sub.org, etype), []).append(sub.webhook_id)
    out: dict[str, float] = {}
    for ev in events:
        for wid in by_org_type.get((ev.org, ev.type), ()):
            out[delivery_id(ev.event_id, wid)] = ev.sent_at
    return out


def match(expected: Mapping[str, float], arrivals: Mapping[str, float]) -> Matched:
    """Join expected deliveries with the receivers' first-seen times; arrivals of anything else
    (other traffic on the shared receivers) are ignored."""
    latencies: list[tuple[float, float]] = []
    lost: list[str] = []
    for dlv, sent_at in expected.items():
        arrived = arrivals.get(dlv)
        if arrived is None:
            lost.append(dlv)
        else:
            latencies.append((arrived, arrived - sent_at))
    return Matched(latencies=latencies, received=len(latencies), lost=lost)


def series(
    t0: float,
    accepted: Sequence[SentEvent],
    ingest: Sequence[tuple[float, float]],
    delivered: Sequence[tuple[float, float]],
    width: float = 1.0,
) -> list[dict[str, float | None]]:
    """Per-second rows from t0 to the last arrival: events accepted (by send time), deliveries
    (by arrival time), ingest latency p50/p99 (by send time) and ingest-to-receiver p50/p99
    (by arrival time), latencies in ms. `ingest` and `delivered` are (time, seconds) pairs."""
    last = max([t0] + [e.sent_at for e in accepted] + [t for t, _ in ingest] + [t for t, _ in delivered])
    n = n_bins_for(last - t0 + 1e-9, width)
    acc = bin_counts((e.sent_at for e in accepted), t0, n, width)
    dlv = bin_counts((t for t, _ in delivered), t0, n, width)
    ing_q = bin_quantiles(ingest, t0, n, (0.5, 0.99), width)
    e2e_q = bin_quantiles(delivered, t0, n, (0.5, 0.99), width)
    rows: list[dict[str, float | None]] = []
    for i in range(n):
        rows.append(
            {
                "t": i * width,
                "accepted_per_s": acc[i] / width,
                "deliveries_per_s": dlv[i] / width,
                "ingest_p50_ms": _ms(ing_q[i][0]),
                "ingest_p99_ms": _ms(ing_q[i][1]),
                "e2e_p50_ms": _ms(e2e_q[i][0]),
                "e2e_p99_ms": _ms(e2e_q[i][1]),
            }
        )
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


def delivery_figures(
    t0: float, load_s: float, expected: Mapping[str, float], matched: Matched, duplicates: int
) -> dict[str, Any]:
    """The headline numbers: deliveries/s over the whole run (t0 to the last arrival) and while
    the load ran, ingest-to-receiver percentiles (ms), losses and duplicates."""
    arrivals = [t for t, _ in matched.latencies]
    last = max(arrivals, default=t0)
    span = max(last - t0, 1e-9)
    during = sum(1 for t in arrivals if t <= t0 + load_s)
    lat = summarize((x for _, x in matched.latencies), scale=1000.0)
    return {
        "expected_deliveries": len(expected),
        "received_deliveries": matched.received,
        "lost": len(matched.lost),
        "duplicates": duplicates,
        "deliveries_per_s": matched.received / span if matched.received else 0.0,
        "deliveries_per_s_during_load": during / load_s if load_s > 0 else 0.0,
        "drain_s": max(0.0, last - (t0 + load_s)),
        "p50_ms": lat.get("p50"),
        "p99_ms": lat.get("p99"),
        "p999_ms": lat.get("p99.9"),
        "e2e_latency_ms": lat,
    }
