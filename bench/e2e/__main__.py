"""End-to-end benchmark against the running local platform (`make run`).

    python -m bench.e2e [--rate R] [--duration T] [--webhooks W] [--orgs K] [--batch N] [--name NAME]

Creates K orgs (management API) and W webhooks across them (MongoDB), spread over the sample
receivers; checks with probe events that deliveries flow; resets the receivers; sends R events/s
for T seconds with an open-loop generator (one event per request, or N per batch request); waits,
bounded, for the deliveries to drain; then reports accepted events/s, deliveries/s, ingest
latency, ingest-to-receiver latency (receiver first-seen minus the moment ingest was sent), lost
and duplicate deliveries, and CPU and memory per component. Writes
bench/results/<date>-<name>.json and a PNG of throughput and latency over time, and removes
what it created (webhooks tombstoned, org keys revoked).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import subprocess
import sys
import time
import urllib.error
from collections.abc import Sequence
from pathlib import Path

import orjson

from bench.e2e import measure as m
from bench.e2e.procs import ResourceSampler, self_usage
from bench.e2e.report import format_report, result_doc
from bench.e2e.setup import BenchOrg, Platform, plan_webhooks, subscriptions
from bench.load import open_loop
from bench.load.payload import EVENT_TYPES
from bench.load.stats import percentile
from bench.load.target import TargetError, admin_key, base_url
from bench.outputs import RESULTS, ROOT, unique_path
from bench.plot import plot_result

log = logging.getLogger("bench.e2e")

MAX_RATE = 20_000.0
MAX_DURATION_S = 600.0


def _post_probe(plat: Platform, org: BenchOrg, etype: str) -> m.SentEvent | None:
    sent_at = time.time()
    try:
        doc = plat.call("POST", "/v1/events", org.api_key, {"type": etype, "data": {"probe": True}})
    except (urllib.error.URLError, OSError) as exc:
        log.warning("probe event refused: %s", exc)
        return None
    eid = doc.get("id") if isinstance(doc, dict) else None
    return m.SentEvent(eid, org.id, etype, sent_at) if isinstance(eid, str) else None


def warm_up(
    plat: Platform, orgs: Sequence[BenchOrg], subs: Sequence[m.Subscription], timeout_s: float
) -> bool:
    """Send one probe per (org, type) until a whole round is delivered: proof that the rule
    cache has our webhooks and the pipeline delivers, before any figure is taken."""
    deadline = time.monotonic() + timeout_s
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        probes = [p for o in orgs for t in EVENT_TYPES if (p := _post_probe(plat, o, t))]
        expected = m.expected_deliveries(probes, subs)
        round_end = min(deadline, time.monotonic() + 3.0)
        while expected and time.monotonic() < round_end:
            if not m.match(expected, plat.arrivals()).lost:
                log.info("warm-up: round %d delivered %d probe deliveries", rounds, len(expected))
                return True
            time.sleep(0.25)
    return False


def drain(plat: Platform, expected: dict[str, float], stall_s: float, timeout_s: float) -> None:
    """Wait until every expected delivery arrived, deliveries stop coming for `stall_s`, or
    `timeout_s` passes. Progress from the receivers' cheap counters; the exact check at the end."""
    start = time.monotonic()
    last_progress, last_unique = start, -1
    while True:
        now = time.monotonic()
        unique = sum(int(s["unique"]) for s in plat.receiver_stats().values())
        if unique != last_unique:
            last_progress, last_unique = now, unique
        print(f"  drain {now - start:5.1f}s  received {unique}/{len(expected)}", flush=True)
        if unique >= len(expected) and not m.match(expected, plat.arrivals()).lost:
            return
        if now - last_progress > stall_s or now - start > timeout_s:
            print(f"  drain: stopped waiting after {now - start:.1f}s", flush=True)
            return
        time.sleep(1.0)


def _progress(total: int) -> open_loop.OnSecond:
    done = 0

    def tick(elapsed: float, new: list[open_loop.Sample]) -> None:
        nonlocal done
        done += len(new)
        ok = [s for s in new if s.status == 202]
        lat = sorted(s.latency_s * 1000.0 for s in ok)
        p99 = f"{percentile(lat, 0.99):6.1f}" if lat else "     -"
        print(
            f"  load {elapsed:5.1f}s  requests {done}/{total}  {sum(len(s.ids) for s in ok):>6} events/s "
            f"accepted  ingest p99 {p99} ms  errors {len(new) - len(ok)}",
            flush=True,
        )

    return tick


