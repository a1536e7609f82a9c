"""Shared by every tier.

Ray stays on 127.0.0.1 because the venv sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER at every
interpreter start (infra/local/loopback_pth.py; tests/unit/infra/test_local_setup.py checks it).
`ray_local` is one local Ray cluster per pytest run (random ports, bound to 127.0.0.1, isolated
from any `make run` cluster); unit tests refuse ray.init, so `make test` runs each tier apart.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    import ray

    if not ray.is_initialized():
        from testkit.local_ray import init_local_ray

        init_local_ray("edp-test", object_store_mb=300)
    yield
    ray.shutdown()
