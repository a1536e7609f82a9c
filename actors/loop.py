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

from adapters import metrics

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


class SessionActor:
    """What the pipeline actors share: their work runs as `_session`s on a thread of their own,
    started by the constructor, so when Ray restarts the actor (max_restarts=-1) the work
    restarts too, with the same constructor arguments; `ready` is true while a session runs."""

    stage = "actor"  # the metrics' stage label and the log lines' name
    index = 0
    stats: dict[str, float]

    def _start(self, stop_timeout_s: float) -> None:
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._stop_timeout_s = stop_timeout_s
        self._thread = threading.Thread(target=self._run, name=f"{self.stage}-{self.index}", daemon=True)
        self._thread.start()

    async def _session(self) -> None:
        raise NotImplementedError

    def _describe(self) -> str:
        return f"{self.stage}={self.index}"

    def _run(self) -> None:
        run_sessions(self._session, self._stop, self._failed)

    def _failed(self, exc: Exception, backoff: float) -> None:
        # Whatever the session had not confirmed, the next one redoes.
        self.stats["errors"] += 1
        metrics.restarted(self.stage)
        log.warning("%s failed, restarting in %.1fs error=%r", self._describe(), backoff, exc)
        self._ready.clear()

    def ready(self, timeout: float = 30) -> bool:
        return self._ready.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self._stop_timeout_s)
