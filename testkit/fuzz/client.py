"""A raw HTTP/1.1 client: it writes exactly the bytes it is given (illegal header bytes, NUL in
the target, a Content-Length that is not a number), which no ordinary client library will.

One keep-alive connection per worker. An answer is a status code; no answer is a failure:
"dropped" when the connection ends or resets before a complete response, "timeout" when the
server says nothing for too long. A reused connection that the server had already closed for
idleness is not a drop: that request is sent once more on a fresh connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from testkit.fuzz.requests import Request

MAX_HEAD = 256 * 1024


@dataclass
class Answer:
    status: int | None  # None: no answer
    failure: str | None = None  # "dropped: ..." or "timeout"
    body: bytes = b""


class Dropped(Exception):
    pass


class Connection:
    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used = False

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None
        self._used = False

    async def send(self, req: Request) -> Answer:
        reused = self._writer is not None and self._used
        answer = await self._once(req)
        if (
            answer.failure
            and answer.failure.startswith("dropped")
            and reused
            and "before any" in answer.failure
        ):
            answer = await self._once(req)  # the server had closed the idle connection: not a drop
        return answer

    async def _once(self, req: Request) -> Answer:
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, limit=MAX_HEAD), self.timeout_s
                )
            assert self._reader is not None and self._writer is not None
            self._used = True
            head, body = encode(req, self.host, self.port)
            expect = any(k == b"expect" for k, _ in req.headers)
            if expect:  # the body only after "100 Continue": a refusal comes before it is sent
                self._writer.write(head)
                status, close, answer = await asyncio.wait_for(
                    read_response(self._reader, req.method == "HEAD", interim=True), self.timeout_s
                )
                if status != 100:
                    await self.close()  # the unsent body leaves the connection unusable
                    return Answer(status, body=answer)
                head = b""
            self._writer.write(head + body)
            writing = asyncio.ensure_future(self._drain(self._writer))
            try:
                status, close, answer = await asyncio.wait_for(
                    read_response(self._reader, req.method == "HEAD"), self.timeout_s
                )
            finally:
                writing.cancel()
            if close or req.content_length is not None:
                await self.close()
            return Answer(status, body=answer)
        except TimeoutError:
            await self.close()
            return Answer(None, "timeout")
        except (Dropped, OSError, asyncio.IncompleteReadError) as exc:
            await self.close()
            return Answer(None, f"dropped: {exc!r}"[:300])

    @staticmethod
    async def _drain(writer: asyncio.StreamWriter) -> None:
        # The server may answer (413) and stop reading: the answer is what counts.
        with contextlib.suppress(OSError):
            await writer.drain()


def encode(req: Request, host: str, port: int) -> tuple[bytes, bytes]:
    """(head, body) as they go on the wire."""
    length = req.content_length if req.content_length is not None else str(len(req.body)).encode()
    head = [f"{req.method} {req.target} HTTP/1.1".encode("utf-8", "surrogateescape")]
    head.append(f"host: {host}:{port}".encode())
    head.extend(k + b": " + v for k, v in req.headers)
    if req.body or req.method in ("POST", "PUT", "PATCH") or req.content_length is not None:
        head.append(b"content-length: " + length)
    if req.content_length is not None:
        head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n", req.body


async def read_response(
    reader: asyncio.StreamReader, head_only: bool, interim: bool = False
) -> tuple[int, bool, bytes]:
    """(status, server closes, body) of one response; 1xx interim answers are skipped unless
    `interim` (then "100 Continue" is returned as it is)."""
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            where = "before any response byte" if not exc.partial else "inside the response head"
            raise Dropped(f"connection ended {where}") from None
        except asyncio.LimitOverrunError:
            raise Dropped("response head too long") from None
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise Dropped(f"not an HTTP response: {lines[0][:80]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if 100 <= status < 200:
            if interim and status == 100:
                return status, False, b""
            continue
        close = headers.get("connection", "").lower() == "close"
        if head_only or status in (204, 304):
            return status, close, b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await _chunked(reader)
        else:
            body = await reader.read()
            close = True
        return status, close, body


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)
