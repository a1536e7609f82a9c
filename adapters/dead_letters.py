"""Dead letters: the replay store, and replay itself.

A task that exhausted its schedule (or hit 410 Gone) is written here, keyed by delivery id, and
also published to the RabbitMQ dead-letter queue for operators. MongoDB is the store replay
reads from, because replay must find one delivery by id, or every failure of a webhook since T,
without draining a queue. The task is kept as JSON text: event data may hold field names with
"." or "$", which FerretDB refuses. The API replays through a `Replayer`: one confirm channel
per app, opened on first use (most API servers never replay) and opened again after any failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import orjson
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from adapters import rabbit
from core.errors import BrokerUnavailable
from core.models import DeliveryTask, utcnow
from core.settings import RabbitSettings

log = logging.getLogger(__name__)

DEAD_LETTERS = "dead_letters"
INDEXES = [
    IndexModel(
        [("org", ASCENDING), ("webhook_id", ASCENDING), ("dead_at", ASCENDING)], name="org_webhook_dead_at"
    ),
]

Doc = dict[str, Any]


async def record(coll: AsyncCollection[Doc], task: DeliveryTask, reason: str) -> None:
    """Upsert (a replayed delivery that dies again replaces its old entry)."""
    await coll.replace_one(
        {"_id": task["delivery_id"]},
        {
            "_id": task["delivery_id"],
            "org": task["event"]["org"],
            "webhook_id": task["webhook_id"],
            "event_id": task["event"]["id"],
            "event_type": task["event"]["type"],
            "attempts": task["attempt"],
            "reason": reason,
            "dead_at": utcnow(),
            "replayed_at": None,
            "task": orjson.dumps(task).decode(),
        },
        upsert=True,
    )


def fresh_task(doc: Doc) -> DeliveryTask:
    """The same delivery (same webhook-id, so receivers can dedupe) with a fresh schedule."""
    task: DeliveryTask = orjson.loads(doc["task"])
    task["attempt"] = 1
    task["not_before"] = 0.0
    task["first_attempt_at"] = time.time()
    return task


async def publish(exchange: AbstractExchange, tasks: list[DeliveryTask]) -> int:
    """Publish tasks to the work queue, one message each, confirmed: what a replay sends, and a
    test event the API sends to one endpoint. Routed by org, as the filters route theirs."""
    batch = [(f"org.{t['event']['org']}", rabbit.message(orjson.dumps(t), t["delivery_id"])) for t in tasks]
    await rabbit.publish_confirmed(exchange, batch)
    return len(batch)


async def replay(
    coll: AsyncCollection[Doc], exchange: AbstractExchange, query: Doc, limit: int = 100_000
) -> int:
    """Publish every dead letter matching `query` back to the work queue (confirmed), then mark it.

    At-least-once: if marking fails after publishing, a second replay publishes again; the
    delivery id is unchanged, so the receiver sees the same webhook-id.
    """
    docs = await coll.find({**query, "replayed_at": None}).limit(limit).to_list(None)
    if not docs:
        return 0
    await publish(exchange, [fresh_task(doc) for doc in docs])
    await coll.update_many({"_id": {"$in": [d["_id"] for d in docs]}}, {"$set": {"replayed_at": utcnow()}})
    return len(docs)


async def retry_one(
    coll: AsyncCollection[Doc], exchange: AbstractExchange, org: str, delivery_id: str
) -> int:
    return await replay(coll, exchange, {"_id": delivery_id, "org": org})


async def recover(
    coll: AsyncCollection[Doc], exchange: AbstractExchange, org: str, webhook_id: str, since: datetime
) -> int:
    return await replay(coll, exchange, {"org": org, "webhook_id": webhook_id, "dead_at": {"$gte": since}})


class Replayer:
    """Publishes replays: lazy connection, one confirm channel, reconnect after a failure."""

    def __init__(self, settings: RabbitSettings) -> None:
        self._settings = settings
        self._lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def _open(self) -> AbstractExchange:
        async with self._lock:
            if self._exchange is not None and self._channel is not None and not self._channel.is_closed:
                return self._exchange
            await self._close_unlocked()
            self._connection = await rabbit.connect(self._settings, "edp-api-replay")
            try:
                self._channel = await rabbit.confirm_channel(self._connection)
                self._exchange = (await rabbit.declare(self._channel, self._settings)).exchange
            except Exception as exc:
                await self._close_unlocked()
                raise BrokerUnavailable(f"rabbitmq: {exc!r}") from exc
            return self._exchange

    async def run(self, operation: Callable[[AbstractExchange], Awaitable[int]]) -> int:
        """Run `operation` (one of the replays above) with the exchange; on a broker failure
        reconnect and run it once more (at-least-once: a dead letter is marked replayed only after
        its publish is confirmed)."""
        for attempt in (1, 2):
            exchange = await self._open()
            try:
                return await operation(exchange)
            except PyMongoError as exc:
                raise BrokerUnavailable(f"mongo: {exc}") from exc
            except Exception as exc:
                log.warning("replay failed attempt=%d error=%r", attempt, exc)
                await self.close()
                if attempt == 2:
                    raise BrokerUnavailable(f"rabbitmq: {exc!r}") from exc
        raise AssertionError("unreachable")

    async def close(self) -> None:
        async with self._lock:
            await self._close_unlocked()

    async def _close_unlocked(self) -> None:
        connection, self._connection, self._channel, self._exchange = self._connection, None, None, None
        if connection is not None:
            try:
                await connection.close()
            except Exception as exc:  # closing a broken connection: nothing left to save
                log.debug("replay connection close failed: %r", exc)
