"""Prefixed, time-ordered ids (Svix style): evt_, wh_, dlv_, att_, org_, key_.

The body is 16 bytes, 48-bit millisecond time then 80 random bits, base32-encoded (Crockford),
so ids sort by creation time and carry no guessable sequence. A client-supplied idempotency key
maps to a stable id by hashing it together with the org.
"""

from __future__ import annotations

import hashlib
import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


# Two base32 digits per step: ids are made on the delivery hot path (one per attempt row).
_PAIRS = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]


def _b32(data: bytes) -> str:
    """Big-endian base32 of `data`, right-aligned: ceil(bits / 5) digits."""
    n = int.from_bytes(data, "big")
    digits = (len(data) * 8 + 4) // 5
    out = []
    for _ in range((digits + 1) // 2):
        out.append(_PAIRS[n & 1023])
        n >>= 10
    text = "".join(reversed(out))
    return text[len(text) - digits :]


def new_id(prefix: str, now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{_b32(ms.to_bytes(6, 'big') + os.urandom(10))}"


def floor_id(prefix: str, at_ms: int) -> str:
    """The smallest `new_id(prefix)` made at or after `at_ms`: ids below it are older, so a range
    on the id is a range in time (retention deletes old attempts by their primary key)."""
    return f"{prefix}_{_b32(at_ms.to_bytes(6, 'big') + bytes(10))}"


def stable_id(prefix: str, *parts: str) -> str:
    """The same parts always give the same id (idempotency keys, delivery ids)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()
    return f"{prefix}_{_b32(digest)}"


def event_id(org: str, idempotency_key: str | None = None) -> str:
    return stable_id("evt", org, idempotency_key) if idempotency_key else new_id("evt")


def delivery_id(event_id: str, webhook_id: str) -> str:
    """Stable per (event, webhook): a redelivered Kafka record yields the same webhook-id header."""
    return stable_id("dlv", event_id, webhook_id)


_VALUES = {c: i for i, c in enumerate(_ALPHABET)}


def id_time_ms(some_id: str) -> int | None:
    """The creation time (unix ms) a `new_id` carries, or None if the body is not one of ours.

    A `stable_id` (an idempotency key's hash) decodes too, to a random time: callers check that
    the time is plausible before they trust it."""
    body = some_id.rpartition("_")[2]
    if len(body) != 26:
        return None
    n = 0
    for c in body:
        v = _VALUES.get(c)
        if v is None:
            return None
        n = n << 5 | v
    return n >> 80
