"""edpctl: the platform's HTTP API from a shell. `python -m jobs.edpctl --help`.

The org API key comes from `--key` or `$EDP_API_KEY` (a producer key too, for `send --org`); the
admin key (for `org create`, `org quota`, `producer ...`, `audit --as-admin`) from
`$EDP_ADMIN_KEY` or `.local/admin-key` (written by `make run`); the API from `--url` or
`$EDP_URL` (default http://127.0.0.1:8000). Answers are printed as JSON; an error answer is
printed to stderr and the exit status is 1. Each subcommand has its own handler (`_command`).
Only the standard library and the project's settings (the admin key is read through
`AdminSettings`, as the API reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from .api_client import (
    DEFAULT_URL,
    NULL,
    Api,
    CliError,
    admin_key,
    header_pairs,
    json_arg,
)

Handler = Callable[[Api, argparse.Namespace], Any]


def _org_create(api: Api, args: argparse.Namespace) -> Any:
    return api("POST", "/v1/orgs", {"name": args.name})


def _webhook_add(api: Api, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"url": args.target, "event_types": args.types}
    if args.filter:
        body["filter"] = json_arg(args.filter, "--filter")
    if args.header:
        body["headers"] = header_pairs(args.header)
    if args.description:
        body["description"] = args.description
    if args.ordered:
        body["ordered"] = True
        body["ordered_failure"] = args.on_failure
    return api("POST", "/v1/webhooks", body)


def _webhook_order(api: Api, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"ordered": not args.off}
    if args.on_failure:
        body["ordered_failure"] = args.on_failure
    return api("PATCH", f"/v1/webhooks/{args.id}", body)


def _webhook_resume(api: Api, args: argparse.Namespace) -> Any:
    return api("POST", f"/v1/webhooks/{args.id}/resume")


def _webhook_list(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", "/v1/webhooks", query={"limit": args.limit, "after": args.after})


def _webhook_get(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", f"/v1/webhooks/{args.id}")


def _webhook_delete(api: Api, args: argparse.Namespace) -> Any:
    api("DELETE", f"/v1/webhooks/{args.id}")
    return {"deleted": args.id}


def _webhook_enable(api: Api, args: argparse.Namespace) -> Any:
    return api("PATCH", f"/v1/webhooks/{args.id}", {"enabled": True})


def _webhook_secret(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", f"/v1/webhooks/{args.id}/secret")


def _webhook_rotate(api: Api, args: argparse.Namespace) -> Any:
    body = {} if args.expire_old_in is None else {"expire_old_in_s": args.expire_old_in}
    return api("POST", f"/v1/webhooks/{args.id}/secret/rotate", body)


def _webhook_test(api: Api, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"type": args.type}
    if args.data:
        body["data"] = json_arg(args.data, "--data")
    return api("POST", f"/v1/webhooks/{args.id}/test", body)


def _type_add(api: Api, args: argparse.Namespace) -> Any:
    body = {"name": args.name, "description": args.description or ""}
    if args.schema:
        body["schema"] = json_arg(args.schema, "--schema")
    return api("POST", "/v1/event-types", body)


def _type_list(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", "/v1/event-types", query={"limit": args.limit})


def _attempts(api: Api, args: argparse.Namespace) -> Any:
    query = {"webhook_id": args.webhook, "event_id": args.event, "outcome": args.outcome, "limit": args.limit}
    return api("GET", "/v1/attempts", query={**query, "since": args.since})


def _replay(api: Api, args: argparse.Namespace) -> Any:
    return api("POST", f"/v1/deliveries/{args.delivery_id}/retry")


def _recover(api: Api, args: argparse.Namespace) -> Any:
    return api("POST", f"/v1/webhooks/{args.webhook_id}/recover", {"since": args.since})


def _portal(api: Api, args: argparse.Namespace) -> Any:
    body = {} if args.expires_in is None else {"expires_in_s": args.expires_in}
    return api("POST", "/v1/orgs/me/portal-links", body)


def _send(api: Api, args: argparse.Namespace) -> Any:
    body = {"type": args.type, "data": json_arg(args.data, "data")}
    if args.org:
        body["org"] = args.org  # a producer key names the org it publishes for
    return api("POST", "/v1/events", body)


def _key_create(api: Api, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"name": args.name or ""}
    if args.scope:
        body["scopes"] = args.scope
    if args.expires_in is not None:
        body["expires_in_s"] = args.expires_in
    return api("POST", "/v1/orgs/me/keys", body)


def _key_list(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", "/v1/orgs/me/keys")


def _key_revoke(api: Api, args: argparse.Namespace) -> Any:
    return api("DELETE", f"/v1/orgs/me/keys/{args.id}")


def _producer_create(api: Api, args: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"name": args.name or "", "orgs": ["*"] if args.any_org else args.org}
    if args.expires_in is not None:
        body["expires_in_s"] = args.expires_in
    return api("POST", "/v1/producer-keys", body)


def _producer_list(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", "/v1/producer-keys")


def _producer_revoke(api: Api, args: argparse.Namespace) -> Any:
    return api("DELETE", f"/v1/producer-keys/{args.id}")


def _org_quota(api: Api, args: argparse.Namespace) -> Any:
    body = None if args.clear else {"rate": args.rate, **({"burst": args.burst} if args.burst else {})}
    return api("PUT", f"/v1/orgs/{args.org_id}/quota", body if body is not None else NULL)


def _event_get(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", f"/v1/events/{args.id}")


def _event_deliveries(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", f"/v1/events/{args.id}/deliveries")


def _audit(api: Api, args: argparse.Namespace) -> Any:
    return api("GET", "/v1/audit", query={"limit": args.limit, "after": args.after, "org": args.org})


def run(args: argparse.Namespace) -> Any:
    """The command's handler, with the admin key for `org`, the org's API key for the rest."""
    if args.admin or getattr(args, "as_admin", False):
        key = admin_key()
    else:
        key = args.key
        if not key:
            raise CliError("no API key: pass --key or set EDP_API_KEY")
    handler: Handler = args.func
    return handler(Api(args.url, key), args)


def _command(
    parent: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    text: str,
    *,
    admin: bool = False,
) -> argparse.ArgumentParser:
    """A subcommand that runs `handler`; `admin` commands take the admin key."""
    p = parent.add_parser(name, help=text)
    p.set_defaults(func=handler, admin=admin)
    return p


def _control_plane(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    org: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Quotas, keys, producer keys, event lookup and the audit log (docs/control-plane.md)."""
    quota = _command(org, "quota", _org_quota, "set (or --clear) an org's ingest quota", admin=True)
    quota.add_argument("org_id")
    quota.add_argument("--rate", type=float, help="events per second, across the platform")
    quota.add_argument("--burst", type=float, help="events at once (default: one second's worth)")
    quota.add_argument("--clear", action="store_true", help="no quota")

    key = sub.add_parser("key", help="your org's API keys").add_subparsers(dest="action", required=True)
    kc = _command(key, "create", _key_create, "issue a key; prints it once")
    kc.add_argument("--name")
    kc.add_argument("--scope", action="append", help="e.g. webhooks:read (repeat; default: all of yours)")
    kc.add_argument("--expires-in", type=int, help="seconds until the key stops working")
    _command(key, "list", _key_list, "list keys (never their secret)")
    _command(key, "revoke", _key_revoke, "revoke a key").add_argument("id")

    prod = sub.add_parser("producer", help="producer keys (admin key)").add_subparsers(
        dest="action", required=True
    )
    pc = _command(prod, "create", _producer_create, "a key that publishes for the listed orgs", admin=True)
    pc.add_argument("--name")
    who = pc.add_mutually_exclusive_group(required=True)
    who.add_argument("--org", action="append", help="an org id it may publish for (repeat)")
    who.add_argument("--any-org", action="store_true", help="every org")
    pc.add_argument("--expires-in", type=int, help="seconds until the key stops working")
    _command(prod, "list", _producer_list, "list producer keys", admin=True)
    _command(prod, "revoke", _producer_revoke, "revoke a producer key", admin=True).add_argument("id")

    ev = sub.add_parser("event", help="where did my event go").add_subparsers(dest="action", required=True)
    _command(ev, "get", _event_get, "the event as accepted").add_argument("id")
    _command(ev, "deliveries", _event_deliveries, "each matching webhook's state and attempts").add_argument(
        "id"
    )

    aud = _command(sub, "audit", _audit, "changes made through the API, newest first")
    aud.add_argument("--limit", type=int, default=20)
    aud.add_argument("--after", help="the `next` of the previous page")
    aud.add_argument("--org", help="with the admin key (--admin): one org")
    aud.add_argument("--as-admin", action="store_true", help="read every org's with the admin key")


