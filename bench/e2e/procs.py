"""CPU seconds and memory of each platform component while the benchmark runs.

Components are found two ways: the pid files under .local/run/ (with their descendants), and
the command lines of the processes: Ray sets worker titles to `ray::<ActorClass>[.method]`, so
`ray::PartitionFilter`, `ray::DeliveryWorker`, `ray::ApiServer` and `ray::RuleCache` are told
apart without asking Ray. Only the Ray processes of the local cluster (GCS port 6380) count,
not the throwaway clusters other people's tests start on the same machine.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)

_RAY_TITLE = re.compile(r"ray::([A-Za-z_]\w*)")
_JOB = re.compile(r"-m jobs\.(\w+)")
_RAY_SYSTEM = ("raylet", "gcs_server")
_RAY_SYSTEM_SCRIPTS = ("ray/dashboard", "ray/_private", "ray/autoscaler", "ray/util/client")
MB = 1024 * 1024


def group_of(cmdline: str, name: str) -> str | None:
    """The component a process belongs to, from its command line and name; None if not ours."""
    if cmdline.startswith("ray::"):
        m = _RAY_TITLE.match(cmdline)
        return f"ray::{m.group(1)}" if m else "ray::other"
    if name in _RAY_SYSTEM or any(s in cmdline for s in _RAY_SYSTEM_SCRIPTS):
        return "ray-system"
    if "kafka.Kafka" in cmdline:
        return "kafka"
    if name in ("beam.smp", "epmd", "erl_child_setup", "inet_gethost"):
        return "rabbitmq"  # the only Erlang system on the machine
    if "ferretdb" in name or "ferretdb-edp" in cmdline:
        return "ferretdb"
    if m := _JOB.search(cmdline):
        return f"job:{m.group(1)}"  # `ray job submit` drivers (python -m jobs.<name>)
    if "testkit.receiver" in cmdline:
        return "receivers"
    if name == "prometheus":
        return "prometheus"
    return None


def is_ray(group: str) -> bool:
    return group.startswith("ray::") or group == "ray-system"


def pid_files(run_dir: Path) -> dict[int, str]:
    """pid -> component name (the file's stem) from .local/run/*.pid; unreadable files skipped."""
    out: dict[int, str] = {}
    for f in sorted(run_dir.glob("*.pid")) if run_dir.is_dir() else ():
        try:
            out[int(f.read_text().split()[0])] = f.stem
        except (OSError, ValueError, IndexError):
            continue
    return out


@dataclass(slots=True)
class _Proc:
    group: str
    proc: psutil.Process
    cpu0: float  # cpu seconds when first seen (0 for a process born during the run)
    cpu1: float = 0.0
    rss: int = 0


@dataclass(slots=True)
class ResourceSampler:
    """Background thread: every `interval_s`, finds the components' processes and samples them.

    `start()` before the load, `stop()` after the drain; `report()` then gives per component
    `cpu_s` (user + system over the window), `cpu_pct` of one core, `rss_mb_peak`, `processes`.
    """

    run_dir: Path = Path(".local/run")
    interval_s: float = 1.0
    gcs_port: int = 6380
    started: float = 0.0
    stopped: float = 0.0
    procs: dict[int, _Proc] = field(default_factory=dict)
    peak_rss: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self.started = time.time()
        self._scan(first=True)
        self._thread = threading.Thread(target=self._loop, name="resource-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._scan(first=False)
        self.stopped = time.time()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._scan(first=False)
            except Exception:  # a sampler must never take the benchmark down
                log.exception("resource sample failed")

    def _cluster_roots(self, procs: Iterable[psutil.Process]) -> set[int]:
        """The local cluster's system processes: their command lines name its GCS port."""
        port = re.compile(rf"[:=]{self.gcs_port}\b")  # --gcs-address=host:6380, --gcs_server_port=6380
        roots = set()
        for p in procs:
            try:
                cmd = " ".join(p.cmdline())
                if group_of(cmd, p.name()) == "ray-system" and port.search(cmd):
                    roots.add(p.pid)
            except psutil.Error:
                continue
        return roots

    def _scan(self, *, first: bool) -> None:
        me = os.getpid()
        all_procs = [p for p in psutil.process_iter() if p.pid != me]
        roots = self._cluster_roots(all_procs)
        from_files = pid_files(self.run_dir)
        file_tree: dict[int, str] = {}
        for pid, stem in from_files.items():
            try:
                root = psutil.Process(pid)
                file_tree[pid] = stem
                for child in root.children(recursive=True):
                    file_tree.setdefault(child.pid, stem)
            except psutil.Error:
                continue
        rss_now: dict[str, int] = {}
        for p in all_procs:
            try:
                group = group_of(" ".join(p.cmdline()), p.name()) or file_tree.get(p.pid)
                if group is None or (is_ray(group) and roots and not self._under(p, roots)):
                    continue
                cpu = p.cpu_times()
                rss = p.memory_info().rss
                born_after = p.create_time() > self.started
            except psutil.Error:
                continue
            seconds = cpu.user + cpu.system
            known = self.procs.get(p.pid)
            if known is None:
                known = _Proc(group, p, cpu0=0.0 if (born_after and not first) else seconds)
                self.procs[p.pid] = known
            known.cpu1, known.rss = seconds, rss
            rss_now[group] = rss_now.get(group, 0) + rss
        for group, rss in rss_now.items():
            self.peak_rss[group] = max(self.peak_rss.get(group, 0), rss)

    @staticmethod
    def _under(p: psutil.Process, roots: set[int]) -> bool:
        if p.pid in roots:
            return True
        try:
            return any(a.pid in roots for a in p.parents())
        except psutil.Error:
            return False

    def report(self) -> dict[str, dict[str, Any]]:
        wall = max(self.stopped - self.started, 1e-9)
        out: dict[str, dict[str, Any]] = {}
        for known in self.procs.values():
            g = out.setdefault(known.group, {"cpu_s": 0.0, "processes": 0})
            g["cpu_s"] += max(0.0, known.cpu1 - known.cpu0)
            g["processes"] += 1
        for group, g in out.items():
            g["cpu_pct"] = 100.0 * g["cpu_s"] / wall
            g["rss_mb_peak"] = self.peak_rss.get(group, 0) / MB
        return dict(sorted(out.items(), key=lambda kv: -float(kv[1]["cpu_s"])))


def self_usage() -> dict[str, float]:
    """This process's own CPU seconds and RSS: the load generator competes for the same cores."""
    p = psutil.Process()
    cpu = p.cpu_times()
    return {"cpu_s": cpu.user + cpu.system, "rss_mb": p.memory_info().rss / MB}
