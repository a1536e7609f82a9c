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


def _b32(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range((len(data) * 8 + 4) // 5):
        out.append(_ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(out))


def new_id(prefix: str, now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    return f"{prefix}_{_b32(ms.to_bytes(6, 'big') + os.urandom(10))}"


def stable_id(prefix: str, *parts: str) -> str:
    """The same parts always give the same id (idempotency keys, delivery ids)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).digest()
    return f"{prefix}_{_b32(digest)}"


def event_id(org: str, idempotency_key: str | None = None) -> str:
    return stable_id("evt", org, idempotency_key) if idempotency_key else new_id("evt")


def delivery_id(event_id: str, webhook_id: str) -> str:
    """Stable per (event, webhook): a redelivered Kafka record yields the same webhook-id header."""
    return stable_id("dlv", event_id, webhook_id)
