"""The failures the chaos suite injects, one per scenario.

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

from bench.receiver.runner import ReceiversThread
from bench.receiver.state import Mode

ROOT = Path(__file__).resolve().parents[2]
SERVICE_SH = ROOT / "infra" / "local" / "service.sh"


@dataclass
class Target:
    """What a fault can reach: the running pipeline, the receivers, the port that misbehaves."""

    supervisor: Any
    receivers: ReceiversThread
    victim_port: int
    lock: Path | None  # the shared-services lock to hold exclusively while a service is down


Fault = Callable[[Target], None]


@contextmanager
def exclusive(lock: Path | None) -> Iterator[None]:
    """Hold the shared-services lock exclusively (others' tests take it shared) while we stop one."""
    if lock is None:
        yield
        return
    with lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def kill_actor(role: str) -> Fault:
    """SIGKILL-like death of one actor; Ray restarts it (max_restarts=-1) with the same arguments."""

    def fault(t: Target) -> None:
        handle = t.supervisor.handles()[role]
        ray.kill(handle[0] if isinstance(handle, list) else handle, no_restart=False)

    return fault


def restart_service(service: str, down_s: float = 2.0) -> Fault:
    def fault(t: Target) -> None:
        with exclusive(t.lock):
            _service("restart", service, str(down_s))

    return fault


def rule_cache_without_mongo(down_s: float = 35.0) -> Fault:
    """The rule cache dies while MongoDB is down, and stays without rules longer than its 30 s
    wait for a first load: the filters must hold on to their rules (or wait), never match with
    an empty set and commit past events they did not publish."""

    def fault(t: Target) -> None:
        with exclusive(t.lock):
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
