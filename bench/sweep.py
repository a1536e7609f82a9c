"""Deliveries/s as the delivery pool grows and as partitions grow, with CPU per component.

    python -m bench.sweep [--events N] [--pools 1,2,4,8] [--partitions 1,2,4,8] [--profile S]

Each point drains a backlog of N events (each matching 3 webhooks on one receiver) through a
fresh pipeline on a private local Ray (bench/drain.py): the pool sweep keeps 4 partitions and 2
filter actors; the partition sweep gives each partition its own filter actor and keeps 2 delivery
actors. `--profile S` records the delivery actors with py-spy for S seconds during the first point
of the pool sweep with 2 actors. Writes bench/results/<date>-sweep.json and a PNG.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

from bench.drain import Shape, drain, ray_init, ray_shutdown
from bench.outputs import dated


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in (
        (axes[0], "pool", "delivery actors (4 partitions, 2 filters)"),
        (axes[1], "partitions", "partitions = filter actors (2 delivery actors)"),
    ):
        pts = result[key]
        xs = [p["x"] for p in pts]
        ax.plot(xs, [p["deliveries_per_s"] or 0 for p in pts], marker="o")
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("deliveries/s (backlog drain)")
    fig.suptitle(f"Delivery throughput on {result['machine']['cpus']} cores, whole stack on one machine")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--pools", type=_ints, default=[1, 2, 4, 8])
    parser.add_argument("--partitions", type=_ints, default=[1, 2, 4, 8])
    parser.add_argument("--profile", type=float, default=0.0, help="py-spy seconds at pool=2 (0: none)")
    parser.add_argument("--name", default="sweep")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "name": args.name,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "events": args.events,
        "pool": [],
        "partitions": [],
    }
    ray_init("edp-sweep")
    try:
        for n in args.pools:
            shape = Shape(events=args.events, deliveries=n, profile_s=args.profile if n == 2 else 0.0)
            point = drain(shape)
            result["pool"].append({"x": n, **point})
            per = point["cpu_ms_per_delivery"]
            print(f"pool={n}: {point['deliveries_per_s']} deliveries/s  cpu ms/delivery {per}")
        for p in args.partitions:
            point = drain(Shape(events=args.events, partitions=p, filters=p, deliveries=2))
            result["partitions"].append({"x": p, **point})
            print(f"partitions={p}: {point['deliveries_per_s']} deliveries/s")
    finally:
        ray_shutdown()
    out = dated(args.name)
    out.write_text(json.dumps(result, indent=2))
    plot(result, out.with_suffix(".png"))
    print(f"-> {out}, .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
