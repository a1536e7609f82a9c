"""What the machine itself did during a benchmark run, so figures from different days compare.

On the shared 2-core machines this project is measured on, the hypervisor takes CPU away
("steal" in /proc/stat): on 2026-12-02 it took 8-35 % of the machine while the platform idled,
and back-to-back runs with no change in between spent 2.2-3.1 ms of CPU per delivery. A run's
deliveries/s means little without the machine's busy and steal shares beside it, and a fixed
piece of Python timed just before the run (`calibrate`) shows how fast a core was that day.
"""

from __future__ import annotations

import time
import timeit
from dataclasses import dataclass
from typing import Any

import psutil

# The same statement as `python3 -m timeit -n 20 "sum(range(10**6))"`: 17-24 ms here on 2026-12-02.
_CALIBRATION_STMT = "sum(range(10**6))"


def calibrate(repeat: int = 5, number: int = 5) -> float:
    """Milliseconds for one `sum(range(10**6))`, the best of `repeat` (best: the least disturbed)."""
    best = min(timeit.repeat(_CALIBRATION_STMT, repeat=repeat, number=number))
    return round(1000.0 * best / number, 2)


@dataclass(frozen=True, slots=True)
class CpuShares:
    """The whole machine over a window: every core's time split as /proc/stat splits it."""

    wall_s: float
    busy_s: float  # user + nice + system + irq + softirq: work done on this machine
    steal_s: float  # time the hypervisor gave our cores to someone else
    idle_s: float  # idle + iowait

    @property
    def total_s(self) -> float:
        return self.busy_s + self.steal_s + self.idle_s

    def as_dict(self, deliveries: int) -> dict[str, Any]:
        total = self.total_s or 1e-9
        return {
            "wall_s": round(self.wall_s, 2),
            "busy_pct": round(100.0 * self.busy_s / total, 1),
            "steal_pct": round(100.0 * self.steal_s / total, 1),
            # Everything that ran here, the harness's load generator and receiver included.
            "cpu_ms_per_delivery": round(1000.0 * self.busy_s / deliveries, 3) if deliveries else None,
        }


def shares_between(before: Any, after: Any, wall_s: float) -> CpuShares:
    """Turn two `psutil.cpu_times()` snapshots into the window's `CpuShares`."""

    def delta(name: str) -> float:
        return max(0.0, float(getattr(after, name, 0.0)) - float(getattr(before, name, 0.0)))

    busy = sum(delta(n) for n in ("user", "nice", "system", "irq", "softirq"))
    idle = delta("idle") + delta("iowait")
    return CpuShares(wall_s=wall_s, busy_s=busy, steal_s=delta("steal"), idle_s=idle)


class CpuWindow:
    """The machine's CPU between `start()` and `stop()` (or over a `with` block): `shares`."""

    shares: CpuShares

    def start(self) -> CpuWindow:
        self._t0 = time.monotonic()
        self._before = psutil.cpu_times()
        return self

    def stop(self) -> CpuShares:
        self.shares = shares_between(self._before, psutil.cpu_times(), time.monotonic() - self._t0)
        return self.shares

    def __enter__(self) -> CpuWindow:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
