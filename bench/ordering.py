"""Ordered delivery's cost: `python -m bench.ordering [--events N] [--repeats R]`

1. One ordered webhook on a fast local receiver: a backlog of N events drains one delivery at a
   time (docs/ordering.md), so deliveries/s is the round trip (the POST, and the lane's cursor
   saved to MongoDB before each next one).
2. Three unordered webhooks on a healthy receiver, with and without an ordered webhook beside
   them (same org, same events) whose endpoint answers 500 to everything: its lane is blocked,
   retrying its head, with everything behind it waiting. The figure is the unordered webhooks'
   deliveries/s in each case, interleaved runs, medians compared.
Writes bench/results/<date>-ordering.json. A private local Ray against the local services.
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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ray_init("edp-bench-ordering")
    ordered: list[dict[str, Any]] = []
    beside: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    try:
        for _ in range(args.repeats):
            ordered.append(drain(Shape(events=args.events, fanout=1, healthy_ordered=True)))
            for blocked in (False, True):
                shape = Shape(events=args.events, slow_endpoint=blocked, fail=blocked, slow_ordered=blocked)
                beside[blocked].append(drain(shape))
    finally:
        ray_shutdown()

    def median(runs: list[dict[str, Any]]) -> float | None:
        rates = [r["deliveries_per_s"] for r in runs if r["deliveries_per_s"]]
        return statistics.median(rates) if rates else None

    one, base, with_blocked = median(ordered), median(beside[False]), median(beside[True])
    result = {
        "name": "ordering",
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "events": args.events,
        "repeats": args.repeats,
        "ordered_deliveries_per_s": one,
        "ordered_runs": [r["deliveries_per_s"] for r in ordered],
        "unordered_deliveries_per_s": base,
        "unordered_beside_a_blocked_ordered_deliveries_per_s": with_blocked,
        "throughput_drop_percent": round(100 * (1 - with_blocked / base), 1)
        if base and with_blocked
        else None,
        "runs": {"ordered": ordered, "unordered": beside[False], "beside_blocked": beside[True]},
    }
    out = dated("ordering")
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
