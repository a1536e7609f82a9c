"""Hostile requests against every operation of the API, one per (seed, index), reproducibly.

Each request starts from a valid one (so it reaches deep code, not only the first check) and is
then spoiled in one or more ways: fields replaced by hostile values, the body swapped for
garbage, nesting, size, the content type, the Authorization header, the path's ids and query
strings, the method, the headers' size and count. Names (event types, webhook ids) come from
small pools shared by all requests, so writes and reads meet: an event type created with an odd
schema is then used at ingest.

Every URL is a literal loopback or public address, or not a URL at all: webhook URLs are
resolved by the API's SSRF check, and a fuzz run must not send DNS queries anywhere.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from testkit.fuzz.values import Raw, deep, dumps, garbage, string, value

Headers = list[tuple[bytes, bytes]]

MAX_BODY = 1_048_576  # the API's default cap; bodies past it must answer 413
TYPES = ["fz.a", "fz.b", "fz.schema", "fz.ref", "fz.pattern", "EVENT_A"]
LOOPBACK_URL = "http://127.0.0.1:9/hook"  # allowlisted by `make run` and the tests; nothing listens
# No public address here: against `make run`, an accepted webhook is really delivered to.
URLS = [
    LOOPBACK_URL,
    "http://[::1]:9/x",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/",
    "http://0x7f.1/",
    "http://2130706433/",
    "http://127.0.0.1:99999/",
    "http://127.0.0.1:-1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fe80::1%25eth0]/",
    "http://[::1/",
    "http://user:pass@127.0.0.1:9/",
    "http://",
    "https:///path",
    "http://:80/",
    "HTTP://127.0.0.1:9/%00",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
    "http://127.0.0.1:9/" + "a" * 3000,
    "http://127.0.0.1:9/\u202e",
    "http://127.0.0.1\u0000.evil/",
]
FILTERS: list[Any] = [
    {"data.amount": {"$gte": 50}},
    {"$where": "1"},
    {"data.x": {"$regex": "(a+)+$"}},
    {"data.x": {"$regex": "["}},
    {"$or": []},
    {"$and": [{"a": 1}] * 200},
    {"data.v": {"$in": list(range(3000))}},
    {"a": {"$exists": "yes"}},
    {"a": {"$type": "nonsense"}},
    {"a": {"$mod": [0, 0]}},
    {"a": {"$mod": [0]}},
    {"a": {"$size": -1}},
    {"a": {"$elemMatch": 5}},
    {"a": {"$unknown": 1}},
    {"$expr": {"$gt": ["$a", 1]}},
    {"a": {"$gt": {"$gt": {"$gt": 1}}}},
    {"": 1},
    {"a..b": 1},
    {"$not": {"a": 1}},
    {"a": {"$not": {"$regex": "x"}}},
]
SCHEMAS: list[Any] = [
    {"type": "object"},
    {"type": "object", "properties": {"amount": {"type": "integer"}}, "required": ["amount"]},
    {"$ref": "https://127.0.0.1:9/remote.json"},
    {"$ref": "#/definitions/missing"},
    {"$ref": "#"},
    {"properties": {"a": {"$ref": "#"}}},
    {"type": "string", "pattern": "["},
    {"patternProperties": {"(": {}}},
    {"properties": {"s": {"pattern": "(a+)+$"}}},
    {"format": "email"},
    {"$schema": "http://json-schema.org/draft-04/schema#"},
    {"$schema": "https://127.0.0.1:9/unknown"},
    {"$dynamicRef": "#x"},
    {"type": 5},
    {"minimum": "a"},
    {"allOf": [{"$ref": "#/allOf/0"}]},
    True,
    False,
    [],
]


@dataclass
class Ctx:
    """What the requests may refer to: the run's keys and a few real ids."""

    org_key: str
    admin_key: str
    webhook_id: str
    event_type: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    kind: str
    method: str
    target: str
    headers: Headers
    body: bytes = b""
    content_length: bytes | None = None  # None: the real length

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": self.method,
            "target": self.target[:300],
            "headers": [(k[:60].decode("latin-1"), v[:120].decode("latin-1")) for k, v in self.headers],
            "body_bytes": len(self.body),
            "body_head": self.body[:300].decode("latin-1"),
        }


