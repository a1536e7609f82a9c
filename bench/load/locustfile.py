"""The proof of concept's load scenario for locust (k6's twin: bench/k6/send_events.js).

    locust -f bench/load/locustfile.py --headless --host http://127.0.0.1:8000

Environment (the driver, `python -m bench.load.send_events`, sets them):
  EDP_API_KEY      the org's API key (required)
  EDP_LOAD_MODE    ramp (default): users grow linearly to EDP_LOAD_USERS over EDP_LOAD_RAMP_S
                   seconds, each posting an event then sleeping 1 s (the PoC: 1000 users, 240 s);
                   rate: EDP_LOAD_USERS users at a fixed total of EDP_LOAD_RATE requests/s for
                   EDP_LOAD_DURATION_S seconds. Locust is a closed model: when the server slows
                   down, so does the load. For honest fixed-rate latency use bench.load.open_loop.
  EDP_LOAD_BATCH   events per request (default 1; more uses POST /v1/events/batch)
"""

from __future__ import annotations

import os
import random
from typing import Any

import locust.stats
from locust import HttpUser, LoadTestShape, constant, constant_throughput, task

from bench.load import payload
from bench.load.shape import ramp_users
from bench.load.target import require_loopback


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


MODE = os.environ.get("EDP_LOAD_MODE", "ramp")
USERS = int(_env_float("EDP_LOAD_USERS", 1000))
RAMP_S = _env_float("EDP_LOAD_RAMP_S", 240)
RATE = _env_float("EDP_LOAD_RATE", 100)
DURATION_S = _env_float("EDP_LOAD_DURATION_S", 30)
BATCH = max(1, int(_env_float("EDP_LOAD_BATCH", 1)))

# The driver prints progress from the history CSV; locust's default flushes it every 5 s.
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1


class EventSender(HttpUser):
    """Posts one event (or batch), then waits: 1 s in ramp mode, a fixed pace in rate mode."""

    wait_time = constant(1) if MODE == "ramp" else constant_throughput(RATE / max(USERS, 1))

    def on_start(self) -> None:
        require_loopback(self.host or "")
        self.client.trust_env = False  # loopback only: never through a proxy from the environment
        key = os.environ.get("EDP_API_KEY", "")
        if not key:
            raise RuntimeError("EDP_API_KEY is not set")
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.rng = random.Random()
        self.n = 0

    @task
    def send(self) -> None:
        events: list[dict[str, Any]] = [payload.event(self.rng, self.n + j) for j in range(BATCH)]
        self.n += BATCH
        name = payload.path(BATCH)
        with self.client.post(
            name, data=payload.body(events), headers=self.headers, name=name, catch_response=True
        ) as resp:
            if resp.status_code != 202:
                resp.failure(f"status {resp.status_code}")


class Shape(LoadTestShape):
    """Ramp mode: the PoC's linear ramp; rate mode: all users at once, for the duration."""

    def tick(self) -> tuple[int, float] | None:
        t: float = self.get_run_time()  # type: ignore[no-untyped-call]
        if MODE == "rate":
            return (USERS, float(USERS)) if t < DURATION_S else None
        users = ramp_users(t, USERS, RAMP_S)
        return None if users is None else (users, max(1.0, USERS / RAMP_S * 2))
