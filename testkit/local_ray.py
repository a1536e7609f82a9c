"""A private local Ray for tests and benchmarks: bound to 127.0.0.1 (the venv keeps Ray on
loopback: infra/local/loopback_pth.py), random ports, isolated from any `make run` cluster, with
the repository on the workers' PYTHONPATH."""

from __future__ import annotations

from pathlib import Path

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
