"""Where the load goes and with which key. Every request of the benchmark goes to loopback only,
so a typo in EDP_URL can never point the load at someone else's server."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8000"
DEMO_KEYS = Path(".local/demo-keys.json")
ADMIN_KEY = Path(".local/admin-key")


class TargetError(RuntimeError):
    """A refused URL or a missing key; the message tells the user what to do."""


def require_loopback(url: str) -> str:
    """`url` without a trailing slash, if it is http(s) on a loopback address; else TargetError."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise TargetError(f"{url!r} is not an http URL")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise TargetError(f"{url!r}: the benchmark only sends to loopback (127.0.0.1, ::1, localhost)")
    return url.rstrip("/")


def base_url(explicit: str | None = None) -> str:
    return require_loopback(explicit or os.environ.get("EDP_URL") or DEFAULT_URL)


def demo_key(org: str = "helpdev", path: Path = DEMO_KEYS) -> str:
    """The API key of a demo org from the keys file `make run` writes. Both shapes are read:
    `{"helpdev": "key"}` and `{"helpdev": {"org": ..., "api_key": "key"}}`."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TargetError(f"no API key: set EDP_API_KEY or run `make run` (reading {path}: {exc})") from None
    entry = doc.get(org) if isinstance(doc, dict) else None
    if isinstance(entry, dict):
        entry = entry.get("api_key")
    if not isinstance(entry, str) or not entry:
        raise TargetError(f"{path} has no key for org {org!r}")
    return entry


def api_key(explicit: str | None = None) -> str:
    return explicit or os.environ.get("EDP_API_KEY") or demo_key()


def admin_key(path: Path = ADMIN_KEY) -> str:
    key = os.environ.get("EDP_ADMIN_KEY")
    if key:
        return key
    try:
        key = path.read_text().strip()
    except OSError:
        key = ""
    if not key:
        raise TargetError(f"no admin key: set EDP_ADMIN_KEY or run `make run` (which writes {path})")
    return key
