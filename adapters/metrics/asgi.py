"""Ingest metrics for the FastAPI app: a pure ASGI middleware and the `ApiHooks` implementation."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from .catalog import (
    INGEST_EVENTS,
    INGEST_LATENCY,
    INGEST_PATHS,
    INGEST_REJECTIONS,
    INGEST_REQUESTS,
    INGEST_THROTTLED,
    REJECTION_REASONS,
)
from .registry import add, tags

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def ingest_request(endpoint: str, status: int, seconds: float) -> None:
    """One ingest request answered; `endpoint` is a route template, never a raw path."""
    code = str(status)
    add(INGEST_REQUESTS, 1, {"endpoint": endpoint, "status": code}, (endpoint, code))
    INGEST_LATENCY.record(seconds, tags("endpoint", endpoint))
    if status >= 400:
        reason = REJECTION_REASONS.get(status) or ("error" if status >= 500 else "client_error")
        add(INGEST_REJECTIONS, 1, tags("reason", reason), reason)


def ingest_events(n: int) -> None:
    add(INGEST_EVENTS, n)


class IngestHooks:
    """`api.context.ApiHooks` for `create_app(hooks=IngestHooks())`; the org is not a label."""

    def events_accepted(self, org: str, count: int) -> None:
        add(INGEST_EVENTS, count)

    def events_throttled(self, org: str, count: int) -> None:
        add(INGEST_THROTTLED, count)


class IngestMetricsMiddleware:
    """Times the ingest routes and counts their statuses; other paths pass straight through.

    `app.add_middleware(IngestMetricsMiddleware)` after `create_app` makes it the outermost layer,
    so 413s from the body cap and every exception handler's answer are counted too.
    """

    def __init__(self, app: ASGIApp, paths: Sequence[str] = INGEST_PATHS) -> None:
        self.app = app
        self._paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in self._paths:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            ingest_request(str(path), status, time.perf_counter() - started)
