"""The portal's signed values: link tokens and session cookies (itsdangerous, HMAC-SHA256).

A link token carries the link's id, its org and its expiry, so a tampered token is refused by
its signature and an expired one by its own claim, before any database call; the link's id is
then redeemed once (adapters/portal.py). A cookie carries only the session's random id. Each
kind has its own salt, so a cookie can never pass for a link or the other way round.

The key is `PortalSettings.secret`, or else derived from the admin key with HKDF (RFC 5869):
deployments that have an admin key get a portal key without another secret to manage, and the
portal key reveals nothing about the admin key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeSerializer

from core.settings import AdminSettings, PortalSettings

LINK_SALT = "edp-portal-link"
COOKIE_SALT = "edp-portal-session"
HKDF_SALT = b"edp-portal"
HKDF_INFO = b"portal signing key v1"
MAX_TOKEN_CHARS = 512


class TamperedLink(Exception):
    """Not a token this platform signed (or cut short when pasted)."""


class ExpiredLink(Exception):
    def __init__(self, expired_at: float) -> None:
        super().__init__(f"expired at {expired_at}")
        self.expired_at = expired_at


@dataclass(frozen=True, slots=True)
class LinkClaim:
    link_id: str
    org: str
    expires_at: float  # unix seconds


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """RFC 5869 extract-then-expand with SHA-256."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def signing_key(portal: PortalSettings, admin: AdminSettings) -> bytes | None:
    """The portal's key: its own setting, else derived from the admin key; None: neither is set."""
    if portal.secret is not None and portal.secret.get_secret_value():
        return portal.secret.get_secret_value().encode()
    if admin.admin_key is not None and admin.admin_key.get_secret_value():
        return hkdf_sha256(admin.admin_key.get_secret_value().encode(), HKDF_SALT, HKDF_INFO)
    return None


class Tokens:
    def __init__(self, key: bytes) -> None:
        self._links = URLSafeSerializer(key, salt=LINK_SALT)
        self._cookies = URLSafeSerializer(key, salt=COOKIE_SALT)

    def link(self, claim: LinkClaim) -> str:
        return self._links.dumps({"l": claim.link_id, "o": claim.org, "e": int(claim.expires_at)})

    def read_link(self, token: str, now: float) -> LinkClaim:
        """The claim of a token this platform signed and that has not expired.

        Raises:
            TamperedLink: anything else, including a token cut short when it was pasted.
            ExpiredLink: a genuine token past its expiry.
        """
        payload = _loads(self._links, token)
        if not isinstance(payload, dict) or set(payload) != {"l", "o", "e"}:
            raise TamperedLink("unexpected claim")
        link_id, org, expires_at = payload["l"], payload["o"], payload["e"]
        if not (isinstance(link_id, str) and isinstance(org, str) and isinstance(expires_at, int)):
            raise TamperedLink("unexpected claim")
        if now >= expires_at:
            raise ExpiredLink(float(expires_at))
        return LinkClaim(link_id, org, float(expires_at))

    def cookie(self, sid: str) -> str:
        return self._cookies.dumps(sid)

    def read_cookie(self, value: str) -> str | None:
        """The session id a cookie we set carries; None for anything else."""
        try:
            sid = _loads(self._cookies, value)
        except TamperedLink:
            return None
        return sid if isinstance(sid, str) else None


def _loads(serializer: URLSafeSerializer, token: str) -> Any:
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise TamperedLink("not a token")
    try:
        return serializer.loads(token)
    except (BadData, ValueError, UnicodeDecodeError) as exc:
        raise TamperedLink(str(exc)) from None