def _event(rng: random.Random) -> dict[str, Any]:
    e: dict[str, Any] = {"type": rng.choice(TYPES), "data": {"amount": rng.randint(0, 100), "s": "x"}}
    if rng.random() < 0.2:
        e["id"] = f"fz-{rng.randrange(10**6)}"
    return e


def _webhook(rng: random.Random) -> dict[str, Any]:
    return {
        "url": rng.choice(URLS) if rng.random() < 0.3 else LOOPBACK_URL,
        "event_types": [rng.choice([*TYPES, "fz.*", "*"])],
        "filter": copy.deepcopy(rng.choice([None, *FILTERS])),  # _spoil changes what it is given
        "headers": {"X-Fuzz": "1"},
        "rate_limit": 10,
        "description": "fuzz",
        "enabled": True,
        "retry_schedule": [1, 5],
    }


def _spoil(rng: random.Random, obj: Any) -> Any:
    """Replace, drop or add a field somewhere in a JSON object, 1-3 times."""
    for _ in range(rng.randint(1, 3)):
        target = obj
        while isinstance(target, dict) and target and rng.random() < 0.4:
            inner = target[rng.choice(list(target))]
            if not isinstance(inner, dict) or not inner:
                break
            target = inner
        if isinstance(target, list) and target:
            target[rng.randrange(len(target))] = value(rng)
            continue
        if not isinstance(target, dict):
            return value(rng)
        r = rng.random()
        if target and r < 0.65:
            target[rng.choice(list(target))] = value(rng)
        elif target and r < 0.8:
            del target[rng.choice(list(target))]
        else:
            target[rng.choice(["unknown", "$where", "__proto__", "\u0000", "id"])] = value(rng)
    return obj


def _body(rng: random.Random, valid: Callable[[], Any]) -> bytes:
    r = rng.random()
    if r < 0.08:
        return b""
    if r < 0.2:
        return garbage(rng)
    if r < 0.27:
        return dumps(deep(rng, rng.choice([31, 33, 64, 1025, 50_000])))
    if r < 0.3:  # past the cap
        return b'{"type":"EVENT_A","data":{"s":"' + b"A" * (MAX_BODY + rng.randint(1, 200_000)) + b'"}}'
    if r < 0.35:
        return dumps(valid())
    return dumps(_spoil(rng, valid()))


def _id(rng: random.Random, real: str, prefix: str) -> str:
    """A path segment: the real id, another org's or a made-up one, or something hostile."""
    r = rng.random()
    if r < 0.4:
        return real
    if r < 0.55:
        return f"{prefix}_{rng.randrange(36**8):x}"
    raw = rng.choice(["%00", "..%2F..%2F", "a" * 5000, "%ZZ", "%ff%fe", "%2e%2e", "*", "%20", "x;y", "?x"])
    if rng.random() < 0.5:
        raw = quote(
            str(string(rng) if rng.random() < 0.7 else value(rng))[:3000], safe="", errors="surrogatepass"
        )
    return raw


def _query(rng: random.Random, names: list[str]) -> str:
    picks = {
        "limit": ["0", "-1", "1", "100", "101", "99999999999999999999", "abc", "1.5", "%00", "NaN", ""],
        "after": ["", "garbage", "eyJhIjoxfQ", "%ff", "A" * 5000, "fz.a", "fz.a%00", "wh_1"],
        "since": [
            *("2026-11-28T00:00:00Z", "0", "2026-13-45T99:99:99Z", "9999-12-31T23:59:59Z", "1" * 500),
            *("0001-01-01T00:00:00Z", "2026-11-28T00:00:00%2B25:00", "2026-11-28 00:00:00Z"),
        ],
        "outcome": ["success", "retry", "dead", "x", "", "%00"],
        "status_code": ["200", "-1", "99999999999999", "abc", "600"],
        "webhook_id": ["wh_x", "", "%00", "a" * 200, "$where"],
    }
    parts = []
    for name in rng.sample(names, rng.randint(0, len(names))):
        pool = picks.get(name, picks["after"])
        parts.append(f"{name}={rng.choice(pool)}")
    if rng.random() < 0.1:
        parts.append(rng.choice(["limit=1&limit=2", "%zz=1", "a" * 9000 + "=1", "&&&", "=", "limit"]))
    return ("?" + "&".join(parts)) if parts else ""


