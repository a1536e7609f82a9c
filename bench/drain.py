"""One backlog drain on a private pipeline: the building block of the isolation and sweep benchmarks.

`python -m bench.drain [--events 10000 --fanout 3 --runs 3]`: the delivery side alone, a backlog
of events x fanout deliveries produced at once and drained (stop `make run` first: it shares
the cores); prints each run and the median, writes bench/results/<date>-drain.json.

A fresh pipeline (its own topic, queues, database; testkit/pipeline.py) on the local Ray
that `ray_init` starts, `fanout` webhooks on one healthy receiver per event (plus, optionally, one
on a second receiver that can be told to hang), `events` events produced into Kafka at once, and
the time from the first to the last arrival at the healthy receiver. Meanwhile the CPU seconds of
every component are sampled (bench/e2e/procs), and the delivery actors can be profiled with
py-spy. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import ray

from bench.e2e.procs import ResourceSampler, self_usage
from bench.machine import CpuWindow, calibrate
from bench.outputs import dated
from cluster.supervisor import Supervisor
from testkit.local_ray import init_local_ray
from testkit.pipeline import PipelineWorld, namespaced_config, rules_synced, wait_until
from testkit.receiver.runner import ReceiversThread
from testkit.receiver.state import Mode

ROOT = Path(__file__).resolve().parents[1]


def ray_init(namespace: str) -> None:
    init_local_ray(namespace, num_cpus=16)  # up to 8 delivery actors plus filters


def ray_shutdown() -> None:
    ray.shutdown()


@dataclass(frozen=True)
class Shape:
    events: int = 3000
    partitions: int = 4
    filters: int = 2
    deliveries: int = 2
    fanout: int = 3  # healthy webhooks per event
    slow_endpoint: bool = False  # one more webhook per event, on a second receiver
    hang: bool = False  # ... which hangs until the client's total timeout
    fail: bool = False  # ... which answers 500 to everything
    healthy_ordered: bool = False  # the healthy webhooks deliver in order (docs/ordering.md)
    slow_ordered: bool = False  # the second receiver's webhook does
    timeout_s: float = 15.0
    profile_s: float = 0.0  # py-spy the delivery actors for this long once the drain is under way


def drain(shape: Shape) -> dict[str, Any]:
    # Production-like breaker cooldown: the tests' 1 s would make a hanging endpoint churn.
    world = PipelineWorld(
        namespaced_config(
            partitions=shape.partitions,
            filters=shape.filters,
            deliveries=shape.deliveries,
            schedule=(5.0, 30.0),
            total_timeout_s=shape.timeout_s,
            breaker_cooldown_s=30.0,
        )
    )
    sampler = ResourceSampler(gcs_port=int(ray.get_runtime_context().gcs_address.rsplit(":", 1)[1]))
    with ReceiversThread([0, 0]) as recv:
        healthy, other = recv.ports
        for i in range(shape.fanout):
            world.add_webhook(
                "org_bench", recv.receivers.url(healthy, f"/h{i}"), ["T"], ordered=shape.healthy_ordered
            )
        if shape.slow_endpoint:
            world.add_webhook(
                "org_bench", recv.receivers.url(other, "/slow"), ["T"], ordered=shape.slow_ordered
            )
        if shape.hang:
            recv.receivers.states[other].mode = Mode(hang=True)
        if shape.fail:
            recv.receivers.states[other].mode = Mode(status=500)
        sup = Supervisor(world.config, detached=False)
        sup.start()
        profile: dict[str, Any] | None = None
        try:
            assert wait_until(lambda: rules_synced(sup, shape.fanout + shape.slow_endpoint), 20)
            state = recv.receivers.states[healthy]
            expected = shape.fanout * shape.events
            calibration_ms = calibrate()
            me0 = self_usage()["cpu_s"]
            sampler.start()
            window = CpuWindow().start()
            world.produce(world.events(shape.events, ["org_bench"], ["T"]))
            if shape.profile_s:
                assert wait_until(lambda: len(state.first_seen) > expected // 10, 60, 0.1)
                profile = profile_actors("ray::DeliveryWorker", shape.profile_s)
            drained = wait_until(lambda: len(state.first_seen) >= expected, 600, 0.25)
            window.stop()
            sampler.stop()
            me = self_usage()["cpu_s"] - me0
            arrivals = sorted(state.first_seen.values())
            status = sup.status()
        finally:
            sup.stop()
            world.cleanup()
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    cpu = {k: round(v["cpu_s"], 2) for k, v in sampler.report().items()}
    cpu["bench driver + receivers"] = round(me, 2)
    received = len(arrivals)
    return {
        "shape": shape.__dict__,
        "expected": expected,
        "received": received,
        "drained": drained,
        "deliveries_per_s": round(received / span, 1) if span > 0 else None,
        "span_s": round(span, 2),
        "machine": {"calibration_ms": calibration_ms, **window.shares.as_dict(received)},
        "cpu_s": cpu,
        "cpu_ms_per_delivery": {k: round(1000 * v / max(1, received), 3) for k, v in cpu.items()},
        "workers": [
            {k: d.get(k) for k in ("success", "retry", "parked", "dead")} for d in status["deliveries"]
        ],
        **({"profile": profile} if profile else {}),
    }


def profile_actors(title: str, seconds: float, top: int = 25) -> dict[str, Any]:
    """py-spy every process whose title starts with `title` for `seconds`, at once; the top
    functions by own samples and by inclusive samples over all of them."""
    pids = [
        p.pid for p in psutil.process_iter(["cmdline"]) if " ".join(p.info["cmdline"] or ()).startswith(title)
    ]
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        procs = [
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),  # the venv's, not PATH's
                    "record",
                    "-p",
                    str(pid),
                    "-d",
                    str(int(seconds)),
                    "-r",
                    "200",
                    "--nonblocking",
                    "-f",
                    "raw",
                    "-o",
                    f"{tmp}/{pid}.txt",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for pid in pids
        ]
        for p in procs:
            p.wait(timeout=seconds + 60)
        for f in Path(tmp).glob("*.txt"):
            for line in f.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                n = int(count)
                frames = [_short(fr) for fr in stack.split(";") if fr]
                if not frames:
                    continue
                total += n
                own[frames[-1]] += n
                for fr in set(frames):
                    incl[fr] += n

    def pct(c: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / max(1, total), 1)) for k, v in c.most_common(top)]

    return {
        "processes": len(pids),
        "samples": total,
        "seconds": seconds,
        "own_pct": pct(own),
        "inclusive_pct": pct(incl),
    }


def _short(frame: str) -> str:
    """`post (adapters/http_delivery.py:93)` -> `post (adapters/http_delivery.py)`: lines apart."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/main/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})" if path else name


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--fanout", type=int, default=3, help="healthy webhooks per event")
    parser.add_argument("--deliveries", type=int, default=Shape.deliveries, help="delivery actors")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy the delivery actors this many s")
    args = parser.parse_args()
    shape = Shape(events=args.events, fanout=args.fanout, deliveries=args.deliveries, profile_s=args.profile)
    runs: list[dict[str, Any]] = []
    ray_init("edp-drain")
    try:
        for i in range(args.runs):
            runs.append(drain(shape))
            last = runs[-1]
            print(f"run {i + 1}: {last['deliveries_per_s']} deliveries/s ({last['received']} received)")
    finally:
        ray_shutdown()
    rates = [r["deliveries_per_s"] for r in runs if r["deliveries_per_s"] is not None]
    median = statistics.median(rates) if rates else None
    print(f"median: {median} deliveries/s")
    out = dated("drain")
    doc = {"at": dt.datetime.now(dt.UTC).isoformat(), "median": median, "runs": runs}
    out.write_text(json.dumps(doc, indent=2))
    print(f"-> {out}")
    return 0 if median is not None and all(r["drained"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
