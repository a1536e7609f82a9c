"""What every entrypoint shares: logging set up once, and connecting to the Ray cluster."""

from __future__ import annotations

import logging
import os
import sys

import ray

NAMESPACE = "edp"


def configure_logging(level: str | None = None) -> None:
    """One format everywhere: time level logger message, where messages carry key=value context."""
    logging.basicConfig(
        level=(level or os.environ.get("EDP_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def connect_ray(address: str | None = None) -> None:
    """Join the running cluster (inside `ray job submit`, RAY_ADDRESS is set for us).

    Settings reach actors as constructor arguments (pickled settings objects), not through
    the actors' environment, so a job's EDP_* variables apply to the actors it creates.
    """
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    ray.init(
        address=address or os.environ.get("RAY_ADDRESS", "auto"),
        namespace=NAMESPACE,
        log_to_driver=True,
    )
