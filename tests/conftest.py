"""Shared by every tier.

RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER is set before anything imports Ray: without it Ray replaces
127.0.0.1 with the machine's external address, and every server of ours listens on loopback only.
`ray_local` is one local Ray cluster per pytest run (random ports, bound to 127.0.0.1, isolated
from any `make run` cluster); unit tests refuse ray.init, so `make test` runs each tier apart.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            _node_ip_address="127.0.0.1",
            include_dashboard=False,
            num_cpus=8,  # logical slots: actors here are mostly I/O-bound
            object_store_memory=300 * 1024 * 1024,
            namespace="edp-test",
            runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
            log_to_driver=False,
        )
    yield
    ray.shutdown()
