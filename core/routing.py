"""What the filter stage does with one polled batch, as a pure function.

Given Kafka records and a rule snapshot, `plan_batch` says which delivery tasks to publish,
which copies to produce to derived per-type topics, and which offsets may be committed once
all of that is confirmed. The actor around it only does the I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from core.errors import InvalidInput
from core.ids import delivery_id
from core.models import DeliveryTask
from core.rules import RuleSnapshot
from core.validation import EVENT_TYPE_RE, validate_event_type

REQUIRED = ("id", "org", "type", "timestamp", "data")


class KafkaRecord(Protocol):
    """The part of confluent_kafka.Message the filter stage reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class OutgoingTask:
    routing_key: str
    delivery_id: str
    body: bytes


@dataclass
class BatchPlan:
    tasks: list[OutgoingTask] = field(default_factory=list)
    derived: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    # partition -> next offset to consume (last seen + 1): Kafka's commit convention.
    commit: dict[int, int] = field(default_factory=dict)
    events: int = 0
    invalid: int = 0


def parse_event(value: bytes | None) -> dict[str, Any] | None:
    """An event as the ingest API writes it, or None for a record that can never be delivered."""
    if not value:
        return None
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or any(k not in event for k in REQUIRED):
        return None
    if not isinstance(event["org"], str) or not isinstance(event["type"], str):
        return None
    if not EVENT_TYPE_RE.match(event["type"]):
        return None
    return event


def task_body(event: dict[str, Any], webhook_id: str, dlv_id: str, now: float) -> bytes:
    task: DeliveryTask = {
        "delivery_id": dlv_id,
        "event": event,  # type: ignore[typeddict-item]
        "webhook_id": webhook_id,
        "attempt": 1,
        "first_attempt_at": now,
        "not_before": 0.0,
    }
    return orjson.dumps(task)


def plan_batch(
    records: Iterable[KafkaRecord],
    snapshot: RuleSnapshot,
    now: float,
    derived_prefix: str | None,
) -> BatchPlan:
    plan = BatchPlan()
    for rec in records:
        partition, offset = rec.partition(), rec.offset()
        if partition is not None and offset is not None:
            plan.commit[partition] = offset + 1
        value = rec.value()
        event = parse_event(value)
        if event is None:
            # Skipped, counted and logged by the caller: retrying a record that can never be
            # parsed would stall its partition forever.
            plan.invalid += 1
            continue
        plan.events += 1
        if derived_prefix is not None and value is not None:
            plan.derived.append((derived_topic(derived_prefix, event["type"]), rec.key(), value))
        routing_key = f"org.{event['org']}"
        for webhook in snapshot.match(event):
            dlv = delivery_id(event["id"], webhook.id)
            plan.tasks.append(OutgoingTask(routing_key, dlv, task_body(event, webhook.id, dlv, now)))
    return plan


@functools.lru_cache(maxsize=4096)
def derived_topic(prefix: str, event_type: str) -> str:
    """The Kafka topic that carries one event type: `prefix` + type with `:` mapped to `_`.

    Kafka topic names allow `[a-zA-Z0-9._-]{1,249}`; event types also allow `:`. The mapping is
    deterministic but not injective: `a:b` and `a_b` share a topic (and Kafka itself warns that
    `.` and `_` collide in its metric names). Consumers of derived topics must therefore still
    look at the event's own `type`.
    """
    validate_event_type(event_type)
    topic = prefix + event_type.replace(":", "_")
    if len(topic) > 249 or not _TOPIC_RE.match(topic) or topic in (".", ".."):
        raise InvalidInput("type", f"derived topic {topic!r} is not a legal Kafka topic name")
    return topic


_TOPIC_RE = re.compile(r"^[a-zA-Z0-9._-]+\Z")
