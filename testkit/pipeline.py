"""A whole pipeline in a namespace of its own (topic, queues, database, actor names), against
the shared local services, so tests never collide with each other or with a running platform."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pika
import pymongo
from confluent_kafka.admin import AdminClient

from adapters import kafka_io
from adapters.mongo import EVENT_TYPES, WEBHOOKS
from cluster.config import PipelineConfig
from core.ids import delivery_id, new_id
from core.models import Event, Secret, Webhook, encode_event, rfc3339, utcnow
from core.rules import RuleSnapshot
from core.settings import (
    DeliverySettings,
    FilterSettings,
    KafkaSettings,
    MongoSettings,
    RabbitSettings,
    RuleCacheSettings,
)
from core.signing import new_secret

if TYPE_CHECKING:
    from testkit.receiver.runner import ReceiversThread


def namespaced_config(
    partitions: int = 4,
    filters: int = 2,
    deliveries: int = 2,
    schedule: tuple[float, ...] = (0.5, 1.0, 2.0),
    **delivery: Any,
) -> PipelineConfig:
    tag = uuid.uuid4().hex[:10]
    return PipelineConfig(
        kafka=KafkaSettings(
            topic=f"t{tag}.events",
            partitions=partitions,
            derived_prefix=f"t{tag}.events.",
            consumer_group=f"t{tag}-filter",
        ),
        rabbit=RabbitSettings(exchange=f"t{tag}.webhooks", queue=f"t{tag}.deliveries"),
        mongo=MongoSettings(database=f"t{tag}"),
        filter=FilterSettings(actors=filters, poll_batch=500, stall_check_s=1.0, stall_timeout_s=10.0),
        rules=RuleCacheSettings(poll_interval_s=0.2, overlap_s=2.0),
        delivery=DeliverySettings(
            actors=deliveries,
            schedule=schedule,
            ssrf_allowlist=("127.0.0.1/32",),
            total_timeout_s=delivery.pop("total_timeout_s", 3.0),
            connect_timeout_s=delivery.pop("connect_timeout_s", 1.0),
            breaker_cooldown_s=delivery.pop("breaker_cooldown_s", 1.0),
            attempt_flush_s=0.2,
            **delivery,
        ),
        prefix=f"t{tag}",
        namespace="edp-test",
        actor_cpus=0.01,
    )


@dataclass
class PipelineWorld:
    config: PipelineConfig
    db: Any = field(init=False)
    _mongo: pymongo.MongoClient[dict[str, Any]] = field(init=False)
    webhooks: list[Webhook] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._mongo = pymongo.MongoClient(self.config.mongo.url.get_secret_value(), tz_aware=True)
        self.db = self._mongo[self.config.mongo.database]
        kafka_io.ensure_topic(self.config.kafka)
        self._producer = kafka_io.producer(self.config.kafka, "e2e-test")

    def add_webhook(self, org: str, url: str, event_types: Iterable[str], **kw: Any) -> Webhook:
        kw.setdefault("secrets", (Secret(new_secret()),))
        wh = Webhook(
            id=new_id("wh"), org=org, url=url, event_types=tuple(event_types), updated_at=utcnow(), **kw
        )
        self.db[WEBHOOKS].insert_one(wh.to_doc())
        self.webhooks.append(wh)
        return wh

    def copy_to_derived_topic(self, org: str, event_type: str) -> None:
        """The event type asks for a derived per-type topic (off by default), as the API does."""
        now = utcnow()
        self.db[EVENT_TYPES].replace_one(
            {"_id": f"{org}:{event_type}"},
            {"org": org, "name": event_type, "derived_topic": True, "created_at": now, "updated_at": now},
            upsert=True,
        )

    def events(
        self, n: int, orgs: list[str], types: list[str], data: Callable[[int], Any] = lambda i: {"i": i}
    ) -> list[Event]:
        return [
            {
                "id": new_id("evt"),
                "org": orgs[i % len(orgs)],
                "type": types[(i // len(orgs)) % len(types)],
                "timestamp": rfc3339(utcnow()),
                "data": data(i),
            }
            for i in range(n)
        ]

    def produce(self, events: Iterable[Event]) -> None:
        kafka_io.produce_all(
            self._producer, ((self.config.kafka.topic, e["org"].encode(), encode_event(e)) for e in events)
        )

    def expected(self, events: Iterable[Event]) -> set[str]:
        snap = RuleSnapshot(1, {w.id: w for w in self.webhooks})
        return {delivery_id(e["id"], w.id) for e in events for w in snap.match(e)}

    def cleanup(self) -> None:
        self._mongo.drop_database(self.config.mongo.database)
        self._mongo.close()
        c = self.config
        admin = AdminClient({"bootstrap.servers": c.kafka.bootstrap})
        topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(c.kafka.topic)]
        if topics:
            for f in admin.delete_topics(topics).values():
                f.result(10)
        conn = pika.BlockingConnection(pika.URLParameters(c.rabbit.url.get_secret_value()))
        ch = conn.channel()
        from core.ordering import lane_queue
        from core.retry import WAIT_LADDER_S, wait_queue_name

        for q in [
            c.rabbit.queue,
            c.rabbit.dead_queue,
            *(wait_queue_name(c.rabbit.retry_prefix, t) for t in WAIT_LADDER_S),
            *(lane_queue(c.rabbit.queue, w.id) for w in self.webhooks if w.ordered_lane or w.ordered),
        ]:
            ch.queue_delete(q)
        ch.exchange_delete(c.rabbit.exchange)
        conn.close()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def rules_synced(sup: Any, webhooks: int) -> bool:
    """True once the rule cache holds `webhooks` live webhooks and every actor has its version."""
    status = sup.status()
    rules = status["rules"]
    if rules.get("webhooks") != webhooks:
        return False
    return all(a.get("rules_version") == rules["version"] for a in status["filters"] + status["deliveries"])


def received_ids(receivers: ReceiversThread) -> tuple[set[str], int]:
    """Every webhook-id answered 2xx on any of the receivers, and the duplicates among them."""
    ids: set[str] = set()
    dups = 0
    for state in receivers.receivers.states.values():
        ids |= set(state.first_seen)
        dups += state.duplicates
    return ids, dups
