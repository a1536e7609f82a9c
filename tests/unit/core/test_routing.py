from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from core.errors import InvalidInput
from core.ids import delivery_id
from core.models import Webhook, tasks_of
from core.routing import BatchPlan, Chunking, derived_topic, parse_event, plan_batch
from core.rules import RuleSnapshot


@dataclass
class Rec:
    """Stands in for confluent_kafka.Message (the KafkaRecord protocol)."""

    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = b"org_a"

    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


def ev(i: int, org: str = "org_a", etype: str = "EVENT_A") -> bytes:
    return orjson.dumps(
        {"id": f"evt_{i}", "org": org, "type": etype, "timestamp": "2026-11-28T00:00:00Z", "data": {"n": i}}
    )


SNAP = RuleSnapshot(
    1,
    {
        "wh_1": Webhook(id="wh_1", org="org_a", url="http://x/1", event_types=("EVENT_A",)),
        "wh_2": Webhook(id="wh_2", org="org_a", url="http://x/2", event_types=("*",)),
        "wh_3": Webhook(id="wh_3", org="org_b", url="http://x/3", event_types=("EVENT_A",)),
    },
)


def tasks_in(plan: BatchPlan) -> list[dict[str, Any]]:
    return [t for m in plan.messages for t in orjson.loads(m.body)["tasks"]]


def test_one_task_per_matching_webhook_and_commit_after_last_offset() -> None:
    recs = [Rec(0, 10, ev(1)), Rec(0, 11, ev(2, etype="EVENT_B")), Rec(3, 7, ev(3, org="org_b"))]
    everything = {("org_a", "EVENT_A"), ("org_a", "EVENT_B"), ("org_b", "EVENT_A")}
    plan = plan_batch(recs, SNAP, now=100.0, derived_prefix="events.", derived=everything)
    assert plan.commit == {0: 12, 3: 8}
    assert sorted(t["delivery_id"] for t in tasks_in(plan)) == sorted(
        [
            delivery_id("evt_1", "wh_1"),
            delivery_id("evt_1", "wh_2"),
            delivery_id("evt_2", "wh_2"),
            delivery_id("evt_3", "wh_3"),
        ]
    )
    assert plan.tasks == 4
    assert {m.routing_key for m in plan.messages} == {"org.org_a", "org.org_b"}
    assert [d[0] for d in plan.derived] == ["events.EVENT_A", "events.EVENT_B", "events.EVENT_A"]
    task = tasks_in(plan)[0]
    assert task["attempt"] == 1 and task["first_attempt_at"] == 100.0
    assert orjson.dumps(task["event"]) == ev(1)  # the delivered body is the produced event, byte for byte


def test_one_message_per_webhook_per_batch_in_record_order_and_bounded() -> None:
    recs = [Rec(0, i, ev(i)) for i in range(5)]
    plan = plan_batch(recs, SNAP, now=0.0, derived_prefix=None, chunking=Chunking(most=2))
    bodies = [orjson.loads(m.body) for m in plan.messages]
    assert [(b["webhook_id"], [t["event"]["id"] for t in b["tasks"]]) for b in bodies] == [
        ("wh_1", ["evt_0", "evt_1"]),
        ("wh_1", ["evt_2", "evt_3"]),
        ("wh_1", ["evt_4"]),
        ("wh_2", ["evt_0", "evt_1"]),
        ("wh_2", ["evt_2", "evt_3"]),
        ("wh_2", ["evt_4"]),
    ]
    assert [m.tasks for m in plan.messages] == [2, 2, 1, 2, 2, 1] and plan.tasks == 10
    assert plan.messages[0].message_id == delivery_id("evt_0", "wh_1")
    assert all(t["webhook_id"] == b["webhook_id"] for b in bodies for t in b["tasks"])


def test_a_message_body_of_one_task_from_before_batches_is_still_read() -> None:
    old = {"delivery_id": "dlv_1", "webhook_id": "wh_1", "attempt": 2}
    assert tasks_of(old) == [old]
    assert tasks_of({"webhook_id": "wh_1", "tasks": [old, old]}) == [old, old]


def test_invalid_records_are_skipped_but_their_offsets_still_commit() -> None:
    recs = [
        Rec(1, 5, b"not json"),
        Rec(1, 6, None),
        Rec(1, 7, orjson.dumps({"id": "x"})),
        Rec(1, 8, orjson.dumps({"id": "e", "org": "o", "type": "bad type!", "timestamp": "t", "data": 1})),
    ]
    plan = plan_batch(recs, SNAP, now=0.0, derived_prefix=None)
    assert (
        plan.invalid == 4 and plan.events == 0 and not plan.messages and plan.tasks == 0 and not plan.derived
    )
    assert plan.commit == {1: 9}


def test_parse_event_requires_every_field() -> None:
    assert parse_event(ev(1)) is not None
    assert parse_event(b"[1,2]") is None
    assert parse_event(orjson.dumps({"id": "a", "org": 1, "type": "T", "timestamp": "t", "data": {}})) is None


def test_derived_topic() -> None:
    assert derived_topic("events.", "EVENT_A") == "events.EVENT_A"
    assert derived_topic("events.", "billing:invoice.paid") == "events.billing_invoice.paid"
    # Documented collision: ':' and '_' map to the same topic.
    assert derived_topic("events.", "a:b") == derived_topic("events.", "a_b")
    with pytest.raises(InvalidInput):
        derived_topic("events.", "bad type")
    with pytest.raises(InvalidInput):
        derived_topic("x" * 200, "y" * 60)
    with pytest.raises(InvalidInput):
        derived_topic("bad/prefix.", "A")


def test_a_message_holds_about_what_one_delivery_actor_may_start_at_once() -> None:
    hook = SNAP.get("wh_1")
    assert hook is not None
    assert Chunking(most=100, pool=2, default_cap=32).size(hook) == 16
    assert Chunking(most=10, pool=2, default_cap=32).size(hook) == 10
    capped = Webhook(id="c", org="o", url="http://x/c", event_types=("A",), max_concurrency=3)
    assert Chunking(pool=2).size(capped) == 2 and Chunking(pool=4).size(capped) == 1


def test_only_the_event_types_that_asked_are_copied_to_a_derived_topic() -> None:
    recs = [Rec(0, 1, ev(1)), Rec(0, 2, ev(2, etype="EVENT_B")), Rec(0, 3, ev(3, org="org_b"))]
    plan = plan_batch(recs, SNAP, now=0.0, derived_prefix="events.", derived={("org_a", "EVENT_B")})
    assert [(topic, value) for topic, _key, value in plan.derived] == [
        ("events.EVENT_B", ev(2, etype="EVENT_B"))
    ]
    assert not plan_batch(recs, SNAP, now=0.0, derived_prefix="events.").derived  # asked by none
