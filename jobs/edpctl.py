"""edpctl: the platform's HTTP API from a shell. `python -m jobs.edpctl --help`.

The org API key comes from `--key` or `$EDP_API_KEY`; the admin key (for `org create`) from
`$EDP_ADMIN_KEY` or `.local/admin-key` (written by `make run`); the API from `--url` or
`$EDP_URL` (default http://127.0.0.1:8000). Answers are printed as JSON; an error answer is
printed to stderr and the exit status is 1. Only the standard library, so it runs anywhere the
repository is checked out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
ADMIN_KEY_FILE = Path(".local/admin-key")
TIMEOUT_S = 30.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
    data = json.dumps(body).encode() if body is not None else None
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
    key = os.environ.get("EDP_ADMIN_KEY")
    if key:
        return key
    if ADMIN_KEY_FILE.is_file():
        return ADMIN_KEY_FILE.read_text().strip()
    raise CliError("no admin key: set EDP_ADMIN_KEY or run `make run` (it writes .local/admin-key)")


def _json_arg(text: str, what: str) -> Any:
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} is not JSON: {exc}") from None


def _headers(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"--header wants NAME=VALUE, got {pair!r}")
        out[name] = value
    return out


def run(args: argparse.Namespace) -> Any:
    base: str = args.url
    cmd = args.command
    if cmd == "org":
        return call(base, admin_key(), "POST", "/v1/orgs", {"name": args.name})
    key = args.key
    if not key:
        raise CliError("no API key: pass --key or set EDP_API_KEY")
    if cmd == "webhook":
        if args.action == "add":
            body: dict[str, Any] = {"url": args.target, "event_types": args.types}
            if args.filter:
                body["filter"] = _json_arg(args.filter, "--filter")
            if args.header:
                body["headers"] = _headers(args.header)
            if args.description:
                body["description"] = args.description
            return call(base, key, "POST", "/v1/webhooks", body)
        if args.action == "list":
            return call(base, key, "GET", "/v1/webhooks", query={"limit": args.limit, "after": args.after})
        if args.action == "get":
            return call(base, key, "GET", f"/v1/webhooks/{args.id}")
        if args.action == "delete":
            call(base, key, "DELETE", f"/v1/webhooks/{args.id}")
            return {"deleted": args.id}
        if args.action == "enable":
            return call(base, key, "PATCH", f"/v1/webhooks/{args.id}", {"enabled": True})
        if args.action == "secret":
            return call(base, key, "GET", f"/v1/webhooks/{args.id}/secret")
        body = {} if args.expire_old_in is None else {"expire_old_in_s": args.expire_old_in}
        return call(base, key, "POST", f"/v1/webhooks/{args.id}/secret/rotate", body)
    if cmd == "type":
        if args.action == "add":
            body = {"name": args.name, "description": args.description or ""}
            if args.schema:
                body["schema"] = _json_arg(args.schema, "--schema")
            return call(base, key, "POST", "/v1/event-types", body)
        return call(base, key, "GET", "/v1/event-types", query={"limit": args.limit})
    if cmd == "attempts":
        query = {
            "webhook_id": args.webhook,
            "event_id": args.event,
            "outcome": args.outcome,
            "limit": args.limit,
        }
        return call(base, key, "GET", "/v1/attempts", query={**query, "since": args.since})
    if cmd == "replay":
        return call(base, key, "POST", f"/v1/deliveries/{args.delivery_id}/retry")
    if cmd == "recover":
        return call(base, key, "POST", f"/v1/webhooks/{args.webhook_id}/recover", {"since": args.since})
    if cmd == "send":
        return call(
            base, key, "POST", "/v1/events", {"type": args.type, "data": _json_arg(args.data, "data")}
        )
    raise CliError(f"unknown command {cmd}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edpctl", description="The events-distribution-platform API from a shell."
    )
    p.add_argument("--url", default=os.environ.get("EDP_URL", DEFAULT_URL), help="API base URL ($EDP_URL)")
    p.add_argument("--key", default=os.environ.get("EDP_API_KEY"), help="org API key ($EDP_API_KEY)")
    p.add_argument("--field", help="print only this field of the answer (for shell variables)")
    sub = p.add_subparsers(dest="command", required=True)

    org = sub.add_parser("org", help="orgs (admin key)").add_subparsers(dest="action", required=True)
    org.add_parser("create", help="create an org; prints its first API key").add_argument("name")

    wh = sub.add_parser("webhook", help="webhooks").add_subparsers(dest="action", required=True)
    add = wh.add_parser("add", help="create a webhook; prints its signing secret")
    add.add_argument("--url", dest="target", required=True, help="where deliveries are POSTed")
    add.add_argument("--type", dest="types", action="append", required=True, help="event type, prefix.* or *")
    add.add_argument("--filter", help='Mongo-style JSON, e.g. \'{"data.amount": {"$gte": 50}}\' (or @file)')
    add.add_argument("--header", action="append", default=[], help="NAME=VALUE sent with every delivery")
    add.add_argument("--description")
    ls = wh.add_parser("list", help="list webhooks")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--after", help="the `next` of the previous page")
    for action, text in (("get", "one webhook"), ("delete", "delete a webhook"), ("enable", "re-enable"),
                         ("secret", "the current signing secret")):  # fmt: skip
        wh.add_parser(action, help=text).add_argument("id")
    rot = wh.add_parser("rotate", help="new signing secret; the old one signs too for a while")
    rot.add_argument("id")
    rot.add_argument(
        "--expire-old-in", type=float, help="seconds the old secret keeps signing (default 24 h)"
    )

    et = sub.add_parser("type", help="event types").add_subparsers(dest="action", required=True)
    tadd = et.add_parser("add", help="create or replace an event type")
    tadd.add_argument("name")
    tadd.add_argument("--schema", help="JSON Schema for the events' data (JSON or @file)")
    tadd.add_argument("--description")
    et.add_parser("list", help="list event types").add_argument("--limit", type=int, default=100)

    att = sub.add_parser("attempts", help="delivery attempts, newest first")
    att.add_argument("--webhook", help="only this webhook's")
    att.add_argument("--event", help="only this event's")
    att.add_argument("--outcome", choices=["success", "retry", "dead", "dropped"])
    att.add_argument("--since", help="RFC 3339")
    att.add_argument("--limit", type=int, default=20)

    sub.add_parser("replay", help="replay one dead-lettered delivery").add_argument("delivery_id")
    rec = sub.add_parser("recover", help="replay a webhook's dead letters since a time")
    rec.add_argument("webhook_id")
    rec.add_argument("--since", required=True, help="RFC 3339, e.g. 2026-11-28T00:00:00Z")

    send = sub.add_parser("send", help="send one event")
    send.add_argument("type")
    send.add_argument("data", help="the event's data, a JSON object (or @file)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = run(args)
    except CliError as exc:
        print(f"edpctl: {exc}", file=sys.stderr)
        return 1
    if args.field:
        if not isinstance(result, dict) or args.field not in result:
            print(f"edpctl: the answer has no field {args.field!r}", file=sys.stderr)
            return 1
        result = result[args.field]
    print(result if isinstance(result, str) else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
