"""The loop every pipeline actor runs on its own thread: a session (clients built, work done
until something fails), then a bounded, growing pause, then a fresh session. Whatever was not
confirmed in the failed session is redone by the next (Kafka resumes at the committed offset,
RabbitMQ hands unacked messages out again)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import uvloop

log = logging.getLogger(__name__)


def run_sessions(
    session: Callable[[], Coroutine[Any, Any, None]],
    stop: threading.Event,
    on_failure: Callable[[Exception, float], None],
    first_backoff_s: float = 0.5,
    max_backoff_s: float = 10.0,
) -> None:
    backoff = first_backoff_s
    while not stop.is_set():
        try:
            uvloop.run(session())  # libuv loop: about half the per-message overhead of asyncio's
            backoff = first_backoff_s
        except Exception as exc:
            on_failure(exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff_s)
