"""What every entrypoint shares: logging set up once, and connecting to the Ray cluster."""

from __future__ import annotations

import os

import ray

from cluster.config import NAMESPACE
from core.logsetup import configure_logging as _configure
from core.settings import LogSettings

__all__ = ["NAMESPACE", "configure_logging", "connect_ray"]


def configure_logging(levels: LogSettings | None = None) -> None:
    """Entrypoints log like the actors do (core/logsetup.py), as component "job"."""
    _configure("job", levels)


def connect_ray(address: str | None = None) -> None:
    """Join the running cluster (inside `ray job submit`, RAY_ADDRESS is set for us).

    Settings reach actors as constructor arguments (pickled settings objects), not through
    the actors' environment, so a job's EDP_* variables apply to the actors it creates.
    """
    ray.init(
        address=address or os.environ.get("RAY_ADDRESS", "auto"),
        namespace=NAMESPACE,
        log_to_driver=True,
    )
