"""Platform metrics: one small call per batch or per delivery, from every stage.

    from adapters import metrics
    metrics.filter_batch(events=500, matches=812, invalid=0, derived=500, seconds=0.04)
    metrics.delivery_attempt("retry", 0.12, status=503)

Every metric is defined in `catalog.py`. Inside a Ray worker they go through `ray.util.metrics` to
the node's metrics agent, and Prometheus finds every node's agent through Ray's service-discovery
file, so a many-node cluster needs no extra configuration. Ray's agent prefixes each name with
`ray_`: `edp_filter_events_total` is stored as `ray_edp_filter_events_total` (`Spec.exported`).
Outside Ray (unit tests, scripts) every call is a no-op. Counters are summed in-process and handed
to Ray about once a second; call `flush()` before a process stops on purpose.
"""

from __future__ import annotations

import time
from datetime import datetime

from .asgi import IngestHooks, IngestMetricsMiddleware, ingest_events, ingest_request
from .catalog import (
    DEAD_LETTER_DEPTH,
    DEAD_LETTERS,
    DELIVERY_ATTEMPTS,
    DELIVERY_CIRCUITS_OPEN,
    DELIVERY_FAILURES,
    DELIVERY_IN_FLIGHT,
    DELIVERY_LATENCY,
    END_TO_END,
    FAILURE_KINDS,
    FILTER_BATCH,
    FILTER_DERIVED,
    FILTER_EVENTS,
    FILTER_INVALID,
    FILTER_MATCHES,
    OUTCOMES,
    PUBLISH_CONFIRM,
    PUBLISH_UNCONFIRMED,
    RESTARTS,
    RETRIES_SCHEDULED,
    RULES_AGE,
    RULES_VERSION,
    RULES_WEBHOOKS,
    STAGES,
)
from .probes import filter_lag, partition_lag, queue_depth, set_lag
from .registry import SPECS, Spec, add, bounded, flush, lock, set_age, set_backend, set_gauge, tags

__all__ = [
    "SPECS",
    "IngestHooks",
    "IngestMetricsMiddleware",
    "Spec",
    "dead_letter_depth",
    "dead_lettered",
    "delivered",
    "delivery_attempt",
    "delivery_state",
    "end_to_end",
    "event_age_s",
    "failure_kind",
    "filter_batch",
    "filter_lag",
    "flush",
    "ingest_events",
    "ingest_request",
    "partition_lag",
    "publishing",
    "queue_depth",
    "restarted",
    "retry_scheduled",
    "rules",
    "set_backend",
    "set_lag",
]


# -- filter -----------------------------------------------------------------------------------
def filter_batch(*, events: int, matches: int, invalid: int = 0, derived: int = 0, seconds: float) -> None:
    """One batch committed: records read, tasks published, records skipped, derived copies."""
    add(FILTER_EVENTS, events)
    add(FILTER_MATCHES, matches)
    add(FILTER_INVALID, invalid)
    add(FILTER_DERIVED, derived)
    FILTER_BATCH.record(seconds)


class _Unconfirmed:
    n = 0


class publishing:
    """Around a confirmed publish of `n` messages: the unconfirmed gauge, and the time until every
    confirm is in (observed only when the publish succeeded)."""

    __slots__ = ("_n", "_started")

    def __init__(self, n: int) -> None:
        self._n = n
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()
        with lock:
            _Unconfirmed.n += self._n
            now = _Unconfirmed.n
        set_gauge(PUBLISH_UNCONFIRMED, now)

    def __exit__(self, exc_type: object, *_: object) -> None:
        with lock:
            _Unconfirmed.n -= self._n
            now = _Unconfirmed.n
        set_gauge(PUBLISH_UNCONFIRMED, now)
        if self._n and exc_type is None:
            PUBLISH_CONFIRM.record(time.perf_counter() - self._started)


# -- delivery ---------------------------------------------------------------------------------
def failure_kind(status: int | None, error: str | None) -> str:
    """A bounded cause for a failed attempt, from `core.delivery.HttpResult`'s status and error."""
    if status is not None:
        if status == 429:
            return "http_429"
        return f"http_{status // 100}xx" if 300 <= status < 600 else "other"
    return bounded(error or "other", FAILURE_KINDS)


def delivery_attempt(
    outcome: str, seconds: float | None = None, status: int | None = None, error: str | None = None
) -> None:
    """One message handled. `outcome` is one of OUTCOMES; `seconds` only when an HTTP attempt was
    made; `status`/`error` (the HTTP result, or "webhook_gone"...) classify a non-success."""
    outcome = bounded(outcome, OUTCOMES)
    t = tags("outcome", outcome)
    add(DELIVERY_ATTEMPTS, 1, t, outcome)
    if seconds is not None:
        DELIVERY_LATENCY.record(seconds, t)
    if outcome != "success" and (status is not None or error is not None):
        kind = failure_kind(status, error)
        add(DELIVERY_FAILURES, 1, tags("kind", kind), kind)


def end_to_end(seconds: float) -> None:
    END_TO_END.record(max(0.0, seconds))


def event_age_s(timestamp: str, now: float) -> float | None:
    """`now` minus an event's RFC 3339 timestamp; None if it does not parse."""
    try:
        return now - datetime.fromisoformat(timestamp).timestamp()
    except (TypeError, ValueError):
        return None


def delivered(event_timestamp: str, now: float | None = None) -> None:
    """The receiver answered 2xx: observe the event's end-to-end time."""
    age = event_age_s(event_timestamp, time.time() if now is None else now)
    if age is not None:
        end_to_end(age)


def delivery_state(*, in_flight: int, circuits_open: int) -> None:
    set_gauge(DELIVERY_IN_FLIGHT, in_flight)
    set_gauge(DELIVERY_CIRCUITS_OPEN, circuits_open)


def retry_scheduled(n: int = 1) -> None:
    add(RETRIES_SCHEDULED, n)


def dead_lettered(n: int = 1) -> None:
    add(DEAD_LETTERS, n)


def dead_letter_depth(n: int) -> None:
    set_gauge(DEAD_LETTER_DEPTH, n)


# -- rules and lifecycle ----------------------------------------------------------------------
def rules(stage: str, *, version: int, refreshed_at: float, webhooks: int) -> None:
    """The rule snapshot a stage holds; `refreshed_at` (epoch seconds) is when it was last known
    current, and `edp_rules_age_seconds` keeps counting from there until the next call."""
    stage = bounded(stage, STAGES)
    t = tags("stage", stage)
    set_gauge(RULES_VERSION, version, t, stage)
    set_age(RULES_AGE, refreshed_at, t, stage)
    set_gauge(RULES_WEBHOOKS, webhooks, t, stage)


def restarted(stage: str) -> None:
    stage = bounded(stage, STAGES)
    add(RESTARTS, 1, tags("stage", stage), stage)
