"""The failures the chaos suite injects, one per scenario.

Faults that stop a shared service run inside a scenario that holds the shared-services lock
exclusively from before its load starts (Scenario.stops_services), so the fault lands under load
at its planned time instead of after a wait for the lock.

A fault runs in the harness's main thread while the load keeps flowing, and returns once the
fault is over: at once for a killed actor (Ray and the supervisor heal it), when the service
answers again for a restart, at the end of the window for a misbehaving receiver. The time it
returns is "the fault cleared" in the report.
"""

from __future__ import annotations

import fcntl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from testkit.receiver.runner import ReceiversThread
from testkit.receiver.state import Mode

ROOT = Path(__file__).resolve().parents[2]
SERVICE_SH = ROOT / "infra" / "local" / "service.sh"


@dataclass
class Target:
    """What a fault can reach: the running pipeline, the receivers, the port that misbehaves."""

    supervisor: Any
    receivers: ReceiversThread
    victim_port: int


Fault = Callable[[Target], None]


class ServicesLock:
    """The shared-services lock (/tmp/edp-services.lock): held shared while the scenarios only use
    the services, converted to exclusive while one is stopped. Where the session's turnstile
    exists, it is taken first so a stream of shared holders cannot starve the conversion."""

    TURNSTILE = Path("/tmp/edp-turnstile.lock")

    def __init__(self, path: Path) -> None:
        self._file = path.open("a")
        fcntl.flock(self._file, fcntl.LOCK_SH)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        turnstile = self.TURNSTILE.open("a") if self.TURNSTILE.exists() else None
        try:
            if turnstile is not None:
                fcntl.flock(turnstile, fcntl.LOCK_EX)
            fcntl.flock(self._file, fcntl.LOCK_EX)
        finally:
            if turnstile is not None:
                turnstile.close()
        try:
            yield
        finally:
            fcntl.flock(self._file, fcntl.LOCK_SH)

    def close(self) -> None:
        self._file.close()


@contextmanager
def exclusive(lock: ServicesLock | None) -> Iterator[None]:
    if lock is None:
        yield
    else:
        with lock.exclusive():
            yield


def kill_actor(role: str) -> Fault:
    """SIGKILL-like death of one actor; Ray restarts it (max_restarts=-1) with the same arguments."""

    def fault(t: Target) -> None:
        handle = t.supervisor.handles()[role]
        ray.kill(handle[0] if isinstance(handle, list) else handle, no_restart=False)

    return fault


def restart_service(service: str, down_s: float = 2.0) -> Fault:
    def fault(_t: Target) -> None:
        _service("restart", service, str(down_s))

    return fault


def rule_cache_without_mongo(down_s: float = 35.0) -> Fault:
    """The rule cache dies while MongoDB is down, and stays without rules longer than its 30 s
    wait for a first load: the filters must hold on to their rules (or wait), never match with
    an empty set and commit past events they did not publish."""

    def fault(t: Target) -> None:
        _service("stop", "ferretdb")
        try:
            kill_actor("rules")(t)
            time.sleep(down_s)
        finally:
            _service("start", "ferretdb")

    return fault


def _service(action: str, service: str, *args: str) -> None:
    subprocess.run(
        ["bash", str(SERVICE_SH), action, service, *args],
        check=True,
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )


def receiver(window_s: float, **mode: Any) -> Fault:
    """The victim port misbehaves for `window_s` seconds, then answers 2xx again by itself."""

    def fault(t: Target) -> None:
        until = time.time() + window_s
        t.receivers.receivers.states[t.victim_port].mode = Mode(fail_until=until, **mode)
        time.sleep(max(0.0, until - time.time()))

    return fault
