"""Unit tests run without services and without Ray: starting a cluster here is a bug."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import pytest
from hypothesis import settings


def _refuse(*_args: Any, **_kwargs: Any) -> None:
    raise RuntimeError("unit tests must not start Ray; move this test to tests/integration or tests/e2e")


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    # As Ray Serve's own unit tests do: make ray.init raise if anything reaches for it.
    if importlib.util.find_spec("ray") is not None:
        import ray

        monkeypatch.setattr(ray, "init", _refuse)


# Unit tests must stay fast; CI or a curious human can ask for much more with
# HYPOTHESIS_PROFILE=thorough.
settings.register_profile("fast", deadline=None, database=None, max_examples=20)
settings.register_profile("thorough", deadline=None, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
