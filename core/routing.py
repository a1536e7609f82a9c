"""What the filter stage does with one polled batch, as a pure function.

Given Kafka records and a rule snapshot, `plan_batch` says which delivery tasks to publish (one
message per webhook per batch: core.models.TaskBatch), which copies to produce to derived
per-type topics, and which offsets may be committed once all of that is confirmed. The actor
around it only does the I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from core.errors import InvalidInput
from core.ids import delivery_id
from core.models import DeliveryTask, TaskBatch, Webhook
from core.ordering import LaneBook, lane_key
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
class Chunking:
    """How many of one webhook's tasks go in one message: about as many as one delivery actor's
    share of the webhook's concurrency cap can start at once. Larger, and a burst for one
    endpoint would sit on one actor while the others' shares of its cap go unused (a message
    goes to one consumer); smaller, and the brokers pay per message for nothing."""

    most: int = 100
    pool: int = 1  # delivery actors
    default_cap: int = 32  # DeliverySettings.per_endpoint_concurrency

    def size(self, webhook: Webhook) -> int:
        cap = webhook.max_concurrency or self.default_cap
        return max(1, min(self.most, -(-cap // max(1, self.pool))))


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One RabbitMQ message: a TaskBatch of one webhook's tasks."""

    routing_key: str
    message_id: str  # the first task's delivery id: what the broker's tools show
    body: bytes
    tasks: int
    webhook_id: str = ""
    lane: bool = False  # to the webhook's ordered lane, not the work queue


@dataclass
class BatchPlan:
    messages: list[OutgoingMessage] = field(default_factory=list)
    derived: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)
    # partition -> next offset to consume (last seen + 1): Kafka's commit convention.
    commit: dict[int, int] = field(default_factory=dict)
    events: int = 0
    invalid: int = 0
    tasks: int = 0


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


def new_task(event: dict[str, Any], webhook_id: str, now: float) -> DeliveryTask:
    return {
        "delivery_id": delivery_id(event["id"], webhook_id),
        "event": event,  # type: ignore[typeddict-item]
        "webhook_id": webhook_id,
        "attempt": 1,
        "first_attempt_at": now,
        "not_before": 0.0,
    }


def plan_batch(
    records: Iterable[KafkaRecord],
    snapshot: RuleSnapshot,
    now: float,
    derived_prefix: str | None,
    chunking: Chunking = Chunking(),
    derived: Container[tuple[str, str]] = frozenset(),
    lanes: LaneBook | None = None,
) -> BatchPlan:
    """Every matching webhook's tasks, grouped per webhook into messages (`chunking`), each in
    the order of its records (Kafka order within a partition); a copy of each event whose
    (org, type) is in `derived` for its per-type topic. An ordered webhook's tasks are numbered
    in its lane (`lanes`, core.ordering) and routed to it; one its lane has already is left out.
    """
    plan = BatchPlan()
    per_webhook: dict[str, tuple[Webhook, str, list[DeliveryTask]]] = {}
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
        if derived_prefix is not None and value is not None and (event["org"], event["type"]) in derived:
            plan.derived.append((derived_topic(derived_prefix, event["type"]), rec.key(), value))
        for webhook in snapshot.match(event):
            task = new_task(event, webhook.id, now)
            routing_key = f"org.{event['org']}"
            if webhook.ordered and lanes is not None and partition is not None and offset is not None:
                seq = lanes.assign(partition, offset, webhook.id)
                if seq is None:
                    continue  # in its lane already (published before a crash)
                task["seq"] = seq
                routing_key = lane_key(webhook.id)
            group = per_webhook.get(webhook.id)
            if group is None:  # one snapshot per batch: a webhook's route is the same throughout
                group = per_webhook[webhook.id] = (webhook, routing_key, [])
            group[2].append(task)
    for webhook, routing_key, tasks in per_webhook.values():
        plan.tasks += len(tasks)
        # A lane is taken one task at a time whatever the message size: fewer, larger messages.
        size = chunking.most if webhook.ordered else chunking.size(webhook)
        for i in range(0, len(tasks), size):
            chunk = tasks[i : i + size]
            body: TaskBatch = {"webhook_id": webhook.id, "tasks": chunk}
            plan.messages.append(
                OutgoingMessage(
                    routing_key,
                    chunk[0]["delivery_id"],
                    orjson.dumps(body),
                    len(chunk),
                    webhook.id,
                    lane="seq" in chunk[0],
                )
            )
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