def git_commit() -> str:
    try:
        cmd = ["git", "rev-parse", "--short", "HEAD"]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=5, check=False)
        return out.stdout.decode().strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=300.0, help="events per second (default 300)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    ap.add_argument("--webhooks", type=int, default=12, help="webhooks in all (default 12)")
    ap.add_argument(
        "--orgs", type=int, default=4, help="orgs the events and webhooks spread over (default 4)"
    )
    ap.add_argument("--batch", type=int, default=1, help="events per ingest request (default 1)")
    ap.add_argument("--name", default=None, help="results name (default from the parameters)")
    ap.add_argument("--url", default=None, help="API base URL, loopback (default $EDP_URL or 127.0.0.1:8000)")
    ap.add_argument("--ports", default="8080,8081,8082", help="receiver ports (default 8080,8081,8082)")
    ap.add_argument("--drain-timeout", type=float, default=120.0, help="max seconds to wait for deliveries")
    ap.add_argument("--stall", type=float, default=15.0, help="stop waiting after this long without one")
    ap.add_argument("--warmup-timeout", type=float, default=30.0)
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    return ap.parse_args(argv)


def _check(args: argparse.Namespace) -> None:
    if not (0 < args.rate <= MAX_RATE and 0 < args.duration <= MAX_DURATION_S):
        raise ValueError(f"rate must be in (0, {MAX_RATE:g}] and duration in (0, {MAX_DURATION_S:g}]")
    if args.orgs < 1 or args.webhooks < args.orgs or args.batch < 1:
        raise ValueError("need orgs >= 1, webhooks >= orgs and batch >= 1")


def run(args: argparse.Namespace) -> int:
    url, ports = base_url(args.url), [int(p) for p in args.ports.split(",") if p]
    plat = Platform(url, admin_key(), ports)
    run_id = f"{time.strftime('%H%M%S')}{os.urandom(2).hex()}"
    name = args.name or f"r{args.rate:g}-d{args.duration:g}-w{args.webhooks}-k{args.orgs}-b{args.batch}"
    orgs: list[BenchOrg] = []
    try:
        if problems := plat.healthy():
            print(
                "bench.e2e: the platform is not up (make run):\n  " + "\n  ".join(problems), file=sys.stderr
            )
            return 2
        if stale := plat.tombstone_leftovers():
            log.info("tombstoned %d webhooks left by earlier runs", stale)
        orgs = plat.create_orgs(run_id, args.orgs)
        hooks = plan_webhooks([o.id for o in orgs], args.webhooks, run_id, ports)
        plat.insert_webhooks(hooks)
        plat.tell_receivers()
        subs = subscriptions(hooks)
        print(
            f"bench {run_id}: {len(orgs)} orgs, {len(hooks)} webhooks on ports {ports}; warming up",
            flush=True,
        )
        plat.reset_receivers()
        if not warm_up(plat, orgs, subs, args.warmup_timeout):
            print("bench.e2e: probe events were not delivered; is the pipeline running?", file=sys.stderr)
            return 3
        plat.reset_receivers()
        cfg = open_loop.OpenLoopConfig(
            url=url,
            keys=tuple(o.api_key for o in orgs),
            rate=args.rate,
            duration_s=args.duration,
            batch=args.batch,
        )
        sampler = ResourceSampler(run_dir=ROOT / ".local/run")
        sampler.start()
        me0 = self_usage()
        result = asyncio.run(open_loop.run(cfg, _progress(cfg.total_requests)))
        sent = m.sent_events(result.samples, [o.id for o in orgs])
        expected = m.expected_deliveries(sent, subs)
        drain(plat, expected, args.stall, args.drain_timeout)
        sampler.stop()
        me1 = self_usage()
        arrivals, stats = plat.arrivals(), plat.receiver_stats()
        doc = result_doc(
            name=name,
            args=vars(args),
            result=result,
            sent=sent,
            expected=expected,
            arrivals=arrivals,
            receiver_stats=stats,
            resources=sampler.report(),
            client={"cpu_s": me1["cpu_s"] - me0["cpu_s"], "rss_mb": me1["rss_mb"]},
            machine={
                "cpus": os.cpu_count(),
                "loadavg_1m": os.getloadavg()[0],
                "python": platform.python_version(),
                "commit": git_commit(),
            },
        )
        args.out_dir.mkdir(parents=True, exist_ok=True)
        path = unique_path(args.out_dir / f"{doc['date']}-{name}.json")
        path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        png = plot_result(doc, path.with_suffix(".png"))
        print(format_report(doc))
        print(f"wrote {path}\n      {png}")
        return 0 if doc["lost"] == 0 and doc["accepted_events"] > 0 else 1
    finally:
        plat.tombstone_run(run_id)
        try:
            plat.tell_receivers()
        except (OSError, RuntimeError) as exc:
            log.warning("receivers not told their secrets after cleanup: %s", exc)
        plat.revoke_keys(orgs)
        plat.close()


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parse_args(argv)
    try:
        _check(args)
        return run(args)
    except (TargetError, ValueError) as exc:
        print(f"bench.e2e: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
