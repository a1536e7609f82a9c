"""Ordered delivery's numbering and skipping (core/ordering.py) and its routing (core/routing.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from core.models import Webhook
from core.ordering import Cursor, LaneBook, LaneMoved, lane_key, lane_queue
from core.routing import plan_batch
from core.rules import RuleSnapshot
from tests.unit.core.test_routing import Rec, ev

ORDERED = Webhook(id="wh_o", org="org_a", url="http://x/o", event_types=("*",), ordered=True)
PLAIN = Webhook(id="wh_p", org="org_a", url="http://x/p", event_types=("*",))
SNAP = RuleSnapshot(1, {w.id: w for w in (ORDERED, PLAIN)})


def test_a_lane_numbers_its_tasks_one_by_one_and_skips_what_it_has() -> None:
    book = LaneBook()
    with pytest.raises(LaneMoved):
        book.assign(0, 10, "wh")  # its saved position was not read yet
    book.load("wh", None)  # nothing saved: a new lane
    assert [book.assign(0, o, "wh") for o in (10, 11, 12)] == [1, 2, 3]
    assert book.assign(0, 12, "wh") is None and book.assign(0, 5, "wh") is None  # in the lane already
    assert book.dirty == {"wh"}
    with pytest.raises(LaneMoved):  # its org now hashes to another partition: read it again
        book.assign(1, 3, "wh")


def test_a_new_owner_numbers_on_from_what_was_saved() -> None:
    first = LaneBook()
    first.load("wh", None)
    for offset in (100, 101, 102):
        first.assign(2, offset, "wh")
    again = LaneBook()
    again.load("wh", first.doc("wh"))
    # Replayed from an older committed offset: what the lane has is left out, the rest goes on.
    assert [again.assign(2, o, "wh") for o in (99, 101, 102, 103)] == [None, None, None, 4]
    moved = LaneBook()
    moved.load("wh", first.doc("wh"))
    assert moved.positions["wh"].partition == 2
    before = moved.copy()
    moved.assign(2, 200, "wh")
    moved.restore(before)  # a plan that was not published numbered nothing
    assert moved.assign(2, 200, "wh") == 4


def test_the_filter_routes_an_ordered_webhooks_tasks_to_its_lane_in_order() -> None:
    book = LaneBook()
    book.load("wh_o", None)
    recs = [Rec(0, 7 + i, ev(i)) for i in range(3)]
    plan = plan_batch(recs, SNAP, now=0.0, derived_prefix=None, lanes=book)
    by_key = {m.routing_key: orjson.loads(m.body)["tasks"] for m in plan.messages}
    assert [t["seq"] for t in by_key[lane_key("wh_o")]] == [1, 2, 3]
    assert [t["event"]["id"] for t in by_key[lane_key("wh_o")]] == ["evt_0", "evt_1", "evt_2"]
    assert all("seq" not in t for t in by_key["org.org_a"])  # the unordered one, as before
    assert [m.lane for m in plan.messages] == [True, False]
    again = plan_batch(recs, SNAP, now=0.0, derived_prefix=None, lanes=book)  # a replayed batch
    assert [m.routing_key for m in again.messages] == ["org.org_a"] and again.tasks == 3


def test_a_cursor_skips_repeats_and_remembers_a_retry_in_progress() -> None:
    c = Cursor()
    assert not c.is_repeat(1)
    c.failed(1, 2, datetime(2026, 1, 1, tzinfo=UTC))
    assert c.attempts_made(1) == 2 and c.attempts_made(2) == 0
    c.done(1)
    assert c.is_repeat(1) and not c.is_repeat(2) and c.head_seq is None
    assert Cursor.from_doc(c.to_doc()) == c
    assert Cursor.from_doc(None) == Cursor()
    assert lane_queue("deliveries", "wh_1") == "deliveries.lane.wh_1"
