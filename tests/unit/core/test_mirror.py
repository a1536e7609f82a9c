from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.mirror import RuleMirror
from core.models import Webhook

T0 = datetime(2026, 11, 28, tzinfo=UTC)


def wh(i: int, version: int = 1, deleted: bool = False) -> Webhook:
    return Webhook(
        id=f"wh_{i}",
        org="o",
        url="http://x",
        event_types=("A",),
        version=version,
        updated_at=T0 + timedelta(seconds=version),
        deleted=deleted,
    )


def test_polls_that_change_nothing_do_not_move_the_version() -> None:
    m = RuleMirror()
    assert m.apply([wh(1), wh(2)])
    assert m.version == 1
    assert not m.apply([wh(1), wh(2)])  # the overlap window hands the same docs back
    assert m.version == 1


def test_deltas_carry_upserts_and_tombstone_deletes() -> None:
    m = RuleMirror(epoch="e")
    m.apply([wh(1), wh(2), wh(3)])
    m.apply([wh(2, version=2), wh(3, version=2, deleted=True)])
    ch = m.changes_since("e", 1)
    assert ch is not None and not ch.full
    assert [w.id for w in ch.upserts] == ["wh_2"] and ch.deletes == ("wh_3",)
    assert m.changes_since("e", m.version) is None


def test_a_reader_from_another_epoch_or_too_far_behind_gets_everything() -> None:
    m = RuleMirror(log_size=2, epoch="e")
    for v in range(1, 6):
        m.apply([wh(1, version=v)])
    full = m.changes_since("other", 5)
    assert full is not None and full.full and [w.id for w in full.upserts] == ["wh_1"]
    behind = m.changes_since("e", 1)
    assert behind is not None and behind.full
    recent = m.changes_since("e", 4)
    assert recent is not None and not recent.full


def test_full_reload_removes_what_vanished_from_the_database() -> None:
    m = RuleMirror()
    m.apply([wh(1), wh(2)])
    assert m.apply([wh(1)], full=True)
    assert set(m.webhooks) == {"wh_1"}
    assert replace(wh(1)).id == "wh_1"


def test_the_derived_topic_types_are_a_change_of_their_own() -> None:
    m = RuleMirror(epoch="e")
    assert m.set_derived([("o", "A")]) and m.version == 1
    assert not m.set_derived([("o", "A")]) and m.version == 1
    ch = m.changes_since("e", 0)
    assert ch is not None and ch.derived == {("o", "A")} and not ch.upserts
    assert m.set_derived([]) and m.changes_since("e", 1).derived == frozenset()  # type: ignore[union-attr]
