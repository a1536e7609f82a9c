"""`python -m testkit.chaos [--only NAME ...] [--no-graceful]` (make chaos).

Every scenario of testkit/chaos/scenarios.py on a local Ray against the local services (make
services), then the graceful-shutdown scenario against the `make run` platform. Writes
bench/results/<date>-chaos.json, prints the table, exits 1 if any delivery was lost.
It holds /tmp/edp-services.lock shared while it runs and exclusive while a service is stopped
(restarts, `make down`, `make run`): do not wrap it in `flock`, it would wait for itself.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import ray

from core.logsetup import configure_logging
from testkit.chaos import graceful, report, scenarios
from testkit.chaos.faults import ServicesLock
from testkit.chaos.harness import Pipeline, Result, Scenario, Timing, run_scenario
from testkit.local_ray import init_local_ray

log = logging.getLogger("testkit.chaos")
ROOT = Path(__file__).resolve().parents[2]
LOCK = Path("/tmp/edp-services.lock")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--rate", type=float, default=40.0, help="events/s of constant load (2 deliveries each)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load per scenario")
    p.add_argument("--inject-at", type=float, default=15.0, help="seconds into the load")
    p.add_argument("--window", type=float, default=30.0, help="seconds a receiver misbehaves")
    p.add_argument("--drain-timeout", type=float, default=240.0, help="seconds to wait for the backlog")
    p.add_argument("--only", nargs="*", default=None, help="scenarios whose name contains any of these")
    p.add_argument("--no-graceful", action="store_true", help="skip make down / make run")
    p.add_argument("--graceful-only", action="store_true", help="only make down / make run")
    p.add_argument("--no-lock", action="store_true", help="do not take the shared-services lock")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = p.parse_args()
    configure_logging("chaos")
    logging.getLogger("pika").setLevel(logging.WARNING)
    timing = Timing(
        rate=args.rate,
        duration_s=args.duration,
        inject_at_s=args.inject_at,
        drain_timeout_s=args.drain_timeout,
    )
    lock = None if args.no_lock else ServicesLock(LOCK)
    chosen = scenarios.full(args.window)
    if args.only is not None:
        chosen = scenarios.by_name(chosen, args.only)
    results: list[Result] = []
    if args.graceful_only:
        chosen = []
    if chosen:
        results += _scenarios(chosen, timing, lock)
    if not args.no_graceful and (args.only is None or args.graceful_only):
        results.append(graceful.run(timing, lock))
    doc = report.document(results, timing)
    # --graceful-only adds its row to today's report of the other scenarios, if there is one.
    out = report.write(doc, args.out, append=args.graceful_only)
    print(report.table(report.rows(out)))
    print(f"-> {out}", flush=True)
    lost = sum(r.lost for r in results)
    if lost:
        print(f"FAILED: {lost} deliveries lost")
    return 1 if lost else 0


def _scenarios(chosen: list[Scenario], timing: Timing, lock: ServicesLock | None) -> list[Result]:
    results: list[Result] = []
    init_local_ray("edp-chaos", object_store_mb=300)
    try:
        with Pipeline() as pipeline:
            for s in chosen:
                results.append(run_scenario(s, timing, pipeline, lock))
                print(report.table(results[-1:]).splitlines()[-1], flush=True)
    finally:
        log.info("ray shutdown")
        ray.shutdown()
        log.info("ray shut down")
    return results


if __name__ == "__main__":
    raise SystemExit(main())
