"""One fuzz run against a running API: set up an org of its own, send the requests, check the
service still answers, clean up what it can, and sum it all up.

Only 2xx and 4xx answers pass. A 5xx, a dropped connection or a timeout is a failure, kept with
the request's index: `build(seed, index, ctx)` gives the same request again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from testkit.fuzz.client import Answer, Connection
from testkit.fuzz.requests import MAX_BODY, Ctx, Request, build

MAX_FAILURES_KEPT = 50
# Not 2xx/4xx, yet not a fault (see `verdict`).
PASS = {"reset-over-cap"}


def verdict(req: Request, answer: Answer) -> str:
    """The label an answer is counted under: its status, or what went wrong.

    One outcome passes although it is neither 2xx nor 4xx (a trailing slash is a 404: the app
    does not redirect slashes). A body over the cap, sent without
    `Expect: 100-continue`, is refused with 413 and `Connection: close` before it has all
    arrived: the server closes with unread bytes, so the kernel resets the connection and the
    413 can be lost on the way (uvicorn does not linger). A client that sends
    `Expect: 100-continue` gets the 413 every time (those requests are checked as any other).
    """
    if answer.status is not None:
        return str(answer.status)
    failure = (answer.failure or "?").split(":")[0]
    expects = any(k == b"expect" for k, _ in req.headers)
    if failure == "dropped" and len(req.body) > MAX_BODY and not expects:
        return "reset-over-cap"
    return failure


@dataclass
class Result:
    seed: int
    requests: int = 0
    seconds: float = 0.0
    by_status: Counter[str] = field(default_factory=Counter)
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    failure_count: int = 0
    healthy_after: bool = False
    health_detail: str = ""

    def record(self, index: int, req: Request, answer: Answer) -> None:
        self.requests += 1
        label = verdict(req, answer)
        self.by_status[label] += 1
        self.by_kind.setdefault(req.kind, Counter())[label] += 1
        if label not in PASS and not label.startswith(("2", "4")):
            self.failure_count += 1
            if len(self.failures) < MAX_FAILURES_KEPT:
                self.failures.append(
                    {
                        "index": index,
                        "status": answer.status,
                        "failure": answer.failure,
                        "answer": answer.body[:300].decode("latin-1"),
                        "request": req.summary(),
                    }
                )

    @property
    def ok(self) -> bool:
        return self.failure_count == 0 and self.healthy_after

    def to_doc(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "requests": self.requests,
            "seconds": round(self.seconds, 1),
            "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else None,
            "by_status": dict(sorted(self.by_status.items())),
            "by_kind": {k: dict(sorted(v.items())) for k, v in sorted(self.by_kind.items())},
            "failure_count": self.failure_count,
            "failures": self.failures,
            "healthy_after": self.healthy_after,
            "health_detail": self.health_detail,
            "ok": self.ok,
        }


class Api:
    """Plain, well-formed calls (set-up, health, clean-up) over the same raw client."""

    def __init__(self, url: str, timeout_s: float = 15.0) -> None:
        parts = urlsplit(url)
        self.conn = Connection(parts.hostname or "127.0.0.1", parts.port or 80, timeout_s)

    async def call(self, method: str, path: str, key: str, body: Any = None) -> tuple[int | None, Any]:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = [(b"authorization", f"Bearer {key}".encode())]
        if body is not None:
            headers.append((b"content-type", b"application/json"))
        answer = await self.conn.send(Request("setup", method, path, headers, raw))
        try:
            doc = json.loads(answer.body) if answer.body else None
        except ValueError:
            doc = None
        return answer.status, doc


async def setup(api: Api, admin_key: str, webhook_url: str) -> Ctx:
    status, org = await api.call("POST", "/v1/orgs", admin_key, {"name": f"fuzz-{uuid.uuid4().hex[:8]}"})
    if status != 201:
        raise RuntimeError(f"could not create the fuzz org: {status} {org}")
    key = org["api_key"]
    status, hook = await api.call("POST", "/v1/webhooks", key, {"url": webhook_url, "event_types": ["fz.*"]})
    if status != 201:
        raise RuntimeError(f"could not create the fuzz webhook: {status} {hook}")
    status, _ = await api.call(
        "POST", "/v1/event-types", key, {"name": "fz.schema", "schema": {"type": "object"}}
    )
    return Ctx(
        org_key=key,
        admin_key=admin_key,
        webhook_id=hook["id"],
        event_type="fz.schema",
        extra={"org": org["id"]},
    )


async def healthy(api: Api, ctx: Ctx) -> tuple[bool, str]:
    """The service answers ordinary requests after the run: health, ingest, a read."""
    checks = [
        ("GET", "/healthz", None, 200),
        ("POST", "/v1/events", {"type": "fz.a", "data": {"after": "fuzz"}}, 202),
        ("GET", f"/v1/webhooks/{ctx.webhook_id}", None, 200),
    ]
    for method, path, body, want in checks:
        status, doc = await api.call(method, path, ctx.org_key, body)
        if status != want:
            return False, f"{method} {path} answered {status}: {doc}"
    return True, "healthz 200, ingest 202, webhook read 200"


async def cleanup(api: Api, ctx: Ctx) -> None:
    """Webhooks made by the run would otherwise keep receiving the fuzz org's events."""
    after = ""
    while True:
        status, page = await api.call("GET", f"/v1/webhooks?limit=100{after}", ctx.org_key)
        if status != 200 or not page:
            return
        for hook in page["data"]:
            await api.call("DELETE", f"/v1/webhooks/{hook['id']}", ctx.org_key)
        if not page.get("next"):
            return
        after = f"&after={page['next']}"


async def run(
    url: str,
    admin_key: str,
    *,
    requests: int,
    seed: int,
    concurrency: int = 16,
    timeout_s: float = 20.0,
    webhook_url: str = "http://127.0.0.1:9/hook",
    only: list[int] | None = None,
) -> Result:
    api = Api(url)
    ctx = await setup(api, admin_key, webhook_url)
    result = Result(seed)
    indexes = iter(only if only is not None else range(requests))
    host, port = api.conn.host, api.conn.port

    async def worker() -> None:
        conn = Connection(host, port, timeout_s)
        try:
            for i in indexes:
                req = build(seed, i, ctx)
                result.record(i, req, await conn.send(req))
        finally:
            await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.monotonic() - started
    result.healthy_after, result.health_detail = await healthy(api, ctx)
    await cleanup(api, ctx)
    await api.conn.close()
    return result
