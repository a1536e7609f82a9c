"""Ray: an actor round trip on a fresh local cluster bound to 127.0.0.1.

A fresh cluster rather than the shared head (`make ray-up`): `make test` does not start the
head, and a test must not leave actors behind on a cluster other people use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = [pytest.mark.services, pytest.mark.ray]


class Counter:
    def __init__(self, start: int) -> None:
        self.value = start

    def add(self, n: int) -> int:
        self.value += n
        return self.value


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    import ray

    # address="local": a new cluster even when RAY_ADDRESS points at the shared head.
    ray.init(
        address="local",
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        num_cpus=2,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def test_actor_round_trip(ray_local: Any) -> None:
    actor = ray_local.remote(Counter).remote(40)
    assert ray_local.get(actor.add.remote(1), timeout=60) == 41
    assert ray_local.get([actor.add.remote(1) for _ in range(5)], timeout=60) == [42, 43, 44, 45, 46]
    ray_local.kill(actor)


def test_cluster_is_on_loopback(ray_local: Any) -> None:
    nodes = [n for n in ray_local.nodes() if n["Alive"]]
    assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
    assert ray_local.cluster_resources()["CPU"] == 2
