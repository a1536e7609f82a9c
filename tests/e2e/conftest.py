"""End-to-end tier: the pipeline on Ray (the `ray_local` fixture in tests/conftest.py) against
the shared local services, each test in a namespace of its own.

`world` and `receivers` are the same in every module; what a module or test needs of them it
says with a marker (registered in pyproject.toml)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testkit.pipeline import PipelineWorld, namespaced_config
from testkit.receiver.runner import ReceiversThread


@pytest.fixture
def world(request: pytest.FixtureRequest, ray_local: None) -> Iterator[PipelineWorld]:
    """A pipeline namespace of its own (topic, queues, database), removed afterwards;
    `@pytest.mark.world(**overrides)` passes overrides to `namespaced_config`."""
    marker = request.node.get_closest_marker("world")
    w = PipelineWorld(namespaced_config(**(marker.kwargs if marker else {})))
    yield w
    w.cleanup()


@pytest.fixture
def receivers(request: pytest.FixtureRequest) -> Iterator[ReceiversThread]:
    """Sample receivers on free ports: two, or n with `@pytest.mark.receivers(n)`."""
    marker = request.node.get_closest_marker("receivers")
    n: int = marker.args[0] if marker else 2
    with ReceiversThread([0] * n) as r:
        yield r
