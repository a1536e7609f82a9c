"""Delivery states of one event, from its attempt rows and the webhooks it matches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.ids import delivery_id, id_time_ms, new_id, stable_id
from core.lookup import delivery_states

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def row(wh: str, attempt: int, outcome: str, s: float, **kw: object) -> dict[str, object]:
    return {"_id": f"att_{wh}{attempt}", "event_id": "evt_1", "webhook_id": wh, "attempt": attempt,
            "outcome": outcome, "at": T0 + timedelta(seconds=s), **kw}  # fmt: skip


def test_every_state_from_the_latest_attempt() -> None:
    nxt = T0 + timedelta(seconds=30)
    rows = [
        row("wh_ok", 1, "retry", 0, next_attempt_at=T0),
        row("wh_ok", 2, "success", 5),
        row("wh_retry", 1, "retry", 1, next_attempt_at=nxt),
        row("wh_dead", 1, "retry", 0),
        row("wh_dead", 2, "dead", 9),
        row("wh_other", 1, "success", 1) | {"event_id": "evt_2"},
    ]
    states = {s.webhook_id: s for s in delivery_states("evt_1", ["wh_ok", "wh_new"], rows)}
    assert {k: s.state for k, s in states.items()} == {
        "wh_dead": "dead_lettered",
        "wh_new": "pending",
        "wh_ok": "delivered",
        "wh_retry": "retrying",
    }
    assert states["wh_retry"].next_attempt_at == nxt and states["wh_ok"].next_attempt_at is None
    assert [a["attempt"] for a in states["wh_ok"].attempts] == [1, 2]
    assert states["wh_new"].delivery_id == delivery_id("evt_1", "wh_new")


def test_an_id_carries_its_time_and_a_hash_does_not_decode_to_now() -> None:
    assert id_time_ms(new_id("evt", 1_796_000_000_123)) == 1_796_000_000_123
    assert id_time_ms("evt_short") is None and id_time_ms("evt_" + "u" * 26) is None
    hashed = id_time_ms(stable_id("evt", "org", "key"))
    assert hashed is not None and abs(hashed - 1_796_000_000_000) > 400 * 24 * 3600 * 1000
