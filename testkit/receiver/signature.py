"""Standard Webhooks signature check, as a customer endpoint would do it.

Kept separate from the official `standardwebhooks` library on purpose: the receiver checks one
request against several secrets, and must tell "no secret known" from "no secret matched"
without an exception per request. The tests prove both agree.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import math
import time
from collections.abc import Sequence
from typing import Final, Literal

Verdict = Literal["verified", "invalid", "unverified"]

SECRET_PREFIX: Final = "whsec_"
TOLERANCE_S: Final = 300.0


def decode_secret(secret: str) -> bytes:
    """`whsec_<base64>` (or bare base64) to key bytes; raises ValueError when unusable."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        # The official library pads too: secrets without padding are common in the wild.
        key = binascii.a2b_base64(raw + "==")
    except binascii.Error as exc:
        raise ValueError(f"secret is not base64: {exc}") from exc
    if not key:
        raise ValueError("secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` signature entry."""
    mac = hmac.new(key, b"%s.%d.%s" % (msg_id.encode(), timestamp, body), hashlib.sha256).digest()
    return "v1," + binascii.b2a_base64(mac, newline=False).decode()


def verify(
    keys: Sequence[bytes],
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> Verdict:
    """Classify a request: any v1 signature matching any key is `verified`.

    Missing headers, a timestamp outside the tolerance, or no match are `invalid` when keys are
    known; with no keys nothing can be checked and the request is `unverified`.
    """
    if not keys:
        return "unverified"
    if not (msg_id and timestamp and signature):
        return "invalid"
    try:
        ts = float(timestamp)
    except ValueError:
        return "invalid"
    if not math.isfinite(ts):
        return "invalid"
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return "invalid"
    given: list[bytes] = []
    for entry in signature.split(" "):
        version, _, b64 = entry.partition(",")
        if version != "v1":
            continue
        try:
            given.append(binascii.a2b_base64(b64))
        except binascii.Error:
            continue
    if not given:
        return "invalid"
    # The library signs floor(timestamp), so a fractional header value is signed as an integer.
    signed = b"%s.%d.%s" % (msg_id.encode(), math.floor(ts), body)
    for key in keys:
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        for sig in given:
            if hmac.compare_digest(expected, sig):
                return "verified"
    return "invalid"
