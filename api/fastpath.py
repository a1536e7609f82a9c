"""The ingest hot path as bare ASGI, ahead of FastAPI's routing and middleware stack.

Profiling single-event ingest showed FastAPI's layers (routing, exception and telemetry
middleware, dependency solving, the Request object) costing about as much CPU as our own work
plus uvicorn together. `ApiApp` answers `POST /v1/events[/batch]` here with the same `Ingest`
methods and the same error mapping (`errors.http_error`) as the documented routes, so behaviour
is identical; everything else, including those paths with other methods, goes to FastAPI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from api.errors import MalformedBody, PayloadTooLarge, error_body, http_error
from api.ingest import Ingest

Handler = Callable[[str | None, str | None, bytes], Awaitable[bytes]]

_JSON = (b"content-type", b"application/json")


class _Disconnected(Exception):
    """The client went away before its body arrived: there is nobody to answer."""


class ApiApp(FastAPI):
    """FastAPI plus a fast lane for the ingest POSTs (see the module docstring)."""

    fast_routes: dict[str, Handler] = {}  # empty until enable_fast_ingest: FastAPI serves all
    max_body_bytes: int = 0

    def enable_fast_ingest(self, ingest: Ingest, max_body_bytes: int) -> None:
        self.fast_routes = {"/v1/events": ingest.one, "/v1/events/batch": ingest.batch}
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            handler = self.fast_routes.get(scope["path"])
            if handler is not None:
                await self._fast(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _fast(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        authorization = idempotency_key = None
        declared = -1
        for name, value in scope["headers"]:  # the first of repeated headers wins, as in Starlette
            if name == b"authorization":
                authorization = authorization or value.decode("latin-1")
            elif name == b"idempotency-key":
                idempotency_key = idempotency_key or value.decode("latin-1")
            elif name == b"content-length":
                declared = int(value) if value.isdigit() else -2
        status = 202
        extra: dict[str, str] = {}
        try:
            if declared == -2:
                raise MalformedBody("Content-Length", "is not a number")
            if declared > self.max_body_bytes:
                raise PayloadTooLarge(self.max_body_bytes)
            body = await _read_body(receive, self.max_body_bytes)
            payload = await handler(authorization, idempotency_key, body)
        except _Disconnected:
            return
        except PayloadTooLarge as exc:
            status, payload = 413, error_body("too_large", str(exc.detail))
            extra["Connection"] = "close"  # the rest of the body is still on the wire
        except Exception as exc:
            status, code, message, field, headers = http_error(exc)
            payload = error_body(code, message, field)
            extra.update(headers)
        raw = [_JSON, (b"content-length", str(len(payload)).encode())]
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items())
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
