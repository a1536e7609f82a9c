"""A private local Ray for tests and benchmarks: bound to 127.0.0.1 (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER
is set before Ray is imported, or Ray binds the external interface), random ports, isolated from
any `make run` cluster, with the repository on the workers' PYTHONPATH."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

import ray

ROOT = Path(__file__).resolve().parents[1]


def init_local_ray(namespace: str, num_cpus: int = 8, object_store_mb: int | None = None) -> None:
    # num_cpus is logical slots: the actors here are mostly I/O-bound.
    ray.init(
        address="local",
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        num_cpus=num_cpus,
        object_store_memory=object_store_mb * 1024 * 1024 if object_store_mb else None,
        namespace=namespace,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
        log_to_driver=False,
    )
