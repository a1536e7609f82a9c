from __future__ import annotations

from dataclasses import dataclass

import orjson
import pytest

from core.errors import InvalidInput
from core.ids import delivery_id
from core.models import Webhook
from core.routing import derived_topic, parse_event, plan_batch
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


def test_one_task_per_matching_webhook_and_commit_after_last_offset() -> None:
    recs = [Rec(0, 10, ev(1)), Rec(0, 11, ev(2, etype="EVENT_B")), Rec(3, 7, ev(3, org="org_b"))]
    plan = plan_batch(recs, SNAP, now=100.0, derived_prefix="events.")
    assert plan.commit == {0: 12, 3: 8}
    assert sorted(t.delivery_id for t in plan.tasks) == sorted(
        [
            delivery_id("evt_1", "wh_1"),
            delivery_id("evt_1", "wh_2"),
            delivery_id("evt_2", "wh_2"),
            delivery_id("evt_3", "wh_3"),
        ]
    )
    assert {t.routing_key for t in plan.tasks} == {"org.org_a", "org.org_b"}
    assert [d[0] for d in plan.derived] == ["events.EVENT_A", "events.EVENT_B", "events.EVENT_A"]
    task = orjson.loads(plan.tasks[0].body)
    assert task["attempt"] == 1 and task["first_attempt_at"] == 100.0
    assert orjson.dumps(task["event"]) == ev(1)  # the delivered body is the produced event, byte for byte


def test_invalid_records_are_skipped_but_their_offsets_still_commit() -> None:
    recs = [
        Rec(1, 5, b"not json"),
        Rec(1, 6, None),
        Rec(1, 7, orjson.dumps({"id": "x"})),
        Rec(1, 8, orjson.dumps({"id": "e", "org": "o", "type": "bad type!", "timestamp": "t", "data": 1})),
    ]
    plan = plan_batch(recs, SNAP, now=0.0, derived_prefix=None)
    assert plan.invalid == 4 and plan.events == 0 and not plan.tasks and not plan.derived
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
