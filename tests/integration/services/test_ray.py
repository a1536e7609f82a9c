"""Ray: an actor round trip on the test run's own local cluster (tests/conftest.py), bound to 127.0.0.1.

A fresh cluster rather than the shared head (`make ray-up`): `make test` does not start the
head, and a test must not leave actors behind on a cluster other people use.
"""

from __future__ import annotations

from typing import Any

import pytest
import ray as _ray

ray: Any = _ray  # Ray's own stubs are partial; these calls are checked by running them

pytestmark = [pytest.mark.services, pytest.mark.ray]


class Counter:
    def __init__(self, start: int) -> None:
        self.value = start

    def add(self, n: int) -> int:
        self.value += n
        return self.value


def test_actor_round_trip(ray_local: None) -> None:
    actor = ray.remote(Counter).remote(40)
    assert ray.get(actor.add.remote(1), timeout=60) == 41
    assert ray.get([actor.add.remote(1) for _ in range(5)], timeout=60) == [42, 43, 44, 45, 46]
    ray.kill(actor)


def test_cluster_is_on_loopback(ray_local: None) -> None:
    nodes = [n for n in ray.nodes() if n["Alive"]]
    assert [n["NodeManagerAddress"] for n in nodes] == ["127.0.0.1"]
    assert ray.cluster_resources()["CPU"] == 8
