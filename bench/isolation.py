"""Does one hanging endpoint slow the others down? `python -m bench.isolation [--events N]`

A backlog of N events goes into Kafka; each event matches three webhooks on a healthy receiver
and one on a second receiver. Each run is on a fresh pipeline: once with the second
receiver healthy (baseline), once with it hanging until the client's total timeout. The figure
is the healthy receiver's delivery throughput in each run. Writes bench/results/<date>-isolation.json.
Runs on a local Ray cluster against the local services (make services); traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
from typing import Any

from bench.drain import Shape, drain, ray_init, ray_shutdown
from bench.outputs import dated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=15.0, help="total HTTP timeout of the workers, s")
    parser.add_argument(
        "--repeats", type=int, default=3, help="baseline/hanging pairs, interleaved; the medians are compared"
    )
    args = parser.parse_args()
    ray_init("edp-bench")
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    try:
        # Interleaved, so that whatever else the machine does lands on both sides alike.
        for _ in range(args.repeats):
            for hang in (False, True):
                shape = Shape(events=args.events, slow_endpoint=True, hang=hang, timeout_s=args.timeout)
                runs[hang].append(drain(shape))
    finally:
        ray_shutdown()

    def median_rate(hang: bool) -> float | None:
        rates = [r["deliveries_per_s"] for r in runs[hang] if r["deliveries_per_s"]]
        return statistics.median(rates) if rates else None

    base, slow = median_rate(False), median_rate(True)
    drop = round(100 * (1 - slow / base), 1) if base and slow else None
    result = {
        "name": "isolation",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "events": args.events,
        "timeout_s": args.timeout,
        "repeats": args.repeats,
        "baseline_deliveries_per_s": base,
        "with_hanging_endpoint_deliveries_per_s": slow,
        "throughput_drop_percent": drop,
        "baseline": runs[False],
        "with_hanging_endpoint": runs[True],
    }
    out = dated("isolation")
    out.write_text(json.dumps(result, indent=2))
    print(
        f"healthy deliveries/s (median of {args.repeats}): baseline {base}, with a hanging endpoint {slow} "
        f"(drop {drop} %)  -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
