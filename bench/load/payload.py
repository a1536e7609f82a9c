"""What the load scenario sends: small events of a random type among EVENT_A/B/C, as in the
proof of concept. Bodies are bytes built once per request with orjson."""

from __future__ import annotations

import random
from typing import Any

import orjson

EVENT_TYPES: tuple[str, ...] = ("EVENT_A", "EVENT_B", "EVENT_C")


def event(rng: random.Random, n: int, etype: str | None = None) -> dict[str, Any]:
    """One event object as `POST /v1/events` takes it; `n` is a sequence number for humans."""
    return {
        "type": etype if etype is not None else rng.choice(EVENT_TYPES),
        "data": {"n": n, "user": f"u{rng.randrange(10_000)}", "amount": round(rng.uniform(1, 500), 2)},
    }


def body(events: list[dict[str, Any]]) -> bytes:
    """A single event's body, or a batch's `{"events": [...]}` when there are several."""
    return orjson.dumps(events[0] if len(events) == 1 else {"events": events})


def path(batch: int) -> str:
    return "/v1/events" if batch <= 1 else "/v1/events/batch"


def accepted_ids(status: int, raw: bytes) -> list[str]:
    """Event ids from a 202 answer of either endpoint; [] for anything else."""
    if status != 202:
        return []
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return []
    if isinstance(doc, dict):
        if isinstance(doc.get("id"), str):
            return [doc["id"]]
        ids = doc.get("ids")
        if isinstance(ids, list):
            return [i for i in ids if isinstance(i, str)]
    return []
