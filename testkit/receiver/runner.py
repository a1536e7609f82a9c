"""Run receivers in-process: on the current event loop, or in a thread with a loop of its own.

Port 0 asks the OS for a free port; `Receivers.ports` then holds the ports actually bound, in
the order asked for. Tests use this rather than guessing free ports, which races.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import web

from testkit.receiver.app import build_app
from testkit.receiver.state import PortState

# Hung handlers would otherwise hold a shutdown for aiohttp's default 60 s.
SHUTDOWN_TIMEOUT_S = 0.5


@dataclass
class Receivers:
    host: str
    states: dict[int, PortState]
    ports: list[int]
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)

    @property
    def urls(self) -> list[str]:
        return [self.url(p) for p in self.ports]

    def url(self, port: int, path: str = "/") -> str:
        return f"http://{self.host}:{port}{path}"

    async def stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()


async def start_receivers(
    ports: Sequence[int],
    host: str = "127.0.0.1",
    secrets: Iterable[str] = (),
    *,
    reject_invalid: bool = True,
    ring_size: int = 10_000,
) -> Receivers:
    """Bind one aiohttp app per port on the running loop; undo everything if one bind fails."""
    secrets = list(secrets)
    receivers = Receivers(host=host, states={}, ports=[])
    try:
        for wanted in ports:
            state = PortState(wanted, secrets, reject_invalid=reject_invalid, ring_size=ring_size)
            runner = web.AppRunner(
                build_app(state),
                access_log=None,
                handler_cancellation=True,  # a hung handler ends when its client gives up
                shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            )
            await runner.setup()
            receivers._runners.append(runner)
            site = web.TCPSite(runner, host, wanted, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
            await site.start()
            bound = _bound_port(runner)
            state.port = bound
            receivers.states[bound] = state
            receivers.ports.append(bound)
    except BaseException:
        await receivers.stop()
        raise
    return receivers


def _bound_port(runner: web.AppRunner) -> int:
    for addr in runner.addresses:
        if isinstance(addr, tuple):
            return int(addr[1])
    raise RuntimeError("receiver did not bind a TCP port")


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free right now. Prefer port 0 with start_receivers; this is for subprocesses."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is pinned, but the receiver works without
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class ReceiversThread:
    """Receivers on a background thread with their own loop, for synchronous (e2e) tests."""

    def __init__(
        self,
        ports: Sequence[int],
        host: str = "127.0.0.1",
        secrets: Iterable[str] = (),
        *,
        reject_invalid: bool = True,
        ring_size: int = 10_000,
    ) -> None:
        self._args = (list(ports), host, list(secrets), reject_invalid, ring_size)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._receivers: Receivers | None = None

    @property
    def receivers(self) -> Receivers:
        if self._receivers is None:
            raise RuntimeError("ReceiversThread is not started")
        return self._receivers

    @property
    def ports(self) -> list[int]:
        return self.receivers.ports

    @property
    def urls(self) -> list[str]:
        return self.receivers.urls

    def start(self, timeout_s: float = 10.0) -> ReceiversThread:
        started: concurrent.futures.Future[Receivers] = concurrent.futures.Future()
        loop = self._loop = new_event_loop()
        ports, host, secrets, reject, ring = self._args

        def run() -> None:
            asyncio.set_event_loop(loop)
            task = loop.create_task(
                start_receivers(ports, host, secrets, reject_invalid=reject, ring_size=ring)
            )
            task.add_done_callback(lambda t: _settle(started, t))
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="receivers", daemon=True)
        self._thread.start()
        try:
            self._receivers = started.result(timeout_s)
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout_s)
            raise
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        loop, thread, receivers = self._loop, self._thread, self._receivers
        if loop is None or thread is None:
            return
        if receivers is not None:
            asyncio.run_coroutine_threadsafe(receivers.stop(), loop).result(timeout_s)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout_s)
        self._loop = self._thread = self._receivers = None

    def __enter__(self) -> ReceiversThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _settle(fut: concurrent.futures.Future[Receivers], task: asyncio.Task[Receivers]) -> None:
    if task.cancelled():
        fut.cancel()
    elif (exc := task.exception()) is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(task.result())
