"""How a metric is recorded: a `Spec`, a lazily bound backend, and counters summed in-process.

Inside a Ray worker (`ray.is_initialized()`) records go through `ray.util.metrics` to the node's
metrics agent; anywhere else they are dropped. Ray metrics belong to the worker process that
creates them, so each metric binds to its backend on first use in each process.

One Ray record costs 2-7 µs (measured in a worker on this machine), so counters are summed here
and handed over by a daemon thread once per `FLUSH_INTERVAL_S`. Gauges are kept here too and the
same thread records the last value of each one that changed: the filter sets its lag and the
publisher its unconfirmed count per batch, which in a py-spy profile at 300 events/s was 6 % of
the filter's CPU, for values Ray exports only every few seconds anyway. The thread also records
every gauge's last value again every `GAUGE_REFRESH_S`: Ray's agent drops a gauge series that no
export refreshed for two report intervals (~20 s), so a gauge set once would vanish from
Prometheus. Histograms go straight through (Ray has no call that records several observations).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

log = logging.getLogger(__name__)

Kind = Literal["counter", "gauge", "histogram"]
Tags = dict[str, str]
Recorder = Callable[[float, Tags | None], object]
BackendFactory = Callable[["Spec"], Recorder]

# Ray's metrics agent prefixes every application metric with this when it exports it.
EXPORT_PREFIX = "ray_"
FLUSH_INTERVAL_S = 1.0
GAUGE_REFRESH_S = 4.0


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def exported(self) -> str:
        """The name Prometheus stores (Ray's agent adds the prefix; counters keep `_total`)."""
        return EXPORT_PREFIX + self.name


class Metric:
    __slots__ = ("_record", "spec")

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._record: Recorder | None = None

    def record(self, value: float, tags: Tags | None = None) -> None:
        rec = self._record
        if rec is None:
            factory = _backend()
            if factory is None:
                return
            rec = self._record = factory(self.spec)
            if factory is ray_backend:
                _start_ticker()
        rec(value, tags)


SPECS: dict[str, Spec] = {}
_METRICS: list[Metric] = []


def define(
    name: str, kind: Kind, help: str, labels: tuple[str, ...] = (), buckets: Sequence[float] = ()
) -> Metric:
    if name in SPECS:
        raise ValueError(f"metric {name} defined twice")
    spec = Spec(name, kind, help, labels, tuple(buckets))
    SPECS[name] = spec
    metric = Metric(spec)
    _METRICS.append(metric)
    return metric


def ray_backend(spec: Spec) -> Recorder:
    from ray.util import metrics as rm

    if spec.kind == "counter":
        return cast(Recorder, rm.Counter(spec.name, spec.help, tag_keys=spec.labels).inc)
    if spec.kind == "gauge":
        return cast(Recorder, rm.Gauge(spec.name, spec.help, tag_keys=spec.labels).set)
    hist = rm.Histogram(spec.name, spec.help, boundaries=list(spec.buckets), tag_keys=spec.labels)
    return cast(Recorder, hist.observe)


class _State:
    override: BackendFactory | None = None
    ticker: threading.Thread | None = None


def _backend() -> BackendFactory | None:
    if _State.override is not None:
        return _State.override
    ray = sys.modules.get("ray")  # never import Ray here: a process without it has no exporter
    if ray is not None and ray.is_initialized():
        return ray_backend
    return None


def set_backend(factory: BackendFactory | None) -> None:
    """Record through `factory` (tests); None goes back to Ray-if-connected-else-nothing."""
    flush()
    _State.override = factory
    for m in _METRICS:
        m._record = None


lock = threading.Lock()
_pending: dict[tuple[Metric, Any], list[Any]] = {}  # (metric, key) -> [total, tags]
# (metric, key) -> (value, tags, since): with `since`, the value is an age, now - since
_gauges: dict[tuple[Metric, Any], tuple[float, Tags | None, float | None]] = {}
_changed: set[tuple[Metric, Any]] = set()  # gauges set since the last flush
_tag_cache: dict[tuple[str, str], Tags] = {}


def tags(label: str, value: str) -> Tags:
    """One shared dict per (label, value): no allocation per record."""
    t = _tag_cache.get((label, value))
    if t is None:
        t = _tag_cache[(label, value)] = {label: value}
    return t


def add(metric: Metric, n: float, tags: Tags | None = None, key: Any = None) -> None:
    """Add `n` to a counter; `key` identifies the label values (hashable, one per tag set)."""
    if n <= 0:  # Ray refuses 0, and nothing happened anyway
        return
    with lock:
        entry = _pending.get((metric, key))
        if entry is None:
            _pending[(metric, key)] = [n, tags]
        else:
            entry[0] += n


def set_gauge(metric: Metric, value: float, tags: Tags | None = None, key: Any = None) -> None:
    """Set a gauge: the ticker records its last value within `FLUSH_INTERVAL_S`."""
    _put_gauge(metric, key, (value, tags, None))


def set_age(metric: Metric, since: float, tags: Tags | None = None, key: Any = None) -> None:
    """A gauge of seconds since the epoch time `since`; the ticker keeps it growing, so a stage
    whose loop is stuck shows an age that climbs instead of its last cheerful value."""
    _put_gauge(metric, key, (0.0, tags, since))


def _put_gauge(metric: Metric, key: Any, entry: tuple[float, Tags | None, float | None]) -> None:
    with lock:
        _gauges[(metric, key)] = entry
        _changed.add((metric, key))
    if _State.ticker is None:  # gauges are recorded only by the ticker: it must be running
        _start_ticker_if_exported()


def flush() -> None:
    """Hand every summed counter and changed gauge to the backend now (the ticker; tests; or
    before a process stops)."""
    now = time.time()
    with lock:
        items = list(_pending.items())
        _pending.clear()
        gauges = [(m, _gauges[(m, k)]) for m, k in _changed]
        _changed.clear()
    for (metric, _), (total, t) in items:
        metric.record(total, t)
    for metric, (value, t, since) in gauges:
        metric.record(_gauge_value(value, since, now), t)


def _gauge_value(value: float, since: float | None, now: float) -> float:
    return value if since is None else max(0.0, now - since)


def _refresh_gauges() -> None:
    with lock:
        items = list(_gauges.items())
    now = time.time()
    for (metric, _), (value, t, since) in items:
        metric.record(_gauge_value(value, since, now), t)


def _tick() -> None:
    last_refresh = time.monotonic()
    while True:
        time.sleep(FLUSH_INTERVAL_S)
        try:
            flush()
            if time.monotonic() - last_refresh >= GAUGE_REFRESH_S:
                last_refresh = time.monotonic()
                _refresh_gauges()
        except Exception:  # metrics must never take a worker down; try again next tick
            log.exception("metrics flush failed")


def _start_ticker_if_exported() -> None:
    if _backend() is ray_backend:
        _start_ticker()


def _start_ticker() -> None:
    with lock:
        if _State.ticker is None:
            _State.ticker = threading.Thread(target=_tick, name="edp-metrics", daemon=True)
            _State.ticker.start()


def bounded(value: str, allowed: Sequence[str], fallback: str = "other") -> str:
    return value if value in allowed else fallback
