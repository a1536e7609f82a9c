"""The data that crosses process boundaries: events, webhooks, delivery tasks, attempts.

Events travel as JSON bytes produced by orjson; the hot path works on plain dicts and only
builds these objects where it must. The webhook document in MongoDB is the source of truth
for `Webhook`; `Webhook.from_doc` / `to_doc` are the only translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

import orjson


class Event(TypedDict):
    """Kafka value (key = org) and, byte for byte, the body POSTed to a webhook."""

    id: str
    org: str
    type: str
    timestamp: str  # RFC 3339, UTC
    data: Any


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_event(event: Event) -> bytes:
    # orjson output is deterministic for a given dict, so a decode/encode round trip
    # reproduces these exact bytes: what is signed is what is sent.
    return orjson.dumps(event)


@dataclass(frozen=True, slots=True)
class Secret:
    key: str = field(repr=False)  # whsec_<base64>; never in a repr, hence never in a log line
    expires_at: datetime | None = None  # set on the old key while a rotation is in progress

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True, slots=True)
class Webhook:
    id: str
    org: str
    url: str
    event_types: tuple[str, ...]
    filter: dict[str, Any] | None = None
    secrets: tuple[Secret, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    rate_limit: int | None = None  # requests per second, across the delivery pool
    max_concurrency: int | None = None  # calls in flight, across the pool (None: the default)
    enabled: bool = True
    disabled_reason: str | None = None
    version: int = 1
    updated_at: datetime = field(default_factory=utcnow)
    description: str = ""
    retry_schedule: tuple[float, ...] | None = None  # overrides the global schedule
    deleted: bool = False  # tombstone: polling readers must see deletes too
    # Ordered delivery (docs/ordering.md): one delivery in flight, in the order events were
    # accepted, through a lane of its own. After a last failed attempt the lane skips the dead
    # letter and goes on ("skip") or holds what follows until resumed ("pause").
    ordered: bool = False
    ordered_failure: str = "skip"
    ordered_paused: str | None = None  # why the lane holds (pause after a dead letter)
    ordered_lane: bool = False  # it has a lane (ever ordered): delivery actors drain it

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Webhook:
        return cls(
            id=str(doc["_id"]),
            org=doc["org"],
            url=doc["url"],
            event_types=tuple(doc.get("event_types") or ()),
            filter=_filter_from_doc(doc.get("filter")),
            secrets=tuple(
                Secret(key=s["key"], expires_at=_aware(s.get("expires_at"))) for s in doc.get("secrets") or ()
            ),
            headers=dict(doc.get("headers") or {}),
            rate_limit=doc.get("rate_limit"),
            max_concurrency=doc.get("max_concurrency"),
            enabled=bool(doc.get("enabled", True)),
            disabled_reason=doc.get("disabled_reason"),
            version=int(doc.get("version", 1)),
            updated_at=_aware(doc.get("updated_at")) or utcnow(),
            description=doc.get("description") or "",
            retry_schedule=tuple(doc["retry_schedule"]) if doc.get("retry_schedule") else None,
            deleted=bool(doc.get("deleted", False)),
            ordered=bool(doc.get("ordered", False)),
            ordered_failure=doc.get("ordered_failure") or "skip",
            ordered_paused=doc.get("ordered_paused"),
            ordered_lane=bool(doc.get("ordered_lane", False)),
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "org": self.org,
            "url": self.url,
            "event_types": list(self.event_types),
            # Stored as JSON text: FerretDB (and MongoDB before 5.0) refuse field names with "."
            # or "$", and a filter is made of exactly those ("data.amount", "$gte").
            "filter": orjson.dumps(self.filter).decode() if self.filter else None,
            "secrets": [{"key": s.key, "expires_at": s.expires_at} for s in self.secrets],
            "headers": self.headers,
            "rate_limit": self.rate_limit,
            "max_concurrency": self.max_concurrency,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "version": self.version,
            "updated_at": self.updated_at,
            "description": self.description,
            "retry_schedule": list(self.retry_schedule) if self.retry_schedule else None,
            "deleted": self.deleted,
            "ordered": self.ordered,
            "ordered_failure": self.ordered_failure,
            "ordered_paused": self.ordered_paused,
            "ordered_lane": self.ordered_lane or self.ordered,
        }

    def signing_keys(self, now: datetime) -> list[str]:
        return [s.key for s in self.secrets if s.active(now)]


def _filter_from_doc(raw: Any) -> dict[str, Any] | None:
    if not raw:
        return None
    if isinstance(raw, str):
        parsed = orjson.loads(raw)
        return parsed if isinstance(parsed, dict) and parsed else None
    return dict(raw)  # written by another tool as a document


def _aware(ts: datetime | None) -> datetime | None:
    # MongoDB (and FerretDB) hand datetimes back naive, in UTC.
    if ts is None:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class DeliveryTask(TypedDict):
    """RabbitMQ message body. No secrets: the worker resolves the webhook from its own snapshot."""

    delivery_id: str  # stable across retries; sent as the webhook-id header
    event: Event
    webhook_id: str
    attempt: int  # 1-based number of the attempt this message will make
    first_attempt_at: float  # unix seconds when the task was first published
    not_before: float  # unix seconds; a wait queue may hand it back early, never late
    parks: NotRequired[int]  # times parked since the last attempt because the endpoint was busy
    seq: NotRequired[int]  # an ordered webhook's position: consecutive per webhook, from 1


class TaskBatch(TypedDict):
    """RabbitMQ message body: the tasks of one webhook from one Kafka batch (or one wait-queue
    step), in the order their events were accepted. One message, one confirm and one ack for
    all of them: the brokers charge per message, not per byte. The consumer acks it once every
    task in it has a safe outcome (delivered, on a wait queue, or dead-lettered)."""

    webhook_id: str
    tasks: list[DeliveryTask]


def tasks_of(body: Any) -> list[DeliveryTask]:
    """The tasks of a message body: a TaskBatch, or one DeliveryTask as written before batches
    (still in wait queues and dead letters after an upgrade)."""
    if isinstance(body, dict) and "tasks" in body:
        return list(body["tasks"])
    return [body]


class Attempt(TypedDict):
    """One row of the attempt log (MongoDB `attempts`); empty fields are left out."""

    _id: str
    delivery_id: str
    event_id: str
    webhook_id: str
    org: str
    attempt: int
    status_code: int | None
    outcome: str  # success | retry | dead | dropped
    error: NotRequired[str]  # an error class when there was no HTTP status (timeout, connect ...)
    latency_ms: float
    response_excerpt: NotRequired[str]  # the start of the response body, when there was one
    at: datetime
    next_attempt_at: NotRequired[datetime]  # when the next attempt is due, if there is one
    seq: NotRequired[int]  # an ordered delivery's position (the webhook-sequence header)
    note: NotRequired[str]  # what an ordered lane did next: skipped a dead letter, or paused
