"""API keys: random, shown once, stored only as a hash.

A plain SHA-256 is the right hash here, not bcrypt/argon2: the keys carry 256 random bits, so
there is nothing to brute-force, and a fast hash lets every request be checked by an indexed
lookup of its digest (slow hashes exist to protect low-entropy passwords).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os


def new_api_key(prefix: str = "edp") -> tuple[str, str]:
    """(plaintext `edp_live_<base32 of 32 random bytes>`, its sha256 hex digest)."""
    body = base64.b32encode(os.urandom(32)).decode().rstrip("=").lower()
    plaintext = f"{prefix}_live_{body}"
    return plaintext, hash_key(plaintext)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def verify_key(plaintext: str, digest: str) -> bool:
    """Does `plaintext` hash to the stored `digest`? Constant time in the digest comparison."""
    return constant_time_equals(hash_key(plaintext), digest)


def key_hint(key: str) -> str:
    """What a listing may show of a key: its prefix and first characters, never enough to use it."""
    head, _, body = key.rpartition("_")
    return f"{head}_{body[:4]}…" if head else f"{key[:4]}…"
