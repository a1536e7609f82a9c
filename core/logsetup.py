"""One log format for every process of the platform: entrypoints and actors alike.

`time LEVEL component=<c> logger message`, where messages carry their own key=value context
(`filter=0 partitions=[0, 2] ...`). The level is per component, from `LogSettings`
(EDP_LOG_LEVEL_<COMPONENT>, else EDP_LOG_LEVEL, else INFO). Actors log to stderr, which Ray
keeps per actor (the dashboard's Logs tab, `make logs`).
"""

from __future__ import annotations

import logging
import sys

from core.settings import LogSettings

FORMAT = "%(asctime)s %(levelname)s component={component} %(name)s %(message)s"


def configure_logging(component: str, levels: LogSettings | None = None) -> None:
    """`levels` comes with the process's other settings; without it, from the environment."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT.format(component=component)))
    root = logging.getLogger()
    root.handlers[:] = [handler]  # Ray's worker setup may have added its own; one format wins
    root.setLevel((levels or LogSettings()).level_for(component))
