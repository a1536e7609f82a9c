"""Micro benchmark of rule matching: RuleSnapshot build time and events/s on one core.

Two shapes, both 1M webhooks over 1k orgs (1k webhooks each) by default:

* `mixed`: 200 event types (20 domains x 10 actions); each webhook on 1-3 exact types, 5 % on
  `domain.*`, 0.5 % on `*`; 30 % carry a filter (amount thresholds, region lists, a regex, a
  customer id). About 17 candidates and 14 matches per event: a broadcast-heavy org.
* `routing`: every webhook has `{"data.customer": "<its customer>"}` and 5 of 50 types, as when
  one platform org fans events out to its own customers' endpoints: 125 candidates per event,
  0.1 match. The equality index in the buckets is what keeps this one cheap.

Events pick an org and a type uniformly, so the per-(org, type) memo gets no help from skew.
Times are CPU time of this process (`time.process_time`): the dev VM is shared, and wall time
there mostly measures the neighbours. `events_per_s_wall` is reported too.

    .venv/bin/python -m bench.match_bench                       # bench/results/match-<date>.json
    .venv/bin/python -m bench.match_bench --scenario routing --webhooks 100000
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import random
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.outputs import RESULTS, unique_path
from core.filters import index_key
from core.models import Webhook
from core.rules import RuleSnapshot

log = logging.getLogger(__name__)

DOMAINS = [f"d{i:02d}" for i in range(20)]
TYPES: list[str] = []  # set by run() from --types
REGIONS = ["eu", "us", "ap", "sa"]
CUSTOMERS = 1000


def make_filter(rng: random.Random) -> dict[str, Any]:
    kind = rng.randrange(5)
    if kind == 0:
        return {"data.amount": {"$gte": rng.randrange(0, 1000)}}
    if kind == 1:
        return {"data.region": {"$in": rng.sample(REGIONS, 2)}}
    if kind == 2:
        return {"data.amount": {"$gt": rng.randrange(500)}, "data.region": rng.choice(REGIONS)}
    if kind == 3:
        return {"$or": [{"data.vip": True}, {"data.items.0.sku": {"$regex": f"^{rng.choice('ABC')}"}}]}
    return {"data.customer": f"cus_{rng.randrange(CUSTOMERS)}"}


def make_webhooks(args: argparse.Namespace, rng: random.Random) -> dict[str, Webhook]:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    hooks: dict[str, Webhook] = {}
    for i in range(args.webhooks):
        flt: dict[str, Any] | None
        if args.scenario == "routing":
            types: tuple[str, ...] = tuple(rng.sample(TYPES, 5))
            flt = {"data.customer": f"cus_{(i // args.orgs) % CUSTOMERS}"}
        else:
            r = rng.random()
            if r < 0.005:
                types = ("*",)
            elif r < 0.055:
                types = (f"{rng.choice(DOMAINS)}.*",)
            else:
                types = tuple(rng.sample(TYPES, rng.randint(1, 3)))
            flt = make_filter(rng) if rng.random() < args.filter_share else None
        wid = f"wh_{i:026d}"
        hooks[wid] = Webhook(
            id=wid,
            org=f"org{i % args.orgs}",
            url=f"https://hooks.example.com/{i}",
            event_types=types,
            filter=flt,
            updated_at=when,
        )
    return hooks


def make_events(n: int, orgs: int, rng: random.Random) -> list[dict[str, Any]]:
    return [
        {
            "id": f"evt_{i}",
            "org": f"org{rng.randrange(orgs)}",
            "type": rng.choice(TYPES),
            "timestamp": "2026-01-01T00:00:00.000Z",
            "data": {
                "customer": f"cus_{rng.randrange(CUSTOMERS)}",
                "amount": rng.randrange(1000),
                "region": rng.choice(REGIONS),
                "vip": rng.random() < 0.1,
                "items": [{"sku": rng.choice("ABCDEF") + str(rng.randrange(100))}],
            },
        }
        for i in range(n)
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    types = args.types or (50 if args.scenario == "routing" else 200)
    TYPES[:] = [f"{d}.a{i}" for d in DOMAINS for i in range(max(1, types // len(DOMAINS)))]
    t0 = time.perf_counter()
    hooks = make_webhooks(args, rng)
    events = make_events(args.events, args.orgs, rng)
    t1, c1 = time.perf_counter(), time.process_time()
    snapshot = RuleSnapshot(1, hooks)
    c2 = time.process_time()
    snapshot.warm()
    build_s, warm_s = c2 - c1, time.process_time() - c2
    log.info("generated in %.1fs; snapshot %.1fs + index %.1fs cpu: %r", t1 - t0, build_s, warm_s, snapshot)
    gc.freeze()  # what a long-lived actor would do after a full load: keep GC off the snapshot

    match = snapshot.match
    matched = sum(len(match(e)) for e in events[: min(len(events), 10_000)])  # warm-up
    best = best_wall = float("inf")
    for _ in range(args.repeat):
        start, start_wall = time.process_time(), time.perf_counter()
        matched = 0
        for e in events:
            matched += len(match(e))
        best = min(best, time.process_time() - start)
        best_wall = min(best_wall, time.perf_counter() - start_wall)
    buckets = [snapshot.candidates(e["org"], e["type"]) for e in events]
    indexed = sum(len(hits) for b in buckets for _, t in b.indexed for hits in t.values())
    len_plain = sum(len(b.plain) for b in buckets)
    candidates = len_plain + sum(len(b.filtered) for b in buckets) + indexed
    ran = sum(
        len(b.filtered) + sum(len(t.get(index_key(get(e))) or ()) for get, t in b.indexed)
        for b, e in zip(buckets, events, strict=True)
    )

    unknown = [dict(e, type=f"{e['type'].split('.')[0]}.zz{i % 50}") for i, e in enumerate(events)]
    start = time.process_time()
    for e in unknown:
        match(e)
    unknown_s = time.process_time() - start

    ids = rng.sample(list(hooks), 110)  # 100 upserts + 10 deletes, in ~110 orgs
    upserts = [
        Webhook(id=w, org=hooks[w].org, url=hooks[w].url, event_types=(rng.choice(TYPES),)) for w in ids[:100]
    ]
    start = time.process_time()
    changed = snapshot.with_changes(upserts, ids[100:], 2)
    changes_ms = (time.process_time() - start) * 1000
    assert changed.get(ids[100]) is None and snapshot.get(ids[100]) is not None

    start = time.process_time()
    for w in ids * 100:
        snapshot.get(w)
    get_us = (time.process_time() - start) / (len(ids) * 100) * 1e6

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load1": os.getloadavg()[0]},
        "params": vars(args),
        "snapshot_cpu_s": round(build_s, 2),  # enough for get(): delivery workers stop here
        "index_cpu_s": round(warm_s, 2),  # warm(): every org's filters and buckets
        "events_per_s": round(len(events) / best),
        "events_per_s_wall": round(len(events) / best_wall),
        "us_per_event": round(best / len(events) * 1e6, 2),
        "matches_per_event": round(matched / len(events), 2),
        "candidates_per_event": round(candidates / len(events), 2),
        "filters_run_per_event": round(ran / len(events), 2),
        "filters_skipped_by_index_per_event": round((candidates - len_plain - ran) / len(events), 2),
        "unknown_type_events_per_s": round(len(unknown) / unknown_s),
        "with_changes_110_ms": round(changes_ms, 1),
        "get_us": round(get_us, 2),
    }


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--webhooks", type=int, default=1_000_000)
    p.add_argument("--orgs", type=int, default=1000)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--scenario", choices=["mixed", "routing"], default="mixed")
    p.add_argument("--types", type=int, default=0, help="event types (default 200 mixed, 50 routing)")
    p.add_argument("--filter-share", type=float, default=0.3)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", type=Path, default=None, help="default: bench/results/match-<date>.json")
    args = p.parse_args(argv)
    suffix = "" if args.scenario == "mixed" else f"-{args.scenario}"
    out = args.out or unique_path(RESULTS / f"match-{date.today().isoformat()}{suffix}.json")
    args.out = str(out)
    result = run(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
