"""What one receiver port remembers, and the failure mode it was told to play.

Each port stands for a different customer endpoint, so every count, record and mode is per
port. Only deliveries answered 2xx count as received: a retry after an injected 503 is the
platform doing its job, not a duplicate. Every request, whatever it was answered, is also kept
as a call (arrival time, path, webhook-id, status) and counted in flight while its handler runs,
per port and per path: what the isolation tests hold the sender's limits against.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

import orjson

from testkit.receiver.signature import Verdict, decode_secret

OUTCOMES = ("verified", "unverified", "invalid", "rejected", "failed")
DEFAULT_FAIL_STATUS = 503


class DeliveryRecord(TypedDict):
    webhook_id: str | None
    event_id: str | None
    type: str | None
    org: str | None
    received_at: float
    path: str
    verdict: Verdict
    headers: dict[str, str]
    body_size: int
    body: str


class CallRecord(TypedDict):
    at: float  # arrival, time.time() on the receiver
    path: str
    webhook_id: str | None
    status: int  # what the request was (or, for a hang, would have been) answered
    sequence: int | None  # the webhook-sequence header of an ordered delivery


class ConcurrencyDoc(TypedDict):
    in_flight: int
    max_in_flight: int


class PortConcurrencyDoc(ConcurrencyDoc):
    paths: dict[str, ConcurrencyDoc]


class ModeDoc(TypedDict, total=False):
    status: int
    retry_after: str
    fail_count: int
    fail_for_s: float
    hang: bool
    delay_ms: float


class StatsDoc(TypedDict):
    port: int
    requests: int
    received: int
    unique: int
    duplicates: int
    verified: int
    invalid: int
    unverified: int
    rejected: int
    failed_responses: int
    in_flight: int
    max_in_flight: int
    mode: ModeDoc


@dataclass(slots=True)
class Mode:
    """A failure to inject. `fail_count` and `fail_for_s` bound it; with both, the first to run
    out ends it. Either bound alone means "fail with 503". Once spent, the port is healthy."""

    status: int | None = None
    retry_after: str | None = None
    fail_count: int | None = None
    fail_until: float | None = None
    hang: bool = False
    delay_ms: float = 0.0

    @classmethod
    def parse(cls, doc: Mapping[str, Any], now: float) -> Mode:
        unknown = set(doc) - set(ModeDoc.__annotations__)
        if unknown:
            raise ValueError(f"unknown mode fields: {sorted(unknown)}")
        status = doc.get("status")
        if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
            raise ValueError("status must be an HTTP status code")
        count = doc.get("fail_count")
        if count is not None and not (isinstance(count, int) and count >= 0):
            raise ValueError("fail_count must be an integer >= 0")
        for_s = doc.get("fail_for_s")
        if for_s is not None and not (isinstance(for_s, int | float) and for_s >= 0):
            raise ValueError("fail_for_s must be a number >= 0")
        delay = doc.get("delay_ms", 0) or 0
        if not (isinstance(delay, int | float) and delay >= 0):
            raise ValueError("delay_ms must be a number >= 0")
        retry_after = doc.get("retry_after")
        return cls(
            status=status,
            retry_after=None if retry_after is None else str(retry_after),
            fail_count=count,
            fail_until=None if for_s is None else now + float(for_s),
            hang=bool(doc.get("hang", False)),
            delay_ms=float(delay),
        )

    @property
    def success_status(self) -> int:
        return self.status if self.status is not None and 200 <= self.status < 300 else 200

    def take_failure(self, now: float) -> int | None:
        """The status to fail this request with, or None to answer normally."""
        injected = self.hang or (self.status is not None and self.status >= 300)
        if not (injected or self.fail_count is not None or self.fail_until is not None):
            return None
        if self.fail_until is not None and now >= self.fail_until:
            return None
        if self.fail_count is not None:
            if self.fail_count <= 0:
                return None
            self.fail_count -= 1
        status = self.status if self.status is not None and self.status >= 300 else DEFAULT_FAIL_STATUS
        return status

    def describe(self, now: float) -> ModeDoc:
        doc: ModeDoc = {}
        if self.status is not None:
            doc["status"] = self.status
        if self.retry_after is not None:
            doc["retry_after"] = self.retry_after
        if self.fail_count is not None:
            doc["fail_count"] = self.fail_count
        if self.fail_until is not None:
            doc["fail_for_s"] = max(0.0, self.fail_until - now)
        if self.hang:
            doc["hang"] = True
        if self.delay_ms:
            doc["delay_ms"] = self.delay_ms
        return doc


class PortState:
    """Counters and records of one port. Single-threaded: only its event loop touches it."""

    def __init__(
        self, port: int, secrets: Iterable[str] = (), *, reject_invalid: bool = True, ring_size: int = 10_000
    ) -> None:
        self.port = port
        self.reject_invalid = reject_invalid
        self.mode = Mode()
        self.secrets: list[str] = []
        self.keys: tuple[bytes, ...] = ()
        self.set_secrets(secrets)
        self.ring: deque[DeliveryRecord] = deque(maxlen=ring_size)
        self.calls: deque[CallRecord] = deque(maxlen=ring_size)
        # Handlers running now, and the most seen at once since the last reset: a handler starts
        # after the sender put the request on the wire and ends before it reads the answer, so
        # these never exceed what the sender had in flight.
        self.in_flight = 0
        self.max_in_flight = 0
        self.path_in_flight: dict[str, int] = {}
        self.path_max_in_flight: dict[str, int] = {}
        self.first_seen: dict[str, float] = {}
        self.event_ids: set[str] = set()
        self.verdicts: dict[str, int] = {}
        self.outcomes: dict[str, int] = {}
        self.reset()

    def set_secrets(self, secrets: Iterable[str]) -> None:
        secrets = list(secrets)
        keys = tuple(decode_secret(s) for s in secrets)  # validate all before replacing any
        self.secrets, self.keys = secrets, keys

    def reset(self) -> None:
        self.requests = self.received = self.duplicates = 0
        self.verdicts = dict.fromkeys(("verified", "invalid", "unverified"), 0)
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.ring.clear()
        self.calls.clear()
        self.first_seen.clear()
        self.event_ids.clear()
        # Requests still running count from here: a reset mid-load must not read as a lower peak.
        self.max_in_flight = self.in_flight
        self.path_in_flight = {p: n for p, n in self.path_in_flight.items() if n}
        self.path_max_in_flight = dict(self.path_in_flight)

    def begin(self, path: str) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        n = self.path_in_flight[path] = self.path_in_flight.get(path, 0) + 1
        self.path_max_in_flight[path] = max(self.path_max_in_flight.get(path, 0), n)

    def end(self, path: str) -> None:
        self.in_flight -= 1
        self.path_in_flight[path] -= 1

    def record_call(
        self, at: float, path: str, webhook_id: str | None, status: int, sequence: int | None = None
    ) -> None:
        self.calls.append(
            {"at": at, "path": path, "webhook_id": webhook_id, "status": status, "sequence": sequence}
        )

    def concurrency(self) -> PortConcurrencyDoc:
        return {
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "paths": {
                p: {"in_flight": self.path_in_flight.get(p, 0), "max_in_flight": m}
                for p, m in self.path_max_in_flight.items()
            },
        }

    def calls_since(self, since: float, limit: int, path: str | None = None) -> list[CallRecord]:
        return [c for c in self.calls if c["at"] > since and (path is None or c["path"] == path)][:limit]

    def record_delivery(
        self,
        webhook_id: str | None,
        path: str,
        verdict: Verdict,
        headers: dict[str, str],
        body: bytes,
        *,
        now: float,
    ) -> None:
        self.received += 1
        if webhook_id is not None:
            if webhook_id in self.first_seen:
                self.duplicates += 1
            else:
                self.first_seen[webhook_id] = now
        event_id = etype = org = None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict):
            event_id, etype, org = _str(doc.get("id")), _str(doc.get("type")), _str(doc.get("org"))
            if event_id is not None:
                self.event_ids.add(event_id)
        self.ring.append(
            {
                "webhook_id": webhook_id,
                "event_id": event_id,
                "type": etype,
                "org": org,
                "received_at": now,
                "path": path,
                "verdict": verdict,
                "headers": headers,
                "body_size": len(body),
                "body": body.decode("utf-8", "replace"),
            }
        )

    def deliveries(self, since: float, limit: int) -> list[DeliveryRecord]:
        out: list[DeliveryRecord] = []
        for rec in self.ring:
            if rec["received_at"] > since:
                out.append(rec)
                if len(out) >= limit:
                    break
        return out

    def stats(self, now: float | None = None) -> StatsDoc:
        return {
            "port": self.port,
            "requests": self.requests,
            "received": self.received,
            "unique": len(self.first_seen),
            "duplicates": self.duplicates,
            "verified": self.verdicts["verified"],
            "invalid": self.verdicts["invalid"],
            "unverified": self.verdicts["unverified"],
            "rejected": self.outcomes["rejected"],
            "failed_responses": self.outcomes["failed"],
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "mode": self.mode.describe(time.time() if now is None else now),
        }


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
