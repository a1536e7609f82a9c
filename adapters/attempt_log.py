"""Writes delivery attempts to MongoDB in batches, off the hot path.

The log is a record, not part of the delivery guarantee: if MongoDB is down, rows wait in a
bounded buffer (the oldest are dropped and counted past the bound) rather than stalling deliveries.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, PyMongoError

from adapters.mongo import ATTEMPTS
from core.models import Attempt

log = logging.getLogger(__name__)


class AttemptLog:
    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        database: str,
        flush_s: float,
        batch: int,
        max_buffer: int = 200_000,
    ) -> None:
        self._coll = client[database][ATTEMPTS]
        self._flush_s = flush_s
        self._batch = batch
        self._buf: deque[Attempt] = deque(maxlen=max_buffer)
        self.written = 0
        self.dropped = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, attempt: Attempt) -> None:
        if len(self._buf) == self._buf.maxlen:
            self.dropped += 1
        self._buf.append(attempt)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()

    async def flush(self) -> None:
        while self._buf:
            rows = [self._buf.popleft() for _ in range(min(self._batch, len(self._buf)))]
            try:
                await self._coll.insert_many(rows, ordered=False)  # type: ignore[arg-type]
                self.written += len(rows)
            except BulkWriteError as exc:
                # Rows already there (a retried batch) count as written; others go back.
                errors = exc.details.get("writeErrors", [])
                retry = [rows[e["index"]] for e in errors if e.get("code") != 11000]
                self.written += len(rows) - len(retry)
                self._buf.extendleft(reversed(retry))
                if retry:
                    self.failures += 1
                    return
            except PyMongoError as exc:
                # Put them back (at the front, in order) and try again on the next tick.
                self.failures += 1
                self._buf.extendleft(reversed(rows))
                log.warning("attempt log write failed rows=%d error=%r", len(rows), exc)
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.flush()
