"""edpctl's side of HTTP: one call to the API with a key, its errors as one line, and the small
argument parsers the commands share. Standard library only (urllib), so the CLI needs nothing
the platform does not already install."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.settings import AdminSettings

DEFAULT_URL = "http://127.0.0.1:8000"
ADMIN_KEY_FILE = Path(".local/admin-key")
TIMEOUT_S = 30.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Null:
    """A JSON null body (`PUT .../quota` with null clears the quota); None means no body."""


NULL = Null()


class CliError(Exception):
    """A problem to report in one line, with exit status 1."""


def _opener(base: str) -> urllib.request.OpenerDirector:
    host = urllib.parse.urlsplit(base).hostname or ""
    # Loopback never goes through a proxy from the environment; anything else may need one.
    handlers = [urllib.request.ProxyHandler({})] if host in LOOPBACK else []
    return urllib.request.build_opener(*handlers)


def call(
    base: str, key: str | None, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None
) -> Any:
    url = base.rstrip("/") + path
    params = {k: v for k, v in (query or {}).items() if v is not None}
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = b"null" if isinstance(body, Null) else json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with _opener(base).open(req, timeout=TIMEOUT_S) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise CliError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(f"{method} {path}: cannot reach {base}: {exc}") from None
    return json.loads(raw) if raw else None


def admin_key() -> str:
    secret = AdminSettings().admin_key
    if secret is not None and secret.get_secret_value():
        return secret.get_secret_value()
    if ADMIN_KEY_FILE.is_file():
        return ADMIN_KEY_FILE.read_text().strip()
    raise CliError("no admin key: set EDP_ADMIN_KEY or run `make run` (it writes .local/admin-key)")


def json_arg(text: str, what: str) -> Any:
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} is not JSON: {exc}") from None


def header_pairs(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"--header wants NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


@dataclass(frozen=True)
class Api:
    """The API at `base` with one key: what every command handler calls."""

    base: str
    key: str

    def __call__(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        return call(self.base, self.key, method, path, body, query)
