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
import os
import statistics
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray

from bench.receiver.runner import ReceiversThread
from bench.receiver.state import Mode
from cluster.supervisor import Supervisor
from tests.support.pipeline import PipelineWorld, namespaced_config, rules_synced, wait_until

RESULTS = Path(__file__).resolve().parent / "results"


def one_run(events: int, hang: bool, timeout_s: float) -> dict[str, Any]:
    # Production-like breaker cooldown: the tests' 1 s would make the hanging endpoint churn.
    world = PipelineWorld(
        namespaced_config(schedule=(5.0, 30.0), total_timeout_s=timeout_s, breaker_cooldown_s=30.0)
    )
    with ReceiversThread([0, 0]) as recv:
        healthy, other = recv.ports
        for i in range(3):
            world.add_webhook("org_iso", recv.receivers.url(healthy, f"/h{i}"), ["T"])
        world.add_webhook("org_iso", recv.receivers.url(other, "/slow"), ["T"])
        if hang:
            recv.receivers.states[other].mode = Mode(hang=True)
        sup = Supervisor(world.config, detached=False)
        sup.start()
        try:
            assert wait_until(lambda: rules_synced(sup, 4), 20)
            world.produce(world.events(events, ["org_iso"], ["T"]))
            state = recv.receivers.states[healthy]
            expected = 3 * events
            drained = wait_until(lambda: len(state.first_seen) >= expected, 300, 0.5)
            arrivals = sorted(state.first_seen.values())
            span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
            status = sup.status()
        finally:
            sup.stop()
            world.cleanup()
    return {
        "hanging_endpoint": hang,
        "healthy_expected": expected,
        "healthy_received": len(arrivals),
        "drained": drained,
        "healthy_deliveries_per_s": round(len(arrivals) / span, 1) if span > 0 else None,
        "span_s": round(span, 2),
        "workers": [
            {k: d.get(k) for k in ("success", "retry", "parked", "dead")} for d in status["deliveries"]
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--timeout", type=float, default=15.0, help="total HTTP timeout of the workers, s")
    parser.add_argument(
        "--repeats", type=int, default=3, help="baseline/hanging pairs, interleaved; the medians are compared"
    )
    args = parser.parse_args()
    ray.init(
        address="local",
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        num_cpus=8,
        namespace="edp-bench",
        runtime_env={"env_vars": {"PYTHONPATH": str(RESULTS.parents[1])}},
        log_to_driver=False,
    )
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    try:
        # Interleaved, so that whatever else the machine does lands on both sides alike.
        for _ in range(args.repeats):
            for hang in (False, True):
                runs[hang].append(one_run(args.events, hang=hang, timeout_s=args.timeout))
    finally:
        ray.shutdown()

    def median_rate(hang: bool) -> float | None:
        rates = [r["healthy_deliveries_per_s"] for r in runs[hang] if r["healthy_deliveries_per_s"]]
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
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{dt.date.today().isoformat()}-isolation.json"
    out.write_text(json.dumps(result, indent=2))
    print(
        f"healthy deliveries/s (median of {args.repeats}): baseline {base}, with a hanging endpoint {slow} "
        f"(drop {drop} %)  -> {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