Op = tuple[str, str, str, bytes, bool]  # kind, method, target, body, needs the admin key


def _operation(rng: random.Random, ctx: Ctx) -> Op:
    """One operation of the API, with a valid or spoiled body, before the headers are spoiled."""
    wid = _id(rng, ctx.webhook_id, "wh")
    hook = f"/v1/webhooks/{wid}"

    def body(valid: Callable[[], Any]) -> bytes:
        return _body(rng, valid)

    ops: list[tuple[float, Callable[[], Op]]] = [
        (22, lambda: ("ingest", "POST", "/v1/events", body(lambda: _event(rng)), False)),
        (12, lambda: ("batch", "POST", "/v1/events/batch", body(lambda: _batch(rng)), False)),
        (10, lambda: ("webhook.create", "POST", "/v1/webhooks", body(lambda: _webhook(rng)), False)),
        (6, lambda: ("webhook.patch", "PATCH", hook, body(lambda: _patch(rng)), False)),
        (4, lambda: ("webhook.get", "GET", hook, b"", False)),
        (3, lambda: ("webhook.list", "GET", "/v1/webhooks" + _query(rng, ["limit", "after"]), b"", False)),
        (2, lambda: ("webhook.delete", "DELETE", f"/v1/webhooks/{_id(rng, 'wh_no', 'wh')}", b"", False)),
        (2, lambda: ("webhook.secret", "GET", f"{hook}/secret", b"", False)),
        (
            3,
            lambda: (
                "webhook.rotate",
                "POST",
                f"{hook}/secret/rotate",
                body(lambda: {"expire_old_in_s": 60}),
                False,
            ),
        ),
        (3, lambda: ("webhook.recover", "POST", f"{hook}/recover", body(lambda: {"since": SINCE}), False)),
        (8, lambda: ("type.put", "POST", "/v1/event-types", body(lambda: _event_type(rng)), False)),
        (2, lambda: ("type.list", "GET", "/v1/event-types" + _query(rng, ["limit", "after"]), b"", False)),
        (2, lambda: ("type.get", "GET", f"/v1/event-types/{_id(rng, rng.choice(TYPES), 'fz')}", b"", False)),
        (1, lambda: ("type.delete", "DELETE", f"/v1/event-types/{_id(rng, 'fz.b', 'fz')}", b"", False)),
        (6, lambda: ("attempts", "GET", "/v1/attempts" + _query(rng, ATTEMPT_QUERY), b"", False)),
        (
            3,
            lambda: (
                "retry",
                "POST",
                f"/v1/deliveries/{_id(rng, 'dlv_x', 'dlv')}/retry",
                garbage(rng),
                False,
            ),
        ),
        (2, lambda: ("org.create", "POST", "/v1/orgs", body(lambda: {"name": "fz"}), True)),
        (2, lambda: ("org.me", "GET", "/v1/orgs/me", b"", False)),
        (1, lambda: ("key.create", "POST", "/v1/orgs/me/keys", body(lambda: {}), False)),
        (1, lambda: ("key.revoke", "DELETE", f"/v1/orgs/me/keys/{_id(rng, 'key_no', 'key')}", b"", False)),
        (
            2,
            lambda: (
                "other",
                rng.choice(METHODS),
                rng.choice(PATHS) + _query(rng, ["limit"]),
                garbage(rng),
                False,
            ),
        ),
    ]
    return rng.choices([op for _, op in ops], [w for w, _ in ops])[0]()


