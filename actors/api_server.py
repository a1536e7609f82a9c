"""The HTTP APIs inside a Ray actor: uvicorn on a socket bound with SO_REUSEPORT.

Several actors bind the same 127.0.0.1:8000 and the kernel spreads connections among them, so
there is no proxy hop (Ray Serve's cost 10-14 ms of CPU per request here, see DESIGN.md). uvicorn
runs on its own uvloop in a thread, because the actor's main thread belongs to Ray; uvicorn skips
signal handlers off the main thread. When Ray restarts a dead actor, `__init__` binds again,
with the same pickled `ApiConfig` the job gave it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import uvicorn
import uvloop

from actors.process import normal_priority, tune_gc
from adapters import metrics
from api.app import create_app
from api.config import ApiConfig
from core.logsetup import configure_logging

log = logging.getLogger(__name__)

BACKLOG = 2048
# Below the pipeline's actors (niceness 0) when the CPU is short: work already accepted is
# finished before more is taken in, so a burst makes ingest answer a little later instead of
# piling up a backlog that every event then waits behind. With CPU to spare it changes nothing.
API_NICENESS = 5
UVICORN_LOG_LEVEL = "warning"


def reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


class ApiServer:
    """One uvicorn server process-in-an-actor; every instance shares `ApiSettings.host:port`."""

    def __init__(self, config: ApiConfig) -> None:
        normal_priority(API_NICENESS)
        configure_logging("api", config.log)
        self._api = config.api
        self._sock = reuseport_socket(self._api.host, self._api.port)
        app = create_app(config, hooks=metrics.IngestHooks())
        server_config = uvicorn.Config(
            # Outermost, around the ingest fast lane too (ApiApp answers it before any middleware).
            metrics.IngestMetricsMiddleware(app),
            loop="none",
            lifespan="on",
            access_log=False,
            log_level=UVICORN_LOG_LEVEL,
            server_header=False,
            backlog=BACKLOG,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(server_config)
        tune_gc()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="uvicorn", daemon=True)
        self._thread.start()
        log.info("api server starting address=%s", self.address())

    def _serve(self) -> None:
        loop = uvloop.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:  # uvicorn reports a failed startup with SystemExit
            self._failed = exc
            log.exception("api server stopped")
        finally:
            loop.close()

    def address(self) -> str:
        return f"http://{self._api.host}:{self._api.port}"

    def ready(self, timeout_s: float = 30.0) -> bool:
        """True once uvicorn is accepting connections; False if it failed or took too long."""
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def requests_served(self) -> int:
        return self._server.server_state.total_requests

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._sock.close()
