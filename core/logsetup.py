"""One log format for every process of the platform: entrypoints and actors alike.

`time LEVEL component=<c> logger message`, where messages carry their own key=value context
(`filter=0 partitions=[0, 2] ...`). The level is per component: EDP_LOG_LEVEL_<COMPONENT>
(e.g. EDP_LOG_LEVEL_DELIVERY=DEBUG), else EDP_LOG_LEVEL, else INFO. Actors log to stderr, which
Ray keeps per actor (the dashboard's Logs tab, `make logs`).
"""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s %(levelname)s component={component} %(name)s %(message)s"


def level_for(component: str, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ) if env is None else env
    return (env.get(f"EDP_LOG_LEVEL_{component.upper()}") or env.get("EDP_LOG_LEVEL") or "INFO").upper()


def configure_logging(component: str, level: str | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT.format(component=component)))
    root = logging.getLogger()
    root.handlers[:] = [handler]  # Ray's worker setup may have added its own; one format wins
    root.setLevel(level or level_for(component))