SINCE = "2026-11-28T00:00:00Z"
ATTEMPT_QUERY = [
    "webhook_id",
    "event_id",
    "delivery_id",
    "outcome",
    "status_code",
    "since",
    "until",
    "limit",
    "after",
]
METHODS = ["PUT", "OPTIONS", "HEAD", "TRACE", "CONNECT", "FOO", "get", "DELETE", "PATCH", "POST", "GET"]
PATHS = [
    *("/", "/v1", "/v1/events", "/v1/orgs/me", "/docs", "/openapi.json", "/healthz", "/readyz", "/%00"),
    *("//v1//events", "/v1/events/", "/v1/../v1/events", "*", "/v1/webhooks/%2F", "/" + "a" * 8000),
]


def _batch(rng: random.Random) -> dict[str, Any]:
    n = rng.choice([0, 1, 2, 5, 50, 1001])
    return {"events": [_event(rng) for _ in range(n)]}


def _patch(rng: random.Random) -> dict[str, Any]:
    full = _webhook(rng)
    return {k: full[k] for k in rng.sample(list(full), rng.randint(0, 3))}


def _event_type(rng: random.Random) -> dict[str, Any]:
    return {"name": rng.choice(TYPES), "description": "fuzz", "schema": copy.deepcopy(rng.choice(SCHEMAS))}


CONTENT_TYPES = [
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"application/json; charset=utf-16",
    b"application/json; charset=latin-1",
    b"application/xml",
    b"application/json\x00",
    b"\xff\xfe",
    b"*/*",
    b"application/merge-patch+json",
]


def _auth(rng: random.Random, ctx: Ctx, admin: bool) -> list[bytes]:
    key = (ctx.admin_key if admin else ctx.org_key).encode()
    r = rng.random()
    if r < 0.75:
        return [b"Bearer " + key]
    if r < 0.78:
        return []
    spoiled = [
        b"Bearer",
        b"Bearer ",
        b"bearer " + key,
        b"Basic " + key,
        b"Bearer " + key + b"x",
        b"Bearer " + key[:-1],
        b"Bearer " + b"A" * 8000,
        b"Bearer " + key + b"\x00",
        b"Bearer \xff\xfe\xfd",
        b"Bearer " + (ctx.org_key if admin else ctx.admin_key).encode(),
        b"Bearer edp_live_" + rng.randbytes(8).hex().encode(),
        b"Bearer  " + key,
        b"Bearer " + "\u202e".encode(),
    ]
    choice = rng.choice(spoiled)
    return [choice, b"Bearer " + key] if rng.random() < 0.2 else [choice]


def build(seed: int, index: int, ctx: Ctx) -> Request:
    """The request number `index` of the run `seed`: the same pair always gives the same request."""
    rng = random.Random(f"{seed}:{index}")
    kind, method, target, body, admin = _operation(rng, ctx)
    headers: Headers = [(b"authorization", a) for a in _auth(rng, ctx, admin)]
    if body or method in ("POST", "PATCH", "PUT"):
        r = rng.random()
        if r < 0.8:
            headers.append((b"content-type", b"application/json"))
        elif r < 0.95:
            headers.append((b"content-type", rng.choice(CONTENT_TYPES)))
    if rng.random() < 0.1:
        headers.append((b"idempotency-key", rng.choice([b"k1", b"", b"\xff", b"a" * 500, b"k 1", b"k\x01"])))
    r = rng.random()
    if r < 0.03:
        headers.append((b"x-big", b"A" * rng.choice([8_000, 40_000, 70_000])))
    elif r < 0.05:
        headers.extend((f"x-h{i}".encode(), b"v") for i in range(rng.choice([100, 300])))
    elif r < 0.07:
        headers.append((rng.choice([b"x\x00y", b"x y", b"\xff", b"x:y"]), b"1"))
    if len(body) > MAX_BODY and rng.random() < 0.7:
        # What a careful client does with a large body: the server may refuse it before it is sent.
        headers.append((b"expect", b"100-continue"))
    content_length = None
    if rng.random() < 0.01:
        content_length = rng.choice([b"abc", b"-1", b"0x10", b"99999999999999999999"])  # never under the body
    return Request(kind, method, target, headers, body, content_length)


__all__ = ["Ctx", "Raw", "Request", "build"]
