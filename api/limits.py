"""Body size cap for every route, as a pure ASGI middleware (no per-request task or copy).

A declared Content-Length over the cap is refused before a byte is read; a body that turns out
longer than declared, or a chunked one, is cut off as soon as the running count passes the cap.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge, error_body


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reply(send, 400, error_body("malformed", "Content-Length is not a number"))
                    return
                if declared > self.max_bytes:
                    msg = f"request body is larger than {self.max_bytes} bytes"
                    await _reply(send, 413, error_body("too_large", msg), close=True)
                    return
                break

        max_bytes = self.max_bytes
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise PayloadTooLarge(max_bytes)
            return message

        await self.app(scope, limited, send)


async def _reply(send: Send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        # The unread body is still on the wire; the connection cannot be reused.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