def _webhook_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`edpctl webhook ...`: its own function, or parser() would hold every command."""
    wh = sub.add_parser("webhook", help="webhooks").add_subparsers(dest="action", required=True)
    add = _command(wh, "add", _webhook_add, "create a webhook; prints its signing secret")
    add.add_argument("--url", dest="target", required=True, help="where deliveries are POSTed")
    add.add_argument("--type", dest="types", action="append", required=True, help="event type, prefix.* or *")
    add.add_argument("--filter", help='Mongo-style JSON, e.g. \'{"data.amount": {"$gte": 50}}\' (or @file)')
    add.add_argument("--header", action="append", default=[], help="NAME=VALUE sent with every delivery")
    add.add_argument("--description")
    add.add_argument("--ordered", action="store_true", help="one at a time, in order (webhook-sequence)")
    add.add_argument("--on-failure", choices=("skip", "pause"), default="skip", help="after a dead letter")
    order = _command(wh, "order", _webhook_order, "deliver in order (or --off); shown as `ordered`")
    order.add_argument("id")
    order.add_argument("--off", action="store_true", help="back to concurrent delivery")
    order.add_argument("--on-failure", choices=("skip", "pause"), help="after a dead letter")
    ls = _command(wh, "list", _webhook_list, "list webhooks")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--after", help="the `next` of the previous page")
    for action, handler, text in (
        ("get", _webhook_get, "one webhook"),
        ("delete", _webhook_delete, "delete a webhook"),
        ("enable", _webhook_enable, "re-enable"),
        ("resume", _webhook_resume, "an ordered webhook paused after a dead letter goes on"),
        ("secret", _webhook_secret, "the current signing secret"),
    ):
        _command(wh, action, handler, text).add_argument("id")
    rot = _command(wh, "rotate", _webhook_rotate, "new signing secret; the old one signs too for a while")
    rot.add_argument("id")
    rot.add_argument(
        "--expire-old-in", type=float, help="seconds the old secret keeps signing (default 24 h)"
    )

    test = _command(wh, "test", _webhook_test, "send a test event to this webhook only")
    test.add_argument("id")
    test.add_argument("--type", default="webhook.test", help="its event type (default webhook.test)")
    test.add_argument("--data", help="its data, a JSON object (or @file); default {}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edpctl", description="The events-distribution-platform API from a shell."
    )
    p.add_argument("--url", default=os.environ.get("EDP_URL", DEFAULT_URL), help="API base URL ($EDP_URL)")
    p.add_argument("--key", default=os.environ.get("EDP_API_KEY"), help="org API key ($EDP_API_KEY)")
    p.add_argument("--field", help="print only this field of the answer (for shell variables)")
    sub = p.add_subparsers(dest="command", required=True)

    org = sub.add_parser("org", help="orgs (admin key)").add_subparsers(dest="action", required=True)
    create = _command(org, "create", _org_create, "create an org; prints its first API key", admin=True)
    create.add_argument("name")
    _control_plane(sub, org)

    _webhook_commands(sub)

    et = sub.add_parser("type", help="event types").add_subparsers(dest="action", required=True)
    tadd = _command(et, "add", _type_add, "create or replace an event type")
    tadd.add_argument("name")
    tadd.add_argument("--schema", help="JSON Schema for the events' data (JSON or @file)")
    tadd.add_argument("--description")
    _command(et, "list", _type_list, "list event types").add_argument("--limit", type=int, default=100)

    att = _command(sub, "attempts", _attempts, "delivery attempts, newest first")
    att.add_argument("--webhook", help="only this webhook's")
    att.add_argument("--event", help="only this event's")
    att.add_argument("--outcome", choices=["success", "retry", "dead", "dropped"])
    att.add_argument("--since", help="RFC 3339")
    att.add_argument("--limit", type=int, default=20)

    _command(sub, "replay", _replay, "replay one dead-lettered delivery").add_argument("delivery_id")
    rec = _command(sub, "recover", _recover, "replay a webhook's dead letters since a time")
    rec.add_argument("webhook_id")
    rec.add_argument("--since", required=True, help="RFC 3339, e.g. 2026-11-28T00:00:00Z")

    portal = _command(sub, "portal", _portal, "a single-use link to the customer portal (--field url)")
    portal.add_argument("--expires-in", type=float, help="seconds it can be opened in (default 15 min)")

    send = _command(sub, "send", _send, "send one event")
    send.add_argument("--org", help="with a producer key: the org the event is for")
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
