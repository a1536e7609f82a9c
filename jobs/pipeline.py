"""`ray job submit --working-dir . -- python -m jobs.pipeline [--stop|--status|--resize F D]`

Starts (or reattaches to) the detached supervisor, which runs the rule cache, the partition
filter actors and the delivery pool; returns once every actor is ready. The actors keep
running after this job ends, and show up in the Ray dashboard.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import ray

from cluster.config import PipelineConfig
from cluster.remote import SupervisorActor

from .common import NAMESPACE, configure_logging, connect_ray

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stop", action="store_true", help="stop the pipeline gracefully")
    parser.add_argument("--status", action="store_true", help="print the status of every actor")
    parser.add_argument("--resize", nargs=2, type=int, metavar=("FILTERS", "DELIVERIES"))
    parser.add_argument("--address", default=None)
    args = parser.parse_args(argv)
    configure_logging()
    connect_ray(args.address)
    config = PipelineConfig()
    name = f"{config.prefix}-supervisor"
    if args.stop:
        try:
            running = ray.get_actor(name, namespace=NAMESPACE)
        except ValueError:
            print("pipeline is not running")
            return 0
        ray.get(running.stop.remote())
        ray.kill(running, no_restart=True)
        print("pipeline stopped")
        return 0
    sup: Any = SupervisorActor.options(
        name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True
    ).remote(config)
    status: Any
    if args.status:
        status = ray.get(sup.status.remote())
    elif args.resize:
        status = ray.get(sup.resize.remote(*args.resize))
    else:
        status = ray.get(sup.start.remote())
    print(json.dumps(status, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
