"""Where did my event go: each matching webhook's delivery state, from its attempt rows.

The attempt log says what happened to each delivery (one row per attempt, the latest last);
the webhooks that match the event now but have no row yet are still pending. A pure function
over rows, so its cases are unit-tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.ids import delivery_id

# The latest attempt's outcome -> the delivery's state.
STATE_OF = {"success": "delivered", "retry": "retrying", "dead": "dead_lettered", "dropped": "dropped"}
PENDING = "pending"


@dataclass(frozen=True)
class DeliveryState:
    webhook_id: str
    delivery_id: str
    state: str  # pending | delivered | retrying | dead_lettered | dropped
    next_attempt_at: datetime | None
    attempts: tuple[Mapping[str, Any], ...]  # oldest first


def _order(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (row.get("at"), int(row.get("attempt", 0)), str(row.get("_id", "")))


def delivery_states(
    event_id: str, matching: Iterable[str], attempts: Sequence[Mapping[str, Any]]
) -> list[DeliveryState]:
    """One state per webhook that matches the event or has attempts for it, in webhook id order."""
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for row in attempts:
        if row.get("event_id") == event_id:
            rows.setdefault(str(row["webhook_id"]), []).append(row)
    for webhook_id in matching:
        rows.setdefault(webhook_id, [])
    out: list[DeliveryState] = []
    for webhook_id in sorted(rows):
        history = tuple(sorted(rows[webhook_id], key=_order))
        last = history[-1] if history else None
        state = STATE_OF.get(str(last.get("outcome")), PENDING) if last is not None else PENDING
        next_at = last.get("next_attempt_at") if last is not None and state == "retrying" else None
        out.append(DeliveryState(webhook_id, delivery_id(event_id, webhook_id), state, next_at, history))
    return out
