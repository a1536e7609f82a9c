"""End-to-end tier: a local Ray cluster for the whole session (random ports, bound to
127.0.0.1, isolated from any `make run` cluster), plus the shared local services."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
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
