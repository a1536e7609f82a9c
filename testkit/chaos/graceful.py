"""Graceful shutdown (issue 8, item 3): `make down` under load, then `make run`; nothing lost.

Runs against the real platform on 127.0.0.1:8000 (started with `make run` first if it is not
up). An org of its own is created with the admin key from .local/admin-key, with one webhook to
a receiver in this process, so the count survives `make down` (which also stops the sample
receivers). The load goes through the ingest API; an event is expected once the API answered
202 (Kafka has it). While the platform is down the API refuses, and those events are counted as
not accepted, not as lost. `make down` and `make run` hold the shared-services lock exclusively.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
import uuid
from typing import Any

import requests

from core.ids import delivery_id
from testkit.chaos.faults import ROOT, ServicesLock, exclusive
from testkit.chaos.harness import Result, Timing, longest_pause, seen
from testkit.pipeline import wait_until
from testkit.receiver.runner import ReceiversThread

log = logging.getLogger(__name__)

API = "http://127.0.0.1:8000"
NAME = "graceful shutdown (make down, make run)"


class ApiLoad(threading.Thread):
    """POST /v1/events at a steady rate until told to stop; keeps the ids the API accepted."""

    def __init__(self, key: str, rate: float) -> None:
        super().__init__(name="chaos-api-load", daemon=True)
        self._key = key
        self._rate = rate
        self.stop_event = threading.Event()
        self.accepted: dict[str, float] = {}  # event id -> sent at (epoch s)
        self.refused = 0

    def run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self._key}"
        start = time.monotonic()
        i = 0
        while not self.stop_event.is_set():
            pause = start + i / self._rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            sent = time.time()
            try:
                r = session.post(
                    f"{API}/v1/events", json={"type": "chaos.graceful", "data": {"i": i}}, timeout=5
                )
                if r.status_code == 202:
                    self.accepted[r.json()["id"]] = sent
                else:
                    self.refused += 1
            except requests.RequestException:
                self.refused += 1
                session.close()  # a fresh connection once the API is back
            i += 1


def api_up() -> bool:
    try:
        return requests.get(f"{API}/healthz", timeout=2).ok
    except requests.RequestException:
        return False


def make(target: str, timeout: float = 600) -> None:
    log.info("make %s", target)
    done = subprocess.run(
        ["make", target], check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"make {target} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")


def _setup(port_url: str) -> tuple[str, str, str]:
    """A fresh org and one webhook to our receiver: (api key, webhook id, signing secret)."""
    admin = (ROOT / ".local" / "admin-key").read_text().strip()
    r = requests.post(
        f"{API}/v1/orgs",
        json={"name": f"chaos-{uuid.uuid4().hex[:8]}"},
        headers={"Authorization": f"Bearer {admin}"},
        timeout=10,
    )
    r.raise_for_status()
    key = r.json()["api_key"]
    r = requests.post(
        f"{API}/v1/webhooks",
        json={"url": port_url, "event_types": ["chaos.*"], "description": "chaos suite"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    r.raise_for_status()
    doc: dict[str, Any] = r.json()
    return key, doc["id"], doc["secret"]


def _await_rule(key: str, recv: ReceiversThread, timeout: float = 60) -> None:
    """Probe until the new webhook is live. The org's events all go to one partition (key = org),
    hence one filter, whose snapshot only moves forward: every event after the first delivered
    probe is matched against the webhook."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {key}"}
    while not seen(recv)[0]:
        if time.monotonic() > deadline:
            raise RuntimeError("the new webhook never received a delivery")
        requests.post(
            f"{API}/v1/events", json={"type": "chaos.probe", "data": {}}, headers=headers, timeout=5
        )
        time.sleep(0.2)
    time.sleep(1.0)  # the last probes arrive too, before the receiver's count starts
    for state in recv.receivers.states.values():
        state.reset()


def run(timing: Timing, lock: ServicesLock | None, settle_s: float = 10.0) -> Result:
    was_up = api_up()
    if not was_up:
        with exclusive(lock):
            make("run")
    try:
        with ReceiversThread([0]) as recv:
            port = recv.ports[0]
            key, webhook, secret = _setup(recv.receivers.url(port, "/hook"))
            recv.receivers.states[port].set_secrets([secret])
            _await_rule(key, recv)
            load = ApiLoad(key, timing.rate)
            load.start()
            time.sleep(timing.inject_at_s)
            injected = time.time()
            with exclusive(lock):
                make("down")
                down_s = time.time() - injected
                make("run")
            cleared = time.time()
            time.sleep(settle_s)
            load.stop_event.set()
            load.join()
            load_ended = time.time()
            expected = {delivery_id(e, webhook): at for e, at in load.accepted.items()}
            wait_until(lambda: seen(recv)[0].keys() >= expected.keys(), timing.drain_timeout_s, 0.5)
            time.sleep(1.0)
            first, dups = seen(recv)
    finally:
        if not was_up:  # leave the platform as we found it (the services stay up)
            with exclusive(lock):
                for script in ("receivers.sh", "ray.sh"):
                    subprocess.run(["bash", f"infra/local/{script}", "stop"], cwd=ROOT, check=False)
    got = expected.keys() & first.keys()
    backlog = [first.get(d) for d, at in expected.items() if at <= cleared]
    complete = [b for b in backlog if b is not None]
    log.info("make down took %.1fs", down_s)
    return Result(
        name=NAME,
        expected=len(expected),
        received=len(got),
        lost=len(expected) - len(got),
        duplicates=dups,
        recovery_s=round(max(complete) - injected, 2) if complete and len(complete) == len(backlog) else None,
        stall_s=longest_pause(first.values(), injected, load_ended),
        fault_s=round(cleared - injected, 2),
        events=len(load.accepted),
        not_accepted=load.refused,
        extra=len(first.keys() - expected.keys()),
    )
